"""The radio link holds a UE's real frames in its RRC machine, then in its handovers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.unit.test_link_timestamps import UE, Ring, frame, received, stamp_at
from voipbed.emulation.link import Forwarder, LinkSpec, _Port
from voipbed.emulation.packet_socket import PacketSocket
from voipbed.emulation.radio_gate import HandoverGate, HandoverPlan
from voipbed.emulation.rrc_gate import RrcPlan
from voipbed.models.rrc import RrcConfig, RrcState
from voipbed.scenario import Segment
from voipbed.scenario_radio import Handovers

SEGMENT = {"name": "radio", "one_way_delay": "10ms"}
PROMOTION_S = RrcConfig().promotion_delay_s


def rrc_plan(output: Path) -> dict[str, Any]:
    """One UE at ``UE``, IDLE from t0 (its machine's start), its grids at offset 0."""
    config = asdict(RrcConfig(initial_state=RrcState.IDLE))
    config["initial_state"] = "IDLE"
    return asdict(RrcPlan((UE,), config, (0.0,), (0.0,), (0.0,), str(output)))


@contextlib.contextmanager
def forwarder(
    ring: Ring, t0: float, rrc: dict[str, Any], handovers: HandoverPlan | None = None
) -> Iterator[tuple[Forwarder, socket.socket]]:
    """A radio link whose uplink port reads ``ring``; yields it and where its uplink goes."""
    segment = Segment.model_validate(SEGMENT)
    spec = LinkSpec.for_segment(
        segment,
        iface_a="a",
        iface_b="b",
        seed=3,
        t0=t0,
        output="x",
        rrc=rrc,
        handovers=None if handovers is None else asdict(handovers),
    )
    link = Forwarder(spec, segment)
    with contextlib.ExitStack() as stack:
        a, _ = (stack.enter_context(s) for s in socket.socketpair(type=socket.SOCK_DGRAM))
        b, far = (stack.enter_context(s) for s in socket.socketpair(type=socket.SOCK_DGRAM))
        far.setblocking(False)
        rx = cast(PacketSocket, SimpleNamespace(ring=ring.reader))
        link._ports = [
            _Port(a, link.chains["uplink"], 0, 1, rx),
            _Port(b, link.chains["downlink"], 1, 0),
        ]
        yield link, far


def test_frames_after_silence_wait_for_the_promotion(tmp_path: Path) -> None:
    """The first frame of an IDLE UE and the one behind it enter the segment when the
    promotion ends; one after it goes at once; the state changes are written on stop."""
    t0 = time.monotonic() - 100.0
    arrive = [20.0, 20.1, 20.0 + PROMOTION_S + 0.02]
    ring = Ring()
    for k, since_t0 in enumerate(arrive):
        ring.put(frame(k), stamp_at(t0, since_t0))
    output = tmp_path / "rrc.json"
    with forwarder(ring, t0, rrc_plan(output)) as (link, far):
        link._read(link._ports[0])
        link._release_held(0, time.monotonic())
        assert received(far) == [0, 1, 2]
        records = link.table().to_pandas()
        link.write(tmp_path / "records.parquet")
    assert records["arrive_s"].tolist() == pytest.approx(arrive, abs=5e-5)
    awake = arrive[0] + PROMOTION_S
    expected = [awake + 0.010, awake + 0.010, arrive[2] + 0.010]
    assert records["depart_s"].tolist() == pytest.approx(expected, abs=5e-5)
    assert link.rrc is not None and link.rrc.held == 2
    written = output.read_text()
    assert '"to": [1, 2, 3, 4, 0]' in written  # promotion, connected, DRX, IDLE


def test_handovers_act_when_the_rrc_lets_a_packet_go(tmp_path: Path) -> None:
    """An X2 interruption that starts during the promotion holds the media the promotion
    released into it, as the simulator gates RRC first, then handovers."""
    t0 = time.monotonic() - 100.0
    start_s = 20.0 + PROMOTION_S - 0.01  # the interruption begins before the promotion ends
    plan = HandoverPlan(
        ((0, start_s, "x2"),), Handovers().model_dump(mode="json", by_alias=True), (UE,)
    )
    end_s = HandoverGate(plan).decide(UE, 20.0 + PROMOTION_S, downlink=False).release_s
    assert end_s > 20.0 + PROMOTION_S
    ring = Ring()
    ring.put(frame(0), stamp_at(t0, 20.0))
    with forwarder(ring, t0, rrc_plan(tmp_path / "rrc.json"), plan) as (link, far):
        link._read(link._ports[0])
        link._release_held(0, time.monotonic())
        assert received(far) == [0]
        records = link.table().to_pandas()
    assert records["depart_s"].tolist() == pytest.approx([end_s + 0.010], abs=5e-5)
