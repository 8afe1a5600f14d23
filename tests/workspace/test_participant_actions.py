"""The participant page's actions: each a POST that calls one service and redirects (POST-redirect-GET),
refused with the service's reason and nothing recorded, done once however often the same form is sent, and
open only to the roles whose capabilities allow it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from assessments.models import AccessLink, Response, ScheduledAssessment
from assessments.services.links import link_create, link_resolve, link_retract
from assessments.services.scheduling import INVITATION_KIND
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from participants import services
from participants.models import EmergencyUnblinding, OutboxMessage, SafetyAlert, Status
from tests import helpers
from trial import clock
from trial.models import Role

pytestmark = pytest.mark.django_db


def url(trial: Any, p: Any, tail: str = "") -> str:
    return f"/workspace/{trial.slug}/participants/{p.pk}/{tail}"


def once() -> str:
    return uuid.uuid4().hex


def baseline_of(p: Any) -> ScheduledAssessment:
    return ScheduledAssessment.objects.get(participant=p, visit__code="baseline")


def invitations(p: Any) -> int:
    return OutboxMessage.objects.filter(participant=p, kind=INVITATION_KIND).count()


def flashes(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def follow(client: Any, response: Any) -> str:
    assert response.status_code == 302, response.status_code
    return client.get(response["Location"]).content.decode()


# --- Who may act -----------------------------------------------------------------------------------------


ENROLL_ACTIONS = ("resend/", "new-link/")


def test_roles_without_the_capability_get_403_and_outsiders_404(web, trial, coordinator, investigator, clinician,
                                                                blinded_statistician, unblinded_statistician,
                                                                administrator, outsider):  # fmt: skip
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    paths = [
        url(trial, p, f"visits/{visit.public_id}/resend/"),
        url(trial, p, f"visits/{visit.public_id}/new-link/"),
        url(trial, p, f"visits/{visit.public_id}/enter/phq9/"),
        url(trial, p, "follow-up/withdraw/"),
    ]
    before = (invitations(p), Response.objects.count())
    for user in (clinician, blinded_statistician, unblinded_statistician, administrator):
        for path in paths:
            assert web(user).post(path, {"once": once(), "confirm": "yes", "note": "x"}).status_code == 403, path
    for path in paths:
        assert web(outsider).post(path, {"once": once()}).status_code == 404
    for user in (coordinator, blinded_statistician, unblinded_statistician):
        assert web(user).post(url(trial, p, "unblind/"), {"reason": "x", "confirm": "on"}).status_code == 403
    assert web(outsider).post(url(trial, p, "unblind/"), {"reason": "x"}).status_code == 404
    assert (invitations(p), Response.objects.count()) == before
    p.refresh_from_db()
    assert p.status == Status.ENROLLED


def test_a_participant_of_another_trial_is_not_found(web, trial, other_trial, coordinator):
    theirs = helpers.enrolled(other_trial)
    visit = baseline_of(theirs)
    client = web(coordinator)
    assert client.post(url(trial, theirs, f"visits/{visit.public_id}/resend/"), {"once": once()}).status_code == 404
    assert client.post(url(trial, theirs, "follow-up/withdraw/"), {"reason": "x", "confirm": "on"}).status_code == 404


def test_the_actions_show_only_to_roles_that_may_take_them(web, trial, coordinator, clinician):
    p = helpers.enrolled(trial)
    mine = web(coordinator).get(url(trial, p)).content.decode()
    assert (
        "Resend invitation" in mine and "Issue a new link" in mine and "Withdraw" in mine and "Enter on paper" in mine
    )
    theirs = web(clinician).get(url(trial, p)).content.decode()
    for words in ("Resend invitation", "Issue a new link", "Withdraw", "Enter on paper", "Correct…", "unblind"):
        assert words not in theirs


# --- Invitations and links -----------------------------------------------------------------------------


def test_resending_an_invitation_queues_one_message_however_often_the_form_is_sent(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    client = web(coordinator)
    before = invitations(p)
    key = once()
    first = client.post(url(trial, p, f"visits/{visit.public_id}/resend/"), {"once": key})
    assert "invitation is queued again" in follow(client, first)
    again = client.post(url(trial, p, f"visits/{visit.public_id}/resend/"), {"once": key})
    assert "already sent" in follow(client, again)
    assert invitations(p) == before + 1


def test_a_resend_for_a_closed_visit_is_refused_and_says_why(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    before = invitations(p)
    ScheduledAssessment.objects.filter(pk=visit.pk).update(status="missed")  # as the sweep does at closing
    client = web(coordinator)
    response = client.post(url(trial, p, f"visits/{visit.public_id}/resend/"), {"once": once()})
    assert "Nothing was sent: Baseline is missed" in follow(client, response)
    assert invitations(p) == before


def test_a_withdrawn_participant_gets_no_invitation(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    services.participant_withdraw(participant=p, reason="Moved", by=coordinator)
    before = invitations(p)
    client = web(coordinator)
    assert client.post(url(trial, p, f"visits/{visit.public_id}/resend/"), {"once": once()}).status_code in (302, 404)
    assert invitations(p) == before


def test_a_new_link_stops_the_old_one_at_once(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    old = link_create(assessment=visit).rstrip("/").rsplit("/", 1)[-1]
    assert link_resolve(token=old) is not None
    client = web(coordinator)
    unconfirmed = client.post(url(trial, p, f"visits/{visit.public_id}/new-link/"), {"once": once()})
    assert "Tick the box" in follow(client, unconfirmed)
    assert link_resolve(token=old) is not None
    before = invitations(p)
    done = client.post(url(trial, p, f"visits/{visit.public_id}/new-link/"), {"once": once(), "confirm": "yes"})
    assert "The old link to Baseline no longer works" in follow(client, done)
    assert link_resolve(token=old) is None
    assert invitations(p) == before + 1


def test_a_failed_send_after_a_new_link_does_not_bring_the_old_link_back(trial, coordinator):
    from assessments.services.invitations import invitation_resend

    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    old = link_create(assessment=visit).rstrip("/").rsplit("/", 1)[-1]
    invitation_resend(assessment=visit, key="k1", by=coordinator, revoke=True)
    fresh = link_create(assessment=visit)  # what the message's rendering does
    link_retract(url=fresh)  # ... and undoes when the send fails
    assert link_resolve(token=old) is None
    assert not AccessLink.objects.filter(assessment=visit, replaced_at__isnull=True, revoked_at__isnull=True).exists()


# --- Answers entered on paper, corrections -------------------------------------------------------------


def paper(code: str = "phq9", **overrides: Any) -> dict[str, Any]:
    answers = {**helpers.lowest_answers(code), **overrides}
    return {key: str(value) for key, value in answers.items()}


def test_staff_enter_a_paper_questionnaire_with_who_and_why(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    client = web(coordinator)
    path = url(trial, p, f"visits/{visit.public_id}/enter/phq9/")
    form = client.get(path).content.decode()
    assert "Why are you entering these answers?" in form and 'name="phq9_9"' in form
    done = client.post(path, {**paper(), "note": "Paper form returned by post", "once": once()})
    assert "PHQ-9 answers for Baseline recorded" in follow(client, done)
    response = Response.objects.get(assessment=visit, instrument_code="phq9")
    assert response.source == "staff" and response.submitted_by == coordinator
    assert response.entry_note == "Paper form returned by post"
    page = client.get(url(trial, p)).content.decode()
    assert "Entered by staff (carol)" in page and "Why: Paper form returned by post" in page


def test_a_paper_entry_without_a_reason_or_an_answer_records_nothing(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    path = url(trial, p, f"visits/{visit.public_id}/enter/phq9/")
    no_note = web(coordinator).post(path, {**paper(), "once": once()})
    assert no_note.status_code == 400 and "Say why you are entering the answers." in no_note.content.decode()
    missing = paper()
    del missing["phq9_9"]
    no_item9 = web(coordinator).post(path, {**missing, "note": "paper", "once": once()})
    assert no_item9.status_code == 400 and "Please answer question 9." in no_item9.content.decode()
    assert not Response.objects.filter(assessment=visit).exists()


def test_a_paper_entry_sent_twice_is_recorded_once(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    client = web(coordinator)
    path = url(trial, p, f"visits/{visit.public_id}/enter/phq9/")
    key = once()
    data = {**paper(), "note": "paper", "once": key}
    assert client.post(path, data).status_code == 302
    assert "already recorded" in follow(client, client.post(path, data))
    # the same answers again from a fresh form: the service returns what was recorded
    assert Response.objects.filter(assessment=visit, instrument_code="phq9").count() == 1
    assert "already recorded" in follow(client, client.post(path, {**data, "once": once()}))
    assert Response.objects.filter(assessment=visit, instrument_code="phq9").count() == 1


def test_a_paper_item_9_raises_the_same_alert_as_the_participant_would(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    path = url(trial, p, f"visits/{visit.public_id}/enter/phq9/")
    web(coordinator).post(path, {**paper(phq9_9=3), "note": "read out by phone", "once": once()})
    alert = SafetyAlert.objects.get(participant=p)
    assert alert.flag == "suicidal_ideation_severe" and alert.urgent


def test_a_closed_visit_takes_no_paper_answers(web, trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    ScheduledAssessment.objects.filter(pk=visit.pk).update(status="missed")
    path = url(trial, p, f"visits/{visit.public_id}/enter/phq9/")
    assert web(coordinator).get(path).status_code == 404
    assert web(coordinator).post(path, {**paper(), "note": "late paper", "once": once()}).status_code == 404
    assert not Response.objects.filter(assessment=visit).exists()


def test_staff_correct_a_response_with_a_reason(web, trial, coordinator):
    p = helpers.ready_to_randomize(trial)
    visit = baseline_of(p)
    current = Response.objects.get(assessment=visit, instrument_code="phq9")
    client = web(coordinator)
    path = url(trial, p, f"responses/{current.public_id}/correct/")
    form = client.get(path).content.decode()
    assert 'value="0" checked' in form  # prefilled with the recorded answers
    no_reason = client.post(path, {**paper(phq9_1=2), "once": once()})
    assert no_reason.status_code == 400 and "Give the reason for the correction." in no_reason.content.decode()
    assert Response.objects.filter(assessment=visit, instrument_code="phq9").count() == 1
    key = once()
    data = {**paper(phq9_1=2), "reason": "Typed from the wrong column", "once": key}
    done = client.post(path, data)
    assert "version 2 is now current" in follow(client, done)
    assert "already corrected; version 2 is current" in follow(client, client.post(path, {**data, "once": once()}))
    latest = Response.objects.filter(assessment=visit, instrument_code="phq9").order_by("-version").first()
    assert latest.version == 2 and latest.total == current.total + 2
    assert latest.correction_reason == "Typed from the wrong column"
    assert "Replaced version 1" in client.get(url(trial, p)).content.decode()


# --- Follow-up status --------------------------------------------------------------------------------------


def test_withdrawal_needs_a_reason_and_a_confirmation(web, trial, coordinator):
    p = helpers.randomized(trial)
    client = web(coordinator)
    path = url(trial, p, "follow-up/withdraw/")
    assert "I confirm this change" in client.get(path).content.decode()
    unconfirmed = client.post(path, {"reason": "Moved", "once": once()})
    assert unconfirmed.status_code == 400 and "Tick the box to confirm." in unconfirmed.content.decode()
    no_reason = client.post(path, {"confirm": "on", "once": once()})
    assert no_reason.status_code == 400 and "Give the reason" in no_reason.content.decode()
    p.refresh_from_db()
    assert p.status == Status.RANDOMIZED
    key = once()
    done = client.post(path, {"reason": "Moved abroad", "confirm": "on", "once": key})
    assert "Withdrawn" in follow(client, done)
    assert "already sent" in follow(client, client.post(path, {"reason": "Moved abroad", "confirm": "on", "once": key}))
    p.refresh_from_db()
    assert p.status == Status.WITHDRAWN and p.ended_reason == "Moved abroad"
    assert p.status_changes.filter(to_status=Status.WITHDRAWN).count() == 1


def test_lost_then_back_then_completed(web, trial, coordinator):
    p = helpers.randomized(trial)
    client = web(coordinator)
    follow(
        client, client.post(url(trial, p, "follow-up/lost/"), {"reason": "No answer", "confirm": "on", "once": once()})
    )
    p.refresh_from_db()
    assert p.status == Status.LOST_TO_FOLLOW_UP
    page = client.get(url(trial, p)).content.decode()
    assert "No answer" in page and "Returned to follow-up" in page
    follow(
        client, client.post(url(trial, p, "follow-up/return/"), {"reason": "Called", "confirm": "on", "once": once()})
    )
    follow(client, client.post(url(trial, p, "follow-up/complete/"), {"confirm": "on", "once": once()}))
    p.refresh_from_db()
    assert p.status == Status.COMPLETED


def test_a_step_that_does_not_apply_is_refused_by_the_service(web, trial, coordinator):
    p = helpers.enrolled(trial)  # not randomized: cannot be lost to follow-up
    response = web(coordinator).post(url(trial, p, "follow-up/lost/"), {"reason": "x", "confirm": "on", "once": once()})
    assert response.status_code == 400 and "Nothing was recorded" in response.content.decode()
    p.refresh_from_db()
    assert p.status == Status.ENROLLED


# --- Emergency unblinding --------------------------------------------------------------------------------


@pytest.fixture
def masked_trial() -> Any:
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    clinician = get_user_model().objects.create_user(username="cleo", email="cleo@example.org")
    helpers.grant(trial, clinician, Role.SAFETY_CLINICIAN)
    coordinator = get_user_model().objects.create_user(username="mick", email="mick@example.org")
    helpers.grant(trial, coordinator, Role.COORDINATOR)
    return trial, clinician, coordinator


def test_a_masked_clinician_unblinds_with_a_reason_and_then_sees_the_arm(web, masked_trial):
    trial, clinician, coordinator = masked_trial
    p = helpers.randomized(trial)
    client = web(clinician)
    page = client.get(url(trial, p)).content.decode()
    assert "Emergency unblinding…" in page and p.allocation.arm.name not in page
    assert "Emergency unblinding" not in web(coordinator).get(url(trial, p)).content.decode()
    no_reason = client.post(url(trial, p, "unblind/"), {"confirm": "on", "once": once()})
    assert no_reason.status_code == 400 and "Give the clinical reason" in no_reason.content.decode()
    assert not EmergencyUnblinding.objects.exists()
    key = once()
    done = client.post(url(trial, p, "unblind/"), {"reason": "Admitted to hospital", "confirm": "on", "once": key})
    page = follow(client, done)
    assert p.allocation.arm.name in page and "Admitted to hospital" in page
    client.post(url(trial, p, "unblind/"), {"reason": "Admitted to hospital", "confirm": "on", "once": key})
    assert EmergencyUnblinding.objects.count() == 1


def test_a_reader_who_sees_the_arm_has_nothing_to_unblind(web, trial, investigator):
    p = helpers.randomized(trial)  # the reference trial is open label
    page = web(investigator).get(url(trial, p)).content.decode()
    assert "Emergency unblinding…" not in page
    refused = web(investigator).post(url(trial, p, "unblind/"), {"reason": "x", "confirm": "on", "once": once()})
    assert refused.status_code == 400 and "You already see this participant" in refused.content.decode()
    assert not EmergencyUnblinding.objects.exists()


def test_a_visit_only_the_extra_questionnaire_keeps_open_offers_nothing_to_a_masked_reader(web, masked_trial):
    """The chatbot arm's week 4 stays open for the alliance questionnaire after the shared ones are in: to a
    masked coordinator it reads as completed, with no resend or paper entry, exactly like the control arm's."""
    trial, _clinician, coordinator = masked_trial
    people = [helpers.randomized(trial) for _ in range(6)]
    pair = {}
    for person in people:
        pair.setdefault(person.allocation.arm.code, person)
    for person in pair.values():
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
        with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
            sweep(deliver=False)
            for code in visit.instruments:
                if code != "waisr":
                    response_submit(assessment=visit, instrument_code=code, answers=helpers.lowest_answers(code),
                                    source="api")  # fmt: skip
    chatbot = ScheduledAssessment.objects.get(participant=pair["chatbot"], visit__code="week4")
    assert chatbot.status == "open" and chatbot.next_reminder_at is not None
    later = chatbot.next_reminder_at + timedelta(minutes=5)
    with clock.use(clock.SimulatedClock(later)):
        sweep(deliver=False)  # the extra questionnaire alone keeps the reminders going, in one arm only
    assert OutboxMessage.objects.filter(participant=pair["chatbot"], kind="assessment_reminder").exists()
    assert not OutboxMessage.objects.filter(participant=pair["waitlist"], kind="assessment_reminder").exists()
    with clock.use(clock.SimulatedClock(later)):
        from tests.workspace.test_participant_page import normalised

        pages = {
            arm: web(coordinator).get(url(trial, person)).content.decode().replace(trial.title, "")
            for arm, person in pair.items()
        }
    assert normalised(pages["chatbot"]) == normalised(pages["waitlist"])
    assert f"visits/{chatbot.public_id}/resend/" not in pages["chatbot"]
    # Asked anyway, both arms' week 4 answer alike, and nothing is queued
    before = OutboxMessage.objects.count()
    with clock.use(clock.SimulatedClock(later)):
        client = web(coordinator)
        for person in pair.values():
            visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
            answer = client.post(url(trial, person, f"visits/{visit.public_id}/resend/"), {"once": once()})
            shown = follow(client, answer)
            assert "is completed; there is nothing to invite to." in shown
    assert OutboxMessage.objects.count() == before
