"""Reading an organization's sources before it is planned, with the guards that keep a broken
directory from emptying it: a source that fails stops the plan (nothing is sent); a source that
returns nobody is refused unless its organization's `source_policy` allows it.

A directory is read while the organization is. Decoding 100,000 directory entries is Python work
(ldap3, scim2-models) that a thread would only interleave with decoding the organization's own
answer, so where it is safe (on Linux, with no other thread running yet)
the reading happens in a forked child on the other core, and only what the sources returned
comes back; elsewhere, in a thread. Both give the same answer and the same errors.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..config.loader import LoadedConfig
from ..config.source_models import Source, SourcePolicy
from ..errors import ConfigError, ReconcilerError
from ..model.sources import SourcedEntry
from ..planning.sources import Sourced, SourceRead, merge_sources
from ..sources.base import SourceError
from ..sources.registry import source_for

MAX_SKIPPED_SHOWN = 5  # of one source's unusable entries, named one by one


Target = tuple[str, SourcePolicy, list[Source]]  # an organization, its source policy, sources


def _read(targets: list[Target], config_path: Path) -> tuple[list[SourceRead], list[str]]:
    """What each source returned, and the entries left out (said, never guessed)."""
    reads: list[SourceRead] = []
    notes: list[str] = []
    for name, policy, sources in targets:
        for source in sources:
            reader = source_for(source, config_path)
            answer = reader.read()  # SourceError or ConfigError: the plan fails, one line
            if not answer.entries and not policy.allow_empty:
                raise SourceError(
                    reader.describe(),
                    f"returned nobody for {name}: refused, so a broken directory never empties "
                    "the organization (set source_policy: {allow_empty: true} if that is meant)",
                )
            reads.append(SourceRead(name, source, answer.entries))
            shown = answer.skipped[:MAX_SKIPPED_SHOWN]
            more = len(answer.skipped) - len(shown)
            notes += [f"{name}: {reader.describe()}: {line}; left out" for line in shown]
            if more:
                notes.append(f"{name}: {reader.describe()}: and {more} more entries left out")
    return reads, notes


def _targets(config: LoadedConfig, only: Iterable[str]) -> list[Target]:
    wanted = set(only)
    return [
        (name, org.source_policy or SourcePolicy(), list(org.sources))
        for name, org in config.desired.organizations.items()
        if org.sources and (not wanted or name in wanted)
    ]


def _merged(config: LoadedConfig, reads: list[SourceRead], notes: list[str]) -> Sourced:
    merged = merge_sources(config.desired, reads)
    return Sourced(merged.desired, merged.origins, merged.snapshots, [*notes, *merged.unusable])


def read_sources(config: LoadedConfig, only: Iterable[str] = ()) -> Sourced:
    """The desired state with what every source of the selected organizations returned."""
    targets = _targets(config, only)
    if not targets:
        return Sourced(config.desired)
    reads, notes = _read(targets, config.path)
    return _merged(config, reads, notes)


# (kind, value, role, where, expires, cost_center): one person, cheap to pickle
Rows = list[tuple[str, str, str, str, Any, Any]]


def _child(sending: Connection, targets: list[Target], config_path: Path) -> None:
    """The forked reader: what the sources returned, or the error that stops the plan. Ctrl-C
    is the parent's to handle; the parent's exit ends this child (SIGTERM, not caught here)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    outcome: tuple[str, Any]
    try:
        reads, notes = _read(targets, config_path)
        rows: list[Rows] = [
            [(e.kind, e.value, e.role, e.where, e.expires, e.cost_center) for e in read.entries]
            for read in reads
        ]
        outcome = ("read", (rows, notes))
    except (SourceError, ConfigError) as exc:
        outcome = ("error", exc)
    except ReconcilerError as exc:
        outcome = ("error", SourceError("a source", str(exc).splitlines()[0]))
    except Exception as exc:  # a plugin's own failure: one line, as in the thread
        outcome = ("error", SourceError("a source", f"{type(exc).__name__}: {exc}"[:300]))
    sending.send(outcome)
    sending.close()


def _receive(
    receiving: Connection, process: Any, targets: list[Target], config: LoadedConfig
) -> Sourced:
    try:
        kind, payload = receiving.recv()
    except (EOFError, OSError):
        process.join()
        raise SourceError(
            "the source reader", f"stopped before it answered (exit code {process.exitcode})"
        ) from None
    finally:
        receiving.close()
    process.join()
    if kind == "error":
        raise payload
    rows, notes = payload
    sources = [(name, source) for name, _policy, listed in targets for source in listed]
    reads = [
        SourceRead(name, source, [SourcedEntry(*row) for row in found])
        for (name, source), found in zip(sources, rows, strict=True)
    ]
    return _merged(config, reads, notes)


def _can_fork() -> bool:
    """A fork is safe only before any other thread runs (a lock held there would stay held), and
    on Linux (macOS's system libraries may not survive one: Python spawns there)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def start_reading_sources(config: LoadedConfig, only: Iterable[str] = ()) -> Callable[[], Sourced]:
    """Begin reading the sources; the returned call waits for the merged answer (or raises what
    the sources raised). In a forked child where that is safe, else in a thread."""
    targets = _targets(config, only)
    if not targets:
        return lambda: Sourced(config.desired)
    if _can_fork():
        context = multiprocessing.get_context("fork")
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(sending, targets, config.path), daemon=True)
        process.start()
        sending.close()
        return lambda: _receive(receiving, process, targets, config)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sources")
    reading: Future[Sourced] = pool.submit(read_sources, config, only)
    pool.shutdown(wait=False)
    return reading.result
