"""A scenario's ``sweep``: its shape, its points (cross product, in order) and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from voipbed.loader import ScenarioError, compact_value, load_scenario, load_sweep

SWEEP = """\
name: m
duration: 10s
calls: {count: 1, codec: PCMU}
path:
  - {name: radio, one_way_delay: 10ms}
sweep:
  calls.codec: [PCMU, G722]
  path[0].loss: [0%, 2%, 5%]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_points_are_the_cross_product_in_the_order_written(tmp_path: Path) -> None:
    """Two codecs times three loss rates give six points, the last key varying fastest."""
    points = load_sweep(write(tmp_path, SWEEP))
    assert [p.index for p in points] == [1, 2, 3, 4, 5, 6]
    assert [(p.scenario.calls.codec, p.scenario.path[0].loss.to_model().ratio) for p in points] == [
        ("PCMU", 0.0),
        ("PCMU", 0.02),
        ("PCMU", 0.05),
        ("G722", 0.0),
        ("G722", 0.02),
        ("G722", 0.05),
    ]
    assert points[4].label == "calls.codec=G722, path[0].loss=2%"


def test_points_keep_everything_else_and_drop_the_sweep(tmp_path: Path) -> None:
    """A point is the file with its values set: other keys unchanged, no sweep, its own name."""
    path = write(tmp_path, SWEEP)
    base = load_scenario(path)
    points = load_sweep(path)
    assert base.sweep is not None and set(base.sweep) == {"calls.codec", "path[0].loss"}
    for point in points:
        assert point.scenario.sweep is None
        assert point.scenario.duration_s == base.duration_s
        assert point.scenario.path[0].one_way_delay_s == pytest.approx(0.010)
    assert [p.scenario.name for p in points] == [f"m.{i}" for i in range(1, 7)]


def test_a_scenario_without_sweep_has_no_points(tmp_path: Path) -> None:
    """Without a sweep there is nothing to expand."""
    assert load_sweep(write(tmp_path, SWEEP.split("sweep:")[0])) == []


def test_overrides_apply_to_every_point(tmp_path: Path) -> None:
    """``--set`` applies after the sweep's values, to each point."""
    points = load_sweep(write(tmp_path, SWEEP), ["duration=5s"], seed=9)
    assert {p.scenario.duration_s for p in points} == {5.0}
    assert {p.scenario.seed for p in points} == {9}


def test_a_bad_sweep_value_is_reported_at_its_line_once(tmp_path: Path) -> None:
    """A value that makes points invalid is one issue, at the sweep value's line and key."""
    text = SWEEP.replace("[PCMU, G722]", "\n    - PCMU\n    - NOPE")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    assert [str(issue) for issue in caught.value.issues] == [
        f"{path}:9: calls.codec: 'NOPE' is not a known codec (known: "
        + str(caught.value.issues[0]).split("(known: ")[1]
    ]


def test_a_value_wrong_with_a_default_of_the_file_is_an_issue(tmp_path: Path) -> None:
    """iLBC-30 at the default 20 ms ptime is invalid: the issue says why, at the calls key."""
    text = SWEEP.replace("[PCMU, G722]", "[PCMU, iLBC-30]")
    match = r"sweep.yaml:3: calls: 20 ms is not a whole number of iLBC-30 frames of 30 ms"
    with pytest.raises(ScenarioError, match=match):
        load_sweep(write(tmp_path, text))


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("sweep: {}", "a sweep needs at least one key to vary"),
        ("sweep: {calls.codec: []}", "'calls.codec' needs at least one value"),
        ("sweep: {'path[x]': [1]}", "is not a key path"),
        ("sweep: {name: [a, b]}", "'name' cannot be swept"),
        ("sweep: {seed: [1, 2], calls.count: [1, 2, 3], duration: [1s, 2s, 3s, 4s]}", None),
    ],
)
def test_sweep_shape_is_checked(tmp_path: Path, sweep: str, message: str | None) -> None:
    """Empty sweeps, empty value lists, malformed keys and the name are refused."""
    path = write(tmp_path, SWEEP.split("sweep:")[0] + sweep + "\n")
    if message is None:
        assert len(load_sweep(path)) == 24
        return
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)


def test_too_many_points_are_refused(tmp_path: Path) -> None:
    """More than 1000 points is an error naming the count."""
    seeds = list(range(40))
    text = SWEEP.split("sweep:")[0] + f"sweep: {{seed: {seeds}, calls.count: {seeds}}}\n"
    with pytest.raises(ScenarioError, match="1600 points is more than 1000"):
        load_scenario(write(tmp_path, text))


def test_compact_value_writes_mappings_as_yaml_flow() -> None:
    """Labels show mappings in flow style, in the order written, and scalars as they are."""
    assert compact_value({"kind": "fixed", "delay": "60ms"}) == "{kind: fixed, delay: 60ms}"
    assert compact_value("2%") == "2%"
    assert compact_value(3) == "3"


ZIPPED = """\
name: z
duration: 10s
calls: {count: 1, codec: PCMU}
path:
  - {name: radio, one_way_delay: 10ms}
sweep:
  zip:
    calls.codec: [PCMU, G722, AMR-WB-12.65]
    calls.ptime: [20ms, 40ms, 20ms]
  path[0].loss: [0%, 2%]
"""


def test_a_zip_is_one_axis_in_the_cross_product(tmp_path: Path) -> None:
    """Zipped keys vary together: three zipped steps times two losses give six points."""
    points = load_sweep(write(tmp_path, ZIPPED))
    got = [
        (p.scenario.calls.codec, p.scenario.calls.ptime_s, p.scenario.path[0].loss.to_model().ratio)
        for p in points
    ]
    assert got == [
        ("PCMU", 0.02, 0.0),
        ("PCMU", 0.02, 0.02),
        ("G722", 0.04, 0.0),
        ("G722", 0.04, 0.02),
        ("AMR-WB-12.65", 0.02, 0.0),
        ("AMR-WB-12.65", 0.02, 0.02),
    ]
    assert points[3].label == "calls.codec=G722, calls.ptime=40ms, path[0].loss=2%"
    assert points[3].steps == (
        ("zip", "calls.codec=G722, calls.ptime=40ms"),
        ("path[0].loss", "2%"),
    )


def test_a_list_of_zips_gives_one_axis_each(tmp_path: Path) -> None:
    """``zip: [..., ...]``: two zipped axes of 2 and 3 steps give 6 points, named zip[i]."""
    text = ZIPPED.split("sweep:")[0] + (
        "sweep:\n"
        "  zip:\n"
        "    - {calls.codec: [PCMU, G722], calls.ptime: [20ms, 40ms]}\n"
        "    - {'path[0].loss': [0%, 1%, 2%], 'path[0].one_way_delay': [5ms, 10ms, 20ms]}\n"
    )
    points = load_sweep(write(tmp_path, text))
    assert len(points) == 6
    assert [name for name, _ in points[-1].steps] == ["zip[0]", "zip[1]"]
    assert points[-1].scenario.path[0].one_way_delay_s == pytest.approx(0.020)
    assert points[-1].label == (
        "calls.codec=G722, calls.ptime=40ms, path[0].loss=2%, path[0].one_way_delay=20ms"
    )


@pytest.mark.parametrize(
    ("zip_text", "line", "key", "message"),
    [
        (
            "  zip:\n    calls.codec: [PCMU, G722]\n    calls.ptime: [20ms]\n",
            9,
            "sweep.zip.calls.ptime",
            "need one length: calls.codec has 2, calls.ptime has 1",
        ),
        ("  zip:\n    calls.codec: []\n", 8, "sweep.zip.calls.codec", "needs at least one value"),
        ("  zip: {}\n", 7, "sweep.zip", "a zip needs at least one key"),
        ("  zip:\n    - calls.codec\n", 8, "sweep.zip[0]", "a zip is a mapping of keys to lists"),
        (
            "  zip: {calls.codec: [PCMU]}\n  calls.codec: [G722]\n",
            8,
            "sweep.calls.codec",
            "'calls.codec' is swept twice",
        ),
    ],
)
def test_a_malformed_zip_is_an_issue_at_its_line(
    tmp_path: Path, zip_text: str, line: int, key: str, message: str
) -> None:
    """Unequal lengths, empty lists, a zip that is no mapping, a key swept twice: file, line,
    key path and what is wrong."""
    path = write(tmp_path, ZIPPED.split("sweep:")[0] + "sweep:\n" + zip_text)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    (issue,) = caught.value.issues
    assert (issue.origin, issue.key_path) == (f"{path}:{line}", key)
    assert message in issue.message


def test_an_unknown_key_in_a_zip_is_an_issue_at_its_value(tmp_path: Path) -> None:
    """A zipped key the scenario does not have is named, at its value's line, with a hint."""
    text = ZIPPED.replace(
        "    calls.ptime: [20ms, 40ms, 20ms]",
        "    calls.ptme:\n      - 20ms\n      - 40ms\n      - 20ms",
    )
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    messages = {str(issue) for issue in caught.value.issues}
    assert f"{path}:10: calls.ptme: unknown key; did you mean 'ptime'?" in messages


SEEDED = SWEEP.split("sweep:")[0] + "seed: 5\n"


def test_seeds_as_a_count_start_at_the_seed(tmp_path: Path) -> None:
    """``seeds: 3`` runs every point with seed, seed+1 and seed+2; points have no seeds key."""
    points = load_sweep(write(tmp_path, SWEEP + "seeds: 3\nseed: 5\n"))
    assert len(points) == 6
    assert {p.seeds for p in points} == {(5, 6, 7)}
    assert all(p.scenario.seeds is None and p.scenario.sweep is None for p in points)
    assert points[0].with_seed(6).seed == 6 and points[0].with_seed(6).calls.codec == "PCMU"


def test_seeds_without_a_sweep_are_one_point(tmp_path: Path) -> None:
    """A list of seeds and no sweep: one point, as written, with those seeds."""
    (point,) = load_sweep(write(tmp_path, SEEDED + "seeds: [11, 3, 7]\n"))
    assert point.seeds == (11, 3, 7)
    assert point.settings == () and point.label == "as written"
    assert point.scenario.name == "m.1"


def test_seed_overrides_move_a_count_of_seeds(tmp_path: Path) -> None:
    """``--seed`` sets where a count of seeds starts."""
    (point,) = load_sweep(write(tmp_path, SEEDED + "seeds: 2\n"), seed=40)
    assert point.seeds == (40, 41)


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("0", "a count of seeds is from 1 to 1000"),
        ("[]", "a count of seeds, or a list of seeds"),
        ("[1, 2, 1]", "each seed is listed once"),
        ("[1, -2]", "each seed is an integer >= 0"),
        ("true", "a count of seeds, or a list of seeds"),
        (
            "400\nsweep: {calls.count: [1, 2, 3]}",
            "1200 runs (3 points x 400 seeds) is more than 1000",
        ),
        ("[1, 2]\nsweep: {seed: [1, 2]}", "sweep seed or list seeds, not both"),
    ],
)
def test_seeds_are_checked(tmp_path: Path, seeds: str, message: str) -> None:
    """Counts below 1, empty, repeated or negative seeds, too many runs: an issue at seeds."""
    path = write(tmp_path, SEEDED + f"seeds: {seeds}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (issue,) = caught.value.issues
    assert issue.origin == f"{path}:7" and issue.key_path == "seeds"
    assert message in issue.message
