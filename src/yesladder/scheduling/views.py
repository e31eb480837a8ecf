"""Managing a booked call or a seat through the signed link in its email: see it, download
its invite, cancel it (POST only: mail scanners open every link), reschedule a call, join a
session. Parse the request, call the service, render."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from yesladder.scheduling import invites, zones
from yesladder.scheduling import services as scheduling
from yesladder.scheduling.calendar import ics
from yesladder.scheduling.models import Booking, Registration


def _signed(found, token: str, salt: str, key: str):
    """The row a signed link names, or 404 (a forged, altered or stale link)."""
    pk = invites.read_token(token, salt, key)
    row = found.filter(pk=pk).first() if pk is not None else None
    if row is None:
        raise Http404("This link is not valid.")
    return row


def _booking(token: str) -> Booking:
    found = Booking.objects.select_related("host", "lead", "version__funnel")
    return _signed(found, token, invites.BOOKING_SALT, "b")


def _registration(token: str) -> Registration:
    found = Registration.objects.select_related("session", "lead", "version__funnel")
    return _signed(found, token, invites.REGISTRATION_SALT, "r")


@require_http_methods(["GET", "POST"])
def booking(request: HttpRequest, token: str) -> HttpResponse:
    booked = _booking(token)
    step = booked.version.spec.step(booked.step_key)
    zone = zones.visitor_zone(request, booked.timezone)
    errors = {}
    if request.method == "POST" and request.POST.get("action") == "cancel":
        if scheduling.cancel(booked):
            booked.refresh_from_db()
            invites.send_booking(request, booked)
    elif request.method == "POST" and request.POST.get("action") == "reschedule":
        start = zones.posted_time(request)
        try:
            if start is None:
                raise scheduling.SlotTaken("Please pick one of the times.")
            moved = scheduling.reschedule(booked, start)
        except scheduling.SlotTaken as exc:
            errors["start"] = str(exc)
        else:
            invites.send_booking(request, moved.booking)
            return redirect("scheduling:booking", invites.booking_token(moved.booking))
    context = {
        "booking": booked, "step": step, "zone": zone, "errors": errors,
        "when": zones.LocalTime.of(booked.start, zone),
        "zones": zones.zone_choices(zone, step.timezone),
        "ics_url": request.build_absolute_uri("ics/"),
        "days": zones.slot_days(scheduling.open_slots(step), zone) if booked.is_booked else [],
        "moved_to": booked.rescheduled_to and invites.booking_token(booked.rescheduled_to),
        "location": scheduling.location(booked),
    }  # fmt: skip
    return render(
        request, "yesladder/scheduling/booking.html", context, status=409 if errors else 200
    )


@require_http_methods(["GET", "POST"])
def outcome(request: HttpRequest, token: str) -> HttpResponse:
    """The host's one-click mark from their email: GET asks (mail scanners open every link),
    POST marks the call attended or no-show."""
    claim = invites.read_outcome_token(token)
    booked = claim and Booking.objects.select_related("host", "lead").filter(pk=claim[0]).first()
    if not booked:
        raise Http404("This link is not valid.")
    context = {"booking": booked, "outcome": claim[1],
               "shown": Booking.Outcome(claim[1]).label,
               "when": zones.LocalTime.of(booked.start, booked.version.spec.step(
                   booked.step_key).timezone)}  # fmt: skip
    if request.method == "POST":
        try:
            context["changed"] = scheduling.mark(booked, claim[1])
        except scheduling.NotYet as exc:
            return render(request, "yesladder/scheduling/outcome.html",
                          {**context, "problem": str(exc)}, status=409)  # fmt: skip
        context["done"] = True
    return render(request, "yesladder/scheduling/outcome.html", context)


def _ics_response(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
def booking_ics(request: HttpRequest, token: str) -> HttpResponse:
    booked = _booking(token)
    manage = request.build_absolute_uri("../")
    return _ics_response(ics(invites.booking_invite(booked, manage)), "call.ics")


@require_http_methods(["GET", "POST"])
def registration(request: HttpRequest, token: str) -> HttpResponse:
    seat = _registration(token)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        scheduling.cancel_registration(seat)
        seat.refresh_from_db()
    step = seat.version.spec.step(seat.session.step_key)
    zone = zones.visitor_zone(request, step.sessions[0].timezone if step else "UTC")
    context = {
        "seat": seat, "step": step, "zone": zone, "token": token,
        "when": zones.LocalTime.of(seat.session.start, zone),
        "ended": seat.session.end < timezone.now(),
    }  # fmt: skip
    return render(request, "yesladder/scheduling/registration.html", context)


@require_GET
def registration_ics(request: HttpRequest, token: str) -> HttpResponse:
    seat = _registration(token)
    manage, join_url = request.build_absolute_uri("../"), request.build_absolute_uri("../join/")
    return _ics_response(ics(invites.registration_invite(seat, manage, join_url)), "session.ics")


@require_GET
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The join link: before the session it says when; during it, attendance is recorded
    and the visitor goes to the live room; afterwards, to the replay."""
    seat = _registration(token)
    step = seat.version.spec.step(seat.session.step_key)
    if seat.status != Registration.Status.REGISTERED:
        return redirect("scheduling:registration", token)
    moment = scheduling.join(seat)
    target = {"live": step.join_url, "ended": step.replay_url}.get(moment)
    if target:
        return redirect(target)
    zone = zones.visitor_zone(request, step.sessions[0].timezone)
    context = {"seat": seat, "step": step, "moment": moment, "token": token,
               "when": zones.LocalTime.of(seat.session.start, zone), "zone": zone}  # fmt: skip
    return render(request, "yesladder/scheduling/join.html", context)
