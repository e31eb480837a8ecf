"""The host's own calendar blocks slots (issue 31): a real CalDAV server (Radicale, started here
on loopback) holds events that recur, span midnight, cross a DST change and last all day; an
ICS feed does the same. A calendar that is down, slow, answers garbage or 401 keeps the last
good read with a warning on the page, and after `stale_after` no slot of that host is offered.
The worker reads the calendars (a seams.Job); a page of slots only reads what it kept."""

import datetime as dt
import socket
import subprocess
import sys
import time

import caldav
import pytest
import time_machine

from tests.conftest import another_site, funnel_dict, journey_with_lead
from yesladder import seams
from yesladder.localserver import free_port
from yesladder.scheduling import host_calendars, services

BERLIN_WED = dt.datetime(2027, 3, 24, 8, tzinfo=dt.UTC)  # DST begins Sunday 28 March
USER, PASSWORD = "ann", "s3cret"
pytestmark = pytest.mark.django_db

EVENTS = {
    # Every Monday 10:00-11:00 in Berlin since 1 March (CET): after the change, 08:00 UTC.
    "weekly": "DTSTART;TZID=Europe/Berlin:20270301T100000\nDTEND;TZID=Europe/Berlin:20270301"
    "T110000\nRRULE:FREQ=WEEKLY;BYDAY=MO",
    "night": "DTSTART;TZID=Europe/Berlin:20270325T220000\nDTEND;TZID=Europe/Berlin:20270326T"
    "100000",  # Thursday night into Friday morning
    "all-day": "DTSTART;VALUE=DATE:20270331\nDTEND;VALUE=DATE:20270401",  # Wednesday
    "free": "DTSTART:20270330T080000Z\nDTEND:20270330T090000Z\nTRANSP:TRANSPARENT",
}


def ics(*names: str) -> str:
    body = "".join(f"BEGIN:VEVENT\nUID:{n}@test\nDTSTAMP:20270101T000000Z\n{EVENTS[n]}\n"
                   "SUMMARY:busy\nEND:VEVENT\n" for n in names)  # fmt: skip
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n"


@pytest.fixture
def radicale(tmp_path):
    """Radicale on loopback with one user and one calendar holding EVENTS."""
    port = free_port()
    (tmp_path / "users").write_text(f"{USER}:{PASSWORD}\n")
    server = subprocess.Popen([
        sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
        "--storage-filesystem-folder", str(tmp_path / "store"), "--auth-type", "htpasswd",
        "--auth-htpasswd-filename", str(tmp_path / "users"),
        "--auth-htpasswd-encryption", "plain", "--web-type", "none",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/{USER}/work/"
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client = caldav.DAVClient(url=f"http://127.0.0.1:{port}/", username=USER, password=PASSWORD)
    calendar = client.principal().make_calendar(cal_id="work")
    for name in EVENTS:
        calendar.save_event(ics(name))
    yield server, url
    server.terminate()
    server.wait(10)


def step_with(busy: dict, monkeypatch) -> object:
    monkeypatch.setenv("ANN_CALDAV_PASSWORD", PASSWORD)
    data = funnel_dict()
    call = data["steps"][3]
    call.update(availability={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                duration=60, buffer_after=0, notice="0m", horizon="14d")  # fmt: skip
    call["hosts"][0]["busy"] = busy
    return journey_with_lead(data).version.spec.step("call")


def worker_round(now: dt.datetime) -> int:
    """The worker's job, as the worker runs it."""
    with time_machine.travel(now, tick=False):
        return seams.JOBS.get("host-calendars").run()


def starts(step, now) -> set[dt.datetime]:
    worker_round(now)
    return {s.start for s in services.open_slots(step, now)}


def utc(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2027, 3, day, hour, tzinfo=dt.UTC)


def assert_blocked_as_written(offered: set[dt.datetime]) -> None:
    assert utc(29, 8) not in offered and utc(29, 9) in offered  # Monday 10:00 CEST = 08:00 UTC
    assert utc(29, 7) in offered  # Monday 09:00 CEST
    assert utc(26, 8) not in offered and utc(26, 9) in offered  # Friday, until 10:00 CET
    assert not [s for s in offered if s.date() == dt.date(2027, 3, 31)]  # all day
    assert utc(30, 8) in offered  # an event marked free blocks nothing
    assert utc(25, 8) in offered  # Thursday morning is free


def test_a_caldav_calendar_blocks_its_busy_times(radicale, monkeypatch):
    _, url = radicale
    step = step_with({"caldav": url, "user": USER, "password_env": "ANN_CALDAV_PASSWORD"},
                     monkeypatch)  # fmt: skip
    assert_blocked_as_written(starts(step, BERLIN_WED))
    assert services.calendar_problems(step) == []


def test_an_ics_feed_blocks_its_busy_times(monkeypatch):
    feed = ics(*EVENTS).encode()
    with another_site(lambda path: (feed, "text/calendar")) as site:
        step = step_with({"ics": f"{site}/ann.ics"}, monkeypatch)
        assert_blocked_as_written(starts(step, BERLIN_WED))


def test_a_failing_calendar_keeps_its_last_good_read_then_offers_nothing(
    radicale, monkeypatch, client
):
    server, url = radicale
    step = step_with({"caldav": url, "user": USER, "password_env": "ANN_CALDAV_PASSWORD",
                      "stale_after": "1h"}, monkeypatch)  # fmt: skip
    good = starts(step, BERLIN_WED)
    server.terminate()
    server.wait(10)
    later = BERLIN_WED + dt.timedelta(minutes=10)  # past 5 minutes: read again, fails
    assert starts(step, later) == {s for s in good if s >= later}  # the last good read holds
    assert services.calendar_problems(step) == ["Ann"]
    with time_machine.travel(later, tick=False):
        client.cookies["yl_vid"] = str(step_journey_visitor())
        page = client.get("/f/clean/call/").content.decode()
    assert "The calendar of Ann could not be checked just now" in page
    assert starts(step, BERLIN_WED + dt.timedelta(hours=2)) == set()  # too old: nothing offered


def step_journey_visitor():
    from yesladder.tracking.models import Journey

    return Journey.objects.get().visitor_id


@pytest.mark.parametrize("fault", ["garbage", "401", "slow"])
def test_garbage_a_wrong_password_and_a_slow_server_are_problems_not_tracebacks(
    fault, radicale, monkeypatch
):
    _, url = radicale
    source = {"caldav": url, "user": USER, "password_env": "ANN_CALDAV_PASSWORD"}
    monkeypatch.setattr(host_calendars, "TIMEOUT", 0.5)
    if fault == "401":
        source["user"] = "mallory"
    elif fault == "slow":
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection, never answers
        source["caldav"] = f"http://127.0.0.1:{silent.getsockname()[1]}/ann/work/"
    if fault == "garbage":
        with another_site(lambda path: (b"<html>not a calendar</html>", "text/html")) as site:
            step = step_with({"ics": f"{site}/x.ics"}, monkeypatch)
            assert starts(step, BERLIN_WED) == set()
    else:
        step = step_with(source, monkeypatch)
        began = time.monotonic()
        assert starts(step, BERLIN_WED) == set()  # never read: nothing can be checked
        assert time.monotonic() - began < 5
    assert services.calendar_problems(step) == ["Ann"]


def test_the_worker_reads_the_calendar_and_pages_only_what_it_kept(monkeypatch, client):
    asked = []
    feed = ics(*EVENTS).encode()

    def answer(path):
        asked.append(path)
        return feed, "text/calendar"

    with another_site(answer) as site:
        step = step_with({"ics": f"{site}/ann.ics"}, monkeypatch)
        client.cookies["yl_vid"] = str(step_journey_visitor())
        with time_machine.travel(BERLIN_WED, tick=False):
            page = client.get("/f/clean/call/").content.decode()
        assert asked == [] and "The calendar of Ann could not be checked" in page  # not read yet
        assert services.open_slots(step, BERLIN_WED) == []  # nothing it cannot check

        assert worker_round(BERLIN_WED) == 1 and len(asked) == 1
        with time_machine.travel(BERLIN_WED, tick=False):
            page = client.get("/f/clean/call/").content.decode()
        assert "could not be checked" not in page and len(asked) == 1  # the page only reads
        assert_blocked_as_written({s.start for s in services.open_slots(step, BERLIN_WED)})
        assert worker_round(BERLIN_WED + dt.timedelta(minutes=4)) == 0  # still fresh
        assert worker_round(BERLIN_WED + dt.timedelta(minutes=5)) == 1 and len(asked) == 2
