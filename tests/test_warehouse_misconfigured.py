"""Never "caught up" without asking the store (issue 29, item 3): `clickhouse status`, `sync`
and `report --engine clickhouse` ask every shard first and say exactly which server is
unreachable or misconfigured (a refused port, the HTTP port, an unknown user, a database or a
cluster that does not exist), each within the timeouts; the dashboard gives up within them too
and its store line shows the last error."""

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import funnel_dict, sourced_from
from tests.staff import member
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.leads.services import new_visitor
from yesladder.localserver import free_port
from yesladder.tracking.models import Event
from yesladder.tracking.services import record
from yesladder.warehouse.config import parse
from yesladder.warehouse.models import Checkpoint

pytestmark = pytest.mark.django_db(transaction=True)
FAST = {"connect_timeout": 1, "timeout": 1}
GIVE_UP = 5  # seconds: the timeouts, a probe of the port, and a busy machine


def wrong_settings(cluster, case: str):
    """The store's settings with one thing wrong, and what the answer must say."""
    node = cluster.nodes[0]
    at = f"127.0.0.1:{node.tcp_port}"
    if case == "refused port":
        port = free_port()
        return parse(f"clickhouse://127.0.0.1:{port}/db", cluster.name, **FAST), (
            f"ClickHouse at 127.0.0.1:{port} is not answering: connection refused"
        )
    if case == "HTTP port":
        return parse(f"clickhouse://127.0.0.1:{node.http_port}/db", cluster.name, **FAST), (
            f"ClickHouse at 127.0.0.1:{node.http_port} speaks HTTP, not ClickHouse's native "
            "protocol")  # fmt: skip
    if case == "unknown user":
        return parse(f"clickhouse://mallory:pw@{at}/db", cluster.name, **FAST), (
            f"ClickHouse at {at} refused user 'mallory'"
        )
    if case == "no such database":
        return parse(f"clickhouse://{at}/never_made", cluster.name, **FAST), (
            f"shard 1 ({at}): no database 'never_made'; run `yesladder clickhouse init`"
        )
    if case == "no such cluster":
        return parse(f"clickhouse://{at}/db", "nosuch", **FAST), (
            f"YESLADDER_CLICKHOUSE_CLUSTER: {at} has no cluster 'nosuch' in remote_servers "
            f"(it has: {cluster.name}")  # fmt: skip
    raise AssertionError(case)


CASES = ["refused port", "HTTP port", "unknown user", "no such database", "no such cluster"]


@pytest.mark.parametrize("case", CASES)
def test_status_and_sync_name_what_is_wrong_and_never_say_caught_up(
    clickhouse_cluster, settings, case
):
    settings.CLICKHOUSE, expected = wrong_settings(clickhouse_cluster, case)
    for action in ("status", "sync"):
        out = io.StringIO()
        t0 = time.monotonic()
        with pytest.raises(CommandError) as refused:
            call_command("clickhouse", action, stdout=out)
        assert time.monotonic() - t0 < GIVE_UP, action
        assert expected in str(refused.value), (action, str(refused.value))
        assert "caught up" not in out.getvalue()
        assert "Traceback" not in str(refused.value)


def test_status_names_the_shard_without_the_tables(clickhouse_cluster, clickhouse, settings):
    from clickhouse_driver import Client as Native

    second = clickhouse_cluster.nodes[1]
    Native("127.0.0.1", port=second.tcp_port).execute(
        f"DROP TABLE {clickhouse.database}.events_local"
    )
    with pytest.raises(CommandError, match=rf"shard 2 \(127\.0\.0\.1:{second.tcp_port}\): "
                       r"tables missing in '\w+' \(events_local\)"):  # fmt: skip
        call_command("clickhouse", "status", stdout=io.StringIO())
    call_command("clickhouse", "init", stdout=io.StringIO())
    out = io.StringIO()
    call_command("clickhouse", "status", stdout=out)
    assert "caught up" in out.getvalue()


def test_the_report_gives_up_within_the_timeout(clickhouse_cluster, settings):
    load_funnel(sourced_from(funnel_dict()))
    settings.CLICKHOUSE, expected = wrong_settings(clickhouse_cluster, "HTTP port")
    t0 = time.monotonic()
    with pytest.raises(CommandError, match="speaks HTTP"):
        call_command("report", "clean", "--engine", "clickhouse", stdout=io.StringIO())
    assert time.monotonic() - t0 < GIVE_UP


def test_the_dashboard_gives_up_within_the_timeout_and_shows_the_error(
    clickhouse_cluster, settings
):
    load_funnel(sourced_from(funnel_dict()))
    visitor = new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})
    record(EventName.STEP_VIEWED, visitor, current_version("clean"), "guide")
    for stream in ("events", "identities"):  # the store says it is caught up: pages ask it
        Checkpoint.objects.create(stream=stream, position=Event.objects.latest("id").pk)
    staff = Client()
    staff.force_login(member("staff", "viewer"))
    settings.CLICKHOUSE = None
    staff.get("/dashboard/funnels/clean/")  # warm: templates, imports
    node = clickhouse_cluster.nodes[0]
    settings.CLICKHOUSE = parse(f"clickhouse://127.0.0.1:{node.http_port}/db",
                                clickhouse_cluster.name, **FAST)  # fmt: skip
    t0 = time.monotonic()
    page = staff.get("/dashboard/funnels/clean/").content.decode()
    assert time.monotonic() - t0 < GIVE_UP
    assert "These numbers are from the embedded engine: ClickHouse did not answer" in page
    t0 = time.monotonic()
    again = staff.get("/dashboard/funnels/clean/").content.decode()
    assert time.monotonic() - t0 < 1  # the store's last query failed: not asked again
    assert f"last error: ClickHouse at 127.0.0.1:{node.http_port} is not answering" in again
