"""Staff acting for a participant: answers entered from paper (who and why), an invitation sent again, a
link taken away."""

from __future__ import annotations

import pytest

from assessments.models import AccessLink, Response, ScheduledAssessment
from assessments.services.invitations import invitation_resend
from assessments.services.links import link_create, link_resolve, link_retract, links_revoke
from assessments.services.scheduling import INVITATION_KIND
from assessments.services.submission import response_enter_for_participant
from participants import services
from participants.models import OutboxMessage, SafetyAlert
from tests import helpers
from trial.errors import DomainError
from trial.models.audit import AuditEvent

pytestmark = pytest.mark.django_db


def baseline_of(p):
    return ScheduledAssessment.objects.get(participant=p, visit__code="baseline")


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def test_answers_entered_by_staff_say_who_and_why_and_run_the_safety_rules(trial, coordinator):
    p = helpers.enrolled(trial)
    answers = {**helpers.lowest_answers("phq9"), "phq9_9": 2}
    response = response_enter_for_participant(
        assessment=baseline_of(p), instrument_code="phq9", answers=answers, note=" paper, by post ", by=coordinator
    )
    assert (response.source, response.submitted_by, response.entry_note) == ("staff", coordinator, "paper, by post")
    assert SafetyAlert.objects.get(participant=p).flag == "suicidal_ideation"
    entry = AuditEvent.objects.get(action="response.enter")
    assert entry.reason == "paper, by post"
    # the same answers again (a double submit) return the first record: one response, one audit entry
    again = response_enter_for_participant(
        assessment=baseline_of(p), instrument_code="phq9", answers=answers, note="paper, by post", by=coordinator
    )
    assert again.pk == response.pk and AuditEvent.objects.filter(action="response.enter").count() == 1


def test_staff_entry_needs_a_reason_and_a_person(trial, coordinator):
    p = helpers.enrolled(trial)
    answers = helpers.lowest_answers("phq9")
    with pytest.raises(DomainError, match="Say why"):
        response_enter_for_participant(
            assessment=baseline_of(p), instrument_code="phq9", answers=answers, note=" ", by=coordinator
        )
    with pytest.raises(DomainError, match="signed-in person"):
        response_enter_for_participant(
            assessment=baseline_of(p), instrument_code="phq9", answers=answers, note="paper", by=None
        )
    assert not Response.objects.exists()


def test_a_resend_queues_an_invitation_once_per_key(trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    before = OutboxMessage.objects.filter(participant=p, kind=INVITATION_KIND).count()
    invitation_resend(assessment=visit, key="a", by=coordinator)
    with pytest.raises(DomainError, match="already made"):
        invitation_resend(assessment=visit, key="a", by=coordinator)
    assert OutboxMessage.objects.filter(participant=p, kind=INVITATION_KIND).count() == before + 1


def test_no_resend_to_a_withdrawn_participant_or_a_closed_visit(trial, coordinator):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    ScheduledAssessment.objects.filter(pk=visit.pk).update(status="missed")
    with pytest.raises(DomainError, match="Baseline is missed"):
        invitation_resend(assessment=visit, key="a", by=coordinator)
    q = helpers.enrolled(trial)
    services.participant_withdraw(participant=q, reason="moved", by=coordinator)
    with pytest.raises(DomainError, match="withdrawn"):
        invitation_resend(assessment=baseline_of(q), key="b", by=coordinator)


def test_a_revoked_link_stays_dead_when_the_next_send_fails(trial):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    old = token_of(link_create(assessment=visit))
    assert links_revoke(assessment=visit) == 1
    assert link_resolve(token=old) is None
    fresh = link_create(assessment=visit)
    link_retract(url=fresh)
    assert link_resolve(token=old) is None
    assert (
        AccessLink.objects.filter(assessment=visit).count()
        == AccessLink.objects.filter(assessment=visit, revoked_at__isnull=False).count()
    )


def test_a_plain_failed_send_still_gives_back_the_link_it_replaced(trial):
    p = helpers.enrolled(trial)
    visit = baseline_of(p)
    old = token_of(link_create(assessment=visit))
    link_retract(url=link_create(assessment=visit))
    assert link_resolve(token=old) is not None
