"""The simulated trial's outcome model and its item answers (assessments/simulation): the pieces that
``simulate_trial`` (issue 5, in progress) will drive through the platform's services."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assessments.scoring import score_instrument
from assessments.simulation.answers import answers_for
from assessments.simulation.outcomes import (
    CHATBOT,
    CONDITIONS,
    INSTRUMENTS,
    LATENT_CHANGE,
    OWN_SCALE,
    PUBLISHED_CHANGE,
    PUBLISHED_D,
    RANGE,
    TARGET_SD,
    WAITLIST,
    OutcomeModel,
)


@pytest.mark.parametrize(
    ("code", "step"), [("phq9", 1), ("gad7", 1), ("gadq4", 1 / 12), ("wcs", 100 / 6), ("waisr", 1)]
)
def test_answers_score_within_one_step_of_the_target(code, step):
    rng = np.random.default_rng(4)
    low, high = RANGE.get(code, (12.0, 60.0))
    top = 24.0 if code == "phq9" else high  # item 9 held at 0: the other eight items reach 24
    for target in np.linspace(low, top, 15):
        answers = answers_for(code, float(target), rng, fixed={"phq9_9": 0} if code == "phq9" else None)
        result = score_instrument(code, answers)
        # gadq4 items weigh 1, 1/3 or 1/4: the nearest reachable score is within the largest of them
        tolerance = 1.0 if code == "gadq4" else step / 2 + 1e-9
        assert result.total is not None and abs(float(result.total) - target) <= tolerance, (target, answers)
        if code == "phq9":
            assert answers["phq9_9"] == 0 and "suicidal_ideation" not in result.flags


def test_the_own_scales_change_by_the_calibrated_latent_change_and_the_others_by_half():
    model = OutcomeModel()
    for condition in CONDITIONS:
        own = OWN_SCALE[condition]
        for arm in (CHATBOT, WAITLIST):
            assert model.mean_change(condition, arm, own) == LATENT_CHANGE[condition][arm]
    own_relative = PUBLISHED_CHANGE["MDD"][CHATBOT][0] / model.baseline["MDD"]["phq9"][0]
    wcs_change = model.mean_change("MDD", CHATBOT, "wcs")[0]
    assert wcs_change == pytest.approx(0.5 * own_relative * model.baseline["MDD"]["wcs"][0])


def test_draws_have_the_model_means_and_correlations():
    model = OutcomeModel()
    rng = np.random.default_rng(11)
    draws = [model.draw(rng, "MDD", CHATBOT) for _ in range(6000)]
    phq9 = np.array([d["phq9"] for d in draws])
    change = phq9[:, 1:] - phq9[:, :1]
    # Unscreened: the latent change, less what clipping at 0 takes (about 0.3 at week 8); SE about 0.06 here.
    np.testing.assert_allclose(change.mean(axis=0), LATENT_CHANGE["MDD"][CHATBOT], atol=0.4)
    assert np.corrcoef(phq9[:, 1], phq9[:, 2])[0, 1] == pytest.approx(0.70, abs=0.05)
    gad7 = np.array([d["gad7"][0] for d in draws])
    assert np.corrcoef(phq9[:, 0], gad7)[0, 1] == pytest.approx(0.4, abs=0.06)
    for code in INSTRUMENTS:
        values = np.array([d[code] for d in draws])
        assert values.min() >= RANGE[code][0] and values.max() <= RANGE[code][1]
    conditions = [model.condition(rng) for _ in range(4000)]
    assert conditions.count("MDD") / 4000 == pytest.approx(0.40, abs=0.03)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="add up to 1"):
        OutcomeModel(condition_shares=(0.5, 0.5, 0.5))
    with pytest.raises(np.linalg.LinAlgError):
        OutcomeModel(visit_correlation=(0.9, -0.9, 0.9))


#: The therabot template's cut-offs (fixtures/trials/therabot.json) that screening_answers is screened by.
CUT_OFFS = {"MDD": ("phq9_total", 10), "GAD": ("gadq4_score", 5.7), "CHR-FED": ("swed_high_risk", True)}


def test_the_cut_offs_are_the_templates():
    rules = json.loads((Path(__file__).resolve().parents[2] / "fixtures/trials/therabot.json").read_text())
    found = {
        r["applies_if_values"][0]: (r["field"], r["value"])
        for r in rules["eligibility_rules"]
        if "applies_if_values" in r
    }
    assert found == CUT_OFFS


def _enrolled(model: OutcomeModel, condition: str, n: int) -> dict[str, np.ndarray]:
    """Own-scale scores (baseline, week 4, week 8) of those screened in, per arm (the same people in both)."""
    own, (field_name, cut) = OWN_SCALE[condition], CUT_OFFS[condition]
    rows: dict[str, list] = {CHATBOT: [], WAITLIST: []}
    for person in range(n):
        latent = model.draw(np.random.default_rng([7, person, 1]), condition, WAITLIST)
        answer = model.screening_answers(np.random.default_rng([7, person]), condition, latent)[field_name]
        if answer is cut or (not isinstance(cut, bool) and answer >= cut):
            for arm in (CHATBOT, WAITLIST):
                rows[arm].append(model.draw(np.random.default_rng([7, person, 1]), condition, arm)[own])
    return {arm: np.array(values) for arm, values in rows.items()}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_those_enrolled_show_the_published_changes_and_the_published_d(condition):
    """The calibration (bench/simulation_calibrate.py) through the model's own draw and screening: those
    enrolled change as published and their baseline SD is the one the published d implies, so d = difference /
    baseline SD is the published d, except for GAD-Q-IV, whose range caps its SD (docs/simulation.md)."""
    scores = _enrolled(OutcomeModel(), condition, 3000)
    baseline_sd = scores[WAITLIST][:, 0].std()
    change = {arm: (scores[arm][:, 1:] - scores[arm][:, :1]).mean(axis=0) for arm in (CHATBOT, WAITLIST)}
    published = {arm: np.array(PUBLISHED_CHANGE[condition][arm]) for arm in (CHATBOT, WAITLIST)}
    # SE of a mean change about 0.1 (PHQ-9), 0.05 (GAD-Q-IV), 0.2 (WCS) with some 2,700 enrolled: about 3 SE;
    # the arms hold the same people, so their difference is much closer.
    tolerance = {"MDD": 0.3, "GAD": 0.15, "CHR-FED": 0.7}[condition]
    for arm in (CHATBOT, WAITLIST):
        np.testing.assert_allclose(change[arm], published[arm], atol=tolerance)
    difference = published[CHATBOT] - published[WAITLIST]
    np.testing.assert_allclose(change[CHATBOT] - change[WAITLIST], difference, atol=tolerance / 3)
    d = np.abs(difference) / baseline_sd
    if condition == "GAD":
        assert baseline_sd == pytest.approx(2.15, abs=0.1) and baseline_sd < TARGET_SD["GAD"] - 0.3
        assert np.all(d > np.array(PUBLISHED_D["GAD"]) + 0.1)
    else:
        assert baseline_sd == pytest.approx(TARGET_SD[condition], rel=0.04)
        np.testing.assert_allclose(d, PUBLISHED_D[condition], atol=0.05)
