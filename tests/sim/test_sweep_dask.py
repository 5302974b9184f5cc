"""Sweeps on a Dask cluster: the same results as local processes, and a clear error without one."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import voipbed.sweep_exec
from voipbed.cli import main
from voipbed.loader import load_sweep
from voipbed.sweep_exec import DaskCluster, RunTask
from voipbed.sweep_table import FIGURES

distributed = pytest.importorskip("distributed")

SWEEP = """\
name: dask-sweep
duration: 4s
calls: {count: 2, start_spread: 1s}
path:
  - name: radio
    one_way_delay: 10ms
    jitter: {distribution: exponential, scale: 15ms}
    loss: 1%
sweep:
  calls.codec: [PCMU, G722]
  jitter_buffer.delay: [20ms, 60ms]
  path[0].loss: [0%, 2%]
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two worker processes on this machine, listening on 127.0.0.1 only."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local.scheduler_address


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "sweep.yaml"
    scenario.write_text(text, encoding="utf-8")
    return scenario


def run(tmp_path: Path, *options: str) -> tuple[Result, Path]:
    scenario = write(tmp_path, SWEEP)
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(scenario), "--out", str(out), *options])
    folders = list(out.iterdir()) if out.exists() else []
    return result, (folders[0] if folders else out)


def test_a_cluster_and_local_processes_give_identical_points(tmp_path: Path, cluster: str) -> None:
    """The same 8-point sweep on a 2-worker cluster and in local processes: the same figures
    per point and byte-identical packets.parquet in every point's folder."""
    on_cluster, cluster_dir = run(tmp_path / "cluster", "--scheduler", cluster)
    assert on_cluster.exit_code == 0, on_cluster.output
    local, local_dir = run(tmp_path / "local", "--workers", "2")
    assert local.exit_code == 0, local.output
    tables = [
        pd.read_parquet(folder / "points.parquet").sort_values("point").reset_index(drop=True)
        for folder in (cluster_dir, local_dir)
    ]
    assert len(tables[0]) == 8 and (tables[0]["status"] == "ok").all()
    columns = ["point", "label", "rank", "run_dir", *FIGURES]
    pd.testing.assert_frame_equal(tables[0][columns], tables[1][columns])
    for run_dir in tables[0]["run_dir"]:
        packets = [
            (folder / run_dir / "packets.parquet").read_bytes()
            for folder in (cluster_dir, local_dir)
        ]
        assert packets[0] == packets[1]
    hosts = set(pd.read_parquet(cluster_dir / "runs.parquet")["host"])
    assert hosts == {socket.gethostname()}


def test_a_run_that_fails_on_the_cluster_is_that_runs_failure(cluster: str) -> None:
    """A task that cannot run on its worker comes back as that run's error; the others'
    results come back whole."""
    good = load_sweep(write(Path(tempfile.mkdtemp()), SWEEP))[0]
    tasks = [RunTask(1, 1, good.with_seed(1)), RunTask(2, 1, None)]  # type: ignore[arg-type]
    with DaskCluster(cluster) as executor:
        assert executor.capacity == 2
        outcomes = {task.point: outcome for task, outcome in executor.run(tasks)}
    assert outcomes[1].summary is not None and "packets.parquet" in outcomes[1].files
    assert outcomes[2].summary is None and "AttributeError" in outcomes[2].error


def test_a_scheduler_that_does_not_answer_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No scheduler at the address: exit 1 within the connect timeout, no traceback, nothing
    computed."""
    monkeypatch.setattr(voipbed.sweep_exec, "CONNECT_TIMEOUT_S", 2.0)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result, _ = run(tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}")
    assert result.exit_code == 1, result.output
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("address", ["nonsense", "foo://127.0.0.1:1"])
def test_a_malformed_scheduler_address_is_bad_input(tmp_path: Path, address: str) -> None:
    """An address Dask cannot read is refused with exit 2, naming the option."""
    result, _ = run(tmp_path, "--scheduler", address)
    assert result.exit_code == 2, result.output
    assert f"voipbed: --scheduler {address}: " in result.output
    assert "Traceback" not in result.output


def test_workers_and_a_scheduler_together_are_refused(tmp_path: Path) -> None:
    """--workers is for local processes: with --scheduler it is bad input."""
    result, _ = run(tmp_path, "--scheduler", "tcp://127.0.0.1:1", "--workers", "2")
    assert result.exit_code == 2 and "not with --scheduler" in result.output
