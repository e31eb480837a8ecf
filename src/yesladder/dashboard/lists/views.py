"""The list: its CSV export, a CSV import in two steps (a dry run, then the import), tags on the
whole filtered list, and what staff do to one lead by hand. `yesladder leads export|import`
call the same functions."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from yesladder.automation.models import Suppression
from yesladder.dashboard import exports, importruns, imports, leadwork
from yesladder.dashboard.access import staff_page
from yesladder.dashboard.forms import (
    BulkTagForm,
    ImportForm,
    ImportRunForm,
    LeadActionForm,
    LeadSearchForm,
)
from yesladder.dashboard.models import ImportRun
from yesladder.dashboard.services import matching
from yesladder.leads.models import Lead
from yesladder.team import audit, roles
from yesladder.team.audit import Actor

IMPORT = "yesladder/dashboard/import.html"
SHOWN_BAD_ROWS = importruns.SHOWN_BAD_ROWS
RECENT_RUNS = 10


@staff_page(needs=roles.EXPORT_PERSONAL)
@require_safe
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every lead the list's filters match, streamed as CSV (memory stays flat)."""
    form = LeadSearchForm.asked(request.GET)
    asked = request.GET.urlencode() or "every lead"
    audit.record(Actor.of(request.user), "leads.export", f"leads: {asked}"[:200])
    response = StreamingHttpResponse(exports.lines(form.search()),
                                     content_type="text/csv; charset=utf-8")  # fmt: skip
    day = timezone.now().date().isoformat()
    response["Content-Disposition"] = f'attachment; filename="leads-{day}.csv"'
    return response


@staff_page(needs=roles.MANAGE_LEADS)
@require_POST
def tag_list(request: HttpRequest) -> HttpResponse:
    """A tag added to (or taken from) every lead the list's filters match; the filters come
    as the list's own query string."""
    query = request.POST.get("query", "")
    back = reverse("dashboard:leads") + (f"?{query}" if query else "")
    form = BulkTagForm(request.POST)
    if not form.is_valid():
        messages.error(request, _problems(form))
        return redirect(back)
    search = LeadSearchForm.asked(QueryDict(query)).search()
    tag, add = form.cleaned_data["tag"], form.cleaned_data["change"] == "add"
    try:
        changed = leadwork.retag(matching(search), tag, add, Actor.of(request.user),
                                 search=f"leads: {query or 'every lead'}"[:200])  # fmt: skip
    except leadwork.Refused as refused:
        messages.error(request, str(refused))
        return redirect(back)
    done = "tagged" if add else "untagged"
    messages.success(request, f"{changed} lead{'s' * (changed != 1)} {done} “{tag}”.")
    return redirect(back)


@staff_page(needs=roles.MANAGE_LEADS)
@require_POST
def lead_action(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=lead_id)
    back = reverse("dashboard:lead", args=[lead.pk])
    form = LeadActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _problems(form))
        return redirect(back)
    data, by = form.cleaned_data, Actor.of(request.user)
    try:
        messages.success(request, _act(request, lead, data, by))
    except leadwork.Refused as refused:
        messages.error(request, str(refused))
    return redirect(back)


def _act(request: HttpRequest, lead: Lead, data: dict, by: Actor) -> str:
    """Do one thing to the lead; say what was done (by id: messages may be kept)."""
    action = data["action"]
    if action in ("tag", "untag"):
        one = Lead.objects.filter(pk=lead.pk)
        changed = leadwork.retag(one, data["tag"], action == "tag", by)
        return f"Lead {lead.pk} {action}ged." if changed else "Nothing changed."
    if action in ("unsubscribe", "suppress"):
        reason = (Suppression.Reason.UNSUBSCRIBED if action == "unsubscribe"
                  else Suppression.Reason.MANUAL)  # fmt: skip
        if leadwork.suppress(lead, reason, by):
            return f"Lead {lead.pk}: {reason}; no marketing email goes to the address again."
        return f"Lead {lead.pk} was suppressed already; nothing changed."
    if action == "resend":
        leadwork.resend_confirmation(lead, request, by)
        return f"The confirmation email is on its way to lead {lead.pk} again."
    if action == "start":
        funnel, _, key = data["automation"].partition("/")
        leadwork.start(lead, funnel, key, by)
        return f"Lead {lead.pk} started on {data['automation']}."
    if data["run"] is None:
        raise leadwork.Refused("run: which automation run to stop")
    leadwork.stop(lead, data["run"], by)
    return f"That run of lead {lead.pk} is stopped."


@staff_page(needs=roles.IMPORT_LEADS)
@require_http_methods(["GET", "HEAD", "POST"])
def import_leads(request: HttpRequest) -> HttpResponse:
    """Two steps: the file is uploaded and checked (the dry run, with each column's mapping);
    then, with what the person chose, queued for the worker, whose progress the run's page
    shows."""
    context = {"section": "leads"}
    if request.method != "POST":
        recent = ImportRun.objects.all()[:RECENT_RUNS]
        return render(request, IMPORT, {**context, "form": ImportForm(), "recent": recent})
    if "token" in request.POST:
        return _import(request, context)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, IMPORT, {**context, "form": form}, status=400)
    upload = form.cleaned_data["file"]
    data = upload.read(imports.MAX_BYTES + 1)
    name = upload.name[:255]
    try:
        sheet = imports.read(data, name)
        mapping = imports.guess(sheet.header)
        plan = imports.plan(sheet, mapping)
    except imports.Refused as refused:
        return render(request, IMPORT, {**context, "form": form, "refused": str(refused)},
                      status=400)  # fmt: skip
    run = ImportRunForm(header=sheet.header, choices=imports.targets(sheet.header),
                        mapping=mapping, initial={"token": imports.stage(data), "name": name,
                        **{k: form.cleaned_data[k] for k in ("consent", "tag")}})  # fmt: skip
    return render(request, IMPORT, {**context, "plan": plan, "run": run,
                                    "bad": plan.bad[:SHOWN_BAD_ROWS]})  # fmt: skip


def _import(request: HttpRequest, context: dict) -> HttpResponse:
    token = request.POST.get("token", "")
    try:
        sheet = imports.read(imports.staged(token), request.POST.get("name", "")[:255])
    except imports.Refused as refused:
        return render(request, IMPORT, {**context, "form": ImportForm(),
                                        "refused": str(refused)}, status=400)  # fmt: skip
    run = ImportRunForm(request.POST, header=sheet.header, choices=imports.targets(sheet.header))
    if not run.is_valid():
        return render(request, IMPORT, {**context, "run": run, "refused": _problems(run)},
                      status=400)  # fmt: skip
    data = run.cleaned_data
    try:
        plan = imports.plan(sheet, run.mapping())
    except imports.Refused as refused:
        return render(request, IMPORT, {**context, "run": run, "refused": str(refused)},
                      status=400)  # fmt: skip
    if request.POST.get("step") != "import":  # the mapping changed: another dry run
        return render(request, IMPORT, {**context, "plan": plan, "run": run,
                                        "bad": plan.bad[:SHOWN_BAD_ROWS]})  # fmt: skip
    started = importruns.queue(plan, token, data["consent"], data["tag"], Actor.of(request.user))
    return redirect("dashboard:leads-import-run", started.pk)


@staff_page(needs=roles.IMPORT_LEADS)
@require_safe
def import_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """An import the worker stores: its bar while it runs (the page reloads itself), then
    what was imported and the rows refused."""
    job = get_object_or_404(ImportRun, pk=run_id)
    listed = reverse("dashboard:leads") + (f"?{urlencode({'tag': job.tag})}" if job.tag else "")
    done = importruns.result(job) if job.state == ImportRun.State.DONE else None
    context = {"section": "leads", "job": job, "listed": listed, "bad": job.bad, "done": done}
    return render(request, IMPORT, context)


@staff_page(needs=roles.IMPORT_LEADS)
@require_safe
def import_progress(request: HttpRequest, run_id: int) -> JsonResponse:
    """The run's state and counts, for a script or a monitor (no addresses in it)."""
    job = get_object_or_404(ImportRun, pk=run_id)
    fields = ("state", "rows_done", "rows_total", "percent", "finished", "created", "updated",
              "consents", "refused", "suppressed", "error")  # fmt: skip
    return JsonResponse({"id": job.pk, "file": job.name, **{f: getattr(job, f) for f in fields}})


def _problems(form) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
