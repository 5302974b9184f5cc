"""``python -m voipbed`` is the ``voipbed`` command."""

from voipbed.cli import entry

entry()
