"""manage.py randomization_report: the design comes from a template or a trial, the figures from simulate()."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests import helpers
from trial.models import Trial
from trial.randomization import ArmSpec, FactorSpec
from trial.simulation import simulate

THERABOT_ARMS = (ArmSpec("chatbot", 1), ArmSpec("waitlist", 1))
THERABOT_FACTORS = (FactorSpec("condition", ("MDD", "GAD", "CHR-FED")),)


def report(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("randomization_report", *args, stdout=out, **options)
    return out.getvalue()


def report_json(*args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report(*args, "--json"))
    return data


def test_it_reports_the_figures_for_the_template() -> None:
    output = report("--simulate", "40", "--participants", "60", "--seed", "3")
    expected = simulate(
        method="stratified_block",
        arms=THERABOT_ARMS,
        factors=THERABOT_FACTORS,
        participants=60,
        simulations=40,
        block_sizes=(2, 4, 6),
        seed=3,
    )
    assert "template therabot" in output
    assert "chatbot 1, waitlist 1" in output
    assert "condition (MDD 33%, GAD 33%, CHR-FED 33%; uniform); 3 strata" in output
    assert "40 trials of 60 participants each; seed 3" in output
    lines = {line.split("  ")[0]: line for line in output.splitlines()}
    assert lines["Block sizes (one drawn per block)"].endswith("2, 4, 6")
    assert lines["Final imbalance: mean"].endswith(f"{expected.final_imbalance_mean:.2f}")
    assert lines["Final imbalance: worst"].endswith(f"{expected.final_imbalance_max:.0f}")
    assert lines["Within-stratum imbalance, summed: mean"].endswith(f"{expected.stratum_imbalance_mean:.2f}")
    assert lines["Correct guesses (rate +/- MC s.e.)"].endswith(
        f"{expected.correct_guess_rate:.4f} +/- {expected.correct_guess_rate_se:.4f}"
    )
    assert lines["Chance rate"].endswith("0.5000")
    assert lines["Excess correct guesses per trial"].endswith(f"{expected.excess_correct_guesses:.1f}")
    # The figures are explained.
    assert "sum over arms of |n_k - N r_k / R|" in output
    assert "|n_chatbot - n_waitlist|" in output
    assert "Blackwell-Hodges convergence strategy" in output


def test_its_json_matches_simulate_with_the_same_seed() -> None:
    data = report_json("--method", "minimization", "--simulate", "30", "--participants", "50", "--seed", "5")
    expected = simulate(
        method="minimization",
        arms=THERABOT_ARMS,
        factors=THERABOT_FACTORS,
        participants=50,
        simulations=30,
        minimization_probability=0.8,
        seed=5,
    )
    assert data["reports"] == [expected.as_dict()]
    assert data["design"]["arms"] == [{"code": "chatbot", "ratio": 1}, {"code": "waitlist", "ratio": 1}]
    assert data["design"]["factors"][0]["levels"] == ["MDD", "GAD", "CHR-FED"]
    assert data["design"]["method"] == "stratified_block"  # the template's; --method chose what ran


def test_compare_runs_all_three_methods_side_by_side() -> None:
    output = report("--compare", "--simulate", "20", "--participants", "40", "--seed", "9")
    header = next(line for line in output.splitlines() if "stratified_block" in line and "simple" in line)
    assert header.split() == ["stratified_block", "minimization", "simple"]
    data = report_json("--compare", "--simulate", "20", "--participants", "40", "--seed", "9")
    assert [r["method"] for r in data["reports"]] == ["stratified_block", "minimization", "simple"]
    for method, got in zip(("stratified_block", "minimization", "simple"), data["reports"], strict=True):
        expected = simulate(
            method=method,
            arms=THERABOT_ARMS,
            factors=THERABOT_FACTORS,
            participants=40,
            simulations=20,
            block_sizes=(2, 4, 6),
            seed=9,
        )
        assert got == expected.as_dict()


def test_options_override_the_design() -> None:
    data = report_json(
        "--method",
        "stratified_block",
        "--ratio",
        "chatbot=2",
        "--block-sizes",
        "6,3",
        "--level-shares",
        "condition=MDD:5,GAD:3,CHR-FED:2",
        "--simulate",
        "10",
        "--seed",
        "1",
    )
    assert data["design"]["arms"] == [{"code": "chatbot", "ratio": 2}, {"code": "waitlist", "ratio": 1}]
    assert data["design"]["factors"][0]["shares"] == pytest.approx([0.5, 0.3, 0.2])
    (got,) = data["reports"]
    assert got["block_sizes"] == [3, 6]
    assert got["chance_rate"] == pytest.approx(2 / 3)
    expected = simulate(
        method="stratified_block",
        arms=(ArmSpec("chatbot", 2), ArmSpec("waitlist", 1)),
        factors=(FactorSpec("condition", ("MDD", "GAD", "CHR-FED"), shares=(0.5, 0.3, 0.2)),),
        participants=210,
        simulations=10,
        block_sizes=(3, 6),
        seed=1,
    )
    assert got == expected.as_dict()
    minimization = report_json("--method", "minimization", "--probability", "0.9", "--simulate", "5", "--seed", "1")
    assert minimization["reports"][0]["minimization_probability"] == 0.9


def test_it_chooses_and_prints_a_seed_when_none_is_given() -> None:
    output = report("--method", "simple", "--simulate", "5", "--participants", "10")
    assert "chosen at random; pass --seed" in output
    data = report_json("--method", "simple", "--simulate", "5", "--participants", "10")
    assert isinstance(data["reports"][0]["seed"], int)


def test_it_leaves_out_the_templates_block_sizes_when_blocks_do_not_run() -> None:
    # Therabot's sizes 2, 4, 6 do not fit 2:1, but minimization does not use them.
    data = report_json("--method", "minimization", "--ratio", "chatbot=2", "--simulate", "5", "--seed", "1")
    assert data["reports"][0]["chance_rate"] == pytest.approx(2 / 3)


def test_it_reads_a_template_file(tmp_path: Path) -> None:
    path = tmp_path / "three_arms.json"
    path.write_text(
        json.dumps(
            {
                "randomization_method": "simple",
                "arms": [{"code": "a"}, {"code": "b"}, {"code": "c", "ratio": 2}],
                "factors": [],
            }
        )
    )
    data = report_json("--template", str(path), "--simulate", "5", "--seed", "2")
    assert data["reports"][0]["method"] == "simple"
    assert data["reports"][0]["chance_rate"] == pytest.approx(0.5)
    with pytest.raises(CommandError, match="has no block sizes; give --block-sizes"):
        report("--template", str(path), "--compare", "--simulate", "5")
    compared = report_json("--template", str(path), "--compare", "--block-sizes", "4,8", "--simulate", "5")
    assert compared["reports"][0]["block_sizes"] == [4, 8]


def test_it_refuses_a_malformed_template(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"arms": [{"name": "no code"}, {"code": "b"}]}))
    with pytest.raises(CommandError, match="cannot read the randomization design"):
        report("--template", str(path), "--simulate", "5")
    path.write_text(json.dumps({"arms": [{"code": "only"}]}))
    with pytest.raises(CommandError, match="1 arm"):
        report("--template", str(path), "--simulate", "5")


def test_it_takes_the_design_from_a_trial_in_the_database(trial: Trial) -> None:
    output = report("--trial", trial.slug, "--simulate", "5", "--seed", "1")
    assert f"trial {trial.slug} (recruiting)" in output
    assert "stratified_block" in output


def test_it_uses_the_trials_own_ratio_method_and_probability(db: None) -> None:
    arms = [
        {"code": "chatbot", "name": "Chatbot", "ratio": 2, "is_control": False},
        {"code": "waitlist", "name": "Waitlist", "ratio": 1, "is_control": True},
    ]
    trial = helpers.open_reference_trial(
        slug="mini",
        study_id_prefix="MN",
        arms=arms,
        block_sizes=[3, 6],
        randomization_method="minimization",
        minimization_probability=0.7,
    )
    data = report_json("--trial", trial.slug, "--simulate", "10", "--participants", "30", "--seed", "4")
    expected = simulate(
        method="minimization",
        arms=(ArmSpec("chatbot", 2), ArmSpec("waitlist", 1)),
        factors=THERABOT_FACTORS,
        participants=30,
        simulations=10,
        minimization_probability=0.7,
        seed=4,
    )
    assert data["reports"] == [expected.as_dict()]
    assert data["design"]["source"] == "trial mini (recruiting)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "permuted"], "Unknown randomization method 'permuted'"),
        (["--block-sizes", "2,3"], "--block-sizes: Block size 3 is not a positive multiple of 2"),
        (["--block-sizes", "2,,4"], "--block-sizes: '2,,4' has an empty item"),
        (["--block-sizes", "two"], "--block-sizes: 'two' is not a whole number"),
        (["--ratio", "chatbot=2"], "Block size 2 is not a positive multiple of 3"),
        (["--ratio", "robot=2"], "--ratio: unknown arm 'robot'; the arms are chatbot, waitlist"),
        (["--ratio", "chatbot"], "--ratio: 'chatbot' is not ARM=RATIO"),
        (["--ratio", "chatbot=0"], "--ratio chatbot: must be at least 1"),
        (["--ratio", "chatbot=1.5"], "--ratio chatbot: '1.5' is not a whole number"),
        (["--ratio", "chatbot=1,chatbot=2"], "--ratio: arm 'chatbot' is given twice"),
        (["--probability", "0.3"], "--probability: must be between 0.5 and 1, got 0.3"),
        (["--probability", "high"], "--probability: 'high' is not a number"),
        (["--simulate", "0"], "--simulate: must be at least 1"),
        (["--simulate", "many"], "--simulate: 'many' is not a whole number"),
        (["--participants", "-5"], "--participants: must be at least 1"),
        (["--seed", "abc"], "--seed: 'abc' is not a whole number"),
        (["--level-shares", "site=a:1"], "--level-shares: unknown factor 'site'; the factors are condition"),
        (
            ["--level-shares", "condition=MDD:1,GAD:1"],
            "--level-shares condition: give a share for every level; missing CHR-FED",
        ),
        (["--level-shares", "condition=MDD:1,GAD:1,PTSD:1"], "--level-shares condition: unknown level 'PTSD'"),
        (["--level-shares", "condition=MDD:1,GAD:x,CHR-FED:1"], "--level-shares condition GAD: 'x' is not a number"),
        (["--level-shares", "condition=MDD:1,GAD:-1,CHR-FED:1"], "a share cannot be negative"),
        (["--level-shares", "condition=MDD:0,GAD:0,CHR-FED:0"], "the shares must not all be zero"),
        (["--level-shares", "condition=MDD,GAD,CHR-FED"], "'MDD' is not LEVEL:SHARE"),
        (["--level-shares", "MDD:1"], "is not FACTOR=LEVEL:SHARE"),
        (["--template", "nope"], "No template 'nope'"),
        (["--trial", "a", "--template", "b"], "not allowed with argument --trial"),
    ],
)
def test_it_refuses_bad_input_naming_the_problem(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        report(*args, "--simulate", args[1] if args[0] == "--simulate" else "5")


def test_it_refuses_an_unknown_trial(db: None) -> None:
    with pytest.raises(CommandError, match="No trial with slug 'nope'"):
        report("--trial", "nope", "--simulate", "5")


def test_it_refuses_trial_and_template_given_as_keywords() -> None:
    with pytest.raises(CommandError, match="Give --trial or --template, not both"):
        report(trial="a", template="b", simulate=5)
