"""A check as JUnit XML, the test report format CI systems read (Jenkins, GitLab, GitHub).

One ``testsuite`` per run or sweep point, one ``testcase`` per expectation:
a threshold that does not hold is a ``failure`` whose message names the
metric, the value measured, the threshold and the point; a point that did
not run makes each of its expectations an ``error``. The layout follows the
JUnit schema of the Jenkins xUnit plugin (``junit-10.xsd``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from voipbed.check import CheckResult, PointCheck

__all__ = ["junit_xml", "write_junit"]


def junit_xml(result: CheckResult) -> str:
    """The check as a JUnit XML document."""
    root = ET.Element(
        "testsuites",
        name=f"voipbed check {result.scenario}",
        tests=str(sum(len(point.outcomes) for point in result.points)),
        failures=str(result.failures),
        errors=str(sum(len(point.outcomes) for point in result.points if point.error)),
    )
    for point in result.points:
        root.append(_suite(result.scenario, point))
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
    for outcome in point.outcomes:
        case = ET.SubElement(suite, "testcase", name=outcome.expectation.text, classname=classname)
        where = point.label or (str(point.run_dir) if point.run_dir else "")
        if point.error:
            ET.SubElement(case, "error", message=f"{point.label}: {point.error}", type="run")
        elif not outcome.passed:
            failure = ET.SubElement(
                case, "failure", message=outcome.message(where), type="expectation"
            )
            failure.text = outcome.message(where)
    return suite


def write_junit(result: CheckResult, path: Path) -> Path:
    """Write the check's JUnit XML to ``path`` (folders made as needed); return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(result), encoding="utf-8")
    return path
