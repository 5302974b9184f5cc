"""A check as JUnit XML, the test report format CI systems read (Jenkins, GitLab, GitHub).

One ``testsuite`` per run or sweep point, one ``testcase`` per expectation:
a threshold that does not hold is a ``failure`` whose message names the
metric, the value measured, the threshold and the point; a point that did
not run makes each of its expectations an ``error``. The layout follows the
JUnit schema of the Jenkins xUnit plugin (``junit-10.xsd``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from voipbed.check import CheckResult, PointCheck

__all__ = ["junit_xml", "write_junit"]


def junit_xml(results: Sequence[CheckResult]) -> str:
    """One or more checks (runs, sweeps) as one JUnit XML document."""
    points = [(result.scenario, point) for result in results for point in result.points]
    root = ET.Element(
        "testsuites",
        name="voipbed check " + " ".join(result.scenario for result in results),
        tests=str(sum(max(1, len(point.outcomes)) for _, point in points)),
        failures=str(sum(point.failures for _, point in points)),
        errors=str(sum(max(1, len(point.outcomes)) for _, point in points if point.error)),
    )
    for scenario, point in points:
        root.append(_suite(scenario, point))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(scenario: str, point: PointCheck) -> ET.Element:
    name = f"{scenario} {point.label}".strip()
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(point.outcomes)),
        failures=str(point.failures),
        errors=str(len(point.outcomes) if point.error else 0),
    )
    classname = f"voipbed.{scenario}" + (f".{point.label}" if point.label else "")
    if point.error and not point.outcomes:  # a run that failed before anything was measured
        case = ET.SubElement(suite, "testcase", name="run", classname=classname)
        ET.SubElement(case, "error", message=point.error, type="run")
        suite.set("tests", "1")
        suite.set("errors", "1")
    for outcome in point.outcomes:
        case = ET.SubElement(suite, "testcase", name=outcome.text, classname=classname)
        where = point.label or (str(point.run_dir) if point.run_dir else "")
        if point.error:
            ET.SubElement(case, "error", message=f"{point.label}: {point.error}", type="run")
        elif not outcome.passed:
            failure = ET.SubElement(
                case, "failure", message=outcome.message(where), type="expectation"
            )
            failure.text = outcome.message(where)
    return suite


def write_junit(results: Sequence[CheckResult], path: Path) -> Path:
    """Write the checks' JUnit XML to ``path`` (folders made as needed); return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results), encoding="utf-8")
    return path
