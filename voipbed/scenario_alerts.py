"""The scenario's ``alerts`` section: the thresholds of a run's alerts (``voipbed.alerts``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator, Field

from voipbed.schema_types import Duration, Ratio, Section, ShortForm

__all__ = ["AlertSettings", "EchoRisk"]


class EchoRisk(StrEnum):
    """Which ITU-T G.131 talker echo tolerance raises ``echo_risk`` (``models.echo_tolerance``)."""

    ACCEPTABLE = "acceptable"  # G.131's acceptable curve: 1 % of users complain of the echo
    LIMITING = "limiting"  # G.131's limiting case: 10 % complain
    OFF = "off"  # no echo_risk alerts


def _off_as_word(value: object) -> object:
    """YAML 1.1 reads a plain ``off`` (or ``no``, ``false``) as False: it means ``off``."""
    return EchoRisk.OFF.value if value is False else value


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
    echo_risk: Annotated[
        EchoRisk,
        BeforeValidator(_off_as_word),
        ShortForm({"const": False}, "A plain off, which YAML 1.1 reads as false: off."),
    ] = Field(
        EchoRisk.ACCEPTABLE,
        description=(
            "Talker echo delayed past ITU-T G.131's tolerance for the E-model's TELR: "
            "'acceptable' (G.131: 1% of users complain; generally acceptable), 'limiting' "
            "(10% complain; only exceptionally) or 'off'. The delay limits are derived from "
            "the G.107 E-model's talker echo impairment (models.echo_tolerance)."
        ),
    )
