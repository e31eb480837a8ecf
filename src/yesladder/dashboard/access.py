"""Who may open a dashboard page, and the policy its answer carries. Every page needs a staff
sign-in and the dashboard permission (a role); a page that changes something names the
permission it needs, checked for every method, so a viewer's POST is refused before the view
runs (403) and nothing changes."""

from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from yesladder.team import roles

HEADER = "Content-Security-Policy"
# No script runs on these pages, and an email preview's sandboxed frame inherits this policy:
# its inline styles and images may load, nothing in it can run (threat 7).
POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src * data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The ladder editor: our own bundled script (CodeMirror and the live lint), which talks only to
# this site; still no inline script and nothing from elsewhere.
SCRIPT_POLICY = POLICY + "; script-src 'self'; connect-src 'self'"

WHAT = {
    roles.USE: "read the dashboard",
    roles.EXPORT_PERSONAL: "export personal data",
    roles.EDIT_FUNNELS: "edit funnels",
    roles.RUN_EXPERIMENTS: "stop or ship experiments",
    roles.MANAGE_LEADS: "change leads",
    roles.IMPORT_LEADS: "import leads",
    roles.ERASE_LEADS: "erase leads",
    roles.MANAGE_TEAM: "give roles",
}


def staff_page(view=None, *, needs: str = roles.USE, script: bool = False):
    """A dashboard page: staff signed in (else the admin's login page), holding the dashboard
    permission and `needs`."""

    def guard(view):
        @wraps(view)
        def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            missing = next((p for p in (roles.USE, needs) if not user.has_perm(p)), None)
            if missing is not None:
                context = {"what": WHAT[missing], "role": roles.role_of(user)}
                response = render(request, "yesladder/dashboard/forbidden.html", context,
                                  status=403)  # fmt: skip
            else:
                response = view(request, *args, **kwargs)
            response.headers.setdefault(HEADER, SCRIPT_POLICY if script else POLICY)
            return response

        return staff_member_required(never_cache(page))

    return guard(view) if view is not None else guard


def may(request: HttpRequest, permission: str) -> bool:
    return request.user.has_perm(permission)
