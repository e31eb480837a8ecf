"""The emails about a buyer's own order: the receipt and the cancel confirmation. Each links to
the order and, while there is something to cancel, carries "Cancel", so a buyer never has to
hunt for the way out. Sent after the commit of the change they are about (leads.emails.send)."""

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
