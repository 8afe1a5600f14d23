"""The demo's console summary says what each number is: the number analysed (not randomized), the
difference of the published mean changes (not a published MMRM estimate), and d beside the published d
of that visit with what the two are and why GAD's differs."""

from __future__ import annotations

from typing import Any

from analysis.management.commands.simulation_summary import summary_lines


def _outcome() -> dict[str, Any]:
    change = [
        {"week": week, "arm": arm, "n": n, "mean_change": mean}
        for week, arm, n, mean in [
            (4, "chatbot", 30, -6.0), (4, "waitlist", 28, -2.5), (8, "chatbot", 25, -8.0), (8, "waitlist", 21, -4.0),
        ]
    ]  # fmt: skip
    return {
        "instrument": "phq9",
        "primary": True,
        "subgroup": {"level": "MDD"},
        "error": None,
        "n_participants": 70,  # randomized in the subgroup: not what the rows show
        "within_arm_change": change,
        "effect_sizes": [{"week": 4, "cohens_d": -0.9}, {"week": 8, "cohens_d": -1.2}],
        "mmrm": {
            "visits": [
                {"week": 4, "estimate": -3.4, "ci_low": -5.0, "ci_high": -1.8},
                {"week": 8, "estimate": -3.9, "ci_low": -5.9, "ci_high": -1.9},
            ]
        },
    }


def test_the_summary_names_its_numbers_honestly() -> None:
    lines = summary_lines({"outcomes": [_outcome()]})
    head = lines[0]
    assert "analysed" in head and "diff. of published changes" in head and "published d" in head
    assert " n " not in head
    week4, week8 = lines[2], lines[3]
    assert "30/28" in week4 and "25/21" in week8 and " 70 " not in week4
    assert "-3.50" in week4 and "-3.71" in week8  # -6.13 - -2.63, -7.93 - -4.22: the published changes
    assert week4.endswith("-0.90          -0.845") and week8.endswith("-1.20          -0.903")  # d, published d
    why = " ".join(lines[4:])
    assert "ordinal model" in why and "GAD-Q-IV" in why and "docs/simulation.md" in why
