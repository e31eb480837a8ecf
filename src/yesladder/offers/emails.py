"""The emails about a buyer's own order: the receipt, the cancel confirmation, a failed
payment. Each links to the order and carries "Cancel" while there is something to cancel, so
a buyer never has to hunt for the way out. Sent after the commit of the change they are about
(leads.emails.send)."""

from yesladder.funnels import money
from yesladder.leads import emails
from yesladder.offers import links
from yesladder.offers.models import Order


def _context(order: Order) -> dict:
    return {
        "order": order,
        "order_url": links.order_url(order),
        "total": money.shown(order.total, order.currency),
        "charges": [
            {"charge": c, "amount": money.shown(c.amount, order.currency)}
            for c in order.charges.order_by("number")
        ],
    }


def send_receipt(order: Order, terms) -> bool:
    context = {
        **_context(order),
        "terms": terms,
        "cancel_url": links.cancel_url(order),
        "stops": money.shown(terms.amount(), order.currency),
    }
    return emails.send(order.lead, f"Your receipt: {order.title}", "order_receipt", context)


def send_cancelled(order: Order, terms) -> bool:
    context = {**_context(order), "terms": terms,
               "stops": money.shown(terms.amount(), order.currency)}  # fmt: skip
    return emails.send(order.lead, f"Cancelled: {order.title}", "order_cancelled", context)


def send_payment_failed(order: Order, charge, terms) -> bool:
    """Each failed try: the reason, when it is tried again, and the link to a new card; after
    the last one, that the order stopped and nothing more is charged."""
    final = order.state == Order.State.FAILED
    context = {
        **_context(order),
        "failed": charge,
        "amount": money.shown(charge.amount, order.currency),
        "final": final,
        "card_url": links.card_url(order),
        "cancel_url": "" if final else links.cancel_url(order),
        "terms": terms,
    }
    subject = (f"Your order has stopped: {order.title}" if final
               else f"Your payment of {context['amount']} did not go through")  # fmt: skip
    return emails.send(order.lead, subject, "order_payment_failed", context)
