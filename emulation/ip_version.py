"""What of an IPv6 scenario (``calls.ip_version: 6``) the emulation cannot run, and why.

Baresip calls run over IPv6 end to end: the topology gives every host an address of the
run's unique local prefix (``topology.ula_subnet``), Kamailio listens and record-routes on
the SIP core's, baresip registers, calls and sends its media (SDP ``c=IN IP6``) on its
host's, and the userspace links carry the IPv6 frames through the models, counting the
40-byte header as the simulator does (``models.overhead``); SIP over UDP, TCP or TLS and
DTMF work as over IPv4. The light calls beyond the baresip calls do too: their agents
(``light_agent``) send SIP over UDP and RTP from IPv6 sockets, each call on its own
address of the prefix; and so do the GCC endpoints of rate-controlled calls, counting the
IPv6 header in the rates they send (``gcc_io.ip_udp_bytes``); and the SIP load's SIPp,
whose scenarios name the registrar by SIPp's ``[remote_ip]`` (bracketed for IPv6). The
idle phones and their NAT are not emulated over IPv6, and are refused with the reason.
"""

from __future__ import annotations

from voipbed.scenario import Scenario

__all__ = ["ip_version_problems"]


def ip_version_problems(scenario: Scenario) -> list[str]:
    """Why the emulation cannot run ``scenario`` at its IP version (empty when it can)."""
    if scenario.calls.ip_version == 4:
        return []
    problems = []
    if scenario.signalling.phones is not None:
        problems.append(
            "calls.ip_version 6: the idle phones (signalling.phones) sit behind the "
            "emulated NAT, which is NAT44 (nftables masquerade on IPv4); there is no NAT66 "
            "to put IPv6 phones behind, and their agent sends from IPv4 sockets"
        )
    return problems
