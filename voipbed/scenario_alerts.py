"""The scenario's ``alerts`` section: the thresholds of a run's alerts (``voipbed.alerts``)."""

from __future__ import annotations

from pydantic import Field

from voipbed.schema_types import Duration, Ratio, Section

__all__ = ["AlertSettings"]


class AlertSettings(Section):
    """When a run raises an alert; each alert is an ``alert`` event with its evidence."""

    one_way_audio_s: Duration = Field(
        3.0,
        alias="one_way_audio",
        gt=0,
        description=(
            "A direction receiving nothing this long while the other keeps flowing, a "
            "duration; 3 s: the project's choice (no standard sets one), above the pauses "
            "of DTX comfort noise, which still sends a frame every 160 ms (RFC 3389)."
        ),
    )
    media_gap_s: Duration = Field(
        1.0,
        alias="media_gap",
        gt=0,
        description=(
            "A direction receiving nothing this long mid-call, a duration (the project's choice)."
        ),
    )
    mos_below: float = Field(
        3.1,
        ge=1.0,
        le=5.0,
        description=(
            "A 2 s window's MOS under this; 3.1 is R = 60, below which nearly all users are "
            "dissatisfied (ITU-T G.107 Table B.1, G.109)."
        ),
    )
    loss_burst: Ratio = Field(
        0.10,
        gt=0,
        le=1,
        description=(
            "A 2 s window's packet loss seen by the decoder (network and late), a ratio "
            "(10%: the project's choice)."
        ),
    )
