"""Amounts and payment schedules in integer minor units. Pure module (no Django).

The spec writes money in major units as the author typed it (7.95); everything stored,
compared or sent to a payment provider is an integer count of the currency's minor unit (795).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from yesladder.funnels.spec.schema import StepBase, currency_exponent

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "AUD": "A$", "CAD": "C$", "INR": "₹"}


def minor_units(amount: Decimal, currency: str) -> int:
    scaled = amount.scaleb(currency_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def shown(minor: int, currency: str) -> str:
    """An amount as a buyer reads it: $7.95, €1,200.00, 5,000 JPY."""
    exponent = currency_exponent(currency)
    major = Decimal(minor).scaleb(-exponent)
    digits = f"{major:,.{exponent}f}"
    symbol = SYMBOLS.get(currency)
    if symbol and currency != "JPY":
        return f"-{symbol}{digits[1:]}" if minor < 0 else f"{symbol}{digits}"
    return f"{digits} {currency}"


@dataclass(frozen=True)
class Charge:
    """One charge of an order's schedule."""

    number: int  # 0 is charged at the yes
    label: str
    amount: int  # minor units
    after: dt.timedelta  # from the yes
    after_trial: bool  # collected once a trial is over: the trial converted


def schedule(step: StepBase, currency: str) -> list[Charge]:
    """Every charge the step's yes commits to, in the order they are made."""
    trial_days = step.trial.days if getattr(step, "trial", None) else 0
    return [
        Charge(
            number=i,
            label=payment.label,
            amount=minor_units(payment.amount, currency),
            after=payment.after,
            after_trial=bool(trial_days) and payment.after >= dt.timedelta(days=trial_days),
        )
        for i, payment in enumerate(step.payments())
    ]


def total(charges: list[Charge]) -> int:
    return sum(c.amount for c in charges)
