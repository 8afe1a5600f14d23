"""The simulated trial's outcome model and its item answers (assessments/simulation): the pieces that
``simulate_trial`` (issue 5, in progress) will drive through the platform's services."""

from __future__ import annotations

import numpy as np
import pytest

from assessments.scoring import score_instrument
from assessments.simulation.answers import answers_for
from assessments.simulation.outcomes import (
    CHATBOT,
    CONDITIONS,
    INSTRUMENTS,
    OWN_SCALE,
    PUBLISHED_CHANGE,
    RANGE,
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


def test_the_own_scales_change_as_published_and_the_others_by_half():
    model = OutcomeModel()
    for condition in CONDITIONS:
        own = OWN_SCALE[condition]
        for arm in (CHATBOT, WAITLIST):
            assert model.mean_change(condition, arm, own) == PUBLISHED_CHANGE[condition][arm]
    own_relative = PUBLISHED_CHANGE["MDD"][CHATBOT][0] / model.baseline["MDD"]["phq9"][0]
    wcs_change = model.mean_change("MDD", CHATBOT, "wcs")[0]
    assert wcs_change == pytest.approx(0.5 * own_relative * model.baseline["MDD"]["wcs"][0])


def test_draws_have_the_model_means_and_correlations():
    model = OutcomeModel()
    rng = np.random.default_rng(11)
    draws = [model.draw(rng, "MDD", CHATBOT) for _ in range(6000)]
    phq9 = np.array([d["phq9"] for d in draws])
    change = phq9[:, 1:] - phq9[:, :1]
    # Clipping at 0 and 27 shifts the means a little; SE of a mean change is about 0.06 here.
    np.testing.assert_allclose(change.mean(axis=0), PUBLISHED_CHANGE["MDD"][CHATBOT], atol=0.35)
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
