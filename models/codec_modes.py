"""Operating points of the adaptive codecs: which bit rates a sender may switch between.

Role: for each adaptive codec family (AMR, AMR-WB, EVS, Opus) the ordered
operating points a rate follower (:mod:`models.codec_adaptation`) chooses
from, each an :class:`OperatingPoint`: the bit rate the sender encodes at,
the name of the :data:`models.codecs.CODECS` entry whose Ie and Bpl rate it,
and its bandwidth class; and :func:`point_payload_bytes`, the RTP payload a
point puts in one packet. AMR, AMR-WB and EVS points are the table's own
modes (the entry's rate is the point's); the standards' full rate lists are
kept beside them (``*_RATES_BPS``) for reference. Opus points lie between the
table's Opus rates and borrow the rating of one of them (:func:`opus_family`).
Pure: no clock, no I/O.

Sources:

- AMR-NB: eight modes, 4.75 to 12.2 kbit/s, numbered 0 to 7 (3GPP TS 26.071
  clause 4, TS 26.101 Table 1a). AMR-WB: nine modes, 6.60 to 23.85 kbit/s,
  numbered 0 to 8 (TS 26.171 clause 4, TS 26.201 Table 1a). RFC 4867 clause
  8.1: ``mode-set`` lists the mode numbers the session may use (all when
  absent); :meth:`CodecFamily.with_mode_set` applies it.
- EVS: 5.9 (source-controlled VBR), 7.2, 8.0, 9.6, 13.2, 16.4, 24.4, 32, 48,
  64, 96 and 128 kbit/s (3GPP TS 26.441 clause 4, TS 26.445 clause 4.1);
  wideband at all of them, super-wideband from 9.6 kbit/s. The codec table
  rates 9.6, 13.2 and 24.4 kbit/s only, so those are the operating points.
- Opus: libopus accepts 6 to 510 kbit/s (RFC 7587 clause 3.1.1: "from
  6 kbit/s for narrowband speech to 510 kbit/s"). Its encoder chooses the
  audio bandwidth from the bit rate (libopus 1.4 ``src/opus_encoder.c``,
  ``mono_voice_bandwidth_thresholds``: NB/MB and MB/WB at 9 kbit/s, WB/SWB at
  13.5, SWB/FB at 14, each with a hysteresis of 0.7 to 2 kbit/s not modelled
  here; mediumband is never chosen for voice, the two thresholds being equal),
  capped by the bandwidth the far end accepts (``maxplaybackrate``, RFC 7587
  clause 6.1; ``OPUS_SET_MAX_BANDWIDTH``). A sender sets any of these rates
  (``OPUS_SET_BITRATE``); :func:`opus_family` offers the rates of
  :data:`OPUS_FAMILY_RATES_BPS` (6 to 128 kbit/s) at the band libopus picks
  for each. The rate counts the whole Opus packet, TOC byte included: in CBR
  libopus makes every packet ``bitrate x duration / 8`` bytes (libopus 1.4
  ``src/opus_encoder.c``, ``cbrBytes``), and a VBR packet averages that.
  Frame durations (RFC 6716 clause 2.1.4 and Table 2): SILK-only (NB, MB, WB)
  10, 20, 40 and 60 ms; hybrid (SWB, FB) 10 and 20 ms; CELT-only 2.5 to 20
  ms; a packet holds up to 120 ms (clause 3.2.5, code 3), so a 40 or 60 ms
  packet of hybrid speech carries two or three 20 ms frames.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import NamedTuple

from voipbed.models.codecs import CODECS, AmrPayloadFormat, Bandwidth, sent_codec

__all__ = [
    "AMR",
    "AMR_NB_RATES_BPS",
    "AMR_WB",
    "AMR_WB_RATES_BPS",
    "EVS_RATES_BPS",
    "EVS_WB",
    "OPUS_FAMILY_RATES_BPS",
    "OPUS_MAX_BPS",
    "OPUS_MIN_BPS",
    "CodecFamily",
    "OperatingPoint",
    "opus_auto_bandwidth",
    "opus_family",
    "opus_frame_sizes_s",
    "opus_packet_allowed",
    "opus_rating_entry",
    "point_payload_bytes",
]

# TS 26.101 Table 1a, modes 0-7 in mode-number order.
AMR_NB_RATES_BPS = (4750.0, 5150.0, 5900.0, 6700.0, 7400.0, 7950.0, 10200.0, 12200.0)
# TS 26.201 Table 1a, modes 0-8 in mode-number order.
AMR_WB_RATES_BPS = (
    6600.0, 8850.0, 12650.0, 14250.0, 15850.0, 18250.0, 19850.0, 23050.0, 23850.0,
)  # fmt: skip
# TS 26.441 clause 4 (5.9 is the source-controlled VBR mode's average).
EVS_RATES_BPS = (
    5900.0, 7200.0, 8000.0, 9600.0, 13200.0, 16400.0, 24400.0,
    32000.0, 48000.0, 64000.0, 96000.0, 128000.0,
)  # fmt: skip
OPUS_MIN_BPS = 6000.0  # RFC 7587 clause 3.1.1
OPUS_MAX_BPS = 510000.0  # RFC 7587 clause 3.1.1
OPUS_FAMILY_RATES_BPS = (
    *(1000.0 * k for k in range(6, 25)),  # 6-24 kbit/s by 1
    *(1000.0 * k for k in range(26, 65, 2)),  # 26-64 kbit/s by 2
    *(1000.0 * k for k in range(68, 129, 4)),  # 68-128 kbit/s by 4
)
"""The rates an Opus sender moves between (55 points, 6 to 128 kbit/s).

A modelling choice: the follower takes the highest point whose wire rate
fits the target, so a step is the most it can fall short of the target.
With 20 ms packets over RTP/UDP/IPv4 (40 header bytes, 16 kbit/s) and the
5 % RTCP share, steps of 1 kbit/s to 24 kbit/s, 2 to 64 and 4 above are
each 2 to 5.5 % of the point's wire rate: well under the 15 % of one GCC
decrease (beta 0.85, draft-ietf-rmcat-gcc-02 section 5.5), with few points.
"""
_OPUS_PREFIX = "OPUS-"  # the codec table's Opus entries

# libopus 1.4 mono_voice_bandwidth_thresholds, the middle of each hysteresis band.
_OPUS_WB_FROM_BPS = 9000.0  # NB<->MB and MB<->WB
_OPUS_SWB_FROM_BPS = 13500.0  # WB<->SWB
_OPUS_FB_FROM_BPS = 14000.0  # SWB<->FB
_BAND_ORDER = (Bandwidth.NARROW, Bandwidth.WIDE, Bandwidth.SUPER_WIDE, Bandwidth.FULL)
_OPUS_PACKET_MAX_S = 0.120  # RFC 6716 clause 3.2.5
_TOLERANCE_S = 1e-9


class OperatingPoint(NamedTuple):
    """One rate a sender may use: the rate, the codec-table entry rating it, its band.

    ``bitrate_bps`` is what the sender encodes at and sizes its packets by
    (:func:`point_payload_bytes`). ``codec`` names the entry whose Ie and Bpl
    apply: the point's own mode for AMR, AMR-WB and EVS, an Opus entry at
    another rate for Opus (:func:`opus_rating_entry`).
    """

    bitrate_bps: float
    codec: str  # key of models.codecs.CODECS whose Ie and Bpl apply
    bandwidth: Bandwidth


@dataclass(frozen=True)
class CodecFamily:
    """The ordered operating points of one adaptive codec, lowest rate first.

    ``mode_numbers`` gives each point's RFC 4867 mode number (AMR, AMR-WB);
    it is None for codecs without mode numbers. A point rated by an Opus
    entry may have its own rate (6 to 510 kbit/s) and must be on the entry's
    E-model scale; any other point is its entry's rate and band.
    """

    name: str
    points: tuple[OperatingPoint, ...]
    source: str
    mode_numbers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError(f"{self.name}: a codec family needs at least one operating point")
        rates = [p.bitrate_bps for p in self.points]
        if any(b <= a for a, b in itertools.pairwise(rates)):
            raise ValueError(f"{self.name}: operating points must rise strictly in bit rate")
        for point in self.points:
            _check_point(self.name, point)
        if self.mode_numbers is not None and len(self.mode_numbers) != len(self.points):
            raise ValueError(f"{self.name}: one mode number per operating point")

    @property
    def min_bps(self) -> float:
        """The lowest rate of the family."""
        return self.points[0].bitrate_bps

    @property
    def max_bps(self) -> float:
        """The highest rate of the family."""
        return self.points[-1].bitrate_bps

    def with_mode_set(self, modes: Iterable[int]) -> CodecFamily:
        """The family restricted to an RFC 4867 clause 8.1 ``mode-set`` (mode numbers)."""
        if self.mode_numbers is None:
            raise ValueError(f"{self.name} has no mode numbers; restrict it by rate instead")
        wanted = set(modes)
        unknown = wanted - set(self.mode_numbers)
        if unknown:
            raise ValueError(
                f"{self.name}: mode-set names modes {sorted(unknown)}, "
                f"the codec has {self.mode_numbers[0]} to {self.mode_numbers[-1]}"
            )
        keep = [i for i, m in enumerate(self.mode_numbers) if m in wanted]
        return replace(
            self,
            name=f"{self.name} mode-set={','.join(str(self.mode_numbers[i]) for i in keep)}",
            points=tuple(self.points[i] for i in keep),
            mode_numbers=tuple(self.mode_numbers[i] for i in keep),
        )

    def between(self, min_bps: float, max_bps: float) -> CodecFamily:
        """The family restricted to rates in [min_bps, max_bps] (e.g. an SDP ``b=AS`` cap)."""
        keep = [i for i, p in enumerate(self.points) if min_bps <= p.bitrate_bps <= max_bps]
        if not keep:
            raise ValueError(
                f"{self.name}: no operating point between {min_bps:g} and {max_bps:g} bit/s"
            )
        return replace(
            self,
            name=f"{self.name} {min_bps:g}-{max_bps:g} bit/s",
            points=tuple(self.points[i] for i in keep),
            mode_numbers=None
            if self.mode_numbers is None
            else tuple(self.mode_numbers[i] for i in keep),
        )


def _check_point(family: str, point: OperatingPoint) -> None:
    """Raise unless ``point``'s codec-table entry can rate it (see :class:`CodecFamily`)."""
    entry = CODECS.get(point.codec)
    if entry is None:
        raise ValueError(f"{family}: {point.codec!r} is not in the codec table")
    if entry.name.startswith(_OPUS_PREFIX):
        fits = OPUS_MIN_BPS <= point.bitrate_bps <= OPUS_MAX_BPS
        fits = fits and entry.bandwidth.emodel == point.bandwidth.emodel
    else:
        fits = entry.bitrate_bps == point.bitrate_bps and entry.bandwidth is point.bandwidth
    if not fits:
        raise ValueError(f"{family}: {point} disagrees with the codec table")


def point_payload_bytes(
    point: OperatingPoint,
    ptime_s: float,
    amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT,
) -> int:
    """RTP payload bytes of one packet of ``ptime_s`` sent at ``point``.

    Opus: the point's own rate over ``ptime_s``, TOC byte included (libopus
    CBR sizes the whole packet from the rate), rounded up to a whole byte, as
    the codec table sizes its Opus entries. Other codecs: the codec-table
    entry's payload, payload-format header included, AMR and AMR-WB in
    ``amr_format`` (:func:`models.codecs.sent_codec`). ``ptime_s`` must be a
    whole number of the entry's frames.
    """
    entry = sent_codec(point.codec, amr_format)
    if not entry.name.startswith(_OPUS_PREFIX):
        return entry.payload_bytes(ptime_s)
    frames = entry.frames(ptime_s)  # raises unless whole frames
    frame_bits = round(point.bitrate_bps * entry.frame_s)  # whole bits, as the table's frames
    return math.ceil(frames * frame_bits / 8)


def _mode_label(bps: float) -> str:
    return f"{bps / 1000:g}"  # 4750.0 -> "4.75", the codec table's spelling


def _amr_family(name: str, prefix: str, rates: tuple[float, ...], source: str) -> CodecFamily:
    points = tuple(
        OperatingPoint(
            bps, f"{prefix}{_mode_label(bps)}", CODECS[f"{prefix}{_mode_label(bps)}"].bandwidth
        )
        for bps in rates
    )
    return CodecFamily(name, points, source, mode_numbers=tuple(range(len(rates))))


AMR = _amr_family("AMR", "AMR-", AMR_NB_RATES_BPS, "3GPP TS 26.071 clause 4, TS 26.101 Table 1a")
AMR_WB = _amr_family(
    "AMR-WB", "AMR-WB-", AMR_WB_RATES_BPS, "3GPP TS 26.171 clause 4, TS 26.201 Table 1a"
)
EVS_WB = CodecFamily(
    "EVS-WB",
    tuple(
        OperatingPoint(bps, f"EVS-WB-{_mode_label(bps)}", Bandwidth.WIDE)
        for bps in EVS_RATES_BPS
        if f"EVS-WB-{_mode_label(bps)}" in CODECS
    ),
    "3GPP TS 26.441 clause 4; only the rates the codec table rates",
)


def opus_auto_bandwidth(bitrate_bps: float, max_bandwidth: Bandwidth = Bandwidth.FULL) -> Bandwidth:
    """The band libopus picks for mono voice at ``bitrate_bps``, capped at ``max_bandwidth``."""
    if bitrate_bps < _OPUS_WB_FROM_BPS:
        band = Bandwidth.NARROW
    elif bitrate_bps < _OPUS_SWB_FROM_BPS:
        band = Bandwidth.WIDE
    elif bitrate_bps < _OPUS_FB_FROM_BPS:
        band = Bandwidth.SUPER_WIDE
    else:
        band = Bandwidth.FULL
    return min(band, max_bandwidth, key=_BAND_ORDER.index)


def opus_rating_entry(bitrate_bps: float, bandwidth: Bandwidth) -> str:
    """The codec-table Opus entry whose Ie and Bpl rate Opus at ``bitrate_bps`` in ``bandwidth``.

    Among the table's Opus entries on the E-model scale of ``bandwidth`` (the
    same band for NB, WB and FB; the fullband entries for super-wideband,
    which the table lacks and G.107.2 rates on the fullband scale): the one
    of highest rate at or below ``bitrate_bps``; when none is at or below it,
    the one of lowest rate.

    An approximation. No ITU-T table gives Ie or Bpl for Opus at any rate
    (G.113 has no Opus row; the table's Opus values are themselves estimates
    from AMR and AMR-WB modes, see :mod:`models.codecs`), and the table rates
    only a few Opus rates. A point between two of them takes the rating of
    the one below, never one the table gives only to a higher rate; above
    the band's highest entry it keeps that entry's (WB at 64 kbit/s is rated
    as OPUS-WB-24), which gives nothing for the extra bits. Below the band's
    lowest entry (NB under 8 kbit/s, WB under 16, SWB and FB under 32) it
    takes that entry, the band's worst rating yet better than the point
    deserves: the table's own rule would rate WB at 9 kbit/s as AMR-WB 8.85
    (Ie,WB 26), not as OPUS-WB-16 (AMR-WB 15.85, Ie,WB 7), so these points
    are optimistic.
    """
    scale = bandwidth.emodel
    entries = sorted(
        (
            c
            for c in CODECS.values()
            if c.name.startswith(_OPUS_PREFIX) and c.bandwidth.emodel == scale
        ),
        key=lambda c: c.bitrate_bps,
    )
    if not entries:
        raise ValueError(f"the codec table has no Opus entry on the {scale} scale")
    at_or_below = [c for c in entries if c.bitrate_bps <= bitrate_bps]
    return (at_or_below[-1] if at_or_below else entries[0]).name


def opus_family(max_bandwidth: Bandwidth = Bandwidth.FULL) -> CodecFamily:
    """Opus at the rates of :data:`OPUS_FAMILY_RATES_BPS` with ``max_bandwidth`` as the band cap.

    Each point's band is the one libopus picks at its rate under the cap
    (:func:`opus_auto_bandwidth`; the cap is the far end's ``maxplaybackrate``,
    RFC 7587 clause 6.1), and its Ie and Bpl those of
    :func:`opus_rating_entry`. Under a wideband cap every point from 9 up to
    128 kbit/s is wideband.
    """
    points = []
    for bitrate_bps in OPUS_FAMILY_RATES_BPS:
        band = opus_auto_bandwidth(bitrate_bps, max_bandwidth)
        points.append(OperatingPoint(bitrate_bps, opus_rating_entry(bitrate_bps, band), band))
    return CodecFamily(
        f"Opus (max {max_bandwidth.value})",
        tuple(points),
        "RFC 7587 clause 3.1.1 (6-510 kbit/s); libopus 1.4 mono voice bandwidth thresholds; "
        "rated by the codec table's Opus entries (opus_rating_entry)",
    )


def opus_frame_sizes_s(bandwidth: Bandwidth) -> tuple[float, ...]:
    """Speech frame durations of Opus at ``bandwidth``: SILK-only or hybrid (RFC 6716 Table 2)."""
    if bandwidth in (Bandwidth.NARROW, Bandwidth.WIDE):
        return (0.010, 0.020, 0.040, 0.060)  # SILK-only
    return (0.010, 0.020)  # hybrid


def opus_packet_allowed(ptime_s: float, frame_s: float, bandwidth: Bandwidth) -> bool:
    """Whether a packet of ``ptime_s`` can carry whole speech frames of ``frame_s`` at this band."""
    if not any(abs(frame_s - f) <= _TOLERANCE_S for f in opus_frame_sizes_s(bandwidth)):
        return False
    frames = ptime_s / frame_s
    whole = abs(frames - round(frames)) <= _TOLERANCE_S and round(frames) >= 1
    return whole and ptime_s <= _OPUS_PACKET_MAX_S + _TOLERANCE_S
