"""Reads of scheduled visits, as a reader who may or may not know the arms sees them, in the database.

``assessments.blinding.ArmSpecific.shared_status`` says, row by row, what status a reader who must not know
the arm sees. Pages that count visits over a whole trial need the same answer inside one query, whatever
the number of participants: ``shown_status`` is that rule as an SQL expression, and ``hidden_visits`` the
visits only some arms have (no questionnaire every arm fills), which such a reader must not see at all.
"""

from __future__ import annotations

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, Value, When

from assessments.blinding import ArmSpecific
from assessments.models import AssessmentStatus, Response

# A visit in these states completes, for a reader blind to the arm, once every arm's questionnaires are in.
_MAY_LOOK_COMPLETED = (AssessmentStatus.OPEN, AssessmentStatus.MISSED, AssessmentStatus.CANCELLED)


def hidden_visits(specific: ArmSpecific | None) -> frozenset[int]:
    """VisitDefinition ids a reader blind to the arm must not see: only some arms are scheduled for them."""
    if specific is None:
        return frozenset()
    return frozenset(visit for visit in specific.visits if not specific.shared.get(visit))


def shown_status(specific: ArmSpecific | None) -> F | Case:
    """The status of a ScheduledAssessment row as the reader sees it (``None``: the reader knows the arm,
    the stored status). Use it in ``alias()`` and filter or count on the alias."""
    if specific is None:
        return F("status")
    whens = []
    for visit_id in sorted(specific.visits):
        shared = specific.shared.get(visit_id, ())
        if not shared:
            continue
        answered = [Exists(Response.objects.filter(assessment=OuterRef("pk"), instrument_code=code)) for code in shared]
        condition = Q(*answered, visit_id=visit_id, status__in=_MAY_LOOK_COMPLETED)
        whens.append(When(condition, then=Value(AssessmentStatus.COMPLETED)))
    if not whens:
        return F("status")
    return Case(*whens, default=F("status"), output_field=CharField())
