"""Unit tests for the G.107 (06/2015) E-model in voipbed.models.emodel."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models import emodel
from voipbed.models.emodel import (
    EModelInputs,
    burst_ratio,
    evaluate,
    for_mouth_to_ear,
    idd,
    ie_eff,
    mos_from_r,
)

# No and Is at the Table 3 defaults as computed by an independent implementation
# (flent's util.mos_score, "based on ITU G.107 06/2015", checked against the ITU
# online E-model calculator): No = -61.17921438624169 (7-3), Is = 1.4135680813438616 (7-8).
DEFAULT_NO = -61.17921438624169
DEFAULT_IS = 1.4135680813438616


def hand_mos(r: float) -> float:
    """Annex B eq. B-4 for 0 <= R <= 100, written out independently of the module."""
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6


def hand_idte(t_ms: float, telr: float, no: float = DEFAULT_NO, rlr: float = 2.0) -> float:
    """Eq. 7-19 to 7-22 written out by hand (no TERVs / Idtes)."""
    terv = telr - 40.0 * math.log10((1 + t_ms / 10) / (1 + t_ms / 150))
    terv += 6 * math.exp(-0.3 * t_ms**2)
    roe = -1.5 * (no - rlr)
    re = 80.0 + 2.5 * (terv - 14.0)
    return ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t_ms))


# --- G.107's own statements -------------------------------------------------------------


def test_all_defaults_give_r_93_2() -> None:
    """All Table 3 defaults give R = 93.2 (clause 7.7); computed exactly 93.2062."""
    result = evaluate(EModelInputs())
    assert round(float(result.r), 1) == 93.2
    assert result.r == pytest.approx(93.2062, abs=1e-4)


def test_default_terms_match_independent_values() -> None:
    """At the defaults No, Ro, Is and Id match independent values and Idte, Idd, Ie,eff are 0."""
    result = evaluate(EModelInputs())
    assert result.no == pytest.approx(DEFAULT_NO, rel=1e-12)
    assert result.ro == pytest.approx(15.0 - 1.5 * (8.0 + DEFAULT_NO), rel=1e-12)  # 94.7688
    assert result.ro == pytest.approx(94.77, abs=0.005)
    assert result.is_ == pytest.approx(DEFAULT_IS, rel=1e-6)  # 1.41
    rle = 10.5 * (110 + 7) * 1.0**-0.25
    idle = (result.ro - rle) / 2 + math.sqrt((result.ro - rle) ** 2 / 4 + 169)
    assert result.idle == pytest.approx(idle, rel=1e-12)  # 0.149
    assert result.id == pytest.approx(0.149, abs=5e-4)
    assert result.idte == 0.0
    assert result.idd == 0.0
    assert result.ie_eff == 0.0
    assert result.r == pytest.approx(result.ro - result.is_ - result.id, rel=1e-12)


def test_mos_at_default_rating_is_4_41() -> None:
    """MOS at the default R is 4.41 and equals eq. B-4 worked by hand."""
    result = evaluate(EModelInputs())
    assert result.mos == pytest.approx(hand_mos(float(result.r)), rel=1e-12)
    assert round(float(result.mos), 2) == 4.41


@pytest.mark.parametrize(
    ("r", "mos"), [(90.0, 4.34), (80.0, 4.03), (70.0, 3.60), (60.0, 3.10), (50.0, 2.58)]
)
def test_mos_matches_annex_b_table_b1(r: float, mos: float) -> None:
    """The R lower limits of the Annex B Table B.1 categories map to the tabulated MOS."""
    # Table B.1 gives 4.03 for R = 80, where eq. B-4 gives 4.024: compare to 0.01.
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_piecewise_ends() -> None:
    """R < 0 gives MOS 1, R > 100 gives 4.5, and the cubic meets them at R = 0 and 100."""
    assert mos_from_r(-5.0) == 1.0
    assert mos_from_r(-math.inf) == 1.0
    assert mos_from_r(0.0) == 1.0
    assert mos_from_r(100.0) == pytest.approx(4.5, abs=1e-12)
    assert mos_from_r(120.0) == 4.5
    assert mos_from_r(math.inf) == 4.5


def test_mos_clips_the_dip_of_the_cubic_below_one() -> None:
    """Where the B-4 cubic dips below 1 (0 < R < 6.5) MOS is held at 1."""
    assert hand_mos(3.0) < 1.0
    assert mos_from_r(3.0) == 1.0
    assert mos_from_r(10.0) == pytest.approx(hand_mos(10.0), rel=1e-12)


def test_ie_eff_hand_calculation() -> None:
    """Ie,eff follows eq. 7-29: Ie=0, Bpl=25.1, Ppl=5 %, BurstR=1 gives 95*5/(5+25.1)."""
    assert ie_eff(0.0, 25.1, 5.0, 1.0) == pytest.approx(95 * 5 / (5 + 25.1), rel=1e-12)
    assert ie_eff(11.0, 19.0, 2.0, 2.0) == pytest.approx(11 + 84 * 2 / (2 / 2 + 19), rel=1e-12)
    assert ie_eff(7.0, 10.0, 0.0, 3.0) == 7.0


def test_evaluate_uses_ie_eff() -> None:
    """R falls by exactly Ie,eff when a codec with loss is added to the defaults."""
    base = evaluate(EModelInputs())
    lossy = evaluate(EModelInputs(ie=0.0, bpl=25.1, ppl_percent=5.0))
    assert base.r - lossy.r == pytest.approx(95 * 5 / (5 + 25.1), rel=1e-9)


def test_idd_is_zero_up_to_100_ms() -> None:
    """Idd = 0 for Ta <= mT = 100 ms (eq. 7-27)."""
    assert idd(0.0) == 0.0
    assert idd(0.05) == 0.0
    assert idd(0.1) == 0.0
    assert idd(0.11) > 0.0


@pytest.mark.parametrize(("ta_s", "x"), [(0.2, 1.0), (0.4, 2.0), (0.8, 3.0)])
def test_idd_hand_values(ta_s: float, x: float) -> None:
    """Idd at 200, 400 and 800 ms equals eq. 7-27 with X = log2(Ta/100 ms) worked by hand."""
    expected = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    assert idd(ta_s) == pytest.approx(expected, rel=1e-12)


def test_idd_delay_sensitivity_parameters() -> None:
    """A larger mT moves the knee; a smaller sT changes the curve's shape (eq. 7-27, 7-28)."""
    assert idd(0.15, m_t_s=0.15) == 0.0
    x, k = math.log2(0.4 / 0.15), 6 * 0.5
    expected = 25 * ((1 + x**k) ** (1 / k) - 3 * (1 + (x / 3) ** k) ** (1 / k) + 2)
    assert idd(0.4, m_t_s=0.15, s_t=0.5) == pytest.approx(expected, rel=1e-12)
    assert evaluate(EModelInputs(ta_s=0.4, m_t_s=0.15, s_t=0.5)).idd == pytest.approx(expected)


def test_idte_hand_value() -> None:
    """Idte at T = 100 ms, TELR = 40 dB equals eq. 7-19 to 7-22 worked by hand."""
    result = evaluate(EModelInputs(t_s=0.1, telr_db=40.0))
    assert result.idte == pytest.approx(hand_idte(100.0, 40.0), rel=1e-9)
    assert result.idte > 10.0  # a clearly audible echo


def test_echo_shorter_than_1_ms_counts_as_sidetone() -> None:
    """For T < 1 ms Idte = 0, even with a loud echo (clause 7.4)."""
    assert evaluate(EModelInputs(t_s=0.0009, telr_db=10.0)).idte == 0.0
    assert evaluate(EModelInputs(t_s=0.001, telr_db=10.0)).idte != 0.0


def test_low_stmr_uses_tervs() -> None:
    """For STMR < 9 dB TERV is replaced by TERVs = TERV + Ist/2 (eq. 7-23)."""
    t_ms, telr = 100.0, 40.0
    terv = telr - 40 * math.log10((1 + t_ms / 10) / (1 + t_ms / 150))
    low = evaluate(EModelInputs(t_s=0.1, telr_db=telr, stmr_db=8.0))
    assert low.terv == pytest.approx(terv + low.ist / 2, rel=1e-12)
    assert evaluate(EModelInputs(t_s=0.1, telr_db=telr, stmr_db=9.0)).terv == pytest.approx(terv)


def test_high_stmr_uses_idtes() -> None:
    """For STMR > 20 dB Idte is replaced by Idtes = sqrt(Idte^2 + Ist^2) (eq. 7-24)."""
    high = evaluate(EModelInputs(t_s=0.1, telr_db=40.0, stmr_db=22.0))
    idte = hand_idte(100.0, 40.0)
    assert high.idte == pytest.approx(math.sqrt(idte**2 + high.ist**2), rel=1e-9)
    at_20 = evaluate(EModelInputs(t_s=0.1, telr_db=40.0, stmr_db=20.0))
    assert at_20.idte == pytest.approx(idte, rel=1e-9)


def test_listener_echo_hand_value() -> None:
    """Idle at Tr = 200 ms, WEPL = 40 dB equals eq. 7-25 and 7-26 worked by hand."""
    result = evaluate(EModelInputs(tr_s=0.2, wepl_db=40.0))
    rle = 10.5 * (40 + 7) * (200 + 1) ** -0.25
    expected = (result.ro - rle) / 2 + math.sqrt((result.ro - rle) ** 2 / 4 + 169)
    assert result.rle == pytest.approx(rle, rel=1e-12)
    assert result.idle == pytest.approx(expected, rel=1e-12)


def test_r_steps_up_when_echo_delay_crosses_1_ms() -> None:
    """With TELR 65 dB, Idte is slightly negative just above 1 ms, so R steps up about 0.11."""
    below = evaluate(for_mouth_to_ear(0.0009))
    above = evaluate(for_mouth_to_ear(0.001))
    assert above.idte < 0.0
    assert above.r - below.r == pytest.approx(0.109, abs=0.005)


def test_advantage_adds_to_r() -> None:
    """The advantage factor A adds to R one for one (eq. 7-1)."""
    assert evaluate(EModelInputs(advantage=10.0)).r == pytest.approx(
        evaluate(EModelInputs()).r + 10.0
    )


# --- for_mouth_to_ear --------------------------------------------------------------------


def test_for_mouth_to_ear_sets_echo_delays() -> None:
    """The echo path delay is Ta and the 4-wire round trip is 2 Ta."""
    inputs = for_mouth_to_ear(0.15)
    assert (inputs.ta_s, inputs.t_s, inputs.tr_s) == (0.15, 0.15, 0.3)
    assert inputs.telr_db == EModelInputs().telr_db


def test_for_mouth_to_ear_overrides() -> None:
    """Overrides replace the derived echo delays and any other field."""
    inputs = for_mouth_to_ear(0.15, t_s=0.02, tr_s=0.04, ppl_percent=2.0)
    assert (inputs.ta_s, inputs.t_s, inputs.tr_s, inputs.ppl_percent) == (0.15, 0.02, 0.04, 2.0)


def test_for_mouth_to_ear_rejects_ta_override() -> None:
    """Passing ta_s again as an override is a TypeError."""
    with pytest.raises(TypeError):
        for_mouth_to_ear(0.1, ta_s=0.2)  # type: ignore[misc]


# --- burst_ratio -------------------------------------------------------------------------


def test_burst_ratio_without_loss_is_one() -> None:
    """No loss, one packet or none give BurstR = 1."""
    assert burst_ratio(np.zeros(50, dtype=bool)) == 1.0
    assert burst_ratio(np.array([True])) == 1.0
    assert burst_ratio(np.array([], dtype=bool)) == 1.0


def test_burst_ratio_is_one_when_loss_ignores_the_previous_packet() -> None:
    """P(lost | received) = P(lost | lost) = 1/2 gives p + q = 1, BurstR = 1."""
    # pairs RR, RL, LL, LR: p = 1/2, q = 1/2
    assert burst_ratio(np.array([0, 0, 1, 1, 0])) == pytest.approx(1.0)


def test_burst_ratio_hand_built_sequence() -> None:
    """Runs of three losses and three receptions give p = q = 1/3, BurstR = 1.5."""
    lost = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    # 6 pairs start received, 2 of them go to lost; 6 start lost, 2 go to received.
    assert burst_ratio(lost) == pytest.approx(1 / (2 / 6 + 2 / 6))


def test_burst_ratio_censored_last_run() -> None:
    """A loss run reaching the end counts as ending just after the window (q = 1/(n_L+1))."""
    # pairs RR, RL, LL: p = 1/2, no L->R seen, n_L = 1, q = 1/2
    assert burst_ratio(np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    # pairs RL, LL, LL, LL: p = 1, q = 1/(3+1)
    assert burst_ratio(np.array([0, 1, 1, 1, 1])) == 1.0
    # pairs RR x3, RL, LL x3: p = 1/4, q = 1/4
    assert burst_ratio(np.array([0, 0, 0, 0, 1, 1, 1, 1])) == pytest.approx(2.0)


def test_burst_ratio_all_lost_is_sequence_length() -> None:
    """An all-lost window gives a finite BurstR equal to its length."""
    assert burst_ratio(np.ones(40, dtype=bool)) == 40.0
    assert burst_ratio(np.array([True, True])) == 2.0


def test_burst_ratio_alternating_loss_is_held_at_one() -> None:
    """Alternating loss (p = q = 1, 1/(p+q) = 0.5) is reported as BurstR = 1."""
    assert burst_ratio(np.array([0, 1] * 20, dtype=bool)) == 1.0


def _gilbert_sequence(p: float, q: float, n_runs: int, seed: int) -> np.ndarray:
    """Alternate geometric received runs (mean 1/p) and loss runs (mean 1/q)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    received = rng.geometric(p, size=n_runs)
    lost = rng.geometric(q, size=n_runs)
    lengths = np.column_stack([received, lost]).ravel()
    states = np.tile([False, True], n_runs)
    return np.repeat(states, lengths)


def test_burst_ratio_recovers_gilbert_parameters() -> None:
    """A simulated two-state Markov loss with p = 0.05, q = 0.25 gives BurstR near 1/(p+q)."""
    lost = _gilbert_sequence(0.05, 0.25, 20_000, seed=7)
    assert burst_ratio(lost) == pytest.approx(1 / 0.30, rel=0.03)


def test_burst_ratio_of_bernoulli_loss_is_near_one() -> None:
    """Independent 10 % loss gives BurstR near 1."""
    rng = np.random.default_rng(np.random.SeedSequence(11))
    assert burst_ratio(rng.random(200_000) < 0.10) == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("bad", [np.zeros((3, 3), dtype=bool), np.array([0, 2, 1])])
def test_burst_ratio_rejects_bad_sequences(bad: np.ndarray) -> None:
    """A non-1-D sequence or values other than booleans/0/1 raise ValueError."""
    with pytest.raises(ValueError):
        burst_ratio(bad)


# --- Vectorized evaluation ---------------------------------------------------------------


def test_vectorized_equals_scalar_elementwise() -> None:
    """Evaluating arrays gives, term by term, the same values as evaluating each element."""
    ta = np.array([0.0, 0.0009, 0.05, 0.15, 0.3, 0.45, 0.8])
    ppl = np.array([0.0, 1.0, 2.5, 0.0, 10.0, 3.0, 50.0])
    burst = np.array([1.0, 1.0, 2.0, 1.5, 3.0, 1.0, 8.0])
    telr = np.array([65.0, 10.0, 40.0, 55.0, 30.0, 65.0, 20.0])
    stmr = np.array([15.0, 8.0, 22.0, 15.0, 12.0, 21.0, 5.0])
    vec = evaluate(
        for_mouth_to_ear(
            ta, ppl_percent=ppl, burst_r=burst, telr_db=telr, stmr_db=stmr, ie=11.0, bpl=19.0
        )
    )
    for i in range(ta.size):
        one = evaluate(
            for_mouth_to_ear(
                float(ta[i]),
                ppl_percent=float(ppl[i]),
                burst_r=float(burst[i]),
                telr_db=float(telr[i]),
                stmr_db=float(stmr[i]),
                ie=11.0,
                bpl=19.0,
            )
        )
        for name, value in one._asdict().items():
            column = np.asarray(getattr(vec, name))
            assert column.shape == ta.shape, name
            assert column[i] == pytest.approx(float(value), rel=1e-12, abs=1e-12), name


def test_scalar_inputs_give_scalar_outputs() -> None:
    """Scalar inputs give numpy float scalars, not arrays."""
    result = evaluate(EModelInputs())
    assert all(isinstance(value, float) for value in result)


# --- Properties --------------------------------------------------------------------------

percent = st.floats(min_value=0.0, max_value=100.0)


@given(
    ppl=st.lists(percent, min_size=2, max_size=2).map(sorted),
    ie=st.floats(min_value=0.0, max_value=40.0),
    bpl=st.floats(min_value=1.0, max_value=40.0),
    burst=st.floats(min_value=1.0, max_value=8.0),
)
def test_r_never_rises_with_packet_loss(
    ppl: list[float], ie: float, bpl: float, burst: float
) -> None:
    """R is non-increasing as Ppl rises, for any codec and burstiness."""
    low, high = (
        evaluate(EModelInputs(ie=ie, bpl=bpl, burst_r=burst, ppl_percent=p)).r for p in ppl
    )
    assert high <= low


@given(
    ta=st.lists(st.floats(min_value=0.001, max_value=1.0), min_size=2, max_size=2).map(sorted),
    telr=st.floats(min_value=5.0, max_value=65.0),
    wepl=st.floats(min_value=5.0, max_value=110.0),
    stmr=st.floats(min_value=10.0, max_value=20.0),
)
def test_r_never_rises_with_mouth_to_ear_delay(
    ta: list[float], telr: float, wepl: float, stmr: float
) -> None:
    """With T = Ta and Tr = 2 Ta, R is non-increasing as Ta rises from 1 ms to 1 s."""
    early, late = (
        evaluate(for_mouth_to_ear(t, telr_db=telr, wepl_db=wepl, stmr_db=stmr)).r for t in ta
    )
    assert late <= early + 1e-9


@given(r=st.floats(allow_nan=False))
def test_mos_stays_within_scale(r: float) -> None:
    """MOS is always within [1, 4.5]."""
    assert 1.0 <= mos_from_r(r) <= 4.5


@given(r=st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=2, max_size=2).map(sorted))
def test_mos_never_falls_as_r_rises(r: list[float]) -> None:
    """mos_from_r is non-decreasing on [0, 100]."""
    assert mos_from_r(r[0]) <= mos_from_r(r[1])


@given(
    burst=st.lists(st.floats(min_value=1.0, max_value=8.0), min_size=2, max_size=2).map(sorted),
    ppl=st.floats(min_value=0.01, max_value=100.0),
    bpl=st.floats(min_value=1.0, max_value=40.0),
)
def test_burstier_loss_never_raises_r(burst: list[float], ppl: float, bpl: float) -> None:
    """For fixed Ppl > 0 and Bpl, a higher BurstR never raises R."""
    random_like, bursty = (
        evaluate(EModelInputs(ppl_percent=ppl, bpl=bpl, burst_r=b)).r for b in burst
    )
    assert bursty <= random_like


# --- Validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ta_s": -0.01},
        {"t_s": -1.0},
        {"tr_s": np.array([0.1, -0.1])},
        {"ppl_percent": 100.5},
        {"ppl_percent": -1.0},
        {"burst_r": 0.9},
        {"bpl": 0.0},
        {"qdu": 0.0},
        {"s_t": 0.0},
        {"m_t_s": -0.1},
        {"slr_db": math.nan},
        {"telr_db": math.inf},
        {"ta_s": np.zeros(3), "ppl_percent": np.zeros(4)},
    ],
)
def test_invalid_inputs_raise_value_error(kwargs: dict[str, object]) -> None:
    """Negative delays, Ppl outside [0, 100], BurstR < 1 and similar raise ValueError."""
    with pytest.raises(ValueError):
        EModelInputs(**kwargs)  # type: ignore[arg-type]


def test_helpers_validate_their_inputs() -> None:
    """The public helpers reject the same invalid values."""
    with pytest.raises(ValueError, match="ppl_percent"):
        ie_eff(0.0, 4.3, 101.0, 1.0)
    with pytest.raises(ValueError, match="burst_r"):
        ie_eff(0.0, 4.3, 1.0, 0.5)
    with pytest.raises(ValueError, match="ta_s"):
        idd(-0.1)
    with pytest.raises(ValueError):
        mos_from_r(math.nan)


def test_inputs_are_frozen() -> None:
    """EModelInputs cannot be changed after construction."""
    inputs = EModelInputs()
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.ta_s = 0.2  # type: ignore[misc]


def test_out_of_domain_inputs_raise_value_error() -> None:
    """Inputs for which the clause 7 formulas give no finite R raise ValueError."""
    with pytest.raises(ValueError, match="non-finite"):
        evaluate(EModelInputs(stmr_db=-40.0, telr_db=-40.0))


@settings(max_examples=200, deadline=None)
@given(
    sequences=st.lists(st.lists(st.booleans(), max_size=40), min_size=1, max_size=8),
)
def test_burst_ratios_equals_burst_ratio_per_sequence(sequences: list[list[bool]]) -> None:
    """The all-at-once burst ratio equals burst_ratio on each sequence alone."""
    lost = np.array([x for seq in sequences for x in seq], dtype=np.bool_)
    bounds = np.concatenate(([0], np.cumsum([len(seq) for seq in sequences]))).astype(np.int64)
    expected = [emodel.burst_ratio(np.array(seq, dtype=np.bool_)) for seq in sequences]
    np.testing.assert_allclose(emodel.burst_ratios(lost, bounds), expected)
