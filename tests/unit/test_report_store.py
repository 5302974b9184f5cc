"""The reports on their way back to their senders (sim.report_store)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.overhead import Overhead
from voipbed.sim.feedback import Receivers, Reports
from voipbed.sim.report_store import ReportStore

FLOWS = 6


def _reports(receivers: Receivers, now_s: float, rng: np.random.Generator) -> Reports:
    """Reports of a few packets of random flows that arrived before ``now_s``."""
    n = int(rng.integers(1, 12))
    flow = rng.integers(0, FLOWS, n).astype(np.int64)
    seq = np.zeros(n, dtype=np.int64)
    for f in range(FLOWS):
        mine = flow == f
        seq[mine] = receivers.highest[f] + 1 + np.arange(int(mine.sum()))
    recv_s = now_s - np.sort(rng.random(n))[::-1] * 0.1
    return receivers.report(
        now_s,
        flow,
        seq,
        recv_s - 0.05,
        recv_s,
        rng.integers(60, 200, n).astype(np.int64),
        rng.random(n) < 0.2,
    )


@given(st.integers(0, 2**20))
@settings(max_examples=40, deadline=None)
def test_heard_reports_are_grouped_by_flow_with_what_each_said(seed: int) -> None:
    """Reports heard in any order come back grouped by flow, in arrival order within a flow,
    each with its own fields and packets, whatever was dropped to make room before."""
    rng = np.random.default_rng(seed)
    receivers = Receivers(FLOWS, "rfc8888", Overhead())
    store = ReportStore(FLOWS, capacity=4)  # small: the store compacts and grows
    sent: list[tuple[Reports, int]] = []  # each report batch and its first packet id
    number_of = np.empty(0, dtype=np.int64)  # by packet id: -(report number) - 1
    reason = np.empty(0, dtype=np.int64)
    pending: list[int] = []  # packet ids not yet heard
    for window in range(8):
        reports = _reports(receivers, 1.0 + window, rng)
        first_id = number_of.size
        numbers = store.sent + np.arange(reports.flow.size)
        store.add(reports, first_id)
        sent.append((reports, first_id))
        number_of = np.concatenate([number_of, -numbers - 1])
        reason = np.concatenate([reason, np.full(numbers.size, -1)])
        pending += list(range(first_id, number_of.size))
        heard_ids = [i for i in pending if rng.random() < 0.6]
        pending = [i for i in pending if i not in heard_ids]
        arrival_s = np.full(number_of.size, np.nan)
        order = rng.permutation(len(heard_ids))
        ids = np.array(heard_ids, dtype=np.int64)[order]
        arrival_s[ids] = 1.5 + window + np.arange(ids.size) * 1e-3  # ids in arrival order
        heard = store.hear(ids, number_of, arrival_s)
        store.settle(reason)
        if not ids.size:
            assert heard is None
            continue
        assert heard is not None
        expected_order = sorted(range(ids.size), key=lambda k: _flow_of(sent, int(ids[k])))
        assert heard.arrival_s.tolist() == arrival_s[ids[expected_order]].tolist()
        for r, k in enumerate(expected_order):
            batch, row = _batch_row(sent, int(ids[k]))
            assert heard.flow[r] == batch.flow[row]
            assert heard.expected[r] == batch.expected[row]
            assert heard.lost[r] == batch.lost[row]
            assert heard.highest[r] == batch.highest[row]
            span = slice(batch.bounds[row], batch.bounds[row + 1])
            mine = slice(heard.bounds[r], heard.bounds[r + 1])
            assert heard.packet_recv_s[mine].tolist() == batch.packet_recv_s[span].tolist()
            assert heard.packet_bytes[mine].tolist() == batch.packet_bytes[span].tolist()
            assert (heard.packet_report[mine] == r).all()


def _batch_row(sent: list[tuple[Reports, int]], packet: int) -> tuple[Reports, int]:
    """The batch of the report carried by ``packet`` and its row there."""
    for reports, first_id in sent:
        if first_id <= packet < first_id + reports.flow.size:
            return reports, packet - first_id
    raise AssertionError(f"no report is carried by packet {packet}")


def _flow_of(sent: list[tuple[Reports, int]], packet: int) -> int:
    batch, row = _batch_row(sent, packet)
    return int(batch.flow[row])


def test_reports_heard_or_lost_are_settled_in_order() -> None:
    """The store moves past the oldest reports heard or lost, and stops at one in flight."""
    receivers = Receivers(2, "rfc8888", Overhead())
    store = ReportStore(2)
    flow = np.array([0, 1], dtype=np.int64)
    reports = receivers.report(
        1.0,
        flow,
        np.zeros(2, dtype=np.int64),
        np.array([0.5, 0.6]),
        np.array([0.8, 0.9]),
        np.array([80, 80], dtype=np.int64),
        np.zeros(2, dtype=np.bool_),
    )
    store.add(reports, 0)
    number_of = np.array([-1, -2], dtype=np.int64)
    reason = np.array([-1, -1], dtype=np.int64)
    heard = store.hear(np.array([1], dtype=np.int64), number_of, np.array([np.nan, 1.2]))
    assert heard is not None and heard.flow.tolist() == [1]
    store.settle(reason)
    assert store.settled == 0  # report 0 is still in flight
    reason[0] = 3  # lost on the way
    store.settle(reason)
    assert store.settled == 2
    assert store.hear(np.empty(0, dtype=np.int64), number_of, np.empty(2)) is None
