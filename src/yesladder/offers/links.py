"""The buyer's signed links: their order (which never expires: it is their receipt), and the
cancel and update-card links of the order emails, each with a salt of its own and an expiry,
since they change what is charged and travel in mail that gets forwarded."""

import datetime as dt

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from yesladder.leads.emails import absolute
from yesladder.offers.models import Order

ORDER_SALT = "yesladder.order"
CANCEL_SALT = "yesladder.order.cancel"
CARD_SALT = "yesladder.order.card"
ACTION_MAX_AGE = dt.timedelta(days=45)


class LinkExpired(Exception):
    pass


def order_token(order: Order) -> str:
    """The buyer's link to their order (its page, payment, return from checkout)."""
    return signing.dumps({"o": order.pk}, salt=ORDER_SALT)


def _orders():
    return Order.objects.select_related("version__funnel", "journey", "lead")


def _claimed(claim) -> int | None:
    pk = claim.get("o") if isinstance(claim, dict) else None
    return pk if isinstance(pk, int) else None


def order_from_token(token: str) -> Order | None:
    try:
        pk = _claimed(signing.loads(token, salt=ORDER_SALT))
    except signing.BadSignature:
        return None
    return _orders().filter(pk=pk).first() if pk else None


def cancel_token(order: Order) -> str:
    return signing.dumps({"o": order.pk}, salt=CANCEL_SALT)


def card_token(order: Order) -> str:
    return signing.dumps({"o": order.pk}, salt=CARD_SALT)


def order_to_cancel(token: str) -> Order | None:
    """The order a cancel link names; None when forged; LinkExpired when too old."""
    return _acted_on(token, CANCEL_SALT)


def order_for_card(token: str) -> Order | None:
    """The order an update-card link names; None when forged; LinkExpired when too old."""
    return _acted_on(token, CARD_SALT)


def _acted_on(token: str, salt: str) -> Order | None:
    try:
        pk = _claimed(signing.loads(token, salt=salt, max_age=ACTION_MAX_AGE))
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        return None
    return _orders().filter(pk=pk).first() if pk else None


def order_url(order: Order, request: HttpRequest | None = None) -> str:
    return absolute(request, reverse("offers:order", args=[order_token(order)]))


def cancel_url(order: Order, request: HttpRequest | None = None) -> str:
    return absolute(request, reverse("offers:cancel", args=[cancel_token(order)]))


def card_url(order: Order, request: HttpRequest | None = None) -> str:
    return absolute(request, reverse("offers:card", args=[card_token(order)]))
