"""Tests for task_lib.calibration.stats against published and independently computed values.

Reference intervals were computed once with SciPy 1.17 (`binomtest(k, n).proportion_ci(method="wilson")`
and `beta.ppf` for Clopper-Pearson); SciPy is not a dependency, so the numbers are written out here.
"""

import dataclasses
import json
import math
from fractions import Fraction

import pytest

from task_lib.calibration.stats import (
    BAND,
    MAX_RUNS_NEEDED,
    BandVerdict,
    band_verdict,
    clopper_pearson_interval,
    pass_at_k,
    runs_for_width,
    wilson_interval,
    z_value,
)

# --- z_value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "expected"),
    [
        (0.95, 1.959963984540054),
        (0.99, 2.5758293035489004),
        (0.90, 1.6448536269514722),
        (0.6826894921370859, 1.0),  # P(|Z| <= 1)
    ],
)
def test_z_value_matches_normal_quantiles(confidence, expected):
    assert z_value(confidence) == pytest.approx(expected, abs=1e-12)


def test_z_value_inverts_the_two_sided_normal_probability():
    for confidence in (1e-6, 0.2, 0.5, 0.8, 0.999, 1 - 1e-12):
        z = z_value(confidence)
        assert math.erf(z / math.sqrt(2)) == pytest.approx(confidence, rel=1e-12, abs=1e-15)


# --- wilson_interval -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "confidence", "expected"),
    [
        (0, 10, 0.95, (0.0, 0.27753279986288926)),
        (1, 10, 0.95, (0.017876213095072896, 0.4041500267952385)),
        (5, 10, 0.95, (0.236593090512564, 0.7634069094874361)),
        (10, 10, 0.95, (0.7224672001371109, 1.0)),
        (3, 7, 0.95, (0.1582198552514697, 0.7495416354723428)),
        (3, 7, 0.99, (0.11637368051613817, 0.8102850959116125)),
        (17, 2000, 0.95, (0.0053137677396855555, 0.013570689737786083)),
        (2999, 3000, 0.95, (0.9981141811156957, 0.9999411560581284)),
    ],
)
def test_wilson_interval_matches_reference_values(k, n, confidence, expected):
    assert wilson_interval(k, n, confidence) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_for_zero_passes_is_zero_to_z_squared_over_n_plus_z_squared():
    z2 = z_value(0.95) ** 2
    assert wilson_interval(0, 10) == (0.0, pytest.approx(z2 / (10 + z2), abs=1e-15))


def test_wilson_interval_is_exactly_zero_or_one_at_the_extremes():
    for n in (1, 7, 10, 1000):
        assert wilson_interval(0, n)[0] == 0.0
        assert wilson_interval(n, n)[1] == 1.0


def test_wilson_interval_with_no_runs_is_the_whole_unit_interval():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_is_symmetric_under_swapping_passes_and_failures():
    low, high = wilson_interval(3, 11)
    mirrored_low, mirrored_high = wilson_interval(8, 11)
    assert (low, high) == pytest.approx((1 - mirrored_high, 1 - mirrored_low), abs=1e-15)


def test_wilson_interval_widens_with_confidence():
    wide = wilson_interval(4, 20, confidence=0.99)
    narrow = wilson_interval(4, 20, confidence=0.80)
    assert wide[0] < narrow[0] < 0.2 < narrow[1] < wide[1]


# --- clopper_pearson_interval ----------------------------------------------------------------

CLOPPER_PEARSON_REFERENCES = [
    (0, 10, 0.95, (0.0, 0.3084971078187607)),
    (1, 10, 0.95, (0.0025285785444617865, 0.4450161170281954)),
    (5, 10, 0.95, (0.18708602844739855, 0.8129139715526015)),
    (10, 10, 0.95, (0.6915028921812392, 1.0)),
    (3, 7, 0.95, (0.09898827844250789, 0.8159484323599169)),
    (17, 2000, 0.95, (0.0049591350217812556, 0.013574546199731806)),
    (1000, 2000, 0.95, (0.4778505542311098, 0.5221494457688902)),
    (1, 5000, 0.95, (5.063548777051595e-06, 0.001113819380333972)),
    (2999, 3000, 0.95, (0.9981442000055081, 0.9999915607662825)),
    (1, 10, 0.99, (0.0005011285754646344, 0.5442870568996868)),
    (3, 7, 0.99, (0.05529934998056629, 0.882296248331048)),
    (17, 2000, 0.99, (0.004133338075040043, 0.015342231702252265)),
]


@pytest.mark.parametrize(("k", "n", "confidence", "expected"), CLOPPER_PEARSON_REFERENCES)
def test_clopper_pearson_interval_matches_reference_values_to_1e_10(k, n, confidence, expected):
    assert clopper_pearson_interval(k, n, confidence) == pytest.approx(expected, rel=1e-9, abs=1e-10)


@pytest.mark.parametrize("n", [1, 10, 57, 3000])
def test_clopper_pearson_interval_matches_closed_forms_at_the_extremes(n):
    alpha_half = 0.025
    assert clopper_pearson_interval(0, n) == (0.0, pytest.approx(1 - alpha_half ** (1 / n), abs=1e-12))
    assert clopper_pearson_interval(n, n) == (pytest.approx(alpha_half ** (1 / n), abs=1e-12), 1.0)


def _exact_binomial_tail(n: int, ks: range, p: float) -> float:
    q = Fraction(p)
    return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in ks))


@pytest.mark.parametrize(("k", "n"), [(1, 30), (7, 30), (15, 30), (29, 30), (2, 5)])
def test_clopper_pearson_bounds_put_half_the_error_in_each_exact_binomial_tail(k, n):
    low, high = clopper_pearson_interval(k, n, confidence=0.9)
    assert _exact_binomial_tail(n, range(k, n + 1), low) == pytest.approx(0.05, rel=1e-10)
    assert _exact_binomial_tail(n, range(0, k + 1), high) == pytest.approx(0.05, rel=1e-10)


def test_clopper_pearson_interval_contains_the_wilson_interval_for_a_middling_rate():
    cp_low, cp_high = clopper_pearson_interval(6, 20)
    wilson_low, wilson_high = wilson_interval(6, 20)
    assert cp_low < wilson_low < 0.3 < wilson_high < cp_high


def test_clopper_pearson_interval_with_no_runs_is_the_whole_unit_interval():
    assert clopper_pearson_interval(0, 0) == (0.0, 1.0)


# --- band_verdict ----------------------------------------------------------------------------


def test_band_is_ten_to_forty_percent():
    assert BAND == (0.10, 0.40)


def test_band_verdict_is_inside_when_the_interval_lies_within_the_band():
    result = band_verdict(25, 100)
    assert result.verdict == "inside"
    assert BAND[0] <= result.interval[0] < result.interval[1] <= BAND[1]
    assert result.runs_needed is None


@pytest.mark.parametrize(("k", "n"), [(10, 10), (15, 20), (2, 200), (0, 50)])
def test_band_verdict_is_outside_when_the_interval_misses_the_band(k, n):
    result = band_verdict(k, n)
    assert result.verdict == "outside"
    assert result.interval[1] < BAND[0] or result.interval[0] > BAND[1]
    assert result.runs_needed is None


@pytest.mark.parametrize(("k", "n"), [(6, 20), (3, 10), (1, 3), (0, 10), (6, 10), (45, 100)])
def test_band_verdict_is_undetermined_when_the_interval_straddles_a_band_edge(k, n):
    result = band_verdict(k, n)
    low, high = result.interval
    assert result.verdict == "undetermined"
    assert low < BAND[0] <= high or low <= BAND[1] < high
    assert result.runs_needed > n


def test_band_verdict_interval_is_the_wilson_interval():
    assert band_verdict(7, 31, confidence=0.9).interval == wilson_interval(7, 31, 0.9)


@pytest.mark.parametrize(
    ("k", "n", "expected"), [(6, 20, "inside"), (1, 3, "inside"), (6, 10, "outside"), (45, 100, "outside")]
)
def test_runs_needed_is_the_fewest_runs_that_decide_the_verdict_if_the_rate_holds(k, n, expected):
    needed = band_verdict(k, n).runs_needed
    # Scaling k and n together keeps the rate k/n exactly; the first multiple of n at or past
    # runs_needed must decide the verdict, and the last multiple before it must not.
    at_or_after = -(-needed // n)
    before = (needed - 1) // n
    assert band_verdict(k * at_or_after, n * at_or_after).verdict == expected
    assert band_verdict(k * before, n * before).verdict == "undetermined"


def test_runs_needed_projects_zero_passes_as_a_small_rate_and_decides_outside():
    result = band_verdict(0, 10)
    assert result.runs_needed is not None
    assert band_verdict(0, result.runs_needed).verdict == "outside"


def test_runs_needed_with_no_runs_projects_the_band_midpoint():
    assert band_verdict(0, 0).runs_needed == band_verdict(1, 4).runs_needed  # 1/4 = midpoint 0.25


@pytest.mark.parametrize(("k", "n"), [(1, 10), (4, 10), (2, 20)])
def test_runs_needed_is_none_when_the_rate_sits_on_a_band_edge(k, n):
    result = band_verdict(k, n)
    assert result.verdict == "undetermined"
    assert result.runs_needed is None


def test_runs_needed_is_none_when_more_than_the_projection_limit_would_be_needed():
    # 101/1000 sits 0.001 above the lower edge: about 345,000 runs would be needed.
    assert MAX_RUNS_NEEDED < 345_000
    assert band_verdict(101, 1000).runs_needed is None
    assert band_verdict(110, 1000).runs_needed <= MAX_RUNS_NEEDED


def test_band_verdict_uses_the_band_it_is_given():
    assert band_verdict(50, 100, band=(0.3, 0.7)).verdict == "inside"
    assert band_verdict(50, 100, band=(0.0, 0.2)).verdict == "outside"


def test_band_verdict_is_a_frozen_record():
    assert isinstance(band_verdict(25, 100), BandVerdict)
    with pytest.raises(dataclasses.FrozenInstanceError):
        band_verdict(25, 100).verdict = "outside"


def test_band_verdict_to_dict_is_json_ready_and_complete():
    result = band_verdict(6, 20)
    data = json.loads(json.dumps(result.to_dict()))
    assert data == {
        "verdict": "undetermined",
        "interval": list(result.interval),
        "runs_needed": result.runs_needed,
        "k": 6,
        "n": 20,
        "band": [0.1, 0.4],
        "confidence": 0.95,
    }


# --- runs_for_width --------------------------------------------------------------------------


def _wilson_width_root(p: float, width: float, z: float) -> float:
    """The real n at which the Wilson width 2z*sqrt(p(1-p)n + z^2/4)/(n + z^2) equals width."""
    a = width**2
    b = 2 * width**2 * z**2 - 4 * z**2 * p * (1 - p)
    c = width**2 * z**4 - z**4
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


@pytest.mark.parametrize(("p", "width"), [(0.5, 0.1), (0.25, 0.1), (0.25, 0.2), (0.0, 0.1), (0.9, 0.05)])
def test_runs_for_width_is_the_ceiling_of_the_exact_solution(p, width):
    z = z_value(0.95)
    assert runs_for_width(p, width) == math.ceil(_wilson_width_root(p, width, z))


def test_runs_for_width_at_half_is_just_under_the_wald_figure():
    assert runs_for_width(0.5, 0.1) == 381  # Wald's (2 * 1.96 * 0.5 / 0.1)^2 = 385


def test_runs_for_width_at_full_width_is_one_run():
    assert runs_for_width(0.3, 1.0) == 1


# --- pass_at_k -------------------------------------------------------------------------------


def test_pass_at_k_is_zero_when_nothing_passed():
    assert pass_at_k(20, 0, 5) == 0.0


def test_pass_at_k_is_one_when_everything_passed():
    assert pass_at_k(20, 20, 5) == 1.0


def test_pass_at_k_is_one_when_too_few_failures_to_fill_k_draws():
    assert pass_at_k(10, 8, 3) == 1.0


@pytest.mark.parametrize(("n", "c"), [(10, 3), (200, 37), (7, 1)])
def test_pass_at_one_is_the_pass_fraction(n, c):
    assert pass_at_k(n, c, 1) == pytest.approx(c / n, rel=1e-15)


def test_pass_at_k_matches_the_combinatorial_formula():
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - math.comb(7, 2) / math.comb(10, 2))  # 8/15
    assert pass_at_k(10, 3, 2) == pytest.approx(8 / 15, rel=1e-15)


def test_pass_at_k_stays_accurate_when_tiny():
    # 1 - C(n-1, k)/C(n, k) = k/n exactly, even where 1 - ratio would cancel.
    assert pass_at_k(10**6, 1, 1) == pytest.approx(1e-6, rel=1e-15)


def test_pass_at_k_grows_with_k():
    values = [pass_at_k(50, 5, k) for k in (1, 2, 5, 10, 20)]
    assert values == sorted(values)


# --- argument validation ---------------------------------------------------------------------


@pytest.mark.parametrize("interval", [wilson_interval, clopper_pearson_interval])
@pytest.mark.parametrize(
    ("k", "n", "confidence", "message"),
    [
        (-1, 10, 0.95, "passes k"),
        (11, 10, 0.95, "passes k"),
        (0, -1, 0.95, "runs n"),
        (3, 10, 0.0, "confidence"),
        (3, 10, 1.0, "confidence"),
        (3, 10, 95, "confidence"),
    ],
)
def test_intervals_reject_impossible_arguments(interval, k, n, confidence, message):
    with pytest.raises(ValueError, match=message):
        interval(k, n, confidence)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5])
def test_z_value_rejects_confidence_outside_zero_one(confidence):
    with pytest.raises(ValueError, match="confidence"):
        z_value(confidence)


@pytest.mark.parametrize("band", [(0.4, 0.1), (0.2, 0.2), (-0.1, 0.4), (0.1, 1.5)])
def test_band_verdict_rejects_a_malformed_band(band):
    with pytest.raises(ValueError, match="band"):
        band_verdict(3, 10, band=band)


def test_band_verdict_rejects_more_passes_than_runs():
    with pytest.raises(ValueError, match="passes k"):
        band_verdict(11, 10)


@pytest.mark.parametrize(
    ("p", "width", "message"),
    [(-0.1, 0.1, "rate p"), (1.1, 0.1, "rate p"), (0.5, 0.0, "width"), (0.5, 1.5, "width")],
)
def test_runs_for_width_rejects_impossible_arguments(p, width, message):
    with pytest.raises(ValueError, match=message):
        runs_for_width(p, width)


@pytest.mark.parametrize(
    ("n", "c", "k", "message"),
    [
        (0, 0, 1, "samples n"),
        (10, -1, 1, "correct c"),
        (10, 11, 1, "correct c"),
        (10, 3, 0, "k must"),
        (10, 3, 11, "k must"),
    ],
)
def test_pass_at_k_rejects_impossible_arguments(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)
