"""The message log: every message of the trial with its state, what went wrong in words without secrets,
where it went only for those who see contacts, a retry for failed ones, and nothing that tells the arms
apart to a reader who must not know them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assessments.models import ScheduledAssessment
from assessments.services.scheduling import INVITATION_KIND, REMINDER_KIND
from assessments.services.sweep import sweep
from participants import services
from participants.messaging import outbox_deliver, outbox_enqueue, outbox_retry
from participants.models import MessageStatus, OutboxMessage, Participant
from participants.selectors import messages_for
from participants.services.safety import (
    ALERT_KIND,
    ESCALATION_KIND,
    safety_alert_acknowledge,
    safety_alert_raise,
    safety_alerts_escalate_due,
)
from tests import helpers
from trial import clock
from trial.errors import Conflict
from trial.models import AuditEvent, Role

pytestmark = pytest.mark.django_db

TOKEN = "Q" * 20 + "abcdefghijklmnopqrstuvw"  # 43 URL-safe characters: shaped like a participant's link token
ARM_WORDS = ("Therapy chatbot", "Waitlist control", "chatbot", "waitlist", "Arm A", "Arm B")


def log(client: Any, trial: Any, query: str = "") -> str:
    response = client.get(f"/workspace/{trial.slug}/messages/{query}")
    assert response.status_code == 200
    return response.content.decode()


def invitation(participant: Participant) -> OutboxMessage:
    return OutboxMessage.objects.get(participant=participant, kind=INVITATION_KIND)


@pytest.fixture
def jamie(trial: Any) -> Participant:
    """Enrolled: the baseline opened and its invitation is queued."""
    return helpers.enrolled(trial)


def fail(message: OutboxMessage, error: str) -> OutboxMessage:
    OutboxMessage.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, attempts=8, last_error=error)
    message.refresh_from_db()
    return message


def test_every_member_reads_the_log_and_nobody_else_learns_it_exists(
    web: Any,
    trial: Any,
    jamie: Participant,
    coordinator: Any,
    investigator: Any,
    blinded_statistician: Any,
    unblinded_statistician: Any,
    clinician: Any,
    administrator: Any,
    outsider: Any,
) -> None:
    for user in (coordinator, investigator, blinded_statistician, unblinded_statistician, clinician, administrator):
        page = log(web(user), trial)
        assert jamie.study_id in page and "Questionnaire invitation" in page and "Baseline" in page
        assert 'href="/workspace/therabot/messages/" aria-current="page"' in page
        assert f'href="/workspace/{trial.slug}/participants/{jamie.pk}/"' in page
    hidden = web(outsider).get(f"/workspace/{trial.slug}/messages/")
    missing = web(outsider).get("/workspace/no-such-trial/messages/")
    assert hidden.status_code == missing.status_code == 404
    anonymous = web(None).get(f"/workspace/{trial.slug}/messages/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")


def test_where_a_message_went_is_shown_only_to_roles_that_see_contacts(
    web: Any, trial: Any, jamie: Participant, coordinator: Any, blinded_statistician: Any, unblinded_statistician: Any
) -> None:
    OutboxMessage.objects.filter(pk=invitation(jamie).pk).update(
        status=MessageStatus.SENT, sent_at=clock.now(), recipient="jamie@example.org", attempts=1
    )
    assert "jamie@example.org" in log(web(coordinator), trial)
    for reader in (blinded_statistician, unblinded_statistician):
        page = log(web(reader), trial)
        assert "jamie@example.org" not in page and "Sent" in page


def test_an_error_never_shows_a_link_token_or_a_secret(
    web: Any, trial: Any, jamie: Participant, coordinator: Any, blinded_statistician: Any
) -> None:
    fail(
        invitation(jamie),
        f"SMTPRecipientsRefused: jamie@example.org refused; body had https://x.org/q/{TOKEN}/ and {TOKEN} "
        "password=hunter2 Token abc123",
    )
    for reader in (coordinator, blinded_statistician):
        page = log(web(reader), trial)
        assert "SMTPRecipientsRefused" in page and "[redacted]" in page
        assert TOKEN not in page and "hunter2" not in page and "abc123" not in page
    # The address a mail server quotes is a contact detail: only for those who see contacts.
    assert "jamie@example.org" in log(web(coordinator), trial)
    assert "jamie@example.org" not in log(web(blinded_statistician), trial)


def test_every_state_is_shown_in_words_with_its_time_error_or_reason(web: Any, trial: Any, coordinator: Any) -> None:
    _queued, sent, failed, withdrawn = (helpers.enrolled(trial) for _ in range(4))
    OutboxMessage.objects.filter(pk=invitation(sent).pk).update(status=MessageStatus.SENT, sent_at=clock.now())
    fail(invitation(failed), "SMTPServerDisconnected: Connection unexpectedly closed")
    services.participant_withdraw(participant=withdrawn, reason="Moved abroad", by=coordinator)
    assert invitation(withdrawn).cancel_reason == "The participant withdrew."
    page = log(web(coordinator), trial)
    for words in (
        "Queued",
        "Sent",
        "Failed",
        "Cancelled",
        "The participant withdrew.",
        "Connection unexpectedly closed",
    ):
        assert words in page
    assert "Moved abroad" not in page  # the withdrawal's own reason stays on the participant's page
    assert re.search(r"<time datetime=\"[^\"]+\">[A-Z][a-z]{2} \d+, \d{4}, \d\d:\d\d E[SD]T</time>", page)
    assert page.count("Retry</button>") == 1  # the failed one only


def test_a_message_its_renderer_no_longer_wants_is_cancelled_with_the_reason(trial: Any) -> None:
    participant = helpers.enrolled(trial)
    message = invitation(participant)
    ScheduledAssessment.objects.filter(participant=participant).update(status="missed")
    assert outbox_deliver(message_id=message.pk) == "cancelled"
    message.refresh_from_db()
    assert (
        message.status == MessageStatus.CANCELLED and message.cancel_reason == "The questionnaires were missed by then."
    )


def test_an_escalation_made_needless_by_the_acknowledgement_is_cancelled_with_the_reason(
    trial: Any, jamie: Participant, clinician: Any
) -> None:
    alert = safety_alert_raise(participant=jamie, source="questionnaire", flag="suicidal_ideation", dedupe_key="e:1")
    assert alert is not None
    assert safety_alerts_escalate_due(now=alert.escalate_at + timedelta(minutes=1)) == 1
    safety_alert_acknowledge(alert=alert, by=clinician)
    escalation = OutboxMessage.objects.get(kind=ESCALATION_KIND, user=clinician)
    assert outbox_deliver(message_id=escalation.pk, now=alert.escalate_at + timedelta(minutes=2)) == "cancelled"
    escalation.refresh_from_db()
    assert escalation.cancel_reason == "The alert was acknowledged before the escalation went out."


def test_the_participant_page_gets_their_messages_as_the_reader_may_see_them(
    trial: Any, jamie: Participant, coordinator: Any, clinician: Any
) -> None:
    from workspace.access import desk_for
    from workspace.message_log import messages_about, rows_for

    other = helpers.enrolled(trial)
    safety_alert_raise(participant=jamie, source="questionnaire", flag="suicidal_ideation", dedupe_key="p:1")
    for user, kinds in ((coordinator, [INVITATION_KIND]), (clinician, [ALERT_KIND, INVITATION_KIND])):
        request = type("Request", (), {"user": user})()
        desk = desk_for(request, trial.slug)  # type: ignore[arg-type]
        shown = list(messages_about(desk, jamie))
        assert [m.kind for m in shown] == kinds
        assert {row.subject for row in rows_for(desk, shown)} == {jamie}
        assert [m.participant_id for m in messages_about(desk, other)] == [other.pk]


def test_filters_narrow_the_log_and_keep_newest_first(web: Any, trial: Any, coordinator: Any) -> None:
    first, second = helpers.enrolled(trial), helpers.enrolled(trial)
    fail(invitation(first), "SMTPServerDisconnected: gone")
    client = web(coordinator)
    page = log(client, trial)
    assert page.index(second.study_id) < page.index(first.study_id)  # newest first
    only_failed = log(client, trial, "?state=failed")
    assert first.study_id in only_failed and second.study_id not in only_failed
    one = log(client, trial, f"?participant={second.study_id.lower()}")
    assert second.study_id in one and first.study_id not in one and "to and about" in one
    assert f"{first.study_id}" not in log(client, trial, f"?participant={second.study_id}&kind={REMINDER_KIND}")
    assert "1 message," in log(client, trial, "?channel=email&state=pending")


def test_retry_puts_a_failed_message_back_in_the_queue_once(
    web: Any, trial: Any, jamie: Participant, coordinator: Any
) -> None:
    message = fail(invitation(jamie), "SMTPServerDisconnected: gone")
    client = web(coordinator)
    url = f"/workspace/{trial.slug}/messages/{message.pk}/retry/"
    back = f"/workspace/{trial.slug}/messages/?state=failed"
    response = client.post(url, {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.attempts == 0
    assert message.available_at <= clock.now()
    events = AuditEvent.objects.filter(action="outbox.retry")
    assert events.count() == 1 and events.get().actor == coordinator and events.get().trial == trial
    assert "queued to be sent again" in client.get(back).content.decode()
    # A replay (a second click, a reload) changes nothing and says why.
    again = client.post(url, {"next": "https://evil.example/"})
    assert again.status_code == 302 and again["Location"] == f"/workspace/{trial.slug}/messages/"
    assert events.count() == 1
    assert "is pending, not failed" in client.get(again["Location"]).content.decode()
    assert client.get(url).status_code == 405
    assert web(None).post(url)["Location"].startswith("/admin/login/")


def test_only_a_failed_message_can_be_retried(trial: Any, jamie: Participant, coordinator: Any) -> None:
    with pytest.raises(Conflict, match="only a failed message can be retried"):
        outbox_retry(message=invitation(jamie), by=coordinator)


def test_who_may_retry_what(
    web: Any,
    trial: Any,
    jamie: Participant,
    investigator: Any,
    blinded_statistician: Any,
    unblinded_statistician: Any,
    clinician: Any,
    administrator: Any,
    outsider: Any,
) -> None:
    """A participant's message: roles that enroll. A safety e-mail: roles that handle safety."""
    message = fail(invitation(jamie), "SMTPServerDisconnected: gone")
    url = f"/workspace/{trial.slug}/messages/{message.pk}/retry/"
    for user in (blinded_statistician, unblinded_statistician, clinician, administrator):
        assert web(user).post(url).status_code == 403
        assert "Retry</button>" not in log(web(user), trial)
    assert web(outsider).post(url).status_code == 404
    assert OutboxMessage.objects.get(pk=message.pk).status == MessageStatus.FAILED
    assert web(investigator).post(url).status_code == 302
    assert OutboxMessage.objects.get(pk=message.pk).status == MessageStatus.PENDING


def test_safety_e_mails_are_listed_and_retried_by_those_who_handle_safety(
    web: Any, trial: Any, jamie: Participant, coordinator: Any, clinician: Any, blinded_statistician: Any
) -> None:
    alert = safety_alert_raise(participant=jamie, source="questionnaire", flag="suicidal_ideation", dedupe_key="t:1")
    assert alert is not None
    email = fail(OutboxMessage.objects.get(kind=ALERT_KIND, user=clinician), "SMTPServerDisconnected: gone")
    page = log(web(clinician), trial)
    assert "Safety alert e-mail" in page and "clara" in page and page.count(jamie.study_id) >= 2
    for reader in (coordinator, blinded_statistician):
        assert "Safety alert e-mail" not in log(web(reader), trial)
    url = f"/workspace/{trial.slug}/messages/{email.pk}/retry/"
    assert web(coordinator).post(url).status_code == 404  # not in the log they see
    assert web(clinician).post(url).status_code == 302
    assert OutboxMessage.objects.get(pk=email.pk).status == MessageStatus.PENDING
    assert "Safety alert e-mail" in log(web(clinician), trial, f"?participant={jamie.study_id}")


def test_the_participant_selector_lists_their_messages_newest_first(trial: Any, clinician: Any) -> None:
    jamie, other = helpers.enrolled(trial), helpers.enrolled(trial)
    safety_alert_raise(participant=jamie, source="questionnaire", flag="suicidal_ideation", dedupe_key="t:2")
    own = list(messages_for(jamie))
    assert [m.kind for m in own] == [INVITATION_KIND]
    with_staff = list(messages_for(jamie, staff_notifications=True))
    assert [m.kind for m in with_staff] == [ALERT_KIND, INVITATION_KIND]
    assert all(m.subject_id == jamie.pk for m in with_staff)
    assert [m.participant_id for m in messages_for(other, staff_notifications=True)] == [other.pk]


def test_the_log_costs_the_same_queries_whatever_the_number_of_messages(
    web: Any, trial: Any, coordinator: Any, clinician: Any, blinded_statistician: Any
) -> None:
    def queries_for(reader: Any, rows: int) -> int:
        client = web(reader)
        with CaptureQueriesContext(connection) as queries:
            page = log(client, trial)
        assert page.count("<tr>") == rows + 1, reader.username
        return len(queries)

    def add(count: int) -> None:
        for n in range(count):
            person = helpers.enrolled(trial)
            if n % 2:
                fail(invitation(person), "SMTPServerDisconnected: gone")
        safety_alert_raise(participant=person, source="questionnaire", flag="suicidal_ideation", dedupe_key=f"t:{n}")

    add(3)
    # session, user, membership, count, page, visits, participants; the clinician's log adds the safety
    # e-mails' scope in the same queries; a blinded reader's adds the visits one arm fills more (1).
    few = {
        r.username: queries_for(r, rows) for r, rows in ((coordinator, 3), (clinician, 4), (blinded_statistician, 3))
    }
    add(9)
    many = {
        r.username: queries_for(r, rows) for r, rows in ((coordinator, 12), (clinician, 14), (blinded_statistician, 12))
    }
    assert few == many
    assert few == {"carol": 7, "clara": 7, "bella": 8}


@pytest.fixture
def masked_trial_with_reminders() -> tuple[Any, list[Participant], list[Any]]:
    """A masked trial, six participants of both arms at week 4; the chatbot arm's week 4 stays open for its
    extra questionnaire (the alliance scale) and so is reminded, the waitlist arm's is complete. Everyone
    raised a PHQ-9 item 9 alert; the chatbot arm's participants also a chatbot crisis flag."""
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    readers = []
    for username, role in (
        ("bea", Role.BLINDED_STATISTICIAN),
        ("mick", Role.COORDINATOR),
        ("ines", Role.INVESTIGATOR),
        ("cleo", Role.SAFETY_CLINICIAN),
    ):
        user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org")
        helpers.grant(trial, user, role)
        readers.append(user)
    people = [helpers.randomized(trial) for _ in range(6)]
    assert {p.allocation.arm.code for p in people} == {"chatbot", "waitlist"}
    for person in people:
        visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
        with clock.use(clock.SimulatedClock(visit.opens_at + timedelta(hours=1))):
            sweep(deliver=False)
        safety_alert_raise(
            participant=person, source="questionnaire", flag="suicidal_ideation", dedupe_key=f"q{person.pk}"
        )
        if person.allocation.arm.code == "chatbot":
            outbox_enqueue(
                kind=REMINDER_KIND,
                dedupe_key=f"assessment:{visit.pk}:remind:1",
                participant=person,
                context={"assessment": visit.pk},
            )
            safety_alert_raise(
                participant=person, source="chatbot", flag="crisis_language", urgent=True, dedupe_key=f"c{person.pk}"
            )
    return trial, people, readers


def test_nothing_in_the_log_tells_the_arms_apart_to_a_masked_or_blinded_reader(
    web: Any, masked_trial_with_reminders: tuple[Any, list[Participant], list[Any]]
) -> None:
    trial, people, readers = masked_trial_with_reminders
    # Found: the only messages one arm gets more of are the reminders of a visit where that arm fills an
    # extra questionnaire; a visit only one arm has would be another. No other kind depends on the arm.
    assert OutboxMessage.objects.filter(kind=REMINDER_KIND).count() == sum(
        p.allocation.arm.code == "chatbot" for p in people
    )
    for reader in readers:
        client = web(reader)
        whole = log(client, trial)
        for word in ARM_WORDS:  # the trial's title (in the header) names both arms: taken out first
            whole = whole.replace(trial.title, "")
            assert word.lower() not in whole.lower(), (reader.username, word)
        assert "<td>Questionnaire reminder" not in whole
        # Baseline and week 4 invitations, each; for those told of alerts, the PHQ-9 alert's e-mail too.
        staff = reader.username in ("ines", "cleo")
        assert f"{(3 if staff else 2) * len(people)} messages," in whole, reader.username
        shapes = {}
        for person in people:
            page = log(client, trial, f"?participant={person.study_id}")
            shape = re.sub(
                r"<time[^>]*>.*?</time>|MK-\d+|/participants/\d+/|/messages/\d+/"
                r"|name=\"csrfmiddlewaretoken\" value=\"\w+\"",
                "",
                page,
            )
            shapes.setdefault(person.allocation.arm.code, set()).add(shape)
        assert len(shapes["chatbot"] | shapes["waitlist"]) == 1, reader.username
        assert "0 messages" in log(client, trial, f"?kind={REMINDER_KIND}")


def test_a_reader_who_sees_arms_sees_every_reminder(
    web: Any, masked_trial_with_reminders: tuple[Any, list[Participant], list[Any]]
) -> None:
    trial, people, _readers = masked_trial_with_reminders
    admin = get_user_model().objects.create_user(username="adam", email="adam@example.org")
    helpers.grant(trial, admin, Role.ADMINISTRATOR)
    chatbot = sum(p.allocation.arm.code == "chatbot" for p in people)
    assert f"{chatbot} message" in log(web(admin), trial, f"?kind={REMINDER_KIND}")
    assert f"{len(people) + chatbot} messages" in log(web(admin), trial, f"?kind={ALERT_KIND}")


def test_pages_keep_the_filters(web: Any, trial: Any, coordinator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from assessments.services.scheduling import INVITATION_KIND
    from workspace.views import messages as view

    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    for _ in range(5):
        helpers.enrolled(trial)
    first = log(web(coordinator), trial, f"?kind={INVITATION_KIND}&channel=email")
    assert "Page 1 of 3" in first
    assert f'href="?kind={INVITATION_KIND}&amp;channel=email&amp;page=2"' in first


def test_the_dashboard_counts_failing_messages_as_the_log_shows_them(
    web: Any, masked_trial_with_reminders: tuple[Any, list[Participant], list[Any]], django_user_model: Any
) -> None:
    """A failed reminder only the chatbot arm gets is not counted for a reader who must not know arms."""
    trial, _people, readers = masked_trial_with_reminders
    admin = django_user_model.objects.create_user("adam")
    helpers.grant(trial, admin, Role.ADMINISTRATOR)
    OutboxMessage.objects.filter(participant__trial=trial, kind=REMINDER_KIND).update(
        status=MessageStatus.FAILED, last_error="Mailbox full"
    )
    failed = OutboxMessage.objects.filter(participant__trial=trial, status=MessageStatus.FAILED).count()
    assert failed > 0

    def shown(user: Any) -> str:
        page = web(user).get(f"/workspace/{trial.slug}/").content.decode()
        return page

    assert "No failing messages" in shown(readers[0]) and "No failing messages" in shown(readers[1])
    assert "No failing messages" not in shown(admin)
