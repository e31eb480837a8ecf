"""A lead's data on request (threat 17): the JSON export holds every row of every model with a
foreign key to Lead, and erasure leaves the address in no column of any table, keeping only its
hash on the suppression list (and orders, anonymised, for the accounts)."""

import json

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models.functions import Cast
from django.test import Client

from tests.staff import member
from tests.test_lead_timeline import a_full_lead
from yesladder.automation import outbox
from yesladder.automation.models import Bounce, Link, Message, Suppression, email_hash
from yesladder.dashboard import privacy
from yesladder.leads.models import Lead, RateCount
from yesladder.offers.models import Charge, Order
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db
ADA, BOB = "ada@example.com", "bob@example.com"
TEXT_COLUMNS = (models.CharField, models.TextField, models.JSONField)  # EmailField, URLField too


def holders(address: str) -> list[str]:
    """Every column, of every table, that holds the address in any row."""
    return [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, TEXT_COLUMNS)
        and model._base_manager.annotate(scanned=Cast(field.name, models.TextField()))
        .filter(scanned__icontains=address)
        .exists()
    ]


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models()}


def models_pointing_at_lead() -> set[str]:
    """Found from the other side (each model's own fields), not the way privacy.py finds them."""
    return {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.fields
        if field.remote_field and field.remote_field.model is Lead
    }


@pytest.fixture
def ada():
    built = a_full_lead(ADA)
    a_full_lead(BOB)  # someone else, who must lose nothing
    staff = member("staff", "owner")
    # Where the address sits without a key to the lead.
    Bounce.objects.create(email_hash=email_hash(ADA), kind="soft", provider_event="esp:1",
                          detail=f"452 <{ADA}>: mailbox full")  # fmt: skip
    Suppression.objects.create(email_hash=email_hash(ADA), reason="unsubscribed", detail=ADA)
    RateCount.objects.create(key=f"email:{ADA}", window=1, count=2)
    Message.objects.create(key="before-it-was-a-lead", to=ADA.upper(), template="result",
                           subject="Your result", text="...", html="...")  # fmt: skip
    LogEntry.objects.create(
        user=staff, content_type=ContentType.objects.get_for_model(Lead),
        object_id=str(built.lead.pk), object_repr=ADA, action_flag=CHANGE, change_message="[]",
    )  # fmt: skip
    return built.lead


# --- export ----------------------------------------------------------------------------------


def test_the_export_has_a_key_for_every_model_with_a_foreign_key_to_lead(ada):
    records = privacy.export(ada)["records"]
    missing = models_pointing_at_lead() - set(records)
    assert not missing, f"export() leaves out {missing}: every model pointing at Lead belongs"


def test_the_export_holds_each_kind_of_row_and_nobody_else_s(ada):
    data = json.loads(json.dumps(privacy.export(ada)))  # JSON as it is, no encoder needed
    records = data["records"]
    counts = {label: len(rows) for label, rows in records.items()}
    assert counts == {
        "leads.Visitor": 2, "leads.Consent": 1, "tracking.Event": 3, "tracking.Journey": 1,
        "scheduling.Booking": 1, "scheduling.Reminder": 1, "scheduling.Registration": 1,
        "offers.Order": 1, "offers.Charge": 1, "automation.Enrollment": 2,
        "automation.Message": 5, "automation.Link": 1, "automation.Standing": 1,
        "automation.ScoreChange": 1, "automation.HookDelivery": 1,
        "automation.Suppression": 1, "automation.Bounce": 1,
        "analytics.Progress": 0,  # its events name no funnel: nothing to count
        "experiments.Exposure": 0,  # ada walked no experiment
    }  # fmt: skip
    assert data["lead"]["email"] == ADA and data["lead"]["profile"]["company"] == "Acme"
    assert data["format"] == privacy.FORMAT
    assert BOB not in json.dumps(data)
    order = records["offers.Order"][0]
    assert order["total"] == 29000 and order["created_at"] == "2025-03-03T10:00:00+00:00"
    assert {e["name"] for e in records["tracking.Event"]} == {
        "step_viewed", "step_completed", "page_viewed"
    }  # fmt: skip
    assert records["tracking.Journey"][0]["answers"]["q1"] == "a"
    assert records["scheduling.Reminder"][0]["before"] == 3600.0


def test_the_export_is_a_json_attachment_for_staff_only(ada):
    staff = Client()
    staff.force_login(User.objects.get(username="staff"))
    response = staff.get(f"/dashboard/leads/{ada.pk}/export.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="lead-{ada.pk}.json"'
    assert json.loads(response.content)["lead"]["email"] == ADA
    assert "no-store" in response["Cache-Control"]
    assert Client().get(f"/dashboard/leads/{ada.pk}/export.json").status_code == 302


# --- erasure ---------------------------------------------------------------------------------


def test_erasure_leaves_the_address_nowhere_and_its_hash_suppressed(ada):
    assert len(holders(ADA)) > 10  # the fixture put it in many places
    bob_before = holders(BOB)
    erased = privacy.erase(ada)
    assert holders(ADA) == []
    assert holders(BOB) == bob_before
    suppression = Suppression.objects.get(email_hash=email_hash(ADA))
    assert (suppression.reason, suppression.detail) == (Suppression.Reason.ERASED, "")
    assert outbox.why_not(Message(to=ADA, marketing=False)) != ""  # never mailed again
    assert erased.kept_orders == 1 and erased.rows > 20


def test_erasure_keeps_orders_for_the_accounts_with_nothing_that_names_the_person(ada):
    order = Order.objects.get(lead=ada)
    privacy.erase(ada)
    kept = Order.objects.select_related("lead").get(pk=order.pk)
    assert (kept.total, kept.state, kept.reference) == (order.total, order.state, order.reference)
    assert (kept.customer_id, kept.payment_method, kept.journey_id) == ("", "", None)
    assert Charge.objects.get(order=kept).payment_id == "pay_1"  # the refund's trail
    anonymous = kept.lead
    assert anonymous.email == f"erased-{ada.pk}@erased.invalid"
    assert (anonymous.profile, anonymous.tags, anonymous.user_id) == ({}, [], None)
    for relation in privacy.reverse_relations(Lead):
        if relation.related_model is not Order:
            rows = relation.related_model._base_manager.filter(**{relation.field.name: ada.pk})
            assert not rows.exists(), relation.related_model


def test_a_lead_without_orders_is_deleted_outright():
    lead = Lead.objects.create(email="cy@example.com", profile={"first_name": "Cy"})
    privacy.erase(lead)
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert holders("cy@example.com") == []
    assert Suppression.covers("CY@example.com")


def test_erasure_records_nothing_else(ada):
    before = row_counts()
    privacy.erase(ada)
    after = row_counts()
    grown = {label for label in after if after[label] > before[label]}
    # The suppression row existed (erasure only rewrote it); the trail says it happened, by
    # the lead's id (tests/test_roles.py).
    assert grown == {"team.AuditEntry"}
    assert after["tracking.Event"] == before["tracking.Event"] - 3
    assert after["automation.Link"] == before["automation.Link"] - 1
    assert Event.objects.filter(visitor__lead__email=BOB).count() == 3


def test_erasure_is_refused_while_an_order_has_charges_to_collect(ada):
    Order.objects.filter(lead=ada).update(state=Order.State.ACTIVE)
    before = row_counts()
    with pytest.raises(privacy.ErasureRefused, match="still has charges to collect"):
        privacy.erase(ada)
    assert row_counts() == before and Lead.objects.get(pk=ada.pk).email == ADA


@pytest.fixture
def staff(ada) -> Client:
    client = Client()
    client.force_login(User.objects.get(username="staff"))
    return client


def test_a_get_of_the_erase_page_shows_what_it_does_and_writes_nothing(ada, staff):
    before = row_counts()
    page = staff.get(f"/dashboard/leads/{ada.pk}/erase/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Erase ada@example.com?" in html and "1 order with its payments" in html
    assert staff.head(f"/dashboard/leads/{ada.pk}/erase/").status_code == 200
    wrong = staff.post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": BOB})
    assert wrong.status_code == 400 and "nothing was erased" in wrong.content.decode()
    assert Client().post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": ADA}).status_code == 302
    assert row_counts() == before and Suppression.objects.get().reason == "unsubscribed"


def test_the_erase_form_erases_and_says_so_without_the_address(ada, staff):
    response = staff.post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": " Ada@Example.com "})
    assert response.status_code == 302 and response["Location"] == "/dashboard/leads/"
    page = staff.get("/dashboard/leads/").content.decode()
    assert f"Lead {ada.pk} erased" in page and "1 order(s) kept" in page
    assert holders(ADA) == []


def test_the_erase_page_says_why_it_refused(ada, staff):
    Order.objects.filter(lead=ada).update(state=Order.State.ACTIVE)
    response = staff.post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": ADA})
    assert response.status_code == 409
    assert "still has charges to collect" in response.content.decode()
    assert Link.objects.filter(message__lead=ada).exists()
