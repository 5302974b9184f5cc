"""A sweep folder: runs recorded once and atomically, leftovers removed, the scenario kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voipbed.loader import parse_scenario
from voipbed.scenario import Scenario
from voipbed.sweep_store import (
    POINTS,
    RECORD,
    SweepFolderError,
    SweepStore,
    scenario_differences,
    write_atomic,
)

BASE = "name: s\nduration: 4s\nsweep: {calls.codec: [PCMU, G722]}\n"


def scenario(text: str = BASE) -> Scenario:
    return parse_scenario(text, "s.yaml")


def test_a_run_is_recorded_with_its_files_and_record(tmp_path: Path) -> None:
    """A committed run is a folder in points/ holding its files and record.json."""
    store = SweepStore.create(tmp_path, scenario())
    assert store.commit("p001-s1", {"summary.json": b"{}", "sub/x.bin": b"\x00"}, {"point": 1})
    folder = store.path / POINTS / "p001-s1"
    assert (folder / "summary.json").read_bytes() == b"{}"
    assert (folder / "sub" / "x.bin").read_bytes() == b"\x00"
    assert json.loads((folder / RECORD).read_text()) == {"point": 1}
    assert store.records() == {"p001-s1": {"point": 1}}


def test_a_second_result_of_a_run_is_not_recorded_beside_the_first(tmp_path: Path) -> None:
    """Committing a recorded run again changes nothing and says so."""
    store = SweepStore.create(tmp_path, scenario())
    assert store.commit("p001-s1", {"a": b"first"}, {"mos_mean": 4.0})
    assert not store.commit("p001-s1", {"a": b"second"}, {"mos_mean": 3.0})
    assert (store.path / POINTS / "p001-s1" / "a").read_bytes() == b"first"
    assert store.records()["p001-s1"] == {"mos_mean": 4.0}
    assert not any(store.staging_dir.iterdir())


def test_a_file_outside_the_run_folder_is_refused(tmp_path: Path) -> None:
    """A returned file name cannot climb out of its run folder."""
    store = SweepStore.create(tmp_path, scenario())
    with pytest.raises(ValueError, match="outside its folder"):
        store.commit("p001-s1", {"../../escape": b"x"}, {})
    assert not (tmp_path / "escape").exists()


def test_leftovers_of_a_killed_sweep_are_removed(tmp_path: Path) -> None:
    """Staged runs, run folders without a record and temporary tables go; records stay."""
    store = SweepStore.create(tmp_path, scenario())
    store.commit("p001-s1", {"a": b"kept"}, {"point": 1})
    (store.staging_dir / "p002-s1").mkdir(parents=True)
    (store.path / POINTS / "p003-s1").mkdir()
    (store.path / POINTS / "p004-s1").mkdir()
    (store.path / POINTS / "p004-s1" / RECORD).write_text("{trunc", encoding="utf-8")
    (store.path / ".sweep.json.123.tmp").write_text("", encoding="utf-8")
    assert store.clear_leftovers() == ["p002-s1", "p003-s1", "p004-s1"]
    assert sorted(p.name for p in (store.path / POINTS).iterdir()) == ["p001-s1"]
    assert not store.staging_dir.exists() and not list(store.path.glob(".*.tmp"))


def test_tables_are_replaced_whole(tmp_path: Path) -> None:
    """sweep.json and the tables are written through a temporary file; NaN becomes null."""
    store = SweepStore.create(tmp_path, scenario())
    store.write_tables({"points": [{"mos_mean": float("nan")}]}, {"points.parquet": b"PAR1"})
    assert json.loads((store.path / "sweep.json").read_text()) == {"points": [{"mos_mean": None}]}
    assert (store.path / "points.parquet").read_bytes() == b"PAR1"
    write_atomic(store.path / "points.parquet", b"PAR2")
    assert (store.path / "points.parquet").read_bytes() == b"PAR2"
    assert not list(store.path.glob(".*.tmp"))


def test_the_newest_sweep_of_the_same_scenario_is_found(tmp_path: Path) -> None:
    """``find`` returns a folder of the same resolved scenario, never one of another."""
    first = SweepStore.create(tmp_path, scenario())
    SweepStore.create(tmp_path, scenario(BASE.replace("4s", "5s")))
    found = SweepStore.find(tmp_path, scenario())
    assert found is not None and found.path == first.path
    assert SweepStore.find(tmp_path, scenario(BASE.replace("4s", "6s"))) is None
    assert SweepStore.find(tmp_path / "nowhere", scenario()) is None


def test_opening_a_sweep_of_another_scenario_says_what_differs(tmp_path: Path) -> None:
    """``open`` refuses a folder of another scenario, naming the keys and both values."""
    store = SweepStore.create(tmp_path, scenario())
    with pytest.raises(SweepFolderError, match=r"duration: \"4.0s\" there, \"5.0s\" here"):
        SweepStore.open(store.path, scenario(BASE.replace("4s", "5s")))
    with pytest.raises(SweepFolderError, match="not a sweep folder"):
        SweepStore.open(tmp_path, scenario())
    assert SweepStore.open(store.path, scenario()).path == store.path


def test_scenario_differences_are_listed_a_few_at_a_time() -> None:
    """Differing keys are named by key path, at most ``limit`` of them and a count of the rest."""
    there = {"a": 1, "b": {"c": [1, 2]}, "d": "x", "e": 1}
    here = {"a": 2, "b": {"c": [1, 3]}, "d": "y", "e": 1}
    assert scenario_differences(there, here, limit=2) == [
        "a: 1 there, 2 here",
        "b.c[1]: 2 there, 3 here",
        "and 1 more",
    ]
    assert scenario_differences(there, there) == []


def test_one_process_at_a_time_works_in_a_sweep_folder(tmp_path: Path) -> None:
    """While one holds the folder's lock, another is refused."""
    store = SweepStore.create(tmp_path, scenario())
    with (
        store.locked(),
        pytest.raises(SweepFolderError, match="another voipbed"),
        SweepStore(store.path).locked(),
    ):
        pass
    with SweepStore(store.path).locked():
        pass
