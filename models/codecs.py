"""Codec facts the models need: timing, payload size, DTX, CPU class and the E-model's Ie and Bpl.

Role: a table of static codec facts (:data:`CODECS`) and the arithmetic on
them (payload bytes per packet, RTP ticks, which packetizations a codec
allows). Pure: no clock, no I/O.

Payload sizes include the RTP payload-format headers the RFCs define:

- G.711, G.722, G.729 (RFC 3551 clauses 4.5.2, 4.5.14, 4.5.6), iLBC
  (RFC 3952 clause 3) and Opus (RFC 7587 clause 4): no header, frames back to
  back (:attr:`PayloadFormat.RAW`).
- AMR and AMR-WB (RFC 4867): **bandwidth-efficient** mode, clause 4.3: a
  4-bit CMR, one 6-bit ToC entry per frame (F, FT, Q), the frames' bits, then
  zero padding to a whole octet. It is what RFC 4867 clause 8.1 gives when
  SDP says nothing (``octet-align`` absent means 0), so it is what a VoLTE
  offer without ``octet-align=1`` gets, and the format of the :data:`CODECS`
  entries. :attr:`PayloadFormat.AMR_OCTET_ALIGNED` (clause 4.4: CMR octet,
  one ToC octet per frame, each frame padded to an octet) is the other;
  :func:`sent_codec` gives an entry in the :class:`AmrPayloadFormat` a
  scenario chooses.
- EVS (3GPP TS 26.445 Annex A.2): the **compact** format for one frame per
  packet (A.2.1: no header at all, the size identifies the rate), the
  header-full format (A.2.2: one ToC octet per frame, no CMR) for more.

Ie and Bpl. ``ie`` is on the E-model scale of the codec's bandwidth class
(:attr:`Bandwidth.emodel`): Ie of ITU-T G.107 for narrowband, Ie,WB of
G.107.1 for wideband, Ie,FB of G.107.2 for super-wideband and fullband.
``bpl_with_plc`` is Bpl with the codec's concealment, ``bpl_without_plc``
Bpl when the decoder inserts silence; it is ``None`` when there is no such
decoder (the concealment is part of the codec's normative decoder) or no
source gives a value. Every value's provenance is in :attr:`Codec.ie_source`
and :attr:`Codec.bpl_source`, whose :class:`Basis` says whether it is an ITU-T
table value or an estimate.

Sources for the ITU-T values:

- Narrowband: ITU-T G.113 (11/2007) Appendix I. Table I.1 (Ie): G.711 0,
  G.729 10, G.729-A + VAD 11, GSM-EFR 12.2 kbit/s 5, IS-641 7.4 kbit/s 10.
  Table I.3 (Bpl, random loss; Table I.4 in the 09/2024 edition): G.711 10 ms
  without PLC 4.3, with G.711 Appendix I PLC 25.1; G.729-A + VAD, 2 x 10 ms
  per packet, 19.0; GSM-EFR, 20 ms, 10.0. These Bpl rows and packet sizes were
  cross-checked against a course transcription of G.113 (2024) Table I.4.
- Wideband: ITU-T G.113 (09/2024) Appendix IV as transcribed by sipnab (the
  same transcription :mod:`models.emodel_wb` uses): Table IV.1 (Ie,WB,
  monotic) for the nine AMR-WB (G.722.2) modes, Table IV.4 (Bpl,WB, diotic,
  uniform loss) for 12.65, 23.05 and 23.85 kbit/s. G.113 publishes no
  monotic Bpl,WB, so a monotic Ie,WB is paired with a diotic Bpl,WB here.

No ITU-T value exists for AMR-NB (G.113 has no AMR row), iLBC, Opus and EVS
(EVS appears only on the fullband scale, in G.113 Appendix V, which was not
available). Their values are estimates; each :class:`Source` note gives the
rule. The rules, in short:

- AMR-NB 12.2 and 7.4 are bit-exact GSM-EFR and IS-641 (3GPP TS 26.071), so
  they take those rows. The other six modes are read off Table 3 of the
  voice-quality article in Telektronikk vol. 97 no. 2/3 (2001, "Internet
  Traffic Engineering"), which lists the tolerable mouth-to-ear delay of each
  codec at R = 70 and so ranks every AMR mode among codecs whose G.113 Ie is
  known; Ie is interpolated linearly between those neighbours.
- Opus takes the best AMR (NB) or AMR-WB (WB) mode whose bit rate does not
  exceed its own: a SILK/CELT codec at a given rate is assumed at least as
  good as the ACELP codec at that rate.
- EVS-WB takes the AMR-WB mode the EVS performance requirements set it
  against (EVS-WB 9.6 "not worse than" AMR-WB 12.65, 13.2 not worse than
  23.85, 3GPP TR 26.952), and 24.4 kbit/s the best AMR-WB value (1), the
  codec being called transparent for wideband speech at that rate.
- Super-wideband and fullband codecs on the G.107.2 scale: Ie,FB = Ie,WB of
  their wideband equivalent + 19, the step G.113 Appendix V gives for
  wideband codecs (19 = 148 - 129, the tops of the G.107.2 and G.107.1
  scales). No credit is given for the band above 7 kHz, so these are upper
  bounds on the impairment.
- Bpl where no table has one: the ITU-rated codec with the same loss unit
  (one 20 ms predictive frame per packet, concealment in the decoder):
  GSM-EFR's 10.0 narrowband, AMR-WB 12.65's 4.3 wideband and above.

DTX (silence suppression). :attr:`Codec.dtx` gives the SID frame size and
the SID update interval: AMR 39-bit SID every 8th frame (3GPP TS 26.093 clause
5, TS 26.101), AMR-WB 40-bit SID every 8th frame (TS 26.193, TS 26.201), EVS
48-bit SID (2.4 kbit/s) every 8th frame by default (TS 26.445 clause 5.6),
G.729 Annex B 15-bit SID sent only when the background noise changes (2
octets in RTP, RFC 3551 clause 4.5.6), Opus one packet per 400 ms during DTX
(libopus). G.711, G.722 and iLBC have no DTX of their own (RFC 3389 comfort
noise is a separate payload type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = [
    "CODECS",
    "AmrPayloadFormat",
    "Bandwidth",
    "Basis",
    "Codec",
    "CpuCost",
    "Dtx",
    "PayloadFormat",
    "Source",
    "codec",
    "sent_codec",
]

_TOLERANCE = 1e-6  # frames per packet and bits per frame are whole within this


class Bandwidth(StrEnum):
    """Audio bandwidth class: which E-model scale applies."""

    NARROW = "narrow"  # 300-3400 Hz, ITU-T G.107
    WIDE = "wide"  # 50-7000 Hz, ITU-T G.107.1
    SUPER_WIDE = "super-wide"  # 50-14000 Hz, rated on the fullband scale of ITU-T G.107.2
    FULL = "full"  # 20-20000 Hz, ITU-T G.107.2

    @property
    def sample_rate_hz(self) -> int:
        """The sampling rate of the class: twice its nominal top, rounded to the usual rate."""
        return {
            Bandwidth.NARROW: 8000,
            Bandwidth.WIDE: 16000,
            Bandwidth.SUPER_WIDE: 32000,
            Bandwidth.FULL: 48000,
        }[self]

    @property
    def emodel(self) -> str:
        """The ITU-T E-model whose R scale ``Codec.ie`` and ``Codec.bpl`` refer to."""
        return {
            Bandwidth.NARROW: "G.107",
            Bandwidth.WIDE: "G.107.1",
            Bandwidth.SUPER_WIDE: "G.107.2",
            Bandwidth.FULL: "G.107.2",
        }[self]


class CpuCost(StrEnum):
    """Relative encoder plus decoder cost; each codec family says why in a comment."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class PayloadFormat(StrEnum):
    """RTP payload format: how frames and payload headers make up a packet."""

    RAW = "raw"  # frames back to back, no header
    AMR_BANDWIDTH_EFFICIENT = "amr-be"  # RFC 4867 clause 4.3
    AMR_OCTET_ALIGNED = "amr-oa"  # RFC 4867 clause 4.4
    EVS_COMPACT = "evs-compact"  # TS 26.445 A.2.1 for one frame, header-full A.2.2 beyond


class AmrPayloadFormat(StrEnum):
    """The RFC 4867 payload format AMR and AMR-WB are sent in, as a scenario names it."""

    BANDWIDTH_EFFICIENT = "bandwidth_efficient"  # RFC 4867 clause 4.3; octet-align=0 (8.1)
    OCTET_ALIGNED = "octet_aligned"  # RFC 4867 clause 4.4; octet-align=1 (8.1)

    @property
    def payload_format(self) -> PayloadFormat:
        """The :class:`PayloadFormat` that sizes packets in this format."""
        if self is AmrPayloadFormat.OCTET_ALIGNED:
            return PayloadFormat.AMR_OCTET_ALIGNED
        return PayloadFormat.AMR_BANDWIDTH_EFFICIENT


class Basis(StrEnum):
    """Where an Ie or Bpl value comes from."""

    ITU = "itu"  # the codec's own row in an ITU-T G.113 table
    SAME_ALGORITHM = "same-algorithm"  # the G.113 row of a bit-exact identical codec
    BORROWED = "borrowed"  # the G.113 row of a related codec: an estimate
    ESTIMATE = "estimate"  # no ITU-T value; the note gives the rule


@dataclass(frozen=True)
class Source:
    """Provenance of one value: its basis and a note citing the table or giving the rule."""

    basis: Basis
    note: str

    @property
    def estimated(self) -> bool:
        """True when the value is not an ITU-T table value for this codec (or its twin)."""
        return self.basis in (Basis.BORROWED, Basis.ESTIMATE)


@dataclass(frozen=True)
class Dtx:
    """Discontinuous transmission: what the encoder sends while the talker is silent."""

    sid_frame_bits: int  # one silence-descriptor frame, codec bits
    sid_interval_s: float | None  # SID update period; None: sent only when the noise changes
    note: str


_UNSPECIFIED = Source(Basis.ESTIMATE, "not specified")


@dataclass(frozen=True)
class Codec:
    """Static facts about one codec at one bit rate.

    ``ie`` and the Bpl values are on the R scale of ``bandwidth.emodel``.
    ``plc_builtin`` is True when concealment is part of the normative decoder
    (it cannot be switched off), False when it is an optional appendix (G.711
    Appendix I, G.722 Appendices III and IV).
    """

    name: str
    rtp_payload_type: int
    sample_rate_hz: int
    rtp_clock_hz: int
    frame_s: float  # duration of one codec frame
    lookahead_s: float  # algorithmic look-ahead beyond the frame
    bitrate_bps: float
    bandwidth: Bandwidth
    ie: float  # equipment impairment factor on bandwidth.emodel's scale
    bpl_without_plc: float | None  # packet-loss robustness, silence inserted for lost frames
    bpl_with_plc: float  # packet-loss robustness with the codec's concealment
    ptimes_s: tuple[float, ...] = (0.020,)  # allowed packetizations
    payload_format: PayloadFormat = PayloadFormat.RAW
    cpu: CpuCost = CpuCost.MEDIUM
    dtx: Dtx | None = None
    plc_builtin: bool = True
    ie_source: Source = _UNSPECIFIED
    bpl_source: Source = _UNSPECIFIED

    def __post_init__(self) -> None:
        if self.frame_s <= 0 or self.bitrate_bps <= 0 or self.rtp_clock_hz <= 0:
            raise ValueError(f"{self.name}: frame_s, bitrate_bps and rtp_clock_hz must be > 0")
        bits = self.bitrate_bps * self.frame_s
        if abs(bits - round(bits)) > _TOLERANCE:
            raise ValueError(f"{self.name}: {bits} bits per frame is not a whole number")
        if not self.ptimes_s or not all(self._whole_frames(p) for p in self.ptimes_s):
            raise ValueError(f"{self.name}: every ptime must be a whole number of frames")

    @property
    def frame_bits(self) -> int:
        """Codec bits in one frame (bit rate x frame duration)."""
        return round(self.bitrate_bps * self.frame_s)

    def _whole_frames(self, ptime_s: float) -> bool:
        frames = ptime_s / self.frame_s
        return ptime_s > 0 and abs(frames - round(frames)) <= _TOLERANCE

    def frames(self, ptime_s: float) -> int:
        """Codec frames in one packet carrying ``ptime_s`` of audio; a fraction raises."""
        if not self._whole_frames(ptime_s):
            raise ValueError(
                f"{ptime_s * 1e3:g} ms is not a whole number of {self.name} "
                f"frames of {self.frame_s * 1e3:g} ms"
            )
        return round(ptime_s / self.frame_s)

    def allows(self, ptime_s: float) -> bool:
        """Whether ``ptime_s`` is one of the codec's packetizations (whole frames)."""
        return self._whole_frames(ptime_s) and any(
            abs(ptime_s - allowed) <= _TOLERANCE * self.frame_s for allowed in self.ptimes_s
        )

    def payload_header_bits(self, ptime_s: float) -> int:
        """Payload-format header bits in one packet, before padding to an octet."""
        return _header_bits(self.payload_format, self.frames(ptime_s))

    def payload_bytes(self, ptime_s: float) -> int:
        """RTP payload bytes for ``ptime_s`` of audio in one packet, payload headers included."""
        return _packet_bytes(self.payload_format, self.frame_bits, self.frames(ptime_s))

    def sid_payload_bytes(self) -> int | None:
        """RTP payload bytes of one SID packet (one frame), or None without DTX."""
        if self.dtx is None:
            return None
        return _packet_bytes(self.payload_format, self.dtx.sid_frame_bits, 1)

    def rtp_ticks(self, ptime_s: float) -> int:
        """RTP timestamp increment per packet (RFC 3550 clause 5.1)."""
        return round(self.rtp_clock_hz * ptime_s)

    def bpl(self, *, concealment: bool) -> float:
        """Bpl for the receiver's concealment choice; raises where that choice has no value."""
        if concealment:
            return self.bpl_with_plc
        if self.bpl_without_plc is None:
            why = (
                "its decoder always conceals lost frames (the PLC is part of the codec)"
                if self.plc_builtin
                else "no source gives a Bpl for its decoder without PLC"
            )
            raise ValueError(f"{self.name} has no Bpl without concealment: {why}")
        return self.bpl_without_plc


def _header_bits(fmt: PayloadFormat, frames: int) -> int:
    if fmt is PayloadFormat.AMR_BANDWIDTH_EFFICIENT:
        return 4 + 6 * frames  # CMR + ToC (F, FT, Q) per frame, RFC 4867 clause 4.3
    if fmt is PayloadFormat.AMR_OCTET_ALIGNED:
        return 8 + 8 * frames  # CMR octet + ToC octet per frame, RFC 4867 clause 4.4
    if fmt is PayloadFormat.EVS_COMPACT and frames > 1:
        return 8 * frames  # header-full: one ToC octet per frame, TS 26.445 A.2.2
    return 0


def _packet_bytes(fmt: PayloadFormat, frame_bits: int, frames: int) -> int:
    header = _header_bits(fmt, frames)
    if fmt in (PayloadFormat.AMR_OCTET_ALIGNED, PayloadFormat.EVS_COMPACT):
        return header // 8 + frames * math.ceil(frame_bits / 8)  # each frame padded to an octet
    return math.ceil((header + frames * frame_bits) / 8)  # padded once, at the end


# --- Dynamic RTP payload types (RFC 3551 clause 3: 96-127, bound by SDP). The
# numbers are conventional defaults, not fixed by any standard.
_PT_AMR, _PT_AMR_WB, _PT_EVS, _PT_ILBC, _PT_OPUS = 97, 98, 100, 102, 111

_ITU_T_I1 = "ITU-T G.113 (11/2007) Appendix I, Table I.1"
_ITU_T_I3 = "ITU-T G.113 (11/2007) Appendix I, Table I.3 (Table I.4 in 09/2024), random loss"
_ITU_T_IV = "ITU-T G.113 (09/2024) Appendix IV as transcribed by sipnab"
_SHORT_PTIMES = (0.010, 0.020, 0.030, 0.040, 0.060)  # RFC 3551 clause 4.2: 20 ms default
_AMR_PTIMES = (0.020, 0.040, 0.060, 0.080)  # 1-4 frames; 1 is TS 26.114's default

# G.711 (11/1988): 8 kHz, 8 bits per sample, one sample per "frame" (0.125 ms),
# no look-ahead. RTP payload types 0 (PCMU) and 8 (PCMA): RFC 3551 Table 4.
# CPU low: a per-sample table lookup, no signal analysis.
_G711_BPL = Source(
    Basis.ITU, f"{_ITU_T_I3}: G.711, 10 ms, no PLC 4.3; with G.711 Appendix I PLC 25.1"
)


def _g711(name: str, payload_type: int) -> Codec:
    return Codec(
        name=name,
        rtp_payload_type=payload_type,
        sample_rate_hz=8000,
        rtp_clock_hz=8000,
        frame_s=0.000125,
        lookahead_s=0.0,
        bitrate_bps=64_000.0,
        bandwidth=Bandwidth.NARROW,
        ie=0.0,
        bpl_without_plc=4.3,
        bpl_with_plc=25.1,
        ptimes_s=_SHORT_PTIMES,
        cpu=CpuCost.LOW,
        plc_builtin=False,
        ie_source=Source(Basis.ITU, f"{_ITU_T_I1}: G.711 64 kbit/s, Ie 0"),
        bpl_source=_G711_BPL,
    )


# G.722 (09/2012): SB-ADPCM, 16 kHz input, one 8-bit code per two input samples,
# so RFC 3551 clause 4.5.2 treats it as 8000 "samples" per second of 8 bits with
# an 8000 Hz RTP clock (payload type 9). Look-ahead: the 24-tap transmit and
# receive QMFs delay 23 samples at 16 kHz (computed from the filter lengths). CPU low: two
# QMFs and two ADPCM quantizers, no analysis-by-synthesis search.
_G722 = Codec(
    name="G722",
    rtp_payload_type=9,
    sample_rate_hz=16000,
    rtp_clock_hz=8000,
    frame_s=0.000125,
    lookahead_s=23 / 16000,
    bitrate_bps=64_000.0,
    bandwidth=Bandwidth.WIDE,
    ie=13.0,
    bpl_without_plc=None,
    bpl_with_plc=4.3,
    ptimes_s=_SHORT_PTIMES,
    cpu=CpuCost.LOW,
    plc_builtin=False,
    ie_source=Source(
        Basis.ITU,
        "ITU-T G.113 Appendix IV, Table IV.1: G.722 64 kbit/s, Ie,WB 13; quoted from the "
        "Recommendation, not re-read for this table (Mitel's MX-ONE planning guide gives 14)",
    ),
    bpl_source=Source(
        Basis.BORROWED,
        f"{_ITU_T_IV}, Table IV.4: AMR-WB 12.65 kbit/s 4.3, the only wideband Bpl at a "
        "common rate; G.113 has none for G.722 with Appendix III/IV PLC, nor without PLC",
    ),
)

# G.729 (CS-ACELP): 10 ms frames of 80 bits, 5 ms look-ahead (G.729 clause 2),
# payload type 18 (RFC 3551 clause 4.5.6). G729 is the full codec without
# Annex B; G729A is Annex A with Annex B VAD/DTX, the combination G.113 rates.
# CPU medium: analysis-by-synthesis algebraic codebook search (Annex A reduces it).
_G729_SID = Dtx(
    sid_frame_bits=15,
    sid_interval_s=None,
    note="G.729 Annex B: 15-bit SID (2 octets in RTP, RFC 3551 clause 4.5.6), sent only "
    "when the background noise changes",
)


def _g729(name: str, *, ie: float, ie_source: Source, bpl_basis: Basis, dtx: Dtx | None) -> Codec:
    return Codec(
        name=name,
        rtp_payload_type=18,
        sample_rate_hz=8000,
        rtp_clock_hz=8000,
        frame_s=0.010,
        lookahead_s=0.005,
        bitrate_bps=8000.0,
        bandwidth=Bandwidth.NARROW,
        ie=ie,
        bpl_without_plc=None,
        bpl_with_plc=19.0,
        ptimes_s=_SHORT_PTIMES,
        cpu=CpuCost.MEDIUM,
        dtx=dtx,
        ie_source=ie_source,
        bpl_source=Source(
            bpl_basis,
            f"{_ITU_T_I3}: G.729-A + VAD, 2 x 10 ms per packet, 19.0 (G.729 and G.729A "
            "share the frame-erasure concealment of G.729 clause 4.4)",
        ),
    )


# AMR (3GPP TS 26.071/26.090): 20 ms frames, 5 ms look-ahead (the 12.2 mode has a
# 5 ms delay instead, so every mode switches seamlessly), RTP clock 8000 (RFC 4867
# clause 4.1). CPU medium: ACELP at 8 kHz, a structure close to G.729's.
_AMR_DTX = Dtx(
    sid_frame_bits=39,
    sid_interval_s=0.160,
    note="TS 26.101 SID frame of 39 bits, SID_UPDATE every 8th frame (TS 26.093 clause 5)",
)
_TELEKTRONIKK = (
    "estimated: Telektronikk 97(2/3) 2001 'Internet Traffic Engineering', voice-quality "
    "article, Table 3 (tolerable mouth-to-ear delay at R = 70, perfect echo control): "
    "{delay} ms for this mode, between {low} and {high}; Ie interpolated linearly"
)
_AMR_IE: dict[str, tuple[float, Source]] = {
    "12.2": (
        5.0,
        Source(Basis.SAME_ALGORITHM, f"{_ITU_T_I1}: GSM 06.60 EFR 12.2 kbit/s, Ie 5 (TS 26.071)"),
    ),
    "10.2": (
        6.0,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(delay=332, low="GSM-EFR (Ie 5, 342)", high="G.726-32 (Ie 7, 322)"),
        ),
    ),
    "7.95": (
        10.0,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(
                delay=293, low="G.729 (Ie 10, 294)", high="G.723.1-6.3 (Ie 15, 251)"
            )
            + " (10.1), capped at the 7.4 mode's 10 so that Ie does not rise with the rate",
        ),
    ),
    "7.4": (
        10.0,
        Source(
            Basis.SAME_ALGORITHM,
            f"{_ITU_T_I1}: IS-641 ACELP 7.4 kbit/s, Ie 10 (TS 26.071); the Telektronikk delay "
            "bound (280 ms) would give 11.6",
        ),
    ),
    "6.7": (
        13.7,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(
                delay=262, low="G.729 (Ie 10, 294)", high="G.723.1-6.3 (Ie 15, 251)"
            ),
        ),
    ),
    "5.9": (
        16.5,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(
                delay=239, low="G.723.1-6.3 (Ie 15, 251)", high="G.723.1-5.3 (Ie 19, 219)"
            ),
        ),
    ),
    "5.15": (
        19.6,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(
                delay=214, low="G.723.1-5.3 (Ie 19, 219)", high="G.728-12.8 (Ie 20, 210)"
            ),
        ),
    ),
    "4.75": (
        21.2,
        Source(
            Basis.ESTIMATE,
            _TELEKTRONIKK.format(
                delay=197, low="G.728-12.8 (Ie 20, 210)", high="GSM-HR (Ie 23, 177)"
            ),
        ),
    ),
}
_EFR_BPL = f"{_ITU_T_I3}: GSM-EFR, 20 ms per packet, 10.0"


def _amr(mode: str) -> Codec:
    ie, ie_source = _AMR_IE[mode]
    twin = mode == "12.2"  # the EFR row is for this very algorithm and its concealment
    return Codec(
        name=f"AMR-{mode}",
        rtp_payload_type=_PT_AMR,
        sample_rate_hz=8000,
        rtp_clock_hz=8000,
        frame_s=0.020,
        lookahead_s=0.005,
        bitrate_bps=float(round(float(mode) * 1000)),
        bandwidth=Bandwidth.NARROW,
        ie=ie,
        bpl_without_plc=None,
        bpl_with_plc=10.0,
        ptimes_s=_AMR_PTIMES,
        payload_format=PayloadFormat.AMR_BANDWIDTH_EFFICIENT,
        cpu=CpuCost.MEDIUM,
        dtx=_AMR_DTX,
        ie_source=ie_source,
        bpl_source=Source(
            Basis.SAME_ALGORITHM if twin else Basis.BORROWED,
            _EFR_BPL + ("" if twin else "; AMR's concealment (TS 26.091) is EFR's, per mode"),
        ),
    )


# AMR-WB (G.722.2, 3GPP TS 26.190): 16 kHz, 20 ms frames, 25.9375 ms algorithmic
# delay (5 ms look-ahead + 0.9375 ms resampling), RTP clock 16000 (RFC 4867 clause
# 4.1). CPU high: ACELP at a 12.8 kHz internal rate plus high-band generation,
# about twice AMR's cost.
_AMR_WB_DTX = Dtx(
    sid_frame_bits=40,
    sid_interval_s=0.160,
    note="TS 26.201 SID frame of 40 bits, SID_UPDATE every 8th frame (TS 26.193)",
)
_AMR_WB_IE = {
    "6.6": 41.0,
    "8.85": 26.0,
    "12.65": 13.0,
    "14.25": 10.0,
    "15.85": 7.0,
    "18.25": 5.0,
    "19.85": 3.0,
    "23.05": 1.0,
    "23.85": 8.0,
}
_AMR_WB_BPL = {"12.65": 4.3, "23.05": 4.6, "23.85": 4.9}
_AMR_WB_NEAREST_BPL = {  # modes G.113 gives no Bpl,WB for: the nearest rate that has one
    "6.6": "12.65",
    "8.85": "12.65",
    "14.25": "12.65",
    "15.85": "12.65",
    "18.25": "23.05",
    "19.85": "23.05",
}


def _amr_wb(mode: str) -> Codec:
    listed = mode in _AMR_WB_BPL
    bpl_mode = mode if listed else _AMR_WB_NEAREST_BPL[mode]
    return Codec(
        name=f"AMR-WB-{mode}",
        rtp_payload_type=_PT_AMR_WB,
        sample_rate_hz=16000,
        rtp_clock_hz=16000,
        frame_s=0.020,
        lookahead_s=0.0059375,
        bitrate_bps=float(round(float(mode) * 1000)),
        bandwidth=Bandwidth.WIDE,
        ie=_AMR_WB_IE[mode],
        bpl_without_plc=None,
        bpl_with_plc=_AMR_WB_BPL[bpl_mode],
        ptimes_s=_AMR_PTIMES,
        payload_format=PayloadFormat.AMR_BANDWIDTH_EFFICIENT,
        cpu=CpuCost.HIGH,
        dtx=_AMR_WB_DTX,
        ie_source=Source(Basis.ITU, f"{_ITU_T_IV}, Table IV.1 (monotic): G.722.2 {mode} kbit/s"),
        bpl_source=Source(
            Basis.ITU if listed else Basis.BORROWED,
            f"{_ITU_T_IV}, Table IV.4 (diotic, uniform loss): G.722.2 {bpl_mode} kbit/s",
        ),
    )


# Wideband-equivalent Ie,WB rule for Opus and the FB-scale step (module docstring).
_FB_STEP = 19.0  # G.113 Appendix V: Ie,FB of a wideband codec = Ie,WB + 19 (148 - 129)
_WB_BPL = Source(
    Basis.BORROWED,
    f"{_ITU_T_IV}, Table IV.4: AMR-WB 12.65 kbit/s 4.3 (one 20 ms predictive frame per "
    "packet, decoder concealment); conservative for codecs with better concealment",
)


def _best_at_or_below(table: dict[str, float], kbps: float) -> tuple[str, float]:
    """The mode of ``table`` with the lowest Ie among those at or below ``kbps``."""
    mode = min((m for m in table if float(m) <= kbps), key=lambda m: table[m])
    return mode, table[mode]


# EVS (3GPP TS 26.441/26.445): 20 ms frames, 32 ms algorithmic delay (12 ms beyond
# the frame), RTP clock 16000 whatever the bandwidth (TS 26.445 Annex A). Compact
# payload: the frame alone. CPU high: switched ACELP/MDCT codec with signal
# classification, the most complex codec here.
_EVS_DTX = Dtx(
    sid_frame_bits=48,
    sid_interval_s=0.160,
    note="TS 26.445 clause 5.6: 48-bit SID (2.4 kbit/s), fixed update every 8 frames by default",
)
_EVS_WB_EQUIVALENT: dict[str, tuple[float, str]] = {
    "9.6": (13.0, "EVS-WB 9.6 not worse than AMR-WB 12.65 (Ie,WB 13), TR 26.952"),
    "13.2": (8.0, "EVS-WB 13.2 not worse than AMR-WB 23.85 (Ie,WB 8), TR 26.952"),
    "24.4": (1.0, "EVS-WB 24.4 transparent for wideband speech: best AMR-WB value (23.05, 1)"),
}


def _evs(band: Bandwidth, rate: str) -> Codec:
    wb_ie, why = _EVS_WB_EQUIVALENT[rate]
    wide = band is Bandwidth.WIDE
    ie = wb_ie if wide else wb_ie + _FB_STEP
    note = f"estimated: {why}" + ("" if wide else f"; + {_FB_STEP:g} for the G.107.2 scale")
    return Codec(
        name=f"EVS-{'WB' if wide else 'SWB'}-{rate}",
        rtp_payload_type=_PT_EVS,
        sample_rate_hz=band.sample_rate_hz,
        rtp_clock_hz=16000,
        frame_s=0.020,
        lookahead_s=0.012,
        bitrate_bps=float(round(float(rate) * 1000)),
        bandwidth=band,
        ie=ie,
        bpl_without_plc=None,
        bpl_with_plc=4.3,
        ptimes_s=_AMR_PTIMES,
        payload_format=PayloadFormat.EVS_COMPACT,
        cpu=CpuCost.HIGH,
        dtx=_EVS_DTX,
        ie_source=Source(Basis.ESTIMATE, note),
        bpl_source=_WB_BPL,
    )


# Opus (RFC 6716), CBR at the named rate: 20 ms frames (40/60 ms packets are
# single SILK frames or code-1/2/3 packets, RFC 6716 clause 3.2), 26.5 ms
# algorithmic delay at 20 ms, so 6.5 ms beyond the frame; RTP clock 48000 always
# (RFC 7587 clause 4.1); the TOC byte is part of the CBR packet size. Internal
# sampling 8/16/48 kHz for NB/WB/FB. CPU high: at libopus's default complexity 10
# the encoder runs SILK's and CELT's full analyses.
def _opus(band: Bandwidth, kbps: int) -> Codec:
    label = {Bandwidth.NARROW: "NB", Bandwidth.WIDE: "WB", Bandwidth.FULL: "FB"}[band]
    if band is Bandwidth.NARROW:
        amr = {m: ie for m, (ie, _) in _AMR_IE.items()}
        mode, ie = _best_at_or_below(amr, kbps)
        note = f"estimated: best AMR mode at or below {kbps} kbit/s (AMR-{mode}, Ie {ie:g})"
        bpl, bpl_source = 10.0, Source(Basis.BORROWED, _EFR_BPL + " (same 20 ms loss unit)")
    else:
        mode, ie = _best_at_or_below(_AMR_WB_IE, kbps)
        note = f"estimated: best AMR-WB mode at or below {kbps} kbit/s (AMR-WB-{mode}, {ie:g})"
        if band is Bandwidth.FULL:
            ie += _FB_STEP
            note += f"; + {_FB_STEP:g} for the G.107.2 scale, no credit above 7 kHz"
        bpl, bpl_source = 4.3, _WB_BPL
    frame_bits = kbps * 20  # kbit/s x 20 ms
    return Codec(
        name=f"OPUS-{label}-{kbps}",
        rtp_payload_type=_PT_OPUS,
        sample_rate_hz=band.sample_rate_hz,
        rtp_clock_hz=48000,
        frame_s=0.020,
        lookahead_s=0.0065,
        bitrate_bps=kbps * 1000.0,
        bandwidth=band,
        ie=ie,
        bpl_without_plc=None,
        bpl_with_plc=bpl,
        ptimes_s=(0.020, 0.040, 0.060),
        cpu=CpuCost.HIGH,
        dtx=Dtx(
            sid_frame_bits=frame_bits,
            sid_interval_s=0.400,
            note="estimated: libopus DTX sends one frame every 400 ms (MAX_CONSECUTIVE_DTX = "
            "20 frames of 20 ms), counted here at the full CBR frame size (an upper bound)",
        ),
        ie_source=Source(Basis.ESTIMATE, note),
        bpl_source=bpl_source,
    )


# iLBC (RFC 3951): block-independent LPC, 20 ms frames of 304 bits (15.2 kbit/s,
# 5 ms look-ahead) or 30 ms frames of 400 bits (13.33 kbit/s, 10 ms look-ahead);
# RTP clock 8000 (RFC 3952). CPU medium: start-state and adaptive-codebook
# searches, about G.729A's cost (RFC 3951 clause 1). No DTX of its own.
def _ilbc(frame_ms: int) -> Codec:
    bits, lookahead_s, ie = (304, 0.005, 10.0) if frame_ms == 20 else (400, 0.010, 11.0)
    anchor = "G.729 (10)" if frame_ms == 20 else "G.729-A + VAD (11)"
    return Codec(
        name=f"iLBC-{frame_ms}",
        rtp_payload_type=_PT_ILBC,
        sample_rate_hz=8000,
        rtp_clock_hz=8000,
        frame_s=frame_ms / 1000,
        lookahead_s=lookahead_s,
        bitrate_bps=bits * 1000 / frame_ms,
        bandwidth=Bandwidth.NARROW,
        ie=ie,
        bpl_without_plc=None,
        bpl_with_plc=25.1,
        ptimes_s=tuple(n * frame_ms / 1000 for n in (1, 2, 3)),
        cpu=CpuCost.MEDIUM,
        ie_source=Source(
            Basis.ESTIMATE,
            f"estimated: G.113 has no iLBC row; its authors report quality slightly above "
            f"G.729A at about its complexity, taken as {anchor} of {_ITU_T_I1}",
        ),
        bpl_source=Source(
            Basis.BORROWED,
            f"{_ITU_T_I3}: G.711 with Appendix I PLC 25.1; RFC 3952 clause 2 likens iLBC's "
            "response to loss to that of PCM with PLC (frames are coded independently)",
        ),
    )


def _table() -> dict[str, Codec]:
    codecs = [
        _g711("PCMU", 0),
        _g711("PCMA", 8),
        _G722,
        _g729(
            "G729",
            ie=10.0,
            ie_source=Source(Basis.ITU, f"{_ITU_T_I1}: CS-ACELP G.729 8 kbit/s, Ie 10"),
            bpl_basis=Basis.BORROWED,
            dtx=None,
        ),
        _g729(
            "G729A",
            ie=11.0,
            ie_source=Source(Basis.ITU, f"{_ITU_T_I1}: G.729-A + VAD 8 kbit/s, Ie 11"),
            bpl_basis=Basis.ITU,
            dtx=_G729_SID,
        ),
        *(_amr(mode) for mode in _AMR_IE),
        *(_amr_wb(mode) for mode in _AMR_WB_IE),
        *(
            _evs(band, rate)
            for band in (Bandwidth.WIDE, Bandwidth.SUPER_WIDE)
            for rate in _EVS_WB_EQUIVALENT
        ),
        _opus(Bandwidth.NARROW, 8),
        _opus(Bandwidth.NARROW, 12),
        _opus(Bandwidth.WIDE, 16),
        _opus(Bandwidth.WIDE, 24),
        _opus(Bandwidth.FULL, 32),
        _opus(Bandwidth.FULL, 64),
        _ilbc(20),
        _ilbc(30),
    ]
    return {c.name: c for c in codecs}


CODECS: dict[str, Codec] = _table()


def codec(name: str) -> Codec:
    """The codec called ``name`` (e.g. ``"PCMU"``, ``"AMR-WB-12.65"``, ``"OPUS-WB-24"``)."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r} (known: {', '.join(sorted(CODECS))})") from None


_AMR_FORMATS = (PayloadFormat.AMR_BANDWIDTH_EFFICIENT, PayloadFormat.AMR_OCTET_ALIGNED)
_SENT: dict[tuple[str, AmrPayloadFormat], Codec] = {
    (name, fmt): (
        replace(entry, payload_format=fmt.payload_format)
        if entry.payload_format in _AMR_FORMATS and entry.payload_format != fmt.payload_format
        else entry
    )
    for name, entry in CODECS.items()
    for fmt in AmrPayloadFormat
}


def sent_codec(
    name: str, amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT
) -> Codec:
    """The codec called ``name`` as a scenario sends it: AMR and AMR-WB modes in
    ``amr_format``, every other codec as in :data:`CODECS` (``amr_format`` ignored).

    Everything that sizes packets of a scenario's calls takes its codec from
    here; the two formats differ in size only (RFC 4867 clauses 4.3 and 4.4),
    so rates, Ie and Bpl are the entry's.
    """
    try:
        return _SENT[name, amr_format]
    except KeyError:
        codec(name)  # an unknown name raises the table's error
        raise
