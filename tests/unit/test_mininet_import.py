"""Importing Mininet leaves the project's logging as it was."""

from __future__ import annotations

import logging
import uuid

import pytest

from voipbed.emulation._mininet import MininetMissing, _import


def test_loggers_made_after_mininet_are_plain() -> None:
    """mininet.log makes every later logger its own (a console handler, level 25): after the
    import a new logger is a plain one again, with no handler and no level."""
    try:
        _import()
    except MininetMissing as missing:
        pytest.skip(f"Mininet is not installed: {missing}")
    logger = logging.getLogger(f"voipbed.test.{uuid.uuid4().hex}")
    assert type(logger) is logging.Logger
    assert logger.handlers == [] and logger.level == logging.NOTSET
