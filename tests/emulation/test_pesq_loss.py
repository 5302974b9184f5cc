"""PESQ of real calls over the emulated network falls as the configured loss rises.

One baresip call per run through Kamailio across two userspace links, Bernoulli loss on the
first (``radio``) segment at 0, 3 and 10 %, for G.711 (narrowband, P.862) and G.722 (wideband,
P.862.2); each direction's recording is scored against the speech sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.emulation.conftest import require
from voipbed.emulation.engine import emulate
from voipbed.loader import parse_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

SCENARIO = """
name: pesq-loss
seed: 1
duration: 9s
calls: {count: 1, codec: PCMU, ptime: 20ms, dscp: 46}
path:
  - {name: radio, one_way_delay: 10ms}
  - {name: core, one_way_delay: 10ms}
radio: {rrc: null}
"""
LOSSY_SEGMENT = "radio"
LOSS_PCT = (0, 3, 10)

# Measured on the development VM (2 cores, other emulations running), this scenario at seeds 1,
# 2 and 3 (the test runs seed 1; a 9 s call; the seed fixes which packets the link drops, so the
# realized loss is the same for both codecs): loss % the trace measured and PESQ MOS-LQO,
# uplink / downlink.
#
#   codec  configured  seed 1                   seed 2                   seed 3
#   PCMU    0 %        0.0/0.0   4.07/3.96      0.0/0.0   4.07/3.96      0.0/0.0   4.08/3.96
#   PCMU    3 %        3.8/2.7   3.10/3.19      3.3/4.0   3.25/2.82      2.2/3.8   3.47/3.15
#   PCMU   10 %       11.3/8.3   2.12/2.74     12.0/10.8  2.09/1.70      7.3/10.2  2.54/2.48
#   G722    0 %        0.0/0.0   3.07/3.08      0.0/0.0   3.08/3.07      0.0/0.0   3.08/3.05
#   G722    3 %        3.8/2.7   2.01/2.25      3.3/4.0   2.30/1.99      2.2/3.8   2.55/2.30
#   G722   10 %       11.3/8.3   1.53/1.76     12.0/10.8  1.50/1.36      7.3/10.2  1.60/1.64
#
#   Repeated runs at one seed differ by about 0.03 (G722 clean uplink: 3.07, 3.11). At 10 %
#   the downlink can send more packets than the uplink: the caller's BYE was lost and resent.
#
# Thresholds, between these figures and a broken pipeline:
# - loss: the trace's loss per direction within 3 binomial standard deviations of the configured
#   rate (about 2.4 points at 3 %, 4.2 at 10 %: the bands do not overlap), and every lost packet
#   dropped by the lossy segment's channel, so the loss is the one configured, not the
#   emulator's own; none lost at 0 %.
# - clean: PCMU > 3.8 (measured 3.96-4.07; tests/emulation/test_baresip_call.py's loopback figure
#   4.07 and its 3.85 threshold); G722 > 2.85 (measured 3.05-3.11: G.722's upper band on espeak
#   speech scores about 3.0 in P.862.2 even on loopback).
# - falls: each step (0 -> 3 %, 3 -> 10 %) at least 0.2 MOS lower (smallest step measured: 0.45,
#   run-to-run noise about 0.03), and 0 -> 10 % at least 0.8 lower (smallest measured: 1.22).
#   Loss that did not reach the audio, or a score not of the recording, fails these.
MIN_CLEAN_MOS = {"PCMU": 3.8, "G722": 2.85}
MIN_STEP_DROP = 0.2
MIN_TOTAL_DROP = 0.8
LOSS_SIGMAS = 3.0
MIN_SCORED_FRACTION = 0.9  # of the call's length: the whole recording was scored


@dataclass(frozen=True)
class Direction:
    """What one direction of the call measured."""

    sent: int
    lost_pct: float
    lost_elsewhere: int  # packets lost other than by the lossy segment's channel
    pesq_mode: str
    mos: float
    scored_s: float


def measure(codec: str, loss_pct: int, run_dir: Path) -> dict[str, Direction]:
    """Emulate the call at ``loss_pct`` and return each direction's figures by name."""
    scenario = parse_scenario(
        SCENARIO,
        overrides=[f"calls.codec={codec}", f"path[0].loss={loss_pct}%"],
    )
    emulated = emulate(scenario, run_dir)
    packets = emulated.trace.packets.to_pandas()
    pesq = emulated.pesq.to_arrow().to_pandas().set_index("flow")
    figures = {}
    for (flow, direction), rows in packets.groupby(["flow", "direction"], observed=True):
        lost = rows["recv_s"].isna()
        by_channel = (rows["lost_at"] == LOSSY_SEGMENT) & (rows["drop_reason"] == "channel")
        score = pesq.loc[flow]
        figures[str(direction)] = Direction(
            sent=len(rows),
            lost_pct=100.0 * float(lost.mean()),
            lost_elsewhere=int((lost & ~by_channel).sum()),
            pesq_mode=str(score["pesq_mode"]),
            mos=float(score["pesq_mos_lqo"]),
            scored_s=float(score.get("pesq_scored_s", math.nan)),
        )
    return figures


def loss_tolerance_pct(loss_pct: float, sent: int) -> float:
    """How far the measured loss may be from ``loss_pct`` over ``sent`` Bernoulli packets."""
    p = loss_pct / 100.0
    return 100.0 * LOSS_SIGMAS * math.sqrt(p * (1.0 - p) / sent)


@pytest.mark.parametrize(("codec", "mode"), [("PCMU", "nb"), ("G722", "wb")])
def test_pesq_falls_as_configured_loss_rises(codec: str, mode: str, tmp_path: Path) -> None:
    """Each direction's PESQ is good without loss and falls clearly at 3 % and again at 10 %."""
    require("mnexec", "kamailio", "baresip", "espeak-ng", "sox")
    runs = {loss: measure(codec, loss, tmp_path / f"{codec}-{loss}pct") for loss in LOSS_PCT}
    for loss, figures in runs.items():
        for direction, f in figures.items():  # the figures, for the record (pytest -s)
            print(
                f"{codec} {loss:>2} % {direction:<8} sent {f.sent} lost {f.lost_pct:5.2f} %"
                f" (elsewhere {f.lost_elsewhere}) PESQ-{mode} {f.mos:.3f} over {f.scored_s:.2f} s"
            )

    hold_s = parse_scenario(SCENARIO).duration_s
    for loss, figures in runs.items():
        assert set(figures) == {"uplink", "downlink"}, f"{loss} %: {sorted(figures)}"
        for direction, f in figures.items():
            where = f"{codec} {direction} at {loss} %"
            assert f.pesq_mode == mode, f"{where}: scored as {f.pesq_mode}"
            assert f.lost_elsewhere == 0, f"{where}: {f.lost_elsewhere} lost but not by the channel"
            tolerance = loss_tolerance_pct(loss, f.sent)
            assert abs(f.lost_pct - loss) <= tolerance, f"{where}: {f.lost_pct:.2f} % lost"
            assert f.scored_s >= MIN_SCORED_FRACTION * hold_s, f"{where}: {f.scored_s} s scored"

    for direction in ("uplink", "downlink"):
        clean, some, much = (runs[loss][direction].mos for loss in LOSS_PCT)
        where = f"{codec} {direction}: PESQ {clean:.2f} / {some:.2f} / {much:.2f}"
        assert clean > MIN_CLEAN_MOS[codec], where
        assert clean - some >= MIN_STEP_DROP, where
        assert some - much >= MIN_STEP_DROP, where
        assert clean - much >= MIN_TOTAL_DROP, where
