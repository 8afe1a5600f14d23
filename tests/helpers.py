"""Building blocks for tests: trials and participants made through the real services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assessments.instruments import get_instrument
from assessments.models import ScheduledAssessment
from assessments.services.submission import response_submit
from participants import services
from participants.models import Participant
from trial.models import Trial, TrialMembership
from trial.services import api_token_create, trial_set_status
from trial.templates import read_template, trial_create_from_template

ROOT = Path(__file__).resolve().parent.parent

SCREENING: dict[str, dict[str, Any]] = {
    "MDD": {"phq9_total": 14},
    "GAD": {"gadq4_score": 7.5},
    "CHR-FED": {"swed_high_risk": True},
}


def open_reference_trial(slug: str = "therabot", **overrides: Any) -> Trial:
    data = read_template("therabot")
    data.update(overrides)
    trial = trial_create_from_template(data=data, by=None, slug=slug)
    return trial_set_status(trial=trial, status="recruiting", by=None)


def grant(trial: Trial, user: Any, role: str) -> TrialMembership:
    return TrialMembership.objects.create(trial=trial, user=user, role=role)


def api_auth_headers(user: Any) -> dict[str, str]:
    """Headers that authenticate as ``user`` with a fresh API token (``client.get(url, headers=...)``); none
    for an anonymous caller. The one place tests get a credential, so a change of token scheme changes only
    this."""
    if user is None:
        return {}
    _, key = api_token_create(user=user, name="tests")
    return {"Authorization": f"Token {key}"}


def answers(condition: str = "MDD", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "age": 34,
        "us_resident": True,
        "condition": condition,
        "suicidality_treatment": False,
        "bipolar": False,
        "psychosis": False,
        **SCREENING[condition],
    }
    base.update(overrides)
    return base


def eligible(trial: Trial, by: Any = None, condition: str = "MDD") -> Participant:
    return services.participant_screen(trial=trial, answers=answers(condition), by=by)


def consented(trial: Trial, by: Any = None, condition: str = "MDD") -> Participant:
    participant = eligible(trial, by, condition)
    services.participant_consent(participant=participant, signed_name="Jamie Doe", by=by)
    participant.refresh_from_db()
    return participant


def enrolled(trial: Trial, by: Any = None, condition: str = "MDD") -> Participant:
    participant = consented(trial, by, condition)
    contact = services.ContactInput(full_name="Jamie Doe", email="jamie@example.org", timezone="America/New_York")
    return services.participant_enroll(participant=participant, contact=contact, by=by)


def lowest_answers(code: str) -> dict[str, int | float]:
    """Every item of an instrument answered with its first option (PHQ-9 item 9 = 0: no alert)."""
    return {item.key: item.options[0].value for item in get_instrument(code).items}


def complete_baseline(participant: Participant) -> None:
    for assessment in ScheduledAssessment.objects.filter(participant=participant, visit__anchor="enrollment"):
        for code in assessment.instruments:
            response_submit(assessment=assessment, instrument_code=code, answers=lowest_answers(code), source="api")


def ready_to_randomize(trial: Trial, by: Any = None, condition: str = "MDD") -> Participant:
    """Enrolled, with the baseline questionnaires completed."""
    participant = enrolled(trial, by, condition)
    complete_baseline(participant)
    return participant


def randomized(trial: Trial, by: Any = None, condition: str = "MDD") -> Participant:
    participant = ready_to_randomize(trial, by, condition)
    services.participant_randomize(participant=participant, by=by)
    participant.refresh_from_db()
    return participant
