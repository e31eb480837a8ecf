"""The operator's dashboard: staff only (signed in through the admin's login page). Views parse
the request, call a service and render; what they render came from visitors and stays escaped.
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

# Aliased: `render` is Django's shortcut here.
from yesladder.analytics import chart as charting
from yesladder.analytics import render as rendering
from yesladder.analytics.report import Report, ReportError
from yesladder.dashboard import leadwork, previews, privacy, queues, reports, services
from yesladder.dashboard.access import staff_page
from yesladder.dashboard.experiments import email_pages, experiment_pages, variant_chart
from yesladder.dashboard.forms import (
    EraseForm,
    ExperimentActionForm,
    FunnelReportForm,
    LeadSearchForm,
)
from yesladder.experiments import emails as email_tests
from yesladder.experiments.results import ResultsError, find
from yesladder.experiments.services import (
    ship,
    ship_email,
    stop,
    what_shipping_an_email_does,
    what_shipping_does,
    what_stopping_does,
)
from yesladder.funnels.models import Funnel
from yesladder.leads.models import Lead
from yesladder.team import roles
from yesladder.team.audit import Actor


@staff_page
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:funnels")


# --- leads -----------------------------------------------------------------------------------


@staff_page
@require_safe
def leads(request: HttpRequest) -> HttpResponse:
    form = LeadSearchForm.asked(request.GET)
    page = services.find_leads(form.search(), request.GET.get("page"))
    context = {"section": "leads", "form": form, "page": page, "query": request.GET.urlencode()}
    return render(request, "yesladder/dashboard/leads.html", context)


@staff_page
@require_safe
def lead(request: HttpRequest, lead_id: int) -> HttpResponse:
    found = get_object_or_404(Lead, pk=lead_id)
    context = {
        "section": "leads",
        "profile": services.profile(found),
        "entries": services.timeline(found),
        "limit": services.TIMELINE_LIMIT,
        "templates": previews.email_templates(),
        "hand": leadwork.at_hand(found),
    }
    return render(request, "yesladder/dashboard/lead.html", context)


@staff_page(needs=roles.EXPORT_PERSONAL)
@require_safe
def export(request: HttpRequest, lead_id: int) -> HttpResponse:
    found = get_object_or_404(Lead, pk=lead_id)
    response = JsonResponse(privacy.export(found), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="lead-{found.pk}.json"'
    return response


@staff_page(needs=roles.ERASE_LEADS)
@require_http_methods(["GET", "HEAD", "POST"])
def erase(request: HttpRequest, lead_id: int) -> HttpResponse:
    """A GET shows what erasing means and writes nothing; the POST with the typed address
    erases."""
    found = get_object_or_404(Lead, pk=lead_id)
    form = EraseForm(request.POST if request.method == "POST" else None, lead=found)
    context = {"section": "leads", "profile": services.profile(found), "form": form}
    if not form.is_valid():
        return render(request, "yesladder/dashboard/erase.html", context, status=_status(form))
    try:
        erased = privacy.erase(found, by=Actor.of(request.user))
    except privacy.ErasureRefused as refused:
        context["refused"] = str(refused)
        return render(request, "yesladder/dashboard/erase.html", context, status=409)
    # The message names the lead by id only: messages can be kept in the session table.
    done = f"Lead {lead_id} erased: {erased.rows} records deleted."
    if erased.kept_orders:
        done += f" {erased.kept_orders} order(s) kept for the accounts, anonymised."
    messages.success(request, done)
    return redirect("dashboard:leads")


def _status(form: EraseForm) -> int:
    return 400 if form.is_bound else 200


# --- emails ----------------------------------------------------------------------------------


@staff_page
@require_safe
def emails(request: HttpRequest) -> HttpResponse:
    context = {"section": "emails", "templates": previews.email_templates()}
    return render(request, "yesladder/dashboard/emails.html", context)


@staff_page
@require_safe
def email(request: HttpRequest, funnel: str, key: str) -> HttpResponse:
    lead_id = request.GET.get("lead", "")
    if lead_id and not lead_id.isdecimal():
        raise Http404("No such lead.")
    chosen = get_object_or_404(Lead, pk=lead_id) if lead_id else None
    context = {"section": "emails", "funnel": funnel, "key": key}
    try:
        context["preview"] = previews.preview(funnel, key, chosen)
    except LookupError as missing:
        raise Http404(str(missing)) from None
    except ValueError as unrenderable:  # e.g. a body kept in a file that was never read in
        context["problem"] = str(unrenderable)
    return render(request, "yesladder/dashboard/email.html", context)


# --- the outbox ------------------------------------------------------------------------------


@staff_page
@require_safe
def outbox(request: HttpRequest) -> HttpResponse:
    hooks = request.GET.get("tab") == "hooks"
    listing = queues.deliveries if hooks else queues.messages
    queue = listing(request.GET.get("waiting"), request.GET.get("dead"))
    context = {"section": "outbox", "hooks": hooks, "queue": queue}
    return render(request, "yesladder/dashboard/outbox.html", context)


@staff_page(needs=roles.MANAGE_LEADS)
@require_POST
def send_again(request: HttpRequest, message_id: int) -> HttpResponse:
    if queues.send_again(message_id):
        messages.success(request, f"Message {message_id} is queued again for a fresh set of tries.")
    else:
        messages.warning(request, f"Message {message_id} is not a dead letter; nothing changed.")
    return redirect(reverse("dashboard:outbox") + "#dead")


# --- funnels ---------------------------------------------------------------------------------


@staff_page
@require_safe
def funnels(request: HttpRequest) -> HttpResponse:
    context = {"section": "funnels", "funnels": reports.funnel_summaries(),
               "store": reports.store_lag()}  # fmt: skip
    return render(request, "yesladder/dashboard/funnels.html", context)


@staff_page
@require_safe
def funnel(request: HttpRequest, key: str) -> HttpResponse:
    """The report for the question in the query string. A question that cannot be answered is
    said on the page, next to the form that asked it."""
    found = get_object_or_404(Funnel, key=key)
    form = _report_form(request, found)
    asked = form.query() if form.is_valid() else None
    version, findings = reports.linted(found, asked.version if asked else None)
    context = {"section": "funnels", "funnel": found, "form": form, "version": version,
               "findings": findings, "store": reports.store_lag()}  # fmt: skip
    if asked is not None:
        try:
            answer, context["engine"] = reports.report(found, asked)
            context["page"] = reports.report_page(answer)
            context["query"] = form.query_string()
        except ReportError as refused:
            context["problem"] = str(refused)
    return render(request, "yesladder/dashboard/funnel.html", context)


@staff_page
@require_safe
def experiments(request: HttpRequest, key: str) -> HttpResponse:
    """The funnel's experiments side by side: the split and the guardrails first, then each
    variant's ladder, the uplift per rung with its interval, and the decision in words."""
    found = get_object_or_404(Funnel, key=key)
    pages, engine = experiment_pages(found)
    context = {"section": "funnels", "funnel": found, "experiments": pages, "engine": engine,
               "email_tests": email_pages(found), "opens_caveat": email_tests.OPENS_CAVEAT,
               "store": reports.store_lag(),
               "can_run": request.user.has_perm(roles.RUN_EXPERIMENTS)}  # fmt: skip
    return render(request, "yesladder/dashboard/experiments.html", context)


@staff_page(needs=roles.RUN_EXPERIMENTS)
@require_http_methods(["GET", "HEAD", "POST"])
def experiment_action(request: HttpRequest, key: str, experiment: str, action: str):
    """Stop or ship: a GET says what happens to the people already in the experiment, the
    POST does it, through the functions `yesladder experiment stop|ship` calls."""
    found = get_object_or_404(Funnel, key=key)
    email = email_tests.under_test(found).get(experiment)
    if email is not None and action == "ship":
        return _ship_email(request, found, experiment, email)
    try:
        _, current = find(key, experiment)
    except ResultsError as missing:
        raise Http404(str(missing)) from None
    variants = [v.key for v in current.spec.variants]
    form = ExperimentActionForm(request.POST or None, variants=variants,
                                initial={"variant": current.spec.control})  # fmt: skip
    number = found.current_version().number + 1
    context = {"section": "funnels", "funnel": found, "experiment": current.spec,
               "state": current.row.state, "action": action, "form": form,
               "effects": {v: (what_stopping_does(v) if action == "stop"
                               else what_shipping_does(v, number)) for v in variants}}  # fmt: skip
    if request.method != "POST" or not form.is_valid():
        status = 400 if form.is_bound else 200
        return render(request, "yesladder/dashboard/experiment_action.html", context,
                      status=status)  # fmt: skip
    variant, by = form.cleaned_data["variant"], Actor.of(request.user)
    if action == "stop":
        stop(key, experiment, variant, by=by)
        messages.success(request, f"Stopped {experiment}. {what_stopping_does(variant)}")
    else:
        version = ship(key, experiment, variant, by=by)
        messages.success(request, f"Shipped {variant} of {experiment}. "
                                  f"{what_shipping_does(variant, version.number)}")  # fmt: skip
    return redirect("dashboard:experiments", key)


def _ship_email(request: HttpRequest, found: Funnel, key: str, email) -> HttpResponse:
    """Ship one version of an email under test: it becomes the only one."""
    variants = [v.key for v in email.variants]
    form = ExperimentActionForm(request.POST or None, variants=variants,
                                initial={"variant": variants[0]})  # fmt: skip
    number = found.current_version().number + 1
    if request.method != "POST" or not form.is_valid():
        subject = {"name": f"email {key}", "key": key, "control": variants[0]}
        context = {"section": "funnels", "funnel": found, "experiment": subject,
                   "state": "running", "action": "ship", "form": form,
                   "effects": {v: what_shipping_an_email_does(key, v, number)
                               for v in variants}}  # fmt: skip
        return render(request, "yesladder/dashboard/experiment_action.html", context,
                      status=400 if form.is_bound else 200)  # fmt: skip
    variant = form.cleaned_data["variant"]
    version = ship_email(found.key, key, variant, by=Actor.of(request.user))
    said = what_shipping_an_email_does(key, variant, version.number)
    messages.success(request, f"Shipped {variant} of the email {key}. {said}")
    return redirect("dashboard:experiments", found.key)


@staff_page
@require_safe
def experiment_chart(request: HttpRequest, key: str, experiment: str, variant: str):
    """One variant's ladder as a funnel chart (shown through <img>, as the report's)."""
    found = get_object_or_404(Funnel, key=key)
    try:
        drawn = variant_chart(found, experiment, variant)
    except LookupError as missing:
        raise Http404(str(missing)) from None
    return HttpResponse(charting.svg(drawn), content_type="image/svg+xml")


@staff_page
@require_safe
def funnel_chart(request: HttpRequest, key: str) -> HttpResponse:
    # Shown through <img>, never inlined: an image runs no script and cannot touch the page.
    found, refused = _download(request, key)
    if refused is not None:
        return refused
    return HttpResponse(charting.svg(rendering.chart(found)), content_type="image/svg+xml")


@staff_page
@require_safe
def funnel_csv(request: HttpRequest, key: str) -> HttpResponse:
    found, refused = _download(request, key)
    if refused is not None:
        return refused
    response = HttpResponse(rendering.to_csv(found), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.funnel}-report.csv"'
    return response


@staff_page
@require_safe
def funnel_json(request: HttpRequest, key: str) -> HttpResponse:
    found, refused = _download(request, key)
    if refused is not None:
        return refused
    response = JsonResponse(rendering.to_json(found), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="{found.funnel}-report.json"'
    return response


def _report_form(request: HttpRequest, found: Funnel) -> FunnelReportForm:
    # Always bound: no query at all is a valid question (all time, every version).
    return FunnelReportForm(request.GET, versions=reports.versions(found))


def _download(request: HttpRequest, key: str) -> tuple[Report | None, HttpResponse | None]:
    """The report the chart and the exports are made from, or the 400 that says why not."""
    found = get_object_or_404(Funnel, key=key)
    form = _report_form(request, found)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return None, _refused(problems)
    try:
        return reports.report(found, form.query())[0], None
    except ReportError as refused:
        return None, _refused(str(refused))


def _refused(text: str) -> HttpResponse:
    return HttpResponse(text, status=400, content_type="text/plain; charset=utf-8")
