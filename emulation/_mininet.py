"""The one place that imports Mininet (Debian's 2.3.0, linked into the venv by ``make sysdeps``).

Mininet's ``node.py`` imports ``distutils``, which warns on Python 3.11 (and pytest turns
warnings into errors), so the import happens here under ``warnings.catch_warnings``. Mininet's
class-wide ``init()`` would rewrite host-wide sysctls and limits (``fixLimits``); voipbed never
changes host-wide settings, so :func:`new_mininet` marks Mininet as already initialised
before creating an instance. Mininet's ``log`` module makes every logger created after it
a ``MininetLogger`` (its own console handler, its own level); the import puts the logger
class back, so the project's loggers stay plain. Nothing here calls ``mn -c`` or
``mininet.clean``.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

__all__ = ["MininetMissing", "new_mininet"]


class MininetMissing(RuntimeError):
    """Mininet is not importable (run ``make sysdeps`` as root)."""


def _import() -> tuple[Any, Any, Any]:
    logger_class = logging.getLoggerClass()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from mininet.net import Mininet
            from mininet.node import Host
            from mininet.nodelib import LinuxBridge
    except ImportError as exc:
        raise MininetMissing(
            f"Mininet is not importable ({exc}); `make sysdeps` as root installs it"
        ) from exc
    finally:
        logging.setLoggerClass(logger_class)  # mininet.log makes every new logger its own
    return Mininet, Host, LinuxBridge


def new_mininet() -> Any:
    """An empty Mininet network (no topology, no controller, nothing built yet).

    Hosts and links are added by the caller (``addHost``, ``addLink``); ``build()`` and
    ``start()`` are never called, so Mininet configures nothing on its own.
    """
    mininet_cls, host_cls, bridge_cls = _import()
    # Mininet.init() runs fixLimits() (sysctl -w of host-wide settings) unless inited.
    mininet_cls.inited = True
    return mininet_cls(
        topo=None,
        controller=None,
        switch=bridge_cls,
        host=host_cls,
        build=False,
        autoSetMacs=False,
        autoStaticArp=False,
        inNamespace=False,
    )
