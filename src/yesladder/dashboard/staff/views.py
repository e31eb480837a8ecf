"""The team (who holds which role; owners change roles) and the audit trail."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from yesladder.dashboard.access import may, staff_page
from yesladder.dashboard.services import paged
from yesladder.team import roles
from yesladder.team.audit import Actor
from yesladder.team.models import AuditEntry


@staff_page
@require_safe
def team(request: HttpRequest) -> HttpResponse:
    context = {"section": "team", "members": roles.members(), "roles": [*roles.ROLES, roles.NONE],
               "can_change": may(request, roles.MANAGE_TEAM)}  # fmt: skip
    return render(request, "yesladder/dashboard/team.html", context)


@staff_page(needs=roles.MANAGE_TEAM)
@require_POST
def change_role(request: HttpRequest, user_id: int) -> HttpResponse:
    member = get_object_or_404(get_user_model(), pk=user_id)
    try:
        changed = roles.set_role(member, request.POST.get("role", ""), Actor.of(request.user))
    except roles.RoleRefused as refused:
        messages.error(request, str(refused))
        return redirect("dashboard:team")
    name = member.get_username()
    if changed:
        messages.success(request, f"{name} is now {roles.role_of(member)}.")
    else:
        messages.info(request, f"{name} already had that role; nothing changed.")
    return redirect("dashboard:team")


@staff_page
@require_safe
def trail(request: HttpRequest) -> HttpResponse:
    action = request.GET.get("action", "")
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action__startswith=action)
    page = paged(entries, request.GET.get("page"), lambda entry: entry)
    actions = sorted(set(AuditEntry.objects.values_list("action", flat=True)))
    context = {"section": "audit", "page": page, "action": action, "actions": actions}
    return render(request, "yesladder/dashboard/audit.html", context)
