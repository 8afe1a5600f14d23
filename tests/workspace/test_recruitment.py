"""The Recruitment page: the join address and its QR code, counts, the review queue (approve enrolls,
decline needs a reason), the consent-hash check; every decision audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from participants.models import JoinApplication, JoinStatus, Participant, Status
from tests import helpers
from tests.assessments.test_join_pages import _verify_link, apply, compile_catalogue
from trial.models import AuditEvent, Role, Trial


@pytest.fixture
def reviewed(db: None) -> Trial:
    compile_catalogue()
    return helpers.open_reference_trial(online_joining="review")


def _verified(trial: Trial, email: str) -> JoinApplication:
    apply(Client(), trial, email=email)
    Client().post(_verify_link(email))
    return JoinApplication.objects.get(trial=trial, email=email)


def test_it_shows_the_join_address_and_a_qr_code(web: Any, reviewed: Trial, django_user_model: Any) -> None:
    carol = django_user_model.objects.create_user("carol")
    helpers.grant(reviewed, carol, Role.COORDINATOR)
    page = web(carol).get(f"/workspace/{reviewed.slug}/recruitment/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/join/{reviewed.slug}/" in html and "<svg" in html
    svg = web(carol).get(f"/workspace/{reviewed.slug}/recruitment/qr.svg")
    assert svg["Content-Type"] == "image/svg+xml" and svg.content.lstrip().startswith(b"<?xml")


def test_a_coordinator_approves_and_declines_from_the_queue(web: Any, reviewed: Trial, django_user_model: Any) -> None:
    carol = django_user_model.objects.create_user("carol")
    helpers.grant(reviewed, carol, Role.COORDINATOR)
    first, second = _verified(reviewed, "one@example.org"), _verified(reviewed, "two@example.org")
    client = web(carol)
    page = client.get(f"/workspace/{reviewed.slug}/recruitment/").content.decode()
    assert f"application-{first.pk}" in page and "one@example.org" in page
    client.post(f"/workspace/{reviewed.slug}/recruitment/{first.pk}/approve/")
    first.refresh_from_db()
    assert first.status == JoinStatus.ENROLLED and first.decided_by == carol
    assert Participant.objects.get(join_application=first).status == Status.ENROLLED
    refused = client.post(f"/workspace/{reviewed.slug}/recruitment/{second.pk}/decline/", {"reason": " "}, follow=True)
    assert "Give the reason for declining." in refused.content.decode()
    client.post(f"/workspace/{reviewed.slug}/recruitment/{second.pk}/decline/", {"reason": "Lives abroad"})
    second.refresh_from_db()
    assert second.status == JoinStatus.DECLINED and second.decision_reason == "Lives abroad"
    assert Participant.objects.get(join_application=second).status == Status.WITHDRAWN
    actions = set(AuditEvent.objects.filter(trial=reviewed, actor=carol).values_list("action", flat=True))
    assert {"join.approve", "join.decline", "participant.enroll", "participant.withdraw"} <= actions


def test_a_consent_hash_is_verified(web: Any, reviewed: Trial, django_user_model: Any) -> None:
    carol = django_user_model.objects.create_user("carol")
    helpers.grant(reviewed, carol, Role.COORDINATOR)
    application = _verified(reviewed, "hash@example.org")
    client = web(carol)
    found = client.get(f"/workspace/{reviewed.slug}/recruitment/", {"hash": application.record_hash}).content
    assert b"Match: application" in found and b"unchanged" in found
    assert (
        b"No consent signed online"
        in client.get(f"/workspace/{reviewed.slug}/recruitment/", {"hash": "a" * 64}).content
    )
    assert b"64 hexadecimal" in client.get(f"/workspace/{reviewed.slug}/recruitment/", {"hash": "xyz"}).content
    JoinApplication.objects.filter(pk=application.pk).update(signed_name="Someone Else")
    tampered = client.get(f"/workspace/{reviewed.slug}/recruitment/", {"hash": application.record_hash}).content
    assert b"no longer hashes" in tampered
    assert AuditEvent.objects.filter(trial=reviewed, action="join.hash_verify").count() == 3


def test_roles_without_enroll_see_no_queue(web: Any, reviewed: Trial, django_user_model: Any) -> None:
    bella = django_user_model.objects.create_user("bella")
    helpers.grant(reviewed, bella, Role.BLINDED_STATISTICIAN)
    application = _verified(reviewed, "q@example.org")
    client = web(bella)
    page = client.get(f"/workspace/{reviewed.slug}/recruitment/").content.decode()
    assert "Waiting for review" not in page and "q@example.org" not in page
    assert client.post(f"/workspace/{reviewed.slug}/recruitment/{application.pk}/approve/").status_code == 403
