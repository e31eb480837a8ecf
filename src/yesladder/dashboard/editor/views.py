"""The ladder editor, a funnel's versions and rollback. The page works without script (Check
posts the form and the findings come back with the page); with it, the bundled CodeMirror
editor asks `check` as the person types. Both call funnels.editing, as the CLI's load does
funnels.services."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from yesladder.dashboard.access import may, staff_page
from yesladder.dashboard.forms import CompareForm, EditorForm, RollbackForm
from yesladder.funnels import editing
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import Stale
from yesladder.funnels.services import rollback as roll_back
from yesladder.team import roles
from yesladder.team.audit import Actor

EDITOR = "yesladder/dashboard/editor.html"


@staff_page(needs=roles.EDIT_FUNNELS, script=True)
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, key: str) -> HttpResponse:
    return _editor(request, get_object_or_404(Funnel, key=key))


@staff_page(needs=roles.EDIT_FUNNELS, script=True)
@require_http_methods(["GET", "HEAD", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@staff_page(needs=roles.EDIT_FUNNELS)
@require_POST
def check(request: HttpRequest, key: str = "") -> JsonResponse:
    """The live check: keeps the text as the person's draft (nothing typed is lost) and says
    what the linter says, the ladder, the diff and where to preview each step."""
    funnel = get_object_or_404(Funnel, key=key) if key else None
    form = EditorForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"refused": _problems(form)}, status=400)
    draft = editing.keep_draft(request.user, funnel, form.cleaned_data["text"],
                               form.started_from())  # fmt: skip
    checked = editing.check(draft.text, funnel)
    return JsonResponse({**checked.as_json(), "previews": _previews(draft, checked)})


def _editor(request: HttpRequest, funnel: Funnel | None) -> HttpResponse:
    served = editing.served(funnel)
    draft = editing.draft_of(request.user, funnel)
    context = {"section": "funnels", "funnel": funnel, "served": served, "draft": draft}
    if request.method != "POST":
        text = draft.text if draft else editing.starting_text(funnel)
        based_on = draft.based_on if draft else (served.number if served else None)
        form = EditorForm(initial={"text": text, "based_on": based_on})
        return _shown(request, context, form, text)
    form = EditorForm(request.POST)
    if not form.is_valid():
        context["refused"] = _problems(form)
        return _shown(request, context, form, request.POST.get("text", ""), status=400)
    data = form.cleaned_data
    if data["action"] == "discard":
        editing.discard_draft(request.user, funnel)
        messages.info(request, "Your draft is discarded; the editor shows the served version.")
        return redirect(request.path)
    draft = editing.keep_draft(request.user, funnel, data["text"], form.started_from())
    context["draft"] = draft
    if data["action"] != "publish":
        return _shown(request, context, form, draft.text)
    try:
        version = editing.publish(request.user, funnel, draft.text, form.started_from(),
                                  data["confirm"])  # fmt: skip
    except editing.NotPublished as refused:
        context["refused"] = str(refused)
        status = 400 if refused.checked.errors else 409
        return _shown(request, context, form, draft.text, status=status)
    except Stale as stale:
        context.update(refused=str(stale), stale=stale,
                       others=editing.others_diff(funnel, stale) if funnel else ())  # fmt: skip
        return _shown(request, context, form, draft.text, status=409)
    messages.success(request, f"Published version {version.number} of {version.funnel.key}: "
                              "new visitors get it now.")  # fmt: skip
    return redirect("dashboard:versions", version.funnel.key)


def _shown(request: HttpRequest, context: dict, form: EditorForm, text: str,
           status: int = 200) -> HttpResponse:  # fmt: skip
    funnel = context["funnel"]
    checked = editing.check(text, funnel)
    draft = context["draft"]
    context.update(form=form, text=text, checked=checked,
                   based_on=form["based_on"].value() or "",
                   previews=_previews(draft, checked) if draft else [],
                   check_url=reverse("dashboard:editor-check", args=[funnel.key]) if funnel
                   else reverse("dashboard:new-funnel-check"))  # fmt: skip
    return render(request, EDITOR, context, status=status)


def _previews(draft, checked: editing.Checked) -> list[dict]:
    if checked.errors:
        return []
    token = editing.preview_token(draft)
    return [{"step": key, "title": title, "url": reverse("steps:preview", args=[token, key])}
            for key, title in checked.steps]  # fmt: skip


def _problems(form) -> str:
    return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())


# --- versions --------------------------------------------------------------------------------


@staff_page
@require_safe
def versions(request: HttpRequest, key: str) -> HttpResponse:
    funnel = get_object_or_404(Funnel, key=key)
    listed = list(funnel.versions.current())
    numbers = [v.number for v in listed]
    context = {"section": "funnels", "funnel": funnel, "versions": listed,
               "can_edit": may(request, roles.EDIT_FUNNELS)}  # fmt: skip
    compare = CompareForm(request.GET or None, numbers=numbers)
    if compare.is_bound and compare.is_valid():
        by_number = {v.number: v for v in listed}
        a, b = by_number[compare.cleaned_data["a"]], by_number[compare.cleaned_data["b"]]
        context["diff"] = editing.version_diff(a, b)
        context["compared"] = (a.number, b.number)
    elif len(numbers) > 1:
        compare = CompareForm(initial={"a": numbers[1], "b": numbers[0]}, numbers=numbers)
    context["compare"] = compare
    return render(request, "yesladder/dashboard/versions.html", context)


@staff_page(needs=roles.EDIT_FUNNELS)
@require_http_methods(["GET", "HEAD", "POST"])
def rollback(request: HttpRequest, key: str, number: int) -> HttpResponse:
    """A GET says what rolling back does; the POST publishes the old version again."""
    funnel = get_object_or_404(Funnel, key=key)
    old = get_object_or_404(funnel.versions.current(), number=number)
    current = funnel.current_version()
    form = RollbackForm(request.POST or None, initial={"current": current.number})
    context = {"section": "funnels", "funnel": funnel, "old": old, "current": current,
               "form": form, "diff": editing.version_diff(current, old)}  # fmt: skip
    if request.method != "POST":
        return render(request, "yesladder/dashboard/rollback.html", context)
    if not form.is_valid():
        context["refused"] = _problems(form)
        return render(request, "yesladder/dashboard/rollback.html", context, status=400)
    try:
        made = roll_back(funnel, number, by=Actor.of(request.user),
                         based_on=form.cleaned_data["current"])  # fmt: skip
    except Stale as stale:
        context["refused"] = str(stale)
        return render(request, "yesladder/dashboard/rollback.html", context, status=409)
    if made is None:
        messages.info(request, f"Version {current.number} is version {number}'s ladder already; "
                               "nothing changed.")  # fmt: skip
    else:
        messages.success(request, f"Version {number} is published again as version "
                                  f"{made.number}: new visitors get it now.")  # fmt: skip
    return redirect("dashboard:versions", funnel.key)
