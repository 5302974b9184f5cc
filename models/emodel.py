"""Narrowband E-model of ITU-T G.107 (06/2015): transmission rating R and MOS.

Role: turn the transmission parameters of a 3.1 kHz handset connection
(loudness ratings, noise, sidetone, echo, delays, codec impairment, packet
loss) into the transmission rating factor R and the MOS of Annex B. Pure:
numpy only, no clock, no I/O.

Source: Recommendation ITU-T G.107 (06/2015), "The E-model: a computational
model for use in transmission planning" (approved 2015-06-29). Clause numbers
(7.1 to 7.7, Annex B) and equation numbers (7-1 to 7-30, B-4) refer to that
edition. The 06/2015 edition adds the delay-sensitivity parameters sT and mT
to Idd (clause 7.4, Table 1); their "Default" class, sT = 1 and mT = 100 ms,
gives back the classic Idd of the earlier editions. The ITU text itself was
not at hand when this was written: formulas, equation numbers and the
Table 1/Table 3 defaults were cross-checked against public implementations
and discussions that cite the 06/2015 edition.

Units: delays are SI seconds here (``t_s``, ``tr_s``, ``ta_s``, ``m_t_s``)
and are converted to the milliseconds G.107 uses inside :func:`evaluate`.

Vectorization: any numeric field of :class:`EModelInputs` may be a numpy
array; arrays must have equal (or broadcastable) shapes and every term is
computed elementwise, so many flows or time windows are rated in one call.
Scalars in give ``numpy.float64`` scalars out.

Points where the text leaves room, decided here:

- Order in Idte (clause 7.4): the rule "for T < 1 ms the talker echo is
  considered as sidetone, Idte = 0" is applied first, then the STMR > 20 dB
  replacement Idtes = sqrt(Idte^2 + Ist^2) (7-24).
- Idte is not clipped at zero. With a very good echo loss (TELR = 65 dB) and
  a few milliseconds of echo delay, (7-19) gives a slightly negative Idte
  (about -0.1 at T = 1 ms), so R steps up by about 0.1 when T crosses 1 ms.
  That is the formula as written; it has no practical weight for VoIP, where
  mouth-to-ear delays are tens of milliseconds.
- MOS floor (Annex B): the cubic (B-4) dips below 1 for 0 < R < 6.5 (minimum
  about 0.989 at R = 3.2). :func:`mos_from_r` clips it at 1, the value (B-4)
  itself gives for R <= 0, so MOS stays in [1, 4.5] and never falls as R
  rises. The clip moves MOS by at most 0.011.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
FloatOrArray: TypeAlias = float | FloatArray

DEFAULT_S_T = 1.0
"""Delay sensitivity sT, "Default" class (G.107 clause 7.4, Table 1)."""

DEFAULT_M_T_S = 0.100
"""Minimum perceivable delay mT, "Default" class: 100 ms (G.107 clause 7.4, Table 1)."""

IE_EFF_CEILING = 95.0
"""Ie,eff as packet loss tends to 100 % at BurstR = 1 (G.107 eq. 7-29)."""

MOS_MIN = 1.0
"""MOS for R < 0 (G.107 Annex B, eq. B-4)."""

MOS_MAX = 4.5
"""MOS for R > 100 (G.107 Annex B, eq. B-4)."""

_STMR_TERVS_BELOW_DB = 9.0  # TERV -> TERVs = TERV + Ist/2 below this STMR (G.107 eq. 7-23)
_STMR_IDTES_ABOVE_DB = 20.0  # Idte -> Idtes = sqrt(Idte^2 + Ist^2) above this STMR (eq. 7-24)
_ECHO_AS_SIDETONE_BELOW_MS = 1.0  # "for T < 1 ms ... Idte = 0" (G.107 clause 7.4)
_MS_PER_S = 1000.0


@dataclass(frozen=True)
class EModelInputs:
    """Every G.107 input parameter, defaulting to G.107 Table 3 (clause 7.7).

    With all defaults R = 93.2 (clause 7.7). Table 3's permitted ranges are
    not enforced: G.107 Annex A warns that results outside them are less
    certain, not invalid. Only values where the formulas break, or that have
    no physical meaning, raise ``ValueError``.

    Any numeric field may be a numpy array (see the module docstring).
    Equality and hashing are meaningful only when every field is a scalar.
    """

    slr_db: FloatOrArray = 8.0
    """Send loudness rating SLR (Table 3: 8 dB)."""
    rlr_db: FloatOrArray = 2.0
    """Receive loudness rating RLR (Table 3: 2 dB)."""
    stmr_db: FloatOrArray = 15.0
    """Sidetone masking rating STMR (Table 3: 15 dB)."""
    lstr_db: FloatOrArray = 18.0
    """Listener sidetone rating LSTR (Table 3: 18 dB)."""
    ds_db: FloatOrArray = 3.0
    """D-value of the telephone, send side, Ds (Table 3: 3)."""
    dr_db: FloatOrArray = 3.0
    """D-value of the telephone, receive side, Dr (Table 3: 3).

    No equation of clause 7 uses Dr; it enters through LSTR = STMR + Dr, the
    relation behind the Table 3 defaults (18 = 15 + 3). Kept for
    completeness; :func:`evaluate` reads ``lstr_db`` as given.
    """
    telr_db: FloatOrArray = 65.0
    """Talker echo loudness rating TELR (Table 3: 65 dB)."""
    wepl_db: FloatOrArray = 110.0
    """Weighted echo path loss WEPL (Table 3: 110 dB)."""
    t_s: FloatOrArray = 0.0
    """Mean one-way delay of the echo path T (Table 3: 0 ms), in seconds."""
    tr_s: FloatOrArray = 0.0
    """Round-trip delay in a 4-wire loop Tr (Table 3: 0 ms), in seconds."""
    ta_s: FloatOrArray = 0.0
    """Absolute delay in echo-free connections Ta (Table 3: 0 ms), in seconds."""
    s_t: FloatOrArray = DEFAULT_S_T
    """Delay sensitivity sT (clause 7.4, Table 1 "Default" class: 1)."""
    m_t_s: FloatOrArray = DEFAULT_M_T_S
    """Minimum perceivable delay mT (Table 1 "Default" class: 100 ms), in seconds."""
    qdu: FloatOrArray = 1.0
    """Number of quantization distortion units qdu (Table 3: 1)."""
    ie: FloatOrArray = 0.0
    """Equipment impairment factor Ie (Table 3: 0)."""
    bpl: FloatOrArray = 4.3
    """Packet-loss robustness factor Bpl (Table 3: 4.3, G.711 without PLC).

    Earlier editions and some tools use 1; with the default Ppl = 0 the
    choice does not change R.
    """
    ppl_percent: FloatOrArray = 0.0
    """Random packet-loss probability Ppl in percent (Table 3: 0 %)."""
    burst_r: FloatOrArray = 1.0
    """Burst ratio BurstR (Table 3: 1, random loss); see :func:`burst_ratio`."""
    nc_dbm0p: FloatOrArray = -70.0
    """Circuit noise referred to the 0 dBr point Nc (Table 3: -70 dBm0p)."""
    nfor_dbmp: FloatOrArray = -64.0
    """Noise floor at the receive side Nfor (Table 3: -64 dBmp)."""
    ps_dba: FloatOrArray = 35.0
    """Room noise at the send side Ps (Table 3: 35 dB(A))."""
    pr_dba: FloatOrArray = 35.0
    """Room noise at the receive side Pr (Table 3: 35 dB(A))."""
    advantage: FloatOrArray = 0.0
    """Advantage factor A (Table 3: 0; clause 7.6, Table 2 for other values)."""

    def __post_init__(self) -> None:
        check_numeric_fields(self)
        for name in ("t_s", "tr_s", "ta_s"):
            _require_non_negative(f"EModelInputs.{name}", getattr(self, name))
        _require_positive("EModelInputs.m_t_s", self.m_t_s)
        _require_positive("EModelInputs.s_t", self.s_t)
        _require_positive("EModelInputs.qdu", self.qdu)
        _check_loss("EModelInputs.", self.bpl, self.ppl_percent, self.burst_r)


class EModelResult(NamedTuple):
    """Every term of the E-model, named as in G.107 (snake_case), in G.107 units."""

    olr: FloatOrArray
    """Overall loudness rating OLR = SLR + RLR (dB)."""
    nos: FloatOrArray
    """Equivalent circuit noise from send-side room noise Nos (eq. 7-4, dBm0p)."""
    pre: FloatOrArray
    """Effective receive-side room noise Pre (eq. 7-6, dB(A))."""
    nor: FloatOrArray
    """Equivalent circuit noise from receive-side room noise Nor (eq. 7-5, dBm0p)."""
    nfo: FloatOrArray
    """Noise floor at the receive side Nfo (eq. 7-7, dBm0p)."""
    no: FloatOrArray
    """Total noise power No (eq. 7-3, dBm0p)."""
    ro: FloatOrArray
    """Basic signal-to-noise ratio Ro (eq. 7-2)."""
    xolr: FloatOrArray
    """Xolr (eq. 7-10)."""
    iolr: FloatOrArray
    """Impairment from too low OLR, Iolr (eq. 7-9)."""
    stmro: FloatOrArray
    """Optimum sidetone masking rating STMRo (eq. 7-12, dB)."""
    ist: FloatOrArray
    """Impairment from non-optimum sidetone, Ist (eq. 7-11)."""
    q: FloatOrArray
    """Q (eq. 7-17)."""
    g: FloatOrArray
    """G (eq. 7-16)."""
    z: FloatOrArray
    """Z (eq. 7-15)."""
    y: FloatOrArray
    """Y (eq. 7-14)."""
    iq: FloatOrArray
    """Impairment from quantizing distortion, Iq (eq. 7-13)."""
    is_: FloatOrArray
    """Simultaneous impairment factor Is (eq. 7-8)."""
    terv: FloatOrArray
    """Weighted echo loss TERV, or TERVs when STMR < 9 dB (eq. 7-22, 7-23)."""
    roe: FloatOrArray
    """Roe (eq. 7-20)."""
    re: FloatOrArray
    """Re (eq. 7-21)."""
    idte: FloatOrArray
    """Talker echo impairment Idte, or Idtes when STMR > 20 dB (eq. 7-19, 7-24)."""
    rle: FloatOrArray
    """Rle (eq. 7-26)."""
    idle: FloatOrArray
    """Listener echo impairment Idle (eq. 7-25)."""
    idd: FloatOrArray
    """Impairment from absolute delay Idd (eq. 7-27, 7-28)."""
    id: FloatOrArray
    """Delay impairment factor Id = Idte + Idle + Idd (eq. 7-18)."""
    ie_eff: FloatOrArray
    """Effective equipment impairment factor Ie,eff (eq. 7-29)."""
    advantage: FloatOrArray
    """Advantage factor A (clause 7.6)."""
    r: FloatOrArray
    """Transmission rating factor R = Ro - Is - Id - Ie,eff + A (eq. 7-1)."""
    mos: FloatOrArray
    """Conversational MOS from R (Annex B, eq. B-4; see :func:`mos_from_r`)."""


def evaluate(inputs: EModelInputs) -> EModelResult:
    """Rate a connection: every term of G.107 clause 7, R (eq. 7-1) and MOS (Annex B)."""
    slr = _arr(inputs.slr_db)
    rlr = _arr(inputs.rlr_db)
    stmr = _arr(inputs.stmr_db)
    lstr = _arr(inputs.lstr_db)
    ds = _arr(inputs.ds_db)
    telr = _arr(inputs.telr_db)
    wepl = _arr(inputs.wepl_db)
    t = _arr(inputs.t_s) * _MS_PER_S
    tr = _arr(inputs.tr_s) * _MS_PER_S
    qdu = _arr(inputs.qdu)
    nc = _arr(inputs.nc_dbm0p)
    nfor = _arr(inputs.nfor_dbmp)
    ps = _arr(inputs.ps_dba)
    pr = _arr(inputs.pr_dba)
    a = _arr(inputs.advantage)

    # Out-of-domain inputs (e.g. a far negative STMR) surface as NaN, checked below.
    with np.errstate(all="ignore"):
        # 7.2 Basic signal-to-noise ratio Ro.
        olr = slr + rlr
        nos = ps - slr - ds - 100.0 + 0.004 * (ps - olr - ds - 14.0) ** 2  # (7-4)
        pre = pr + 10.0 * np.log10(1.0 + 10.0 ** ((10.0 - lstr) / 10.0))  # (7-6)
        nor = rlr - 121.0 + pre + 0.008 * (pre - 35.0) ** 2  # (7-5)
        nfo = nfor + rlr  # (7-7)
        no = 10.0 * np.log10(
            10.0 ** (nc / 10.0) + 10.0 ** (nos / 10.0) + 10.0 ** (nor / 10.0) + 10.0 ** (nfo / 10.0)
        )  # (7-3)
        ro = 15.0 - 1.5 * (slr + no)  # (7-2)

        # 7.3 Simultaneous impairment factor Is.
        xolr = olr + 0.2 * (64.0 + no - rlr)  # (7-10)
        iolr = 20.0 * ((1.0 + (xolr / 8.0) ** 8) ** (1.0 / 8.0) - xolr / 8.0)  # (7-9)
        stmro = -10.0 * np.log10(
            10.0 ** (-stmr / 10.0) + np.exp(-t / 4.0) * 10.0 ** (-telr / 10.0)
        )  # (7-12)
        ist = (
            12.0 * (1.0 + ((stmro - 13.0) / 6.0) ** 8) ** (1.0 / 8.0)
            - 28.0 * (1.0 + ((stmro + 1.0) / 19.4) ** 35) ** (1.0 / 35.0)
            - 13.0 * (1.0 + ((stmro - 3.0) / 33.0) ** 13) ** (1.0 / 13.0)
            + 29.0
        )  # (7-11)
        q = 37.0 - 15.0 * np.log10(qdu)  # (7-17)
        g = 1.07 + 0.258 * q + 0.0602 * q**2  # (7-16)
        z = 46.0 / 30.0 - g / 40.0  # (7-15)
        y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0  # (7-14)
        iq = 15.0 * np.log10(1.0 + 10.0**y + 10.0**z)  # (7-13)
        is_ = iolr + ist + iq  # (7-8)

        # 7.4 Delay impairment factor Id.
        terv = (
            telr - 40.0 * np.log10((1.0 + t / 10.0) / (1.0 + t / 150.0)) + 6.0 * np.exp(-0.3 * t**2)
        )  # (7-22)
        terv = np.where(stmr < _STMR_TERVS_BELOW_DB, terv + ist / 2.0, terv)  # TERVs (7-23)
        roe = -1.5 * (no - rlr)  # (7-20)
        re = 80.0 + 2.5 * (terv - 14.0)  # (7-21)
        idte = ((roe - re) / 2.0 + np.sqrt((roe - re) ** 2 / 4.0 + 100.0) - 1.0) * (
            1.0 - np.exp(-t)
        )  # (7-19)
        idte = np.where(t < _ECHO_AS_SIDETONE_BELOW_MS, 0.0, idte)
        idte = np.where(
            stmr > _STMR_IDTES_ABOVE_DB, np.sqrt(idte**2 + ist**2), idte
        )  # Idtes (7-24)
        rle = 10.5 * (wepl + 7.0) * (tr + 1.0) ** -0.25  # (7-26)
        idle = (ro - rle) / 2.0 + np.sqrt((ro - rle) ** 2 / 4.0 + 169.0)  # (7-25)
        idd_ = _arr(idd(inputs.ta_s, m_t_s=inputs.m_t_s, s_t=inputs.s_t))  # (7-27), (7-28)
        id_ = idte + idle + idd_  # (7-18)

        # 7.5 Effective equipment impairment factor, 7.6 advantage factor, 7.1 R.
        ie_eff_ = _arr(ie_eff(inputs.ie, inputs.bpl, inputs.ppl_percent, inputs.burst_r))
        r = ro - is_ - id_ - ie_eff_ + a  # (7-1)

    if not np.all(np.isfinite(r)):
        raise ValueError(
            "G.107 formulas gave a non-finite R: the inputs are outside the domain where "
            f"clause 7 is defined ({inputs!r})"
        )
    # Broadcast every term to the common shape, so array callers can index any of them.
    terms = np.broadcast_arrays(
        olr, nos, pre, nor, nfo, no, ro, xolr, iolr, stmro, ist, q, g, z, y, iq, is_, terv,
        roe, re, idte, rle, idle, idd_, id_, ie_eff_, a, r, _arr(mos_from_r(_out(r))),
    )  # fmt: skip
    return EModelResult(*(_out(term) for term in terms))


def ie_eff(
    ie: FloatOrArray, bpl: FloatOrArray, ppl_percent: FloatOrArray, burst_r: FloatOrArray
) -> FloatOrArray:
    """Effective equipment impairment factor Ie,eff (G.107 clause 7.5, eq. 7-29).

    Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl), with Ppl in percent.
    For Ppl = 0 it equals Ie.
    """
    _check_loss("", bpl, ppl_percent, burst_r)
    ie_a, bpl_a, ppl_a, burst_a = _arr(ie), _arr(bpl), _arr(ppl_percent), _arr(burst_r)
    return _out(ie_a + (IE_EFF_CEILING - ie_a) * ppl_a / (ppl_a / burst_a + bpl_a))


def mos_from_r(r: FloatOrArray) -> FloatOrArray:
    """Conversational MOS from R (G.107 Annex B, eq. B-4), elementwise.

    R < 0 gives 1, R > 100 gives 4.5, and in between
    MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6, clipped below at 1 (see the
    module docstring: the cubic dips to about 0.989 near R = 3.2).
    """
    r_a = _arr(r)
    if np.any(np.isnan(r_a)):
        raise ValueError(f"mos_from_r needs R values that are not NaN, got {r_a}")
    rc = np.clip(r_a, 0.0, 100.0)  # keeps the cubic finite for +/-inf; R outside is replaced below
    cubic = 1.0 + 0.035 * rc + rc * (rc - 60.0) * (100.0 - rc) * 7e-6  # (B-4)
    mos = np.where(r_a < 0.0, MOS_MIN, np.where(r_a > 100.0, MOS_MAX, cubic))
    return _out(np.clip(mos, MOS_MIN, MOS_MAX))


def idd(
    ta_s: FloatOrArray, m_t_s: FloatOrArray = DEFAULT_M_T_S, s_t: FloatOrArray = DEFAULT_S_T
) -> FloatOrArray:
    """Impairment from absolute one-way delay Idd (G.107 clause 7.4, eq. 7-27 and 7-28).

    Idd = 0 for Ta <= mT; above it, with X = log2(Ta / mT),
    Idd = 25 {(1 + X^(6 sT))^(1/(6 sT)) - 3 (1 + (X/3)^(6 sT))^(1/(6 sT)) + 2}.
    The default sT = 1, mT = 100 ms (Table 1 "Default" class) give the classic
    formula of the editions before 2015.
    """
    _require_non_negative("ta_s", ta_s)
    _require_positive("m_t_s", m_t_s)
    _require_positive("s_t", s_t)
    ta, mt, st = _arr(ta_s), _arr(m_t_s), _arr(s_t)
    x = np.log2(np.maximum(ta, mt) / mt)  # (7-28); X >= 0, so no log of zero at Ta = 0
    k = 6.0 * st
    above = 25.0 * ((1.0 + x**k) ** (1.0 / k) - 3.0 * (1.0 + (x / 3.0) ** k) ** (1.0 / k) + 2.0)
    return _out(np.where(ta > mt, above, 0.0))  # (7-27)


def burst_ratio(lost: npt.ArrayLike) -> float:
    """Estimate BurstR from a per-packet loss sequence (G.107 clause 7.5, eq. 7-30).

    ``lost`` is a 1-D sequence of booleans (or 0/1) in arrival order, True for
    a lost packet. G.107 defines, for a two-state Markov loss process,
    BurstR = 1 / (p + q), where p = P(lost | previous received) and
    q = P(received | previous lost). Both are estimated from the consecutive
    pairs of ``lost``. Edge cases:

    - fewer than two packets, or no loss: 1.0 (random loss, the Table 3 default);
    - no lost -> received transition (the last loss run reaches the end of
      the window, including "all lost"): the run is treated as ending just
      after the window, i.e. one pseudo transition, q = 1 / (n_L + 1) with
      n_L the pairs starting in the lost state. All n packets lost gives n;
    - no pair starting in the received state (p unobservable): p = 0;
    - p + q > 1 (losses more isolated than random, e.g. alternating): 1.0,
      because G.107 uses BurstR >= 1 (1 for random, > 1 for bursty loss).

    The result is finite and >= 1.
    """
    seq = np.asarray(lost)
    if seq.ndim != 1:
        raise ValueError(f"burst_ratio needs a 1-D loss sequence, got shape {seq.shape}")
    if seq.dtype != np.bool_:
        if seq.size and not np.all((seq == 0) | (seq == 1)):
            raise ValueError("burst_ratio needs booleans or 0/1 values (True = lost)")
        seq = seq.astype(np.bool_)
    if seq.size < 2 or not np.any(seq):
        return 1.0
    prev, cur = seq[:-1], seq[1:]
    n_from_received = int(np.count_nonzero(~prev))
    n_from_lost = int(np.count_nonzero(prev))
    n_received_to_lost = int(np.count_nonzero(~prev & cur))
    n_lost_to_received = int(np.count_nonzero(prev & ~cur))
    p = n_received_to_lost / n_from_received if n_from_received else 0.0
    # Without an observed recovery, one pseudo recovery just after the window.
    q = n_lost_to_received / n_from_lost if n_lost_to_received else 1.0 / (n_from_lost + 1)
    return max(1.0, 1.0 / (p + q))


def burst_ratios(lost: npt.NDArray[np.bool_], bounds: npt.NDArray[np.int64]) -> FloatArray:
    """:func:`burst_ratio` of many loss sequences laid end to end, all at once.

    Sequence k is ``lost[bounds[k]:bounds[k + 1]]``. Counts each sequence's
    consecutive pairs by state and transition, then applies the estimate and
    edge cases of :func:`burst_ratio` (a test checks they agree).
    """

    def per_sequence(values: npt.NDArray[np.bool_], first: npt.NDArray[np.int64],
                     end: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:  # fmt: skip
        total = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
        counts: npt.NDArray[np.int64] = total[end] - total[first]
        return counts

    lost = np.asarray(lost, dtype=np.bool_)
    starts, ends = bounds[:-1], bounds[1:]
    padded = np.append(lost, False)  # so that an empty last sequence still has a pair slot
    prev, cur = padded[:-1], padded[1:]
    pair_end = np.maximum(ends - 1, starts)  # pairs (i, i + 1) inside a sequence
    from_lost = per_sequence(prev, starts, pair_end)
    from_received = (pair_end - starts) - from_lost
    received_to_lost = per_sequence(~prev & cur, starts, pair_end)
    lost_to_received = per_sequence(prev & ~cur, starts, pair_end)
    p = np.divide(
        received_to_lost, from_received, out=np.zeros(starts.size), where=from_received > 0
    )
    q = np.where(
        lost_to_received > 0,
        lost_to_received / np.maximum(from_lost, 1),
        1.0 / (from_lost + 1),
    )
    ratio = np.maximum(1.0, 1.0 / (p + q))
    any_loss = per_sequence(lost, starts, ends) > 0
    result: FloatArray = np.where(any_loss & (ends - starts >= 2), ratio, 1.0)
    return result


def for_mouth_to_ear(ta_s: FloatOrArray, **overrides: FloatOrArray) -> EModelInputs:
    """Inputs for a connection with mouth-to-ear delay ``ta_s``: Ta = T = ta_s, Tr = 2 ta_s.

    G.107 (Table 3, clause 7.4) defines three delays: T, the mean one-way
    delay of the echo path (talker echo); Tr, the round-trip delay in a
    4-wire loop (listener echo); Ta, the absolute delay in echo-free
    connections. No G.107 text found for this module says how to derive T
    and Tr from Ta, and the text of G.108, G.109 and the ETSI planning guides
    could not be consulted. T = Ta, Tr = 2 Ta is the usual planning
    assumption for an echo reflected at the far end (the far hybrid or the
    far terminal's acoustic echo): the talker's echo travels to the far end
    and back, a mean one-way delay of Ta, and the listener echo, reflected at
    both ends, trails the direct signal by one loop round trip, 2 Ta. flent's
    ``mos_score`` (which states it follows G.107 06/2015 and was checked
    against the ITU online E-model calculator) makes the same choice.

    ``overrides`` sets any other :class:`EModelInputs` field, including
    ``t_s`` or ``tr_s`` when the echo source is elsewhere.
    """
    if "ta_s" in overrides:
        raise TypeError("for_mouth_to_ear got ta_s twice: pass it positionally only")
    params: dict[str, FloatOrArray] = {"ta_s": ta_s, "t_s": ta_s, "tr_s": 2.0 * ta_s}
    params.update(overrides)
    return EModelInputs(**params)


def check_numeric_fields(inputs: Any) -> None:
    """Every field of an inputs dataclass is finite, and array fields broadcast together."""
    name = type(inputs).__name__
    shapes = []
    for field in fields(inputs):
        value = np.asarray(getattr(inputs, field.name), dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name}.{field.name} must be finite, got {value}")
        shapes.append(value.shape)
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"{name} array fields must have equal (broadcastable) shapes, got {shapes}"
        ) from None


def _arr(x: FloatOrArray) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _out(x: FloatArray) -> FloatOrArray:
    """0-d arrays become numpy float64 scalars; other arrays pass through."""
    return np.float64(x) if x.ndim == 0 else x


def _require_non_negative(name: str, value: FloatOrArray) -> None:
    a = _arr(value)
    if not np.all(np.isfinite(a) & (a >= 0.0)):
        raise ValueError(f"{name} must be finite and >= 0, got {a}")


def _require_positive(name: str, value: FloatOrArray) -> None:
    a = _arr(value)
    if not np.all(np.isfinite(a) & (a > 0.0)):
        raise ValueError(f"{name} must be finite and > 0, got {a}")


def _check_loss(
    prefix: str, bpl: FloatOrArray, ppl_percent: FloatOrArray, burst_r: FloatOrArray
) -> None:
    """Validate the packet-loss parameters of eq. 7-29 (clause 7.5)."""
    _require_positive(f"{prefix}bpl", bpl)
    ppl = _arr(ppl_percent)
    if not np.all(np.isfinite(ppl) & (ppl >= 0.0) & (ppl <= 100.0)):
        raise ValueError(f"{prefix}ppl_percent must be within [0, 100] percent, got {ppl}")
    burst = _arr(burst_r)
    if not np.all(np.isfinite(burst) & (burst >= 1.0)):
        raise ValueError(
            f"{prefix}burst_r must be >= 1 (1 = random loss, > 1 = bursty), got {burst}"
        )


__all__ = [
    "DEFAULT_M_T_S",
    "DEFAULT_S_T",
    "IE_EFF_CEILING",
    "MOS_MAX",
    "MOS_MIN",
    "EModelInputs",
    "EModelResult",
    "burst_ratio",
    "evaluate",
    "for_mouth_to_ear",
    "idd",
    "ie_eff",
    "mos_from_r",
]
