"""What is rewritten or erased in the primary database after it was shipped follows in
ClickHouse: an erased lead's rows leave every shard (THREATS row 17: nothing of the person
left, in any store), and a history moved in time (`yesladder simulate`) is shipped again; the
report from ClickHouse still equals the embedded engine's."""

import datetime as dt
import random

import pytest

from tests.test_warehouse_report import funnel, reports_equal, scene, stitch_some
from yesladder.dashboard.privacy import erase
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event
from yesladder.tracking.services import move_back_in_time
from yesladder.warehouse import schema, services, shipping
from yesladder.warehouse.client import WarehouseError, connect, run, shards
from yesladder.warehouse.models import Erasure, IdentityChange
from yesladder.warehouse.shipping import Shipper

pytestmark = pytest.mark.django_db(transaction=True)


def shipped_crowd(settings, seed: int):
    rng = random.Random(seed)
    version = funnel()
    crowd, leads = [], []
    scene(rng, version, 25, 0, crowd)
    Shipper(settings, settle=0).sync()  # their anonymous rows first
    stitch_some(rng, crowd, leads)
    Shipper(settings, settle=0).sync()  # then again under their leads, tombstones for the rest
    return version, crowd, leads


def keys_of(lead: Lead) -> list[str]:
    visitors = Visitor.objects.filter(lead=lead).values_list("pk", flat=True)
    return [f"l{lead.pk}", *(f"v{v.hex}" for v in visitors)]


def rows_on_shards(settings, persons: list[str], events: tuple = (0,)) -> int:
    """Every row of these people on every shard, tombstones and unmerged copies included:
    under their keys, of their devices under anyone's, and these events wherever they are."""
    devices = tuple(key[1:] for key in persons if key.startswith("v")) or ("",)
    found = 0
    for shard in shards(settings):
        client = connect(shard)
        for name in schema.TABLES:
            where = "person IN %(p)s OR visitor IN %(v)s"
            if name == "events":
                where += " OR event_id IN %(e)s"
            found += run(client, shard, f"SELECT count() FROM {settings.database}.{name}_local "
                         f"WHERE {where}", {"p": tuple(persons), "v": devices,
                                            "e": events})[0][0]  # fmt: skip
    return found


def test_an_erased_lead_leaves_every_shard_and_the_reports_still_agree(clickhouse):
    version, _, leads = shipped_crowd(clickhouse, seed=11)
    gone = [lead for lead in leads if Event.objects.filter(lead=lead).exists()][:3]
    persons = [key for lead in gone for key in keys_of(lead)]
    assert rows_on_shards(clickhouse, persons) > 0
    for lead in gone:
        erase(lead)
    assert Erasure.objects.count() == 3
    assert services.status().erasures_waiting == 3
    assert "3 erasures not shipped yet" in services.status().lag()

    done = Shipper(clickhouse, settle=0).sync()

    assert done.erasures == 3
    assert rows_on_shards(clickhouse, persons) == 0
    assert Erasure.objects.count() == 0  # the people's keys are not kept once done
    assert services.status().caught_up
    reports_equal(clickhouse, version, seed=0)


def test_devices_that_moved_between_leads_leave_no_trace(clickhouse):
    """A device of Bo's that joins Ada (its history under Bo stays in ClickHouse until
    deleted by device), and one of Ada's that joins Bo (Ada's events on it live on as
    tombstones under the device): erasing Ada leaves neither."""
    from yesladder.tracking.identity import stitch

    version, crowd, leads = shipped_crowd(clickhouse, seed=14)
    ada, bo = leads[0], leads[1]
    came = Visitor.objects.filter(lead=bo).first()
    left = Visitor.objects.filter(lead=ada).first()
    ada_events = tuple(Event.objects.filter(lead=ada, visitor=left).values_list("pk", flat=True))
    stitch(came, ada)
    stitch(left, bo)
    Shipper(clickhouse, settle=0).sync()
    persons = keys_of(ada)
    assert rows_on_shards(clickhouse, persons, ada_events) > 0

    erase(ada)
    assert Shipper(clickhouse, settle=0).sync().erasures == 1

    assert rows_on_shards(clickhouse, persons, ada_events or (0,)) == 0
    reports_equal(clickhouse, version, seed=2)


def test_an_erasure_waits_for_the_store_and_is_never_dropped(clickhouse, monkeypatch):
    _, _, leads = shipped_crowd(clickhouse, seed=12)
    lead = next(lead for lead in leads if Event.objects.filter(lead=lead).exists())
    persons = keys_of(lead)
    erase(lead)

    def down(self, shard, erasures):
        raise WarehouseError("ClickHouse at 127.0.0.1:9 is not answering")

    monkeypatch.setattr(shipping.Shipper, "_ask_to_delete", down)
    with pytest.raises(WarehouseError):
        Shipper(clickhouse, settle=0).sync()
    assert Erasure.objects.count() == 1
    monkeypatch.undo()

    assert Shipper(clickhouse, settle=0).sync().erasures == 1
    assert rows_on_shards(clickhouse, persons) == 0


def test_a_history_moved_in_time_is_shipped_again(clickhouse):
    version, crowd, _ = shipped_crowd(clickhouse, seed=13)
    before = IdentityChange.objects.count()  # the stitches' (kept: the stream's checkpoint)
    for visitor in crowd[::4]:
        move_back_in_time(visitor.pk, dt.timedelta(days=1, minutes=7))
    assert IdentityChange.objects.count() - before == len(crowd[::4])

    Shipper(clickhouse, settle=0).sync()

    reports_equal(clickhouse, version, seed=1)  # by day too: the moved days count


def test_without_a_store_nothing_is_kept_for_it(settings):
    settings.CLICKHOUSE = None
    from yesladder.leads.services import new_visitor
    from yesladder.tracking.identity import stitch

    visitor = new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})
    lead = Lead.objects.create(email="ada@example.com")
    stitch(visitor, lead)
    move_back_in_time(visitor.pk, dt.timedelta(days=1))
    erase(lead)
    assert not Erasure.objects.exists() and not IdentityChange.objects.exists()
