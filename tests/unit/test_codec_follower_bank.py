"""FollowerBank chooses, sender by sender, what one RateFollower per sender chooses."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from voipbed.models.codec_adaptation import FollowerConfig, RateFollower, Step
from voipbed.models.codec_follower_bank import FollowerBank
from voipbed.models.codec_modes import AMR, AMR_WB, opus_family

_FAMILIES = (AMR, AMR_WB, opus_family())


@settings(max_examples=60, deadline=None)
@given(
    family=st.sampled_from(_FAMILIES),
    hold_up_s=st.sampled_from([0.0, 0.3, 1.0]),
    step_up=st.sampled_from(list(Step)),
    step_down=st.sampled_from(list(Step)),
    min_change_s=st.sampled_from([0.0, 0.04, 0.5]),
    updates=st.lists(
        st.tuples(st.integers(0, 3), st.floats(0.0, 0.3), st.floats(0.0, 200_000.0)),
        min_size=1,
        max_size=60,
    ),
)
def test_bank_matches_one_follower_per_sender(
    family, hold_up_s, step_up, step_down, min_change_s, updates
) -> None:  # type: ignore[no-untyped-def]
    """Random target updates of four senders: the bank's point equals each follower's."""
    config = FollowerConfig(
        hold_up_s=hold_up_s,
        step_up=step_up,
        step_down=step_down,
        min_change_interval_s=min_change_s,
    )
    followers = [RateFollower(family, config) for _ in range(4)]
    bank = FollowerBank(family, 4, config)
    clock = [0.0] * 4
    batch: list[tuple[int, float, float]] = []
    for k, (sender, step_s, target) in enumerate(updates):
        clock[sender] += step_s
        batch.append((sender, clock[sender], target))
        if k % 3 == 2 or k == len(updates) - 1:  # apply in batches of three
            who = np.array([b[0] for b in batch], dtype=np.int64)
            bank.update(who, np.array([b[1] for b in batch]), np.array([b[2] for b in batch]))
            chosen = {s: followers[s].update(now, t).point for s, now, t in batch}
            for s, point in chosen.items():
                assert bank.index[s] == family.points.index(point)
            batch = []
