"""shown_status: the blind reader's visit status, computed in the database, agrees row by row with the
rule the API applies to one visit at a time (assessments.blinding.ArmSpecific.shared_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assessments.blinding import arm_specific
from assessments.models import Response, ScheduledAssessment
from assessments.selectors import hidden_visits, shown_status
from assessments.services.submission import response_submit
from assessments.services.sweep import sweep
from tests import helpers
from trial import clock

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_it_agrees_with_the_per_visit_rule() -> None:
    trial = helpers.open_reference_trial(slug="masked", study_id_prefix="MK", open_label=False)
    with clock.use(clock.SimulatedClock(T0)):
        people = [helpers.randomized(trial) for _ in range(6)]
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=27))):
        sweep(deliver=False)
        for i, person in enumerate(people):  # some answer the shared questionnaires, some only one of them
            visit = ScheduledAssessment.objects.get(participant=person, visit__code="week4")
            for code in ["phq9", "gad7", "gadq4", "wcs"][: 4 if i % 2 else 1]:
                answers = helpers.lowest_answers(code)
                response_submit(assessment=visit, instrument_code=code, answers=answers, source="api")
    with clock.use(clock.SimulatedClock(T0 + timedelta(days=40))):
        sweep(deliver=False)
    specific = arm_specific(trial)
    shown = dict(ScheduledAssessment.objects.annotate(shown=shown_status(specific)).values_list("pk", "shown"))
    answered: dict[int, set[str]] = {}
    for assessment_id, code in Response.objects.values_list("assessment_id", "instrument_code"):
        answered.setdefault(assessment_id, set()).add(code)
    for visit in ScheduledAssessment.objects.all():
        assert shown[visit.pk] == specific.shared_status(visit.visit_id, visit.status, answered.get(visit.pk, ()))
    stored = set(ScheduledAssessment.objects.filter(visit__code="week4").values_list("status", flat=True))
    seen = {shown[pk] for pk in ScheduledAssessment.objects.filter(visit__code="week4").values_list("pk", flat=True)}
    assert "missed" in stored and seen == {"completed", "missed"}
    # Knowing the arms, the stored status; and no visit of the reference trial is one arm's alone.
    assert shown_status(None).name == "status"  # type: ignore[union-attr]
    assert hidden_visits(specific) == frozenset()
