"""Sockets inside a run's network namespaces, from the engine's own process.

A socket belongs to the network namespace of the thread that created it, for
its whole life. :func:`socket_in_namespace` creates one in the namespace of a
given process (a Mininet node's shell) from a short-lived thread that enters
that namespace with setns(2), so the engine can talk to a program inside a
node (baresip's ctrl_tcp) without leaving its own namespace or spawning a
client in the node.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

__all__ = ["connect_in_namespace", "socket_in_namespace"]

CLONE_NEWNET = 0x40000000  # <linux/sched.h>


def socket_in_namespace(
    pid: int, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM
) -> socket.socket:
    """A new socket in the network namespace of process ``pid`` (root needed)."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def create() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(
                        error, f"setns into the namespace of pid {pid}: {os.strerror(error)}"
                    )
            finally:
                os.close(fd)
            made.append(socket.socket(family, kind))
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    # The thread ends inside the other namespace; it is never reused, so nothing leaks.
    thread = threading.Thread(target=create, name=f"netns-{pid}", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def connect_in_namespace(pid: int, host: str, port: int, timeout_s: float) -> socket.socket:
    """A TCP connection to ``host:port`` as seen from the namespace of process ``pid``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket_in_namespace(pid, family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock
