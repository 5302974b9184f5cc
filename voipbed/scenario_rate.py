"""The calls' rate control (``calls.rate_control``): GCC driving an adaptive codec.

With ``algorithm: gcc`` each sender runs Google Congestion Control
(``models.gcc``) on the receiver's congestion-control feedback and moves
between the operating points of its codec's family (``models.codec_modes``)
through a rate follower (``models.codec_adaptation``). This module declares
the keys, their defaults and sources, the checks that need the calls' codec
and packetization (``problems``), and the model objects a run builds:
``RateControl.gcc_config``, ``RateControl.follower_config`` and
``adaptive_family``, the one place a codec's name is resolved to its family.

Bit rates are on the wire. GCC estimates what the path carries, so its
start, floor and ceiling are rates of IP packets with their RTP/UDP/IP (and
SRTP) headers and the RTCP share, as ``models.codec_adaptation`` compares
each operating point with the target (``models.overhead.bandwidth_bps``).
libwebrtc does the same for audio: AudioSendStream adds its per-packet
overhead (IPv4 20 + UDP 8 + SRTP 10 + RTP 12 bytes) to the codec's minimum
and maximum before handing them to the bandwidth estimator. Unset, the
start is the named codec's wire rate (the call starts in that mode) and the
floor and ceiling are the wire rates of the family's lowest and highest
modes.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import NamedTuple

from pydantic import Field, StrictInt, field_validator, model_validator

from voipbed.models.codec_adaptation import FollowerConfig, Step, point_wire_bps
from voipbed.models.codec_modes import (
    AMR,
    AMR_WB,
    EVS_WB,
    CodecFamily,
    opus_family,
    opus_packet_allowed,
)
from voipbed.models.codecs import CODECS, AmrPayloadFormat, sent_codec
from voipbed.models.gcc import DelayFilter, GccConfig
from voipbed.models.gcc_ecn import EcnConfig
from voipbed.models.overhead import Overhead, bandwidth_bps
from voipbed.schema_types import Duration, Rate, Section

__all__ = [
    "ADAPTIVE_CODECS",
    "Adaptation",
    "Algorithm",
    "Bitrates",
    "Feedback",
    "Problem",
    "RateControl",
    "adaptive_family",
    "problems",
]

MIN_FEEDBACK_INTERVAL_S = 0.010
"""Feedback more often than the shortest packetization (10 ms) reports no new packet."""
MAX_FEEDBACK_INTERVAL_S = 1.0
"""Feedback rarer than GCC's incoming-rate window (0.5 to 1 s, draft-ietf-rmcat-gcc-02
section 5.5) leaves the estimator without a measurement for a whole window."""

ADAPTIVE_CODECS = "AMR-*, AMR-WB-*, EVS-WB-*, OPUS-*"
"""The codecs GCC can drive, as a message lists them."""

_FOLLOWER = FollowerConfig()


class Algorithm(StrEnum):
    """What sets a sender's rate."""

    NONE = "none"  # the codec's fixed rate
    GCC = "gcc"  # Google Congestion Control, draft-ietf-rmcat-gcc-02 with libwebrtc's choices


class Feedback(StrEnum):
    """The congestion-control feedback the receiver sends (sizes: ``models.cc_feedback``)."""

    RFC8888 = "rfc8888"  # RTCP Congestion Control Feedback, RFC 8888
    TWCC = "twcc"  # draft-holmer-rmcat-transport-wide-cc-extensions-01, libwebrtc's


def adaptive_family(codec: str) -> CodecFamily | None:
    """The operating points a rate-controlled sender of ``codec`` moves between; None for a
    codec with one rate.

    AMR, AMR-WB and EVS-WB: the whole family. Opus: rates from 6 to 128 kbit/s
    (``models.codec_modes.opus_family``) with the named entry's band as the
    ceiling (the far end's ``maxplaybackrate``, RFC 7587 clause 6.1), so
    ``OPUS-WB-24`` moves between narrowband and wideband, never to fullband.
    """
    entry = CODECS.get(codec)
    if entry is None:
        return None
    families = [AMR, AMR_WB, EVS_WB]
    if codec.startswith("OPUS-"):
        families = [opus_family(entry.bandwidth)]
    for family in families:
        if any(point.codec == codec for point in family.points):
            return family
    return None


class Bitrates(NamedTuple):
    """GCC's start, floor and ceiling, on the wire."""

    start_bps: float
    min_bps: float
    max_bps: float


class Problem(NamedTuple):
    """A setting the calls cannot run with: its key under ``calls`` and what is wrong."""

    loc: tuple[str, ...]
    message: str


class Adaptation(Section):
    """How the sender moves between its codec's modes as GCC's target moves.

    ``hold_up`` and ``step_up`` default by codec: Opus is a rate-adaptive
    encoder that takes each new target at once (libwebrtc's
    ``AudioEncoderOpusImpl::OnReceivedUplinkBandwidth`` sets the encoder's
    bitrate when the target arrives): 0 s and jump; AMR, AMR-WB and EVS change
    mode by CMR, one mode per request (RFC 4867 clause 4.3.1): 1 s and
    one-step, the hold a modelling choice (no 3GPP or IETF text fixes it).
    """

    hold_up_s: Duration | None = Field(
        None,
        alias="hold_up",
        description=(
            "How long the target must allow a higher mode before the sender moves up, a "
            "duration; null: 0 s for Opus, 1 s for AMR, AMR-WB and EVS (a modelling choice)."
        ),
    )
    step_up: Step | None = Field(
        None,
        description=(
            "How far a move up goes: one-step (the next mode) or jump (as far as allowed); "
            "null: jump for Opus, one-step for AMR, AMR-WB and EVS (one mode per CMR)."
        ),
    )
    step_down: Step = Field(
        _FOLLOWER.step_down,
        description=(
            "How far a move down goes: jump (straight to the mode the target allows) or "
            "one-step (RFC 4867 mode-change-neighbor=1)."
        ),
    )
    min_change_interval_s: Duration = Field(
        _FOLLOWER.min_change_interval_s,
        alias="min_change_interval",
        description=(
            "Least time between two mode changes, a duration; 40 ms is RFC 4867's "
            "mode-change-period=2; 0: none."
        ),
    )


class RateControl(Section):
    """Rate control of each sender: none (the codec's fixed rate) or GCC over an adaptive codec."""

    algorithm: Algorithm = Field(
        Algorithm.NONE,
        description=(
            "none: the codec's fixed rate; gcc: Google Congestion Control "
            "(draft-ietf-rmcat-gcc-02, libwebrtc's trendline filter and gains) sets a target "
            "and the sender follows it between its codec's modes (calls.codec: an adaptive "
            "codec, the starting mode)."
        ),
    )
    feedback: Feedback = Field(
        Feedback.RFC8888,
        description=(
            "The receiver's feedback: rfc8888 (RTCP Congestion Control Feedback, RFC 8888) or "
            "twcc (draft-holmer-rmcat-transport-wide-cc-extensions-01)."
        ),
    )
    feedback_interval_s: Duration = Field(
        0.100,
        alias="feedback_interval",
        description=(
            "Time between feedback reports, a duration from 10 ms to 1 s; 100 ms is libwebrtc "
            "RemoteEstimatorProxy's default send interval. RFC 8888 section 3.1 leaves it "
            "between a report per frame and one per RTT: below 10 ms (the shortest "
            "packetization) a report holds no new packet, beyond 1 s GCC's 0.5 to 1 s "
            "incoming-rate window (draft-ietf-rmcat-gcc-02 section 5.5) goes without one."
        ),
    )
    delay_filter: DelayFilter = Field(
        DelayFilter.TRENDLINE,
        description=(
            "The delay-gradient filter: trendline (libwebrtc's, with its threshold gains) or "
            "kalman (draft-ietf-rmcat-gcc-02 section 5.3, with the gains of 5.4)."
        ),
    )
    ecn: bool = Field(
        False,
        description=(
            "React to CE marks in the feedback (models.gcc_ecn: a marked report scales the "
            "rate by 0.8 once per RTT, RFC 8511's ABE); needs calls.ecn: true."
        ),
    )
    mode_set: tuple[StrictInt, ...] | None = Field(
        None,
        description=(
            "AMR and AMR-WB: the modes the sender may use, by RFC 4867 mode number (clause "
            "8.1 mode-set; AMR 0-7, AMR-WB 0-8), calls.codec among them; null: every mode."
        ),
    )
    start_bitrate_bps: Rate | None = Field(
        None,
        alias="start_bitrate",
        description=(
            "GCC's starting target, a bit rate on the wire (IP packets and the RTCP share); "
            "null: the wire rate of calls.codec at calls.ptime."
        ),
    )
    min_bitrate_bps: Rate | None = Field(
        None,
        alias="min_bitrate",
        description=(
            "GCC's floor, a bit rate on the wire; null: the wire rate of the family's lowest mode."
        ),
    )
    max_bitrate_bps: Rate | None = Field(
        None,
        alias="max_bitrate",
        description=(
            "GCC's ceiling, a bit rate on the wire; null: the wire rate of the family's "
            "highest mode."
        ),
    )
    adaptation: Adaptation = Field(
        Adaptation(),
        description="How the sender moves between modes: hold_up, step_up, step_down, "
        "min_change_interval.",
    )

    @field_validator("feedback_interval_s")
    @classmethod
    def _interval_in_range(cls, interval_s: float) -> float:
        if not MIN_FEEDBACK_INTERVAL_S <= interval_s <= MAX_FEEDBACK_INTERVAL_S:
            raise ValueError(
                "feedback_interval must be from 10 ms (a report per packet at the shortest "
                "packetization) to 1 s (GCC's incoming-rate window)"
            )
        return interval_s

    @field_validator("start_bitrate_bps", "min_bitrate_bps", "max_bitrate_bps")
    @classmethod
    def _positive_rate(cls, rate_bps: float | None) -> float | None:
        if rate_bps is not None and rate_bps <= 0:
            raise ValueError("a bit rate of GCC must be > 0 (or null for the codec's)")
        return rate_bps

    @model_validator(mode="after")
    def _bounds_in_order(self) -> RateControl:
        low, start, high = self.min_bitrate_bps, self.start_bitrate_bps, self.max_bitrate_bps
        if low is not None and high is not None and low > high:
            raise ValueError("min_bitrate must not be above max_bitrate")
        if start is not None and low is not None and start < low:
            raise ValueError("start_bitrate must not be below min_bitrate")
        if start is not None and high is not None and start > high:
            raise ValueError("start_bitrate must not be above max_bitrate")
        return self

    def family(self, codec: str) -> CodecFamily:
        """The modes a sender of ``codec`` moves between (``adaptive_family``), within
        ``mode_set`` when one is given."""
        family = adaptive_family(codec)
        if family is None:
            raise ValueError(f"{codec} has one rate; adaptive codecs: {ADAPTIVE_CODECS}")
        return family if self.mode_set is None else family.with_mode_set(self.mode_set)

    def bitrates(
        self,
        codec: str,
        ptime_s: float,
        overhead: Overhead,
        amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT,
    ) -> Bitrates:
        """GCC's start, floor and ceiling on the wire, the unset ones from ``codec``'s family
        (AMR and AMR-WB sized in ``amr_format``)."""
        family = self.family(codec)

        low, start, high = self.min_bitrate_bps, self.start_bitrate_bps, self.max_bitrate_bps
        lowest, highest = family.points[0], family.points[-1]
        sent = sent_codec(codec, amr_format)
        return Bitrates(
            bandwidth_bps(sent, ptime_s, overhead) if start is None else start,
            point_wire_bps(lowest, ptime_s, overhead, amr_format) if low is None else low,
            point_wire_bps(highest, ptime_s, overhead, amr_format) if high is None else high,
        )

    def gcc_config(self, bitrates: Bitrates) -> GccConfig:
        """GCC's tunables: the filter (with its gains), feedback interval, ECN and bounds."""
        base = GccConfig.draft() if self.delay_filter is DelayFilter.KALMAN else GccConfig()
        low, high = bitrates.min_bps, bitrates.max_bps
        return replace(
            base,
            aimd=replace(base.aimd, min_bps=low, max_bps=high, start_bps=bitrates.start_bps),
            loss=replace(base.loss, min_bps=low, max_bps=high),
            ecn=EcnConfig() if self.ecn else None,
            # libwebrtc's pushback floor (30 kbit/s) is above voice floors: the call's own floor
            pushback=None if base.pushback is None else replace(base.pushback, min_bps=low),
            update_interval_s=self.feedback_interval_s,
        )

    def follower_config(
        self,
        ptime_s: float,
        overhead: Overhead,
        codec: str,
        amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT,
    ) -> FollowerConfig:
        """The rate follower's tunables for senders of ``codec`` at ``ptime_s`` with
        ``overhead`` and ``amr_format`` (``Adaptation``'s defaults by codec for the unset
        ones)."""
        adaptation = self.adaptation
        opus = codec.startswith("OPUS-")
        hold_up_s = adaptation.hold_up_s
        if hold_up_s is None:
            hold_up_s = 0.0 if opus else _FOLLOWER.hold_up_s
        step_up = adaptation.step_up
        if step_up is None:
            step_up = Step.JUMP if opus else _FOLLOWER.step_up
        return FollowerConfig(
            hold_up_s=hold_up_s,
            step_up=step_up,
            step_down=adaptation.step_down,
            min_change_interval_s=adaptation.min_change_interval_s,
            ptime_s=ptime_s,
            overhead=overhead,
            amr_format=amr_format,
        )


def problems(
    rate_control: RateControl,
    codec: str,
    ptime_s: float,
    overhead: Overhead,
    *,
    media_ecn: bool,
    amr_format: AmrPayloadFormat = AmrPayloadFormat.BANDWIDTH_EFFICIENT,
) -> list[Problem]:
    """What keeps calls of ``codec`` at ``ptime_s`` (AMR and AMR-WB in ``amr_format``) from
    running under ``rate_control``."""
    found = []
    if rate_control.ecn and not media_ecn:
        found.append(
            Problem(
                ("rate_control", "ecn"),
                "calls.rate_control.ecn reacts to CE marks, which only ECN-capable media get: "
                "set calls.ecn: true too",
            )
        )
    if rate_control.algorithm is not Algorithm.GCC:
        return found
    family = adaptive_family(codec)
    if family is None:
        found.append(
            Problem(
                ("rate_control", "algorithm"),
                f"calls.rate_control.algorithm gcc needs an adaptive calls.codec; {codec} has "
                f"one rate (adaptive: {ADAPTIVE_CODECS})",
            )
        )
        return found
    if rate_control.mode_set is not None:
        problem = _mode_set_problem(rate_control.mode_set, family, codec)
        if problem is not None:
            return [*found, problem]
        family = family.with_mode_set(rate_control.mode_set)
    refused = list(dict.fromkeys(p.codec for p in family.points if not _sends_at(p.codec, ptime_s)))
    if refused:
        found.append(
            Problem(
                ("ptime",),
                f"under calls.rate_control.algorithm gcc the sender moves through "
                f"{family.name}'s modes, and {', '.join(refused)} is not sent at "
                f"{ptime_s * 1e3:g} ms",
            )
        )
        return found
    bounds = _bitrate_problem(rate_control, codec, family, ptime_s, overhead, amr_format)
    return found if bounds is None else [*found, bounds]


def _mode_set_problem(modes: tuple[int, ...], family: CodecFamily, codec: str) -> Problem | None:
    """What is wrong with a ``mode_set`` for calls of ``codec`` (of ``family``)."""
    where = ("rate_control", "mode_set")
    numbers = family.mode_numbers
    if numbers is None:
        return Problem(where, f"{family.name} has no mode numbers: mode_set is for AMR, AMR-WB")
    unknown = sorted(set(modes) - set(numbers))
    if unknown or not modes:
        return Problem(
            where, f"{family.name}'s modes are {numbers[0]} to {numbers[-1]}; got {list(modes)}"
        )
    start = numbers[[point.codec for point in family.points].index(codec)]
    if start not in modes:
        return Problem(where, f"calls.codec {codec} is mode {start}, not in mode_set {list(modes)}")
    return None


def _bitrate_problem(
    rate_control: RateControl,
    codec: str,
    family: CodecFamily,
    ptime_s: float,
    overhead: Overhead,
    amr_format: AmrPayloadFormat,
) -> Problem | None:
    """What is wrong with GCC's start, floor and ceiling, the unset ones filled in."""
    rates = rate_control.bitrates(codec, ptime_s, overhead, amr_format)
    lowest_point = family.points[0]
    lowest = f"{lowest_point.bitrate_bps / 1e3:g} kbit/s ({lowest_point.codec})"
    lowest_bps = point_wire_bps(lowest_point, ptime_s, overhead, amr_format)
    unset = f"(on the wire; unset ones are {codec}'s and {family.name}'s)"
    if rates.max_bps < lowest_bps:
        return Problem(
            ("rate_control", "max_bitrate"),
            f"max_bitrate {_kbps(rates.max_bps)} is below the wire rate of {lowest}, "
            f"{family.name}'s lowest mode ({_kbps(lowest_bps)}): no mode would fit",
        )
    if rates.min_bps > rates.max_bps:
        blamed = "min_bitrate" if rate_control.min_bitrate_bps is not None else "max_bitrate"
        return Problem(
            ("rate_control", blamed),
            f"min_bitrate {_kbps(rates.min_bps)} is above max_bitrate {_kbps(rates.max_bps)} "
            + unset,
        )
    if not rates.min_bps <= rates.start_bps <= rates.max_bps:
        given = {
            "start_bitrate": rate_control.start_bitrate_bps,
            "min_bitrate": rate_control.min_bitrate_bps,
            "max_bitrate": rate_control.max_bitrate_bps,
        }
        blamed = next((key for key, value in given.items() if value is not None), "start_bitrate")
        return Problem(
            ("rate_control", blamed),
            f"GCC would start at {_kbps(rates.start_bps)}, outside min_bitrate "
            f"{_kbps(rates.min_bps)} to max_bitrate {_kbps(rates.max_bps)} " + unset,
        )
    return None


def _kbps(rate_bps: float) -> str:
    return f"{rate_bps / 1e3:.2f} kbit/s"


def _sends_at(codec: str, ptime_s: float) -> bool:
    """Whether a sender in mode ``codec`` can send packets of ``ptime_s``."""
    entry = CODECS[codec]
    if not entry.allows(ptime_s):
        return False
    if codec.startswith("OPUS-"):
        return opus_packet_allowed(ptime_s, entry.frame_s, entry.bandwidth)
    return True
