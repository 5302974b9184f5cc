"""Link records to the packets table: send and receive times, where and why packets were lost."""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from voipbed.emulation.capture import PLAIN_RTP, packets_from_records
from voipbed.emulation.link import RECORD_SCHEMA
from voipbed.models.overhead import Overhead, Rohc, wire_bytes_per_packet
from voipbed.trace import DROP_REASONS, PACKET_SCHEMA

UE, FAR = "10.0.0.11", "10.0.0.2"


def record(
    direction: str,
    seq: int,
    arrive: float,
    sent: float,
    reason: str | None = None,
    *,
    ssrc: int = 7,
    ts: int | None = None,
    src: str | None = None,
    rtp: bool = True,
    dscp: int = 46,
    bleach: bool = False,
) -> dict[str, Any]:
    """One link record of a 200-byte G.711 packet (``bleach``: the link remarks it to 0)."""
    up = direction == "uplink"
    return {
        "direction": direction,
        "flow": 0,
        "arrive_s": arrive,
        "depart_s": sent,
        "sent_s": sent,
        "drop_reason": reason,
        "wire_bytes": 200,
        "dscp": dscp,
        "dscp_out": 0 if bleach else dscp,
        "ecn": 0,
        "protocol": 17,
        "src": src or (UE if up else FAR),
        "dst": FAR if up else UE,
        "sport": 4000,
        "dport": 5000,
        "rtp_ssrc": ssrc if rtp else None,
        "rtp_seq": seq if rtp else None,
        "rtp_ts": (seq * 160 if ts is None else ts) if rtp else None,
    }


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """Records as the link writes them."""
    columns = {name: [row[name] for row in rows] for name in RECORD_SCHEMA.names}
    columns["direction"] = pa.array(columns["direction"]).dictionary_encode()
    reasons = pa.array(columns["drop_reason"], pa.string())
    columns["drop_reason"] = pa.DictionaryArray.from_arrays(
        pa.array(
            [None if r is None else DROP_REASONS.index(r) for r in reasons.to_pylist()], pa.int8()
        ),
        pa.array(DROP_REASONS),
    )
    return pa.Table.from_pydict(
        {k: pa.array(v) if not isinstance(v, pa.Array) else v for k, v in columns.items()}
    ).cast(RECORD_SCHEMA)


NAN = math.nan


def test_uplink_packets_get_times_places_and_reasons() -> None:
    """Through both links, dropped at the second, vanished between, in flight at the end."""
    radio = table(
        [
            record("uplink", 0, 1.000, 1.010),
            record("uplink", 1, 1.020, 1.030),
            record("uplink", 2, 1.040, 1.050),
            record("uplink", 3, 1.060, 1.070),
            record("uplink", 4, 1.080, NAN, "channel"),
        ]
    )
    core = table(
        [
            record("uplink", 0, 1.011, 1.031),
            record("uplink", 1, 1.031, NAN, "queue"),
            # seq 2 never reached the core link
            record("uplink", 3, 1.071, NAN),  # still queued when the run stopped
        ]
    )
    packets = packets_from_records([radio, core], ["radio", "core"], [UE], "PCMU")
    assert packets.schema == PACKET_SCHEMA
    rows = packets.to_pylist()
    assert [r["seq"] for r in rows] == [0, 1, 2, 4]  # seq 3 was in flight: left out
    assert rows[0]["send_s"] == 1.000 and rows[0]["recv_s"] == 1.031
    assert (rows[0]["lost_at"], rows[0]["drop_reason"]) == (None, None)
    assert (rows[1]["lost_at"], rows[1]["drop_reason"]) == ("core", "queue")
    assert (rows[2]["lost_at"], rows[2]["drop_reason"]) == ("core", "forwarder")
    assert (rows[3]["lost_at"], rows[3]["drop_reason"]) == ("radio", "channel")
    assert all(math.isnan(r["recv_s"]) for r in rows[1:])
    assert {(r["call"], r["flow"], r["direction"]) for r in rows} == {(0, 0, "uplink")}
    assert {(r["wire_bytes"], r["payload_bytes"], r["dscp"]) for r in rows} == {(200, 160, 46)}
    assert [r["dscp_received"] for r in rows] == [46, None, None, None]


def test_dscp_received_is_what_the_last_link_wrote_out() -> None:
    """Sent with 46; bleached by the first link, or by the last: the far end sees 0."""
    first_bleaches = packets_from_records(
        [
            table([record("uplink", 0, 1.0, 1.01, bleach=True)]),
            table([record("uplink", 0, 1.011, 1.03, dscp=0)]),
        ],
        ["radio", "core"],
        [UE],
        "PCMU",
    )
    last_bleaches = packets_from_records(
        [
            table([record("uplink", 0, 1.0, 1.01)]),
            table([record("uplink", 0, 1.011, 1.03, bleach=True)]),
        ],
        ["radio", "core"],
        [UE],
        "PCMU",
    )
    kept = packets_from_records(
        [table([record("uplink", 0, 1.0, 1.01)]), table([record("uplink", 0, 1.011, 1.03)])],
        ["radio", "core"],
        [UE],
        "PCMU",
    )
    for packets, received in ((first_bleaches, 0), (last_bleaches, 0), (kept, 46)):
        (row,) = packets.to_pylist()
        assert (row["dscp"], row["dscp_received"]) == (46, received)


def test_downlink_crosses_the_path_in_reverse() -> None:
    """A downlink packet is sent into the last segment and received from the first."""
    radio = table([record("downlink", 5, 2.021, 2.031)])
    core = table([record("downlink", 5, 2.000, 2.020)])
    (row,) = packets_from_records([radio, core], ["radio", "core"], [UE], "PCMU").to_pylist()
    assert (row["direction"], row["flow"], row["seq"]) == ("downlink", 1, 0)
    assert (row["send_s"], row["recv_s"]) == (2.000, 2.031)


def test_only_the_calls_rtp_is_kept_and_counters_unwrap() -> None:
    """Non-RTP and other hosts' packets are not media of a call; seq and timestamp unwrap."""
    rows = [
        record("uplink", 65535, 1.0, 1.01, ts=(1 << 32) - 160),
        record("uplink", 0, 1.02, 1.03, ts=0),
        record("uplink", 9, 1.03, 1.04, rtp=False),  # SIP, say
        record("uplink", 9, 1.04, 1.05, src="10.0.0.99"),  # not a UE of this run
    ]
    packets = packets_from_records([table(rows)], ["radio"], [UE], "PCMU").to_pylist()
    assert [(r["seq"], r["rtp_ts"]) for r in packets] == [(0, 0), (1, 160)]


def test_two_calls_are_told_apart_by_their_ue() -> None:
    """Each UE address is its own call: flows 0/1 and 2/3."""
    rows = [record("uplink", 0, 1.0, 1.01), record("uplink", 0, 1.0, 1.01, src="10.0.0.12")]
    packets = packets_from_records([table(rows)], ["radio"], [UE, "10.0.0.12"], "PCMU").to_pylist()
    assert sorted((r["call"], r["flow"]) for r in packets) == [(0, 0), (1, 2)]


@pytest.mark.parametrize(
    ("overhead", "headers"),
    [(PLAIN_RTP, 40), (Overhead(srtp_tag_bits=80), 50), (Overhead(srtp_tag_bits=32), 44)],
)
def test_payload_is_the_ip_size_less_the_media_headers(overhead: Overhead, headers: int) -> None:
    """A packet's payload is its IP size less RTP/UDP/IPv4 and the SRTP tag; its wire size
    stays the IP size, as the simulator writes both."""
    rows = [record("uplink", 0, 1.0, 1.01)]
    (row,) = packets_from_records(
        [table(rows)], ["radio"], [UE], "PCMU", overhead=overhead
    ).to_pylist()
    assert row["wire_bytes"] == 200
    assert row["payload_bytes"] == 200 - headers
    assert wire_bytes_per_packet(row["payload_bytes"], overhead) == row["wire_bytes"]


def test_headers_with_rohc_or_a_link_layer_are_refused() -> None:
    """The records hold IP packets: an overhead with ROHC is not what they were sent with."""
    with pytest.raises(ValueError, match="no ROHC"):
        packets_from_records(
            [table([record("uplink", 0, 1.0, 1.01)])],
            ["radio"],
            [UE],
            "PCMU",
            overhead=Overhead(rohc=Rohc()),
        )
