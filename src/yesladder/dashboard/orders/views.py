"""Orders at risk, per funnel: the payments that fail (retrying, or failed after the last
retry), and staff's Cancel. The decisions are offers' services; this only shows and asks."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from yesladder.dashboard.views import staff_page
from yesladder.funnels import money
from yesladder.funnels.models import Funnel
from yesladder.offers import services
from yesladder.offers.models import Charge, Order
from yesladder.offers.payments import ProviderError
from yesladder.team import roles


@staff_page
@require_safe
def at_risk(request: HttpRequest, key: str) -> HttpResponse:
    funnel = get_object_or_404(Funnel, key=key)
    rows = []
    for order in services.orders_at_risk(funnel):
        charges = list(order.charges.all())
        failing = next((c for c in charges if c.state == Charge.State.FAILED), None)
        unpaid = sum(
            c.amount for c in charges if c.paid_at is None and c.state != Charge.State.CANCELLED
        )
        rows.append({
            "order": order, "failing": failing,
            "paid": money.shown(order.revenue(), order.currency),
            "at_stake": money.shown(unpaid, order.currency),
        })  # fmt: skip
    context = {"section": "funnels", "funnel": funnel, "rows": rows}
    return render(request, "yesladder/dashboard/orders_at_risk.html", context)


@staff_page(needs=roles.MANAGE_LEADS)  # stops a buyer's payments: viewers only read
@require_POST
def cancel(request: HttpRequest, key: str, order_id: int) -> HttpResponse:
    order = get_object_or_404(Order, pk=order_id, version__funnel__key=key)
    try:
        terms = services.cancel(order, by_staff=True)
    except (services.CancelRefused, ProviderError) as refused:
        messages.error(request, f"{order.lead.email}: not cancelled: {refused}")
    else:
        shown = money.shown(terms.amount(), order.currency)
        messages.success(request, f"{order.lead.email}: {shown} cancelled")
    return redirect("dashboard:orders-at-risk", key)
