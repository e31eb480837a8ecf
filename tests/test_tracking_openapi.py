"""Schemathesis drives every tracking endpoint from the OpenAPI document the app serves: no
generated body makes a server error, and every answer matches the document (threat 24)."""

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from yesladder.wsgi import application

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip


# Read from the running app (WSGI, in this process): the document users get is the one tested.
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """As Django's test client does: the test's transaction outlives each WSGI request."""
    from django.core import signals
    from django.db import close_old_connections

    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_keeps_its_documented_promises(case, write_key):
    auth = base64.b64encode(f"{write_key.key}:".encode()).decode()
    case.call_and_validate(headers={"Authorization": f"Basic {auth}"}, checks=CHECKS)
