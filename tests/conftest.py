import os

import pytest
from django.conf import settings

from partnership.models import Role
from tests.factories import EMSFactory, OEMFactory, PartnershipFactory, member


def pytest_configure(config):
    """The suite runs on the real services; refuse to run half of it silently elsewhere."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" or not settings.REDIS_URL:
        raise pytest.UsageError(
            "The test suite needs PostgreSQL and Redis: run it with `make test`, or set "
            "DATABASE_URL=postgres://… and REDIS_URL=redis://… (see README)."
        )
    # Password hashing is deliberately slow; the tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # An event subscriber's error fails the test (production logs it and goes on).
    settings.EVENTS_RAISE_ERRORS = True


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits live in the (Redis) cache: every test starts from a clean slate."""
    from django.core.cache import cache

    cache.clear()
    yield


class World:
    """Two partnerships that must never see each other, with a user for each role on each side.

    ``ours`` = OEM A ↔ EMS A; ``theirs`` = OEM B ↔ EMS B.
    """

    def __init__(self):
        self.oem = OEMFactory(name="Nordwind Medical GmbH")
        self.ems = EMSFactory(name="Baltic Assembly Sp. z o.o.")
        self.ours = PartnershipFactory(oem=self.oem, ems=self.ems)
        self.other_oem = OEMFactory(name="Foreign Devices Ltd")
        self.other_ems = EMSFactory(name="Elsewhere Manufacturing")
        self.theirs = PartnershipFactory(oem=self.other_oem, ems=self.other_ems)
        self.buyer = member(self.oem, Role.BUYER, email="buyer@oem.example")
        self.oem_admin = member(self.oem, Role.ADMIN, email="admin@oem.example")
        self.oem_viewer = member(self.oem, Role.VIEWER, email="viewer@oem.example")
        self.account_manager = member(self.ems, Role.ACCOUNT_MANAGER, email="am@ems.example")
        self.ems_admin = member(self.ems, Role.ADMIN, email="admin@ems.example")
        self.outsider = member(self.other_oem, Role.ADMIN, email="admin@foreign.example")


@pytest.fixture
def world(db):
    return World()


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives (aiosmtpd)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email

                message = email.message_from_bytes(envelope.content)
                sink.messages.append(message)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def bodies(self):
        out = []
        for m in self.messages:
            parts = m.walk() if m.is_multipart() else [m]
            out.append(
                "\n".join(
                    p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
                    for p in parts
                    if p.get_content_type() == "text/plain"
                )
            )
        return out


@pytest.fixture
def smtp_sink(settings):
    """Route Django's e-mail through real SMTP to a local sink."""
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield sink
    sink.stop()
