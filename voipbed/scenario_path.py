"""The scenario's path: named segments, each with its link, queue, cross traffic and losses."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from voipbed.models import delay as delay_models
from voipbed.models import loss as loss_models
from voipbed.models import overhead as overhead_models
from voipbed.models import queue as queue_models
from voipbed.models.mahimahi import TraceError
from voipbed.schema_types import Bytes, Duration, Rate, Ratio, Section
from voipbed.traces import TraceNotFound, read_schedule, resolve_trace

__all__ = [
    "Aqm",
    "BernoulliLoss",
    "CoDelAqm",
    "CrossTraffic",
    "CrossTrafficKind",
    "DropTailAqm",
    "GilbertElliottLoss",
    "Harq",
    "HeaderCompression",
    "Jitter",
    "JitterDistribution",
    "LinkLayer",
    "PieAqm",
    "Queue",
    "Scheduling",
    "Segment",
    "default_path",
]


class JitterDistribution(StrEnum):
    """How a segment's extra per-packet delay is drawn (numpy's meaning of ``scale``)."""

    NONE = "none"
    UNIFORM = "uniform"  # U(0, scale)
    EXPONENTIAL = "exponential"  # mean = scale
    HALF_NORMAL = "half_normal"  # |N(0, scale)|


class Jitter(Section):
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

    def to_model(self) -> delay_models.JitterSpec:
        return delay_models.JitterSpec(self.distribution.value, self.scale_s, self.reorder)


class BernoulliLoss(Section):
    """Each packet lost independently; ``loss: 2%`` is short for this."""

    model: Literal["bernoulli"] = "bernoulli"
    rate_ratio: Ratio = Field(0.0, alias="rate")

    def to_model(self) -> loss_models.Bernoulli:
        return loss_models.Bernoulli(self.rate_ratio)


class GilbertElliottLoss(Section):
    """Bursty loss, a two-state Markov chain per flow: give rate and burst, or p and r."""

    model: Literal["gilbert_elliott"]
    rate_ratio: Ratio | None = Field(None, alias="rate", description="Mean loss (with burst).")
    burst_packets: float | None = Field(
        None, alias="burst", ge=1.0, description="Mean loss burst in packets (with rate)."
    )
    p_ratio: Ratio | None = Field(None, alias="p", description="P(good -> bad) per packet.")
    r_ratio: Ratio | None = Field(None, alias="r", description="P(bad -> good) per packet.")
    good_loss_ratio: Ratio = Field(0.0, alias="good_loss")
    bad_loss_ratio: Ratio = Field(1.0, alias="bad_loss")

    @model_validator(mode="after")
    def _one_parameterization(self) -> GilbertElliottLoss:
        by_rate = self.rate_ratio is not None and self.burst_packets is not None
        by_chain = self.p_ratio is not None and self.r_ratio is not None
        partial = [self.rate_ratio, self.burst_packets, self.p_ratio, self.r_ratio].count(None)
        if by_rate == by_chain or partial != 2:
            raise ValueError("give either rate and burst, or p and r")
        if by_rate and (self.good_loss_ratio != 0.0 or self.bad_loss_ratio != 1.0):
            raise ValueError(
                "rate and burst describe the Gilbert model; use p and r with good_loss"
            )
        if by_rate and self.rate_ratio is not None and self.rate_ratio >= 1.0:
            raise ValueError("a bursty loss rate must be below 100%")
        return self

    def to_model(self) -> loss_models.GilbertElliott:
        if self.rate_ratio is not None and self.burst_packets is not None:
            return loss_models.GilbertElliott.from_rate_and_burst(
                self.rate_ratio, self.burst_packets
            )
        assert self.p_ratio is not None and self.r_ratio is not None  # checked when validated
        return loss_models.GilbertElliott(
            self.p_ratio, self.r_ratio, self.good_loss_ratio, self.bad_loss_ratio
        )


def _loss_shorthand(value: object) -> object:
    """``loss: 2%`` means Bernoulli loss at 2 %."""
    return {"model": "bernoulli", "rate": value} if isinstance(value, str | int | float) else value


def _loss_schema_with_shorthand(schema: dict[str, Any]) -> None:
    """The JSON Schema of ``loss`` also admits the Bernoulli shorthand ``loss: 2%``."""
    models = {key: schema.pop(key) for key in ("oneOf", "discriminator") if key in schema}
    shorthand = {"anyOf": [{"type": "string"}, {"type": "number"}], "description": "e.g. 2%"}
    schema["anyOf"] = [shorthand, models]


SegmentLoss = Annotated[
    BernoulliLoss | GilbertElliottLoss,
    Field(discriminator="model"),
    BeforeValidator(_loss_shorthand),
]


class Harq(Section):
    """LTE hybrid ARQ on this hop: retransmit a failed block one HARQ round trip later.

    Defaults: link adaptation aims at a 10 % block error rate for the first
    transmission (the CQI definition of 3GPP TS 36.213 clause 7.2.3);
    maxHARQ-Tx n5 is the default of TS 36.331 (MAC-MainConfig); the FDD HARQ
    round trip is 8 ms (TS 36.213 clauses 8 and 9.1.2, n+4 then n+8).
    """

    bler_ratio: Ratio = Field(0.10, alias="bler")
    max_transmissions: StrictInt = Field(5, ge=1, le=32)
    rtt_s: Duration = Field(0.008, alias="rtt")

    def to_model(self) -> loss_models.Harq:
        return loss_models.Harq(self.bler_ratio, self.max_transmissions, self.rtt_s)


class DropTailAqm(Section):
    """No AQM: drop only what does not fit the buffer."""

    kind: Literal["droptail"] = "droptail"

    def to_model(self) -> queue_models.DropTail:
        return queue_models.DropTail()


class CoDelAqm(Section):
    """CoDel, RFC 8289: target 5 ms, interval 100 ms (clause 4.3, 4.4); marks ECT packets (5)."""

    kind: Literal["codel"]
    target_s: Duration = Field(0.005, alias="target")
    interval_s: Duration = Field(0.100, alias="interval")
    ecn: bool = True

    def to_model(self) -> queue_models.CoDel:
        return queue_models.CoDel(self.target_s, self.interval_s, self.ecn)


class PieAqm(Section):
    """PIE, RFC 8033: target and update 15 ms, alpha 0.125, beta 1.25, burst 150 ms (4.2, 5.2)."""

    kind: Literal["pie"]
    target_s: Duration = Field(0.015, alias="target")
    update_s: Duration = Field(0.015, alias="update")
    alpha: float = Field(0.125, gt=0)
    beta: float = Field(1.25, gt=0)
    max_burst_s: Duration = Field(0.150, alias="max_burst")
    ecn: bool = True

    def to_model(self) -> queue_models.Pie:
        return queue_models.Pie(
            self.target_s, self.update_s, self.alpha, self.beta, self.max_burst_s, self.ecn
        )


def _aqm_shorthand(value: object) -> object:
    """``aqm: codel`` means CoDel with its defaults."""
    return {"kind": value} if isinstance(value, str) else value


Aqm = Annotated[
    DropTailAqm | CoDelAqm | PieAqm, Field(discriminator="kind"), BeforeValidator(_aqm_shorthand)
]


class Scheduling(StrEnum):
    """How a queue serves DSCP classes (EF; CS3/AF3x signalling; everything else)."""

    FIFO = "fifo"  # one queue, DSCP ignored
    STRICT = "strict"  # EF first, then signalling, then best effort
    WEIGHTED = "weighted"  # deficit round robin with ``weights``


class Queue(Section):
    """The queue in front of each direction's link: buffer limits, AQM, DSCP scheduling."""

    limit_packets: StrictInt | None = Field(None, alias="packets", ge=1)
    limit_bytes: Bytes | None = Field(None, alias="bytes")
    aqm: Aqm = DropTailAqm()
    scheduling: Scheduling = Scheduling.FIFO
    weights: tuple[float, float, float] = Field(
        (1.0, 1.0, 1.0), description="DRR weights of EF, signalling and best effort."
    )

    @field_validator("limit_bytes")
    @classmethod
    def _holds_a_packet(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise PydanticCustomError("queue", "a byte limit must hold at least one byte")
        return value

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0:
            raise PydanticCustomError("queue", "scheduling weights must be > 0")
        return value

    @property
    def is_plain_droptail(self) -> bool:
        """One FIFO with drop-tail: the simple link models serve it."""
        return isinstance(self.aqm, DropTailAqm) and self.scheduling is Scheduling.FIFO


class CrossTrafficKind(StrEnum):
    BULK = "bulk"  # greedy and TCP-like (Reno AIMD): builds a standing queue
    CBR = "cbr"  # constant bit rate, unresponsive
    ONOFF = "onoff"  # CBR while on; exponential on and off periods


class CrossTraffic(Section):
    """Background flows that share a segment's queue with the calls (not in the packet trace)."""

    kind: CrossTrafficKind
    direction: Literal["uplink", "downlink", "both"] = "both"
    count: StrictInt = Field(1, ge=1, le=1000, description="Identical flows of this kind.")
    rate_bps: Rate | None = Field(None, alias="rate", description="Sending rate (cbr, onoff).")
    packet_bytes: Bytes = Field(1500.0, alias="packet_size")
    dscp: StrictInt = Field(0, ge=0, le=63)
    ecn: bool = False
    rtt_s: Duration = Field(
        0.050, alias="rtt", description="bulk: round trip outside this queue (a typical 50 ms)."
    )
    start_s: Duration = Field(0.0, alias="start")
    stop_s: Duration | None = Field(None, alias="stop", description="null: the end of the run.")
    on_s: Duration = Field(1.0, alias="on", description="onoff: mean on period.")
    off_s: Duration = Field(1.0, alias="off", description="onoff: mean off period.")

    @model_validator(mode="after")
    def _rate_where_needed(self) -> CrossTraffic:
        needs_rate = self.kind is not CrossTrafficKind.BULK
        if needs_rate and not self.rate_bps:
            raise ValueError(f"{self.kind.value} cross traffic needs a rate > 0")
        if not needs_rate and self.rate_bps is not None:
            raise ValueError("bulk cross traffic takes what it can get: give no rate")
        if self.packet_bytes < 1 or self.packet_bytes > 65535:
            raise ValueError("packet_size must be between 1 B and 64 KiB")
        if self.stop_s is not None and self.stop_s <= self.start_s:
            raise ValueError("stop must be after start")
        return self

    def applies_to(self, direction: str) -> bool:
        return self.direction in (direction, "both")


def _trace_path(name: str, info: ValidationInfo) -> str:
    """Resolve a trace name against the scenario's folder and check that it reads."""
    base_dir = Path((info.context or {}).get("base_dir", "."))
    try:
        path = resolve_trace(name, base_dir)
        read_schedule(path)
    except (TraceNotFound, TraceError) as error:
        raise PydanticCustomError("trace", str(error)) from None
    return str(path)


TracePath = Annotated[
    str,
    AfterValidator(_trace_path),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Mahimahi trace: a path, or a shared trace name (Verizon-LTE-short.up)",
        }
    ),
]


class HeaderCompression(StrEnum):
    """RTP/UDP/IP header compression on a segment (models.overhead.Rohc)."""

    NONE = "none"
    ROHC = "rohc"  # ROHC profile 1 (RFC 3095) in its steady state, as LTE's PDCP runs it


class LinkLayer(StrEnum):
    """Framing a segment adds to each IP (or ROHC) packet (models.overhead)."""

    NONE = "none"  # IP packets only, as a Mahimahi trace counts them
    LTE = "lte"  # PDCP + RLC UM + MAC headers, a VoLTE bearer's (TS 36.323, 36.322, 36.321)
    ETHERNET = "ethernet"  # IEEE 802.3 header and FCS, 64-byte minimum frame


class Segment(Section):
    """One named hop of the path; each direction has its own link, queue and loss draws.

    Inside a hop a packet meets, in order: the queue and link (``capacity``,
    or a trace for that direction), HARQ, loss, then delay and jitter.
    """

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=40)
    one_way_delay_s: Duration = Field(0.0, alias="one_way_delay")
    jitter: Jitter = Jitter()
    loss: SegmentLoss = Field(BernoulliLoss(), json_schema_extra=_loss_schema_with_shorthand)
    harq: Harq | None = None
    capacity_bps: Rate | None = Field(
        None,
        alias="capacity",
        description="Constant link rate in each direction without a trace; null: unlimited.",
    )
    uplink_trace: TracePath | None = None
    downlink_trace: TracePath | None = None
    queue: Queue = Queue()
    bleach_dscp: bool = Field(
        False, description="Remark every packet to DSCP 0 on entering this segment."
    )
    cross_traffic: tuple[CrossTraffic, ...] = ()
    header_compression: HeaderCompression = Field(
        HeaderCompression.NONE,
        description="ROHC shrinks the RTP/UDP/IP headers this hop carries (and queues).",
    )
    link_layer: LinkLayer = Field(
        LinkLayer.NONE, description="Framing counted in this hop's bytes (capacity, queue)."
    )

    @field_validator("capacity_bps")
    @classmethod
    def _positive_capacity(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise PydanticCustomError("capacity", "capacity must be > 0 (or null for unlimited)")
        return value

    @model_validator(mode="after")
    def _queue_needs_a_link(self) -> Segment:
        limited = self.queue.limit_packets is not None or self.queue.limit_bytes is not None
        unlimited_side = self.capacity_bps is None and (
            self.uplink_trace is None or self.downlink_trace is None
        )
        if limited and unlimited_side:
            raise ValueError("a queue limit needs a capacity or a trace in both directions")
        if unlimited_side and (not self.queue.is_plain_droptail or self.cross_traffic):
            raise ValueError("an AQM, DSCP scheduling or cross traffic needs a capacity or traces")
        return self

    def framing(self) -> tuple[overhead_models.Rohc | None, overhead_models.Link]:
        """The header compression and link framing this hop applies (models.overhead)."""
        rohc = overhead_models.Rohc() if self.header_compression is HeaderCompression.ROHC else None
        link = {
            LinkLayer.NONE: None,
            LinkLayer.LTE: overhead_models.LteRadio(),
            LinkLayer.ETHERNET: overhead_models.Ethernet(),
        }[self.link_layer]
        return rohc, link

    def trace_for(self, direction: str) -> str | None:
        """The trace file that sets this hop's capacity in ``direction``, if any."""
        return self.uplink_trace if direction == "uplink" else self.downlink_trace


def default_path() -> tuple[Segment, ...]:
    # radio: LTE air interface with HARQ/scheduling variation. 3GPP TR 36.913 clause 7.2
    #   sets a 5 ms one-way U-plane target for an unloaded cell; scheduled uplink with
    #   scheduling requests measures 10-20 ms, so 10 ms + exponential 2 ms jitter.
    #   Loss 0.5 % after HARQ (default Harq): inside the QCI-1 packet error loss budget
    #   of 1e-2 (TS 23.203 Table 6.1.7).
    # core: TS 23.203 Table 6.1.7 Note 1 attributes 20 ms to the eNodeB-to-PCEF part
    #   of the QCI-1 100 ms packet delay budget.
    return (
        Segment.model_validate(
            {
                "name": "radio",
                "one_way_delay": "10ms",
                "jitter": {"distribution": "exponential", "scale": "2ms"},
                "loss": "0.5%",
                "harq": {},
            }
        ),
        Segment.model_validate({"name": "core", "one_way_delay": "20ms"}),
    )
