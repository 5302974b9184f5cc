"""Unit tests for the G.107.1 (06/2019) wideband E-model in voipbed.models.emodel_wb."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voipbed.models import emodel
from voipbed.models.emodel_wb import (
    AMR_WB_BPL_WB_DIOTIC,
    AMR_WB_IE_WB_DIOTIC,
    AMR_WB_IE_WB_MONOTIC,
    RO_WB,
    EModelWbInputs,
    evaluate,
    for_mouth_to_ear,
    idd_wb,
    ie_eff_wb,
    mos_from_r,
    rx_from_r,
)

# Values from an independent implementation of G.107.1 (06/2019) with the same T = Ta,
# Tr = 2 Ta convention: bgrewell/loom core/quality/emodel/emodel_test.go (TestWideband,
# TestWidebandKBelow100). Its No,WB = -68.8055 dBm0p uses G.107.1 Table 1's Nfor = -96.
LOOM_DEFAULT_R = 128.846315
LOOM_DEFAULT_IDLE = 0.153685
LOOM_DEFAULT_MOS = 4.499152


def hand_mos(rx: float) -> float:
    """G.107 Annex B eq. B-4 for 0 <= Rx <= 100, written out independently of the modules."""
    return 1.0 + 0.035 * rx + rx * (rx - 60.0) * (100.0 - rx) * 7.0e-6


def hand_idte_wb(t_ms: float, telr: float = 65.0, roe: float = 106.2083) -> float:
    """G.107.1 eq. 7-5 and 7-7 to 7-10 worked by hand."""
    k = 0.08 * t_ms + 10.0 if t_ms < 100.0 else 18.0
    terv = telr + k - 40.0 * math.log10((1 + t_ms / 10) / (1 + t_ms / 150))
    terv += 6.0 * math.exp(-0.3 * t_ms**2)
    re = 80.0 + 3.0 * (terv - 14.0)
    return ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t_ms))


# --- G.107.1's own statements ------------------------------------------------------------


def test_defaults_give_129_minus_the_default_listener_echo() -> None:
    """At the defaults R = Ro,WB - Idle,WB: Ro = 129, Is = Idte = Idd = Ie,eff = 0, R = 128.85."""
    result = evaluate(EModelWbInputs())
    assert result.ro == RO_WB == 129.0
    assert result.is_ == 0.0
    assert result.idte == 0.0
    assert result.idd == 0.0
    assert result.ie_eff == 0.0
    rle = 10.5 * (110 + 7) * 1.0**-0.25
    idle = (129 - rle) / 2 + math.sqrt((129 - rle) ** 2 / 4 + 169)
    assert result.idle == pytest.approx(idle, rel=1e-12)
    assert result.r == pytest.approx(129.0 - idle, rel=1e-12)
    assert result.r == pytest.approx(LOOM_DEFAULT_R, abs=1e-5)
    assert result.idle == pytest.approx(LOOM_DEFAULT_IDLE, abs=1e-5)
    assert result.mos == pytest.approx(LOOM_DEFAULT_MOS, abs=1e-5)


def test_default_roe_uses_the_wideband_noise_floor() -> None:
    """No at the defaults (Nfor = -96 dBmp) is -68.81 dBm0p, so Roe = -1.5 (No - RLR) = 106.21."""
    result = evaluate(EModelWbInputs())
    assert result.no == pytest.approx(-68.8055, abs=1e-4)
    assert result.roe == pytest.approx(-1.5 * (result.no - 2.0), rel=1e-12)
    assert result.roe == pytest.approx(106.2083, abs=1e-4)


def test_top_of_the_scale_is_mos_4_5() -> None:
    """R = 129 gives Rx = 100 and MOS 4.5 (Annex A); R above 129 stays at 4.5."""
    assert rx_from_r(129.0) == pytest.approx(100.0, rel=1e-15)
    assert mos_from_r(129.0) == pytest.approx(4.5, abs=1e-12)
    assert mos_from_r(140.0) == 4.5
    assert mos_from_r(math.inf) == 4.5


def test_bottom_of_the_scale_is_mos_1() -> None:
    """R <= 0 gives MOS 1, and the cubic's dip below 1 near Rx = 3 is held at 1."""
    assert mos_from_r(0.0) == 1.0
    assert mos_from_r(-20.0) == 1.0
    assert mos_from_r(-math.inf) == 1.0
    assert hand_mos(3.0) < 1.0
    assert mos_from_r(3.0 * 1.29) == 1.0


@given(r=st.floats(min_value=0.0, max_value=100.0))
def test_wideband_mos_is_narrowband_mos_of_r_over_1_29(r: float) -> None:
    """MOS of a wideband R equals the G.107 Annex B MOS of Rx = R / 1.29 (eq. A-1, A-2)."""
    assert mos_from_r(1.29 * r) == pytest.approx(float(emodel.mos_from_r(r)), rel=1e-12)
    assert rx_from_r(1.29 * r) == pytest.approx(r, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    ("rx", "mos"), [(90.0, 4.34), (80.0, 4.03), (70.0, 3.60), (60.0, 3.10), (50.0, 2.58)]
)
def test_table_b1_limits_on_the_wideband_scale(rx: float, mos: float) -> None:
    """R = 1.29 x the G.107 Table B.1 category limits maps to the tabulated MOS."""
    assert mos_from_r(1.29 * rx) == pytest.approx(mos, abs=0.01)


@pytest.mark.parametrize(
    ("ie_wb", "mos"),
    [(1.0, 4.4940), (8.0, 4.4206), (13.0, 4.3371), (41.0, 3.5123), (56.0, 2.9220)],
)
def test_mos_of_r_129_minus_ie_matches_independent_values(ie_wb: float, mos: float) -> None:
    """MOS for R = 129 - Ie,WB matches sipnab's published G.107.1 vectors to 5e-4."""
    assert mos_from_r(129.0 - ie_wb) == pytest.approx(mos, abs=5e-4)
    assert mos_from_r(129.0 - ie_wb) == pytest.approx(hand_mos((129.0 - ie_wb) / 1.29), rel=1e-12)


def test_ie_eff_wb_hand_calculation() -> None:
    """Ie,eff,WB follows eq. 7-15 with 95: Ie,WB 20, Bpl 4.3, Ppl 2 % gives 20 + 75 x 2 / 6.3."""
    assert ie_eff_wb(20.0, 4.3, 2.0) == pytest.approx(20 + 75 * 2 / 6.3, rel=1e-12)
    assert ie_eff_wb(20.0, 4.3, 2.0) == pytest.approx(43.8095, abs=1e-4)
    assert ie_eff_wb(13.0, 4.3, 0.0) == 13.0
    assert ie_eff_wb(0.0, 4.3, 100.0) == pytest.approx(95 * 100 / 104.3, rel=1e-12)


def test_ie_eff_wb_with_burst_ratio_hand_calculation() -> None:
    """With BurstR the loss term is Ppl / (Ppl / BurstR + Bpl), as G.107 eq. 7-29."""
    assert ie_eff_wb(10.0, 4.9, 3.0, 2.0) == pytest.approx(10 + 85 * 3 / (1.5 + 4.9), rel=1e-12)


def test_evaluate_subtracts_ie_eff_wb() -> None:
    """R falls by exactly Ie,eff,WB when a lossy wideband codec is added to the defaults."""
    base = evaluate(EModelWbInputs())
    lossy = evaluate(EModelWbInputs(ie_wb=20.0, bpl=4.3, ppl_percent=2.0))
    assert lossy.ie_eff == pytest.approx(20 + 75 * 2 / 6.3, rel=1e-12)
    assert base.r - lossy.r == pytest.approx(20 + 75 * 2 / 6.3, rel=1e-9)
    assert lossy.mos == pytest.approx(float(mos_from_r(base.r - lossy.ie_eff)), rel=1e-12)


def test_idd_wb_is_1_29_times_g107_idd() -> None:
    """Idd,WB = 1.29 Idd (eq. 7-13): 0 up to 100 ms, 1.29 x 3.0444 = 3.9273 at 200 ms."""
    assert idd_wb(0.1) == 0.0
    assert idd_wb(0.05) == 0.0
    x = 1.0
    narrow = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    assert idd_wb(0.2) == pytest.approx(1.29 * narrow, rel=1e-12)
    assert idd_wb(0.2) == pytest.approx(3.927294, abs=1e-6)
    assert evaluate(EModelWbInputs(ta_s=0.4)).idd == pytest.approx(1.29 * emodel.idd(0.4))


@pytest.mark.parametrize("t_ms", [50.0, 99.0, 100.0, 150.0, 300.0])
def test_idte_wb_hand_values(t_ms: float) -> None:
    """Idte,WB equals eq. 7-5, 7-7 to 7-10 worked by hand, on both sides of the K knee."""
    result = evaluate(EModelWbInputs(t_s=t_ms / 1000))
    assert result.idte == pytest.approx(hand_idte_wb(t_ms), abs=1e-4)
    assert result.k == pytest.approx(0.08 * t_ms + 10 if t_ms < 100 else 18.0, rel=1e-12)


def test_terv_is_continuous_at_the_k_knee() -> None:
    """K = 0.08 T + 10 and K = 18 meet at T = 100 ms, so TERV,WB has no step there."""
    below = evaluate(EModelWbInputs(t_s=0.0999999)).terv
    at = evaluate(EModelWbInputs(t_s=0.1)).terv
    assert at == pytest.approx(below, abs=1e-5)


@pytest.mark.parametrize(
    ("ta_s", "ie_wb", "idte", "idle", "idd", "r", "mos"),
    [
        (0.150, 5.0, 0.355448, 1.012266, 0.210955, 122.421331, 4.439743),
        (0.050, 0.0, 0.092907, 0.652075, 0.0, 128.255018, 4.495632),
    ],
)
def test_delay_points_match_an_independent_implementation(
    ta_s: float, ie_wb: float, idte: float, idle: float, idd: float, r: float, mos: float
) -> None:
    """Mouth-to-ear 150 ms and 50 ms give the terms loom's G.107.1 golden tests pin."""
    result = evaluate(for_mouth_to_ear(ta_s, ie_wb=ie_wb))
    assert result.idte == pytest.approx(idte, abs=1e-5)
    assert result.idle == pytest.approx(idle, abs=1e-5)
    assert result.idd == pytest.approx(idd, abs=1e-5)
    assert result.r == pytest.approx(r, abs=1e-5)
    assert result.mos == pytest.approx(mos, abs=1e-5)
    assert result.id == pytest.approx(idte + idle + idd, abs=1e-5)


def test_r_rises_slightly_for_the_first_milliseconds_of_delay() -> None:
    """Idte,WB is negative at a few ms (TELR 65 dB), so R rises by about 0.2 before it falls."""
    zero = evaluate(for_mouth_to_ear(0.0)).r
    two = evaluate(for_mouth_to_ear(0.002))
    assert two.idte < 0.0
    assert 0.1 < two.r - zero < 0.25
    assert evaluate(for_mouth_to_ear(0.05)).r < zero


def test_advantage_adds_to_r() -> None:
    """The advantage factor A adds to R one for one (eq. 7-1)."""
    assert evaluate(EModelWbInputs(advantage=5.0)).r == pytest.approx(
        evaluate(EModelWbInputs()).r + 5.0
    )


def test_noise_inputs_move_only_the_talker_echo() -> None:
    """A louder receive noise floor changes Roe and Idte,WB but not Ro,WB or Idle,WB."""
    quiet = evaluate(EModelWbInputs(t_s=0.15))
    noisy = evaluate(EModelWbInputs(t_s=0.15, nfor_dbmp=-40.0))
    assert noisy.ro == quiet.ro
    assert noisy.idle == quiet.idle
    assert noisy.roe < quiet.roe
    assert noisy.idte != quiet.idte


# --- G.113 Appendix IV values ------------------------------------------------------------


def test_amr_wb_tables_keep_the_published_inversion() -> None:
    """G.113 Table IV.1 gives 23.85 kbit/s a higher Ie,WB (8) than 23.05 kbit/s (1)."""
    assert AMR_WB_IE_WB_MONOTIC[23850] == 8.0
    assert AMR_WB_IE_WB_MONOTIC[23050] == 1.0
    assert len(AMR_WB_IE_WB_MONOTIC) == 9
    assert set(AMR_WB_BPL_WB_DIOTIC) <= set(AMR_WB_IE_WB_DIOTIC)


def test_amr_wb_12_65_diotic_under_loss() -> None:
    """G.722.2 at 12.65 kbit/s, diotic, 2 % random loss: Ie,eff,WB 43.81, MOS of 129 - it 3.406."""
    ie = ie_eff_wb(AMR_WB_IE_WB_DIOTIC[12650], AMR_WB_BPL_WB_DIOTIC[12650], 2.0)
    assert ie == pytest.approx(43.8095, abs=1e-4)
    assert mos_from_r(129.0 - ie) == pytest.approx(3.4062, abs=5e-4)


# --- for_mouth_to_ear --------------------------------------------------------------------


def test_for_mouth_to_ear_sets_echo_delays() -> None:
    """The echo path delay is Ta and the 4-wire round trip is 2 Ta, as in models.emodel."""
    inputs = for_mouth_to_ear(0.15, ie_wb=13.0)
    assert (inputs.ta_s, inputs.t_s, inputs.tr_s, inputs.ie_wb) == (0.15, 0.15, 0.3, 13.0)
    narrow = emodel.for_mouth_to_ear(0.15)
    assert (inputs.t_s, inputs.tr_s) == (narrow.t_s, narrow.tr_s)


def test_for_mouth_to_ear_overrides_and_rejects_ta() -> None:
    """Overrides replace the derived echo delays; ta_s again is a TypeError."""
    inputs = for_mouth_to_ear(0.15, t_s=0.02, tr_s=0.04)
    assert (inputs.t_s, inputs.tr_s) == (0.02, 0.04)
    with pytest.raises(TypeError):
        for_mouth_to_ear(0.1, ta_s=0.2)  # type: ignore[misc]


# --- Vectorized evaluation ---------------------------------------------------------------


def test_scalar_inputs_give_scalar_outputs() -> None:
    """Scalar inputs give numpy float scalars, not arrays."""
    assert all(isinstance(value, float) for value in evaluate(EModelWbInputs()))


@given(
    rows=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=1.0),
            st.floats(min_value=0.0, max_value=100.0),
            st.floats(min_value=1.0, max_value=8.0),
            st.floats(min_value=0.0, max_value=60.0),
            st.floats(min_value=5.0, max_value=70.0),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_vectorized_equals_scalar_elementwise(
    rows: list[tuple[float, float, float, float, float]],
) -> None:
    """Evaluating arrays gives, term by term, the values of evaluating each element alone."""
    ta, ppl, burst, ie, telr = (np.array(column) for column in zip(*rows, strict=True))
    vec = evaluate(
        for_mouth_to_ear(ta, ppl_percent=ppl, burst_r=burst, ie_wb=ie, telr_db=telr, bpl=4.6)
    )
    for i, (ta_i, ppl_i, burst_i, ie_i, telr_i) in enumerate(rows):
        one = evaluate(
            for_mouth_to_ear(
                ta_i, ppl_percent=ppl_i, burst_r=burst_i, ie_wb=ie_i, telr_db=telr_i, bpl=4.6
            )
        )
        for name, value in one._asdict().items():
            column = np.asarray(getattr(vec, name))
            assert column.shape == ta.shape, name
            assert column[i] == pytest.approx(float(value), rel=1e-12, abs=1e-12), name


# --- Properties --------------------------------------------------------------------------


@given(
    ppl=st.floats(min_value=0.0, max_value=99.0),
    step=st.floats(min_value=0.01, max_value=100.0),
    ie=st.floats(min_value=0.0, max_value=60.0),
    bpl=st.floats(min_value=1.0, max_value=30.0),
    burst=st.floats(min_value=1.0, max_value=8.0),
)
def test_r_falls_as_loss_rises(
    ppl: float, step: float, ie: float, bpl: float, burst: float
) -> None:
    """R strictly falls as Ppl rises by 0.01 % or more, for any codec and burstiness."""
    high = min(ppl + step, 100.0)
    r_low, r_high = (
        evaluate(EModelWbInputs(ie_wb=ie, bpl=bpl, burst_r=burst, ppl_percent=p)).r
        for p in (ppl, high)
    )
    assert r_high < r_low


@given(
    ta=st.floats(min_value=0.005, max_value=1.5),
    step=st.floats(min_value=0.001, max_value=0.5),
    telr=st.floats(min_value=20.0, max_value=65.0),
)
def test_r_falls_as_delay_rises(ta: float, step: float, telr: float) -> None:
    """With T = Ta, Tr = 2 Ta, R strictly falls as Ta rises from 5 ms to 2 s."""
    early = evaluate(for_mouth_to_ear(ta, telr_db=telr)).r
    late = evaluate(for_mouth_to_ear(ta + step, telr_db=telr)).r
    assert late < early


@given(r=st.floats(allow_nan=False))
def test_mos_stays_within_scale(r: float) -> None:
    """MOS is always within [1, 4.5] (Annex A)."""
    assert 1.0 <= mos_from_r(r) <= 4.5


@given(r=st.lists(st.floats(min_value=-10.0, max_value=140.0), min_size=2, max_size=2))
def test_mos_never_falls_as_r_rises(r: list[float]) -> None:
    """MOS is non-decreasing in R over and beyond the 0-129 scale."""
    low, high = sorted(r)
    assert mos_from_r(low) <= mos_from_r(high)


@given(
    burst=st.lists(st.floats(min_value=1.0, max_value=8.0), min_size=2, max_size=2),
    ppl=st.floats(min_value=0.01, max_value=100.0),
)
def test_burstier_loss_never_raises_r(burst: list[float], ppl: float) -> None:
    """For a fixed Ppl > 0, a higher BurstR never raises R."""
    random_like, bursty = (
        evaluate(EModelWbInputs(ie_wb=13.0, ppl_percent=ppl, burst_r=b)).r for b in sorted(burst)
    )
    assert bursty <= random_like


# --- Validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ta_s": -0.01},
        {"t_s": -1.0},
        {"tr_s": -0.5},
        {"ppl_percent": 101.0},
        {"ppl_percent": -1.0},
        {"burst_r": 0.5},
        {"bpl": 0.0},
        {"telr_db": math.nan},
        {"ta_s": math.inf},
        {"ta_s": np.array([0.1, 0.2]), "ppl_percent": np.array([1.0, 2.0, 3.0])},
    ],
)
def test_invalid_inputs_raise(kwargs: dict[str, object]) -> None:
    """Negative delays, impossible loss values, non-finite or mismatched fields raise ValueError."""
    with pytest.raises(ValueError):
        EModelWbInputs(**kwargs)  # type: ignore[arg-type]
