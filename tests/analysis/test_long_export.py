"""The long export (DESIGN.md contract): every randomized participant's every protocol row, answered or
not; arms as A/B unless unblinded by the right role after lock; no contact details; audited with its
hash; built a chunk of participants at a time."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analysis.datasets import long_header, long_rows
from assessments.models import Response, ScheduledAssessment
from assessments.services.submission import response_correct
from participants.models import Allocation
from tests import helpers
from trial.models import AuditEvent
from trial.services import trial_set_status

pytestmark = pytest.mark.django_db

URL = "/api/v1/trials/therabot/exports/long.csv"


def _read(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_header_follows_the_contract(trial):
    assert long_header(trial) == [
        "participant_id", "arm", "condition", "visit", "week", "instrument", "scale", "value", "completed_at",
    ]  # fmt: skip


def test_every_randomized_participant_has_every_row_answered_or_not(api, blinded_statistician, trial):
    participant = helpers.randomized(trial, condition="GAD")
    helpers.enrolled(trial)  # not randomized: not in the analysis dataset
    rows = _read(api(blinded_statistician).get(URL))
    assert {r["participant_id"] for r in rows} == {participant.study_id}
    by_visit = {}
    for r in rows:
        by_visit.setdefault(r["visit"], set()).add((r["instrument"], r["scale"]))
    assert set(by_visit) == {"baseline", "week4", "week8"}
    assert ("phq9", "total") in by_visit["week8"]
    week8 = [r for r in rows if r["visit"] == "week8"]
    assert all(r["value"] == "" and r["completed_at"] == "" for r in week8)  # ITT: present, missing
    baseline_phq9 = next(
        r for r in rows if r["visit"] == "baseline" and r["instrument"] == "phq9" and r["scale"] == "total"
    )
    assert (baseline_phq9["value"], baseline_phq9["week"], baseline_phq9["condition"]) == ("0", "0", "GAD")
    assert baseline_phq9["completed_at"] != ""


def test_a_blinded_export_shows_letters_and_hides_arm_specific_questionnaires(api, blinded_statistician, trial):
    for _ in range(6):
        helpers.randomized(trial)
    rows = _read(api(blinded_statistician).get(URL))
    assert {r["arm"] for r in rows} <= {"A", "B"}
    assert "waisr" not in {r["instrument"] for r in rows}  # only the chatbot arm has it: it would unblind


def test_an_unblinded_export_needs_the_role_and_a_locked_trial(
    api, blinded_statistician, unblinded_statistician, trial
):
    participant = helpers.randomized(trial)
    assert api(unblinded_statistician).get(URL, {"unblinded": "true"}).status_code == 403  # still recruiting
    assert api(blinded_statistician).get(URL, {"unblinded": "true"}).status_code == 403
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    assert api(blinded_statistician).get(URL, {"unblinded": "true"}).status_code == 403
    rows = _read(api(unblinded_statistician).get(URL, {"unblinded": "true"}))
    arm = Allocation.objects.get(participant=participant).arm.code
    assert {r["arm"] for r in rows} == {arm}
    assert ("waisr" in {r["instrument"] for r in rows}) == (arm == "chatbot")


def test_roles_without_export_get_403_and_outsiders_404(api, coordinator, clinician, outsider, trial):
    assert api(coordinator).get(URL).status_code == 403
    assert api(clinician).get(URL).status_code == 403
    assert api(outsider).get(URL).status_code == 404


def test_contact_details_never_appear(api, investigator, trial):
    helpers.randomized(trial)
    body = b"".join(api(investigator).get(URL).streaming_content).decode()
    assert "jamie" not in body.lower() and "Doe" not in body


def test_a_corrected_value_is_exported_with_the_first_submission_time(api, blinded_statistician, coordinator, trial):
    participant = helpers.randomized(trial)
    original = Response.objects.get(assessment__participant=participant, instrument_code="phq9")
    response_correct(response=original, answers={**original.answers, "phq9_1": 3}, reason="Paper form", by=coordinator)
    rows = _read(api(blinded_statistician).get(URL))
    total = next(r for r in rows if r["visit"] == "baseline" and r["instrument"] == "phq9" and r["scale"] == "total")
    assert total["value"] == "3"
    assert total["completed_at"] == original.submitted_at.isoformat()


def test_every_export_is_audited_with_the_hash_of_what_was_sent(api, blinded_statistician, trial):
    helpers.randomized(trial)
    response = api(blinded_statistician).get(URL)
    body = b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="export.long")
    assert event.actor == blinded_statistician
    assert event.changes["sha256"] == [None, hashlib.sha256(body).hexdigest()]
    assert event.changes["rows"][1] == body.count(b"\n") - 1
    assert "long-blinded" in response["Content-Disposition"]


def test_the_dataset_is_built_in_chunks_with_a_fixed_number_of_queries_each(trial):
    for _ in range(7):
        helpers.randomized(trial)
    everything = [r.as_list() for r in long_rows(trial, blinded=True, chunk=1000)]
    with CaptureQueriesContext(connection) as captured:
        chunked = [r.as_list() for r in long_rows(trial, blinded=True, chunk=3)]
    assert chunked == everything  # chunking changes nothing
    assert len(captured) <= 6 + 3 * 3  # setup, then three queries per chunk of participants


def test_the_command_writes_the_same_file(trial, tmp_path):
    helpers.randomized(trial)
    out = tmp_path / "long.csv"
    call_command("export_long", "--trial", "therabot", "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert rows and {r["arm"] for r in rows} <= {"A", "B"}
    assert ScheduledAssessment.objects.exists()
