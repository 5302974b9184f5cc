"""NAT model: RFC 4787 mapping, filtering and lifetime behaviours, keep-alives, presets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voipbed.models.nat import (
    FilteringBehaviour,
    KeepAliveBinding,
    MappingBehaviour,
    Nat,
    NatConfig,
    Pooling,
    Transport,
    binding_alive,
)
from voipbed.models.nat_timeouts import LINUX_NETFILTER, PRESETS

UDP, TCP = Transport.UDP, Transport.TCP
PHONE = ("10.0.0.2", 5060)
SERVER = ("192.0.2.10", 5060)
OTHER = ("192.0.2.20", 5060)
EIM = MappingBehaviour.ENDPOINT_INDEPENDENT
ADM = MappingBehaviour.ADDRESS_DEPENDENT
APDM = MappingBehaviour.ADDRESS_AND_PORT_DEPENDENT
EIF = FilteringBehaviour.ENDPOINT_INDEPENDENT
ADF = FilteringBehaviour.ADDRESS_DEPENDENT
APDF = FilteringBehaviour.ADDRESS_AND_PORT_DEPENDENT


def _nat(**kwargs: object) -> Nat:
    return Nat(NatConfig(**kwargs))


def test_eim_reuses_the_mapping_for_a_new_remote() -> None:
    """Endpoint-independent mapping gives one external endpoint to every remote."""
    nat = _nat(mapping=EIM)
    assert nat.outbound(0.0, UDP, PHONE, SERVER) == nat.outbound(1.0, UDP, PHONE, OTHER)


def test_apdm_makes_a_new_mapping_per_remote_endpoint() -> None:
    """Address-and-port-dependent mapping gives another external endpoint to another port."""
    nat = _nat(mapping=APDM)
    first = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.outbound(1.0, UDP, PHONE, (SERVER[0], 3478)) != first
    assert nat.outbound(2.0, UDP, PHONE, SERVER) == first


def test_adm_shares_a_mapping_per_remote_address() -> None:
    """Address-dependent mapping shares one external endpoint among ports of one address."""
    nat = _nat(mapping=ADM)
    first = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.outbound(1.0, UDP, PHONE, (SERVER[0], 3478)) == first
    assert nat.outbound(2.0, UDP, PHONE, OTHER) != first


def test_eif_accepts_from_any_remote() -> None:
    """Endpoint-independent filtering admits a remote never contacted."""
    nat = _nat(filtering=EIF)
    external = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.inbound(1.0, UDP, ("198.51.100.7", 9), external) == PHONE


def test_adf_accepts_only_contacted_addresses() -> None:
    """Address-dependent filtering admits any port of a contacted address, no other address."""
    nat = _nat(filtering=ADF)
    external = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.inbound(1.0, UDP, (SERVER[0], 9999), external) == PHONE
    assert nat.inbound(1.0, UDP, OTHER, external) is None


def test_apdf_accepts_only_the_contacted_address_and_port() -> None:
    """Address-and-port-dependent filtering admits only the exact endpoint contacted."""
    nat = _nat(filtering=APDF)
    external = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.inbound(1.0, UDP, SERVER, external) == PHONE
    assert nat.inbound(1.0, UDP, (SERVER[0], 9999), external) is None
    assert nat.inbound(1.0, UDP, OTHER, external) is None


def test_inbound_without_a_binding_is_dropped() -> None:
    """A packet to an external endpoint no binding holds is dropped."""
    nat = _nat()
    assert nat.inbound(0.0, UDP, SERVER, ("203.0.113.1", 40000)) is None


def test_binding_expires_exactly_at_the_timeout() -> None:
    """Refreshed at t0, the binding still admits at t0 + timeout and not after."""
    nat = _nat(udp_timeout_s=30.0)
    external = nat.outbound(10.0, UDP, PHONE, SERVER)
    assert nat.expires_s(UDP, external) == 40.0
    assert nat.inbound(40.0, UDP, SERVER, external) == PHONE
    assert nat.inbound(40.001, UDP, SERVER, external) is None


def test_outbound_refresh_keeps_the_binding() -> None:
    """An outbound packet restarts the idle timer (RFC 4787 REQ-6)."""
    nat = _nat(udp_timeout_s=30.0)
    external = nat.outbound(0.0, UDP, PHONE, SERVER)
    nat.outbound(25.0, UDP, PHONE, SERVER)
    assert nat.inbound(54.0, UDP, SERVER, external) == PHONE


def test_inbound_refreshes_only_when_configured() -> None:
    """Inbound packets restart the timer only with inbound_refresh."""
    for inbound_refresh, expected in ((False, None), (True, PHONE)):
        nat = _nat(udp_timeout_s=30.0, inbound_refresh=inbound_refresh)
        external = nat.outbound(0.0, UDP, PHONE, SERVER)
        assert nat.inbound(20.0, UDP, SERVER, external) == PHONE
        assert nat.inbound(45.0, UDP, SERVER, external) == expected


def test_apdf_session_lapses_on_its_own() -> None:
    """Under APDF, the permission for a remote not refreshed lapses while the mapping lives."""
    nat = _nat(filtering=APDF, udp_timeout_s=30.0)
    external = nat.outbound(0.0, UDP, PHONE, OTHER)
    nat.outbound(20.0, UDP, PHONE, SERVER)
    assert nat.inbound(40.0, UDP, SERVER, external) == PHONE
    assert nat.inbound(40.0, UDP, OTHER, external) is None


def test_expired_mapping_is_recreated_by_the_next_outbound() -> None:
    """After expiry an outbound packet creates a fresh binding that admits again."""
    nat = _nat(udp_timeout_s=30.0, port_preservation=False)
    first = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.inbound(31.0, UDP, SERVER, first) is None
    second = nat.outbound(32.0, UDP, PHONE, SERVER)
    assert nat.inbound(33.0, UDP, SERVER, second) == PHONE


def test_port_preservation_and_sequential_allocation() -> None:
    """The internal port is kept when free; otherwise ports come in order from the range."""
    nat = _nat(mapping=APDM, port_range=(2000, 2010))
    assert nat.outbound(0.0, UDP, ("10.0.0.2", 2005), SERVER) == ("203.0.113.1", 2005)
    assert nat.outbound(0.0, UDP, ("10.0.0.2", 2005), OTHER) == ("203.0.113.1", 2000)
    assert nat.outbound(0.0, UDP, ("10.0.0.3", 2005), OTHER) == ("203.0.113.1", 2001)


def test_random_allocation_is_reproducible_with_a_seeded_generator() -> None:
    """Random port allocation depends only on the Generator's seed."""
    ports = []
    for _ in range(2):
        nat = Nat(NatConfig(port_preservation=False), rng=np.random.default_rng(7))
        ports.append([nat.outbound(0.0, UDP, ("10.0.0.2", p), SERVER)[1] for p in range(5)])
    assert ports[0] == ports[1]
    assert len(set(ports[0])) == 5


def test_paired_pooling_keeps_one_external_address_per_internal_address() -> None:
    """Paired pooling maps every session of one host to one external address."""
    config = NatConfig(external_addresses=("a", "b"), mapping=APDM, pooling=Pooling.PAIRED)
    nat = Nat(config)
    first = nat.outbound(0.0, UDP, ("10.0.0.2", 1), SERVER)[0]
    assert nat.outbound(0.0, UDP, ("10.0.0.2", 1), OTHER)[0] == first
    assert nat.outbound(0.0, UDP, ("10.0.0.3", 1), OTHER)[0] != first


def test_tcp_transitory_and_established_timeouts() -> None:
    """TCP bindings live 4 min while transitory and 2 h 4 min once established (RFC 5382)."""
    nat = _nat()
    external = nat.outbound(0.0, TCP, PHONE, SERVER, transitory=True)
    assert nat.inbound(240.0, TCP, SERVER, external) == PHONE
    assert nat.inbound(240.5, TCP, SERVER, external) is None
    external = nat.outbound(300.0, TCP, PHONE, SERVER)
    assert nat.inbound(300.0 + 7440.0, TCP, SERVER, external) == PHONE
    assert nat.inbound(300.0 + 7441.0, TCP, SERVER, external) is None


def test_netfilter_unreplied_then_stream_timeout() -> None:
    """Netfilter: 30 s until a reply passes, then 120 s; either direction refreshes."""
    nat = Nat(LINUX_NETFILTER.config)
    external = nat.outbound(0.0, UDP, PHONE, SERVER)
    assert nat.inbound(31.0, UDP, SERVER, external) is None
    external = nat.outbound(40.0, UDP, PHONE, SERVER)
    assert nat.inbound(41.0, UDP, SERVER, external) == PHONE
    assert nat.inbound(41.0 + 120.0, UDP, SERVER, external) == PHONE
    assert nat.inbound(41.0 + 240.5, UDP, SERVER, external) is None


def _replay(interval_s: float, timeout_s: float, probes: list[float]) -> list[bool]:
    nat = _nat(filtering=APDF, udp_timeout_s=timeout_s)
    events = [(t, "probe") for t in probes]
    events += [(k * interval_s, "keepalive") for k in range(int(200 / interval_s) + 1)]
    out, external = [], None
    for time_s, kind in sorted(events, key=lambda e: (e[0], e[1] == "probe")):
        if kind == "keepalive":
            external = nat.outbound(time_s, UDP, PHONE, SERVER)
        else:
            out.append(nat.inbound(time_s, UDP, SERVER, external) is not None)
    return out


def test_keepalive_every_20_s_keeps_a_30_s_binding() -> None:
    """Keep-alives every 20 s against a 30 s timeout: every incoming message gets through."""
    probes = [5.0, 19.9, 39.0, 59.99, 99.0, 150.0]
    assert _replay(20.0, 30.0, probes) == [True] * len(probes)
    assert KeepAliveBinding(0.0, 20.0, 30.0).alive_mask(probes).all()
    assert KeepAliveBinding(0.0, 20.0, 30.0).expires_s(50.0) == math.inf


def test_keepalive_every_40_s_loses_a_30_s_binding() -> None:
    """Keep-alives every 40 s: a message at t is dropped iff t - last keep-alive > 30 s."""
    probes = [10.0, 30.0, 30.5, 39.9, 45.0, 70.0, 71.0, 150.0]
    # last keep-alive at 0, 0, 0, 0, 40, 40, 40, 120; t - t0 > 30 for 30.5, 39.9, 71, no others
    expected = [True, True, False, False, True, True, False, True]
    assert _replay(40.0, 30.0, probes) == expected
    binding = KeepAliveBinding(0.0, 40.0, 30.0)
    assert binding.alive_mask(probes).tolist() == expected
    assert [binding.alive(t) for t in probes] == expected
    assert binding.expires_s(45.0) == 70.0


def test_binding_alive_with_irregular_refreshes() -> None:
    """binding_alive uses the last refresh at or before each time."""
    alive = binding_alive([-1.0, 5.0, 31.0, 70.0, 95.0], [60.0, 0.0], 30.0)
    assert alive.tolist() == [False, True, False, True, False]


def test_presets_carry_a_source() -> None:
    """Every preset names where its numbers come from."""
    assert PRESETS["linux_netfilter"].config.udp_initial_timeout_s == 30.0
    assert PRESETS["linux_netfilter"].config.tcp_established_timeout_s == 432000.0
    assert PRESETS["home_gateway_shortest"].config.udp_timeout_s == 30.0
    assert all(preset.source for preset in PRESETS.values())


def test_invalid_config_is_refused() -> None:
    """Non-positive timeouts and empty address pools raise ValueError."""
    with pytest.raises(ValueError, match="udp_timeout_s"):
        NatConfig(udp_timeout_s=0.0)
    with pytest.raises(ValueError, match="external address"):
        NatConfig(external_addresses=())
    with pytest.raises(ValueError, match="interval_s"):
        KeepAliveBinding(0.0, 0.0, 30.0)
