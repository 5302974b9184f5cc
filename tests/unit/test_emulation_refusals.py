"""What the emulation refuses of the signalling the simulator models on its own."""

from __future__ import annotations

import pytest

from voipbed.emulation.engine import unsupported
from voipbed.loader import parse_scenario

BASE = "name: e\nduration: 10s\ncalls: {count: 1}\npath: [{name: radio, one_way_delay: 10ms}]\n"


@pytest.mark.parametrize(
    "signalling",
    [
        "{setup: true, ice: {}}",
        "{setup: true, dns: {}}",
        "{setup: true, fallback: {transports: [tcp]}}",
    ],
)
def test_ice_dns_and_fallbacks_are_refused_by_name(signalling: str) -> None:
    """ICE, DNS and fallbacks are simulated only: the emulation names the key it refuses."""
    scenario = parse_scenario(BASE + f"signalling: {signalling}\n", "e.yaml")
    key = signalling.split(",")[1].split(":")[0].strip()
    assert any(f"signalling.{key}" in problem for problem in unsupported(scenario))


def test_plain_setup_is_not_refused_for_its_signalling() -> None:
    """A scenario without them raises no signalling refusal."""
    scenario = parse_scenario(BASE + "signalling: {setup: true}\n", "e.yaml")
    assert not any("signalling." in problem for problem in unsupported(scenario))
