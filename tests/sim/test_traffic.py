"""The sender emits every flow's packets in send-time order, ties by flow."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.codecs import codec
from voipbed.sim.traffic import FlowSpan, send_packets

PTIME = 0.020


def _naive(spans: list[FlowSpan]) -> list[tuple[float, int, int]]:
    """Every packet as (send time, flow, seq), listed flow by flow, then sorted."""
    rows = []
    for span in spans:
        k = 0
        while span.first_s + k * PTIME < span.end_s - 1e-9 * PTIME:
            rows.append((span.first_s + k * PTIME, span.flow, k))
            k += 1
    return sorted(rows, key=lambda row: (row[0], row[1]))


spans_strategy = st.lists(
    st.tuples(st.floats(0, 3000), st.floats(0, 2)), min_size=0, max_size=12
).map(
    lambda pairs: [
        FlowSpan(call=i, flow=i, direction=0, first_s=start, end_s=start + length)
        for i, (start, length) in enumerate(pairs)
    ]
)


@settings(max_examples=200, deadline=None)
@given(spans=spans_strategy)
def test_send_order_matches_a_naive_sort(spans: list[FlowSpan]) -> None:
    """Packets equal a naive per-flow listing sorted by (time, flow), far-apart calls included."""
    sent = send_packets(spans, codec("PCMU"), PTIME)
    got = list(zip(sent.send_s.tolist(), sent.flow.tolist(), sent.seq.tolist(), strict=True))
    expected = _naive(spans)
    assert [(f, k) for _, f, k in got] == [(f, k) for _, f, k in expected]
    np.testing.assert_allclose(
        [t for t, _, _ in got], [t for t, _, _ in expected], rtol=0, atol=1e-9
    )
    assert (np.diff(sent.send_s) >= 0).all()
    assert (sent.rtp_ts == sent.seq * 160).all()


def test_same_phase_flows_tie_by_flow() -> None:
    """Two flows starting at the same instant alternate, the lower flow first."""
    spans = [FlowSpan(0, 0, 0, 1.0, 1.1), FlowSpan(1, 2, 0, 1.0, 1.1)]
    sent = send_packets(spans, codec("PCMU"), PTIME)
    assert sent.flow.tolist() == [0, 2] * 5
