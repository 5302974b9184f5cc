"""The ns-3 peer of ``bench/vs_ns3.py``: voipbed's G.711 bottleneck scenario built in ns-3.

``n_flows`` UDP flows go uplink and ``n_flows`` downlink, as voipbed's
``n_flows`` calls each have an uplink and a downlink flow. Each direction is
one direction of a point-to-point link from a sender node to a receiver node
(four nodes, two links, the reverse direction of each idle). That is what one
full-duplex link is (each direction has its own device queue, channel and
error model), but a receiving node then holds no client sockets: ns-3's UDP
demultiplexer (``Ipv4EndPointDemux::Lookup``) scans every socket of the node
for each received packet, and with the 1000 clients of the other direction on
the same node it ran about 4 times slower at 1000 calls. For the same reason
all flows of a direction go to one ``UdpServer`` port.

How each part is made to match voipbed's bottleneck segment:

- Sources: ``UdpClient`` sends a 172-byte UDP payload (its 12-byte SeqTsHeader
  stands in for the RTP header, plus 160 bytes of G.711) every 20 ms: 200-byte
  IPv4 packets, as ``voipbed.models.overhead.wire_bytes(160)``.
- Queue: the device queue is ``ns3::DropTailQueue<Packet>`` of ``queue_packets``.
  ``PointToPointNetDevice`` dequeues the packet it transmits, so the limit counts
  waiting packets only, the packet in service excluded: voipbed's definition
  (``voipbed.models.link``). ``Ipv4AddressHelper::Assign`` installs a default
  pfifo_fast queue disc (1000 packets) in front of each device; it is
  uninstalled, so the traffic-control layer hands packets straight to the
  device, or drops them (its ``TcDrop`` trace) while the device queue is stopped,
  which for a packet-limited queue happens exactly when it holds
  ``queue_packets``: drop-tail at the same limit.
- Capacity: the device serializes a 2-byte PPP header too (202 bytes per
  packet), whereas voipbed's capacity is in IP bytes; the device rate is
  ``capacity_bps * 202 / 200`` so that a 200-byte IP packet takes the same time.
- Loss: a ``RateErrorModel`` (packet unit) on each receiving device, so a lost
  packet has still used the link, as in voipbed (queue, then loss, then delay).
- Delay: the channel's propagation delay, after serialization, as voipbed's
  ``one_way_delay``.

Per-packet times come from a small C++ recorder (compiled once by cppyy) on the
clients' ``Tx`` and the servers' ``Rx`` trace sources, joined by packet uid;
Python callbacks would dominate the run time. Only ``Simulator::Run()`` is timed;
``per_packet=False`` leaves the per-packet sinks out, for timing alone.
The ``ns`` module (untyped, 6-8 s to import) is imported on the first call.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

import numpy as np
from numpy.typing import NDArray

__all__ = ["Ns3Result", "run_ns3"]

UDP_PAYLOAD_BYTES = 172  # 12-byte SeqTsHeader (RTP's size) + 160 bytes of G.711 20 ms
IP_PACKET_BYTES = UDP_PAYLOAD_BYTES + 8 + 20  # UDP (RFC 768) and IPv4 (RFC 791) headers
PPP_HEADER_BYTES = 2  # PppHeader, added by PointToPointNetDevice
SERVER_PORT = 9
DRAIN_S = 2.0  # run past the last send so that queued packets arrive

_RECORDER_CPP = r"""
#include <cstdint>
#include <string>
#include <vector>
namespace voipbed_bench {
using namespace ns3;
// Per-packet trace sinks in C++: a Python sink per packet would dominate the run time.
struct Recorder {
    std::vector<uint64_t> tx_uid, rx_uid;
    std::vector<uint32_t> tx_flow;
    std::vector<int64_t> tx_ns, rx_ns;
    uint64_t queue_drops = 0, channel_drops = 0;
    void OnTx(std::string flow, Ptr<const Packet> p) {
        tx_uid.push_back(p->GetUid());
        tx_flow.push_back(static_cast<uint32_t>(std::stoul(flow)));
        tx_ns.push_back(Simulator::Now().GetNanoSeconds());
    }
    void OnRx(Ptr<const Packet> p) {
        rx_uid.push_back(p->GetUid());
        rx_ns.push_back(Simulator::Now().GetNanoSeconds());
    }
    void OnQueueDrop(Ptr<const Packet>) { ++queue_drops; }
    void OnTcDrop(Ptr<const Packet>) { ++queue_drops; }
    void OnChannelDrop(Ptr<const Packet>) { ++channel_drops; }
    // Each returns whether every trace source was found (a wrong name connects nothing).
    bool WatchClient(Ptr<Application> app, uint32_t flow) {
        return app->TraceConnect("Tx", std::to_string(flow), MakeCallback(&Recorder::OnTx, this));
    }
    bool WatchServer(Ptr<Application> app) {
        return app->TraceConnectWithoutContext("Rx", MakeCallback(&Recorder::OnRx, this));
    }
    bool WatchDevice(Ptr<NetDevice> device) {
        Ptr<PointToPointNetDevice> p2p = DynamicCast<PointToPointNetDevice>(device);
        Ptr<TrafficControlLayer> tc = device->GetNode()->GetObject<TrafficControlLayer>();
        return p2p->GetQueue()->TraceConnectWithoutContext(
                   "Drop", MakeCallback(&Recorder::OnQueueDrop, this))
            && p2p->TraceConnectWithoutContext(
                   "PhyRxDrop", MakeCallback(&Recorder::OnChannelDrop, this))
            && tc->TraceConnectWithoutContext("TcDrop", MakeCallback(&Recorder::OnTcDrop, this));
    }
};
}  // namespace voipbed_bench
"""


class Ns3Result(TypedDict):
    """One ns-3 run: timing, drop counters, one entry per sent packet in each array.

    The arrays are empty when the run had no per-packet trace sinks.
    """

    flows: int  # both directions
    packets_sent: int
    run_wall_s: float  # Simulator::Run() only
    packets_per_wall_s: float
    queue_drops: int  # device queue full (device queue or traffic-control layer)
    channel_drops: int  # RateErrorModel
    flow: NDArray[np.int64]  # 0..n-1 uplink, n..2n-1 downlink
    direction: NDArray[np.int64]  # 0 uplink, 1 downlink
    seq: NDArray[np.int64]  # per flow, from 0
    send_s: NDArray[np.float64]
    recv_s: NDArray[np.float64]  # NaN when lost


def _bindings() -> tuple[Any, Any]:
    """The ns-3 bindings (imported on first use) and a new recorder compiled against them."""
    # import_module keeps these untyped modules (absent without the bench extra) out of mypy.
    ns = importlib.import_module("ns").ns
    cppyy = importlib.import_module("cppyy")  # ns-3's bindings are cppyy
    if not hasattr(cppyy.gbl, "voipbed_bench"):
        cppyy.cppdef(_RECORDER_CPP)
    return ns, cppyy.gbl.voipbed_bench.Recorder()


def _check(connected: bool, what: str) -> None:
    if not connected:
        raise RuntimeError(f"a trace source of the {what} was not found in this ns-3 version")


def _array(vector: Any, dtype: type[np.generic]) -> NDArray[Any]:
    """Copy a cppyy ``std::vector`` of numbers into numpy without a per-element loop."""
    size = int(vector.size())
    if size == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(vector.data(), dtype=dtype, count=size).copy()


@dataclass(frozen=True)
class _Bottleneck:
    """What each direction's link is made of."""

    capacity_bps: float
    one_way_delay_s: float
    queue_packets: int
    loss_ratio: float


def _build_direction(
    ns: Any, link: _Bottleneck, direction: int, recorder: Any, per_packet: bool
) -> tuple[Any, Any]:
    """Sender and receiver node joined by a point-to-point link; the receiver's IPv4 address."""
    nodes = ns.NodeContainer()
    nodes.Create(2)
    helper = ns.PointToPointHelper()
    wire_bps = round(link.capacity_bps * (IP_PACKET_BYTES + PPP_HEADER_BYTES) / IP_PACKET_BYTES)
    helper.SetDeviceAttribute("DataRate", ns.DataRateValue(ns.DataRate(wire_bps)))
    helper.SetChannelAttribute("Delay", ns.TimeValue(_time(ns, link.one_way_delay_s)))
    queue_size = ns.QueueSizeValue(ns.QueueSize(f"{link.queue_packets}p"))
    helper.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", queue_size)
    devices = helper.Install(nodes)
    ns.InternetStackHelper().Install(nodes)
    addresses = ns.Ipv4AddressHelper()
    addresses.SetBase(ns.Ipv4Address(f"10.1.{direction + 1}.0"), ns.Ipv4Mask("255.255.255.0"))
    interfaces = addresses.Assign(devices)
    # Assign put pfifo_fast in front of each device; without it the device queue is the queue.
    ns.TrafficControlHelper().Uninstall(devices)
    stream = 2 * direction
    for index in range(2):
        device = devices.Get(index)
        if device.GetNode().GetObject[ns.TrafficControlLayer]().GetRootQueueDiscOnDevice(device):
            raise RuntimeError("a queue disc is still installed in front of the device")
        error_model = ns.CreateObject[ns.RateErrorModel]()
        error_model.SetUnit(ns.RateErrorModel.ERROR_UNIT_PACKET)
        error_model.SetRate(link.loss_ratio)
        # A fixed stream per device: otherwise the stream depends on earlier runs in the process.
        error_model.AssignStreams(stream + index)
        device.SetAttribute("ReceiveErrorModel", ns.PointerValue(error_model))
        _check(recorder.WatchDevice(device), "device")
    server = ns.UdpServerHelper(SERVER_PORT).Install(nodes.Get(1)).Get(0)
    if per_packet:
        _check(recorder.WatchServer(server), "UdpServer")
    return nodes.Get(0), interfaces.GetAddress(1)


def _time(ns: Any, seconds: float) -> Any:
    return ns.NanoSeconds(round(seconds * 1e9))


class _Packets(NamedTuple):
    flow: NDArray[np.int64]
    seq: NDArray[np.int64]
    send_s: NDArray[np.float64]
    recv_s: NDArray[np.float64]


def _packets(recorder: Any, flows: int) -> _Packets:
    """The recorder's sends and receives joined by packet uid, one entry per sent packet."""
    tx_uid = _array(recorder.tx_uid, np.uint64)
    flow = _array(recorder.tx_flow, np.uint32).astype(np.int64)
    send_s = _array(recorder.tx_ns, np.int64) / 1e9
    rx_uid = _array(recorder.rx_uid, np.uint64)
    recv_s = np.full(tx_uid.size, np.nan)
    by_uid = np.argsort(tx_uid)
    recv_s[by_uid[np.searchsorted(tx_uid, rx_uid, sorter=by_uid)]] = (
        _array(recorder.rx_ns, np.int64) / 1e9
    )
    # Tx order is send order, so a packet's sequence number is its rank within its flow.
    order = np.argsort(flow, kind="stable")
    first = np.searchsorted(flow[order], np.arange(flows))
    seq = np.empty(tx_uid.size, dtype=np.int64)
    seq[order] = np.arange(tx_uid.size) - np.repeat(first, np.bincount(flow, minlength=flows))
    return _Packets(flow, seq, send_s, recv_s)


def run_ns3(
    n_flows: int,
    capacity_bps: float,
    seconds: float,
    seed: int,
    *,
    start_s: NDArray[np.float64] | None = None,
    per_packet: bool = True,
    one_way_delay_s: float = 0.020,
    queue_packets: int = 100,
    loss_ratio: float = 0.01,
    ptime_s: float = 0.020,
) -> Ns3Result:
    """Simulate ``n_flows`` flows in each direction for ``seconds``.

    ``start_s`` (2 * n_flows, uplink flows first) sets each flow's first send;
    by default each is uniform in [0, ptime_s) from ``SeedSequence(seed)``.
    ns-3's error models use run number ``seed`` and fixed stream numbers. Without
    ``per_packet`` no per-packet trace sink is connected (they cost ns-3 about
    10 % of its run time) and the per-packet arrays are empty.
    """
    ns, recorder = _bindings()
    flows = 2 * n_flows
    if start_s is None:
        start_s = np.random.default_rng(np.random.SeedSequence(seed)).uniform(0, ptime_s, flows)
    if start_s.shape != (flows,):
        raise ValueError(f"start_s must hold {flows} start times, got shape {start_s.shape}")
    ns.RngSeedManager.SetSeed(1)
    ns.RngSeedManager.SetRun(seed)
    ns.Ipv4AddressGenerator.Reset()  # global across runs; Destroy below resets it too
    try:
        link = _Bottleneck(capacity_bps, one_way_delay_s, queue_packets, loss_ratio)
        directions = [
            _build_direction(ns, link, direction, recorder, per_packet) for direction in range(2)
        ]
        clients = []
        for flow in range(flows):
            sender, receiver = directions[flow // n_flows]
            remote = ns.InetSocketAddress(receiver, SERVER_PORT)
            client = ns.UdpClientHelper(remote.ConvertTo())
            client.SetAttribute("MaxPackets", ns.UintegerValue(0))  # 0: no limit
            client.SetAttribute("Interval", ns.TimeValue(_time(ns, ptime_s)))
            client.SetAttribute("PacketSize", ns.UintegerValue(UDP_PAYLOAD_BYTES))
            app = client.Install(sender).Get(0)
            app.SetStartTime(_time(ns, float(start_s[flow])))
            app.SetStopTime(_time(ns, seconds))
            if per_packet:
                _check(recorder.WatchClient(app, flow), "UdpClient")
            clients.append(app)
        ns.Simulator.Stop(_time(ns, seconds + DRAIN_S))
        started = time.perf_counter()
        ns.Simulator.Run()
        run_wall_s = time.perf_counter() - started
        sent = sum(int(app.GetTotalTx()) for app in clients) // UDP_PAYLOAD_BYTES
        packets = _packets(recorder, flows)
        queue_drops, channel_drops = int(recorder.queue_drops), int(recorder.channel_drops)
    finally:
        ns.Simulator.Destroy()
    return Ns3Result(
        flows=flows,
        packets_sent=sent,
        run_wall_s=run_wall_s,
        packets_per_wall_s=sent / run_wall_s,
        queue_drops=queue_drops,
        channel_drops=channel_drops,
        flow=packets.flow,
        direction=(packets.flow >= n_flows).astype(np.int64),
        seq=packets.seq,
        send_s=packets.send_s,
        recv_s=packets.recv_s,
    )
