"""DTMF in the simulator: each caller's telephone-event packets, carried with its uplink media.

The packets (``models.dtmf``) belong to the uplink flow of their call: they
join its media in send order, so they meet the same queues, losses and
handovers, and leave again after the path. The far end's detector
(``scenario.dtmf.receiver``) then counts each flow's digits, recorded as one
``dtmf`` event per flow. A digit is sent only if its last packet leaves
before the call ends. The packets are not rows of the packets table: voice
scoring, alerts and reports see the media alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from voipbed.metric_names import EventKind
from voipbed.models.dtmf import PAYLOAD_BYTES, EventPackets, count_detections, detect
from voipbed.models.dtmf import event_packets as digit_packets
from voipbed.models.overhead import wire_bytes_per_packet
from voipbed.scenario import Scenario
from voipbed.scenario_dtmf import Dtmf
from voipbed.sim.control_plane import Event
from voipbed.sim.path import DirectionPackets, DirectionResult
from voipbed.sim.stages import FloatArray, IntArray
from voipbed.sim.traffic import FlowSpan

__all__ = ["UplinkDtmf", "uplink_dtmf"]


@dataclass(frozen=True)
class _FlowDigits:
    """One caller's digits: its flow, its call, and its packets."""

    call: int
    flow: int
    end_s: float
    packets: EventPackets
    sent: int  # digits that fit in the call


@dataclass(frozen=True)
class UplinkDtmf:
    """Every caller's telephone-event packets and where they go among the uplink's media."""

    section: Dtmf
    flows: list[_FlowDigits]
    wire_bytes: int
    media_count: int
    order: IntArray  # merged position -> media index (< media_count) or media_count + dtmf index

    def merged(self, media: DirectionPackets, dscp: int, ect: bool) -> DirectionPackets:
        """The uplink's ``media`` with the telephone events among them, in send order."""
        send_s = np.concatenate([media.send_s, self._column("send_s")])[self.order]
        flow = np.concatenate([media.flow, self._flow_column()])[self.order]
        n = self.order.size - self.media_count
        return DirectionPackets(
            send_s,
            flow,
            np.concatenate([media.wire_bytes, np.full(n, self.wire_bytes, dtype=np.int64)])[
                self.order
            ],
            np.concatenate([media.dscp, np.full(n, dscp, dtype=np.int64)])[self.order],
            np.concatenate([media.ect, np.full(n, ect, dtype=np.bool_)])[self.order],
        )

    def split(self, fate: DirectionResult) -> tuple[DirectionResult, FloatArray]:
        """The media's fates (with the path's statistics) and the events' receive times."""
        position = np.empty_like(self.order)
        position[self.order] = np.arange(self.order.size)
        media, events = position[: self.media_count], position[self.media_count :]
        kept = replace(
            fate,
            recv_s=fate.recv_s[media],
            lost_at=fate.lost_at[media],
            drop_reason=fate.drop_reason[media],
            ce=fate.ce[media],
            dscp=fate.dscp[media],
        )
        return kept, fate.recv_s[events]

    def events(self, recv_s: FloatArray) -> list[Event]:
        """One ``dtmf`` event per caller, at its call's end: what the far end detected."""
        found: list[Event] = []
        start = 0
        for flow in self.flows:
            size = flow.packets.send_s.size
            received = recv_s[start : start + size]
            start += size
            detection = detect(flow.packets, received, self.section.receiver)
            counts = count_detections(flow.sent, detection.digit)
            fields: dict[str, Any] = {
                "flow": flow.flow,
                "direction": "uplink",
                "receiver": self.section.receiver.value,
                "packets_sent": size,
                "packets_received": int(np.count_nonzero(~np.isnan(received))),
                **counts._asdict(),
            }
            found.append((flow.end_s, EventKind.DTMF, flow.call, fields))
        return found

    def call(self) -> IntArray:
        """Each telephone-event packet's call, in the order ``split`` returns them."""
        sizes = [flow.packets.send_s.size for flow in self.flows]
        return np.repeat(np.array([flow.call for flow in self.flows], dtype=np.int64), sizes)

    def _column(self, name: str) -> FloatArray:
        parts = [getattr(flow.packets, name) for flow in self.flows]
        return np.concatenate(parts) if parts else np.empty(0)

    def _flow_column(self) -> IntArray:
        sizes = [flow.packets.send_s.size for flow in self.flows]
        ids = [flow.flow for flow in self.flows]
        return np.repeat(np.array(ids, dtype=np.int64), sizes)


def uplink_dtmf(
    scenario: Scenario, spans: list[FlowSpan], media_send_s: FloatArray
) -> UplinkDtmf | None:
    """The callers' telephone events among the uplink media sent at ``media_send_s`` (in send
    order); None without a ``dtmf`` section."""
    section = scenario.dtmf
    if section is None:
        return None
    config = section.config()
    flows = []
    for span in sorted((s for s in spans if s.direction == 0), key=lambda s: s.flow):
        packets = digit_packets(section.digits, span.first_s + section.start_s, config)
        sent = packets.digits_before(span.end_s)
        flows.append(
            _FlowDigits(span.call, span.flow, span.end_s, packets.first_digits(sent), sent)
        )
    dtmf_send_s = np.concatenate([f.packets.send_s for f in flows]) if flows else np.empty(0)
    everything = np.concatenate([media_send_s, dtmf_send_s])
    return UplinkDtmf(
        section=section,
        flows=flows,
        wire_bytes=wire_bytes_per_packet(PAYLOAD_BYTES, scenario.overhead()),
        media_count=media_send_s.size,
        order=np.argsort(everything, kind="stable").astype(np.int64),
    )
