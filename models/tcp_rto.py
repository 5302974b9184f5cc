"""TCP retransmission timeout estimator (RFC 6298): SRTT, RTTVAR, RTO, back-off.

:class:`RtoEstimator` holds one sender's estimate. Before any sample the RTO is the initial
value, 1 s (RFC 6298 section 2.1). The first sample R sets SRTT = R and RTTVAR = R / 2
(section 2.2); each later one sets RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R| and then
SRTT = (1 - alpha) SRTT + alpha R with alpha = 1/8, beta = 1/4 (section 2.3). Either way
RTO = SRTT + max(G, K RTTVAR) with K = 4 and G the clock granularity, then the floor and the
ceiling apply (sections 2.4 and 2.5): RFC 6298 asks for a 1 s minimum, Linux uses 200 ms
(``TCP_RTO_MIN`` in include/net/tcp.h); the maximum must be at least 60 s (section 2.5),
and is Linux's ``TCP_RTO_MAX``, 120 s, by default. Linux also places its minimum
differently: it bounds the variance term, not the whole RTO (``tcp_rtt_estimator`` and
``__tcp_set_rto`` in net/ipv4/tcp_input.c), so its RTO is at least SRTT + 200 ms;
``floor_on_variance`` selects that rule. Only the floor's placement is Linux's here: the
smoothing is the RFC's.

A timeout doubles the RTO up to the ceiling (section 5.5); the next sample replaces the
backed-off value with the computed one (section 5, the note after rule 5.7). When the
SYN or SYN-ACK had to be retransmitted and no sample came from the handshake, the RTO
becomes 3 s once data flows (section 5.7; Linux ``TCP_TIMEOUT_FALLBACK``,
``tcp_init_metrics``). Callers apply Karn's algorithm (section 3): they never feed a
sample timed on a retransmitted segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RtoConfig", "RtoEstimator"]

INITIAL_RTO_S = 1.0  # RFC 6298 section 2.1
FALLBACK_RTO_S = 3.0  # RFC 6298 section 5.7, after a SYN timeout without an RTT sample
RFC_MIN_RTO_S = 1.0  # RFC 6298 section 2.4
LINUX_MIN_RTO_S = 0.2  # Linux include/net/tcp.h TCP_RTO_MIN = HZ/5
MAX_RTO_S = 120.0  # Linux TCP_RTO_MAX; RFC 6298 section 2.5 asks for at least 60 s


@dataclass(frozen=True)
class RtoConfig:
    """Parameters of the RFC 6298 estimator; the source of each default is in its comment."""

    initial_s: float = INITIAL_RTO_S
    min_s: float = RFC_MIN_RTO_S  # LINUX_MIN_RTO_S for Linux's floor
    max_s: float = MAX_RTO_S
    granularity_s: float = 0.001  # G (section 2); Linux measures RTT in microseconds
    alpha: float = 1 / 8  # RFC 6298 section 2.3
    beta: float = 1 / 4  # RFC 6298 section 2.3
    k: float = 4.0  # RFC 6298 section 2.3
    floor_on_variance: bool = False  # True: RTO = SRTT + max(G, K RTTVAR, min_s), as Linux

    def __post_init__(self) -> None:
        for name in ("initial_s", "min_s", "max_s", "granularity_s", "k"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError("alpha and beta must lie in (0, 1)")
        if self.max_s < max(self.min_s, self.initial_s):
            raise ValueError("max_s must be at least min_s and initial_s")


class RtoEstimator:
    """One sender's SRTT, RTTVAR and RTO (seconds), with back-off."""

    __slots__ = ("_config", "rto_s", "rttvar_s", "samples", "srtt_s")

    def __init__(self, config: RtoConfig | None = None) -> None:
        self._config = config or RtoConfig()
        self.srtt_s = 0.0  # meaningful once ``samples`` > 0
        self.rttvar_s = 0.0
        self.rto_s = self._config.initial_s
        self.samples = 0

    def sample(self, rtt_s: float) -> None:
        """Take one RTT measurement (section 2.2 for the first, 2.3 for the others).

        The RTO is computed afresh, which also ends any back-off (section 5, after rule 5.7).
        """
        cfg = self._config
        if self.samples == 0:
            self.srtt_s = rtt_s
            self.rttvar_s = rtt_s / 2
        else:
            self.rttvar_s = (1 - cfg.beta) * self.rttvar_s + cfg.beta * abs(self.srtt_s - rtt_s)
            self.srtt_s = (1 - cfg.alpha) * self.srtt_s + cfg.alpha * rtt_s
        self.samples += 1
        self.rto_s = self._computed()

    def _computed(self) -> float:
        cfg = self._config
        if cfg.floor_on_variance:
            rto = self.srtt_s + max(cfg.granularity_s, cfg.k * self.rttvar_s, cfg.min_s)
        else:
            rto = max(cfg.min_s, self.srtt_s + max(cfg.granularity_s, cfg.k * self.rttvar_s))
        return min(rto, cfg.max_s)

    def back_off(self) -> None:
        """Double the RTO after a timeout, up to the ceiling (section 5.5)."""
        self.rto_s = min(2 * self.rto_s, self._config.max_s)

    def fall_back(self) -> None:
        """Re-initialise the RTO to 3 s for data after a SYN timeout without a sample (5.7)."""
        if self.samples == 0:
            self.rto_s = min(FALLBACK_RTO_S, self._config.max_s)
