"""A closed-loop run's settings, from the scenario's ``calls.rate_control``."""

from __future__ import annotations

from dataclasses import dataclass

from voipbed.models.codec_adaptation import FollowerConfig
from voipbed.models.codec_modes import CodecFamily
from voipbed.models.gcc import GccConfig
from voipbed.scenario import Scenario

__all__ = ["LoopSettings"]


@dataclass(frozen=True)
class LoopSettings:
    """What the senders, receivers and rate controllers of a closed-loop run need."""

    interval_s: float  # feedback interval, the length of a window
    feedback: str  # "rfc8888" or "twcc"
    family: CodecFamily
    follower: FollowerConfig
    gcc: GccConfig
    start_bps: float  # on the wire
    min_bps: float
    max_bps: float

    @classmethod
    def of(cls, scenario: Scenario) -> LoopSettings | None:
        """The settings of ``scenario``; None when its calls send at a fixed rate."""
        calls = scenario.calls
        control = calls.rate_control
        if control.algorithm.value == "none":
            return None
        overhead = scenario.overhead()
        amr_format = calls.amr_payload_format
        bitrates = control.bitrates(calls.codec, calls.ptime_s, overhead, amr_format)
        return cls(
            interval_s=control.feedback_interval_s,
            feedback=control.feedback.value,
            family=control.family(calls.codec),
            follower=control.follower_config(calls.ptime_s, overhead, calls.codec, amr_format),
            gcc=control.gcc_config(bitrates),
            start_bps=bitrates.start_bps,
            min_bps=bitrates.min_bps,
            max_bps=bitrates.max_bps,
        )
