"""The scenario's ``dtmf`` section: digits each caller sends as RFC 4733 telephone events."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from voipbed.models.dtmf import DIGITS, DtmfConfig, Receiver
from voipbed.schema_types import Duration, Section

__all__ = ["MAX_DIGITS", "MAX_RUN_PACKETS", "Dtmf"]

MAX_DIGITS = 100
"""Digits per call: an IVR menu and a PIN or card number fit many times over."""

MAX_TONE_S = 65535 / 8000
"""An event's duration field is 16 bits of 8 kHz ticks (RFC 4733 clauses 2.3.5, 2.5.1.5)."""
MIN_INTERVAL_S = 0.005
"""Closer packets than this would be a mistake (a real sender follows its 10-60 ms ptime)."""
MAX_RUN_PACKETS = 1_000_000
"""Telephone-event packets of a run, all calls together: bounds what the path carries."""

_DEFAULTS = DtmfConfig()
_DIGITS_PATTERN = "^[" + DIGITS.replace("*", "\\*") + "abcd]+$"  # the JSON Schema's


def _dtmf_digits(digits: str) -> str:
    wrong = sorted({d for d in digits if d.upper() not in DIGITS})
    if wrong:
        raise PydanticCustomError(
            "value_error", f"{wrong} are not DTMF digits (0-9, *, #, A-D: RFC 4733 clause 3.2)"
        )
    return digits.upper()


DtmfDigits = Annotated[
    str,
    AfterValidator(_dtmf_digits),
    WithJsonSchema({"type": "string", "pattern": _DIGITS_PATTERN, "maxLength": MAX_DIGITS}),
]


class Dtmf(Section):
    """DTMF digits each call's caller sends on its uplink flow (RFC 4733 telephone events)."""

    digits: DtmfDigits = Field(
        min_length=1,
        max_length=MAX_DIGITS,
        description="The digits each caller sends, in order: 0-9, *, #, A-D (RFC 4733 3.2).",
    )
    start_s: Duration = Field(
        1.0,
        alias="start",
        description="When the first digit starts, a duration after the call's media start.",
    )
    tone_s: Duration = Field(
        _DEFAULTS.tone_s,
        alias="tone",
        description=(
            "Each digit's duration, a duration > 0; 100 ms is above ITU-T Q.24's 40 ms "
            "minimum (an assumption: set your UA's)."
        ),
    )
    gap_s: Duration = Field(
        _DEFAULTS.gap_s,
        alias="gap",
        description="Silence between digits, a duration; 60 ms is above ITU-T Q.24's 40 ms.",
    )
    interval_s: Duration = Field(
        _DEFAULTS.interval_s,
        alias="interval",
        description=(
            "Between a digit's packets, a duration > 0 (RFC 4733 2.5.1.2 leaves it to the "
            "sender); 20 ms: one per audio packet, as baresip sends them."
        ),
    )
    receiver: Receiver = Field(
        Receiver.RFC4733,
        description=(
            "How the far end tells events apart: rfc4733 (by RTP timestamp, RFC 4733 2.5.2) "
            "or event_code (by the last code seen, as baresip's libre does)."
        ),
    )

    @model_validator(mode="after")
    def _schedule_fits(self) -> Dtmf:
        if self.tone_s > MAX_TONE_S:
            raise ValueError(
                f"tone is at most {MAX_TONE_S * 1e3:g} ms: the longest one event's 16-bit "
                "duration holds at 8 kHz (RFC 4733 clause 2.5.1.5 splits longer ones)"
            )
        if self.interval_s < MIN_INTERVAL_S:
            raise ValueError(f"interval is at least {MIN_INTERVAL_S * 1e3:g} ms")
        self.config()  # the model's own checks (ValueError, at this section)
        return self

    def packets_per_call(self) -> int:
        """Telephone-event packets each caller sends (if its call lasts)."""
        return len(self.digits) * self.config().slots

    def config(self) -> DtmfConfig:
        """The sender's settings as the model takes them."""
        return DtmfConfig(tone_s=self.tone_s, gap_s=self.gap_s, interval_s=self.interval_s)
