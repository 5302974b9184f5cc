"""The project's one log format: JSON lines with RFC 3339 UTC times and the run's id."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
from pathlib import Path

from voipbed.json_log import RUN_ID_VARIABLE, JsonLines, configure, run_log
from voipbed.loader import parse_scenario
from voipbed.runner import run_scenario

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_a_line_is_one_json_object_with_its_time_level_and_run() -> None:
    """Time in RFC 3339 UTC with milliseconds, level, logger, message, run id, pid; an
    exception's traceback under error."""
    record = logging.LogRecord("voipbed.x", logging.WARNING, "f.py", 1, "a %s", ("b",), None)
    line = json.loads(JsonLines().format(record))
    assert RFC3339_UTC.match(line["time"])
    assert (line["level"], line["logger"], line["message"]) == ("warning", "voipbed.x", "a b")
    assert line["run_id"] is None and line["pid"] == os.getpid()
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, "f.py", 1, "m", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonLines().format(failed))["error"]


def test_a_run_keeps_its_log_and_hands_its_id_on(tmp_path: Path) -> None:
    """Inside ``run_log`` the project's INFO records go to log.jsonl with the run id, which
    the environment carries to child processes; after it, both are as they were."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = []  # as in a program of its own: nothing configured yet
    configure(logging.WARNING, stream)
    before = os.environ.get(RUN_ID_VARIABLE)
    try:
        with run_log(tmp_path, "run-1") as path:
            assert os.environ[RUN_ID_VARIABLE] == "run-1"
            logging.getLogger("voipbed.test").info("inside")
        logging.getLogger("voipbed.test").info("outside")
    finally:
        root.handlers[:], root.level = handlers, level
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["message"], x["run_id"]) for x in lines] == [("inside", "run-1")]
    assert stream.getvalue() == ""  # stderr keeps its own level: WARNING
    assert os.environ.get(RUN_ID_VARIABLE) == before


def test_every_run_folder_has_its_log(tmp_path: Path) -> None:
    """A simulated run writes log.jsonl, its stages in order, every line with its id."""
    text = "name: l\nduration: 2s\ncalls: {count: 1}\npath: [{name: a, one_way_delay: 10ms}]\n"
    run_dir = run_scenario(parse_scenario(text, "l.yaml"), tmp_path).run_dir
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    stages = [x["message"].split(": ")[1] for x in lines if x["logger"] == "voipbed.runner"]
    assert stages[:2] == ["simulate", "write trace"] and "report" in stages
    assert {x["run_id"] for x in lines} == {run_dir.name}


def test_a_configured_logging_is_left_as_it_is() -> None:
    """With a handler already there (a host program's, a test runner's), configure adds
    none, as logging.basicConfig does."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    marker = logging.NullHandler()
    root.handlers[:] = [marker]
    try:
        configure(logging.INFO, io.StringIO())
        assert root.handlers == [marker]
    finally:
        root.handlers[:] = handlers
