"""The run registry, and removal of what dead emulation runs left behind (``voipbed clean``).

While a network is up, its run is recorded in ``<state_dir>/<tag>.json``: the tag, the run
id, the owner's pid and start time (``/proc/<pid>/stat``, so a reused pid is not taken for
the owner), and each node's shell pid and network namespace (``/proc/<pid>/ns/net`` device
and inode). Every namespace a run creates also carries a marker, the alias of its loopback
interface (``voipbed <tag> <run id>``). Normal teardown removes the record.

:func:`clean_dead_runs` acts only on recorded runs whose owner is dead. It stops the run's
Mininet node shells (``bash ... mininet:<tag>...``) and every process inside the run's
namespaces (recorded namespaces count only while they still carry the run's marker, as
namespace inodes are reused), then deletes interfaces named with the tag that remain in
this namespace. It never selects anything by a broad name and never touches a live run.
:func:`find_leftovers` lists what of a tag still exists anywhere, for reports and tests.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voipbed.emulation.names import TAG_PATTERN, shell_marker
from voipbed.emulation.process import ProcessError, run_command

__all__ = [
    "DEFAULT_STATE_DIR",
    "CleanReport",
    "CleanedRun",
    "Leftovers",
    "NamespaceId",
    "RunRecord",
    "RunRegistration",
    "clean_dead_runs",
    "find_leftovers",
    "namespace_marker",
    "namespace_of",
    "process_start_ticks",
    "remove_run",
    "stop_namespace_processes",
]

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("/run/voipbed")
COMMAND_TIMEOUT_S = 5.0
POLL_S = 0.02

NamespaceId = tuple[int, int]
"""A network namespace's identity: ``(st_dev, st_ino)`` of ``/proc/<pid>/ns/net``."""


def namespace_marker(tag: str, run_id: str) -> str:
    """The alias set on the loopback interface of every namespace of a run."""
    return f"voipbed {tag} {run_id}"


# ---------------------------------------------------------------- /proc readers


def _pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def process_start_ticks(pid: int) -> int | None:
    """A process's start time (clock ticks after boot, ``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command (which may hold spaces): state is field 3.
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[19]) if len(fields) > 19 else None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode("utf-8", errors="replace") for arg in raw.split(b"\0") if arg]


def namespace_of(pid: int) -> NamespaceId | None:
    """The network namespace of process ``pid`` (None if it is gone or a zombie)."""
    try:
        info = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _own_namespace() -> set[NamespaceId]:
    """This process's namespace, never a target (a set: empty if unreadable)."""
    ns = namespace_of(os.getpid())
    return set() if ns is None else {ns}


def _namespace_members() -> dict[NamespaceId, list[int]]:
    """Every network namespace that has a live process, with its processes."""
    members: dict[NamespaceId, list[int]] = {}
    for pid in _pids():
        ns = namespace_of(pid)
        if ns is not None:
            members.setdefault(ns, []).append(pid)
    return members


def _interfaces_seen_by(pid: int) -> list[str]:
    """Interface names of ``pid``'s network namespace (``/proc/<pid>/net/dev``)."""
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return []
    return [line.split(":", 1)[0].strip() for line in lines if ":" in line]


def _loopback_alias(pid: int) -> str | None:
    """The alias of ``lo`` in ``pid``'s network namespace, or None."""
    try:
        shown = run_command(
            ["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", "link", "show", "dev", "lo"],
            timeout_s=COMMAND_TIMEOUT_S,
        )
        entries: list[dict[str, Any]] = json.loads(shown.stdout)
    except (ProcessError, ValueError) as exc:
        log.debug("no loopback alias readable for pid %d: %s", pid, exc)
        return None
    alias = entries[0].get("ifalias") if entries else None
    return alias if isinstance(alias, str) else None


def _shells_of(tag: str) -> dict[int, str]:
    """The Mininet node shells of a tag: pid -> node name (``mininet:<tag>..`` argument)."""
    prefix = shell_marker(tag)
    shells: dict[int, str] = {}
    for pid in _pids():
        for arg in _cmdline(pid):
            if arg.startswith(prefix):
                shells[pid] = arg.removeprefix("mininet:")
                break
    return shells


# ---------------------------------------------------------------- stopping processes


def _signal(pid: int, sig: signal.Signals, namespaces: set[NamespaceId]) -> bool:
    """Send ``sig`` to ``pid`` if it is (still) in one of ``namespaces``; a pidfd pins the
    process, so a pid reused between the check and the signal is never hit."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if namespace_of(pid) not in namespaces:
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


def stop_namespace_processes(
    namespaces: Iterable[NamespaceId],
    *,
    grace_s: float = 1.0,
    spare: Iterable[int] = (),
) -> list[int]:
    """Stop every process in ``namespaces`` except ``spare``: SIGTERM, then SIGKILL after
    ``grace_s``. Never acts on the caller's own namespace. Returns the pids signalled."""
    targets = set(namespaces) - _own_namespace()
    if not targets:
        return []
    spared = {*spare, os.getpid()}

    def members() -> list[int]:
        return [pid for pid in _pids() if pid not in spared and namespace_of(pid) in targets]

    signalled = [pid for pid in members() if _signal(pid, signal.SIGTERM, targets)]
    deadline = time.monotonic() + grace_s
    while members() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for pid in members():
        if _signal(pid, signal.SIGKILL, targets) and pid not in signalled:
            signalled.append(pid)
    deadline = time.monotonic() + grace_s
    while members() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return signalled


def _stop_shells(pids: Iterable[int], *, grace_s: float) -> list[int]:
    """Stop node shells: SIGHUP (interactive bash ignores SIGTERM), then SIGKILL."""
    pinned = {pid: ns for pid in pids if (ns := namespace_of(pid)) is not None}
    stopped = [pid for pid, ns in pinned.items() if _signal(pid, signal.SIGHUP, {ns})]
    deadline = time.monotonic() + grace_s
    while any(namespace_of(pid) == ns for pid, ns in pinned.items()):
        if time.monotonic() >= deadline:
            for pid, ns in pinned.items():
                _signal(pid, signal.SIGKILL, {ns})
            break
        time.sleep(POLL_S)
    return stopped


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class RunRecord:
    """What the registry knows of one run."""

    tag: str
    run_id: str
    owner_pid: int
    owner_start_ticks: int
    nodes: dict[str, int] = field(default_factory=dict)  # node name -> shell pid
    namespaces: tuple[NamespaceId, ...] = ()

    @property
    def marker(self) -> str:
        """The loopback alias of this run's namespaces."""
        return namespace_marker(self.tag, self.run_id)

    def owner_alive(self) -> bool:
        """Whether the owner process still runs (same pid and the same start time)."""
        return process_start_ticks(self.owner_pid) == self.owner_start_ticks

    def to_json(self) -> str:
        data = {
            "tag": self.tag,
            "run_id": self.run_id,
            "owner_pid": self.owner_pid,
            "owner_start_ticks": self.owner_start_ticks,
            "nodes": self.nodes,
            "namespaces": [list(ns) for ns in self.namespaces],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        data = json.loads(text)
        tag = str(data["tag"])
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(f"bad tag {tag!r}")
        return cls(
            tag=tag,
            run_id=str(data["run_id"]),
            owner_pid=int(data["owner_pid"]),
            owner_start_ticks=int(data["owner_start_ticks"]),
            nodes={str(name): int(pid) for name, pid in data.get("nodes", {}).items()},
            namespaces=tuple((int(dev), int(ino)) for dev, ino in data.get("namespaces", [])),
        )


class RunRegistration:
    """The registry entry of the current process's run, rewritten as nodes are added."""

    def __init__(self, state_dir: Path, tag: str, run_id: str) -> None:
        ticks = process_start_ticks(os.getpid())
        if ticks is None:
            raise RuntimeError("cannot read this process's start time from /proc")
        self.path = Path(state_dir) / f"{tag}.json"
        self.record = RunRecord(tag, run_id, os.getpid(), ticks)

    def write(self) -> None:
        """Create or rewrite the record (atomically: a temporary file, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not _is_ours(self.path, self.record):
            raise FileExistsError(f"{self.path} records another run with tag {self.record.tag}")
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(self.record.to_json())
        temporary.replace(self.path)

    def add_node(self, name: str, shell_pid: int) -> None:
        """Record a node's shell and namespace (before anything is started in it)."""
        ns = namespace_of(shell_pid)
        namespaces = self.record.namespaces if ns is None else (*self.record.namespaces, ns)
        self.record = RunRecord(
            self.record.tag,
            self.record.run_id,
            self.record.owner_pid,
            self.record.owner_start_ticks,
            {**self.record.nodes, name: shell_pid},
            namespaces,
        )
        self.write()

    def remove(self) -> None:
        """Delete the record (normal teardown)."""
        self.path.unlink(missing_ok=True)


def _is_ours(path: Path, record: RunRecord) -> bool:
    try:
        existing = RunRecord.from_json(path.read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (existing.owner_pid, existing.owner_start_ticks) == (
        record.owner_pid,
        record.owner_start_ticks,
    )


# ---------------------------------------------------------------- finding and cleaning


@dataclass(frozen=True)
class Leftovers:
    """What of a tag exists: node shells, other processes in its namespaces, interfaces."""

    shells: tuple[int, ...]
    processes: tuple[int, ...]
    namespaces: tuple[NamespaceId, ...]
    interfaces: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.shells or self.processes or self.namespaces or self.interfaces)


def find_leftovers(tag: str, run_id: str | None = None) -> Leftovers:
    """Everything of ``tag`` that exists now, in any namespace of this machine.

    A namespace belongs to the tag when a node shell of the tag is in it, when it has an
    interface named with the tag, or (given ``run_id``) when its loopback alias is the run's
    marker (the only sign left in a namespace whose veths went with their peers). Processes
    are those in such namespaces, plus any whose arguments name the tag; interfaces are
    those named with the tag, wherever they are.
    """
    if not TAG_PATTERN.fullmatch(tag):
        raise ValueError(f"{tag!r} is not a run tag")
    marker = None if run_id is None else namespace_marker(tag, run_id)
    shells = _shells_of(tag)
    members = _namespace_members()
    own = _own_namespace()
    ours: set[NamespaceId] = {ns for pid in shells if (ns := namespace_of(pid)) is not None}
    interfaces: list[str] = []
    for ns, pids in members.items():
        names = [name for name in _interfaces_seen_by(pids[0]) if name.startswith(tag)]
        interfaces.extend(names)
        if ns not in own and (names or (marker is not None and _loopback_alias(pids[0]) == marker)):
            ours.add(ns)
    ours -= _own_namespace()
    processes = {pid for ns in ours for pid in members.get(ns, [])}
    processes |= {pid for pid in _pids() if any(tag in arg for arg in _cmdline(pid))}
    processes -= {*shells, os.getpid()}
    return Leftovers(
        shells=tuple(sorted(shells)),
        processes=tuple(sorted(processes)),
        namespaces=tuple(sorted(ours)),
        interfaces=tuple(sorted(set(interfaces))),
    )


@dataclass(frozen=True)
class CleanedRun:
    """What was removed of one dead run."""

    run_id: str
    tag: str
    owner_pid: int
    stopped_pids: tuple[int, ...]
    deleted_interfaces: tuple[str, ...]
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanReport:
    """The outcome of :func:`clean_dead_runs`."""

    cleaned: tuple[CleanedRun, ...] = ()
    live: tuple[str, ...] = ()  # run ids left alone: their owner runs
    unreadable: tuple[Path, ...] = ()  # registry files that could not be read (kept)

    @property
    def ok(self) -> bool:
        """True when every dead run was removed without error."""
        return not self.unreadable and not any(run.errors for run in self.cleaned)

    def lines(self) -> list[str]:
        """A human-readable account, one line per run."""
        out = [
            f"cleaned {run.run_id} ({run.tag}, owner pid {run.owner_pid} dead): "
            f"{len(run.stopped_pids)} processes stopped, "
            f"{len(run.deleted_interfaces)} interfaces deleted"
            + "".join(f"; error: {error}" for error in run.errors)
            for run in self.cleaned
        ]
        out += [f"left alone {run_id}: its owner is running" for run_id in self.live]
        out += [f"unreadable registry file {path} (kept)" for path in self.unreadable]
        return out or ["nothing to clean"]


def remove_run(record: RunRecord, *, grace_s: float = 1.0) -> CleanedRun:
    """Remove everything of ``record``'s run (whether or not its owner runs: the caller
    decides; :func:`clean_dead_runs` calls it for dead owners only)."""
    errors: list[str] = []
    shells = _shells_of(record.tag)
    members = _namespace_members()
    ours: set[NamespaceId] = {ns for pid in shells if (ns := namespace_of(pid)) is not None}
    for ns in set(record.namespaces) - ours:
        pids = members.get(ns)
        # A recorded namespace inode may since belong to someone else: check the marker.
        if pids and _loopback_alias(pids[0]) == record.marker:
            ours.add(ns)
    stopped = stop_namespace_processes(ours, grace_s=grace_s, spare=shells)
    stopped += _stop_shells(shells, grace_s=grace_s)
    deleted: list[str] = []
    for name in _interfaces_seen_by(os.getpid()):
        if name.startswith(record.tag):
            try:
                run_command(["ip", "link", "del", "dev", name], timeout_s=COMMAND_TIMEOUT_S)
                deleted.append(name)
            except ProcessError as exc:
                errors.append(f"ip link del {name}: {exc.stderr_tail or exc}")
    left = find_leftovers(record.tag, record.run_id)
    if left:
        errors.append(f"still present after cleaning: {left}")
    return CleanedRun(
        record.run_id, record.tag, record.owner_pid, tuple(stopped), tuple(deleted), tuple(errors)
    )


def clean_dead_runs(state_dir: Path = DEFAULT_STATE_DIR, *, grace_s: float = 1.0) -> CleanReport:
    """Remove the leftovers of every recorded run whose owner is dead; leave live runs be.

    A dead run's record is deleted once nothing of it is left; if something could not be
    removed the record stays, so a later call tries again.
    """
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return CleanReport()
    cleaned: list[CleanedRun] = []
    live: list[str] = []
    unreadable: list[Path] = []
    for path in sorted(state_dir.glob("vb*.json")):
        try:
            record = RunRecord.from_json(path.read_text())
        except FileNotFoundError:
            continue  # its run ended meanwhile
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read %s: %s", path, exc)
            unreadable.append(path)
            continue
        if record.owner_alive():
            live.append(record.run_id)
            continue
        result = remove_run(record, grace_s=grace_s)
        cleaned.append(result)
        if not result.errors:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for line in CleanReport(cleaned=(result,)).lines():
            log.info("%s", line)
    return CleanReport(tuple(cleaned), tuple(live), tuple(unreadable))
