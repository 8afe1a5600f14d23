"""Imports: every row checked, all or nothing, every problem named with its row; scored and checked
for safety like any other write path."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from assessments.models import Response
from participants.models import SafetyAlert
from tests import helpers

pytestmark = pytest.mark.django_db

HEADER = (
    "participant_id,visit,instrument,"
    + ",".join(f"phq9_{n}" for n in range(1, 11))
    + ","
    + ",".join(f"gad7_{n}" for n in range(1, 8))
)


def _csv(tmp_path, *rows: str):
    path = tmp_path / "paper_forms.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_it_imports_and_scores_paper_forms(tmp_path, trial, clinician, capsys):
    first, second = helpers.enrolled(trial), helpers.enrolled(trial)
    path = _csv(
        tmp_path,
        f"{first.study_id},baseline,phq9,2,2,1,1,2,1,1,0,0,,,,,,,,",
        f"{first.study_id},baseline,gad7,,,,,,,,,,,1,1,1,1,1,1,1",
        f"{second.study_id},baseline,phq9,0,0,0,0,0,0,0,0,2,1,,,,,,,",
    )
    call_command("import_responses", str(path), "--trial", "therabot")
    assert "3 rows, 3 responses recorded" in capsys.readouterr().out
    assert Response.objects.get(assessment__participant=first, instrument_code="phq9").total == 10
    assert Response.objects.get(assessment__participant=first, instrument_code="gad7").total == 7
    imported = Response.objects.get(assessment__participant=second, instrument_code="phq9")
    assert (imported.source, imported.answers["phq9_10"]) == ("import", 1)
    assert SafetyAlert.objects.get().participant == second  # item 9 = 2 from an import alerts too
    call_command("import_responses", str(path), "--trial", "therabot")  # the same file again: nothing new
    assert Response.objects.count() == 3


def test_one_bad_row_imports_nothing_and_every_problem_is_named(tmp_path, trial, capsys):
    participant = helpers.enrolled(trial)
    path = _csv(
        tmp_path,
        f"{participant.study_id},baseline,phq9,2,2,1,1,2,1,1,0,0,,,,,,,,",
        f"{participant.study_id},baseline,gad7,,,,,,,,,,,1,1,9,1,1,1,1",
        "TB-9999,baseline,phq9,0,0,0,0,0,0,0,0,0,,,,,,,,",
        f"{participant.study_id},week4,phq9,0,0,0,0,0,0,0,0,0,,,,,,,,",
        f"{participant.study_id},baseline,bdi2,,,,,,,,,,,,,,,,,",
        f"{participant.study_id},baseline,scoff,x,,,,,,,,,,,,,,,,",
    )
    with pytest.raises(CommandError, match="5 problem"):  # rows 3 to 7
        call_command("import_responses", str(path), "--trial", "therabot")
    err = capsys.readouterr().err
    assert "row 3:" in err and "gad7_3" in err
    assert "row 4: no visit 'baseline' scheduled for participant 'TB-9999'" in err
    assert "row 5: no visit 'week4'" in err
    assert "row 6: unknown instrument 'bdi2'" in err
    assert "row 7: phq9_1 filled in, but the row is for scoff" in err
    assert not Response.objects.exists()


def test_a_file_with_unknown_columns_is_refused(tmp_path, trial):
    path = tmp_path / "x.csv"
    path.write_text("participant_id,visit,instrument,phq9_1,mood\nTB-0001,baseline,phq9,1,3\n")
    with pytest.raises(CommandError, match="mood are not item keys"):
        call_command("import_responses", str(path), "--trial", "therabot")
    path.write_text("study,visit\n")
    with pytest.raises(CommandError, match=r"missing column.s. participant_id, instrument"):
        call_command("import_responses", str(path), "--trial", "therabot")


def test_a_refused_file_writes_nothing_but_its_risk_signals_still_alert(tmp_path, trial, clinician):
    participant = helpers.enrolled(trial)
    path = _csv(
        tmp_path,
        f"{participant.study_id},baseline,phq9,0,0,0,0,0,0,0,0,3,,,,,,,,",  # item 9 = 3, a valid row
        f"{participant.study_id},baseline,gad7,,,,,,,,,,,1,1,9,1,1,1,1",  # gad7_3 = 9: the file is refused
    )
    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_responses", str(path), "--trial", "therabot")
    assert not Response.objects.exists()
    alert = SafetyAlert.objects.get()
    assert (alert.participant, alert.flag, alert.urgent) == (participant, "suicidal_ideation_severe", True)
    assert alert.details["recorded"] is False and "paper_forms.csv, not imported" in alert.details["why"]


def _alerts():
    return sorted(SafetyAlert.objects.values_list("participant__study_id", "flag", "details__recorded"))


def test_a_row_refused_before_its_answers_were_read_still_raises_its_item_9(tmp_path, trial, clinician, capsys):
    people = [helpers.enrolled(trial) for _ in range(5)]
    ids = [p.study_id for p in people]
    path = _csv(
        tmp_path,
        f"{ids[0]},baseline,phq9,0,0,0,0,0,0,0,0,2,,1,,,,,,",  # gad7_1 filled on a PHQ-9 row
        f"{ids[1]},baseline,phq9,0,0,x,0,0,0,0,0,3,,,,,,,,",  # a cell that is not a number
        f"{ids[2]},baseline,phq9,0,0,9,0,0,0,0,0,1,,,,,,,,",  # item 3 is not one of its values
        f"{ids[3]},baseline,gad7,,,,,,,,,2,,1,1,1,1,1,1,1",  # a PHQ-9 item 9 on a GAD-7 row
        f"{ids[4]},baseline,phq9,0,0,0,0,0,0,0,0,Infinity,,,,,,,,",  # item 9 unreadable: nothing to raise
        "TB-9999,baseline,phq9,0,0,0,0,0,0,0,0,3,,,,,,,,",  # nobody's
        f"{ids[4]},baseline",  # a short row
        f"{ids[4]},baseline,phq9,0,0,0,0,0,0,0,0,0,,,,,,,,,,",  # a long one
    )
    with pytest.raises(CommandError, match="8 problem"):
        call_command("import_responses", str(path), "--trial", "therabot")
    err = capsys.readouterr().err
    assert "row 8: " in err and "row 9: more cells than the header has columns" in err
    assert not Response.objects.exists()
    assert _alerts() == [
        (ids[0], "suicidal_ideation", False),
        (ids[1], "suicidal_ideation_severe", False),
        (ids[2], "suicidal_ideation", False),
        (ids[3], "suicidal_ideation", False),
    ]


def test_a_file_refused_for_its_header_still_raises_its_rows_item_9(tmp_path, trial, clinician):
    participant = helpers.enrolled(trial)
    path = tmp_path / "x.csv"
    path.write_text(f"participant_id,visit,instrument,phq9_9,mood\n{participant.study_id},baseline,phq9,3,low\n")
    with pytest.raises(CommandError, match="mood are not item keys"):
        call_command("import_responses", str(path), "--trial", "therabot")
    alert = SafetyAlert.objects.get()
    assert (alert.participant, alert.flag, alert.details["recorded"]) == (
        participant,
        "suicidal_ideation_severe",
        False,
    )
    assert "x.csv, not imported" in alert.details["why"]
    path.write_text(f"participant_id,phq9_9\n{participant.study_id},3\n")  # no visit: nobody's answers to a visit
    with pytest.raises(CommandError, match="missing column"):
        call_command("import_responses", str(path), "--trial", "therabot")
    assert SafetyAlert.objects.count() == 1
