"""What every tracking library must do against a live yesladder, written once: the calls a site
makes (in the Segment spec's own names), what the log must hold afterwards, and a witness on
the server that counts the requests each library sends and can lose the answer to the first."""

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import funnel_dict, sourced_from
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking import api
from yesladder.tracking.models import Event, Journey

JS = Path(__file__).resolve().parent / "js"
NODE_MODULES = JS / "node_modules"
NEEDS_NODE_MODULES = pytest.mark.skipif(
    not NODE_MODULES.is_dir() and not os.environ.get("CI"),
    reason="the JavaScript libraries are not installed: run `npm ci` in tests/js (CI does)",
)
EMAIL = "ann@example.com"
STEP = {"funnel": "clean", "step": "guide"}

# A visitor reads the guide on a phone (anonymous), completes it, opts in (identify), then acts
# as the known user from the server; earlier, the same person browsed on a tablet (alias).
ANONYMOUS = [
    ("page", {"anonymousId": "phone", "name": "Guide", "properties": {"url": "https://blog.example.com/guide"}}),
    ("track", {"anonymousId": "phone", "event": "step_viewed", "properties": STEP}),
    ("track", {"anonymousId": "phone", "event": "Step Completed", "properties": STEP}),
    ("track", {"anonymousId": "tablet", "event": "Pricing Viewed", "properties": {"plan": "pro"}}),
]  # fmt: skip
KNOWN = [
    ("identify", {"anonymousId": "phone", "userId": "u-1",
                  "traits": {"email": EMAIL, "company": "Acme"}}),
    ("track", {"userId": "u-1", "event": "Plan Chosen", "properties": {"plan": "pro"}}),
    ("alias", {"previousId": "tablet", "userId": "u-1"}),
    ("group", {"userId": "u-1", "groupId": "acme", "traits": {"name": "Acme Inc"}}),
]  # fmt: skip
CALLS = ANONYMOUS + KNOWN


def with_screen(calls: list) -> list:
    """Apps' libraries have screen as well."""
    return [*calls, ("screen", {"userId": "u-1", "name": "Settings"})]


def snake_case(params: dict) -> dict:
    """The Python libraries' keyword arguments for the spec's fields."""
    names = {"anonymousId": "anonymous_id", "userId": "user_id", "previousId": "previous_id",
             "groupId": "group_id"}  # fmt: skip
    return {names.get(key, key): value for key, value in params.items()}


def ladder():
    load_funnel(sourced_from(funnel_dict()))


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def assert_one_person_who_moved_on(calls: list) -> Lead:
    """Each call stored once; the journey moved past the completed step; the lead found by
    email holds the anonymous history of both devices and the user's own events."""
    assert Event.objects.count() == len(calls), sorted(Event.objects.values_list("name", "label"))
    journey = Journey.objects.get()
    assert journey.done == ["guide"] and journey.current_step == "checklist"
    lead = Lead.objects.get(email=EMAIL)
    assert lead.profile["company"] == "Acme"
    everyone = Event.objects.values_list("label", "name", "visitor__anonymous_id", "lead_id")
    assert lead.timeline().count() == len(calls), list(everyone)  # every device, all along
    return lead


class Witness:
    """Counts the tracking API's requests as the live server receives them; `lose_first`
    commits the first request and answers it 503 as if the answer were lost on the way, so
    the library sends the same batch again."""

    def __init__(self, monkeypatch, lose_first: bool = False):
        self.statuses: list[int] = []
        self.lose_first = lose_first
        receive = api.receive

        def counted(request, endpoint):
            response = receive(request, endpoint)
            if self.lose_first and not self.statuses:
                response.status_code = 503
                response.content = json.dumps({"code": "unavailable", "message": "lost"})
            self.statuses.append(response.status_code)
            return response

        monkeypatch.setattr(api, "receive", counted)

    def quiet_for(self, seconds: float) -> list[int]:
        """The statuses once no request has come for `seconds`."""
        seen = -1
        while seen != len(self.statuses):
            seen = len(self.statuses)
            time.sleep(seconds)
        return self.statuses
