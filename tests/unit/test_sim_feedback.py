"""Receivers' reports (sim.feedback) and adaptive senders' windows (sim.senders)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.cc_feedback import rfc8888_bytes, twcc_bytes
from voipbed.models.codec_adaptation import FollowerConfig
from voipbed.models.codec_follower_bank import FollowerBank
from voipbed.models.codec_modes import AMR_WB
from voipbed.models.overhead import IpVersion, Overhead
from voipbed.sim.feedback import Receivers, Reports
from voipbed.sim.senders import AdaptiveSenders


def _report(
    receivers: Receivers, now_s: float, rows: list[tuple[int, int, float, bool]]
) -> Reports:
    flow = np.array([r[0] for r in rows], dtype=np.int64)
    seq = np.array([r[1] for r in rows], dtype=np.int64)
    recv = np.array([r[2] for r in rows])
    ce = np.array([r[3] for r in rows], dtype=np.bool_)
    return receivers.report(now_s, flow, seq, recv - 0.05, recv, np.full(flow.size, 80), ce)


def test_a_report_counts_gaps_as_lost_and_late_packets_once() -> None:
    """Seq 0, 1, 3 then 2 late and 4: the first report loses 2, the second expects 1, loses 0."""
    receivers = Receivers(2, "rfc8888", Overhead())
    first = _report(receivers, 1.0, [(0, 0, 0.1, False), (0, 1, 0.2, True), (0, 3, 0.4, False)])
    assert (first.flow.tolist(), first.expected.tolist(), first.lost.tolist()) == ([0], [4], [1])
    assert first.ce.tolist() == [1] and first.highest.tolist() == [3]
    second = _report(receivers, 2.0, [(0, 2, 1.1, True), (0, 4, 1.2, False)])
    assert (second.expected.tolist(), second.lost.tolist()) == ([1], [0])
    assert second.ce.tolist() == [0]  # the late packet's mark is not among the new ones
    assert second.packet_recv_s.tolist() == [1.1, 1.2]  # both reported, in arrival order


def test_reports_are_grouped_by_flow_in_arrival_order() -> None:
    """Two flows' packets interleaved: one report each, packets grouped and in arrival order."""
    receivers = Receivers(4, "rfc8888", Overhead())
    reports = _report(
        receivers,
        1.0,
        [(3, 1, 0.3, False), (1, 0, 0.1, False), (3, 0, 0.2, False), (1, 1, 0.4, False)],
    )
    assert reports.flow.tolist() == [1, 3]
    assert reports.packet_report.tolist() == [0, 0, 1, 1]
    assert reports.packet_recv_s.tolist() == [0.1, 0.4, 0.2, 0.3]


@given(st.integers(0, 2**20), st.sampled_from(["rfc8888", "twcc"]))
@settings(max_examples=30, deadline=None)
def test_reports_among_mixed_packets_equal_reports_of_the_media_alone(
    seed: int, feedback: str
) -> None:
    """Media picked out of packets by their rows give the reports of those media given alone."""
    rng = np.random.default_rng(seed)
    rows = 40
    flow = rng.integers(0, 4, rows).astype(np.int64)
    seq = rng.permutation(rows).astype(np.int64)
    send_s = rng.random(rows)
    packets = 60  # by packet id: some are media rows, the others are not media
    row_of = np.full(packets, -1, dtype=np.int64)
    media_ids = rng.choice(packets, rows, replace=False)
    row_of[media_ids] = np.arange(rows)
    recv_s = np.sort(rng.random(packets)) + 1.0
    recv_s[rng.integers(0, packets, 5)] = 1.5  # ties
    wire = rng.integers(60, 200, packets).astype(np.int64)
    ce = rng.random(packets) < 0.3
    ids = np.argsort(recv_s, kind="stable")
    among = Receivers(4, feedback, Overhead()).report_among(
        2.0, ids, row_of, flow, seq, send_s, recv_s, wire, ce
    )
    media = ids[row_of[ids] >= 0]
    alone = Receivers(4, feedback, Overhead()).report(
        2.0,
        flow[row_of[media]],
        seq[row_of[media]],
        send_s[row_of[media]],
        recv_s[media],
        wire[media],
        ce[media],
    )
    for name in ("flow", "expected", "lost", "ce", "highest", "wire_bytes", "bounds"):
        np.testing.assert_array_equal(getattr(among, name), getattr(alone, name))
    for name in ("packet_report", "packet_send_s", "packet_recv_s", "packet_bytes"):
        np.testing.assert_array_equal(getattr(among, name), getattr(alone, name))
    counts = np.diff(among.bounds)
    np.testing.assert_array_equal(np.repeat(np.arange(counts.size), counts), among.packet_report)


@pytest.mark.parametrize("packets", [1, 2, 5, 6])
def test_rfc8888_packet_size_is_the_formats_plus_ip_and_udp(packets: int) -> None:
    """RFC 8888 sizes from models.cc_feedback, plus IPv4 (or IPv6) and UDP headers."""
    rows = [(0, k, 0.01 * k, False) for k in range(packets)]
    v4 = _report(Receivers(1, "rfc8888", Overhead()), 1.0, rows)
    assert v4.wire_bytes.tolist() == [rfc8888_bytes([packets]) + 20 + 8]
    v6 = _report(Receivers(1, "rfc8888", Overhead(ip_version=IpVersion.V6)), 1.0, rows)
    assert v6.wire_bytes.tolist() == [rfc8888_bytes([packets]) + 40 + 8]


def test_twcc_packet_size_is_the_formats() -> None:
    """Transport-wide feedback over seq 0 to 4 with 2 missing: models.cc_feedback's size."""
    rows = [(0, k, 0.1 + 0.02 * k, False) for k in (0, 1, 3, 4)]
    report = _report(Receivers(1, "twcc", Overhead()), 1.0, rows)
    received = [True, True, False, True, True]
    arrival = [0.1, 0.12, 0.0, 0.16, 0.18]
    assert report.wire_bytes.tolist() == [twcc_bytes(received, arrival) + 28]


def test_windows_of_adaptive_senders_cover_each_packet_once() -> None:
    """Windows cut at awkward float times hold every packet once, each at first + k ptime."""
    first = np.array([0.0, 0.013, 0.3, 0.0])
    end = np.array([3.0, 3.0, 2.2, 0.0])  # the last flow sends nothing
    followers = FollowerBank(AMR_WB, 4, FollowerConfig())
    senders = AdaptiveSenders(first, end, 0.02, followers, Overhead(), 30_000.0)
    edges = [0.1 * k for k in range(40)]  # 0.30000000000000004 and friends
    seen: dict[int, list[int]] = {0: [], 1: [], 2: [], 3: []}
    for start, stop in itertools.pairwise(edges):
        for direction in (0, 1):
            window = senders.window(start, stop, direction)
            assert np.all((window.send_s >= start) & (window.send_s < stop))
            assert np.all(np.diff(window.send_s) >= 0)
            for flow, seq in zip(window.flow.tolist(), window.seq.tolist(), strict=True):
                seen[flow].append(seq)
    for flow, seqs in seen.items():
        expected = int(np.ceil((end[flow] - first[flow]) / 0.02 - 1e-9))
        assert seqs == list(range(max(expected, 0))), flow


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 2.0), min_size=1, max_size=12),
    st.lists(st.floats(0.0, 3.0), min_size=1, max_size=8),
)
def test_a_window_is_in_send_order_ties_by_flow(firsts: list[float], cuts: list[float]) -> None:
    """Flows starting anywhere, windows cut anywhere: packets sorted by send time, then flow."""
    first = np.array(firsts)
    followers = FollowerBank(AMR_WB, first.size, FollowerConfig())
    senders = AdaptiveSenders(first, first + 1.0, 0.02, followers, Overhead(), 30_000.0)
    for start, stop in itertools.pairwise([0.0, *sorted(cuts), 3.5]):
        for direction in (0, 1):
            window = senders.window(start, stop, direction)
            order = np.lexsort((window.flow, window.send_s))
            assert np.array_equal(order, np.arange(order.size))
