"""Many senders' :class:`models.codec_adaptation.RateFollower` at once, in numpy.

A closed-loop run updates thousands of adaptive senders every feedback
interval; :class:`FollowerBank` keeps each sender's follower state in arrays
and applies a batch of target updates with array operations. Its choices
are those of one ``RateFollower`` per sender given the same updates in the
same order (the tests hold the two together); the rules are that class's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

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

    def affordable(self, target_bps: FloatArray) -> IntArray:
        """Per target, the highest point whose wire rate is not above it (0 if none)."""
        fits = np.searchsorted(self.wire_bps, target_bps, side="right") - 1
        return np.maximum(fits, 0).astype(np.int64)

    def update(self, sender: IntArray, now_s: FloatArray, target_bps: FloatArray) -> None:
        """Apply target updates in order (``now_s`` ascending per sender); a sender may recur."""
        if not sender.size:
            return
        rank = _occurrence(sender)
        if rank.max() == 0:
            self._round(sender, now_s, target_bps)
            return
        for r in range(int(rank.max()) + 1):
            mine = rank == r
            self._round(sender[mine], now_s[mine], target_bps[mine])

    def _round(self, who: IntArray, now_s: FloatArray, target_bps: FloatArray) -> None:
        """Updates of distinct senders."""
        config = self.config
        goal = self.affordable(target_bps)
        index = self.index[who]
        may_change = now_s - self._last_change_s[who] + _TIME_EPS_S >= config.min_change_interval_s
        first = index == _NONE
        new = index.copy()
        new[first] = goal[first]
        up = ~first & (goal > index)
        up_since = self._up_since_s[who]
        up_since[up & np.isnan(up_since)] = now_s[up & np.isnan(up_since)]
        held = now_s - up_since + _TIME_EPS_S >= config.hold_up_s
        go_up = up & held & may_change
        new[go_up] = goal[go_up] if config.step_up is Step.JUMP else index[go_up] + 1
        up_since[go_up] = now_s[go_up]  # the next step up waits a full hold again
        rest = ~first & ~up
        up_since[rest] = np.nan
        go_down = rest & (goal < index) & may_change
        new[go_down] = goal[go_down] if config.step_down is Step.JUMP else index[go_down] - 1
        changed = new != index
        self._last_change_s[who[changed]] = now_s[changed]
        self.index[who] = new
        self._up_since_s[who] = up_since


def _occurrence(sender: IntArray) -> IntArray:
    """For each entry, how many earlier entries name the same sender."""
    order = np.argsort(sender, kind="stable")
    ordered = sender[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    run = np.arange(sender.size) - np.repeat(starts, np.diff(np.r_[starts, sender.size]))
    rank = np.empty(sender.size, dtype=np.int64)
    rank[order] = run
    return rank
