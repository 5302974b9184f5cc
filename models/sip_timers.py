"""SIP timer values: T1, T2, T4 and the transaction timers derived from them (RFC 3261 Table 4).

``SipTimers`` holds the three base values, configurable, with the RFC's defaults, and
derives every transaction timer from them as RFC 3261 Appendix A (Table 4) does, plus
Timers L and M of RFC 6026 (the INVITE transactions' Accepted state). Timers that
exist only to absorb retransmissions (D, I, J, K) are zero over a reliable transport
(TCP, TLS); the retransmission timers A, E and G are then not started at all (RFC 3261
17.1.1.2, 17.1.2.2, 17.2.1), which the transaction machines decide from their
``reliable`` flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SipTimers"]

TIMER_D_UNRELIABLE_S = 32.0  # RFC 3261 Table 4: Timer D "> 32s for UDP"; 17.1.1.2: at least 32 s


@dataclass(frozen=True)
class SipTimers:
    """T1, T2 and T4 (seconds) and the timers derived from them.

    - ``t1_s`` 0.5: RTT estimate (RFC 3261 17.1.1.1 and Table 4: 500 ms default).
    - ``t2_s`` 4.0: the longest retransmit interval of non-INVITE requests and INVITE
      responses (RFC 3261 17.1.2.2 and Table 4: 4 s).
    - ``t4_s`` 5.0: the longest time a message stays in the network (RFC 3261
      17.1.2.2 and Table 4: 5 s).
    - ``timer_d_unreliable_s`` 32.0: Timer D over UDP (Table 4: "> 32s for UDP").
    """

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    timer_d_unreliable_s: float = TIMER_D_UNRELIABLE_S

    def __post_init__(self) -> None:
        for name in ("t1_s", "t2_s", "t4_s", "timer_d_unreliable_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if self.t1_s <= 0.0:
            raise ValueError(f"t1_s must be > 0, got {self.t1_s}")
        if self.t2_s < self.t1_s:
            raise ValueError(f"t2_s ({self.t2_s}) must be >= t1_s ({self.t1_s})")

    @property
    def a_s(self) -> float:
        """Timer A, the first INVITE retransmit interval: T1 (Table 4; 17.1.1.2)."""
        return self.t1_s

    @property
    def b_s(self) -> float:
        """Timer B, INVITE transaction timeout: 64*T1 (Table 4; 17.1.1.2)."""
        return 64.0 * self.t1_s

    def d_s(self, reliable: bool) -> float:
        """Timer D, wait for response retransmissions: 32 s over UDP, 0 over TCP/TLS (Table 4)."""
        return 0.0 if reliable else self.timer_d_unreliable_s

    @property
    def e_s(self) -> float:
        """Timer E, the first non-INVITE retransmit interval: T1 (Table 4; 17.1.2.2)."""
        return self.t1_s

    @property
    def f_s(self) -> float:
        """Timer F, non-INVITE transaction timeout: 64*T1 (Table 4; 17.1.2.2)."""
        return 64.0 * self.t1_s

    @property
    def g_s(self) -> float:
        """Timer G, the first INVITE response retransmit interval: T1 (Table 4; 17.2.1)."""
        return self.t1_s

    @property
    def h_s(self) -> float:
        """Timer H, wait time for ACK receipt: 64*T1 (Table 4; 17.2.1)."""
        return 64.0 * self.t1_s

    def i_s(self, reliable: bool) -> float:
        """Timer I, wait for ACK retransmits: T4 over UDP, 0 over TCP/TLS (Table 4; 17.2.1)."""
        return 0.0 if reliable else self.t4_s

    def j_s(self, reliable: bool) -> float:
        """Timer J, wait for non-INVITE request retransmits: 64*T1 over UDP, 0 over
        TCP/TLS (Table 4; 17.2.2)."""
        return 0.0 if reliable else 64.0 * self.t1_s

    def k_s(self, reliable: bool) -> float:
        """Timer K, wait for response retransmits: T4 over UDP, 0 over TCP/TLS (Table 4;
        17.1.2.2)."""
        return 0.0 if reliable else self.t4_s

    @property
    def l_s(self) -> float:
        """Timer L, INVITE server transaction in Accepted: 64*T1 (RFC 6026 section 7, Table 4)."""
        return 64.0 * self.t1_s

    @property
    def m_s(self) -> float:
        """Timer M, INVITE client transaction in Accepted: 64*T1 (RFC 6026 section 7, Table 4)."""
        return 64.0 * self.t1_s
