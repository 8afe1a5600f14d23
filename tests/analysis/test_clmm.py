"""The cumulative-link mixed model (analysis.stats.clmm) against R ordinal::clmm.

Reference numbers below were produced by ``Rscript tests/analysis/reference/clmm_reference.R`` (R 4.2.2,
ordinal 2022.11.16, Debian bookworm), which also wrote the two CSVs read here:

- ``clmm_trial.csv``: a simulated trial (seed 20261205; 180 participants, arms control / intervention, a
  2-level stratum ``site``, baseline total ``base``, weeks 4, 8, 12, a PHQ-9-like total ``y`` in 0..27 with
  missing visits; 473 observed rows, 23 observed levels 0..22 so 22 thresholds), fitted as

      clmm(factor(y) ~ base + site + arm * factor(week) + (1 | id), link = "logit",
           threshold = "flexible", nAGQ = 1)        # Laplace; and nAGQ = 10

- ``clmm_wine.csv``: ordinal's public ``wine`` data, ``clmm(rating ~ temp + contact + (1 | judge))``, fitted
  here through :func:`fit_clmm_arrays` (temp and contact vary within a judge, so it is no trial design).

``R_*`` are the optimum of clmm's own objective (clmm's fit continued by Newton steps on ordinal's
getNLA.ssr / getNAGQ.ssr, see the R script; for Laplace with the curvature D_i at the random-effect modes)
with SEs from clmm's numeric Hessian (deriv12) as vcov.clmm computes them; the SE vectors are in the order
thresholds, betas, log(sd). ``R_*_CLMM`` are clmm's own fits as it returns them (coef, exp(ST),
sqrt(diag(vcov(fit))), logLik), compared loosely: clmm stops with max|gradient| ~ 1e-4..1e-3, and its Laplace
evaluates D_i at the Newton iterate before the last (C routine NRalgv3), which moves its Laplace fit of the
trial by 5.9e-4 in the estimates and 1.5e-4 in logLik. No R is needed to run these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.stats.clmm import (
    MAX_LEVELS,
    CLMMConvergenceError,
    check_ordinal_outcome,
    fit_clmm,
    fit_clmm_arrays,
    parse_method,
)

REFERENCE = Path(__file__).parent / "reference"

R_TRIAL_LAPLACE = {
    "threshold_names": [
        "0|1",
        "1|2",
        "2|3",
        "3|4",
        "4|5",
        "5|6",
        "6|7",
        "7|8",
        "8|9",
        "9|10",
        "10|11",
        "11|12",
        "12|13",
        "13|14",
        "14|15",
        "15|16",
        "16|17",
        "17|18",
        "18|19",
        "19|20",
        "20|21",
        "21|22",
    ],
    "thresholds": [
        -0.627058630767,
        0.0788989314779,
        0.783317707076,
        1.25756888322,
        2.05753502696,
        2.79326779842,
        3.44453163926,
        4.0435616159,
        4.5993646246,
        5.21129250685,
        5.88866663252,
        6.7318793029,
        7.38919136361,
        8.03744013266,
        8.71631312426,
        9.23629865533,
        10.1789750597,
        10.6672084591,
        10.9148734503,
        11.9671555505,
        12.6028607888,
        13.0992644343,
    ],
    "beta_names": [
        "base",
        "siteS2",
        "armintervention",
        "week8",
        "week12",
        "armintervention:week8",
        "armintervention:week12",
    ],
    "beta": [
        0.384433938415,
        0.56115893748,
        -0.835482695879,
        -0.995784739373,
        -1.59954463938,
        -0.851707743748,
        -1.2493555307,
    ],
    "sd": 1.66448040907,
    "se": [
        0.693721171333,
        0.681033307589,
        0.67700079369,
        0.67743627765,
        0.680400985366,
        0.686782818148,
        0.695638051999,
        0.704662343172,
        0.713540857639,
        0.723239309447,
        0.734402442736,
        0.750955299231,
        0.766041348642,
        0.782681401703,
        0.802895097413,
        0.82059876857,
        0.861883552268,
        0.89047852061,
        0.907132572704,
        0.998383859879,
        1.08166981634,
        1.17144729034,
        0.0417001007966,
        0.309196805554,
        0.384964636258,
        0.296594976012,
        0.308664324856,
        0.412026228614,
        0.426806530008,
        0.103446678273,
    ],
    "loglik": -1203.20145343,
    "visit_estimate": [-0.835482695879, -1.68719043963, -2.08483822658],
    "visit_se": [0.384964636258, 0.394259520994, 0.408723759899],
    "n_obs": 473,
}
# R_TRIAL_LAPLACE: clmm's own fit: max|gradient| 0.00044, max|par - reference| 0.00059, logLik diff -0.00015;
# reference max|gradient| 3.4e-09
R_TRIAL_LAPLACE_CLMM = {
    "thresholds": [
        -0.627228892705,
        0.0787082788889,
        0.783111004719,
        1.25735141653,
        2.05729668443,
        2.79300541364,
        3.44424365679,
        4.04324888466,
        4.59903076029,
        5.21093501169,
        5.88828857375,
        6.73147360417,
        7.38876607041,
        8.03699791254,
        8.71585619749,
        9.23582285087,
        10.1784752948,
        10.6666933202,
        10.9143525614,
        11.9665992267,
        12.6022932834,
        13.0986764653,
    ],
    "beta": [
        0.384409713086,
        0.561206735465,
        -0.835535287866,
        -0.995772069081,
        -1.59952091813,
        -0.851677951254,
        -1.24929142927,
    ],
    "sd": 1.66433987768,
    "se": [
        0.693347399612,
        0.680617996502,
        0.676542003444,
        0.676945159926,
        0.679859614566,
        0.686181291614,
        0.694971616827,
        0.703923606063,
        0.712744435008,
        0.722376905985,
        0.733474703724,
        0.749948876456,
        0.764975991622,
        0.781564495417,
        0.801728149448,
        0.819395406816,
        0.860622242207,
        0.889190570164,
        0.905828848082,
        0.997053819345,
        1.0803644193,
        1.17019238101,
        0.0416378597639,
        0.309146671925,
        0.384931180006,
        0.296576162869,
        0.30863588728,
        0.412013002352,
        0.426772273938,
        0.103213512992,
    ],
    "loglik": -1203.2015995,
}
R_WINE_LAPLACE = {
    "threshold_names": ["1|2", "2|3", "3|4", "4|5"],
    "thresholds": [-1.62366948281, 1.51335690176, 4.22852041541, 6.08876939326],
    "beta_names": ["tempwarm", "contactyes"],
    "beta": [3.06300039423, 1.83490062158],
    "sd": 1.13113955827,
    "se": [
        0.682437137831,
        0.603736112636,
        0.808957038639,
        0.972458025577,
        0.59539166726,
        0.512558710996,
        0.352610619225,
    ],
    "loglik": -81.5654127765,
    "n_obs": 72,
}
# R_WINE_LAPLACE: clmm's own fit: max|gradient| 1e-05, max|par - reference| 1.6e-05, logLik diff 3.5e-06;
# reference max|gradient| 9.9e-10
R_WINE_LAPLACE_CLMM = {
    "thresholds": [-1.62366692407, 1.51336518292, 4.2285266885, 6.08877255848],
    "beta": [3.06299662584, 1.83488492228],
    "sd": 1.13113257811,
    "se": [
        0.682441031959,
        0.603753330431,
        0.808966050324,
        0.972453654185,
        0.595376183131,
        0.512529332005,
        0.352550815639,
    ],
    "loglik": -81.5654092921,
}
R_TRIAL_AGQ10 = {
    "threshold_names": [
        "0|1",
        "1|2",
        "2|3",
        "3|4",
        "4|5",
        "5|6",
        "6|7",
        "7|8",
        "8|9",
        "9|10",
        "10|11",
        "11|12",
        "12|13",
        "13|14",
        "14|15",
        "15|16",
        "16|17",
        "17|18",
        "18|19",
        "19|20",
        "20|21",
        "21|22",
    ],
    "thresholds": [
        -0.614864214058,
        0.0952603831885,
        0.804172765641,
        1.28151867539,
        2.08640122924,
        2.82586418067,
        3.48172863719,
        4.08430465686,
        4.64302617576,
        5.25820078429,
        5.93833958224,
        6.78494401612,
        7.44541573902,
        8.09718243924,
        8.77986877435,
        9.30220977617,
        10.2489703299,
        10.7388970678,
        10.9874018876,
        12.0448127316,
        12.6824853382,
        13.179205749,
    ],
    "beta_names": [
        "base",
        "siteS2",
        "armintervention",
        "week8",
        "week12",
        "armintervention:week8",
        "armintervention:week12",
    ],
    "beta": [
        0.387062430728,
        0.560802282726,
        -0.827537159881,
        -0.995847804159,
        -1.59531381397,
        -0.862047969146,
        -1.26528829437,
    ],
    "sd": 1.70932695895,
    "se": [
        0.705189605786,
        0.692489471734,
        0.688455946149,
        0.688834664146,
        0.691642879185,
        0.697791264841,
        0.706472757386,
        0.715237689839,
        0.723889177481,
        0.733333345897,
        0.744143432579,
        0.760223039851,
        0.774939323228,
        0.791296850073,
        0.81125959998,
        0.828743338958,
        0.869862204318,
        0.89827407446,
        0.914785194121,
        1.00578433841,
        1.08885635615,
        1.17833759145,
        0.0422421031487,
        0.31522682512,
        0.389401592103,
        0.295722402321,
        0.307978929653,
        0.41102320348,
        0.426073214883,
        0.100706840766,
    ],
    "loglik": -1200.56383903,
    "visit_estimate": [-0.827537159881, -1.68958512903, -2.09282545425],
    "visit_se": [0.389401592103, 0.397920447858, 0.412791558621],
    "n_obs": 473,
}
# R_TRIAL_AGQ10: clmm's own fit: max|gradient| 0.00083, max|par - reference| 1.9e-05, logLik diff -3.1e-08;
# reference max|gradient| 5.7e-09
R_TRIAL_AGQ10_CLMM = {
    "thresholds": [
        -0.614870529419,
        0.0952551861415,
        0.804170950636,
        1.2815195188,
        2.08640111969,
        2.82586177506,
        3.48172611298,
        4.08430219338,
        4.6430189464,
        5.25819641781,
        5.93833831833,
        6.78494191783,
        7.44541475286,
        8.09718440497,
        8.77987223029,
        9.30221319163,
        10.2489785648,
        10.7389079166,
        10.98741238,
        12.0448201528,
        12.682477195,
        13.1791871379,
    ],
    "beta": [
        0.387062400723,
        0.560803146069,
        -0.827535323991,
        -0.995848478169,
        -1.59531241295,
        -0.862050372922,
        -1.26529440247,
    ],
    "sd": 1.70933076951,
    "se": [
        0.705315705084,
        0.692619950346,
        0.688589904105,
        0.688971757682,
        0.691784248462,
        0.697936058484,
        0.706619870534,
        0.715385916621,
        0.724038798278,
        0.733485775192,
        0.744298583423,
        0.760380057783,
        0.775097589852,
        0.791457077365,
        0.811422960435,
        0.828908755617,
        0.870032893708,
        0.898449648856,
        0.914962545889,
        1.00596218044,
        1.08902659987,
        1.17850053468,
        0.0422497564343,
        0.315232180384,
        0.389407437399,
        0.295726657463,
        0.307982163308,
        0.411029676926,
        0.426079171304,
        0.100708864204,
    ],
    "loglik": -1200.56383906,
}
R_WINE_AGQ10 = {
    "threshold_names": ["1|2", "2|3", "3|4", "4|5"],
    "thresholds": [-1.6234934698, 1.51279415875, 4.22705452904, 6.08615464215],
    "beta_names": ["tempwarm", "contactyes"],
    "beta": [3.06189719191, 1.8334312449],
    "sd": 1.13478733837,
    "se": [
        0.683387468993,
        0.604438214219,
        0.80897903355,
        0.971940596478,
        0.59507703936,
        0.512171329664,
        0.351871142288,
    ],
    "loglik": -81.5324607115,
    "n_obs": 72,
}
# R_WINE_AGQ10: clmm's own fit: max|gradient| 2.3e-05, max|par - reference| 6.2e-06, logLik diff -1.5e-10;
# reference max|gradient| 7.1e-11
R_WINE_AGQ10_CLMM = {
    "thresholds": [-1.62348745246, 1.51279603926, 4.22705345519, 6.08615227961],
    "beta": [3.06189099347, 1.83343336539],
    "sd": 1.1347832984,
    "se": [
        0.683386258153,
        0.604437353002,
        0.80897821543,
        0.971939834716,
        0.595076334138,
        0.512171243461,
        0.351871458491,
    ],
    "loglik": -81.5324607117,
}

TRIAL = {"laplace": (R_TRIAL_LAPLACE, R_TRIAL_LAPLACE_CLMM), "agq10": (R_TRIAL_AGQ10, R_TRIAL_AGQ10_CLMM)}
WINE = {"laplace": (R_WINE_LAPLACE, R_WINE_LAPLACE_CLMM), "agq10": (R_WINE_AGQ10, R_WINE_AGQ10_CLMM)}
#: Loose tolerances against clmm's own stopping point (estimates abs, SEs rel, logLik abs).
CLMM_OWN_TOL = (1e-3, 5e-3, 3e-4)


def _trial() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "clmm_trial.csv")


def _fit_trial(data: pd.DataFrame, method: str = "laplace", **kwargs):
    return fit_clmm(
        data,
        outcome="y",
        subject="id",
        visit="week",
        arm="arm",
        control="control",
        baseline="base",
        covariates=["site"],
        method=method,
        **kwargs,
    )


@pytest.fixture(scope="module")
def trial_fits():
    data = _trial()
    return {method: _fit_trial(data, method) for method in TRIAL}


@pytest.fixture(scope="module")
def wine_fits():
    wine = pd.read_csv(REFERENCE / "clmm_wine.csv")
    x = np.column_stack([(wine["temp"] == "warm").to_numpy(float), (wine["contact"] == "yes").to_numpy(float)])
    return {
        method: fit_clmm_arrays(wine["rating"], x, wine["judge"], terms=["tempwarm", "contactyes"], method=method)
        for method in WINE
    }


def _estimates(fit) -> np.ndarray:
    return np.r_[fit.thresholds["estimate"], fit.fixed_effects["estimate"], fit.random_effect_sd]


def _ses(fit) -> np.ndarray:
    return np.sqrt(np.diag(fit.vcov.to_numpy()))


def _check(fit, ref, tol_est=1e-4, tol_se=1e-3, tol_loglik=1e-4) -> None:
    assert fit.converged, fit.messages
    assert fit.n_observations == ref.get("n_obs", fit.n_observations)
    np.testing.assert_allclose(_estimates(fit), np.r_[ref["thresholds"], ref["beta"], ref["sd"]], rtol=0, atol=tol_est)
    np.testing.assert_allclose(_ses(fit), ref["se"], rtol=tol_se)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=tol_loglik)


@pytest.mark.parametrize("method", list(TRIAL))
def test_the_trial_fit_matches_r(trial_fits, method):
    fit, (ref, _) = trial_fits[method], TRIAL[method]
    _check(fit, ref)
    assert fit.method == method and fit.link == "logit"
    assert list(fit.thresholds.index) == ref["threshold_names"]
    assert fit.n_thresholds == 22 and fit.levels == list(range(23))  # the observed levels, not 0..27
    assert fit.n_subjects == 180
    estimates = [v.estimate for v in fit.visits]
    np.testing.assert_allclose(estimates, ref["visit_estimate"], rtol=0, atol=1e-4)
    np.testing.assert_allclose([v.se for v in fit.visits], ref["visit_se"], rtol=1e-3)
    assert [v.visit for v in fit.visits] == [4, 8, 12] and {v.arm for v in fit.visits} == {"intervention"}


@pytest.mark.parametrize("method", list(TRIAL))
def test_the_trial_fit_is_close_to_clmms_own_stopping_point(trial_fits, method):
    _check(trial_fits[method], TRIAL[method][1], *CLMM_OWN_TOL)


@pytest.mark.parametrize("method", list(WINE))
def test_the_wine_fit_matches_r(wine_fits, method):
    ref, own = WINE[method]
    _check(wine_fits[method], ref)
    _check(wine_fits[method], own, *CLMM_OWN_TOL)
    assert list(wine_fits[method].fixed_effects.index) == ref["beta_names"]


def test_the_visit_effects_are_log_odds_ratios_with_wald_intervals(trial_fits):
    fit = trial_fits["laplace"]
    names = list(fit.vcov.index)
    for j, visit in enumerate(fit.visits):
        c = np.zeros(len(names))
        c[names.index("arm[intervention]")] = 1
        if j:
            c[names.index(f"arm[intervention]:week[{visit.visit}]")] = 1
        assert visit.estimate == pytest.approx(
            float(c[:-1] @ np.r_[fit.thresholds["estimate"], fit.fixed_effects["estimate"]])
        )
        assert visit.odds_ratio == pytest.approx(math.exp(visit.estimate))
        assert visit.ci_low == pytest.approx(math.exp(visit.estimate - 1.959963985 * visit.se))
        assert visit.ci_high == pytest.approx(math.exp(visit.estimate + 1.959963985 * visit.se))
        assert visit.ci_low < visit.odds_ratio < visit.ci_high
        assert visit.p == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(visit.z) / math.sqrt(2)))))
    # The simulation lowers the intervention arm's scores: a negative log odds ratio of a higher score.
    assert all(v.estimate < 0 for v in fit.visits) and fit.visits[-1].p < 0.001
    assert fit.random_effect_sd > 1


def test_a_higher_score_in_the_intervention_arm_gives_a_positive_estimate():
    data = _trial()
    data["y"] = 22 - data["y"]  # reverse the scale: the effect changes sign, thresholds mirror
    fit = _fit_trial(data)
    assert all(v.estimate > 0 for v in fit.visits)
    np.testing.assert_allclose(
        [v.estimate for v in fit.visits], [-e for e in R_TRIAL_LAPLACE["visit_estimate"]], atol=1e-4
    )


def test_unobserved_scores_are_no_categories():
    data = _trial()
    data["y"] = data["y"] * 2  # 0, 2, ..., 44: 23 observed levels again, the same model
    fit = _fit_trial(data)
    assert fit.n_thresholds == 22 and fit.levels == list(range(0, 45, 2))
    assert fit.thresholds.index[0] == "0|2"
    np.testing.assert_allclose(fit.fixed_effects["estimate"], R_TRIAL_LAPLACE["beta"], atol=1e-4)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.assign(y=d["y"] + 0.5), r"'y' is not whole numbers \(e.g. 8.5\)"),
        (lambda d: d.assign(y=d["y"].astype(str)), "'y' must be numeric"),
        (lambda d: d.assign(y=np.where(d["y"].notna(), np.arange(len(d)) % 60, np.nan)),
         "60 distinct values, more than 50"),
        (lambda d: d.assign(y=np.where(d["y"].notna(), 3.0, np.nan)), "1 distinct observed value"),
        (lambda d: d.drop(columns=["site"]), "column 'site' is missing"),
        (lambda d: d.assign(arm=np.where(d["arm"] == "control", "waitlist", d["arm"])),
         "control arm 'control' not found"),
        (lambda d: d.assign(y=np.where((d["arm"] == "intervention") & (d["week"] == 8), np.nan, d["y"])),
         "visit 8 has no observed 'y' in arm 'intervention'"),
        (lambda d: d.assign(y=np.where(d["week"] == 12, np.nan, d["y"])), "visit 12 has no observed 'y'"),
        (lambda d: d.assign(base=np.where(d["week"] == 4, d["base"] + 1, d["base"])),
         "'base' varies within a participant"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "more than one row per 'id' x 'week'"),
        (lambda d: d.assign(site=np.nan), "'site' has missing values"),
    ],
)  # fmt: skip
def test_bad_input_is_named(mutate, message):
    with pytest.raises(ValueError, match=message):
        _fit_trial(mutate(_trial()))


@pytest.mark.parametrize("method", ["laplace ", "agq", "agq1", "agq0", "AGQ10", "quadrature"])
def test_an_unknown_method_is_refused(method):
    with pytest.raises(ValueError, match="method must be 'laplace' or 'agq<N>'"):
        parse_method(method)
    assert parse_method("laplace") == 1 and parse_method("agq10") == 10


def test_few_levels_means_at_most_max_levels():
    assert MAX_LEVELS == 50
    assert check_ordinal_outcome(pd.Series([3.0, 1.0, np.nan, 3.0])) == [1, 3]
    assert len(check_ordinal_outcome(pd.Series(np.arange(50.0)))) == 50
    with pytest.raises(ValueError, match="too many levels"):
        check_ordinal_outcome(pd.Series(np.arange(51.0)))


def test_non_convergence_is_reported_never_silent():
    # Complete separation: every intervention score is above every control score, the arm effect runs off.
    data = _trial()
    data = data[data["id"] < "P061"].copy()
    data["y"] = np.where(data["arm"] == "intervention", 10 + data["y"] % 3, data["y"] % 3)
    data.loc[data["y"].isna(), "y"] = np.nan
    fit = _fit_trial(data, raise_on_failure=False)
    assert fit.converged is False and fit.messages
    with pytest.raises(CLMMConvergenceError):
        _fit_trial(data)
