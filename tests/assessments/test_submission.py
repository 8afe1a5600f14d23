"""Answers from any write path: scored by the same code, kept as given, corrected only as new
versions, and every risk signal raises an alert."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from assessments.models import Response, ScheduledAssessment
from assessments.services.submission import draft_save, response_correct, response_submit
from participants.models import OutboxMessage, SafetyAlert
from tests import helpers
from trial.errors import Conflict, DomainError

pytestmark = pytest.mark.django_db

PHQ9 = {f"phq9_{n}": v for n, v in zip(range(1, 10), [2, 2, 1, 1, 2, 1, 1, 0, 0], strict=True)}  # total 10


@pytest.fixture
def baseline(trial):
    return ScheduledAssessment.objects.get(participant=helpers.enrolled(trial))


def test_it_stores_the_raw_answers_with_their_scores(baseline):
    response = response_submit(
        assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_10": 1}, source="survey"
    )
    assert response.answers == {**PHQ9, "phq9_10": 1}
    assert (response.total, response.band, response.flags, response.version) == (10.0, "moderate", [], 1)
    baseline.refresh_from_db()
    assert baseline.status == "open"  # three more questionnaires are due


def test_the_visit_completes_when_every_questionnaire_is_in(baseline):
    for code in baseline.instruments:
        response_submit(assessment=baseline, instrument_code=code, answers=helpers.lowest_answers(code), source="api")
    baseline.refresh_from_db()
    assert baseline.status == "completed" and baseline.completed_at is not None
    assert baseline.next_reminder_at is None


def test_a_double_submit_records_one_response(baseline):
    first = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="survey")
    again = response_submit(assessment=baseline, instrument_code="phq9", answers=dict(PHQ9), source="survey")
    assert again.pk == first.pk
    assert Response.objects.count() == 1
    with pytest.raises(Conflict, match="correction"):
        response_submit(assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_1": 3}, source="survey")


def test_bad_answers_are_refused_naming_the_item_and_nothing_is_written(baseline):
    with pytest.raises(DomainError, match="phq9_3") as caught:
        response_submit(assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_3": 7}, source="api")
    assert caught.value.code == "invalid_answers"
    with pytest.raises(DomainError, match="phq9_2: must be a number"):
        response_submit(assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_2": "often"}, source="api")
    with pytest.raises(DomainError, match="has no 'scoff' questionnaire") as caught:
        response_submit(assessment=baseline, instrument_code="scoff", answers={}, source="api")
    assert caught.value.field == "instrument"
    assert not Response.objects.exists()


def test_answers_are_refused_once_the_window_has_closed(baseline):
    with pytest.raises(DomainError, match="closed"):
        response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api", now=baseline.closes_at)


def test_raw_answers_never_change_even_in_sql(baseline):
    response = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api")
    with pytest.raises(DomainError):
        Response.objects.filter(pk=response.pk).update(total=0)
    with pytest.raises(DomainError):
        response.save()
    with pytest.raises(DatabaseError, match="never changed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE assessments_response SET total = 0 WHERE id = %s", [response.pk])
    assert Response.objects.get(pk=response.pk).total == 10


def test_a_correction_is_a_new_version_with_a_reason(baseline, coordinator):
    original = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api")
    with pytest.raises(DomainError) as caught:
        response_correct(response=original, answers={**PHQ9, "phq9_1": 3}, reason=" ", by=coordinator)
    assert caught.value.field == "reason"
    corrected = response_correct(
        response=original, answers={**PHQ9, "phq9_1": 3}, reason="Transcription error from paper form", by=coordinator
    )
    assert (corrected.version, corrected.total, corrected.correction_reason) == (
        2,
        11.0,
        "Transcription error from paper form",
    )
    assert Response.objects.get(pk=original.pk).total == 10  # the original stays as given
    with pytest.raises(Conflict, match="Version 2 is the current one"):
        response_correct(response=original, answers=PHQ9, reason="again", by=coordinator)


def test_item_9_raises_an_alert_for_the_clinicians_whatever_the_total(trial, clinician, baseline):
    answers = {**{f"phq9_{n}": 0 for n in range(1, 10)}, "phq9_9": 1}
    response = response_submit(assessment=baseline, instrument_code="phq9", answers=answers, source="survey")
    assert response.total == 1 and "suicidal_ideation" in response.flags
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.urgent, alert.source) == ("suicidal_ideation", False, "questionnaire")
    assert alert.details["instrument"] == "phq9" and alert.details["visit"] == "baseline"
    assert alert.details["answers"] == {"phq9_9": 1}  # what was answered, for the clinician's page
    assert (alert.escalate_at - alert.raised_at).total_seconds() == 24 * 3600
    notice = OutboxMessage.objects.get(kind="safety_alert")
    assert notice.user == clinician


def test_item_9_at_3_raises_one_urgent_alert(trial, clinician, baseline):
    answers = {**{f"phq9_{n}": 0 for n in range(1, 10)}, "phq9_9": 3}
    response_submit(assessment=baseline, instrument_code="phq9", answers=answers, source="api")
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.urgent) == ("suicidal_ideation_severe", True)
    assert (alert.escalate_at - alert.raised_at).total_seconds() == 3600


def test_a_missing_item_9_is_its_own_alert(trial, clinician, baseline):
    answers = {f"phq9_{n}": 1 for n in range(1, 9)}
    response = response_submit(assessment=baseline, instrument_code="phq9", answers=answers, source="survey")
    assert "safety_item_missing" in response.flags
    assert "phq9_9" not in response.answers  # never imputed
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.details["answers"]) == ("safety_item_missing", {"phq9_9": None})


def test_a_correction_that_reveals_risk_raises_an_alert_once(trial, clinician, coordinator, baseline):
    original = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api")
    assert not SafetyAlert.objects.exists()
    corrected = response_correct(response=original, answers={**PHQ9, "phq9_9": 2}, reason="Misread", by=coordinator)
    response_correct(response=corrected, answers={**PHQ9, "phq9_9": 2, "phq9_1": 1}, reason="Again", by=coordinator)
    assert SafetyAlert.objects.filter(flag="suicidal_ideation").count() == 1


def test_progress_is_kept_as_a_draft_and_checked_as_it_goes(baseline):
    draft = draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_1": 2, "phq9_2": None})
    assert draft.answers == {"phq9_1": 2}
    draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_1": 2, "phq9_2": 1})
    assert baseline.drafts.get().answers == {"phq9_1": 2, "phq9_2": 1}
    with pytest.raises(DomainError, match="phq9_4"):
        draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_4": 9})
    response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="survey")
    assert not baseline.drafts.exists()
    with pytest.raises(Conflict, match="already submitted"):  # a stale page cannot leave a draft behind
        draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_1": 1})
    assert not baseline.drafts.exists()


def test_the_api_write_path_scores_and_alerts_like_the_survey(api, coordinator, clinician, trial, baseline):
    url = f"/api/v1/trials/therabot/participants/{baseline.participant_id}/assessments/{baseline.public_id}/responses/"
    answers = {**PHQ9, "phq9_9": 3}
    created = api(coordinator).post(url, {"instrument": "phq9", "answers": answers}, format="json")
    assert created.status_code == 201
    assert created.json()["total"] == 13 and "suicidal_ideation_severe" in created.json()["flags"]
    assert SafetyAlert.objects.get().urgent is True
    bad = api(coordinator).post(url, {"instrument": "phq9", "answers": {**PHQ9, "phq9_1": 4}}, format="json")
    assert bad.status_code in (400, 409)


def test_the_api_corrects_with_a_reason(api, coordinator, baseline):
    original = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api")
    url = f"/api/v1/trials/therabot/responses/{original.public_id}/corrections/"
    assert api(coordinator).post(url, {"answers": PHQ9}, format="json").status_code == 400
    done = api(coordinator).post(url, {"answers": {**PHQ9, "phq9_2": 0}, "reason": "Typo"}, format="json")
    assert done.status_code == 201 and done.json()["version"] == 2 and done.json()["total"] == 8


def test_blinded_readers_do_not_see_arm_specific_questionnaires(
    api, blinded_statistician, unblinded_statistician, trial
):
    from participants.models import Allocation

    for _ in range(20):
        participant = helpers.randomized(trial)
        if Allocation.objects.get(participant=participant).arm.code == "chatbot":
            break
    url = f"/api/v1/trials/therabot/participants/{participant.pk}/assessments/"
    blinded = api(blinded_statistician).get(url).json()
    real = api(unblinded_statistician).get(url).json()
    assert "waisr" in real[1]["instruments"]
    assert all("waisr" not in a["instruments"] for a in blinded)


RISK = {**PHQ9, "phq9_9": 3}  # item 9 = 3: an urgent signal


def test_answers_refused_for_a_cancelled_visit_still_raise_their_alert(trial, clinician):
    from participants.services import participant_withdraw

    participant = helpers.enrolled(trial)
    participant_withdraw(participant=participant, reason="Moved away", by=None)
    visit = ScheduledAssessment.objects.get(participant=participant)
    assert visit.status == "cancelled"
    with pytest.raises(DomainError) as refused:  # e.g. a paper form entered after the withdrawal
        response_submit(assessment=visit, instrument_code="phq9", answers=RISK, source="staff")
    assert refused.value.code == "not_open" and not Response.objects.exists()
    alert = SafetyAlert.objects.get()
    assert (alert.participant, alert.flag, alert.urgent) == (participant, "suicidal_ideation_severe", True)
    assert alert.details["recorded"] is False and "cancelled" in alert.details["why"]
    assert OutboxMessage.objects.filter(kind="safety_alert", user=clinician).exists()  # a clinician is told


def test_a_second_different_submission_is_refused_but_a_new_risk_signal_in_it_alerts(baseline):
    response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="survey")  # item 9 = 0
    with pytest.raises(Conflict):
        response_submit(assessment=baseline, instrument_code="phq9", answers=RISK, source="staff")
    assert SafetyAlert.objects.get().flag == "suicidal_ideation_severe"
    assert Response.objects.count() == 1  # nothing recorded: it needs a correction with a reason


def test_answers_refused_for_another_item_still_raise_a_valid_item_9(baseline):
    with pytest.raises(DomainError):
        response_submit(assessment=baseline, instrument_code="phq9", answers={**RISK, "phq9_3": 7}, source="api")
    with pytest.raises(DomainError):
        response_submit(assessment=baseline, instrument_code="phq9", answers={**RISK, "mood": "low"}, source="api")
    alert = SafetyAlert.objects.get()  # one signal, one alert
    assert (alert.flag, alert.details["recorded"]) == ("suicidal_ideation_severe", False)
    assert alert.details["answers"] == {"phq9_9": 3}  # the raw answer, even of a refused submission
    assert not Response.objects.exists()


@pytest.mark.parametrize("item9", [7, "2", None])
def test_refused_answers_whose_item_9_is_wrong_or_left_out_raise_nothing(baseline, item9):
    with pytest.raises(DomainError):
        response_submit(
            assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_3": 7, "phq9_9": item9}, source="api"
        )
    assert not SafetyAlert.objects.exists()


def test_a_draft_saved_before_item_9_raises_nothing(baseline):
    draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_1": 2, "phq9_2": 1})
    assert not SafetyAlert.objects.exists()  # item 9 not yet reached: no "item 9 left unanswered" alert


def test_a_draft_with_a_risk_signal_alerts_once_even_when_it_is_then_submitted(baseline):
    draft_save(assessment=baseline, instrument_code="phq9", answers={"phq9_9": 1})
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.urgent, alert.details["recorded"]) == ("suicidal_ideation", False, False)
    response_submit(assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_9": 1}, source="survey")
    assert SafetyAlert.objects.count() == 1  # the same signal: one alert


def test_a_correction_that_brings_a_cleared_signal_back_alerts_again(baseline):
    first = response_submit(assessment=baseline, instrument_code="phq9", answers={**PHQ9, "phq9_9": 2}, source="api")
    cleared = response_correct(response=first, answers=PHQ9, reason="Misread the form", by=None)
    assert SafetyAlert.objects.count() == 1
    again = response_correct(response=cleared, answers={**PHQ9, "phq9_9": 2}, reason="Read it right", by=None)
    alerts = list(SafetyAlert.objects.order_by("pk"))
    assert [a.details["version"] for a in alerts] == [1, 3] and again.version == 3
    response_correct(response=again, answers={**PHQ9, "phq9_9": 2, "phq9_1": 0}, reason="Item 1", by=None)
    assert SafetyAlert.objects.count() == 2  # still flagged, as the version it replaced: no new alert


@pytest.mark.parametrize("refusal", ["reason", "answers", "version"])
def test_a_refused_correction_still_raises_a_new_risk_signal_once(baseline, refusal):
    first = response_submit(assessment=baseline, instrument_code="phq9", answers=PHQ9, source="api")  # item 9 = 0
    risk = {**PHQ9, "phq9_9": 2, **({"phq9_3": 7} if refusal == "answers" else {})}
    if refusal == "version":  # correcting a version that is no longer the current one
        response_correct(response=first, answers={**PHQ9, "phq9_1": 0}, reason="Item 1", by=None)
    with pytest.raises(DomainError):
        response_correct(response=first, answers=risk, reason="" if refusal == "reason" else "Paper form", by=None)
    alert = SafetyAlert.objects.get()
    assert (alert.flag, alert.details["recorded"]) == ("suicidal_ideation", False)
    assert "correction" in alert.details["why"]
    current = Response.objects.filter(assessment=baseline).order_by("-version").first()
    response_correct(response=current, answers={**PHQ9, "phq9_9": 2}, reason="Paper form", by=None)
    assert SafetyAlert.objects.count() == 1  # the same signal, recorded now: one alert


def test_a_refused_correction_that_keeps_a_signal_raises_nothing_new(baseline):
    first = response_submit(assessment=baseline, instrument_code="phq9", answers={**RISK}, source="api")
    with pytest.raises(DomainError):
        response_correct(response=first, answers={**RISK, "phq9_1": 0}, reason=" ", by=None)
    assert SafetyAlert.objects.count() == 1
