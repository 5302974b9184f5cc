"""An emulated run's own captures, imported back, give the emulation's delays, counts and MOS.

The emulation writes ``captures/ue.pcap`` and ``captures/far_end.pcap``
(tcpdump on the bridge ports on either side of the links); ``voipbed import``
reads them, the UE side's first, with the run's scenario. Per flow the
packets sent and lost must be the same and the E-model MOS within 0.05; per
packet (by flow and sequence number) the delay within 1 ms, every packet: the
links take each packet's arrival from the kernel's receive time, as tcpdump
does, so a link that reads a packet late still records when it came.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests.emulation.conftest import require
from voipbed.capture_import import import_captures
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

pytestmark = [pytest.mark.emulation, pytest.mark.slow]

CALLS = """\
name: capture-roundtrip
seed: 5
duration: 12s
calls: {count: 2, start_spread: 3s, codec: PCMU, ptime: 20ms}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {distribution: exponential, scale: 3ms}
    loss: 3%
  - name: core
    one_way_delay: 20ms
    jitter: {distribution: uniform, scale: 4ms}
radio: {rrc: null}
"""

DELAY_TOLERANCE_S = 0.001
MOS_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The emulated run, and its captures imported with its scenario."""
    require("mnexec", "ethtool", "kamailio", "baresip", "espeak-ng", "sox", "tcpdump")
    root = tmp_path_factory.mktemp("roundtrip")
    scenario = parse_scenario(CALLS, "capture-roundtrip")
    emulated = run_scenario(scenario, root / "emu", engine="emulation").run_dir
    captures = [emulated / "captures" / "ue.pcap", emulated / "captures" / "far_end.pcap"]
    imported = import_captures(
        captures, root / "imported", scenario_file=emulated / "scenario.yaml"
    ).run_dir
    return emulated, imported


def first_send_order(packets: pd.DataFrame) -> pd.DataFrame:
    """Each flow's packets numbered from its first sent (``n``), with the flow's start
    (seconds after the run's first packet) and each packet's delay."""
    packets = packets.copy()
    packets["start_s"] = packets.groupby("flow")["send_s"].transform("min")
    packets["start_s"] -= packets["send_s"].min()
    packets["n"] = packets["seq"] - packets.groupby("flow")["seq"].transform("min")
    packets["delay_s"] = packets["recv_s"] - packets["send_s"]
    return packets


def flow_pairs(emulated: pd.DataFrame, imported: pd.DataFrame) -> dict[int, int]:
    """The imported flow of each emulated flow: same direction, nearest start."""

    def starts(packets: pd.DataFrame) -> list[tuple[int, str, float]]:
        first = packets.groupby("flow").first()
        return list(
            zip(
                first.index.tolist(),
                first["direction"].astype(str).tolist(),
                first["start_s"].tolist(),
                strict=True,
            )
        )

    candidates = starts(imported)
    pairs = {
        flow: min(
            (abs(start - other_start), other)
            for other, other_direction, other_start in candidates
            if other_direction == direction
        )[1]
        for flow, direction, start in starts(emulated)
    }
    assert sorted(pairs.values()) == sorted(flow for flow, _, _ in candidates), pairs
    return pairs


def mos_by_flow(run_dir: Path) -> dict[int, float]:
    """Each flow's E-model MOS in a run folder's metrics."""
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    return dict(zip(metrics["flow"].tolist(), metrics["mos"].tolist(), strict=True))


def test_the_run_folder_holds_both_captures_and_the_manifest_names_them(
    runs: tuple[Path, Path],
) -> None:
    """Both pcap files exist, hold packets, and the manifest lists them with tcpdump's counts."""
    emulated, _ = runs
    manifest = json.loads((emulated / "manifest.json").read_text())
    assert set(manifest["captures"]) == {"ue", "far_end"}
    for name, facts in manifest["captures"].items():
        assert (emulated / facts["file"]).stat().st_size > 24  # more than the file header
        assert facts["file"] == f"captures/{name}.pcap"
        assert facts["captured"] > 0
        assert facts["dropped_by_kernel"] == 0


def test_imported_captures_give_the_emulations_packets_delays_and_mos(
    runs: tuple[Path, Path],
) -> None:
    """Per flow: same packets sent and received, MOS within 0.05; every packet's delay within
    1 ms."""
    emulated_dir, imported_dir = runs
    emulated = first_send_order(pd.read_parquet(emulated_dir / "packets.parquet"))
    imported = first_send_order(pd.read_parquet(imported_dir / "packets.parquet"))
    pairs = flow_pairs(emulated, imported)
    assert len(pairs) == 4  # two calls, both ways
    mos_emulated, mos_imported = mos_by_flow(emulated_dir), mos_by_flow(imported_dir)
    gaps = []
    for flow_e, flow_i in pairs.items():
        e = emulated[emulated["flow"] == flow_e].set_index("n")
        i = imported[imported["flow"] == flow_i].set_index("n")
        assert e.index.equals(i.index), f"flow {flow_e}: other packets sent"
        assert (e["recv_s"].isna() == i["recv_s"].isna()).all(), f"flow {flow_e}: other losses"
        gap = (e["delay_s"] - i["delay_s"]).abs().dropna()
        gaps.append(gap)
        mos_e, mos_i = mos_emulated[flow_e], mos_imported[flow_i]
        print(
            f"flow {flow_e} (imported {flow_i}): {len(e)} sent, {int(e['recv_s'].notna().sum())}"
            f" received; delay difference max {gap.max() * 1e3:.3f} ms, median"
            f" {gap.median() * 1e3:.3f} ms; MOS {mos_e:.4f} emulated, {mos_i:.4f} imported"
        )
        assert math.isfinite(mos_e)
        assert abs(mos_e - mos_i) <= MOS_TOLERANCE
    gap = pd.concat(gaps)
    beyond = gap[gap > DELAY_TOLERANCE_S]
    print(f"{len(beyond)} of {len(gap)} packets beyond 1 ms: {(beyond * 1e3).round(3).tolist()}")
    assert len(gap) > 0
    assert beyond.empty, f"{len(beyond)} packets' delays differ by more than 1 ms"
