"""The participant page: one timeline of everything that happened, read by every member of the trial, with
nothing of the arm for a reader who must not know it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import ScheduledAssessment
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants.models import EngagementSession, MessageStatus, OutboxMessage
from participants.services import participant_unblind
from participants.services.safety import safety_alert_raise
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = pytest.mark.django_db

ARM_WORDS = ("chatbot", "Chatbot", "Therapy", "waitlist", "Waitlist", "WAI-SR", "waisr", "alliance", "Alliance")


def page(client: Any, trial: Any, participant: Any) -> str:
    response = client.get(f"/workspace/{trial.slug}/participants/{participant.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_every_member_reads_the_page(web, trial, coordinator, investigator, blinded_statistician,
                                     unblinded_statistician, clinician, administrator):  # fmt: skip
    p = helpers.randomized(trial, by=coordinator)
    for user in (coordinator, investigator, blinded_statistician, unblinded_statistician, clinician, administrator):
        html = page(web(user), trial, p)
        assert p.study_id in html
        assert "Baseline" in html


def test_outsiders_and_other_trials_participants_get_404(web, trial, other_trial, coordinator, outsider):
    mine = helpers.enrolled(trial)
    theirs = helpers.enrolled(other_trial)
    assert web(outsider).get(f"/workspace/{trial.slug}/participants/{mine.pk}/").status_code == 404
    # a participant of another trial under this trial's address: the same 404 as for none
    assert web(coordinator).get(f"/workspace/{trial.slug}/participants/{theirs.pk}/").status_code == 404
    assert web(coordinator).get(f"/workspace/{trial.slug}/participants/999999/").status_code == 404
    assert web(None).get(f"/workspace/{trial.slug}/participants/{mine.pk}/").status_code == 302


def test_the_header_shows_contact_details_only_to_roles_that_may_see_them(web, trial, coordinator,
                                                                           blinded_statistician):  # fmt: skip
    p = helpers.enrolled(trial)
    assert "jamie@example.org" in page(web(coordinator), trial, p)
    assert "America/New_York" in page(web(coordinator), trial, p)
    hidden = page(web(blinded_statistician), trial, p)
    assert "jamie@example.org" not in hidden and "Jamie Doe" not in hidden


def test_the_timeline_tells_the_whole_story(web, trial, coordinator):
    p = helpers.randomized(trial, by=coordinator)
    html = page(web(coordinator), trial, p)
    for words in ("Screened", "Eligible", "Consent to version", "Signed by Jamie Doe", "Enrolled", "Randomized",
                  "Baseline", "Week 4", "PHQ-9", "Questionnaire invitation", "Therapy chatbot" if
                  p.allocation.arm.code == "chatbot" else "Waitlist control"):  # fmt: skip
        assert words in html, words
    # visit windows in the participant's own zone, named
    assert "(participant&#x27;s time, America/New_York)" in html or "participant's time, America/New_York" in html
    assert re.search(r"<time datetime=[^>]+>[A-Z][a-z]{2} \d+, \d{4}, \d\d:\d\d E[SD]T</time>", html)


def test_ineligible_reasons_and_withdrawal_reasons_show(web, trial, coordinator):
    from participants import services

    out = services.participant_screen(trial=trial, answers=helpers.answers(age=15), by=coordinator)
    html = page(web(coordinator), trial, out)
    assert "Ineligible" in html
    p = helpers.enrolled(trial)
    services.participant_withdraw(participant=p, reason="Moved abroad", by=coordinator)
    assert "Moved abroad" in page(web(coordinator), trial, p)


def test_messages_show_their_state_and_the_recipient_only_with_contact_rights(web, trial, coordinator,
                                                                              blinded_statistician):  # fmt: skip
    p = helpers.enrolled(trial)
    OutboxMessage.objects.filter(participant=p).update(
        status=MessageStatus.FAILED, last_error="SMTPRecipientsRefused: no such mailbox", recipient="jamie@example.org"
    )
    html = page(web(coordinator), trial, p)
    assert "failed" in html and "no such mailbox" in html and "to jamie@example.org" in html
    assert "jamie@example.org" not in page(web(blinded_statistician), trial, p)


def test_safety_alerts_link_to_the_alert_page(web, trial, coordinator):
    p = helpers.enrolled(trial)
    baseline = ScheduledAssessment.objects.get(participant=p, visit__code="baseline")
    answers = {**helpers.lowest_answers("phq9"), "phq9_9": 3}
    response_submit(assessment=baseline, instrument_code="phq9", answers=answers, source="api")
    html = page(web(coordinator), trial, p)
    assert "Safety alert: PHQ-9 item 9 answered &#x27;Nearly every day&#x27; (3), total 3, Baseline visit" in html
    alert = p.safety_alerts.get()
    assert f'href="/workspace/{trial.slug}/safety/{alert.pk}/"' in html


def test_next_steps_link_to_the_enrollment_forms_when_they_apply(web, trial, coordinator, clinician):
    base = f"/workspace/{trial.slug}/participants"
    e = helpers.eligible(trial)
    c = helpers.consented(trial)
    n = helpers.enrolled(trial)
    r = helpers.ready_to_randomize(trial)
    assert f'href="{base}/{e.pk}/consent/"' in page(web(coordinator), trial, e)
    assert f'href="{base}/{c.pk}/enroll/"' in page(web(coordinator), trial, c)
    assert f'href="{base}/{n.pk}/randomize/"' not in page(web(coordinator), trial, n)  # baseline not done
    assert f'href="{base}/{r.pk}/randomize/"' in page(web(coordinator), trial, r)
    assert "/consent/" not in page(web(clinician), trial, e)  # no ENROLL capability


# --- Blinding ------------------------------------------------------------------------------------------


@pytest.fixture
def masked() -> Any:
    """A masked trial with a participant of each arm through baseline and week 4 (answered, the chatbot one
    with the alliance questionnaire), each with an e-mail and an alert; the chatbot one with engagement."""
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    people = [helpers.randomized(trial) for _ in range(6)]
    pair = {}
    for person in people:
        pair.setdefault(person.allocation.arm.code, person)
    assert set(pair) == {"chatbot", "waitlist"}
    for person in pair.values():
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
        with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
            sweep(deliver=False)
            for code in visit.instruments:
                response_submit(assessment=visit, instrument_code=code, answers=helpers.lowest_answers(code),
                                source="api")  # fmt: skip
    chatbot = pair["chatbot"]
    EngagementSession.objects.create(participant=chatbot, session_id="s1", started_at=clock.now(),
                                     ended_at=clock.now() + timedelta(minutes=20), participant_messages=5)  # fmt: skip
    safety_alert_raise(participant=chatbot, source="chatbot", flag="crisis_language", urgent=True,
                       dedupe_key="chat:1", details={})  # fmt: skip
    readers = {}
    for username, role in (("bea", Role.BLINDED_STATISTICIAN), ("mick", Role.COORDINATOR),
                           ("ines", Role.INVESTIGATOR), ("cleo", Role.SAFETY_CLINICIAN)):  # fmt: skip
        user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, user, role)
        readers[role] = user
    return trial, pair, readers


NOISE = [
    (re.compile(r'<time datetime="[^"]+">[^<]+</time>'), "<time>"),
    (re.compile(r"/participants/\d+/"), "/participants/N/"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "UUID"),
    (re.compile(r'name="(csrfmiddlewaretoken|once)" value="[^"]+"'), r'name="\1" value="X"'),
    (re.compile(r"MK-\d+"), "MK-N"),
    (re.compile(r"Screening #\d+|screening #\d+"), "screening #N"),
    (re.compile(r"participant=\d+"), "participant=N"),
    (re.compile(r"Arm [AB]"), "Arm X"),
    (re.compile(r"[A-Z][a-z]{2} \d+, \d{4}"), "DAY"),
]


def normalised(html: str) -> str:
    for pattern, replacement in NOISE:
        html = pattern.sub(replacement, html)
    return html


@pytest.mark.parametrize("role", [Role.BLINDED_STATISTICIAN, Role.COORDINATOR, Role.INVESTIGATOR,
                                  Role.SAFETY_CLINICIAN])  # fmt: skip
def test_a_reader_who_must_not_know_the_arm_gets_the_same_page_for_both_arms(web, masked, role):
    trial, pair, readers = masked
    client = web(readers[role])
    # The trial's title names its arms (the same on every page): what is left must name none.
    pages = {arm: page(client, trial, person).replace(trial.title, "TITLE") for arm, person in pair.items()}
    for html in pages.values():
        for word in ARM_WORDS:
            assert word not in html, (role, word)
        assert "engagement" not in html.lower()
        assert "Chatbot crisis flag" not in html
    assert normalised(pages["chatbot"]) == normalised(pages["waitlist"])


def test_after_an_emergency_unblinding_the_arm_and_its_rows_show(web, masked):
    trial, pair, readers = masked
    clinician = readers[Role.SAFETY_CLINICIAN]
    chatbot = pair["chatbot"]
    participant_unblind(participant=chatbot, reason="Hospitalised", by=clinician)
    html = page(web(clinician), trial, chatbot)
    assert "Therapy chatbot" in html and "Chatbot engagement" in html and "Chatbot crisis flag" in html
    assert "Emergency unblinding" in html and "Hospitalised" in html
    # As everywhere (participants.api.arm_visible): an unblinded participant's arm shows to the trial's masked
    # staff; the blinded statistician still sees no arm and nothing of one arm.
    hidden = page(web(readers[Role.BLINDED_STATISTICIAN]), trial, chatbot)
    for word in ("Therapy chatbot", "Chatbot engagement", "Chatbot crisis flag"):
        assert word not in hidden


def test_an_unblinded_reader_sees_the_arm_and_the_engagement(web, trial, administrator):
    people = [helpers.randomized(trial) for _ in range(4)]
    chatbot = next(p for p in people if p.allocation.arm.code == "chatbot")
    EngagementSession.objects.create(participant=chatbot, session_id="s1", started_at=clock.now())
    html = page(web(administrator), trial, chatbot)
    assert "Therapy chatbot" in html and "Chatbot engagement" in html


def test_the_randomization_time_is_hidden_from_enrolling_staff_when_the_order_is_concealed(web, trial, coordinator):
    trial.conceal_allocation_order = True
    trial.save(update_fields=["conceal_allocation_order"])
    p = helpers.randomized(trial)
    assert "Time not shown to enrolling staff" in page(web(coordinator), trial, p)


# --- Query count -----------------------------------------------------------------------------------------


# session, user, membership; the participant with its site, allocation and contact; its unblindings, consents
# and their documents, status changes, visits, responses, messages, alerts; the chatbot engagement (2: this
# reader sees the arms); the consent in force (2)
PINNED = 16


def _queries(client: Any, trial: Any, participant: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        page(client, trial, participant)
    return len(captured)


def test_the_query_count_does_not_grow_with_visits_messages_and_responses(web, trial, coordinator):
    few = helpers.randomized(trial)
    many = helpers.randomized(trial)
    for visit in ScheduledAssessment.objects.filter(participant=many, visit__code="week4"):
        with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
            sweep(deliver=False)
            for code in visit.instruments:
                response_submit(assessment=visit, instrument_code=code, answers=helpers.lowest_answers(code),
                                source="api")  # fmt: skip
    for n in range(5):
        OutboxMessage.objects.create(kind="assessment_reminder", participant=many, dedupe_key=f"x{n}")
    client = web(coordinator)
    page(client, trial, few)  # warm the session and caches
    assert _queries(client, trial, few) == _queries(client, trial, many)
    assert _queries(client, trial, many) == PINNED


def test_a_new_consent_version_that_requires_reconsent_offers_the_consent_form(web, trial, coordinator):
    from trial.models import ConsentDocument

    p = helpers.randomized(trial)
    link = f'href="/workspace/{trial.slug}/participants/{p.pk}/consent/"'
    assert link not in page(web(coordinator), trial, p)
    ConsentDocument.objects.create(trial=trial, version="2.0", title="v2", text="...", requires_reconsent=True)
    html = page(web(coordinator), trial, p)
    assert link in html and "Record consent to version 2.0" in html


def test_the_page_reads_as_a_page_and_not_an_admin(web, trial, coordinator):
    """Saved for a look (tests/workspace/out/participant.html) when WORKSPACE_SNAPSHOTS is set."""
    import os
    from pathlib import Path

    p = helpers.randomized(trial)
    html = page(web(coordinator), trial, p)
    assert "Django administration" not in html and "style=" not in html and "<script>" not in html
    if os.environ.get("WORKSPACE_SNAPSHOTS"):
        Path(os.environ["WORKSPACE_SNAPSHOTS"]).write_text(html)


def test_a_masked_reader_costs_the_same_queries_for_both_arms(web, masked):
    trial, pair, readers = masked
    client = web(readers[Role.COORDINATOR])
    page(client, trial, pair["waitlist"])
    assert _queries(client, trial, pair["chatbot"]) == _queries(client, trial, pair["waitlist"])


def test_adverse_events_show_on_the_page_to_the_roles_that_handle_safety_only(web, trial, coordinator, clinician):
    from datetime import date

    from participants.services.adverse_events import adverse_event_record

    person = helpers.randomized(trial)
    event = adverse_event_record(
        participant=person, by=clinician, description="Worse sleep", onset_date=date(2026, 11, 30),
        severity="moderate", relatedness="unlikely", outcome="recovering",
    )  # fmt: skip
    seen = page(web(clinician), trial, person)
    assert f"/adverse-events/{event.pk}/" in seen and "Moderate, onset Nov 30, 2026" in seen
    assert f"/adverse-events/{event.pk}/" not in page(web(coordinator), trial, person)
