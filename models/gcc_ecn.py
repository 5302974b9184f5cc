"""ECN for GCC: CE marks in feedback as a congestion signal.

GCC (draft-ietf-rmcat-gcc-02) reads only delay and loss. This controller
adds the CE counts a receiver reports (RFC 8888 feedback carries each
packet's ECN field) and answers them one of two ways:

- **classic** (the default): a report with at least one mark scales the
  sender's rate by ``classic_beta`` = 0.8, at most once per RTT: RFC 8511's
  Alternative Backoff with ECN (section 3: beta_ecn 0.8 instead of the loss
  response), the answer RFC 3168 asks of a sender behind a classic AQM, which
  marks where it would otherwise drop (CoDel, RFC 8289; PIE, RFC 8033: the
  queues voipbed models);
- **scalable** (``classic_beta`` None): DCTCP's rule (RFC 8257 section 3.3),
  which RFC 9331 section 4.3 asks of L4S senders and SCReAMv2
  (draft-johansson-ccwg-rfc8298bis-screamv2) applies to media: per report
  the CE fraction F = marked / received updates alpha = (1 - g) alpha + g F,
  g = 1/16, alpha starting at 1, and a report with a mark scales the rate by
  (1 - alpha / 2), at most once per RTT. It suits an AQM that marks at a
  shallow threshold (L4S); behind a classic AQM its sparse marks keep alpha
  small and the queue standing.

A report with marks never lets the rate grow. On a path that never marks,
nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["EcnConfig", "EcnController", "EcnResponse"]


@dataclass(frozen=True)
class EcnConfig:
    """Tunables; the source of each default is in its comment."""

    classic_beta: float | None = 0.8  # RFC 8511 section 3: beta_ecn; None: scalable (DCTCP)
    gain: float = 1.0 / 16.0  # RFC 8257 section 3.3: g = 1/16
    initial_alpha: float = 1.0  # RFC 8257 section 3.3: alpha starts at 1 (conservative)
    default_rtt_s: float = 0.2  # libwebrtc AimdRateControl kDefaultRtt, until one is known

    def __post_init__(self) -> None:
        if not 0.0 < self.gain <= 1.0:
            raise ValueError("ECN gain must be in (0, 1]")
        if not 0.0 <= self.initial_alpha <= 1.0:
            raise ValueError("initial alpha must be in [0, 1]")
        if self.default_rtt_s < 0.0:
            raise ValueError("default RTT must not be negative")
        if self.classic_beta is not None and not 0.0 < self.classic_beta < 1.0:
            raise ValueError("classic ECN back-off must be in (0, 1)")

    @staticmethod
    def scalable() -> EcnConfig:
        """DCTCP's response (RFC 8257 section 3.3), for an AQM that marks at a shallow
        threshold (L4S, RFC 9331)."""
        return EcnConfig(classic_beta=None)


class EcnResponse(NamedTuple):
    """What one report asks of the sender: ``factor`` scales its rate; ``congested``: marks seen."""

    factor: float
    alpha: float
    congested: bool


class EcnController:
    """The CE-mark average and the once-per-RTT multiplicative back-off."""

    def __init__(self, config: EcnConfig | None = None) -> None:
        self.config = config or EcnConfig()
        self._alpha = self.config.initial_alpha
        self._last_reduction_s = -math.inf

    @property
    def alpha(self) -> float:
        """The smoothed CE fraction."""
        return self._alpha

    def update(
        self, now_s: float, received: int, ce_marked: int, rtt_s: float | None = None
    ) -> EcnResponse:
        """Take one report's counts (packets received, of which CE-marked)."""
        if received < 0 or not 0 <= ce_marked <= max(received, 0):
            raise ValueError("CE-marked count must be within [0, received]")
        if received == 0:
            return EcnResponse(1.0, self._alpha, False)
        gain = self.config.gain
        self._alpha = (1.0 - gain) * self._alpha + gain * (ce_marked / received)
        if ce_marked == 0:
            return EcnResponse(1.0, self._alpha, False)
        rtt = self.config.default_rtt_s if rtt_s is None else rtt_s
        if now_s - self._last_reduction_s < rtt:
            return EcnResponse(1.0, self._alpha, True)
        self._last_reduction_s = now_s
        beta = self.config.classic_beta
        factor = 1.0 - self._alpha / 2.0 if beta is None else beta
        return EcnResponse(factor, self._alpha, True)
