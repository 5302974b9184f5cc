"""SIP over TLS in the emulation: baresip registers and calls through Kamailio over TLS."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.emulation.conftest import require
from voipbed.cli import main
from voipbed.emulation.stacks.kamailio import MODULES_DIR, TLS_MODULE

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALL = """\
name: emulated-tls-call
duration: 4s
calls: {count: 1, codec: PCMU, ptime: 20ms}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 20ms}
radio: {rrc: null}
"""


def require_tls() -> None:
    """Skip unless the emulation's tools, openssl and Kamailio's tls module are here."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "openssl")
    module = Path(MODULES_DIR) / f"{TLS_MODULE}.so"
    if not module.exists():
        pytest.skip(
            f"Kamailio's tls module {module} is missing (apt-get install kamailio-tls-modules)"
        )


def test_sip_over_tls_sets_up_the_call_over_tls_and_carries_audio(tmp_path: Path) -> None:
    """With signalling.transport tls every request reaches Kamailio over TLS, the call is
    established and audio arrives both ways (PESQ scores it)."""
    require_tls()
    scenario = tmp_path / "call.yaml"
    scenario.write_text(CALL, encoding="utf-8")
    out = tmp_path / "runs"
    args = ["run", "--engine", "emulation", str(scenario), "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--set", "signalling.transport=tls"])
    assert result.exit_code == 0, result.output
    (run,) = out.iterdir()
    events = pd.read_parquet(run / "events.parquet")
    assert (events["kind"] == "call_start").sum() == 1
    sip = [json.loads(f) for f in events.loc[events["kind"] == "sip_request", "fields"]]
    assert {s["method"] for s in sip} >= {"REGISTER", "INVITE", "ACK", "BYE"}
    assert {s["transport"] for s in sip} == {"tls"}
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert metrics["setup_time_s"].between(0.0, 5.0).all()
    assert (metrics["received"] > 0).all()
    assert metrics["pesq_mos_lqo"].notna().all()
    assert (metrics["pesq_mos_lqo"] > 2.0).all()
