"""`manage.py run_scheduled`: the beat schedule's jobs run once, in-process, for installations without
Celery beat (cron). A risk signal nobody acknowledged must escalate there too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from assessments.models import AssessmentStatus, ScheduledAssessment
from participants.models import AlertSource, SafetyAlert
from participants.services.safety import safety_alert_raise
from tests import helpers
from trial import clock

pytestmark = pytest.mark.django_db


def _due_visit_and_ignored_alert(trial):
    participant = helpers.randomized(trial)
    alert = safety_alert_raise(
        participant=participant, source=AlertSource.QUESTIONNAIRE, flag="suicidal_ideation", urgent=False,
        dedupe_key="k",
    )  # fmt: skip
    week4 = ScheduledAssessment.objects.get(participant=participant, visit__code="week4")
    assert week4.status == AssessmentStatus.SCHEDULED and alert.escalate_at < week4.opens_at
    return week4, alert


def test_every_scheduled_job_runs_visits_open_and_ignored_alerts_escalate(trial, clinician, investigator, capsys):
    week4, alert = _due_visit_and_ignored_alert(trial)
    mail.outbox.clear()
    with clock.use(clock.SimulatedClock(week4.opens_at + timedelta(hours=1))):
        call_command("run_scheduled")
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "sweep-assessments", "escalate-safety-alerts", "deliver-outbox", "resume-jobs",
        "forget-form-submissions",
    ]  # fmt: skip
    week4.refresh_from_db()
    assert week4.status == AssessmentStatus.OPEN
    assert SafetyAlert.objects.get(pk=alert.pk).escalated_at is not None
    escalations = sorted(m.to[0] for m in mail.outbox if "ESCALATED" in m.subject)
    assert escalations == ["clara@example.org", "ivan@example.org"]  # delivered in the same run


def test_one_job_only(trial, clinician):
    week4, alert = _due_visit_and_ignored_alert(trial)
    with clock.use(clock.SimulatedClock(week4.opens_at + timedelta(hours=1))):
        call_command("run_scheduled", "--job", "escalate-safety-alerts")
    week4.refresh_from_db()
    assert week4.status == AssessmentStatus.SCHEDULED  # the sweep did not run
    assert SafetyAlert.objects.get(pk=alert.pk).escalated_at is not None


def test_a_failing_job_does_not_stop_the_others_and_the_command_fails_naming_it(trial, clinician, settings):
    week4, alert = _due_visit_and_ignored_alert(trial)
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "participants.tasks.no_such_task", "schedule": 60.0},
        **settings.CELERY_BEAT_SCHEDULE,
    }
    later = clock.SimulatedClock(week4.opens_at + timedelta(hours=1))
    with clock.use(later), pytest.raises(CommandError, match=r"Scheduled jobs failed: broken \(ImportError"):
        call_command("run_scheduled")
    assert SafetyAlert.objects.get(pk=alert.pk).escalated_at is not None


def test_an_unknown_job_is_named_with_the_jobs_there_are(db):
    with pytest.raises(CommandError, match="No scheduled job nope; the jobs are: sweep-assessments, "):
        call_command("run_scheduled", "--job", "nope")


CALLS: list[tuple[tuple, dict]] = []


def _probe(*args, **kwargs):
    CALLS.append((args, kwargs))
    return {"ran": True}


def test_a_jobs_args_and_kwargs_are_passed_as_beat_passes_them(db, settings, capsys):
    settings.CELERY_BEAT_SCHEDULE = {
        "probe": {"task": f"{__name__}._probe", "schedule": 60.0, "args": (1,), "kwargs": {"limit": 5}}
    }
    CALLS.clear()
    call_command("run_scheduled", "--job", "probe")
    assert CALLS == [((1,), {"limit": 5})]
    assert capsys.readouterr().out.strip() == 'probe: {"ran": true}'
