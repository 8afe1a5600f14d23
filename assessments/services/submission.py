"""Submitting answers, from any write path: the survey page, the API, an import. One function scores
and raises safety alerts, so no path can skip the rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from assessments.instruments import UnknownInstrumentError, default_registry
from assessments.models import AssessmentStatus, DraftAnswers, Response, ResponseSource, ScheduledAssessment
from assessments.scoring import SAFETY_FLAGS, ScoreResult, score_instrument
from participants.models import AlertSource
from participants.services.safety import safety_alert_raise
from trial import clock
from trial.audit import Actor, actor_user, audit_record
from trial.errors import Conflict, DomainError

# One alert per signal: the severe form of item 9 supersedes the plain one in the same answers.
URGENT_FLAGS = frozenset({"suicidal_ideation_severe"})


def _lock(assessment: ScheduledAssessment) -> ScheduledAssessment:
    # The visit's name is in every message; the participant is read only when needed (an alert, an error).
    return ScheduledAssessment.objects.select_for_update(of=("self",)).select_related("visit").get(pk=assessment.pk)


def _clean(answers: Mapping[str, Any]) -> dict[str, int | float]:
    """Raw answers as given, minus the unanswered items; values must be numbers."""
    if not isinstance(answers, Mapping):
        raise DomainError("Answers must be an object mapping item keys to values.", field="answers")
    cleaned: dict[str, int | float] = {}
    for key, value in answers.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DomainError(f"{key}: must be a number, got {value!r}.", field=f"answers.{key}")
        cleaned[str(key)] = value
    return cleaned


def _score(code: str, answers: dict[str, int | float]) -> ScoreResult:
    try:
        return score_instrument(code, answers)
    except ValueError as exc:
        raise DomainError(str(exc), field="answers", code="invalid_answers") from exc


def _require_open(assessment: ScheduledAssessment, code: str, now: datetime) -> None:
    if code not in assessment.instruments:
        # Not the list of what is due: one arm's questionnaires in it would tell a masked reader the arm.
        raise DomainError(f"{assessment.visit.name} has no {code!r} questionnaire.", field="instrument")
    if assessment.status != AssessmentStatus.OPEN or now >= assessment.closes_at:
        state = "closed" if now >= assessment.closes_at else assessment.status
        raise DomainError(f"{assessment.visit.name} of {assessment.participant} is {state}.", code="not_open")


def _safety_flags(flags: Iterable[str]) -> set[str]:
    """The flags that raise an alert, one per signal: the severe form of item 9 supersedes the plain one."""
    raised = set(flags) & set(SAFETY_FLAGS)
    if raised & URGENT_FLAGS:
        raised -= {"suicidal_ideation"}
    return raised


def _watched_answers(code: str, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The raw answers of the items a flag watches (PHQ-9 item 9), as given (None: not answered), kept in
    the alert's details so that a clinician reads what was answered, not only which flag it raised."""
    try:
        instrument = default_registry().get(code)
    except UnknownInstrumentError:
        return {}
    watched: dict[str, Any] = {}
    for rule in instrument.flags:
        value = answers.get(rule.item) if isinstance(answers, Mapping) else None
        watched[rule.item] = value if value is None or isinstance(value, int | float | str) else str(value)
    return watched


def _alert(
    assessment: ScheduledAssessment,
    code: str,
    flags: set[str],
    details: dict[str, Any],
    suffix: str = "",
    answers: Mapping[str, Any] | None = None,
) -> int:
    if answers is not None:
        details = {**details, "answers": _watched_answers(code, answers)}
    # The key without a suffix is the questionnaire's first signal, wherever it was seen (a draft, a refused
    # or a recorded submission): one alert for it. A correction that brings a flag back has its own key.
    raised = 0
    for flag in sorted(flags):
        alert = safety_alert_raise(
            participant=assessment.participant,
            source=AlertSource.QUESTIONNAIRE,
            flag=flag,
            urgent=flag in URGENT_FLAGS,
            dedupe_key=f"assessment:{assessment.pk}:{code}:{flag}{suffix}",
            details={"visit": assessment.visit.code, "instrument": code, **details},
        )
        raised += alert is not None
    return raised


def _raise_alerts(response: Response, score: ScoreResult, previous_flags: Iterable[str] | None = None) -> None:
    flags = _safety_flags(score.flags)
    suffix = ""
    if previous_flags is not None:  # a correction: only what the version it replaces did not already raise
        flags -= set(previous_flags)
        suffix = f":v{response.version}"
    details = {"response": response.pk, "version": response.version, "total": score.total}
    _alert(response.assessment, response.instrument_code, flags, details, suffix, answers=response.answers)


def _watched_score(code: str, answers: Mapping[str, Any]) -> ScoreResult | None:
    """The score of the items a flag watches (PHQ-9 item 9) alone, those answered with one of their values:
    what answers that cannot be scored as a whole (another item wrong) still say. None if there are none."""
    try:
        instrument = default_registry().get(code)
    except UnknownInstrumentError:
        return None
    watched: dict[str, int | float | None] = {}
    for rule in instrument.flags:
        value = answers.get(rule.item) if isinstance(answers, Mapping) else None
        try:
            score_instrument(code, {rule.item: value})
        except ValueError:
            continue
        if value is not None:
            watched[rule.item] = value
    return score_instrument(code, watched) if watched else None


def unrecorded_signal_raise(
    *,
    assessment: ScheduledAssessment,
    instrument_code: str,
    answers: Mapping[str, Any],
    why: str,
    answered_only: bool = False,
) -> int:
    """Answers that were not recorded (a refused submission, a draft, an import that failed) still reach a
    clinician when they carry a risk signal: the alert is raised, saying why nothing was recorded. Answers
    that cannot be scored as a whole (an unknown item, a value not among an item's options) raise what the
    safety items answered with one of their values say (PHQ-9 item 9 = 2 beside a wrong item 3), and
    nothing for a safety item left out or itself wrong. ``answered_only`` leaves out the signal of a safety
    item not answered (a page sent half done). Returns how many alerts were raised."""
    return _unrecorded_alert(assessment, instrument_code, answers, why, answered_only=answered_only)


def _unrecorded_alert(
    assessment: ScheduledAssessment,
    code: str,
    answers: Mapping[str, Any],
    why: str,
    *,
    answered_only: bool = False,
    replacing: Response | None = None,
) -> int:
    # ``replacing``: a refused correction of that version raises only what it did not, under the key the
    # correction would have had (one alert, whether it is then recorded or not).
    try:
        score: ScoreResult | None = score_instrument(code, _clean(answers))
    except (ValueError, DomainError):
        score, answered_only = _watched_score(code, answers), True
    if score is None:
        return 0
    flags = _safety_flags(score.flags)
    if answered_only:
        flags -= {"safety_item_missing"}
    suffix = ""
    if replacing is not None:
        flags -= set(replacing.flags or [])
        suffix = f":v{replacing.version + 1}"
    if not flags:
        return 0
    with transaction.atomic():
        details = {"recorded": False, "why": why, "total": score.total}
        return _alert(assessment, code, flags, details, suffix, answers=answers)


def _store(
    assessment: ScheduledAssessment,
    code: str,
    answers: dict[str, int | float],
    score: ScoreResult,
    *,
    version: int,
    source: str,
    by: Actor,
    reason: str = "",
    previous_flags: Iterable[str] | None = None,
    note: str = "",
) -> Response:
    response = Response.objects.create(
        assessment=assessment,
        instrument_code=code,
        version=version,
        answers=answers,
        total=score.total,
        subscales=dict(score.subscales),
        band=score.band or "",
        flags=sorted(score.flags),
        prorated=score.prorated,
        source=source,
        submitted_by=actor_user(by),
        correction_reason=reason,
        entry_note=note,
    )
    _raise_alerts(response, score, previous_flags)
    return response


def response_submit(
    *,
    assessment: ScheduledAssessment,
    instrument_code: str,
    answers: Mapping[str, Any],
    source: str,
    by: Actor = None,
    now: datetime | None = None,
    note: str = "",
) -> Response:
    """Record answers to one questionnaire of an open visit. Submitting the same answers again returns
    the response already recorded (a double submit records one); different answers need a correction.
    Answers refused (a closed or cancelled visit, a second different submission) still raise the safety
    alert their risk signal calls for: nothing is recorded, but a clinician hears of it."""
    try:
        return _submit(
            assessment=assessment,
            instrument_code=instrument_code,
            answers=answers,
            source=source,
            by=by,
            now=now,
            note=note,
        )
    except DomainError as refused:
        unrecorded_signal_raise(
            assessment=assessment, instrument_code=instrument_code, answers=answers, why=f"Refused: {refused.message}"
        )
        raise


@transaction.atomic
def _submit(
    *,
    assessment: ScheduledAssessment,
    instrument_code: str,
    answers: Mapping[str, Any],
    source: str,
    by: Actor,
    now: datetime | None,
    note: str = "",
) -> Response:
    now = now or clock.now()
    assessment = _lock(assessment)
    cleaned = _clean(answers)
    # Every response of the visit so far (a handful): the one to this questionnaire, and what is answered.
    earlier: list[Response] = list(
        Response.objects.filter(assessment=assessment).order_by("instrument_code", "-version")
    )
    existing = next((r for r in earlier if r.instrument_code == instrument_code), None)
    if existing is not None:
        if existing.version == 1 and existing.answers == cleaned:
            return existing
        raise Conflict(
            f"{instrument_code} of {assessment} was already submitted; a change is a correction with a reason."
        )
    _require_open(assessment, instrument_code, now)
    score = _score(instrument_code, cleaned)
    response = _store(assessment, instrument_code, cleaned, score, version=1, source=source, by=by, note=note)
    DraftAnswers.objects.filter(assessment=assessment, instrument_code=instrument_code).delete()
    answered = {r.instrument_code for r in earlier} | {instrument_code}
    if set(assessment.instruments) <= answered:
        assessment.status = AssessmentStatus.COMPLETED
        assessment.completed_at = now
        assessment.next_reminder_at = None
        assessment.save(update_fields=["status", "completed_at", "next_reminder_at"])
    return response


def response_enter_for_participant(
    *, assessment: ScheduledAssessment, instrument_code: str, answers: Mapping[str, Any], note: str, by: Actor
) -> Response:
    """Staff enter a participant's answers (a paper form, a phone interview): recorded as staff-entered,
    with who entered them and why, through ``response_submit``, so scoring and the safety alerts run as
    for the participant's own submission and the same rules hold (the visit open, one first version)."""
    note = note.strip()
    if actor_user(by) is None:
        raise DomainError("Answers entered by staff need a named, signed-in person.", code="not_authenticated")
    if not note:
        raise DomainError("Say why you are entering the answers (e.g. paper form returned by post).", field="note")
    earlier = Response.objects.filter(assessment_id=assessment.pk, instrument_code=instrument_code).exists()
    response = response_submit(
        assessment=assessment,
        instrument_code=instrument_code,
        answers=answers,
        source=ResponseSource.STAFF,
        by=by,
        note=note,
    )
    if not earlier:  # the same answers sent again return what was recorded: one record, one audit entry
        audit_record(
            actor=by,
            action="response.enter",
            obj=response,
            trial=response.assessment.participant.trial,
            changes={"instrument": [None, instrument_code], "total": [None, response.total]},
            reason=note,
        )
    return response


def response_correct(*, response: Response, answers: Mapping[str, Any], reason: str, by: Actor) -> Response:
    """Correct a response: a new version with the reason; the earlier versions stay as they were. A
    correction refused (no reason, a wrong answer, not the current version) still raises the alert a risk
    signal new in it calls for."""
    try:
        return _correct(response=response, answers=answers, reason=reason, by=by)
    except DomainError as refused:
        current = (
            Response.objects.filter(assessment_id=response.assessment_id, instrument_code=response.instrument_code)
            .order_by("-version")
            .first()
        )
        why = f"Refused correction: {refused.message}"
        _unrecorded_alert(response.assessment, response.instrument_code, answers, why, replacing=current or response)
        raise


@transaction.atomic
def _correct(*, response: Response, answers: Mapping[str, Any], reason: str, by: Actor) -> Response:
    if not reason.strip():
        raise DomainError("Give the reason for the correction.", field="reason")
    assessment = _lock(response.assessment)
    latest = (
        Response.objects.filter(assessment=assessment, instrument_code=response.instrument_code)
        .order_by("-version")
        .first()
    )
    assert latest is not None
    if latest.pk != response.pk:
        raise Conflict(f"Version {latest.version} is the current one; correct that.")
    cleaned = _clean(answers)
    score = _score(response.instrument_code, cleaned)
    corrected = _store(
        assessment,
        response.instrument_code,
        cleaned,
        score,
        version=latest.version + 1,
        source=response.source,
        by=by,
        reason=reason.strip(),
        previous_flags=latest.flags or [],
    )
    audit_record(
        actor=by,
        action="response.correct",
        obj=corrected,
        trial=assessment.participant.trial,
        changes={"version": [latest.version, corrected.version], "total": [latest.total, corrected.total]},
        reason=reason.strip(),
    )
    return corrected


@transaction.atomic
def draft_save(*, assessment: ScheduledAssessment, instrument_code: str, answers: Mapping[str, Any]) -> DraftAnswers:
    """Keep a participant's progress. Values are checked now, so a bad one is named at once."""
    assessment = _lock(assessment)
    _require_open(assessment, instrument_code, clock.now())
    if Response.objects.filter(assessment=assessment, instrument_code=instrument_code).exists():
        raise Conflict(f"{instrument_code} of {assessment} was already submitted; there is no draft to keep.")
    cleaned = _clean(answers)
    score = _score(instrument_code, cleaned)  # validates every answered item
    draft, _ = DraftAnswers.objects.update_or_create(
        assessment=assessment,
        instrument_code=instrument_code,
        defaults={"answers": cleaned, "updated_at": clock.now()},
    )
    # An answer kept but not sent is a risk signal all the same; an item not yet reached is not.
    flags = _safety_flags(score.flags) - {"safety_item_missing"}
    if flags:
        details = {"recorded": False, "why": "Kept as a draft, not yet submitted", "total": score.total}
        _alert(assessment, instrument_code, flags, details, answers=cleaned)
    return draft
