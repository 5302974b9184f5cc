"""The typed scenario: one frozen pydantic model, the single source of truth for a run.

YAML keys name the quantity (``one_way_delay: 40ms``); attributes carry the SI
unit (``one_way_delay_s == 0.04``). Unknown keys are errors. Load scenario
files through ``voipbed.loader``, which reports every error with its file,
line and key path; this module only declares the shape and the defaults.

Defaults describe a typical VoLTE-like handset call over LTE: see each field.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from voipbed import units
from voipbed.models.codecs import CODECS

__all__ = [
    "Calls",
    "Device",
    "EModelSettings",
    "FixedJitterBuffer",
    "Jitter",
    "JitterDistribution",
    "Plc",
    "Scenario",
    "Segment",
]


def _reader(parse: Callable[[object], float], kind: str) -> BeforeValidator:
    """Read a YAML value with ``parse``; negative quantities are errors."""

    def read(value: object) -> float:
        try:
            number = parse(value)
        except units.UnitError as error:
            raise PydanticCustomError("unit", str(error)) from None
        if number < 0:
            raise PydanticCustomError("negative", f"{value!r} is negative; {kind} must be >= 0")
        return number

    return BeforeValidator(read)


def _schema(kind: str, example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}],
            "description": f"{kind}, e.g. {example}",
            "examples": [example],
        }
    )


def _writer(format_: Callable[[float], str]) -> PlainSerializer:
    return PlainSerializer(format_, return_type=str, when_used="json")


Duration = Annotated[
    float,
    _reader(units.parse_duration, "a duration"),
    _writer(units.format_duration),
    _schema("a duration", "20ms"),
]
Rate = Annotated[
    float,
    _reader(units.parse_rate, "a bit rate"),
    _writer(units.format_rate),
    _schema("a bit rate", "10Mbps"),
]
Bytes = Annotated[
    float,
    _reader(units.parse_bytes, "a size"),
    _writer(units.format_bytes),
    _schema("a size", "64KiB"),
]
Ratio = Annotated[
    float,
    _reader(units.parse_ratio, "a ratio"),
    _writer(units.format_ratio),
    _schema("a ratio", "2%"),
]


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class JitterDistribution(StrEnum):
    """How a segment's extra per-packet delay is drawn (numpy's meaning of ``scale``)."""

    NONE = "none"
    UNIFORM = "uniform"  # U(0, scale)
    EXPONENTIAL = "exponential"  # mean = scale
    HALF_NORMAL = "half_normal"  # |N(0, scale)|


class Jitter(_Model):
    """Random extra delay per packet, added to the segment's one-way delay."""

    distribution: JitterDistribution = JitterDistribution.NONE
    scale_s: Duration = Field(0.0, alias="scale")
    reorder: bool = Field(
        False,
        description=(
            "Let a later packet overtake an earlier one. Off by default: LTE RLC and "
            "FIFO links deliver in sequence (3GPP TS 36.322 clause 5.1.2.2)."
        ),
    )

    @model_validator(mode="after")
    def _scale_matches_distribution(self) -> Jitter:
        if self.distribution is JitterDistribution.NONE and self.scale_s != 0.0:
            raise ValueError("jitter scale given but distribution is 'none'")
        return self


class Segment(_Model):
    """One named hop of the path, the same in both directions (each direction its own link)."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=40)
    one_way_delay_s: Duration = Field(0.0, alias="one_way_delay")
    jitter: Jitter = Jitter()
    loss_ratio: Ratio = Field(0.0, alias="loss", description="Bernoulli loss probability")
    capacity_bps: Rate | None = Field(
        None,
        alias="capacity",
        description="Serialization rate of a FIFO link per direction; null: unlimited.",
    )

    @field_validator("capacity_bps")
    @classmethod
    def _positive_capacity(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise PydanticCustomError("capacity", "capacity must be > 0 (or null for unlimited)")
        return value


def _default_path() -> tuple[Segment, ...]:
    # radio: LTE air interface with HARQ/scheduling variation. 3GPP TR 36.913 clause 7.2
    #   sets a 5 ms one-way U-plane target for an unloaded cell; scheduled uplink with
    #   scheduling requests measures 10-20 ms, so 10 ms + exponential 2 ms jitter.
    #   Loss 0.5 %: inside the QCI-1 packet error loss budget of 1e-2 (TS 23.203 Table 6.1.7).
    # core: TS 23.203 Table 6.1.7 Note 1 attributes 20 ms to the eNodeB-to-PCEF part
    #   of the QCI-1 100 ms packet delay budget.
    return (
        Segment.model_validate(
            {
                "name": "radio",
                "one_way_delay": "10ms",
                "jitter": {"distribution": "exponential", "scale": "2ms"},
                "loss": "0.5%",
            }
        ),
        Segment.model_validate({"name": "core", "one_way_delay": "20ms"}),
    )


class Plc(StrEnum):
    """Packet loss concealment at the receiver (sets the codec's Bpl, ITU-T G.113 App. I)."""

    CODEC = "codec"  # the codec's own PLC (for G.711: G.711 Appendix I)
    NONE = "none"


class Calls(_Model):
    """The calls of the run: each has an uplink and a downlink RTP flow."""

    count: StrictInt = Field(1, ge=1, le=1_000_000)
    start_spread_s: Duration = Field(
        0.0, alias="start_spread", description="Call starts are uniform in [0, start_spread]."
    )
    hold_time_s: Duration | None = Field(
        None, alias="hold_time", description="Call length; null: until the end of the run."
    )
    codec: CodecName = "PCMU"
    ptime_s: Duration = Field(
        0.020, alias="ptime", description="Packetization; 20 ms is RFC 3551 clause 4.5's default."
    )
    plc: Plc = Plc.CODEC
    dscp: StrictInt = Field(
        46, ge=0, le=63, description="Media DSCP; 46 is EF, RFC 4594 clause 4.1 telephony."
    )

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
        return ptime_s


class FixedJitterBuffer(_Model):
    """A fixed playout delay after the first packet of a call (late packets discarded)."""

    kind: Literal["fixed"] = "fixed"
    delay_s: Duration = Field(
        0.060,
        alias="delay",
        description=(
            "Playout delay. 60 ms: the middle of the 40-80 ms fixed settings common in "
            "VoIP handsets and gateways (an assumption; set yours)."
        ),
    )


class Device(_Model):
    """The handset's audio path (A/D, D/A, echo cancelling, audio buffers) at each end.

    Excludes codec framing, packetization and the jitter buffer, which voipbed
    models itself. 3GPP TS 26.131 clause 5.12 bounds a terminal's whole send+receive
    delay; 15 ms each way for the remainder is an assumption for a modern
    handset: set it from your device's measurement.
    """

    send_latency_s: Duration = Field(0.015, alias="send_latency")
    receive_latency_s: Duration = Field(0.015, alias="receive_latency")


class EModelSettings(_Model):
    """E-model (ITU-T G.107) inputs that a scenario may set; the rest are G.107 Table 3 defaults."""

    advantage: float = Field(
        0.0,
        ge=0,
        le=20,
        description="Advantage factor A; G.107 Table 1 allows up to 10 for cellular mobility.",
    )
    talker_echo_delay_s: Duration | None = Field(
        None, alias="talker_echo_delay", description="T; null: T = Ta (see models.emodel)."
    )
    listener_echo_round_trip_s: Duration | None = Field(
        None, alias="listener_echo_round_trip", description="Tr; null: Tr = 2 Ta."
    )
    telr_db: float = Field(65.0, alias="telr", description="Talker echo loudness rating, dB.")


class Scenario(_Model):
    """A whole run: the calls, the path they cross, and how the receiver plays them out."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    description: str = ""
    seed: StrictInt = Field(1, ge=0, description="Same scenario and seed: identical trace.")
    duration_s: Duration = Field(60.0, alias="duration")
    calls: Calls = Calls()

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

    path: tuple[Segment, ...] = Field(default_factory=_default_path)
    jitter_buffer: FixedJitterBuffer = FixedJitterBuffer()
    device: Device = Device()
    emodel: EModelSettings = EModelSettings()

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

    def to_yaml_dict(self) -> dict[str, Any]:
        """The resolved scenario as YAML keys and unit strings; loads back to an equal Scenario."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data
