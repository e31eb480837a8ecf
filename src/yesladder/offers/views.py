"""The buyer's way through payment, and the provider's webhook. Parse, call, render."""

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from yesladder.funnels import money
from yesladder.leads.emails import absolute
from yesladder.offers import links, services, webhooks
from yesladder.offers.models import Order
from yesladder.offers.payments import TEST_CARDS, PaymentsNotConfigured, ProviderError
from yesladder.offers.providers import provider


def _order(token: str) -> Order:
    order = links.order_from_token(token)
    if order is None:
        raise Http404("This order link is not valid.")
    return order


def _step_url(order: Order, key: str) -> str:
    return reverse("steps:step", args=[order.version.funnel.key, key])


def _after_payment(order: Order) -> str:
    """Where a paid buyer goes: the ladder's next step, or back to the offer's own page."""
    journey = order.journey
    return _step_url(order, journey.current_step if journey else order.step_key)


@require_GET
def pay(request: HttpRequest, token: str) -> HttpResponse:
    """Open the provider's payment page for this order. Safe to reload: the provider call
    carries an idempotency key derived from the order, so it finds the same checkout."""
    order = _order(token)
    if order.started_at:
        return redirect(_after_payment(order))
    done = absolute(request, reverse("offers:done", args=[token]))
    back = absolute(request, _step_url(order, order.step_key))
    try:
        started = provider(order.provider).start_checkout(order, done, back)
    except (PaymentsNotConfigured, ProviderError) as exc:
        return render(request, "yesladder/offers/problem.html", {"order": order, "problem": exc},
                      status=503)  # fmt: skip
    Order.objects.filter(pk=order.pk).update(checkout_id=started.checkout_id)
    return redirect(started.url)


@require_http_methods(["GET", "POST"])
def test_pay(request: HttpRequest, checkout_id: str) -> HttpResponse:
    """The test provider's payment page: no card, a Pay and a Decline button. Only served
    when the server is configured with the test provider."""
    order = Order.objects.filter(checkout_id=checkout_id, provider="test").first()
    if settings.PAYMENTS != "test" or order is None:
        raise Http404("No such test payment.")
    token = links.order_token(order)
    if request.method == "POST" and request.POST.get("action") == "pay":
        services.first_payment(order, payment_id=f"test_pay_{order.reference.hex}_0")
        return redirect("offers:done", token)
    if request.method == "POST":
        services.charge_failed(order, "declined on the test payment page", 0)
        return redirect(_step_url(order, order.step_key) + "?declined=1")
    first = order.first_charge()
    charges = [(c, money.shown(c.amount, order.currency)) for c in order.charges.all()]
    context = {
        "order": order,
        "first": money.shown(first.amount, order.currency),
        "charges": charges,
    }
    return render(request, "yesladder/offers/test_pay.html", context)


@require_GET
def done(request: HttpRequest, token: str) -> HttpResponse:
    """The buyer is back from the payment page. Coming back proves nothing: the order moves
    on only on the provider's word (its webhook, or the session fetched from it now)."""
    order = _order(token)
    if not order.started_at and order.provider == "stripe" and order.checkout_id:
        try:
            webhooks.session_paid(provider("stripe").session(order.checkout_id))
        except Exception:  # the webhook will tell us; the page keeps waiting meanwhile
            webhooks.logger.exception("could not fetch checkout %s", order.checkout_id)
        order.refresh_from_db()
    if order.started_at:
        return redirect(_after_payment(order))
    return render(request, "yesladder/offers/waiting.html", {"order": order}, status=202)


def _charges(order: Order) -> list[dict]:
    return [{"charge": c, "amount": money.shown(c.amount, order.currency)}
            for c in order.charges.order_by("number")]  # fmt: skip


@require_GET
def order_page(request: HttpRequest, token: str) -> HttpResponse:
    """The buyer's order: every charge and its state, and the way to cancel."""
    order = _order(token)
    context = {
        "order": order,
        "charges": _charges(order),
        "paid": money.shown(order.revenue(), order.currency),
        "terms": services.cancel_terms(order, timezone.now()),
        "cancel_url": reverse("offers:cancel", args=[links.cancel_token(order)]),
    }
    return render(request, "yesladder/offers/order.html", context)


def _linked_order(request, token: str, read, page) -> tuple[Order | None, HttpResponse | None]:
    """The order an emailed action link names, or the page that says why the link fails."""
    try:
        order = read(token)
    except links.LinkExpired:
        return None, page(request, None, status=410, problem=(
            f"This link is older than {links.ACTION_MAX_AGE.days} days. Open your order from "
            "your receipt, or from the latest email about it."))  # fmt: skip
    if order is None:
        return None, page(request, None, status=404, problem=(
            "This link is not valid: it may have been cut or changed. Copy the whole link "
            "from your email."))  # fmt: skip
    return order, None


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed Cancel: GET says what cancelling does now and asks; only the POST cancels
    (mail scanners open every link). A forged, expired or spent link changes nothing."""
    order, refused = _linked_order(request, token, links.order_to_cancel, _cancel_page)
    if refused:
        return refused
    context = {"order_url": reverse("offers:order", args=[links.order_token(order)])}
    if request.method == "POST":
        try:
            terms = services.cancel(order)
        except (services.CancelRefused, ProviderError) as refused:
            return _cancel_page(request, order, status=409, problem=str(refused), **context)
        order.refresh_from_db()
        return _cancel_page(
            request, order, done=terms, stops=money.shown(terms.amount(), order.currency), **context
        )
    terms = services.cancel_terms(order, timezone.now())
    if terms.refused:
        return _cancel_page(request, order, problem=terms.refused, **context)
    return _cancel_page(
        request, order, terms=terms, stops=money.shown(terms.amount(), order.currency), **context
    )


def _cancel_page(request, order: Order | None, status: int = 200, **context) -> HttpResponse:
    context = {"order": order, "charges": _charges(order) if order else [], **context}
    return render(request, "yesladder/offers/cancel.html", context, status=status)


@require_http_methods(["GET", "POST"])
def card(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed update-card link after a failed payment. The test provider offers its two
    cards here; Stripe's page (a Checkout Session in setup mode) is opened by the POST. The
    failed charge is tried again as soon as the new card is known."""
    order, refused = _linked_order(request, token, links.order_for_card, _card_page)
    if refused:
        return refused
    if order.state != Order.State.RETRYING:
        return _card_page(request, order, status=200 if request.method == "GET" else 409,
                          problem=f"No payment of this order is waiting for a new card: it is "
                                  f"{order.get_state_display()}.")  # fmt: skip
    if request.method == "GET":
        return _card_page(request, order)
    if order.provider != "test":
        back = absolute(request, reverse("offers:order", args=[links.order_token(order)]))
        try:
            return redirect(provider(order.provider).new_card(order, back))
        except (PaymentsNotConfigured, ProviderError) as exc:
            return _card_page(request, order, status=503, problem=str(exc))
    chosen = request.POST.get("card")
    if chosen not in TEST_CARDS:
        return _card_page(request, order, status=400, problem="Please pick one of the two cards.")
    outcome = services.card_updated(order, f"test_{chosen}")
    order.refresh_from_db()
    return _card_page(request, order, outcome=outcome, status=200 if outcome == "paid" else 402)


def _card_page(request, order: Order | None, status: int = 200, **context) -> HttpResponse:
    if order is not None:
        failing = order.charges.filter(paid_at=None).exclude(failure="").order_by("number")
        context = {
            "order": order, "charges": _charges(order), "failing": failing.first(),
            "test_cards": TEST_CARDS if order.provider == "test" else None,
            "order_url": reverse("offers:order", args=[links.order_token(order)]), **context,
        }  # fmt: skip
    return render(request, "yesladder/offers/card.html", context, status=status)


@csrf_exempt  # Stripe signs the body instead; see webhooks.verified
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        applied = webhooks.receive(request.body, request.headers.get("Stripe-Signature", ""))
    except webhooks.BadWebhook as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    return HttpResponse("applied" if applied else "already applied", content_type="text/plain")
