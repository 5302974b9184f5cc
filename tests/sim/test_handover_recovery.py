"""An ICE restart after a vertical handover, run by the ICE model on the scenario's path."""

from __future__ import annotations

import pytest

from voipbed.handover_recovery import handover_configs, resolved_handovers
from voipbed.ice_agents import ice_restart_s
from voipbed.loader import parse_scenario
from voipbed.models.handover import Recovery
from voipbed.scenario import Scenario
from voipbed.sim.engine import simulate

BASE = """
name: restart
seed: 2
duration: 30s
calls: {count: 1}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
radio:
  rrc: null
  handovers:
    schedule: [{time: 10s, kind: wifi_to_lte}]
    recovery: {mode: ice_restart}
"""
SYMMETRIC = "{mapping: address_and_port_dependent}"


def _scenario(*overrides: str) -> Scenario:
    return parse_scenario(BASE, overrides=list(overrides))


def test_the_restart_is_gathering_offer_answer_and_checks() -> None:
    """Public addresses, TURN 10 ms beyond a 30 ms path: the Allocate and its
    authenticated repeat take two 80 ms round trips, the re-INVITE 500 ms, then checks
    paced every 50 ms up to the nomination."""
    restart = ice_restart_s(_scenario())
    assert 0.160 + 0.500 < restart < 0.160 + 0.500 + 1.0
    assert handover_configs(_scenario()).recovery.duration_s == restart


def test_behind_symmetric_nats_the_restart_relays_and_takes_longer() -> None:
    """Both ends behind address-and-port-dependent NATs: the restart still connects,
    through TURN, later than between public addresses."""
    nats = (f"signalling.nat={SYMMETRIC}", f"signalling.ice={{far_end_nat: {SYMMETRIC}}}")
    assert ice_restart_s(_scenario(*nats)) > ice_restart_s(_scenario())


def test_a_restart_that_cannot_connect_leaves_the_media_broken() -> None:
    """Without TURN behind symmetric NATs no pair connects: the media stay broken, as
    with mode none, in the model's configuration and in the section handed on."""
    scenario = _scenario(
        f"signalling.nat={SYMMETRIC}",
        f"signalling.ice={{turn: false, far_end_nat: {SYMMETRIC}}}",
    )
    assert ice_restart_s(scenario) == float("inf")
    assert handover_configs(scenario).recovery.mode is Recovery.NONE
    assert resolved_handovers(scenario).recovery.mode == "none"


def test_a_given_duration_is_kept_and_the_resolved_section_agrees() -> None:
    """A scenario's own ice_restart duration is used as it is; without one, the section
    handed to another process carries the modelled duration."""
    given = _scenario("radio.handovers.recovery.ice_restart=2s")
    assert handover_configs(given).recovery.duration_s == 2.0
    scenario = _scenario()
    resolved = resolved_handovers(scenario)
    assert resolved.recovery.ice_restart_s == pytest.approx(ice_restart_s(scenario))
    assert resolved.configs() == handover_configs(scenario)


def test_the_simulated_breakage_lasts_the_modelled_restart() -> None:
    """The media are lost from the handover for its interruption (beacon loss and LTE
    set-up) and the modelled restart, 20 ms packets in each direction."""
    scenario = _scenario()
    packets = simulate(scenario).packets.to_pandas()
    lost = packets[packets["drop_reason"] == "handover"]
    broken_s = 7 * 0.1024 + 0.100 + ice_restart_s(scenario)
    per_direction = lost.groupby("direction", observed=True).size()
    assert per_direction.tolist() == pytest.approx([broken_s / 0.020] * 2, abs=2)
