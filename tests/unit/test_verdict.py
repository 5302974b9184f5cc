"""The one-sentence verdict: which direction, place and cause limit quality."""

from __future__ import annotations

from dataclasses import replace

import pytest

from voipbed.verdict import CLOSE_MOS, NOTABLE_R, DirectionFigures, limiting_factor

BUFFER = "60 ms fixed jitter buffer"


def figures(direction: str = "downlink", **changes: object) -> DirectionFigures:
    """A direction of 1000 packets with small impairments, changed by ``changes``."""
    base = DirectionFigures(
        direction=direction,
        flows=2,
        sent=1000,
        late=0,
        lost={},
        mos_mean=4.3,
        loss_impairment=1.0,
        delay_impairment=0.5,
        codec_impairment=0.0,
        ta_mean_s=0.12,
        network_delay_mean_s=0.04,
        network_delay_p99_s=0.06,
        buffer_delay_mean_s=0.06,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_no_packets_sent_says_there_is_nothing_to_rate() -> None:
    """Without any packet sent, the verdict is ``no_media`` and says so."""
    verdict = limiting_factor(
        [figures(sent=0), figures("uplink", sent=0)], jitter_buffer=BUFFER, codec="PCMU"
    )
    assert verdict.cause == "no_media"
    assert "No media packets" in verdict.sentence


def test_small_impairments_say_nothing_limits_quality() -> None:
    """Impairments all under NOTABLE_R give the ``none`` verdict, naming the largest."""
    verdict = limiting_factor([figures()], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.cause == "none"
    assert "packet loss at 1.0 R points" in verdict.sentence
    assert max(verdict.impairments.values()) < NOTABLE_R


def test_late_discards_that_outnumber_network_losses_are_the_cause() -> None:
    """Loss dominating with more late discards than any network reason names late discards."""
    down = figures(late=61, lost={("channel", "radio"): 10}, loss_impairment=20.0, mos_mean=3.2)
    verdict = limiting_factor([down, figures("uplink")], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.cause == "late"
    assert verdict.direction == "downlink"
    assert verdict.share_percent == pytest.approx(6.1)
    assert verdict.sentence.startswith("Quality is limited by late discards on the downlink")
    assert "6.1 % of downlink packets arrived after the 60 ms fixed jitter buffer" in (
        verdict.sentence
    )
    assert "1.0 % were lost in the network" in verdict.sentence


def test_the_largest_network_reason_names_its_segment() -> None:
    """Handover losses outnumbering the rest name handovers and the segment that lost most."""
    lost = {("handover", "radio"): 60, ("handover", "core"): 5, ("channel", "radio"): 9}
    up = figures("uplink", lost=lost, late=3, loss_impairment=15.0, mos_mean=3.6)
    verdict = limiting_factor([figures(), up], jitter_buffer=BUFFER, codec="PCMU")
    assert (verdict.cause, verdict.direction, verdict.segment) == ("handover", "uplink", "radio")
    assert verdict.share_percent == pytest.approx(6.5)
    assert "lost during handovers at the radio segment" in verdict.sentence
    assert "1.2 % more were lost or late otherwise" in verdict.sentence


def test_delay_dominating_names_mouth_to_ear_delay_and_its_parts() -> None:
    """A delay impairment larger than the loss one names mouth-to-ear delay with its split."""
    slow = figures(delay_impairment=30.0, ta_mean_s=0.45, network_delay_mean_s=0.33, mos_mean=3.0)
    verdict = limiting_factor([slow, figures("uplink")], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.cause == "delay"
    assert "mouth-to-ear delay on the downlink: 450 ms" in verdict.sentence
    assert "network 330 ms" in verdict.sentence


def test_codec_impairment_dominating_names_the_codec() -> None:
    """With a large Ie and nothing else, the codec is the cause, in no one direction."""
    verdict = limiting_factor([figures(codec_impairment=11.0)], jitter_buffer=BUFFER, codec="G729")
    assert verdict.cause == "codec"
    assert "G729 costs 11.0 R points" in verdict.sentence


def test_the_direction_with_the_lowest_mean_mos_is_described() -> None:
    """Of two directions limited by different causes, the one with the lower MOS is named."""
    up = figures("uplink", delay_impairment=12.0, mos_mean=3.9)
    down = figures(late=50, loss_impairment=25.0, mos_mean=2.8)
    verdict = limiting_factor([up, down], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.direction == "downlink"
    assert verdict.cause == "late"


def test_directions_alike_are_named_together() -> None:
    """Two directions within CLOSE_MOS, same cause and place, read "in both directions"."""
    lost = {("queue", "backhaul"): 40}
    down = figures(lost=lost, loss_impairment=12.0, mos_mean=3.5)
    up = figures(
        "uplink",
        lost={("queue", "backhaul"): 35},
        loss_impairment=11.0,
        mos_mean=3.5 + CLOSE_MOS / 2,
    )
    verdict = limiting_factor([up, down], jitter_buffer=BUFFER, codec="PCMU")
    assert "queue drops in both directions" in verdict.sentence
    assert "4.0 % of downlink packets (uplink 3.5 %)" in verdict.sentence


def test_a_runner_up_impairment_is_named_too() -> None:
    """A second impairment at least half the first is named in a second clause."""
    down = figures(late=80, loss_impairment=30.0, delay_impairment=20.0, mos_mean=2.0)
    verdict = limiting_factor([down], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.sentence.endswith("mouth-to-ear delay also costs 20.0 R points.")


def test_late_discards_name_the_queue_that_overflowed() -> None:
    """With queue drops in the direction, the late-discard sentence names that queue's segment."""
    lost = {("queue", "backhaul"): 3, ("channel", "radio"): 5}
    down = figures(late=300, lost=lost, loss_impairment=40.0, mos_mean=1.5)
    verdict = limiting_factor([down], jitter_buffer=BUFFER, codec="PCMU")
    assert verdict.cause == "late"
    assert "queueing at the backhaul segment, whose queue dropped 3 packets" in verdict.sentence
