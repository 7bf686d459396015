"""Property-based API testing with Schemathesis against the schema the running app serves.

Every operation of ``/api/schema/`` gets a bounded number of generated requests (valid and
edge-case bodies, parameters and ids), sent in-process through Django's WSGI handler with an
organisation API key that may read and write everything. Two checks: the server never
answers 5xx, and every documented response matches its schema. A 5xx or a schema mismatch
fails the test with the reproducing request."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from integrations import services as key_services
from partnership.demo import load_demo_data
from partnership.models import Organization, Role, User

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 8
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, in-process: it shares the test's transaction, so (as Django's
    test client does) it must not close the connection after each request."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_key(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    load_demo_data()
    _key, plaintext = key_services.issue_api_key(
        by=User.objects.get(email="admin@nordwind.example"),
        organization=Organization.objects.get(slug="nordwind"),
        name="Schemathesis",
        scopes=["*:write"],
        role=Role.BUYER,
    )
    return plaintext


def test_every_operation_answers_without_5xx_and_as_documented(api_key, wsgi_app):
    headers = {"Authorization": f"Bearer {api_key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, headers=headers)
    failures, cases, operations = [], [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            cases.append(case.operation.label)
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # Schemathesis raises exception groups: collect all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    print(f"\n[schemathesis] {operations} operations, {len(cases)} cases")
    assert operations >= 60
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", ["/api/v1/products/", "/api/v1/corrective-actions/"])
def test_an_iso_offset_postgres_refuses_is_compared_in_utc(world, client, path):
    """Found by Schemathesis: ``+21:54`` is valid ISO 8601 but beyond PostgreSQL's ±15:59."""
    client.force_login(world.buyer)
    response = client.get(path, {"updated_since": "3319-05-25T04:39:52.770482+21:54"})
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []
