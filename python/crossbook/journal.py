"""Durability (SPEC §10): the write-ahead journal, snapshots and recovery of a durable exchange.

A durable exchange (:meth:`crossbook.Exchange.open`) lives in a directory::

    journal.cbj                  every command since the exchange was created, in order
    snapshot-000000120000.cbs    the whole state after the first 120,000 commands (the newest two kept)
    LOCK                         held (flock) while an Exchange has the directory open
    *.tmp                        a snapshot being written (removed on open if a crash left one)

**Write-ahead, acknowledged = durable.** Each public command normalizes its arguments, runs on the
engine and is appended to the journal (one ``write`` of a length + CRC-32 record, see
``crossbook_core::journal``) before it returns or raises. Both outcomes are journaled: a command the
engine refused with a :class:`~crossbook.CrossbookError` is recorded as *refused* and replay expects
the same refusal, so the journal stays exact even for a command that failed after partial effects
inside the Python policy layer. Arguments that fail normalization (wrong type, out of range) never
reach the engine and are not journaled. If the append itself fails, the command raises
:class:`~crossbook.DurabilityError` and the exchange refuses every further command, because its
memory and its journal might disagree; reopening recovers the acknowledged state. A command whose
engine call raised anything other than a ``CrossbookError`` (a bug) does the same.

``fsync``: ``"always"`` fsyncs each record before returning (a power failure loses nothing
acknowledged); ``"batch"`` every ``batch_size`` records (a power failure loses at most
``batch_size - 1`` acknowledged commands; :meth:`~crossbook.Exchange.sync` forces it); ``"never"``
leaves it to the OS. The record always reaches the OS before the command returns, so a killed process
(``kill -9``) loses nothing acknowledged in any mode.

**Snapshots** (:meth:`~crossbook.Exchange.snapshot`, and every ``snapshot_every`` commands) hold the
engine's whole state in a compact, versioned binary (``Engine::snapshot``, framed with magic, version,
record count, state hash and CRC-32), written atomically (temporary file, fsync, rename, directory
fsync) after the journal is synced, so a snapshot never covers records that are not durable. The
Python layer keeps no state of its own beyond the configuration, which the journal's header carries.

**Recovery** on open: the journal is decoded whole (every CRC checked); a torn last record (a write
cut by a crash) is truncated with a logged warning; a corrupt record followed by valid ones, a bad
header or an unknown format version raises :class:`~crossbook.JournalError` naming the file and the
offset, never a silent reset. Then the newest snapshot that reads back (a damaged one is skipped with
a warning: the journal still holds everything, so nothing is lost) is restored and its hash checked,
and the journal records after it are replayed through the same command methods. Events of replayed
commands are not delivered again: ``events()`` after open returns only new ones.

:func:`replay` rebuilds an in-memory exchange from a journal alone (its header carries the
configuration), for audits and for checking recovery.

Costs: a command adds one ``write`` (and one ``fdatasync`` with ``"always"``, typically 0.1-10 ms
depending on the storage) to its in-memory cost; a snapshot is O(state); recovery is O(journal
bytes) to check plus the replay of the tail after the newest snapshot.
"""

from __future__ import annotations

import json
import logging
import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from crossbook import _core
from crossbook.config import Config
from crossbook.exceptions import (
    CrossbookError,
    DurabilityError,
    InvalidArgumentError,
    InvalidTypeError,
    JournalCorruptError,
)

if TYPE_CHECKING:
    from crossbook.exchange import Exchange

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no directory lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("crossbook.journal")

JOURNAL_NAME = "journal.cbj"
_SNAPSHOT_PREFIX = "snapshot-"
_SNAPSHOT_SUFFIX = ".cbs"
_KEEP_SNAPSHOTS = 2
_FORMAT = "crossbook journal"
_FSYNC_MODES = ("always", "batch", "never")

_T = TypeVar("_T")


def _metadata(config: Config) -> bytes:
    return json.dumps({"format": _FORMAT, "config": config.to_dict()}, sort_keys=True).encode()


def _config_of(path: Path, metadata: bytes) -> Config:
    try:
        header = json.loads(metadata)
        if header.get("format") != _FORMAT:
            raise ValueError("not a crossbook journal header")
        return Config.from_dict(header["config"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise JournalCorruptError(str(path), 14, f"the header's configuration cannot be read: {error}") from error


def _snapshot_path(directory: Path, records: int) -> Path:
    return directory / f"{_SNAPSHOT_PREFIX}{records:012d}{_SNAPSHOT_SUFFIX}"


def _snapshots(directory: Path) -> list[Path]:
    """Snapshot files of the directory, newest (most records) first."""
    found = []
    for path in directory.glob(f"{_SNAPSHOT_PREFIX}*{_SNAPSHOT_SUFFIX}"):
        digits = path.name[len(_SNAPSHOT_PREFIX) : -len(_SNAPSHOT_SUFFIX)]
        if digits.isdigit():
            found.append((int(digits), path))
    return [path for _records, path in sorted(found, reverse=True)]


def replay_commands(exchange: Exchange, records: Iterable[tuple[int, str, tuple[Any, ...], bool]], path: Path) -> int:
    """Applies journaled commands to ``exchange``; returns how many. A record that names no command,
    has the wrong arguments, or whose outcome differs from the journaled one (accepted versus
    refused) raises :class:`JournalCorruptError` naming its offset."""
    from crossbook.exchange import COMMANDS  # noqa: PLC0415 - exchange imports this module lazily

    count = 0
    for offset, name, args, refused in records:
        if name not in COMMANDS:
            raise JournalCorruptError(str(path), offset, f"record names no command: {name!r}")
        apply: Callable[..., object] = getattr(exchange, f"_{name}")
        try:
            apply(*args)
        except CrossbookError as error:
            if not refused:
                raise JournalCorruptError(
                    str(path), offset, f"{name} was accepted when journaled but is refused on replay: {error}"
                ) from error
        except TypeError as error:
            raise JournalCorruptError(str(path), offset, f"{name} has malformed arguments: {error}") from error
        else:
            if refused:
                raise JournalCorruptError(
                    str(path), offset, f"{name} was refused when journaled but accepted on replay"
                )
        count += 1
    return count


def replay(journal_path: str | os.PathLike[str]) -> Exchange:
    """An in-memory exchange rebuilt from a journal's commands alone (the header carries the
    configuration). ``journal_path`` is a journal file or a durable exchange's directory. A torn last
    record is ignored with a warning (the file is not changed)."""
    from crossbook.exchange import Exchange  # noqa: PLC0415

    path = Path(journal_path)
    if path.is_dir():
        path = path / JOURNAL_NAME
    metadata, _count, records, torn = _core.read_journal(path)
    if torn is not None:
        log.warning("%s: ignoring a torn last record at offset %d (%s)", path, *torn)
    exchange = Exchange(_config_of(path, metadata))
    replay_commands(exchange, records, path)
    exchange.events()
    return exchange


class Durability:
    """The journal, snapshots and lock of one durable exchange (see the module docs)."""

    def __init__(
        self,
        directory: Path,
        writer: _core.JournalWriter,
        snapshot_every: int | None,
        lock: int | None,
        records_at_snapshot: int,
    ) -> None:
        self.directory = directory
        self._writer = writer
        self._snapshot_every = snapshot_every
        # The lock is released on close, or when the exchange is garbage-collected unclosed.
        self._unlock = weakref.finalize(self, os.close, lock) if lock is not None else None
        self._records_at_snapshot = records_at_snapshot
        self._failure: str | None = None

    def run(self, apply: Callable[..., _T], args: tuple[object, ...]) -> _T:
        """Runs a command (a bound ``Exchange._<name>`` method) and journals it (see the module
        docs for what is journaled)."""
        if self._failure is not None:
            raise DurabilityError(f"the exchange refuses commands: {self._failure}")
        name = apply.__name__[1:]
        try:
            result = apply(*args)
        except CrossbookError:
            self._append(apply, args, refused=True)
            raise
        except BaseException as error:
            self._failure = f"{name} failed with {type(error).__name__} ({error}); reopen the directory to recover"
            raise
        self._append(apply, args, refused=False)
        return result

    def _append(self, apply: Callable[..., object], args: tuple[object, ...], *, refused: bool) -> None:
        name = apply.__name__[1:]
        try:
            self._writer.append(name, args, refused)
        except BaseException as error:
            self._failure = f"appending {name} to the journal failed ({error}); reopen the directory to recover"
            raise
        if self._snapshot_every is not None and self.records - self._records_at_snapshot >= self._snapshot_every:
            # The command is durable already; a failed snapshot only costs recovery time, so it is
            # logged rather than reported as the command's failure.
            try:
                self.snapshot(apply.__self__)  # type: ignore[attr-defined]
            except (CrossbookError, OSError) as error:
                log.warning("automatic snapshot of %s failed: %s", self.directory, error)

    @property
    def records(self) -> int:
        return self._writer.records

    def snapshot(self, exchange: Exchange) -> Path:
        if self._failure is not None:
            raise DurabilityError(f"the exchange refuses commands: {self._failure}")
        self._writer.sync()
        records = self.records
        path = _snapshot_path(self.directory, records)
        _core.write_snapshot(exchange._engine, path, records)
        self._records_at_snapshot = records
        for old in _snapshots(self.directory)[_KEEP_SNAPSHOTS:]:
            old.unlink(missing_ok=True)
        return path

    def sync(self) -> None:
        self._writer.sync()

    def close(self) -> None:
        try:
            if not self._writer.closed:
                self._writer.close()
        finally:
            self._failure = self._failure or "it is closed"
            if self._unlock is not None:
                self._unlock()


def _lock(directory: Path) -> int | None:
    if fcntl is None:  # pragma: no cover
        return None
    descriptor = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(descriptor)
        raise DurabilityError(f"{directory} is open in another Exchange (its LOCK is held)") from error
    return descriptor


def _restore_newest_snapshot(directory: Path, config: Config, records: int) -> tuple[_core.Engine | None, int]:
    """The engine of the newest snapshot that reads back and covers at most ``records`` records."""
    for path in _snapshots(directory):
        try:
            engine, covered = _core.read_snapshot(config.engine_spec(), path)
        except JournalCorruptError as error:
            log.warning("skipping damaged snapshot (the journal has its commands): %s", error)
            continue
        if covered > records:
            raise JournalCorruptError(
                str(path), 10, f"the snapshot covers {covered} records but the journal holds only {records}"
            )
        return engine, covered
    return None, 0


def open_exchange(
    cls: type[Exchange],
    directory: Path,
    config: Config | None,
    *,
    fsync: str,
    snapshot_every: int | None,
    batch_size: int,
) -> Exchange:
    """:meth:`crossbook.Exchange.open`."""
    if fsync not in _FSYNC_MODES:
        raise InvalidArgumentError(f"fsync must be one of {', '.join(map(repr, _FSYNC_MODES))}, got {fsync!r}")
    if snapshot_every is not None and (type(snapshot_every) is not int or snapshot_every < 1):
        raise InvalidArgumentError(f"snapshot_every must be a positive int or None, got {snapshot_every!r}")
    if type(batch_size) is not int or not 1 <= batch_size < 2**32:
        raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
    if config is not None and not isinstance(config, Config):
        raise InvalidTypeError(f"config must be a Config or None, got {type(config).__name__}")
    if directory.exists() and not directory.is_dir():
        raise InvalidArgumentError(f"{directory} is not a directory: a durable exchange needs one of its own")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DurabilityError(f"cannot create {directory}: {error}") from error
    lock = _lock(directory)
    try:
        return _recover(
            cls, directory, config, fsync=fsync, snapshot_every=snapshot_every, batch_size=batch_size, lock=lock
        )
    except BaseException:
        if lock is not None:
            os.close(lock)
        raise


def _recover(
    cls: type[Exchange],
    directory: Path,
    config: Config | None,
    *,
    fsync: str,
    snapshot_every: int | None,
    batch_size: int,
    lock: int | None,
) -> Exchange:
    path = directory / JOURNAL_NAME
    for leftover in directory.glob("*.tmp"):
        # A snapshot or journal header whose write a crash cut short (never renamed into place).
        leftover.unlink()
    if not path.exists():
        if _snapshots(directory):
            raise JournalCorruptError(str(path), 0, "the directory has snapshots but no journal")
        exchange = cls(config)
        writer = _core.JournalWriter.create(path, _metadata(exchange.config), fsync, batch_size)
        exchange._durability = Durability(directory, writer, snapshot_every, lock, 0)
        return exchange

    metadata, count, records, torn = _core.read_journal(path)
    stored = _config_of(path, metadata)
    if config is not None and config.to_dict() != stored.to_dict():
        raise InvalidArgumentError(f"{directory} was created with another configuration; open it with config=None")
    engine, covered = _restore_newest_snapshot(directory, stored, count)
    exchange = cls(stored)
    if engine is not None:
        exchange._engine = engine
        records.skip(covered)
    replay_commands(exchange, records, path)
    exchange.events()
    truncate_at = None
    if torn is not None:
        offset, reason = torn
        log.warning("%s: truncating a torn last record at offset %d (%s)", path, offset, reason)
        truncate_at = offset
    writer = _core.JournalWriter.append_to(path, truncate_at, count, fsync, batch_size)
    exchange._durability = Durability(directory, writer, snapshot_every, lock, covered)
    return exchange


__all__ = ["JOURNAL_NAME", "Durability", "open_exchange", "replay", "replay_commands"]
