"""Codec facts the models need: timing, payload size and the E-model's Ie and Bpl.

Only G.711 so far (issue 5 adds the rest). Ie and Bpl come from ITU-T G.113
(11/2007) Appendix I: Table I.1 gives Ie = 0 for G.711; Table I.3 gives
Bpl = 4.3 for G.711 without PLC and Bpl = 25.1 with the PLC of G.711
Appendix I, both for random packet loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CODECS", "Bandwidth", "Codec", "codec"]


class Bandwidth(StrEnum):
    """Audio bandwidth class: which E-model scale applies."""

    NARROW = "narrow"  # 300-3400 Hz, ITU-T G.107
    WIDE = "wide"  # 50-7000 Hz, ITU-T G.107.1


@dataclass(frozen=True)
class Codec:
    """Static facts about one codec."""

    name: str
    rtp_payload_type: int
    sample_rate_hz: int
    rtp_clock_hz: int
    frame_s: float  # duration of one codec frame
    lookahead_s: float  # algorithmic look-ahead beyond the frame
    bitrate_bps: float
    bandwidth: Bandwidth
    ie: float  # equipment impairment factor, G.113 Table I.1
    bpl_without_plc: float  # packet-loss robustness, G.113 Table I.3
    bpl_with_plc: float

    def payload_bytes(self, ptime_s: float) -> int:
        """RTP payload bytes for one packet carrying ``ptime_s`` of audio."""
        return round(self.bitrate_bps * ptime_s / 8)

    def rtp_ticks(self, ptime_s: float) -> int:
        """RTP timestamp increment per packet (RFC 3550 clause 5.1)."""
        return round(self.rtp_clock_hz * ptime_s)

    def bpl(self, *, concealment: bool) -> float:
        """Bpl for the receiver's concealment choice."""
        return self.bpl_with_plc if concealment else self.bpl_without_plc


# G.711 (11/1988): 8 kHz, 8 bits per sample, one sample per "frame" (0.125 ms),
# no look-ahead. RTP payload types 0 (PCMU) and 8 (PCMA): RFC 3551 Table 4.
_G711 = {
    "sample_rate_hz": 8000,
    "rtp_clock_hz": 8000,
    "frame_s": 0.000125,
    "lookahead_s": 0.0,
    "bitrate_bps": 64_000.0,
    "bandwidth": Bandwidth.NARROW,
    "ie": 0.0,
    "bpl_without_plc": 4.3,
    "bpl_with_plc": 25.1,
}

CODECS: dict[str, Codec] = {
    "PCMU": Codec(name="PCMU", rtp_payload_type=0, **_G711),  # type: ignore[arg-type]
    "PCMA": Codec(name="PCMA", rtp_payload_type=8, **_G711),  # type: ignore[arg-type]
}


def codec(name: str) -> Codec:
    """The codec called ``name`` (its RTP encoding name, e.g. ``"PCMU"``)."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r} (known: {', '.join(sorted(CODECS))})") from None
