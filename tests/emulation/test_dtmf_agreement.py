"""DTMF through the emulated network: baresip's RFC 4733 digits cross an impaired uplink, the far
end's baresip detects them, and the simulator of the same scenario counts as many.

One call, ten digits (a repeated one among them), Bernoulli loss on the radio segment at 0, 5
and 20 %. baresip (libre's telev) sends each digit as 9 updates and 3 end packets at the 20 ms
ptime, which the scenario's tone (180 ms), interval (20 ms) and receiver (event_code, libre's)
mirror in the simulator. Detection is near certain at all three points in both engines (a
digit is missed only when all 9 updates are lost, or a repeated one's 3 ends before it are),
so they must agree within one digit; the emulation's telephone events must be lost at the
configured rate (3 binomial standard deviations), which shows they crossed the impaired link.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.emulation.conftest import require
from voipbed.emulation.engine import emulate
from voipbed.loader import parse_scenario
from voipbed.metric_names import EventKind
from voipbed.scenario import Scenario
from voipbed.sim.engine import simulate
from voipbed.trace import Trace

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

DIGITS = "1123456789"
SCENARIO = f"""
name: dtmf-loss
seed: 1
duration: 8s
calls: {{count: 1, codec: PCMU, ptime: 20ms}}
path:
  - {{name: radio, one_way_delay: 10ms}}
  - {{name: core, one_way_delay: 10ms}}
radio: {{rrc: null}}
dtmf: {{digits: '{DIGITS}', start: 1s, tone: 180ms, gap: 120ms, interval: 20ms,
        receiver: event_code}}
"""
LOSS_PCT = (0, 5, 20)
PACKETS_PER_DIGIT = 12  # libre's telev: TXC_DIGIT_MIN 9 updates, TXC_END 3 ends
TOLERANCE_DIGITS = 1
LOSS_SIGMAS = 3.0


def dtmf_of(trace: Trace) -> dict[str, int]:
    """The run's one dtmf event's fields."""
    rows = [row for row in trace.events.to_pylist() if row["kind"] == EventKind.DTMF]
    assert len(rows) == 1, rows
    fields: dict[str, int] = json.loads(rows[0]["fields"])
    return fields


def scenario_at(loss_pct: int) -> Scenario:
    return parse_scenario(SCENARIO, overrides=[f"path[0].loss={loss_pct}%"])


def test_dtmf_detection_agrees_with_the_simulator_at_0_5_and_20_percent(tmp_path: Path) -> None:
    """Both engines detect the digits sent within one digit at each loss, exactly at 0 %."""
    require("mnexec", "kamailio", "baresip", "espeak-ng", "sox")
    for loss in LOSS_PCT:
        scenario = scenario_at(loss)
        emulated = dtmf_of(emulate(scenario, tmp_path / f"loss-{loss}").trace)
        simulated = dtmf_of(simulate(scenario))
        print(f"{loss:>2} % emulation {emulated}\n     simulation {simulated}")  # pytest -s
        where = f"{loss} %: emulation {emulated}, simulation {simulated}"
        assert emulated["sent"] == simulated["sent"] == len(DIGITS), where
        assert emulated["packets_sent"] == PACKETS_PER_DIGIT * len(DIGITS), where
        assert abs(emulated["detected"] - simulated["detected"]) <= TOLERANCE_DIGITS, where
        lost = 1 - emulated["packets_received"] / emulated["packets_sent"]
        p = loss / 100
        spread = LOSS_SIGMAS * math.sqrt(p * (1 - p) / emulated["packets_sent"])
        assert abs(lost - p) <= spread, where
        if loss == 0:
            assert emulated["detected"] == len(DIGITS), where
            assert emulated["duplicated"] == simulated["duplicated"] == 0, where
