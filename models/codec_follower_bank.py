"""Many senders' :class:`models.codec_adaptation.RateFollower` at once, in arrays.

A closed-loop run updates thousands of adaptive senders every feedback
interval; :class:`FollowerBank` keeps each sender's follower state in arrays
and applies a batch of target updates in one numba kernel. Its choices
are those of one ``RateFollower`` per sender given the same updates in the
same order (the tests hold the two together); the rules are that class's.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from voipbed.models._jit import kernel
from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, Step
from voipbed.models.codec_modes import CodecFamily

__all__ = ["FollowerBank"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_TIME_EPS_S = 1e-9  # as models.codec_adaptation: float slack when comparing elapsed times
_NONE = -1  # no point chosen yet


class FollowerBank:
    """The operating point of ``senders`` adaptive senders of one ``family``."""

    def __init__(
        self, family: CodecFamily, senders: int, config: FollowerConfig | None = None
    ) -> None:
        self.family = family
        self.config = config or FollowerConfig()
        one = RateFollower(family, self.config)
        self.wire_bps = np.array([one.wire_bps(p) for p in family.points], dtype=np.float64)
        self.index = np.full(senders, _NONE, dtype=np.int64)  # point in use
        self._last_change_s = np.full(senders, -np.inf)
        self._up_since_s = np.full(senders, np.nan)  # NaN: not waiting to go up

    def update(self, sender: IntArray, now_s: FloatArray, target_bps: FloatArray) -> None:
        """Apply target updates in order (``now_s`` ascending per sender); a sender may recur."""
        config = self.config
        _apply(
            np.ascontiguousarray(sender, dtype=np.int64),
            np.ascontiguousarray(now_s, dtype=np.float64),
            np.ascontiguousarray(target_bps, dtype=np.float64),
            self.wire_bps,
            self.index,
            self._last_change_s,
            self._up_since_s,
            config.min_change_interval_s,
            config.hold_up_s,
            config.step_up is Step.JUMP,
            config.step_down is Step.JUMP,
        )


@kernel
def _apply(
    sender: IntArray,
    now_s: FloatArray,
    target_bps: FloatArray,
    wire_bps: FloatArray,
    index: IntArray,
    last_change_s: FloatArray,
    up_since_s: FloatArray,
    min_change_interval_s: float,
    hold_up_s: float,
    jump_up: bool,
    jump_down: bool,
) -> None:
    """``RateFollower.update`` of each entry's sender, in order."""
    for k in range(sender.size):
        s = sender[k]
        now = now_s[k]
        goal = max(np.searchsorted(wire_bps, target_bps[k], side="right") - 1, 0)
        old = index[s]
        new = old
        may_change = now - last_change_s[s] + _TIME_EPS_S >= min_change_interval_s
        if old == _NONE:
            new = goal
        elif goal > old:
            if math.isnan(up_since_s[s]):
                up_since_s[s] = now
            if now - up_since_s[s] + _TIME_EPS_S >= hold_up_s and may_change:
                new = goal if jump_up else old + 1
                up_since_s[s] = now  # the next step up waits a full hold again
        else:
            up_since_s[s] = math.nan
            if goal < old and may_change:
                new = goal if jump_down else old - 1
        if new != old:
            last_change_s[s] = now
        index[s] = new
