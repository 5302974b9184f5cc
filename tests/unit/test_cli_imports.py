"""What the ``voipbed`` command loads at start: each check runs a fresh Python and reads
``sys.modules``, so it holds whatever the machine's speed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "scenarios" / "default.yaml"
PACKAGE_DIRS = ("voipbed", "models", "sim", "emulation", "reports")

# What a run needs and a start-up does not: the engines, the scientific stack, plotting.
ENGINE_AND_HEAVY = (
    "voipbed.emulation.engine",
    "voipbed.sim",
    "voipbed.scenario",
    "voipbed.reports",
    "numpy",
    "numba",
    "scipy",
    "pandas",
    "pyarrow",
    "matplotlib",
)
# What validating a scenario may load (the scenario and its models) but has no use for.
RUN_ONLY = (
    "voipbed.emulation.engine",
    "voipbed.sim",
    "voipbed.reports",
    "scipy.signal",
    "pandas",
    "matplotlib",
)

PROBE = """
import json, sys
from voipbed.cli import main
try:
    main(sys.argv[1:], prog_name="voipbed")
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def modules_after(*args: str) -> set[str]:
    """The modules a fresh Python holds after ``voipbed ARGS`` (no args: the import alone)."""
    code = "import json, sys, voipbed.cli; print(json.dumps(sorted(sys.modules)))"
    argv = [sys.executable, "-c", PROBE if args else code, *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` that are in ``modules``, as a package or through a submodule."""
    return [n for n in names if n in modules or any(m.startswith(n + ".") for m in modules)]


def test_import_loads_no_engine_nor_scientific_stack() -> None:
    """Importing the CLI loads neither engine, the scenario models, numpy, scipy nor matplotlib."""
    modules = modules_after()
    assert "voipbed.cli" in modules
    assert loaded(modules, ENGINE_AND_HEAVY) == []


def test_help_and_version_load_no_engine_nor_scientific_stack() -> None:
    """``--help``, ``--version`` and a command's ``--help`` stay as light as the import."""
    for args in (("--help",), ("--version",), ("run", "--help")):
        assert loaded(modules_after(*args), ENGINE_AND_HEAVY) == [], args


def test_validate_loads_the_scenario_but_no_engine_nor_plotting() -> None:
    """``validate`` loads the scenario, not an engine, scipy.signal, pandas or matplotlib."""
    modules = modules_after("validate", str(DEFAULT))
    assert "voipbed.scenario" in modules
    assert loaded(modules, RUN_ONLY) == []


def test_no_package_module_imports_matplotlib() -> None:
    """No module of the installed package imports matplotlib: the reports draw their own SVG."""
    pattern = re.compile(r"^\s*(import|from)\s+matplotlib\b", re.MULTILINE)
    sources = [path for folder in PACKAGE_DIRS for path in (ROOT / folder).rglob("*.py")]
    assert len(sources) > 20
    importing = [str(p.relative_to(ROOT)) for p in sources if pattern.search(p.read_text("utf-8"))]
    assert importing == []
