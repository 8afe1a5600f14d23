"""Adverse events leave the platform as a dataset (blinded: A/B, no relatedness, no free text; unblinded
only when the trial's blinding allows) and as counts in the report (by arm unblinded, pooled blinded)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from analysis import datasets
from analysis.adverse_events import adverse_event_counts
from analysis.report import render_report
from participants.services.adverse_events import adverse_event_record
from tests import helpers
from trial import clock
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db

ARM_WORDS = ("chatbot", "waitlist", "Therapy", "Waitlist")


def _event(participant: Any, by: Any = None, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "description": "Felt worse after the chatbot suggested journaling",
        "onset_date": clock.now().date() - timedelta(days=2),
        "severity": "mild",
        "relatedness": "possible",
        "outcome": "recovering",
        "action_taken": "Call booked",
    }
    return adverse_event_record(participant=participant, by=by, **{**values, **overrides})


def _csv(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def events(trial: Any) -> dict[str, Any]:
    a, b = helpers.randomized(trial), helpers.randomized(trial)
    enrolled_only = helpers.enrolled(trial)
    _event(a)
    _event(a, seriousness=["hospitalisation"], severity="severe", onset_date=clock.now().date() - timedelta(days=5))
    _event(b, relatedness="not_related")
    _event(enrolled_only)
    return {"a": a, "b": b, "enrolled": enrolled_only}


def test_the_blinded_dataset_has_letters_and_no_relatedness_or_free_text(trial: Any, events: Any) -> None:
    dataset, chunks = datasets.build(trial, "adverse_events", blinded=True)
    names = [v.name for v in dataset.variables]
    assert names[:6] == ["participant_id", "arm", "event", "onset_date", "severity", "serious"]
    assert "serious_hospitalisation" in names and "outcome" in names and "resolved_date" in names
    assert not {"relatedness", "description", "action_taken"} & set(names)
    rows = [dict(zip(names, row, strict=True)) for chunk in chunks for row in chunk]
    assert dataset.n_rows == len(rows) == 4
    a_rows = [r for r in rows if r["participant_id"] == events["a"].study_id]
    assert [(r["event"], r["serious"], r["serious_hospitalisation"]) for r in a_rows] == [(1, 1, 1), (2, 0, 0)]
    assert {r["arm"] for r in rows} <= {"A", "B", None}
    assert [r["arm"] for r in rows if r["participant_id"] == events["enrolled"].study_id] == [None]


def test_the_unblinded_dataset_adds_relatedness_and_text_and_real_arms(trial: Any, events: Any) -> None:
    dataset, chunks = datasets.build(trial, "adverse_events", blinded=False)
    names = [v.name for v in dataset.variables]
    assert names[-3:] == ["relatedness", "description", "action_taken"]
    rows = [dict(zip(names, row, strict=True)) for chunk in chunks for row in chunk]
    assert {r["arm"] for r in rows} - {None} <= {"chatbot", "waitlist"}
    assert {r["relatedness"] for r in rows} == {"possible", "not_related"}


def test_the_csv_export_follows_the_blinding_rules_and_carries_no_contact_details(
    api: Any, trial: Any, events: Any, blinded_statistician: Any, unblinded_statistician: Any, coordinator: Any
) -> None:
    url = f"/api/v1/trials/{trial.slug}/exports/adverse_events.csv"
    response = api(blinded_statistician).get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert "jamie@example.org" not in body and "Jamie Doe" not in body
    assert not [w for w in ARM_WORDS if w in body]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 4 and {r["arm"] for r in rows} <= {"A", "B", ""}
    assert api(unblinded_statistician).get(url, {"unblinded": "1"}).status_code == 403  # still recruiting
    assert api(coordinator).get(url).status_code == 403
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    unblinded = _csv(api(unblinded_statistician).get(url, {"unblinded": "1"}))
    assert {r["arm"] for r in unblinded} - {""} <= {"chatbot", "waitlist"}
    assert "Felt worse after the chatbot suggested journaling" in {r["description"] for r in unblinded}


def test_the_dictionary_describes_the_adverse_events_dataset(api: Any, trial: Any, blinded_statistician: Any) -> None:
    described = {d.name: d for d in datasets.describe(trial, blinded=True)}
    assert "adverse_events" in described
    assert all(v.label for v in described["adverse_events"].variables)


def test_the_unblinded_report_counts_adverse_events_by_arm(trial: Any, events: Any) -> None:
    counts = adverse_event_counts(trial, blinded=False)
    assert counts["columns"] == ["chatbot", "waitlist", "Total"]
    total = counts["counts"]["Total"]
    assert (total["participants"], total["events"], total["participants_with_event"]) == (3, 4, 3)
    assert (total["serious_events"], total["participants_with_serious_event"]) == (1, 1)
    arms = [counts["counts"][arm] for arm in ("chatbot", "waitlist")]
    assert sum(c["events"] for c in arms) == 3 and sum(c["participants"] for c in arms) == 2
    assert sum(c["serious_events"] for c in arms) == 1
    html = render_report({"title": "t", "blinded": False, "outcomes": [], "adverse_events": counts})
    assert 'id="safety"' in html and "Serious adverse events" in html and "chatbot" in html
    assert "1 (33.3%)" in html  # participants with a serious event, of 3 enrolled


def test_the_blinded_report_pools_adverse_events(trial: Any, events: Any) -> None:
    counts = adverse_event_counts(trial, blinded=True)
    assert counts["columns"] == ["Total"] and counts["pooled"]
    html = render_report({"title": "t", "blinded": True, "outcomes": [], "adverse_events": counts})
    assert "pooled over arms" in html
    assert not [w for w in ARM_WORDS if w in html] and "Arm A" not in html


@pytest.mark.parametrize("fmt", ["csv", "parquet", "stata", "spss"])
@pytest.mark.parametrize("blinded", [True, False])
def test_every_format_writes_the_adverse_events_dataset(trial: Any, fmt: str, blinded: bool, tmp_path: Any) -> None:
    from analysis.formats import write_dataset

    participant = helpers.randomized(trial)
    _event(participant, outcome="recovered", resolved_date=clock.now().date())
    dataset, chunks = datasets.build(trial, "adverse_events", blinded=blinded)
    with (tmp_path / f"ae.{fmt}").open("wb") as handle:
        result = write_dataset(dataset, chunks, handle, fmt)
    assert result.rows == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet", "stata", "spss"])
def test_a_trial_without_adverse_events_writes_an_empty_file(trial: Any, fmt: str, tmp_path: Any) -> None:
    from analysis.formats import write_dataset

    dataset, chunks = datasets.build(trial, "adverse_events", blinded=False)
    with (tmp_path / f"ae.{fmt}").open("wb") as handle:
        assert write_dataset(dataset, chunks, handle, fmt).rows == 0
