"""Every workspace address, for every role, in a masked trial with participants of both arms: members get
the page or a 403 naming what their role lacks, outsiders the same 404 as for a trial that does not exist,
and no page a reader who must not know the arms can open names an arm, its intervention or its
questionnaire. A new page that is not listed here fails the first test."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from assessments.models import Response, ScheduledAssessment
from participants.models import OutboxMessage
from participants.services.adverse_events import adverse_event_record
from participants.services.safety import safety_alert_raise
from tests import helpers
from tests.workspace.test_participant_page import ARM_WORDS, masked  # noqa: F401  (the fixture)
from trial.models import Role

pytestmark = pytest.mark.django_db

SAFETY_ROLES = {Role.INVESTIGATOR, Role.SAFETY_CLINICIAN}
SIGNAL_PAGES = {"safety-queue", "safety"}
POST_ONLY = {
    "message-retry",
    "alert-acknowledge",
    "alert-contact",
    "alert-resolve",
    "participant-resend",
    "participant-new-link",
    "recruitment-approve",
    "recruitment-decline",
}
DOWNLOADS = {"recruitment-qr"}  # a file (the QR code for flyers), not a page: a browser saves it


def _names(patterns: list[URLPattern | URLResolver]) -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            names |= _names(entry.url_patterns)
        elif entry.name:
            names.add(entry.name)
    return names


def workspace_routes() -> set[str]:
    resolver = next(r for r in get_resolver().url_patterns if getattr(r, "namespace", None) == "workspace")
    return _names(resolver.url_patterns)


@pytest.fixture
def world(masked: Any) -> dict[str, Any]:  # noqa: F811
    trial, pair, readers = masked
    person = pair["waitlist"]
    alert = safety_alert_raise(
        participant=person, source="questionnaire", flag="suicidal_ideation", dedupe_key="sweep:1",
        details={"instrument": "phq9", "item": "phq9_9", "answers": {"phq9_9": 1}, "total": 12},
    )  # fmt: skip
    event = adverse_event_record(
        participant=person, by=None, description="Headache", onset_date=date(2026, 1, 5), severity="mild",
        relatedness="not_related", outcome="recovering", alert=alert,
    )  # fmt: skip
    visit = ScheduledAssessment.objects.filter(participant=person, visit__code="week4").get()
    response = Response.objects.filter(assessment=visit, instrument_code="phq9").get()
    message = OutboxMessage.objects.filter(participant=person).first()
    assert message is not None
    slug, pk = trial.slug, person.pk
    base = f"/workspace/{slug}"
    pages = {
        "index": "/workspace/",
        "safety-queue": "/workspace/safety/",
        "dashboard": f"{base}/",
        "participants": f"{base}/participants/",
        "participant": f"{base}/participants/{pk}/",
        "screen": f"{base}/screen/",
        "screening": f"{base}/screenings/{pk}/",
        "consent": f"{base}/participants/{pk}/consent/",
        "enroll": f"{base}/participants/{pk}/enroll/",
        "randomize": f"{base}/participants/{pk}/randomize/",
        "contact": f"{base}/participants/{pk}/contact/",
        "participant-resend": f"{base}/participants/{pk}/visits/{visit.public_id}/resend/",
        "participant-new-link": f"{base}/participants/{pk}/visits/{visit.public_id}/new-link/",
        "participant-enter": f"{base}/participants/{pk}/visits/{visit.public_id}/enter/phq9/",
        "participant-correct": f"{base}/participants/{pk}/responses/{response.public_id}/correct/",
        "participant-follow-up": f"{base}/participants/{pk}/follow-up/lost/",
        "participant-unblind": f"{base}/participants/{pk}/unblind/",
        "messages": f"{base}/messages/",
        "message-retry": f"{base}/messages/{message.pk}/retry/",
        "safety": f"{base}/safety/",
        "alert": f"{base}/safety/{alert.pk}/",
        "alert-acknowledge": f"{base}/safety/{alert.pk}/acknowledge/",
        "alert-contact": f"{base}/safety/{alert.pk}/contact/",
        "alert-resolve": f"{base}/safety/{alert.pk}/resolve/",
        "adverse-events": f"{base}/adverse-events/",
        "adverse-event-new": f"{base}/adverse-events/new/",
        "adverse-event": f"{base}/adverse-events/{event.pk}/",
        "recruitment": f"{base}/recruitment/",
        "recruitment-qr": f"{base}/recruitment/qr.svg",
        "recruitment-approve": f"{base}/recruitment/1/approve/",
        "recruitment-decline": f"{base}/recruitment/1/decline/",
    }
    return {"trial": trial, "readers": readers, "pages": pages}


def test_every_route_is_covered_here(world: dict[str, Any]) -> None:
    assert set(world["pages"]) == workspace_routes()


def _blind_text(html: str, trial: Any) -> str:
    # The trial's title names its arms and is the same on every page and for every arm.
    return html.replace(trial.title, "TITLE")


@pytest.mark.parametrize(
    "role", [Role.BLINDED_STATISTICIAN, Role.COORDINATOR, Role.INVESTIGATOR, Role.SAFETY_CLINICIAN]
)
def test_no_page_names_an_arm_to_a_reader_who_must_not_know_it(web: Any, world: dict[str, Any], role: str) -> None:
    client = web(world["readers"][role])
    opened = []
    for name, path in world["pages"].items():
        if name in POST_ONLY:
            assert client.get(path).status_code in {403, 404, 405}, (role, name)
            continue
        response = client.get(path)
        assert response.status_code in {200, 302, 403, 404}, (role, name, response.status_code)
        if response.status_code == 404:
            # Only the cross-trial safety queue answers 404 to a member (no safety role in any trial).
            assert name == "safety-queue" and role in {Role.BLINDED_STATISTICIAN, Role.COORDINATOR}, (role, name)
        if response.status_code == 403:
            assert "not allow" in response.content.decode(), (role, name)
        if response.status_code != 200:
            continue
        opened.append(name)
        text = _blind_text(response.content.decode(), world["trial"])
        if name in SIGNAL_PAGES and role in SAFETY_ROLES:
            # A chatbot crisis flag must reach the clinicians and say what it is; it exists only in the
            # chatbot arm, so the safety queue is the one place where a masked safety role learns that
            # arm, for that participant (docs/safety.md). Nothing else on these pages may name an arm.
            text = text.replace("Chatbot crisis flag", "SIGNAL")
        found = [word for word in ARM_WORDS if re.search(rf"\b{re.escape(word)}\b", text)]
        assert found == [], (role, name, found)
    assert {"dashboard", "participants", "participant", "messages"} <= set(opened)


POST_ONLY_GET = {(name, "get") for name in POST_ONLY}


def test_outsiders_get_404_on_every_page_and_action(web: Any, world: dict[str, Any], django_user_model: Any) -> None:
    other = helpers.open_reference_trial(slug="elsewhere", study_id_prefix="EW")
    oscar = django_user_model.objects.create_user("oscar2")
    for role in Role.values:
        helpers.grant(other, oscar, role)
    client = web(oscar)
    for name, path in world["pages"].items():
        if name in {"index", "safety-queue"}:
            continue  # their own trials' pages
        for method in ("get", "post"):
            status = getattr(client, method)(path).status_code
            missing = getattr(client, method)(path.replace(world["trial"].slug, "no-such-trial")).status_code
            # A GET of an action may be refused for its method (405) before any trial is looked up: the
            # same answer as for a trial that does not exist.
            assert status == missing, (name, method, status, missing)
            assert status == 404 or (status == 405 and (name, method) in POST_ONLY_GET), (name, method, status)


def test_anonymous_visitors_are_sent_to_sign_in(web: Any, world: dict[str, Any]) -> None:
    client = web(None)
    for name, path in world["pages"].items():
        response = client.post(path) if name in POST_ONLY else client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (name, response)
