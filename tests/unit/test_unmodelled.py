"""The scenario settings the simulator ignores are named, and only those set away from default."""

from __future__ import annotations

import pytest

from voipbed.loader import parse_scenario
from voipbed.sim.unmodelled import (
    UNMODELLED,
    WITHOUT_SETUP,
    ignored_keys,
    sweep_warnings,
    unmodelled_settings,
)

BASE = "name: plain\n"


def test_default_scenario_has_no_warning() -> None:
    """Nothing set away from its default: nothing to warn about."""
    assert unmodelled_settings(parse_scenario(BASE)) == []


def test_default_value_written_out_has_no_warning() -> None:
    """Writing the default transport (udp) changes nothing, so it is not warned about."""
    assert unmodelled_settings(parse_scenario(BASE + "signalling: {transport: udp}\n")) == []


def test_sip_transport_is_named_with_its_value() -> None:
    """A TCP transport gives one sentence naming signalling.transport and its value."""
    (warning,) = unmodelled_settings(parse_scenario(BASE + "signalling: {transport: tcp}\n"))
    assert warning.startswith("signalling.transport is set to tcp")
    assert "emulation" in warning


def test_sip_load_is_named() -> None:
    """SIP load beside the calls is named too, after the transport."""
    scenario = parse_scenario(
        BASE + "signalling: {transport: tls, load: {calls: 10, calls_per_second: 5}}\n"
    )
    warnings = unmodelled_settings(scenario)
    assert [w.split(" ", 1)[0] for w in warnings] == ["signalling.transport", "signalling.load"]


@pytest.mark.parametrize(
    ("key", "ignored"),
    [
        ("signalling.transport", True),
        ("signalling.load.calls", True),
        ("signalling.timers.t1", True),  # inside an ignored section
        ("signalling", False),  # holds setup, which the simulator models
        ("calls.codec", False),
        ("calls", False),
        ("path[0].loss", False),
        ("radio.handovers", False),
    ],
)
def test_ignored_keys_cover_keys_inside_and_sections_made_of_them(key: str, ignored: bool) -> None:
    """A sweep key is ignored if it is, or is inside, or only holds keys the simulator ignores."""
    assert ignored_keys([key]) == ([key] if ignored else [])


def test_with_setup_the_sip_settings_are_modelled() -> None:
    """signalling.setup on: the transport and SIP timers count, the SIP load still not."""
    scenario = parse_scenario(BASE + "signalling: {setup: true, transport: tcp}\n")
    assert unmodelled_settings(scenario) == []
    keys = ["signalling.transport", "signalling.timers", "signalling.load"]
    assert ignored_keys(keys, scenario) == ["signalling.load"]


def test_every_listed_key_is_a_scenario_key() -> None:
    """Each key listed names a setting a scenario can make (``--set`` accepts it)."""
    values = {
        "signalling.transport": "tcp",
        "signalling.tls_version": "tls1.2",
        "signalling.timers": "{t1: 1s}",
        "signalling.far_end": "{answer_delay: 1s}",
        "signalling.ice": "{turn: false}",
        "signalling.fallback": "{transports: [tcp]}",
        "signalling.dns": "{naptr: false}",
        "signalling.load": "{calls: 1, calls_per_second: 1}",
        "calls.srtp_keying": "dtls",
    }
    needs = {"calls.srtp_keying": ["calls.srtp_tag_bits=80"]}
    assert set(values) == set(UNMODELLED) | set(WITHOUT_SETUP)
    for key, value in values.items():
        scenario = parse_scenario(BASE, overrides=[*needs.get(key, []), f"{key}={value}"])
        assert any(w.startswith(f"{key} ") for w in unmodelled_settings(scenario))


def test_sweep_over_an_ignored_key_warns_once() -> None:
    """A sweep over the SIP transport says so once, and each point's warning once."""
    base = parse_scenario(BASE + "sweep: {signalling.transport: [udp, tcp, tls]}\n")
    points = [
        parse_scenario(BASE, overrides=[f"signalling.transport={t}"]) for t in ("udp", "tcp", "tls")
    ]
    points.append(points[1])
    warnings = sweep_warnings(base, points)
    assert len(warnings) == len(set(warnings)) == 3
    assert "this sweep varies signalling.transport" in warnings[0]
    swept = parse_scenario(BASE + "sweep: {calls.codec: [PCMU, G722]}\n")
    assert sweep_warnings(swept, [swept]) == []
