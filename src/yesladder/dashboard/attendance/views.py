"""Who came, per funnel: calls and webinar sessions that ended, with staff's attended /
no-show marks (a no-show of a session with a replay gets it by email). The decisions are
scheduling's services; this only shows and asks."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from yesladder.dashboard.access import staff_page
from yesladder.funnels.models import Funnel
from yesladder.scheduling import invites, services
from yesladder.scheduling.models import Booking, Registration
from yesladder.team import roles

SAID = {Booking.Outcome.ATTENDED: "attended", Booking.Outcome.NO_SHOW: "a no-show"}


@staff_page
@require_safe
def attendance(request: HttpRequest, key: str) -> HttpResponse:
    funnel = get_object_or_404(Funnel, key=key)
    now = timezone.now()
    calls = services.ended_calls(funnel, now)
    context = {
        "section": "funnels", "funnel": funnel, "calls": calls,
        "unmarked": sum(1 for call in calls if not call.outcome),
        "sessions": services.ended_sessions(funnel, now), "days": services.MARKING_DAYS,
        "outcomes": SAID,
    }  # fmt: skip
    return render(request, "yesladder/dashboard/attendance.html", context)


@staff_page(needs=roles.MANAGE_LEADS)  # a mark changes what a lead did: viewers only read
@require_POST
def mark_call(request: HttpRequest, key: str, booking_id: int) -> HttpResponse:
    call = get_object_or_404(Booking, pk=booking_id, version__funnel__key=key)
    return _marked(request, key, call.lead.email, lambda outcome: _call(call, outcome))


@staff_page(needs=roles.MANAGE_LEADS)
@require_POST
def mark_seat(request: HttpRequest, key: str, registration_id: int) -> HttpResponse:
    seat = get_object_or_404(Registration, pk=registration_id, session__funnel__key=key)
    return _marked(request, key, seat.lead.email, lambda outcome: _seat(request, seat, outcome))


def _call(call: Booking, outcome: str) -> str:
    services.mark(call, outcome, by="staff")
    return ""


def _seat(request: HttpRequest, seat: Registration, outcome: str) -> str:
    services.mark_seat(seat, outcome, by="staff")
    return " and sent the replay" if invites.send_replay(request, seat) else ""


def _marked(request: HttpRequest, key: str, who: str, marking) -> HttpResponse:
    """`marking(outcome)` with the posted outcome, and what happened said back to staff."""
    outcome = request.POST.get("outcome", "")
    if outcome not in SAID:
        messages.error(request, "Choose attended or no-show.")
        return redirect("dashboard:attendance", key)
    try:
        also = marking(outcome)
    except services.NotYet as early:
        messages.error(request, f"{who}: not marked: {early}")
    else:
        messages.success(request, f"{who}: marked {SAID[outcome]}{also}")
    return redirect("dashboard:attendance", key)
