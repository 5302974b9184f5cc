"""The simulator: SimPy runs the calls and the feedback loop; the path carries packets in windows.

SimPy drives what is event-like (a call starting, a call ending) and records
each as an event. The packets cross the path in time windows
(``sim.carrier``): each direction over the hops before the radio, then the
UE's control plane (RRC and handovers) on both directions together, then
the rest; a stage carries its state from one window to the next, so the
trace is the same however the run is cut.

- Calls at a fixed rate (``calls.rate_control.algorithm: none``) are one
  window: every packet of the run is made first (``sim.traffic``) and the
  path carries them in one batch, unless ``cuts`` asks for more windows.
- Rate-controlled calls (``gcc``) are a closed loop (``sim.closed_loop``): a
  SimPy process starts a window every feedback interval, in which senders
  act on the feedback that has reached them, receivers send their reports
  back over the reverse path, and the path carries the window's packets.

Signalling goes first, each message on its own through the same path
(``sim.message_path``): with ``signalling.setup`` every call is set up before
its media (``sim.signalling``), which then start at its answer, or with ICE
at its nomination, or with DTLS-SRTP as each side is keyed (a call that fails
carries none, and the media find the
UE's radio connected; a relayed pair's detour is added to each packet's
delay after the path); with
``signalling.phones`` idle phones register, keep alive and take calls for the
whole run (``sim.phones``). Neither queues behind the media.

With ``dtmf`` each caller's telephone events (``sim.dtmf``) join its uplink
media on the path of a fixed-rate run, and their detection is a ``dtmf``
event per caller (not rows of the packets table).

Each packet's row gives the DSCP it was sent with and the one it arrived
with (after any bleaching hop), the codec mode it was coded with, and the
sender's target rate (NaN at a fixed rate). Each configured queue adds a
``queue_stats`` event (totals and configuration, at the end of the run) and
a ``queue_samples`` event (its backlog and throughput over time).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa
import simpy
from numpy.typing import NDArray

from voipbed.metric_names import EventKind
from voipbed.models.codecs import CODECS
from voipbed.scenario import Scenario
from voipbed.schedule import call_times
from voipbed.sim.carrier import PathCarrier
from voipbed.sim.control_plane import Event
from voipbed.sim.dtmf import UplinkDtmf, uplink_dtmf
from voipbed.sim.path import DirectionPackets, DirectionResult
from voipbed.sim.rate_settings import LoopSettings
from voipbed.sim.stages import FloatArray, IntArray
from voipbed.sim.traffic import FlowSpan, SentPackets, send_packets
from voipbed.trace import DIRECTIONS, DROP_REASONS, Trace, events_table, host_facts, packets_table

if TYPE_CHECKING:  # the closed loop (and GCC's kernels) load only for a rate-controlled run
    from voipbed.sim.closed_loop import ClosedLoopRun, FeedbackLoop

__all__ = ["simulate"]


def _call_process(
    env: simpy.Environment,
    call: int,
    start_s: float,
    end_s: float,
    downlink_phase_s: float,
    spans: list[FlowSpan],
    events: list[Event],
) -> Generator[simpy.Event, Any, None]:
    """Wait for the call to start, open both flows, wait for its end, close it."""
    yield env.timeout(start_s)
    events.append((env.now, EventKind.CALL_START, call, {}))
    spans.append(FlowSpan(call, 2 * call, 0, env.now, end_s))
    spans.append(FlowSpan(call, 2 * call + 1, 1, env.now + downlink_phase_s, end_s))
    yield env.timeout(end_s - env.now)
    events.append((env.now, EventKind.CALL_END, call, {"duration_s": end_s - start_s}))


def _loop_process(
    env: simpy.Environment, loop: FeedbackLoop, interval_s: float, windows: int
) -> Generator[simpy.Event, Any, None]:
    """Start a window of the feedback loop every ``interval_s``."""
    for k in range(windows):
        loop.window(k * interval_s, (k + 1) * interval_s)
        yield env.timeout(interval_s)


def simulate(scenario: Scenario, *, cuts: Sequence[float] = ()) -> Trace:
    """Run ``scenario`` in the simulator and return its trace.

    ``cuts`` (ascending times) cut a fixed-rate run into windows that the path carries
    one after the other; the trace is the same with or without them.
    """
    calls = scenario.calls
    times = call_times(scenario)
    starts, ends, phases = times.start_s, times.end_s, times.downlink_phase_s
    settings = LoopSettings.of(scenario)
    events: list[Event] = []
    up = np.ones(calls.count, dtype=np.bool_)  # the calls whose media flow
    relay_s = np.zeros(calls.count)  # each call's media's detour through a TURN relay
    media = scenario  # what the media meet: after a set-up, a radio the signalling woke
    if scenario.signalling.setup:
        from voipbed.sim.signalling import radio_hold, set_up_calls  # signalling loads here

        setups = set_up_calls(
            scenario, starts, radio_hold(scenario, starts), run_end_s=scenario.duration_s
        )
        events += setups.events()
        starts = setups.media_start_s(ends)
        phases = phases + setups.downlink_wait_s()  # DTLS-SRTP keys the far end last
        relay_s = setups.relay_delay_s()
        up = starts < ends
        media = _after_set_up(scenario)

    if scenario.signalling.phones is not None:
        from voipbed.sim.phones import run_phones  # the signalling models load here

        for phone in run_phones(scenario):
            events += phone.events(scenario.duration_s)

    env = simpy.Environment()
    spans: list[FlowSpan] = []
    for call in np.flatnonzero(up).tolist():
        process = _call_process(
            env, call, float(starts[call]), float(ends[call]), float(phases[call]), spans, events
        )
        env.process(process)
    loop: FeedbackLoop | None = None
    if settings is not None:
        from voipbed.sim.closed_loop import FeedbackLoop  # GCC's kernels load here

        first_s = np.repeat(starts, 2)
        first_s[1::2] += phases
        loop = FeedbackLoop(media, settings, first_s, np.repeat(ends, 2), starts, ends)
        last_s = float(ends.max()) if ends.size else 0.0
        windows = max(math.ceil(last_s / settings.interval_s - 1e-9), 1)
        env.process(_loop_process(env, loop, settings.interval_s, windows))
    env.run(until=max(scenario.duration_s, float(ends.max()) if ends.size else 0.0) + 1e-9)

    places = [segment.name for segment in scenario.path]
    if loop is not None:
        run = loop.finish()
        events += run.events
        events += _feedback_events(run, scenario.duration_s)
        tables = [
            _adaptive_table(d, run, calls.dscp, places, calls.ptime_s)
            for d in range(len(DIRECTIONS))
        ]
    else:
        spans.sort(key=lambda span: span.flow)
        codec = calls.sent_codec()
        overhead = scenario.overhead()
        sent = [
            send_packets([s for s in spans if s.direction == d], codec, calls.ptime_s, overhead)
            for d in range(len(DIRECTIONS))
        ]
        dtmf = uplink_dtmf(scenario, spans, sent[0].send_s)  # None without a dtmf section
        fates, path_events = _carry(media, sent, starts, ends, cuts, dtmf)
        events += path_events
        if dtmf is not None:
            fates[0], dtmf_recv_s = dtmf.split(fates[0])
            events += dtmf.events(dtmf_recv_s + relay_s[dtmf.call()])
        for part, fate in zip(sent, fates, strict=True):
            fate.recv_s[:] += relay_s[part.call]  # the relay sits beyond the path's end
        tables = [
            _fixed_table(d, part, fate, calls.dscp, places, calls.codec)
            for d, (part, fate) in enumerate(zip(sent, fates, strict=True))
        ]
    manifest = {
        "engine": "sim",
        "scenario": scenario.to_yaml_dict(),
        "seed": scenario.seed,
        "host": host_facts(),
    }
    return Trace(pa.concat_tables(tables), events_table(events), manifest)


def _after_set_up(scenario: Scenario) -> Scenario:
    """``scenario`` as its media meet it after a set-up: the UE's radio connected."""
    rrc = scenario.radio.rrc
    if rrc is None or rrc.initial_state == "connected":
        return scenario
    radio = scenario.radio.model_copy(
        update={"rrc": rrc.model_copy(update={"initial_state": "connected"})}
    )
    return scenario.model_copy(update={"radio": radio})


def _carry(
    scenario: Scenario,
    sent: list[SentPackets],
    call_start_s: FloatArray,
    call_end_s: FloatArray,
    cuts: Sequence[float],
    dtmf: UplinkDtmf | None = None,
) -> tuple[list[DirectionResult], list[Event]]:
    """Every packet's fate over the path, per direction (uplink first), carried in windows
    that end at ``cuts`` (ascending) and at infinity; ``dtmf``'s packets join the uplink."""
    carrier = PathCarrier(scenario, call_start_s, call_end_s)
    calls = scenario.calls
    packets = [
        DirectionPackets(
            part.send_s,
            part.flow,
            np.full(part.send_s.size, part.wire_bytes, dtype=np.int64),
            np.full(part.send_s.size, calls.dscp, dtype=np.int64),
            np.full(part.send_s.size, calls.ecn, dtype=np.bool_),
        )
        for part in sent
    ]
    if dtmf is not None:
        packets[0] = dtmf.merged(packets[0], calls.dscp, calls.ecn)
    done = [0] * len(packets)
    for horizon_s in [*cuts, math.inf]:
        window = []
        for d, part in enumerate(packets):
            end = part.send_s.size
            if horizon_s != math.inf:
                end = int(np.searchsorted(part.send_s, horizon_s))
            window.append(_slice(part, done[d], end))
            done[d] = end
        carrier.window(window, horizon_s)
    return carrier.finish()


def _slice(packets: DirectionPackets, start: int, end: int) -> DirectionPackets:
    """Packets ``start`` to ``end`` (excluded)."""
    if start == 0 and end == packets.send_s.size:
        return packets
    part = slice(start, end)
    return DirectionPackets(
        packets.send_s[part],
        packets.flow[part],
        packets.wire_bytes[part],
        packets.dscp[part],
        packets.ect[part],
    )


def _fixed_table(
    direction: int,
    sent: SentPackets,
    fate: DirectionResult,
    dscp: int,
    places: list[str],
    codec: str,
) -> pa.Table:
    """One direction's rows of the packets table, every packet of ``codec`` at a fixed rate."""
    n = sent.send_s.size
    sender = _Sent(
        call=sent.call,
        flow=sent.flow,
        seq=sent.seq,
        rtp_ts=sent.rtp_ts,
        send_s=sent.send_s,
        payload_bytes=np.full(n, sent.payload_bytes, dtype=np.int32),
        wire_bytes=np.full(n, sent.wire_bytes, dtype=np.int32),
        codec=np.zeros(n, dtype=np.int16),
        target_bps=np.full(n, np.nan),
    )
    return _direction_table(direction, sender, [codec], fate, dscp, places)


def _adaptive_table(
    direction: int, run: ClosedLoopRun, dscp: int, places: list[str], ptime_s: float
) -> pa.Table:
    """One direction's rows of the packets table of a closed-loop run."""
    media = run.media[direction]
    rating = [point.codec for point in run.family.points]  # points may share an entry
    codecs = list(dict.fromkeys(rating))
    codec_of_point = np.array([codecs.index(name) for name in rating], dtype=np.int16)
    ticks = CODECS[codecs[0]].rtp_ticks(ptime_s)  # one RTP clock for the family's modes
    sender = _Sent(
        call=media.flow // 2,
        flow=media.flow,
        seq=media.seq,
        rtp_ts=media.seq * ticks,
        send_s=media.send_s,
        payload_bytes=media.payload_bytes,
        wire_bytes=media.wire_bytes,
        codec=codec_of_point[media.point],
        target_bps=media.target_bps,
    )
    return _direction_table(direction, sender, codecs, run.fates[direction], dscp, places)


class _Sent(NamedTuple):
    """What the senders say of one direction's packets, a column each."""

    call: IntArray
    flow: IntArray
    seq: IntArray
    rtp_ts: IntArray
    send_s: FloatArray
    payload_bytes: NDArray[np.integer[Any]]
    wire_bytes: NDArray[np.integer[Any]]
    codec: NDArray[np.int16]  # index into the codecs named
    target_bps: FloatArray


def _direction_table(
    direction: int,
    sent: _Sent,
    codecs: list[str],
    fate: DirectionResult,
    dscp: int,
    places: list[str],
) -> pa.Table:
    """One direction's rows: what was sent and what befell each packet."""
    n = sent.send_s.size
    return packets_table(
        **sent._asdict(),
        codecs=codecs,
        direction=np.full(n, direction, dtype=np.int16),
        dscp=np.full(n, dscp, dtype=np.uint8),
        dscp_received=fate.dscp,
        recv_s=fate.recv_s,
        lost_at=fate.lost_at,
        places=places,
        drop_reason=fate.drop_reason,
        reasons=DROP_REASONS,
        ce=fate.ce,
    )


def _feedback_events(run: ClosedLoopRun, end_s: float) -> list[Event]:
    """One ``feedback`` event per direction: the reports it carried and their bytes."""
    return [
        (
            end_s,
            EventKind.FEEDBACK,
            -1,
            {"direction": name, "packets": packets, "bytes": size},
        )
        for name, packets, size in zip(
            DIRECTIONS, run.feedback_packets, run.feedback_bytes, strict=True
        )
    ]
