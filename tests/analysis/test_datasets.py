"""The wide and participant-level datasets and the data dictionary: ITT rows, A/B when blinded, nothing
that unblinds or identifies, values matching the long file, descriptions that name every variable."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from analysis import datasets
from assessments.models import Response, ScheduledAssessment
from assessments.scoring import score_instrument
from assessments.services.submission import response_correct, response_submit
from assessments.services.sweep import sweep
from participants.models import Allocation, ContactDetails
from participants.services import participant_withdraw
from participants.services.chatbot import engagement_record
from tests import helpers
from trial.models import AuditEvent, Role
from trial.services import trial_set_status
from trial.templates import read_template

pytestmark = pytest.mark.django_db


def _rows(trial, name, *, blinded=True) -> tuple[list[str], list[list]]:
    dataset, chunks = datasets.build(trial, name, blinded=blinded)
    rows = [row for chunk in chunks for row in chunk]
    assert dataset.n_rows == len(rows)
    for row in rows:
        assert len(row) == len(dataset.variables)
    return [v.name for v in dataset.variables], rows


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _answer(participant, visit_code, code="phq9", value=2):
    visit = ScheduledAssessment.objects.get(participant=participant, visit__code=visit_code)
    sweep(now=visit.opens_at, deliver=False)
    visit.refresh_from_db()
    answers = dict.fromkeys(helpers.lowest_answers(code), value) if code == "phq9" else helpers.lowest_answers(code)
    if code == "phq9":
        answers["phq9_9"] = 0
    response_submit(assessment=visit, instrument_code=code, answers=answers, source="api", now=visit.opens_at)


def test_wide_has_one_row_per_randomized_participant_matching_the_long_file(trial):
    a, b = helpers.randomized(trial, condition="GAD"), helpers.randomized(trial)
    helpers.enrolled(trial)  # not randomized: not in the analysis datasets
    _answer(a, "week4", value=2)
    names, rows = _rows(trial, "wide")
    assert [r[0] for r in rows] == sorted([a.study_id, b.study_id])
    assert names[:3] == ["participant_id", "arm", "condition"]
    assert "phq9_total_baseline" in names and "phq9_total_week8" in names and "week4_status" in names
    assert not any(n.startswith("waisr") for n in names)  # one-arm instrument: left out when blinded
    wide = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    assert wide[a.study_id]["phq9_total_week4"] == 16.0  # 8 items x 2, item 9 = 0
    # Submitted PHQ-9 only: the visit stays open for the rest, and has its first submission time.
    assert wide[a.study_id]["week4_status"] == "open" and wide[a.study_id]["week4_completed_at"] is not None
    assert wide[b.study_id]["phq9_total_week4"] is None and wide[b.study_id]["week4_status"] == "open"
    assert wide[a.study_id]["condition"] == "GAD" and wide[a.study_id]["arm"] in {"A", "B"}
    # The same numbers as the long file.
    long = {
        (r.participant_id, r.instrument, r.scale, r.visit): r.value for r in datasets.long_rows(trial, blinded=True)
    }
    for pid, row in wide.items():
        for name, value in row.items():
            for (p, code, scale, visit), v in long.items():
                if p == pid and name == f"{code}_{scale}_{visit}":
                    assert value == v, name


def test_unblinded_wide_has_the_alliance_columns_with_a_note(trial):
    helpers.randomized(trial)
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    dataset, _ = datasets.build(trial, "wide", blinded=False)
    waisr = [v for v in dataset.variables if v.name == "waisr_item_mean_week4"]
    assert waisr and "chatbot arm only" in waisr[0].missing


def test_items_has_a_row_per_participant_and_visit_and_a_column_per_item_key(trial):
    a, b = helpers.randomized(trial, condition="GAD"), helpers.randomized(trial)
    _answer(a, "week4", value=2)
    first = Response.objects.get(assessment__participant=a, assessment__visit__code="week4", instrument_code="phq9")
    corrected = {**first.answers, "phq9_3": 1}
    del corrected["phq9_4"]  # a correction may leave an item blank
    response_correct(response=first, answers=corrected, reason="Typed the wrong box", by=None)
    names, rows = _rows(trial, "items")
    phq9 = [f"phq9_{n}" for n in range(1, 11)]
    assert names[:7] == ["participant_id", "arm", "condition", "visit", "week", "status", "completed_at"]
    assert names[7:17] == phq9 and "gad7_7" in names and "gadq4_7_6" in names and "wcs_5" in names
    assert not any(n.startswith("waisr") for n in names)  # one-arm instrument: left out when blinded
    assert [(r[0], r[3]) for r in rows] == [
        (pid, visit) for pid in sorted([a.study_id, b.study_id]) for visit in ("baseline", "week4", "week8")
    ]
    by_key = {(r[0], r[3]): dict(zip(names, r, strict=True)) for r in rows}
    week4 = by_key[(a.study_id, "week4")]
    # The current version's answers: the correction's, with the item it left blank empty.
    assert [week4[k] for k in phq9[:9]] == [2, 2, 1, None, 2, 2, 2, 2, 0]
    assert week4["status"] == "open" and week4["week"] == 4 and week4["completed_at"] == first.submitted_at
    assert week4["gad7_1"] is None  # not answered yet
    baseline = by_key[(a.study_id, "baseline")]
    assert baseline["status"] == "completed"
    assert {k: baseline[k] for k in helpers.lowest_answers("gad7")} == helpers.lowest_answers("gad7")
    assert by_key[(b.study_id, "week8")]["status"] == "scheduled"
    assert all(by_key[(b.study_id, "week8")][k] is None for k in names[7:])
    # The scores in the long file are those of these answers (PHQ-9 prorated over the 8 answered items).
    long = {
        (r.participant_id, r.visit, r.instrument, r.scale): r.value for r in datasets.long_rows(trial, blinded=True)
    }
    assert (
        long[(a.study_id, "week4", "phq9", "total")]
        == score_instrument("phq9", {k: week4[k] for k in phq9 if week4[k] is not None}).total
    )


def test_unblinded_items_have_the_alliance_items_and_the_csv_streams(api, blinded_statistician, trial):
    helpers.randomized(trial)
    rows = _csv(api(blinded_statistician).get("/api/v1/trials/therabot/exports/items.csv"))
    assert len(rows) == 3 and "phq9_9" in rows[0] and "waisr_1" not in rows[0]
    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    dataset, _ = datasets.build(trial, "items", blinded=False)
    waisr = [v for v in dataset.variables if v.name == "waisr_1"]
    assert waisr and "chatbot arm only" in waisr[0].missing and waisr[0].label == "WAI-SR item 1"


def test_the_participant_file_has_everyone_enrolled_and_engagement_only_when_unblinded(trial):
    chatbot = None
    people = [helpers.randomized(trial) for _ in range(6)]
    for p in people:
        if Allocation.objects.get(participant=p).arm.code == "chatbot":
            chatbot = p
    assert chatbot is not None
    ContactDetails.objects.filter(participant=chatbot).update(timezone="America/New_York")
    # 23:00 and 03:00 UTC fall on two UTC days but one New York evening; the third session is the next day.
    start = (timezone.now() - timedelta(days=5)).replace(hour=3, minute=0, second=0, microsecond=0)
    for i, (hours, minutes) in enumerate([(-4, 30), (0, 60), (24, 15)]):
        began = start + timedelta(hours=hours)
        engagement_record(
            trial=trial, study_id=chatbot.study_id, session_id=f"s{i}", started_at=began,
            ended_at=began + timedelta(minutes=minutes), participant_messages=10, bot_messages=12,
        )  # fmt: skip
    waiting = helpers.enrolled(trial, condition="CHR-FED")
    participant_withdraw(participant=waiting, reason="Changed her mind", by=None)
    names, rows = _rows(trial, "participants")
    assert len(rows) == 7 and "sessions" not in names  # blinded: engagement would tell the arms apart
    by_id = {r[0]: dict(zip(names, r, strict=True)) for r in rows}
    left = by_id[waiting.study_id]
    assert left["arm"] is None and left["status"] == "withdrawn" and left["ended_reason"] == "Changed her mind"
    assert left["condition"] == "CHR-FED" and left["consented_at"] is not None and left["randomized_at"] is None
    for forbidden in ("full_name", "email", "phone", "timezone"):
        assert forbidden not in names

    trial_set_status(trial=trial, status="closed", by=None)
    trial_set_status(trial=trial, status="locked", by=None)
    names, rows = _rows(trial, "participants", blinded=False)
    row = next(dict(zip(names, r, strict=True)) for r in rows if r[0] == chatbot.study_id)
    assert row["arm"] == "chatbot" and row["sessions"] == 3
    assert row["participant_messages"] == 30 and row["bot_messages"] == 36
    assert row["hours"] == pytest.approx(105 / 60)
    assert row["active_days"] == 2  # days in the participant's calendar (3 in UTC)
    assert row["first_session_at"] == start - timedelta(hours=4)


def test_the_dictionary_describes_every_column_with_labels(api, blinded_statistician, trial):
    helpers.randomized(trial)
    described = {d.name: d for d in datasets.describe(trial, blinded=True)}
    assert set(described) == {"long", "wide", "participants", "items", "adverse_events"}
    arm = next(v for v in described["long"].variables if v.name == "arm")
    assert arm.kind == "category" and [c[1] for c in arm.categories] == ["A", "B"]
    condition = next(v for v in described["long"].variables if v.name == "condition")
    assert [c[1] for c in condition.categories] == ["MDD", "GAD", "CHR-FED"]
    response = api(blinded_statistician).get("/api/v1/trials/therabot/exports/dictionary.json")
    assert response.status_code == 200
    body = json.loads(response.content)
    text = json.dumps(body)
    assert "phq9_total_week4" in text and "Major depressive disorder" in text and "Arm A" in text
    assert "chatbot" not in text.lower().replace("chatbot arm only", "")  # blinded: arm names are hidden
    csv_response = api(blinded_statistician).get("/api/v1/trials/therabot/exports/dictionary.csv")
    assert csv_response.status_code == 200 and b"participant_id" in csv_response.content
    assert api(blinded_statistician).get("/api/v1/trials/therabot/exports/dictionary.xml").status_code == 400
    # Audited as every export is: what was sent can be matched to the audit trail by its SHA-256.
    audited = AuditEvent.objects.filter(action="export.dictionary").order_by("at", "pk")
    assert [e.changes["sha256"][1] for e in audited] == [
        hashlib.sha256(r.content).hexdigest() for r in (response, csv_response)
    ]
    variables = sum(len(d.variables) for d in described.values())
    assert [e.changes["rows"][1] for e in audited] == [variables, variables]
    assert len(csv_response.content.decode().splitlines()) == variables + 1  # a header and a row per variable


def test_wide_and_participants_stream_as_csv_with_the_same_rules(api, blinded_statistician, coordinator, trial):
    p = helpers.randomized(trial)
    rows = _csv(api(blinded_statistician).get("/api/v1/trials/therabot/exports/wide.csv"))
    assert [r["participant_id"] for r in rows] == [p.study_id] and rows[0]["arm"] in {"A", "B"}
    rows = _csv(api(blinded_statistician).get("/api/v1/trials/therabot/exports/participants.csv"))
    assert rows[0]["status"] == "randomized"
    assert (
        api(blinded_statistician).get("/api/v1/trials/therabot/exports/wide.csv", {"unblinded": "1"}).status_code == 403
    )
    assert api(coordinator).get("/api/v1/trials/therabot/exports/wide.csv").status_code == 403
    response = api(blinded_statistician).get("/api/v1/trials/therabot/exports/contacts.csv")
    assert response.status_code == 400 and "No dataset 'contacts'" in response.json()["detail"]


def test_a_chunks_id_filter_takes_more_ids_than_sqlites_parameter_limit(trial):
    """The datasets find a chunk's visits and responses by their ids, passed as one parameter: a protocol of
    daily visits gives a chunk more ids than SQLite's limit on parameters (32,766 in most builds, 250,000 in
    Debian's)."""
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext

    from analysis.datasets.source import _IdIn

    participants = [helpers.enrolled(trial), helpers.enrolled(trial)]
    ids = [participants[0].pk, *range(10**9, 10**9 + 300_000), participants[1].pk]
    with CaptureQueriesContext(connection) as queries:
        found = set(ScheduledAssessment.objects.filter(_IdIn(F("participant_id"), ids)).values_list("participant_id"))
    assert found == {(p.pk,) for p in participants}
    assert len(queries.captured_queries) == 1
    assert not ScheduledAssessment.objects.filter(_IdIn(F("participant_id"), [])).exists()


def _locked(trial):
    trial_set_status(trial=trial, status="closed", by=None)
    return trial_set_status(trial=trial, status="locked", by=None)


def test_unblinded_items_fill_the_alliance_items_of_the_chatbot_arm_only(trial):
    people = [helpers.randomized(trial) for _ in range(6)]  # a whole block at most: both arms
    for person in people:
        _answer(person, "week4", value=1)
        if person.allocation.arm.code == "chatbot":
            _answer(person, "week4", code="waisr")
    names, rows = _rows(_locked(trial), "items", blinded=False)
    week4 = {r[0]: dict(zip(names, r, strict=True)) for r in rows if r[3] == "week4"}
    waisr = helpers.lowest_answers("waisr")
    for person in people:
        row = week4[person.study_id]
        assert row["arm"] == person.allocation.arm.code and row["phq9_1"] == 1
        expected = waisr if row["arm"] == "chatbot" else dict.fromkeys(waisr)
        assert {k: row[k] for k in waisr} == expected
    _, blinded_rows = _rows(trial, "items")
    blinded_names = datasets.build(trial, "items", blinded=True)[0].variables
    assert not any(v.name.startswith("waisr") for v in blinded_names) and len(blinded_rows) == len(rows)


def test_a_visit_that_only_one_arm_has_is_not_in_blinded_files_or_views(api, db):
    visits = read_template("therabot")["visits"] + [
        {"code": "week6", "name": "Week 6 (chatbot arm)", "week": 6, "anchor": "randomization", "offset_days": 42,
         "window_before_days": 3, "window_after_days": 7, "instruments": [{"code": "waisr", "arm": "chatbot"}]},
    ]  # fmt: skip
    trial = helpers.open_reference_trial(slug="onearm", study_id_prefix="OA", visits=visits)
    people = [helpers.randomized(trial) for _ in range(6)]
    assert {p.allocation.arm.code for p in people} == {"chatbot", "waitlist"}
    # Only the chatbot arm is scheduled for week 6: a blinded file with its status would tell the letters apart.
    wide_names, _ = _rows(trial, "wide")
    assert "week6_status" not in wide_names
    _, item_rows = _rows(trial, "items")
    assert {r[3] for r in item_rows} == {"baseline", "week4", "week8"}
    statistician = get_user_model().objects.create_user(username="bea", email="bea@example.org")
    helpers.grant(trial, statistician, Role.BLINDED_STATISTICIAN)
    chatbot = next(p for p in people if p.allocation.arm.code == "chatbot")
    visits_seen = api(statistician).get(f"/api/v1/trials/onearm/participants/{chatbot.pk}/assessments/").json()
    assert [v["visit"] for v in visits_seen] == ["baseline", "week4", "week8"]
    # Unblinded, the visit is there for those who have it.
    _, unblinded_rows = _rows(_locked(trial), "items", blinded=False)
    assert "chatbot" in {r[1] for r in unblinded_rows if r[3] == "week6"}


def test_blinded_a_visit_is_complete_once_every_arms_questionnaires_are_in(api, blinded_statistician, trial):
    # The chatbot arm also fills the WAI-SR at week 4, so its visit completes later (or is missed without it):
    # shown as stored, the status would tell the letters apart.
    from analysis.consort import consort_counts

    people = [helpers.randomized(trial) for _ in range(6)]  # a whole block at most: both arms
    for person in people:
        for code in ("phq9", "gad7", "gadq4", "wcs"):
            _answer(person, "week4", code=code)
    stored = set(
        ScheduledAssessment.objects.filter(visit__code="week4").values_list(
            "participant__allocation__arm__code", "status"
        )
    )
    assert stored == {("chatbot", "open"), ("waitlist", "completed")}
    names, rows = _rows(trial, "wide")
    assert {dict(zip(names, r, strict=True))["week4_status"] for r in rows} == {"completed"}
    names, rows = _rows(trial, "items")
    assert {r[names.index("status")] for r in rows if r[3] == "week4"} == {"completed"}
    flow = consort_counts(trial, instrument="phq9")
    week4 = flow["follow_up"][0]
    allocated = {arm: c["allocated"] for arm, c in flow["allocation"].items()}
    assert week4["visit"] == "week4" and {arm: c["completed"] for arm, c in week4["arms"].items()} == allocated
    assert all(c["pending"] == 0 for c in week4["arms"].values())
    for person in people:
        visits = api(blinded_statistician).get(f"/api/v1/trials/therabot/participants/{person.pk}/assessments/").json()
        shown = next(v for v in visits if v["visit"] == "week4")
        assert shown["status"] == "completed" and shown["completed_at"] and shown["reminders_sent"] is None
    # Those who see the arms see the visits as they are.
    names, rows = _rows(_locked(trial), "wide", blinded=False)
    assert {(r[1], dict(zip(names, r, strict=True))["week4_status"]) for r in rows} == stored
