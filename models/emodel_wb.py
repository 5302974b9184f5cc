"""Wideband E-model of ITU-T G.107.1 (06/2019): transmission rating R on the 0-129 scale and MOS.

Role: rate a 50-7000 Hz (wideband) connection the way :mod:`models.emodel`
rates a 3.1 kHz one: talker echo, listener echo, absolute delay, wideband
codec impairment and packet loss give R, and Annex A turns R into MOS. Pure:
numpy only, no clock, no I/O.

Source: Recommendation ITU-T G.107.1 (06/2019), "Wideband E-model", with its
Corrigendum 1 (01/2020). Clause numbers (7.1 to 7.7, Annex A) and equation
numbers (7-1 to 7-16, A-1, A-2) refer to that edition. Its scope clause
covers talker echo, absolute delay, wideband coding and packet loss; listener
echo is "covered but not studied in detail"; loudness, sidetone, room and
circuit noise and quantizing distortion are not covered, which is why
Ro,WB and Is,WB are constants. The ITU text itself was not at hand: the scope
text comes from the standard's published summary, and the equations, their
numbers and the defaults were cross-checked against two independent public
implementations that cite the 06/2019 edition (bgrewell/loom
``core/quality/emodel``, and sipnab's ``rtp::emodel_wb``, which also cites
Corrigendum 1 and ITU-T G.113 (09/2024) Appendix IV).

The terms (G.107.1 clause 7):

- R = Ro,WB - Is,WB - Id,WB - Ie,eff,WB + A (7-1), on a scale whose top is
  Ro,WB = 129 (7-2); Is,WB = 0 (7-3).
- Id,WB = Idte,WB + Idle,WB + Idd,WB (7-4).
- Idte,WB (7-5) has the form of G.107's Idte with Re,WB = 80 + 3 (TERV - 14)
  (7-7, G.107 has 2.5) and TERV,WB = TELR + K - 40 log10((1 + T/10) /
  (1 + T/150)) + 6 exp(-0.3 T^2) (7-8), K = 0.08 T + 10 for T < 100 ms (7-9)
  and K = 18 from 100 ms on (7-10); there is no sidetone term.
- Idle,WB and Rle (7-11, 7-12) are G.107's eq. 7-25 and 7-26 with Ro,WB.
- Idd,WB = 1.29 times G.107's Idd (7-13, 7-14).
- Ie,eff,WB = Ie,WB + (95 - Ie,WB) Ppl / (Ppl + Bpl) (7-15). The constant is
  95, as in G.107 eq. 7-29, not 129.
- A (7-16), 0 by default.
- Annex A: Rx = R / 1.29 (A-1), then MOS from Rx by the polynomial of G.107
  Annex B (A-2).

Units: delays are SI seconds here (``t_s``, ``tr_s``, ``ta_s``) and are
converted to the milliseconds G.107.1 uses inside :func:`evaluate`.

Vectorization: as in :mod:`models.emodel`, any numeric field of
:class:`EModelWbInputs` may be a numpy array; every term is computed
elementwise over the broadcast shape. Scalars in give ``numpy.float64`` out.

Points where the sources leave room, decided here:

- Roe (7-6). The 06/2019 text writes Roe = -1.5 (No - RLR), but G.107.1
  defines no noise model, and Corrigendum 1 replaces that equation with a
  text that could not be consulted. Here No is G.107's noise sum (G.107
  eq. 7-3 to 7-7) at G.107's Table 3 values except the receive-side noise
  floor, Nfor = -96 dBmp, which the sources give as G.107.1 Table 1's value:
  No = -68.81 dBm0p and Roe = 106.21 at the defaults. The noise inputs below
  act only through Roe; they move Idte,WB, never Ro,WB.
- BurstR. Eq. 7-15 is stated for random loss only (G.113 Appendix IV gives
  Bpl,WB "for uniform loss"). ``burst_r`` carries G.107 eq. 7-29's burst
  ratio over, as :mod:`models.emodel` does; at its default, 1, the formula is
  exactly 7-15, and bursty loss still rates worse than random loss.
- Defaults not printed in the sources (TELR, WEPL, RLR, the noise levels,
  Bpl) take G.107 Table 3's values; only Nfor differs. With them, R = 129 -
  Idle,WB = 128.85: the listener echo of a 110 dB echo path is the only
  default impairment.
- Negative Idte,WB. With TELR = 65 dB the echo is far below audibility and
  (7-5) gives a small negative Idte,WB: about -0.3 for T of 1 to 5 ms,
  crossing zero near T = 33 ms. So R rises by up to about 0.2 as the
  mouth-to-ear delay grows from 0 to a few milliseconds, then falls; the
  formula is kept as written (see :mod:`models.emodel` for the same effect in
  G.107). The "T < 1 ms counts as sidetone" rule of G.107 is not part of the
  wideband equations and is not applied.
- MOS floor: as in :func:`models.emodel.mos_from_r`, the cubic's dip below 1
  (0 < Rx < 6.5) is clipped, so MOS stays in [1, 4.5].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from voipbed.models import emodel
from voipbed.models.emodel import FloatArray, FloatOrArray

RO_WB = 129.0
"""Basic signal-to-noise ratio Ro,WB: the top of the wideband R scale (G.107.1 eq. 7-2)."""

IS_WB = 0.0
"""Simultaneous impairment factor Is,WB (G.107.1 eq. 7-3)."""

IDD_WB_FACTOR = 1.29
"""Idd,WB = 1.29 x Idd of G.107 (G.107.1 eq. 7-13)."""

RX_DIVISOR = 1.29
"""Rx = R / 1.29, the R that Annex A feeds to the MOS polynomial (G.107.1 eq. A-1)."""

IE_EFF_WB_CEILING = emodel.IE_EFF_CEILING
"""Ie,eff,WB as packet loss tends to 100 %: 95, as in G.107 (G.107.1 eq. 7-15)."""

MOS_MIN = emodel.MOS_MIN
"""MOS for Rx <= 0 (G.107.1 Annex A, eq. A-2)."""

MOS_MAX = emodel.MOS_MAX
"""MOS for Rx >= 100, i.e. R >= 129 (G.107.1 Annex A, eq. A-2)."""

# ITU-T G.113 (09/2024) Appendix IV, as transcribed by sipnab (docs "MOS and codecs"):
# Ie,WB of the nine G.722.2 (AMR-WB) modes, keyed by bit rate in bit/s. Provisional
# planning values ("This appendix does not form an integral part of this Recommendation").
AMR_WB_IE_WB_MONOTIC: Mapping[int, float] = MappingProxyType(
    {23850: 8.0, 23050: 1.0, 19850: 3.0, 18250: 5.0, 15850: 7.0, 14250: 10.0,
     12650: 13.0, 8850: 26.0, 6600: 41.0}
)  # fmt: skip
"""Ie,WB of G.722.2 (AMR-WB) per mode, handset or monaural headset (G.113 Table IV.1)."""

AMR_WB_IE_WB_DIOTIC: Mapping[int, float] = MappingProxyType(
    {23850: 10.0, 23050: 8.0, 15850: 17.0, 12650: 20.0, 8850: 41.0, 6600: 56.0}
)
"""Ie,WB of G.722.2 (AMR-WB), binaural listening (G.113 Table IV.3; no 19.85, 18.25, 14.25)."""

AMR_WB_BPL_WB_DIOTIC: Mapping[int, float] = MappingProxyType({23850: 4.9, 23050: 4.6, 12650: 4.3})
"""Bpl,WB of G.722.2 (AMR-WB), binaural listening, random loss (G.113 Table IV.4).

G.113 gives no Bpl,WB for monaural listening nor for bursty loss.
"""

_K_KNEE_MS = 100.0  # K = 0.08 T + 10 below, 18 from here on (G.107.1 eq. 7-9, 7-10)
_MS_PER_S = 1000.0


@dataclass(frozen=True)
class EModelWbInputs:
    """Every G.107.1 input, defaulting to G.107.1 Table 1 (clause 7.7) as far as it is known.

    With all defaults R = 128.85 (see the module docstring). As in
    :class:`models.emodel.EModelInputs`, permitted ranges are not enforced;
    only values where the formulas break, or without physical meaning, raise
    ``ValueError``. Any numeric field may be a numpy array.
    """

    telr_db: FloatOrArray = 65.0
    """Talker echo loudness rating TELR (G.107 Table 3: 65 dB)."""
    wepl_db: FloatOrArray = 110.0
    """Weighted echo path loss WEPL (G.107 Table 3: 110 dB)."""
    t_s: FloatOrArray = 0.0
    """Mean one-way delay of the echo path T (0 ms), in seconds."""
    tr_s: FloatOrArray = 0.0
    """Round-trip delay in a 4-wire loop Tr (0 ms), in seconds."""
    ta_s: FloatOrArray = 0.0
    """Absolute delay in echo-free connections Ta (0 ms), in seconds."""
    ie_wb: FloatOrArray = 0.0
    """Wideband equipment impairment factor Ie,WB (0; G.113 Appendix IV per codec)."""
    bpl: FloatOrArray = 4.3
    """Wideband packet-loss robustness factor Bpl,WB (G.107 Table 3's 4.3).

    With the default Ppl = 0 it does not change R. 4.3 is also G.113
    Table IV.4's value for G.722.2 at 12.65 kbit/s.
    """
    ppl_percent: FloatOrArray = 0.0
    """Random packet-loss probability Ppl in percent (0 %)."""
    burst_r: FloatOrArray = 1.0
    """Burst ratio BurstR (1: random loss, exactly eq. 7-15); see the module docstring."""
    advantage: FloatOrArray = 0.0
    """Advantage factor A (G.107.1 eq. 7-16: 0)."""
    rlr_db: FloatOrArray = 2.0
    """Receive loudness rating RLR (G.107 Table 3: 2 dB); acts through Roe only."""
    slr_db: FloatOrArray = 8.0
    """Send loudness rating SLR (G.107 Table 3: 8 dB); acts through No, hence Roe, only."""
    ds_db: FloatOrArray = 3.0
    """D-value of the telephone, send side (G.107 Table 3: 3); through No only."""
    lstr_db: FloatOrArray = 18.0
    """Listener sidetone rating LSTR (G.107 Table 3: 18 dB); through No only."""
    nc_dbm0p: FloatOrArray = -70.0
    """Circuit noise Nc (G.107 Table 3: -70 dBm0p); through No only."""
    nfor_dbmp: FloatOrArray = -96.0
    """Noise floor at the receive side Nfor (G.107.1 Table 1: -96 dBmp); through No only."""
    ps_dba: FloatOrArray = 35.0
    """Room noise at the send side Ps (G.107 Table 3: 35 dB(A)); through No only."""
    pr_dba: FloatOrArray = 35.0
    """Room noise at the receive side Pr (G.107 Table 3: 35 dB(A)); through No only."""

    def __post_init__(self) -> None:
        emodel.check_numeric_fields(self)
        for name in ("t_s", "tr_s", "ta_s"):
            if np.any(_arr(getattr(self, name)) < 0.0):
                raise ValueError(f"EModelWbInputs.{name} must be >= 0, got {getattr(self, name)}")
        if np.any(_arr(self.bpl) <= 0.0):
            raise ValueError(f"EModelWbInputs.bpl must be > 0, got {self.bpl}")
        ppl = _arr(self.ppl_percent)
        if np.any((ppl < 0.0) | (ppl > 100.0)):
            raise ValueError(f"EModelWbInputs.ppl_percent must be within [0, 100], got {ppl}")
        if np.any(_arr(self.burst_r) < 1.0):
            raise ValueError(f"EModelWbInputs.burst_r must be >= 1, got {self.burst_r}")


class EModelWbResult(NamedTuple):
    """Every term of the wideband E-model, named as in G.107.1 (snake_case), in its units."""

    no: FloatOrArray
    """Total noise power No (G.107 eq. 7-3, dBm0p), used only by Roe."""
    roe: FloatOrArray
    """Roe = -1.5 (No - RLR) (G.107.1 eq. 7-6; see the module docstring)."""
    k: FloatOrArray
    """K, the wideband correction of TERV (eq. 7-9, 7-10)."""
    terv: FloatOrArray
    """Weighted echo loss TERV,WB (eq. 7-8)."""
    re: FloatOrArray
    """Re,WB = 80 + 3 (TERV - 14) (eq. 7-7)."""
    idte: FloatOrArray
    """Talker echo impairment Idte,WB (eq. 7-5)."""
    rle: FloatOrArray
    """Rle (eq. 7-12)."""
    idle: FloatOrArray
    """Listener echo impairment Idle,WB (eq. 7-11)."""
    idd: FloatOrArray
    """Impairment from absolute delay Idd,WB (eq. 7-13, 7-14)."""
    id: FloatOrArray
    """Delay impairment factor Id,WB = Idte,WB + Idle,WB + Idd,WB (eq. 7-4)."""
    ie_eff: FloatOrArray
    """Effective equipment impairment factor Ie,eff,WB (eq. 7-15)."""
    ro: FloatOrArray
    """Basic signal-to-noise ratio Ro,WB = 129 (eq. 7-2)."""
    is_: FloatOrArray
    """Simultaneous impairment factor Is,WB = 0 (eq. 7-3)."""
    advantage: FloatOrArray
    """Advantage factor A (eq. 7-16)."""
    r: FloatOrArray
    """Transmission rating factor R on the 0-129 scale (eq. 7-1)."""
    rx: FloatOrArray
    """Rx = R / 1.29, R on the 0-100 scale of G.107 Annex B (Annex A, eq. A-1)."""
    mos: FloatOrArray
    """Conversational MOS from R (Annex A, eq. A-2; see :func:`mos_from_r`)."""


def evaluate(inputs: EModelWbInputs) -> EModelWbResult:
    """Rate a wideband connection: every term of G.107.1 clause 7, R (eq. 7-1) and MOS (Annex A)."""
    telr = _arr(inputs.telr_db)
    wepl = _arr(inputs.wepl_db)
    rlr = _arr(inputs.rlr_db)
    t = _arr(inputs.t_s) * _MS_PER_S
    tr = _arr(inputs.tr_s) * _MS_PER_S
    a = _arr(inputs.advantage)
    ro = np.float64(RO_WB)  # (7-2)
    is_ = np.float64(IS_WB)  # (7-3)

    with np.errstate(all="ignore"):  # out-of-domain inputs surface as NaN, checked below
        # Roe needs No, which G.107.1 does not model: G.107's noise sum (module docstring).
        slr, ds, lstr = _arr(inputs.slr_db), _arr(inputs.ds_db), _arr(inputs.lstr_db)
        ps, pr = _arr(inputs.ps_dba), _arr(inputs.pr_dba)
        nos = ps - slr - ds - 100.0 + 0.004 * (ps - slr - rlr - ds - 14.0) ** 2  # G.107 (7-4)
        pre = pr + 10.0 * np.log10(1.0 + 10.0 ** ((10.0 - lstr) / 10.0))  # G.107 (7-6)
        nor = rlr - 121.0 + pre + 0.008 * (pre - 35.0) ** 2  # G.107 (7-5)
        nfo = _arr(inputs.nfor_dbmp) + rlr  # G.107 (7-7)
        no = 10.0 * np.log10(
            10.0 ** (_arr(inputs.nc_dbm0p) / 10.0)
            + 10.0 ** (nos / 10.0)
            + 10.0 ** (nor / 10.0)
            + 10.0 ** (nfo / 10.0)
        )  # G.107 (7-3)

        # 7.4 Delay impairment factor Id,WB.
        roe = -1.5 * (no - rlr)  # (7-6)
        k = np.where(t < _K_KNEE_MS, 0.08 * t + 10.0, 18.0)  # (7-9), (7-10)
        terv = (
            telr
            + k
            - 40.0 * np.log10((1.0 + t / 10.0) / (1.0 + t / 150.0))
            + 6.0 * np.exp(-0.3 * t**2)
        )  # (7-8)
        re = 80.0 + 3.0 * (terv - 14.0)  # (7-7)
        idte = ((roe - re) / 2.0 + np.sqrt((roe - re) ** 2 / 4.0 + 100.0) - 1.0) * (
            1.0 - np.exp(-t)
        )  # (7-5)
        rle = 10.5 * (wepl + 7.0) * (tr + 1.0) ** -0.25  # (7-12)
        idle = (ro - rle) / 2.0 + np.sqrt((ro - rle) ** 2 / 4.0 + 169.0)  # (7-11)
        idd_ = _arr(idd_wb(inputs.ta_s))  # (7-13), (7-14)
        id_ = idte + idle + idd_  # (7-4)

        # 7.5 Ie,eff,WB (eq. 7-15; BurstR = 1 by default, see the module docstring), 7.1 R.
        ie_eff_ = _arr(ie_eff_wb(inputs.ie_wb, inputs.bpl, inputs.ppl_percent, inputs.burst_r))
        r = ro - is_ - id_ - ie_eff_ + a  # (7-1)

    if not np.all(np.isfinite(r)):
        raise ValueError(
            "G.107.1 formulas gave a non-finite R: the inputs are outside the domain where "
            f"clause 7 is defined ({inputs!r})"
        )
    terms = np.broadcast_arrays(
        no, roe, k, terv, re, idte, rle, idle, idd_, id_, ie_eff_, ro, is_, a, r,
        _arr(rx_from_r(_out(r))), _arr(mos_from_r(_out(r))),
    )  # fmt: skip
    return EModelWbResult(*(_out(term) for term in terms))


def ie_eff_wb(
    ie_wb: FloatOrArray,
    bpl: FloatOrArray,
    ppl_percent: FloatOrArray,
    burst_r: FloatOrArray = 1.0,
) -> FloatOrArray:
    """Effective wideband equipment impairment factor Ie,eff,WB (G.107.1 eq. 7-15).

    Ie,eff,WB = Ie,WB + (95 - Ie,WB) Ppl / (Ppl / BurstR + Bpl), with Ppl in
    percent; BurstR = 1 (the default) is eq. 7-15 exactly. The formula is
    G.107's eq. 7-29 (:func:`models.emodel.ie_eff`), which does the work.
    """
    return emodel.ie_eff(ie_wb, bpl, ppl_percent, burst_r)


def idd_wb(ta_s: FloatOrArray) -> FloatOrArray:
    """Impairment from absolute one-way delay Idd,WB = 1.29 Idd (G.107.1 eq. 7-13, 7-14).

    Idd is G.107's (eq. 7-27, 7-28) with its "Default" delay sensitivity,
    mT = 100 ms and sT = 1: 0 up to Ta = 100 ms.
    """
    return _out(IDD_WB_FACTOR * _arr(emodel.idd(ta_s)))


def rx_from_r(r: FloatOrArray) -> FloatOrArray:
    """Rx = R / 1.29: a wideband R on the 0-100 scale of G.107 Annex B (G.107.1 eq. A-1).

    A change of scale for the MOS conversion, not the R that G.107 would give
    the same connection heard through a narrowband path.
    """
    return _out(_arr(r) / RX_DIVISOR)


def mos_from_r(r: FloatOrArray) -> FloatOrArray:
    """Conversational MOS from a wideband R (G.107.1 Annex A, eq. A-1 and A-2), elementwise.

    MOS = 1 for Rx < 0, 4.5 for Rx > 100 (R > 129), and in between
    1 + 0.035 Rx + Rx (Rx - 60) (100 - Rx) 7e-6 with Rx = R / 1.29: the
    narrowband :func:`models.emodel.mos_from_r` applied to Rx, clipped at 1
    the same way.
    """
    return emodel.mos_from_r(rx_from_r(r))


def for_mouth_to_ear(ta_s: FloatOrArray, **overrides: FloatOrArray) -> EModelWbInputs:
    """Inputs for a connection with mouth-to-ear delay ``ta_s``: Ta = T = ta_s, Tr = 2 ta_s.

    The same convention, for the same reasons, as
    :func:`models.emodel.for_mouth_to_ear`, whose docstring explains it.
    ``overrides`` sets any other :class:`EModelWbInputs` field, including
    ``t_s`` or ``tr_s``.
    """
    if "ta_s" in overrides:
        raise TypeError("for_mouth_to_ear got ta_s twice: pass it positionally only")
    params: dict[str, FloatOrArray] = {"ta_s": ta_s, "t_s": ta_s, "tr_s": 2.0 * ta_s}
    params.update(overrides)
    return EModelWbInputs(**params)


def _arr(x: FloatOrArray) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatOrArray:
    """0-d arrays become numpy float64 scalars; other arrays pass through."""
    return np.float64(x) if x.ndim == 0 else x


__all__ = [
    "AMR_WB_BPL_WB_DIOTIC",
    "AMR_WB_IE_WB_DIOTIC",
    "AMR_WB_IE_WB_MONOTIC",
    "IDD_WB_FACTOR",
    "IE_EFF_WB_CEILING",
    "IS_WB",
    "MOS_MAX",
    "MOS_MIN",
    "RO_WB",
    "RX_DIVISOR",
    "EModelWbInputs",
    "EModelWbResult",
    "evaluate",
    "for_mouth_to_ear",
    "idd_wb",
    "ie_eff_wb",
    "mos_from_r",
    "rx_from_r",
]
