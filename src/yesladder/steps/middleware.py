"""Sessions, sign-in and flash messages for staff only: the visitor's pages skip them.

A visitor's page never reads a session, a signed-in user or a message; running those three
middlewares on every page cost a sizeable share of a page's time (docs/benchmarks.md). They
stay for the admin and the dashboard, and Django's checks still find them (subclasses).
CSRF, the host check, the security headers and the Content-Security-Policy run everywhere.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

# The visitor's pages, signed links and payment pages (steps, scheduling, offers, automation).
VISITOR_PATHS = ("/f/", "/c/", "/d/", "/assets/", "/b/", "/s/", "/o/", "/pay/", "/e/")


def visitors_page(request) -> bool:
    return request.path_info.startswith(VISITOR_PATHS)


class StaffSessionMiddleware(SessionMiddleware):
    def __call__(self, request):
        return self.get_response(request) if visitors_page(request) else super().__call__(request)


class StaffAuthenticationMiddleware(AuthenticationMiddleware):
    def __call__(self, request):
        return self.get_response(request) if visitors_page(request) else super().__call__(request)


class StaffMessageMiddleware(MessageMiddleware):
    def __call__(self, request):
        return self.get_response(request) if visitors_page(request) else super().__call__(request)
