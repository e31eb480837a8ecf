"""A URLconf for the error-reporting tests: the site's own, plus a page that fails with a
visitor's data in its message, as a bug might."""

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from yesladder.urls import urlpatterns as site


@csrf_exempt  # a form post without a token: this test is about the failure, not CSRF
def fails(request):
    raise ValueError(
        f"could not mail {request.POST.get('email')} from {request.META['REMOTE_ADDR']}"
    )


urlpatterns = [*site, path("fails/", fails)]
