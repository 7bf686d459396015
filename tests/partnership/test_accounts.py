"""Accounts through allauth's own flows: sign-up with e-mail verification, password reset,
login rate limits and TOTP two-factor authentication. E-mail goes through real SMTP."""

import re

import pyotp
import pytest
from django.urls import reverse

from partnership.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _first_link(body):
    return re.search(r"https?://testserver(/\S+)", body).group(1)


def test_sign_up_requires_e_mail_verification(client, smtp_sink):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new.engineer@oem.example",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.engineer@oem.example")
    # Not verified yet: no access to the portal.
    assert client.get(reverse("dashboard")).status_code == 302
    assert len(smtp_sink.messages) == 1
    confirm = _first_link(smtp_sink.bodies()[0])
    response = client.post(confirm)
    assert response.status_code == 302
    assert user.emailaddress_set.get().verified
    assert client.get(reverse("dashboard")).status_code == 200


def test_sign_up_with_bad_input_gives_field_errors_and_creates_nothing(client):
    response = client.post(
        reverse("account_signup"), {"email": "nope", "password1": "1", "password2": "2"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "email" in form.errors
    assert not User.objects.exists()


def test_password_reset_through_e_mail(world, client, smtp_sink):
    client.post(reverse("account_reset_password"), {"email": world.buyer.email})
    assert len(smtp_sink.messages) == 1 and smtp_sink.messages[0]["To"] == world.buyer.email
    link = _first_link(smtp_sink.bodies()[0])
    form_page = client.get(link, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    response = client.post(
        action, {"password1": "brand-New-secret-77", "password2": "brand-New-secret-77"}
    )
    assert response.status_code == 302
    world.buyer.refresh_from_db()
    assert world.buyer.check_password("brand-New-secret-77")


def test_repeated_failed_logins_are_rate_limited(world, client):
    url = reverse("account_login")
    pages = [client.post(url, {"login": world.buyer.email, "password": "wrong"}) for _ in range(6)]
    assert all("Too many failed login attempts" not in p.content.decode() for p in pages[:5])
    assert "Too many failed login attempts" in pages[5].content.decode()
    # Even the right password is refused while the limit holds.
    response = client.post(url, {"login": world.buyer.email, "password": PASSWORD})
    assert (
        response.status_code == 200
        and "Too many failed login attempts" in response.content.decode()
    )
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_attempts_per_ip_answer_429_beyond_the_limit(world, client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    url = reverse("account_login")
    statuses = [
        client.post(url, {"login": "x@example.com", "password": "x"}).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_totp_two_factor_login(world, client):
    login_url = reverse("account_login")
    client.post(login_url, {"login": world.buyer.email, "password": PASSWORD})
    activate = reverse("mfa_activate_totp")
    # Security settings ask for the password again first.
    assert client.get(activate)["Location"].startswith(reverse("account_reauthenticate"))
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert client.get(activate).status_code == 200
    secret = client.session["mfa.totp.secret"]
    totp = pyotp.TOTP(secret)
    response = client.post(activate, {"code": totp.now()})
    assert response.status_code == 302
    assert world.buyer.authenticator_set.filter(type="totp").exists()

    client.logout()
    response = client.post(login_url, {"login": world.buyer.email, "password": PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("dashboard")).status_code == 302  # not in yet
    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200
    response = client.post(reverse("mfa_authenticate"), {"code": totp.now()})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
