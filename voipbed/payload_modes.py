"""The codec mode a stream's RTP payloads were coded in, read from the payloads themselves.

Each reader takes, per packet of one stream, the RTP payload's size and its
first three octets (``head``: big-endian, zeros past the payload's end) and
returns the mode most packets carry, counted over the packets that read as
speech (silence descriptors and NO_DATA frames are not counted):

- :func:`amr_mode`: AMR and AMR-WB (RFC 4867). The frame type (FT) of the
  payload's first ToC entry, where the payload format puts it: after the 4-bit
  CMR in the bandwidth-efficient format (4.3.1, 4.3.2), in the octet after the
  CMR octet in the octet-aligned one (4.4.1, 4.4.2; one octet later with
  interleaving's ILL/ILP octet). A packet counts only when its size is that of
  one frame of its FT (ToC F bit clear), or more (F set), so a payload read in
  the wrong format rarely votes. FT 0-7 are AMR's modes 4.75-12.2 kbit/s
  (3GPP TS 26.101 Table 1a), 0-8 AMR-WB's 6.6-23.85 (TS 26.201 Table 1a).
- :func:`evs_rate`: EVS (3GPP TS 26.445 Annex A). In the compact format
  (A.2.1) the payload's size alone tells the bit rate (Table A.1); any other
  size is the header-full format (A.2.2), whose ToC octet (after a CMR octet
  when the first octet's H bit is set) gives the EVS primary or AMR-WB IO
  mode and the bit-rate index (Tables A.4, A.5).
- :func:`ilbc_frame_ms`: iLBC (RFC 3952 2, 3.2): packets of 38-octet frames
  are 20 ms mode, of 50-octet frames 30 ms mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from voipbed.models.codecs import CODECS

__all__ = [
    "AMR_NAMES",
    "AMR_WB_NAMES",
    "EvsReading",
    "ModeReading",
    "amr_mode",
    "evs_rate",
    "ilbc_frame_ms",
]

IntArray = NDArray[np.int64]


def _family(prefix: str, exclude: str | None = None) -> tuple[str, ...]:
    names = [n for n in CODECS if n.startswith(prefix) and not n.startswith(exclude or "\0")]
    return tuple(sorted(names, key=lambda n: CODECS[n].bitrate_bps))


AMR_NAMES = _family("AMR-", "AMR-WB-")  # by frame type: FT 0 is 4.75 kbit/s, 7 is 12.2
AMR_WB_NAMES = _family("AMR-WB-")  # FT 0 is 6.6 kbit/s, 8 is 23.85

# TS 26.445 Table A.4: EVS primary bit rates by index (0: the 2.8 kbit/s of the
# source-controlled VBR mode), 12 is SID; Table A.5: AMR-WB IO modes 0-8, 9 is SID.
_EVS_PRIMARY_BPS: tuple[int, ...] = (2800, 7200, 8000, 9600, 13200, 16400, 24400, 32000)
_EVS_PRIMARY_BPS += (48000, 64000, 96000, 128000)
_AMR_WB_BPS = tuple(CODECS[n].bitrate_bps for n in AMR_WB_NAMES)
_IO = 16  # EVS codes 0-11: primary rate indices; 16-24: AMR-WB IO modes 0-8
_FRAME_S = 0.020


def _evs_tables() -> tuple[IntArray, IntArray]:
    """Octets of one frame of each EVS code, and the code of each compact payload size
    (-1: none)."""
    frame_bytes = np.zeros(_IO + len(_AMR_WB_BPS), dtype=np.int64)
    for code, rate in enumerate(_EVS_PRIMARY_BPS):
        frame_bytes[code] = -(-round(rate * _FRAME_S) // 8)
    for mode, wb_rate in enumerate(_AMR_WB_BPS):  # a 3-bit CMR before the frame (A.2.1.3)
        frame_bytes[_IO + mode] = -(-(3 + round(wb_rate * _FRAME_S)) // 8)
    compact = np.full(int(frame_bytes.max()) + 1, -1, dtype=np.int64)
    for code, octets in enumerate(frame_bytes.tolist()):
        if octets:
            compact[octets] = code
    return frame_bytes, compact


_EVS_FRAME_BYTES, _EVS_COMPACT = _evs_tables()


@dataclass(frozen=True)
class ModeReading:
    """The mode most of a stream's speech packets carry."""

    name: str  # the voipbed codec of that mode
    packets: int  # speech packets in that mode
    read: int  # speech packets read


@dataclass(frozen=True)
class EvsReading:
    """The EVS bit rate most of a stream's speech packets carry."""

    bitrate_bps: float
    amr_wb_io: bool  # in the AMR-WB interoperable mode: ``bitrate_bps`` is an AMR-WB mode's
    packets: int
    read: int


def amr_mode(
    head: IntArray,
    size: IntArray,
    *,
    wideband: bool,
    octet_aligned: bool,
    interleaved: bool = False,
    crc: bool = False,
) -> ModeReading | None:
    """The AMR (``wideband``: AMR-WB) mode of most speech packets; None when none reads."""
    names = AMR_WB_NAMES if wideband else AMR_NAMES
    bits = np.zeros(16, dtype=np.int64)
    bits[: len(names)] = [CODECS[n].frame_bits for n in names]
    if octet_aligned:
        toc = (head >> (0 if interleaved else 8)) & 0xFF  # F(1) FT(4) Q(1) P(2), 4.4.2
        follows, ft = toc >> 7, (toc >> 3) & 0x0F
        one = 2 + int(interleaved) + (bits + 7) // 8  # CMR octet, ToC octet, padded frame
    else:
        first = head >> 14  # CMR(4) F(1) FT(4) Q(1), 4.3.1 and 4.3.2
        follows, ft = (first >> 5) & 1, (first >> 1) & 0x0F
        one = (10 + bits + 7) // 8  # padded once, at the end (4.3.3)
    expected = one[ft]
    whole = size >= expected if crc else size == expected  # CRC octets follow the ToC (4.4.2.1)
    counted = (ft < len(names)) & np.where(follows == 1, size > expected, whole)
    votes = np.bincount(ft[counted], minlength=len(names))[: len(names)]
    if not votes.sum():
        return None
    best = int(np.argmax(votes))
    return ModeReading(names[best], int(votes[best]), int(votes.sum()))


def evs_rate(head: IntArray, size: IntArray) -> EvsReading | None:
    """The EVS bit rate of most speech packets; None when none reads."""
    frame_bytes, compact = _EVS_FRAME_BYTES, _EVS_COMPACT
    code = compact[np.clip(size, 0, compact.size - 1)]
    code[size >= compact.size] = -1
    first, second = head >> 16, (head >> 8) & 0xFF
    cmr = (first & 0x80) != 0  # H bit: a CMR octet comes first (A.2.2.1.1)
    toc = np.where(cmr, second, first)
    rate = toc & 0x0F
    io = (toc & 0x20) != 0  # the EVS mode bit: AMR-WB IO
    full = np.where(io, np.where(rate <= 8, _IO + rate, -1), np.where(rate <= 11, rate, -1))
    full_bytes = 1 + cmr + frame_bytes[np.maximum(full, 0)]
    full = np.where((full >= 0) & (size >= full_bytes), full, -1)
    code = np.where(code >= 0, code, full)
    votes = np.bincount(code[code >= 0], minlength=frame_bytes.size)
    if not votes.sum():
        return None
    best = int(np.argmax(votes))
    if best >= _IO:
        return EvsReading(_AMR_WB_BPS[best - _IO], True, int(votes[best]), int(votes.sum()))
    return EvsReading(_EVS_PRIMARY_BPS[best], False, int(votes[best]), int(votes.sum()))


def ilbc_frame_ms(size: IntArray) -> ModeReading | None:
    """iLBC's mode by its frames' size (``iLBC-20`` or ``iLBC-30``); None when the sizes do
    not tell."""
    twenty = (size > 0) & (size % 38 == 0) & (size % 50 != 0)
    thirty = (size > 0) & (size % 50 == 0) & (size % 38 != 0)
    n20, n30 = int(twenty.sum()), int(thirty.sum())
    if n20 == n30:
        return None
    name = "iLBC-20" if n20 > n30 else "iLBC-30"
    return ModeReading(name, max(n20, n30), n20 + n30)
