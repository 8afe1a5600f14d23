"""Two-factor login (TOTP) for staff whose roles see contact details or unblind (STAFF_2FA=required):
without a verified device they are sent to enroll one and reach nothing else; a right code lets them in;
a wrong code is refused and counts towards the login lockout."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import helpers
from tests.test_config import _settings

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def required(settings):
    settings.STAFF_2FA = "required"


def password_login(client: Client, user) -> None:
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    response = client.post("/admin/login/", {"username": user.username, "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302


def code(device: TOTPDevice, *, wrong: bool = False) -> str:
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{(value + 1) % 10**6 if wrong else value:06d}"


@pytest.fixture
def contact_url(trial):
    return f"/api/v1/trials/{trial.slug}/participants/{helpers.enrolled(trial).pk}/contact/"


def test_a_coordinator_without_a_device_is_sent_to_enroll_and_reaches_no_contact_details(
    client, coordinator, contact_url
):
    password_login(client, coordinator)
    response = client.get("/admin/participants/participant/")
    assert response.status_code == 302
    assert response["Location"] == "/account/2fa/?next=/admin/participants/participant/"
    refused = client.get(contact_url)
    assert refused.status_code == 403
    assert refused.json()["code"] == "two_factor_required"
    assert client.post("/api/v1/tokens/", {"name": "sneaky"}).status_code == 403  # no token without the factor
    browsable = client.get("/api/v1/tokens/", HTTP_ACCEPT="text/html")  # after /api-auth/login/
    assert browsable["Location"] == "/account/2fa/?next=/api/v1/tokens/"
    page = client.get("/account/2fa/")
    assert page.status_code == 200
    assert '<div class="two-factor-qr"><svg' in page.content.decode()  # the QR code, drawn here
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    assert re.search(r"<code>[A-Z2-7]{32}</code>", page.content.decode())  # the key, for typing in

    entered = client.post("/account/2fa/", {"code": code(device), "next": "/admin/participants/participant/"})
    assert entered.status_code == 302
    assert entered["Location"] == "/admin/participants/participant/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get(contact_url).status_code == 200
    assert client.get("/admin/participants/participant/").status_code == 200


def test_the_way_back_keeps_the_query_string(client, coordinator):
    password_login(client, coordinator)
    response = client.get("/admin/participants/participant/?status=enrolled&site=a")
    assert response["Location"] == "/account/2fa/?next=/admin/participants/participant/%3Fstatus%3Denrolled%26site%3Da"


def test_an_enrolled_coordinator_enters_a_code_at_each_login_and_no_qr_is_shown_again(coordinator, contact_url):
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    client = Client()
    password_login(client, coordinator)
    page = client.get("/account/2fa/").content.decode()
    assert "two-factor-qr" not in page and "Key:" not in page
    assert client.get(contact_url).status_code == 403
    assert client.post("/account/2fa/", {"code": code(device)}).status_code == 302
    assert client.get(contact_url).status_code == 200


def test_a_wrong_code_is_refused_and_counts_for_the_lockout(client, coordinator, contact_url, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own slowing down is tested by django-otp
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    password_login(client, coordinator)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = client.post("/account/2fa/", {"code": code(device, wrong=True)})
        assert refused.status_code == 400
        assert "That code is not right" in refused.content.decode()
        assert client.get(contact_url).status_code == 403
    locked = client.post("/account/2fa/", {"code": code(device, wrong=True)})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session  # logged out
    # The right password and then the right code are refused until the cool-off has passed.
    again = client.post("/admin/login/", {"username": "carol", "password": PASSWORD, "next": "/admin/"})
    assert again.status_code == 429


def test_roles_that_neither_see_contact_details_nor_unblind_need_no_second_factor(client, blinded_statistician):
    password_login(client, blinded_statistician)
    assert client.get("/admin/").status_code == 200


def test_optional_asks_only_those_who_enrolled_and_off_asks_nobody(settings, coordinator, investigator):
    settings.STAFF_2FA = "optional"
    TOTPDevice.objects.create(user=investigator, name="phone", confirmed=True)
    first, second = Client(), Client()
    password_login(first, coordinator)
    password_login(second, investigator)
    assert first.get("/admin/").status_code == 200
    assert second.get("/admin/").status_code == 302
    settings.STAFF_2FA = "off"
    assert second.get("/admin/").status_code == 200


def test_api_tokens_are_not_asked_for_a_code(coordinator, contact_url):
    response = Client().get(contact_url, headers=helpers.api_auth_headers(coordinator))
    assert response.status_code == 200


@pytest.mark.parametrize("header", ["Basic Y2Fyb2w6eA==", "Token not-a-key", "Bearer x"])
def test_an_unverified_session_gains_nothing_from_an_authorization_header(client, coordinator, contact_url, header):
    password_login(client, coordinator)
    assert client.get(contact_url, HTTP_AUTHORIZATION=header).status_code in (401, 403)
    assert client.get("/admin/", HTTP_AUTHORIZATION=header).status_code == 302


def test_the_setting_defaults_to_required_outside_debug_and_is_checked():
    production = _settings("s.STAFF_2FA", SECRET_KEY="k" * 50)
    assert production.stdout.strip() == "required", production.stderr
    assert _settings("s.STAFF_2FA", DEBUG="1").stdout.strip() == "off"
    assert _settings("s.STAFF_2FA", DEBUG="1", STAFF_2FA="optional").stdout.strip() == "optional"
    wrong = _settings("s.STAFF_2FA", DEBUG="1", STAFF_2FA="sometimes")
    assert wrong.returncode != 0
    assert "STAFF_2FA='sometimes'" in wrong.stderr
