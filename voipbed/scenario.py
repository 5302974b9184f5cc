"""The typed scenario: one frozen pydantic model, the single source of truth for a run.

YAML keys name the quantity (``one_way_delay: 40ms``); attributes carry the SI
unit (``one_way_delay_s == 0.04``). Unknown keys are errors. Load scenario
files through ``voipbed.loader``, which reports every error with its file,
line and key path; this module only declares the shape and the defaults.

Defaults describe a typical VoLTE-like handset call over LTE: see each field.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from voipbed.expectations import parse_expectation
from voipbed.models import jitter_buffer as jb
from voipbed.models import overhead as ov
from voipbed.models.codecs import CODECS, AmrPayloadFormat, Bandwidth, Codec, sent_codec
from voipbed.scenario_alerts import AlertSettings
from voipbed.scenario_dtmf import MAX_RUN_PACKETS, Dtmf
from voipbed.scenario_path import (
    BernoulliLoss,
    CoDelAqm,
    CrossTraffic,
    CrossTrafficKind,
    DropTailAqm,
    GilbertElliottLoss,
    Harq,
    Jitter,
    JitterDistribution,
    PieAqm,
    Queue,
    Scheduling,
    Segment,
    default_path,
)
from voipbed.scenario_radio import Radio
from voipbed.scenario_rate import RateControl
from voipbed.scenario_rate import problems as rate_problems
from voipbed.scenario_signalling import Signalling, SipLoad, SipTransport, unsupported_path
from voipbed.schema_types import Duration, Ratio, Section, ShortForm
from voipbed.sweep_axes import SweepShapeError, sweep_axes, sweep_size

__all__ = [
    "AdaptiveJitterBuffer",
    "BernoulliLoss",
    "Calls",
    "CoDelAqm",
    "CrossTraffic",
    "CrossTrafficKind",
    "Device",
    "DropTailAqm",
    "EModelSettings",
    "FixedJitterBuffer",
    "GilbertElliottLoss",
    "Harq",
    "Jitter",
    "JitterDistribution",
    "NetEqJitterBuffer",
    "PieAqm",
    "Plc",
    "Queue",
    "RateControl",
    "Scenario",
    "Scheduling",
    "Segment",
    "Signalling",
    "SipLoad",
    "SipTransport",
    "SrtpKeying",
    "default_yaml_dict",
]


MAX_SWEEP_POINTS = 1000
"""More points than this is a mistake more often than a plan (each is a whole run)."""
MAX_CALLS = 10_000
"""Calls of one run: each call's two flows are scored one by one, about 1.5 ms a flow."""
MAX_SEGMENTS = 32
"""Hops of a path: each is a stage every packet crosses and a place the report counts."""
MAX_EXPECTATIONS = 200
"""More thresholds than any check needs; keeps a hostile file's check bounded."""


def _known_codec(name: str) -> str:
    if name not in CODECS:
        known = ", ".join(sorted(CODECS))
        raise PydanticCustomError("codec", f"{name!r} is not a known codec (known: {known})")
    return name


CodecName = Annotated[
    str,
    AfterValidator(_known_codec),
    WithJsonSchema({"enum": sorted(CODECS), "description": "codec, by its RTP name"}),
]


class SrtpKeying(StrEnum):
    """How the SRTP master keys are agreed."""

    SDES = "sdes"  # in the SDP offer and answer (a=crypto, RFC 4568)
    DTLS = "dtls"  # a DTLS handshake on the media path (DTLS-SRTP, RFC 5763, RFC 5764)


class Plc(StrEnum):
    """Packet loss concealment at the receiver; sets the E-model's Bpl (models.plc.bpl_for)."""

    CODEC = "codec"  # the codec's own PLC (for G.711: G.711 Appendix I)
    REPETITION = "repetition"  # repeat the last frame, fading (G.711 Appendix I's fade)
    NONE = "none"  # silence


class Calls(Section):
    """The calls of the run: each has an uplink and a downlink RTP flow."""

    count: StrictInt = Field(
        1,
        ge=1,
        le=MAX_CALLS,
        description="Calls in the run, each an uplink and a downlink flow.",
    )
    start_spread_s: Duration = Field(
        0.0,
        alias="start_spread",
        description="Call starts are uniform in [0, start_spread], a duration.",
    )
    hold_time_s: Duration | None = Field(
        None,
        alias="hold_time",
        description="Call length, a duration; null: until the end of the run.",
    )
    codec: CodecName = Field(
        "PCMU", description="The media codec by name (PCMU, G722, AMR-12.2, ...; models/codecs.py)."
    )
    ptime_s: Duration = Field(
        "20ms",
        alias="ptime",
        validate_default=True,  # the default must fit the codec too (iLBC-30 is never 20 ms)
        description=(
            "Packetization, a duration and a whole number of the codec's frames; 20 ms is "
            "RFC 3551 clause 4.5's default."
        ),
    )
    amr_payload_format: AmrPayloadFormat = Field(
        AmrPayloadFormat.BANDWIDTH_EFFICIENT,
        description=(
            "RTP payload format of AMR and AMR-WB (ignored for other codecs): "
            "bandwidth_efficient (RFC 4867 clause 4.3, what SDP without octet-align gives, "
            "clause 8.1) or octet_aligned (clause 4.4, octet-align=1: CMR, ToC entries and "
            "frames each padded to an octet, up to a byte more per 20 ms packet and more with "
            "several frames; baresip's only format)."
        ),
    )
    plc: Plc = Field(
        Plc.CODEC,
        description=(
            "Loss concealment at the receiver, which sets the E-model's Bpl: codec (the codec's "
            "own), repetition (the last frame repeated, fading) or none (silence)."
        ),
    )
    dscp: StrictInt = Field(
        46, ge=0, le=63, description="Media DSCP; 46 is EF, RFC 4594 clause 4.1 telephony."
    )
    ecn: bool = Field(False, description="Media sent ECN-capable (ECT(0)), RFC 6679.")
    ip_version: Literal[4, 6] = Field(4, description="IP version of the media packets.")
    srtp_tag_bits: Literal[0, 32, 80] = Field(
        0,
        description=(
            "SRTP authentication tag (RFC 3711 clause 5.2: 80 is HMAC-SHA1-80, the default "
            "of SDES and DTLS-SRTP); 0: plain RTP, as VoLTE media on its bearer."
        ),
    )
    srtp_keying: SrtpKeying = Field(
        SrtpKeying.SDES,
        description=(
            "How SRTP's keys are agreed (with srtp_tag_bits 80): sdes (in the SDP's a=crypto, "
            "RFC 4568; media secure at the answer) or dtls (a DTLS 1.2 handshake on the media "
            "path after the answer, RFC 5763 and RFC 5764; the media wait for it)."
        ),
    )
    rtcp_share_ratio: Ratio = Field(
        0.05,
        alias="rtcp_share",
        description="RTCP bandwidth over the media rate, a ratio; 5% is RFC 3550 clause 6.2's.",
    )
    rate_control: RateControl = Field(
        RateControl(),
        description=(
            "How each sender sets its rate: algorithm none (the codec's fixed rate) or gcc "
            "(Google Congestion Control over an adaptive codec), with its feedback, filter, "
            "ECN response, bit-rate bounds on the wire and mode changes."
        ),
    )

    def sent_codec(self) -> Codec:
        """The codec as the calls send it: ``codec`` in ``amr_payload_format`` (AMR, AMR-WB)."""
        return sent_codec(self.codec, self.amr_payload_format)

    @field_validator("rtcp_share_ratio")
    @classmethod
    def _media_left(cls, share: float) -> float:
        if share >= 1.0:
            raise ValueError("rtcp_share must be below 100% (RTCP is a share of the media rate)")
        return share

    @field_validator("ptime_s")
    @classmethod
    def _ptime_fits_codec(cls, ptime_s: float, info: ValidationInfo) -> float:
        codec = CODECS.get(info.data.get("codec", ""))
        if codec is None:
            return ptime_s  # the codec's own error says what is wrong
        frames = ptime_s / codec.frame_s
        if ptime_s <= 0 or abs(frames - round(frames)) > 1e-6:
            raise PydanticCustomError(
                "ptime",
                f"{ptime_s * 1e3:g} ms is not a whole number of {codec.name} "
                f"frames of {codec.frame_s * 1e3:g} ms",
            )
        if not codec.allows(ptime_s):
            allowed = ", ".join(f"{p * 1e3:g}" for p in codec.ptimes_s)
            raise PydanticCustomError(
                "ptime", f"{codec.name} is not sent at {ptime_s * 1e3:g} ms (allowed: {allowed} ms)"
            )
        return ptime_s

    @model_validator(mode="after")
    def _keying_has_srtp(self) -> Calls:
        if self.srtp_keying is SrtpKeying.DTLS and self.srtp_tag_bits != 80:
            raise ValueError(
                "srtp_keying dtls keys SRTP: it needs srtp_tag_bits 80 (AES_CM_128_HMAC_SHA1_80, "
                "the profile baresip's dtls_srtp negotiates)"
            )
        return self

    @model_validator(mode="after")
    def _codec_scorable(self) -> Calls:
        used = CODECS[self.codec]
        if used.bandwidth not in (Bandwidth.NARROW, Bandwidth.WIDE):
            raise ValueError(
                f"{used.name} is {used.bandwidth.value}band; voipbed scores narrowband (G.107) "
                "and wideband (G.107.1) codecs so far"
            )
        if self.plc is not Plc.CODEC and used.bpl_without_plc is None:
            raise ValueError(f"{used.name} always conceals lost frames itself: plc must be 'codec'")
        return self

    @model_validator(mode="after")
    def _rate_control_fits(self) -> Calls:
        """The rate control's needs of the codec, packetization and ECN, each at its key."""
        overhead = ov.Overhead(
            ip_version=ov.IpVersion(self.ip_version),
            srtp_tag_bits=self.srtp_tag_bits,
            rtcp_share=self.rtcp_share_ratio,
        )
        found = rate_problems(
            self.rate_control,
            self.codec,
            self.ptime_s,
            overhead,
            media_ecn=self.ecn,
            amr_format=self.amr_payload_format,
        )
        if found:
            details = [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", "{message}", {"message": message}),
                    loc=loc,
                    input=None,
                )
                for loc, message in found
            ]
            raise ValidationError.from_exception_data(type(self).__name__, details)
        return self


class FixedJitterBuffer(Section):
    """A fixed playout delay after the first packet of a call (late packets discarded)."""

    kind: Literal["fixed"] = Field(
        "fixed", description="A fixed playout delay; a jitter buffer without a kind is this one."
    )
    delay_s: Duration = Field(
        0.060,
        alias="delay",
        description=(
            "Playout delay, a duration. 60 ms: the middle of the 40-80 ms fixed settings "
            "common in VoIP handsets and gateways (an assumption; set yours)."
        ),
    )

    def to_model(self, frame_s: float) -> jb.FixedJitterBuffer:
        return jb.FixedJitterBuffer(self.delay_s)


_ADAPTIVE = jb.AdaptiveJitterBuffer()
_NETEQ = jb.NetEqJitterBuffer()


class AdaptiveJitterBuffer(Section):
    """Playout delay adapted at talk spurts (Ramjee et al., INFOCOM 1994, algorithm 1)."""

    kind: Literal["adaptive"] = Field(
        description="Playout delay set at each talk spurt (Ramjee et al., INFOCOM 1994)."
    )
    alpha: float = Field(
        _ADAPTIVE.alpha,
        gt=0,
        lt=1,
        description=(
            "Weight of the past in the delay and variation estimates; Ramjee et al. 1994's "
            "value for algorithms 1 and 2."
        ),
    )
    beta: float = Field(
        _ADAPTIVE.beta,
        ge=0,
        description=(
            "Safety factor on the variation: playout delay = estimate + beta * variation "
            "(Ramjee et al. 1994)."
        ),
    )
    max_spurt_s: Duration | None = Field(
        _ADAPTIVE.max_spurt_s,
        alias="max_spurt",
        description=(
            "Adjust at least this often in a flow without silence, a duration; about ITU-T "
            "P.59's mean talk spurt; null: only at gaps."
        ),
    )
    initial_variation_s: Duration = Field(
        _ADAPTIVE.initial_variation_s,
        alias="initial_variation",
        description=(
            "Variation estimate at a flow's first packet, a duration; 0 is an assumption "
            "(the paper gives no start value)."
        ),
    )

    def to_model(self, frame_s: float) -> jb.AdaptiveJitterBuffer:
        return jb.AdaptiveJitterBuffer(
            self.alpha, self.beta, frame_s, self.max_spurt_s, self.initial_variation_s
        )


class NetEqJitterBuffer(Section):
    """A NetEQ-like buffer: a delay quantile target and time-stretching (models.jitter_buffer)."""

    kind: Literal["neteq"] = Field(
        description="A NetEQ-like buffer: a delay quantile target and time-stretching."
    )
    quantile_ratio: Ratio = Field(
        _NETEQ.quantile,
        alias="quantile",
        description=(
            "Target quantile of the relative delay, a ratio; WebRTC NetEq's "
            "(DelayManager::Config quantile)."
        ),
    )
    forget_factor: float = Field(
        _NETEQ.forget_factor,
        gt=0,
        lt=1,
        description=(
            "Delay histogram's forgetting factor per update; WebRTC NetEq's "
            "(DelayManager::Config forget_factor)."
        ),
    )

    @field_validator("quantile_ratio")
    @classmethod
    def _inner_quantile(cls, quantile: float) -> float:
        if not 0.0 < quantile < 1.0:
            raise ValueError("quantile must be between 0% and 100%, both excluded")
        return quantile

    def to_model(self, frame_s: float) -> jb.NetEqJitterBuffer:
        return jb.NetEqJitterBuffer(
            frame_s=frame_s, quantile=self.quantile_ratio, forget_factor=self.forget_factor
        )


def _fixed_unless_said(value: object) -> object:
    """A jitter buffer without a ``kind`` is the fixed one."""
    if isinstance(value, dict) and "kind" not in value:
        return {"kind": "fixed", **value}
    return value


JitterBuffer = Annotated[
    FixedJitterBuffer | AdaptiveJitterBuffer | NetEqJitterBuffer,
    Field(discriminator="kind"),
    BeforeValidator(_fixed_unless_said),
    ShortForm(FixedJitterBuffer, "Without a kind: the fixed jitter buffer."),
]


class Device(Section):
    """The handset's audio path (A/D, D/A, echo cancelling, audio buffers) at each end.

    Excludes codec framing, packetization and the jitter buffer, which voipbed
    models itself. 3GPP TS 26.131 clause 5.12 bounds a terminal's whole send+receive
    delay; 15 ms each way for the remainder is an assumption for a modern
    handset: set it from your device's measurement.
    """

    send_latency_s: Duration = Field(
        0.015,
        alias="send_latency",
        description=(
            "Audio path delay of the sending handset, a duration; 15 ms is an assumption "
            "within 3GPP TS 26.131 clause 5.12's bound on a terminal (set yours)."
        ),
    )
    receive_latency_s: Duration = Field(
        0.015,
        alias="receive_latency",
        description=(
            "Audio path delay of the receiving handset, a duration; 15 ms is an assumption "
            "within 3GPP TS 26.131 clause 5.12's bound on a terminal (set yours)."
        ),
    )


class EModelSettings(Section):
    """E-model (ITU-T G.107) inputs that a scenario may set; the rest are G.107 Table 3 defaults."""

    advantage: float = Field(
        0.0,
        ge=0,
        le=20,
        description="Advantage factor A; G.107 Table 1 allows up to 10 for cellular mobility.",
    )
    talker_echo_delay_s: Duration | None = Field(
        None,
        alias="talker_echo_delay",
        description="Talker echo delay T, a duration; null: T = Ta (see models.emodel).",
    )
    listener_echo_round_trip_s: Duration | None = Field(
        None,
        alias="listener_echo_round_trip",
        description="Listener echo round trip Tr, a duration; null: Tr = 2 Ta.",
    )
    telr_db: float = Field(
        65.0,
        alias="telr",
        ge=5.0,
        le=65.0,
        description=(
            "Talker echo loudness rating TELR in dB; 65 dB is G.107 Table 3's default, "
            "5 to 65 dB its permitted range."
        ),
    )


_SWEEP_LISTS: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "array", "minItems": 1},
}
_SWEEP_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "zip": {
                    "description": (
                        "Keys whose lists of one length vary together (one axis), or a list "
                        "of such mappings (one axis each)."
                    ),
                    "anyOf": [
                        _SWEEP_LISTS,
                        {"type": "array", "minItems": 1, "items": _SWEEP_LISTS},
                    ],
                }
            },
            "additionalProperties": {"type": "array", "minItems": 1},
        },
        {"type": "null"},
    ]
}


def _seed_count(seeds: Any) -> int:
    """How many seeds ``seeds`` gives (a count, or a list of distinct seeds >= 0)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if not 1 <= seeds <= MAX_SWEEP_POINTS:
            raise PydanticCustomError("sweep", f"a count of seeds is from 1 to {MAX_SWEEP_POINTS}")
        return seeds
    if not isinstance(seeds, list | tuple) or not seeds:
        raise PydanticCustomError("sweep", "a count of seeds, or a list of seeds (integers >= 0)")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise PydanticCustomError("sweep", "each seed is an integer >= 0")
    if len(set(seeds)) != len(seeds):
        raise PydanticCustomError("sweep", "each seed is listed once")
    return len(seeds)


class Scenario(Section):
    """A whole run: the calls, the path they cross, and how the receiver plays them out."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=80,
        description="The scenario's name; it begins the name of each run's folder.",
    )
    description: str = Field("", description="What the scenario is for, in a sentence or two.")
    seed: StrictInt = Field(1, ge=0, description="Same scenario and seed: identical trace.")
    duration_s: Duration = Field(
        60.0, alias="duration", description="Length of the run, a duration > 0."
    )
    calls: Calls = Field(
        Calls(), description="The calls: how many, when they start, codec and packetization."
    )

    @field_validator("duration_s")
    @classmethod
    def _positive_duration(cls, duration_s: float) -> float:
        if duration_s <= 0:
            raise PydanticCustomError("duration", "a run's duration must be > 0")
        return duration_s

    @field_validator("calls")
    @classmethod
    def _calls_start_within_run(cls, calls: Calls, info: ValidationInfo) -> Calls:
        duration_s = info.data.get("duration_s")
        if duration_s is not None and calls.start_spread_s >= duration_s:
            raise PydanticCustomError(
                "start_spread", "calls.start_spread must be shorter than the run's duration"
            )
        return calls

    path: tuple[Segment, ...] = Field(
        default_factory=default_path,
        max_length=MAX_SEGMENTS,
        description=(
            "The hops between the handset and the far end, uplink in this order and "
            "downlink reversed. Default: radio (10 ms, exponential 2 ms jitter, HARQ, 0.5% "
            "loss: 3GPP TR 36.913 clause 7.2, TS 23.203 Table 6.1.7) then core (20 ms: "
            "TS 23.203 Table 6.1.7 Note 1)."
        ),
    )
    jitter_buffer: JitterBuffer = Field(
        FixedJitterBuffer(),
        description="The receiver's jitter buffer: kind fixed (the default), adaptive or neteq.",
    )
    device: Device = Field(Device(), description="The handsets' audio path delay at each end.")
    emodel: EModelSettings = Field(
        EModelSettings(), description="E-model (ITU-T G.107) inputs beyond the network's."
    )
    radio: Radio = Field(
        Radio(), description="The UE's radio hop and its control plane: RRC/DRX and handovers."
    )
    signalling: Signalling = Field(
        Signalling(), description="SIP between handsets and the SIP core (the emulation only)."
    )
    sweep: Annotated[dict[str, Any] | None, WithJsonSchema(_SWEEP_SCHEMA)] = Field(
        None,
        description=(
            "Run the scenario once per combination of these values: key paths as for --set "
            "(calls.codec, jitter_buffer, path[0].loss) to lists of values; the points are "
            "their cross product, compared in one report. zip: maps keys to lists of one "
            "length that vary together (one axis), or is a list of such mappings."
        ),
    )

    @field_validator("sweep")
    @classmethod
    def _sweep_well_formed(cls, sweep: dict[str, Any] | None) -> dict[str, Any] | None:
        if sweep is None:
            return None
        try:
            points = sweep_size(sweep)
        except SweepShapeError as error:
            problem = PydanticCustomError("sweep", "{message}", {"message": str(error)})
            details = InitErrorDetails(type=problem, loc=error.loc, input=sweep)
            raise ValidationError.from_exception_data(cls.__name__, [details]) from None
        if points > MAX_SWEEP_POINTS:
            raise PydanticCustomError(
                "sweep", f"{points} points is more than {MAX_SWEEP_POINTS}; split the sweep"
            )
        return sweep

    seeds: StrictInt | tuple[StrictInt, ...] | None = Field(
        None,
        description=(
            "Run the scenario (each point of a sweep) once per seed: a count N >= 1 (seed, "
            "seed+1, ..., seed+N-1) or a list of distinct seeds; the sweep report gives each "
            "figure's mean over the seeds and its 95% confidence interval."
        ),
    )

    @field_validator("seeds", mode="wrap")
    @classmethod
    def _seeds_well_formed(
        cls, seeds: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        """One message for what is wrong with ``seeds`` (not one per member of its union)."""
        if seeds is None:
            return None
        count = _seed_count(seeds)
        sweep = info.data.get("sweep")
        swept = [key for axis in sweep_axes(sweep) for key in axis.keys] if sweep else []
        if "seed" in swept and not isinstance(seeds, int):
            raise PydanticCustomError(
                "sweep", "seeds lists every point's seeds: sweep seed or list seeds, not both"
            )
        points = sweep_size(sweep) if sweep else 1
        if points * count > MAX_SWEEP_POINTS:
            raise PydanticCustomError(
                "sweep",
                f"{points * count} runs ({points} points x {count} seeds) is more than "
                f"{MAX_SWEEP_POINTS}; split the sweep",
            )
        return handler(seeds)

    alerts: AlertSettings = Field(
        AlertSettings(),
        description="When a run raises alerts (one-way audio, gaps, low MOS, loss bursts, echo).",
    )
    dtmf: Dtmf | None = Field(
        None,
        description=(
            "DTMF digits each caller sends as RFC 4733 telephone events, and how the far end "
            "detects them; null: none."
        ),
    )
    expect: tuple[str, ...] = Field(
        (),
        max_length=MAX_EXPECTATIONS,
        description=(
            "Thresholds on the run's summary that `voipbed check` and `voipbed run --check` "
            "verify, each 'METRIC OP VALUE': 'mos.p5 >= 3.6', 'downlink.delay_p95_s.mean <= "
            "150ms', 'late_percent.mean < 1%', 'loss_at.radio <= 2%', 'loss_by.queue < 0.5%'. "
            "In a sweep, every point is checked."
        ),
    )

    @field_validator("expect")
    @classmethod
    def _expectations_known(cls, expect: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        segments = [segment.name for segment in info.data.get("path", ())]
        problems = []
        for index, text in enumerate(expect):
            try:
                parse_expectation(text, segments or None)
            except ValueError as error:
                problem = PydanticCustomError("expect", "{message}", {"message": str(error)})
                problems.append(InitErrorDetails(type=problem, loc=(index,), input=text))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return expect

    @field_validator("jitter_buffer")
    @classmethod
    def _buffer_model_accepts(cls, buffer: JitterBuffer, info: ValidationInfo) -> JitterBuffer:
        calls = info.data.get("calls")
        if calls is not None:
            buffer.to_model(frame_s=calls.ptime_s)  # the model's own checks (ValueError)
        return buffer

    @field_validator("path")
    @classmethod
    def _path_well_formed(cls, path: tuple[Segment, ...]) -> tuple[Segment, ...]:
        if not path:
            raise PydanticCustomError("path", "a path needs at least one segment")
        names = [segment.name for segment in path]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise PydanticCustomError("path", f"segment names must be unique; repeated: {repeated}")
        return path

    @model_validator(mode="after")
    def _signalling_carried(self) -> Scenario:
        signalling = self.signalling
        if signalling.setup or signalling.phones is not None:
            why = unsupported_path(self.path)
            if why is not None:
                raise ValueError(f"signalling.setup and signalling.phones: {why}")
        if (
            signalling.setup
            and signalling.ice is not None
            and self.calls.rate_control.algorithm != "none"
        ):
            raise ValueError(
                "signalling.ice with calls.rate_control: the closed loop does not carry a "
                "relayed pair's detour yet; use a fixed-rate codec with ICE"
            )
        return self

    @model_validator(mode="after")
    def _dtmf_at_fixed_rate(self) -> Scenario:
        if self.dtmf is None:
            return self
        if self.calls.rate_control.algorithm != "none":
            raise ValueError("dtmf with calls.rate_control: the closed loop sends no DTMF yet")
        if self.dtmf.packets_per_call() * self.calls.count > MAX_RUN_PACKETS:
            raise ValueError(
                f"dtmf: {self.dtmf.packets_per_call()} packets per call for {self.calls.count} "
                f"calls is more than {MAX_RUN_PACKETS}; send fewer digits or fewer packets each"
            )
        return self

    @model_validator(mode="after")
    def _radio_fits(self) -> Scenario:
        names = [segment.name for segment in self.path]
        if self.radio.segment is not None and self.radio.segment not in names:
            raise ValueError(f"radio.segment {self.radio.segment!r} is not in the path ({names})")
        for entry in self.radio.handovers.schedule:
            if entry.call is not None and entry.call >= self.calls.count:
                raise ValueError(
                    f"a handover names call {entry.call}; calls are 0..{self.calls.count - 1}"
                )
        return self

    def overhead(self, segment: Segment | None = None) -> ov.Overhead:
        """Headers of the media end to end (IP packets), or as ``segment`` carries them."""
        calls = self.calls
        rohc, link = segment.framing() if segment is not None else (None, None)
        return ov.Overhead(
            ip_version=ov.IpVersion(calls.ip_version),
            srtp_tag_bits=calls.srtp_tag_bits,
            rtcp_share=calls.rtcp_share_ratio,
            rohc=rohc,
            link=link,
        )

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved scenario as YAML keys and unit strings; loads back to an equal Scenario."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


@functools.cache
def default_yaml_dict() -> dict[str, Any]:
    """Every default of a scenario as YAML keys and unit strings (shared: copy it to change it)."""
    return Scenario.model_validate({"name": "defaults"}).to_yaml_dict()
