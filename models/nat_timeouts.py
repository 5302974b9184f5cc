"""Named NAT presets (behaviour and binding timeouts) with the source of every number.

Each preset is a ``NatConfig`` for ``voipbed.models.nat.Nat`` and the source of
its numbers. Where a measured figure could not be found in a source that can
be checked, the preset says so and uses the RFC minimum instead of a guess.

Sources:

- Linux netfilter defaults, the kernel's
  ``Documentation/networking/nf_conntrack-sysctl.rst``:
  ``nf_conntrack_udp_timeout`` 30 s (a UDP entry that has seen no reply),
  ``nf_conntrack_udp_timeout_stream`` 120 s ("used in case there is an UDP
  stream detected"; older kernels had 180 s), ``nf_conntrack_tcp_timeout_established``
  432000 s (5 days), ``nf_conntrack_tcp_timeout_syn_sent``, ``_fin_wait`` and
  ``_time_wait`` 120 s. Conntrack refreshes an entry on packets of either
  direction, and admits inbound packets only on the exact reply tuple
  (address-and-port-dependent filtering); MASQUERADE keeps the source port
  when the resulting tuple is unique, so one internal endpoint keeps its
  external port towards every remote (endpoint-independent mapping) unless
  ports collide. The emulation's NAT namespace runs this NAT.
- Hätönen, Nyrhinen, Eggert, Strowes, Sarolahti, Kojo, "An Experimental Study
  of Home Gateway Characteristics", ACM IMC 2010: 34 home gateways; UDP
  binding timeout after a single outbound packet as short as 30 s (the
  authors' IMC 2010 talk, slide "UDP Binding Timeouts": "min = 30 sec", almost
  all below the IETF recommendation). RFC 9308 (QUIC applicability) section
  3.2 summarises the study the same way: UDP applications should assume a NAT
  binding expires after 30 s of inactivity. The median and spread of the
  study's figure were not found in a checkable text; the typical home gateway
  preset uses the RFC 4787 minimum (120 s) instead.
- Wang, Qian, Xu, Mao, Zhang, "An Untold Story of Middleboxes in Cellular
  Networks", ACM SIGCOMM 2011: NAT boxes and firewalls of cellular carriers
  time out idle TCP connections (abstract). The per-carrier TCP idle timeouts
  of the paper's tables were not found in a checkable text; the cellular CGN
  presets use the RFC 5382 minimum (2 h 4 min) for established TCP.
- Richter et al., "A Multi-perspective Analysis of Carrier-Grade NAT
  Deployment", ACM IMC 2016: CGN detection and properties from Netalyzr and
  the BitTorrent DHT. Its mapping-timeout figures were not found in a
  checkable text; the cellular CGN presets use the RFC 4787 minimum (120 s)
  for UDP.

The mapping and filtering of the CGN presets are scenario choices, not
measurements: ``CGN_SYMMETRIC`` is the address-and-port-dependent NAT that
leaves ICE only relayed pairs, ``CGN_CONE`` the endpoint-independent one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from voipbed.models.nat import (
    TCP_ESTABLISHED_MIN_TIMEOUT_S,
    TCP_TRANSITORY_MIN_TIMEOUT_S,
    UDP_MIN_TIMEOUT_S,
    FilteringBehaviour,
    MappingBehaviour,
    NatConfig,
)

__all__ = [
    "CGN_CONE",
    "CGN_SYMMETRIC",
    "HOME_GATEWAY_SHORTEST",
    "HOME_GATEWAY_TYPICAL",
    "LINUX_NETFILTER",
    "LINUX_NETFILTER_OLD_STREAM",
    "PRESETS",
    "RFC_COMPLIANT",
    "NatPreset",
]

NF_UDP_TIMEOUT_S = 30.0  # nf_conntrack-sysctl.rst: nf_conntrack_udp_timeout default 30
NF_UDP_STREAM_TIMEOUT_S = 120.0  # nf_conntrack-sysctl.rst: nf_conntrack_udp_timeout_stream 120
NF_UDP_STREAM_TIMEOUT_OLD_S = 180.0  # the same sysctl's default in older kernels
NF_TCP_ESTABLISHED_S = 432_000.0  # nf_conntrack-sysctl.rst: tcp_timeout_established 5 days
NF_TCP_TRANSITORY_S = 120.0  # nf_conntrack-sysctl.rst: tcp_timeout_syn_sent/fin_wait/time_wait
HOME_GATEWAY_MIN_UDP_S = 30.0  # Hätönen et al. IMC 2010: shortest UDP binding timeout, 30 s


@dataclass(frozen=True)
class NatPreset:
    """A named NAT behaviour and where its numbers come from."""

    name: str
    config: NatConfig
    source: str


RFC_COMPLIANT = NatPreset(
    "rfc_compliant",
    NatConfig(),
    "RFC 4787 (REQ-1, REQ-2, REQ-5 recommended 5 min, REQ-8) and RFC 5382 REQ-5 minimums",
)

LINUX_NETFILTER = NatPreset(
    "linux_netfilter",
    NatConfig(
        mapping=MappingBehaviour.ENDPOINT_INDEPENDENT,
        filtering=FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        port_preservation=True,
        udp_timeout_s=NF_UDP_STREAM_TIMEOUT_S,
        udp_initial_timeout_s=NF_UDP_TIMEOUT_S,
        tcp_established_timeout_s=NF_TCP_ESTABLISHED_S,
        tcp_transitory_timeout_s=NF_TCP_TRANSITORY_S,
        inbound_refresh=True,
    ),
    "Linux Documentation/networking/nf_conntrack-sysctl.rst defaults",
)

LINUX_NETFILTER_OLD_STREAM = NatPreset(
    "linux_netfilter_old_stream",
    NatConfig(
        mapping=MappingBehaviour.ENDPOINT_INDEPENDENT,
        filtering=FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        port_preservation=True,
        udp_timeout_s=NF_UDP_STREAM_TIMEOUT_OLD_S,
        udp_initial_timeout_s=NF_UDP_TIMEOUT_S,
        tcp_established_timeout_s=NF_TCP_ESTABLISHED_S,
        tcp_transitory_timeout_s=NF_TCP_TRANSITORY_S,
        inbound_refresh=True,
    ),
    "Linux netfilter defaults with the older 180 s nf_conntrack_udp_timeout_stream",
)

HOME_GATEWAY_SHORTEST = NatPreset(
    "home_gateway_shortest",
    NatConfig(udp_timeout_s=HOME_GATEWAY_MIN_UDP_S),
    "Hätönen et al., IMC 2010: shortest measured UDP binding timeout (30 s); "
    "mapping and filtering: the RFC 4787 defaults of NatConfig",
)

HOME_GATEWAY_TYPICAL = NatPreset(
    "home_gateway_typical",
    NatConfig(udp_timeout_s=UDP_MIN_TIMEOUT_S),
    "Hätönen et al., IMC 2010 median not found in a checkable text: RFC 4787 REQ-5 minimum; "
    "mapping and filtering: the RFC 4787 defaults of NatConfig",
)

CGN_CONE = NatPreset(
    "cgn_cone",
    NatConfig(
        mapping=MappingBehaviour.ENDPOINT_INDEPENDENT,
        filtering=FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        external_addresses=("198.51.100.1", "198.51.100.2"),
        udp_timeout_s=UDP_MIN_TIMEOUT_S,
        tcp_established_timeout_s=TCP_ESTABLISHED_MIN_TIMEOUT_S,
        tcp_transitory_timeout_s=TCP_TRANSITORY_MIN_TIMEOUT_S,
    ),
    "Wang et al. SIGCOMM 2011 and Richter et al. IMC 2016 timeouts not found in a "
    "checkable text: RFC 4787 REQ-5 and RFC 5382 REQ-5 minimums",
)

CGN_SYMMETRIC = NatPreset(
    "cgn_symmetric",
    NatConfig(
        mapping=MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        filtering=FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT,
        port_preservation=False,
        external_addresses=("198.51.100.1", "198.51.100.2"),
        udp_timeout_s=UDP_MIN_TIMEOUT_S,
        tcp_established_timeout_s=TCP_ESTABLISHED_MIN_TIMEOUT_S,
        tcp_transitory_timeout_s=TCP_TRANSITORY_MIN_TIMEOUT_S,
    ),
    "address-and-port-dependent mapping and filtering (scenario choice); timeouts: "
    "RFC 4787 REQ-5 and RFC 5382 REQ-5 minimums",
)

PRESETS: Mapping[str, NatPreset] = MappingProxyType(
    {
        preset.name: preset
        for preset in (
            RFC_COMPLIANT,
            LINUX_NETFILTER,
            LINUX_NETFILTER_OLD_STREAM,
            HOME_GATEWAY_SHORTEST,
            HOME_GATEWAY_TYPICAL,
            CGN_CONE,
            CGN_SYMMETRIC,
        )
    }
)
