"""The scenario's path: named segments, each with its link, queue, cross traffic and losses."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from voipbed.models import delay as delay_models
from voipbed.models import loss as loss_models
from voipbed.models import overhead as overhead_models
from voipbed.models import queue as queue_models
from voipbed.models.mahimahi import DeliverySchedule, TraceError
from voipbed.models.rate_steps import RateStep, RateSteps
from voipbed.schema_types import Bytes, Duration, Rate, Ratio, Section, ShortForm
from voipbed.traces import TraceNotFound, read_schedule, resolve_trace

__all__ = [
    "Aqm",
    "BernoulliLoss",
    "CapacityStep",
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


MAX_QUEUE_PACKETS = 1_000_000_000
"""A packet limit beyond any run's packets (the queue kernels count in 64-bit integers)."""
MAX_QUEUE_BYTES = float(1 << 40)
"""A byte limit beyond any run's bytes."""
MIN_WEIGHT = 0.1
"""The smallest DRR weight of a class (``Queue.weights``)."""
MIN_PERIOD_S = 0.001
"""The shortest mean on or off period of on/off cross traffic."""
MAX_CAPACITY_STEPS = 10_000
"""Steps of a link's capacity: more than a step a second through a run of hours."""


class JitterDistribution(StrEnum):
    """How a segment's extra per-packet delay is drawn (numpy's meaning of ``scale``)."""

    NONE = "none"
    UNIFORM = "uniform"  # U(0, scale)
    EXPONENTIAL = "exponential"  # mean = scale
    HALF_NORMAL = "half_normal"  # |N(0, scale)|


class Jitter(Section):
    """Random extra delay per packet, added to the segment's one-way delay."""

    distribution: JitterDistribution = Field(
        JitterDistribution.NONE,
        description=(
            "How the extra delay is drawn: none, uniform (U(0, scale)), exponential "
            "(mean scale) or half_normal (|N(0, scale)|)."
        ),
    )
    scale_s: Duration = Field(
        0.0, alias="scale", description="Scale of the distribution, a duration; 0 with none."
    )
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

    @model_validator(mode="after")
    def _model_accepts(self) -> Jitter:
        self.to_model()  # the model's own checks
        return self

    def to_model(self) -> delay_models.JitterSpec:
        return delay_models.JitterSpec(self.distribution.value, self.scale_s, self.reorder)


class BernoulliLoss(Section):
    """Each packet lost independently; ``loss: 2%`` is short for this."""

    model: Literal["bernoulli"] = Field("bernoulli", description="Each packet lost independently.")
    rate_ratio: Ratio = Field(
        0.0, alias="rate", description="Probability that a packet is lost, a ratio (2% or 0.02)."
    )

    def to_model(self) -> loss_models.Bernoulli:
        return loss_models.Bernoulli(self.rate_ratio)


class GilbertElliottLoss(Section):
    """Bursty loss, a two-state Markov chain per flow: give rate and burst, or p and r."""

    model: Literal["gilbert_elliott"] = Field(
        description="Bursty loss: a good and a bad state, a Markov chain per flow."
    )
    rate_ratio: Ratio | None = Field(
        None, alias="rate", description="Mean loss, a ratio below 100% (with burst)."
    )
    burst_packets: float | None = Field(
        None, alias="burst", ge=1.0, description="Mean loss burst in packets (with rate)."
    )
    p_ratio: Ratio | None = Field(
        None, alias="p", description="P(good -> bad) per packet, a ratio (with r)."
    )
    r_ratio: Ratio | None = Field(
        None, alias="r", description="P(bad -> good) per packet, a ratio (with p)."
    )
    good_loss_ratio: Ratio = Field(
        0.0, alias="good_loss", description="Loss in the good state, a ratio (with p and r)."
    )
    bad_loss_ratio: Ratio = Field(
        1.0, alias="bad_loss", description="Loss in the bad state, a ratio (with p and r)."
    )

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

    @model_validator(mode="after")
    def _model_accepts(self) -> GilbertElliottLoss:
        self.to_model()  # the model's own checks
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


SegmentLoss = Annotated[
    BernoulliLoss | GilbertElliottLoss,
    Field(discriminator="model"),
    BeforeValidator(_loss_shorthand),
    ShortForm(Ratio, "Bernoulli loss at this rate: 2% is {model: bernoulli, rate: 2%}."),
]


class Harq(Section):
    """LTE hybrid ARQ on this hop: retransmit a failed block one HARQ round trip later.

    Defaults: link adaptation aims at a 10 % block error rate for the first
    transmission (the CQI definition of 3GPP TS 36.213 clause 7.2.3);
    maxHARQ-Tx n5 is the default of TS 36.331 (MAC-MainConfig); the FDD HARQ
    round trip is 8 ms (TS 36.213 clauses 8 and 9.1.2, n+4 then n+8).
    """

    bler_ratio: Ratio = Field(
        0.10,
        alias="bler",
        description=(
            "Block error rate of each transmission, a ratio; 10% is the first-transmission "
            "target of the CQI definition (3GPP TS 36.213 clause 7.2.3)."
        ),
    )
    max_transmissions: StrictInt = Field(
        5,
        ge=1,
        le=32,
        description=(
            "Transmissions of a block before it is lost (maxHARQ-Tx); 5 is n5, the default "
            "of TS 36.331 (MAC-MainConfig)."
        ),
    )
    rtt_s: Duration = Field(
        0.008,
        alias="rtt",
        description=(
            "Delay each retransmission adds, a duration; 8 ms is the FDD HARQ round trip "
            "(TS 36.213 clauses 8 and 9.1.2)."
        ),
    )

    @model_validator(mode="after")
    def _model_accepts(self) -> Harq:
        self.to_model()  # the model's own checks
        return self

    def to_model(self) -> loss_models.Harq:
        return loss_models.Harq(self.bler_ratio, self.max_transmissions, self.rtt_s)


class DropTailAqm(Section):
    """No AQM: drop only what does not fit the buffer."""

    kind: Literal["droptail"] = Field(
        "droptail", description="Drop-tail: drop only what does not fit the buffer."
    )

    def to_model(self) -> queue_models.DropTail:
        return queue_models.DropTail()


class CoDelAqm(Section):
    """CoDel, RFC 8289: target 5 ms, interval 100 ms (clause 4.3, 4.4); marks ECT packets (5)."""

    kind: Literal["codel"] = Field(description="CoDel, RFC 8289.")
    target_s: Duration = Field(
        0.005,
        alias="target",
        description="Acceptable standing queue delay, a duration; 5 ms (RFC 8289 clause 4.3).",
    )
    interval_s: Duration = Field(
        0.100,
        alias="interval",
        description=(
            "How long the queue delay must stay above target before CoDel drops, a duration; "
            "100 ms (RFC 8289 clause 4.4)."
        ),
    )
    ecn: bool = Field(True, description="Mark ECN-capable (ECT) packets CE instead of dropping.")

    @model_validator(mode="after")
    def _model_accepts(self) -> CoDelAqm:
        self.to_model()  # the model's own checks
        return self

    def to_model(self) -> queue_models.CoDel:
        return queue_models.CoDel(self.target_s, self.interval_s, self.ecn)


class PieAqm(Section):
    """PIE, RFC 8033: target and update 15 ms, alpha 0.125, beta 1.25, burst 150 ms (4.2, 5.2)."""

    kind: Literal["pie"] = Field(description="PIE, RFC 8033.")
    target_s: Duration = Field(
        0.015, alias="target", description="Queue delay PIE aims at, a duration; 15 ms (RFC 8033)."
    )
    update_s: Duration = Field(
        0.015,
        alias="update",
        description="Period of the drop probability's update, a duration; 15 ms (RFC 8033).",
    )
    alpha: float = Field(
        0.125, gt=0, description="Gain on the delay's distance from target; 0.125 (RFC 8033)."
    )
    beta: float = Field(
        1.25, gt=0, description="Gain on the delay's change since the last update; 1.25 (RFC 8033)."
    )
    max_burst_s: Duration = Field(
        0.150,
        alias="max_burst",
        description="Burst let through without drops, a duration; 150 ms (RFC 8033).",
    )
    ecn: bool = Field(True, description="Mark ECN-capable (ECT) packets CE instead of dropping.")

    @model_validator(mode="after")
    def _model_accepts(self) -> PieAqm:
        if self.update_s <= 0:
            raise ValueError("PIE's update interval must be > 0 (RFC 8033 suggests 15 ms)")
        self.to_model()  # the model's own checks
        return self

    def to_model(self) -> queue_models.Pie:
        return queue_models.Pie(
            self.target_s, self.update_s, self.alpha, self.beta, self.max_burst_s, self.ecn
        )


def _aqm_shorthand(value: object) -> object:
    """``aqm: codel`` means CoDel with its defaults."""
    return {"kind": value} if isinstance(value, str) else value


Aqm = Annotated[
    DropTailAqm | CoDelAqm | PieAqm,
    Field(discriminator="kind"),
    BeforeValidator(_aqm_shorthand),
    ShortForm(
        {"type": "string", "enum": ["droptail", "codel", "pie"]},
        "An AQM by name, with its defaults: codel is {kind: codel}.",
    ),
]


class Scheduling(StrEnum):
    """How a queue serves DSCP classes (EF; CS3/AF3x signalling; everything else)."""

    FIFO = "fifo"  # one queue, DSCP ignored
    STRICT = "strict"  # EF first, then signalling, then best effort
    WEIGHTED = "weighted"  # deficit round robin with ``weights``


class Queue(Section):
    """The queue in front of each direction's link: buffer limits, AQM, DSCP scheduling."""

    limit_packets: StrictInt | None = Field(
        None,
        alias="packets",
        ge=1,
        le=MAX_QUEUE_PACKETS,
        description="Buffer limit in packets; null: none.",
    )
    limit_bytes: Bytes | None = Field(
        None,
        alias="bytes",
        description=(
            "Buffer limit in bytes as this hop carries them (header_compression, link_layer), "
            "a size (1MB, 64KiB, or a whole number of bytes); null: none."
        ),
    )
    aqm: Aqm = Field(
        DropTailAqm(),
        description=(
            "Active queue management: droptail, codel (RFC 8289) or pie (RFC 8033), "
            "by name or as a mapping with its kind and parameters."
        ),
    )
    scheduling: Scheduling = Field(
        Scheduling.FIFO,
        description=(
            "How the queue serves DSCP classes: fifo (DSCP ignored), strict (EF, then CS3/AF3x "
            "signalling, then best effort) or weighted (deficit round robin with weights)."
        ),
    )
    weights: tuple[float, float, float] = Field(
        (1.0, 1.0, 1.0),
        description="DRR weights of EF, signalling and best effort (scheduling: weighted).",
    )

    @field_validator("limit_bytes")
    @classmethod
    def _holds_a_packet(cls, value: float | None) -> float | None:
        if value is not None and value < 1:
            raise PydanticCustomError("queue", "a byte limit must hold at least one byte")
        if value is not None and value > MAX_QUEUE_BYTES:
            raise PydanticCustomError(
                "queue", "a byte limit above 1 TiB is no limit: write null for none"
            )
        return value

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) < MIN_WEIGHT:
            # DRR gives a class weight x MTU bytes per turn: below a tenth, a large packet
            # would wait through hundreds of turns of the round robin.
            raise PydanticCustomError("queue", f"scheduling weights must be >= {MIN_WEIGHT}")
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

    kind: CrossTrafficKind = Field(
        description=(
            "bulk: greedy and TCP-like (Reno AIMD), builds a standing queue; cbr: constant "
            "bit rate, unresponsive; onoff: CBR while on, exponential on and off periods."
        )
    )
    direction: Literal["uplink", "downlink", "both"] = Field(
        "both", description="The direction whose queue the flows share."
    )
    count: StrictInt = Field(1, ge=1, le=1000, description="Identical flows of this kind.")
    rate_bps: Rate | None = Field(
        None, alias="rate", description="Sending rate of cbr and onoff, a bit rate; bulk: none."
    )
    packet_bytes: Bytes = Field(
        1500.0, alias="packet_size", description="Size of each packet, a size from 1 B to 64 KiB."
    )
    dscp: StrictInt = Field(0, ge=0, le=63, description="DSCP of the flows; 0 is best effort.")
    ecn: bool = Field(False, description="Flows sent ECN-capable (ECT(0)): an AQM marks them.")
    rtt_s: Duration = Field(
        0.050,
        alias="rtt",
        description="bulk: round trip outside this queue, a duration (a typical 50 ms).",
    )
    start_s: Duration = Field(
        0.0, alias="start", description="When the flows start, a duration into the run."
    )
    stop_s: Duration | None = Field(
        None,
        alias="stop",
        description="When the flows stop, a duration into the run; null: the end of the run.",
    )
    on_s: Duration = Field(1.0, alias="on", description="onoff: mean on period, a duration.")
    off_s: Duration = Field(1.0, alias="off", description="onoff: mean off period, a duration.")

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
        if self.kind is CrossTrafficKind.ONOFF and min(self.on_s, self.off_s) < MIN_PERIOD_S:
            raise ValueError(f"on and off periods must be at least {MIN_PERIOD_S * 1e3:g} ms")
        return self

    def applies_to(self, direction: str) -> bool:
        return self.direction in (direction, "both")


def _trace_path(name: str, info: ValidationInfo) -> str:
    """Resolve a trace name against the scenario's folder and check that it reads; a trace
    that is missing, unreadable or malformed is a scenario issue naming the trace file."""
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
            "description": (
                "Mahimahi trace: a path (absolute, or relative to the scenario), or the name "
                "of a trace in $VOIPBED_TRACE_DIR or the project's traces/ (Verizon-LTE-short.up)"
            ),
        }
    ),
]


class CapacityStep(Section):
    """From ``at`` on, until the next step, the link carries ``capacity`` each way."""

    at_s: Duration = Field(
        alias="at", description="When this capacity starts, a duration into the run."
    )
    capacity_bps: Rate = Field(
        alias="capacity", description="The link rate from then on, a bit rate > 0."
    )

    @field_validator("capacity_bps")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise PydanticCustomError("capacity", "a step's capacity must be > 0")
        return value


def _steps_in_order(steps: tuple[CapacityStep, ...] | None) -> tuple[CapacityStep, ...] | None:
    """The first step at 0 s, each later step after the one before; an error names the step."""
    if steps is None:
        return None
    if not steps:
        raise PydanticCustomError("capacity", "give at least one step, the first at 0s")
    problems = []
    if steps[0].at_s != 0.0:
        problem = PydanticCustomError("capacity", "the first step is at 0s (the run's start)")
        problems.append(InitErrorDetails(type=problem, loc=(0, "at"), input=steps[0].at_s))
    for index in range(1, len(steps)):
        if steps[index].at_s <= steps[index - 1].at_s:
            problem = PydanticCustomError(
                "capacity",
                "{message}",
                {
                    "message": f"steps go forward in time: {steps[index].at_s:g} s is not "
                    f"after the step before ({steps[index - 1].at_s:g} s)"
                },
            )
            details = InitErrorDetails(type=problem, loc=(index, "at"), input=steps[index].at_s)
            problems.append(details)
    if problems:
        raise ValidationError.from_exception_data("capacity_steps", problems)
    return steps


CapacitySteps = Annotated[tuple[CapacityStep, ...], Field(max_length=MAX_CAPACITY_STEPS)]


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
    ``capacity_steps``, or a trace for that direction), HARQ, loss, then delay
    and jitter.
    """

    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        max_length=40,
        description="The hop's name, unique in the path; a lost packet's lost_at names it.",
    )
    one_way_delay_s: Duration = Field(
        0.0, alias="one_way_delay", description="Fixed delay in each direction, a duration."
    )
    jitter: Jitter = Field(
        Jitter(), description="Random extra delay per packet, after one_way_delay; none."
    )
    loss: SegmentLoss = Field(
        BernoulliLoss(),
        description=(
            "Loss on this hop, one chain per flow: a ratio (Bernoulli), {model: bernoulli, "
            "rate}, or {model: gilbert_elliott} with rate and burst or p and r; none."
        ),
    )
    harq: Harq | None = Field(
        None,
        description=(
            "LTE hybrid ARQ on this hop ({} takes the TS 36.213 / TS 36.331 defaults); null: none."
        ),
    )
    capacity_bps: Rate | None = Field(
        None,
        alias="capacity",
        description=(
            "Constant link rate in each direction without a trace, a bit rate; null: unlimited."
        ),
    )
    capacity_steps: CapacitySteps | None = Field(
        None,
        description=(
            "Link rate in each direction that changes during the run: a list of {at, "
            "capacity}, the first at 0s, times increasing; each rate holds until the next "
            "step, the last until the run's end. Each packet is serialized at the rates in "
            "force while it is on the wire, as at a constant capacity. Instead of capacity "
            "and traces; null: none."
        ),
    )
    uplink_trace: TracePath | None = Field(
        None,
        description=(
            "Mahimahi delivery-opportunity trace that sets the uplink's capacity (a path, or "
            "a trace name); null: capacity."
        ),
    )
    downlink_trace: TracePath | None = Field(
        None,
        description=(
            "Mahimahi delivery-opportunity trace that sets the downlink's capacity (a path, "
            "or a trace name); null: capacity."
        ),
    )
    queue: Queue = Field(
        Queue(),
        description="The queue in front of each direction's link; drop-tail, FIFO, unlimited.",
    )
    bleach_dscp: bool = Field(
        False, description="Remark every packet to DSCP 0 on entering this segment."
    )
    cross_traffic: tuple[CrossTraffic, ...] = Field(
        (), description="Background flows sharing this hop's queue (needs a capacity or traces)."
    )
    header_compression: HeaderCompression = Field(
        HeaderCompression.NONE,
        description="ROHC shrinks the RTP/UDP/IP headers this hop carries (and queues).",
    )
    link_layer: LinkLayer = Field(
        LinkLayer.NONE,
        description=(
            "Framing counted in this hop's bytes (capacity, queue): none (IP packets), lte "
            "(PDCP, RLC UM and MAC headers) or ethernet (IEEE 802.3 header and FCS)."
        ),
    )

    @field_validator("capacity_bps")
    @classmethod
    def _positive_capacity(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise PydanticCustomError("capacity", "capacity must be > 0 (or null for unlimited)")
        return value

    @field_validator("capacity_steps")
    @classmethod
    def _capacity_steps_in_order(
        cls, steps: tuple[CapacityStep, ...] | None
    ) -> tuple[CapacityStep, ...] | None:
        return _steps_in_order(steps)

    @model_validator(mode="after")
    def _one_way_to_set_the_rate(self) -> Segment:
        others = [
            key
            for key, value in (
                ("capacity", self.capacity_bps),
                ("uplink_trace", self.uplink_trace),
                ("downlink_trace", self.downlink_trace),
            )
            if value is not None
        ]
        if self.capacity_steps is not None and others:
            raise ValueError(
                f"capacity_steps sets the link rate: give it without {' and '.join(others)}"
            )
        return self

    @model_validator(mode="after")
    def _queue_needs_a_link(self) -> Segment:
        limited = self.queue.limit_packets is not None or self.queue.limit_bytes is not None
        unlimited_side = (
            self.capacity_bps is None
            and self.capacity_steps is None
            and (self.uplink_trace is None or self.downlink_trace is None)
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

    def rate_steps(self) -> RateSteps | None:
        """``capacity_steps`` as the link models' steps (``models.rate_steps``), if given:
        the one place the scenario's steps become the model's."""
        if self.capacity_steps is None:
            return None
        return RateSteps.of(RateStep(step.at_s, step.capacity_bps) for step in self.capacity_steps)

    def schedule_for(self, direction: str) -> DeliverySchedule | None:
        """The delivery schedule of this hop's trace in ``direction``; None without one (a
        constant capacity, capacity steps, or no link)."""
        trace = self.trace_for(direction)
        return read_schedule(Path(trace)) if trace is not None else None


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
