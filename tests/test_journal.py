"""The durable exchange (SPEC §10, issue #6): journal, snapshots, recovery, replay and state_hash.

Properties: after a long mixed session the live engine, a reopen from snapshot + journal tail, a
reopen from the journal alone and :func:`crossbook.replay` all hash equal; a torn last record is
truncated with a warning and a flipped bit in a middle record is an error naming the file and offset;
every public method is classified as a command (journaled) or a query; every piece of state changes
``state_hash()``.
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import logging
from decimal import Decimal
from pathlib import Path

import pytest

import crossbook as cb
from crossbook import _core
from crossbook.exchange import COMMANDS, QUERIES
from crossbook.journal import JOURNAL_NAME
from journal_helpers import apply, in_memory, session, setup_calls


def _durable_session(directory: Path, calls: list, **options: object) -> cb.Exchange:
    exchange = cb.Exchange.open(directory, **options)  # type: ignore[arg-type]
    for call in calls:
        apply(exchange, call)
    return exchange


def _snapshots(directory: Path) -> list[Path]:
    return sorted(directory.glob("snapshot-*.cbs"))


def test_snapshot_plus_tail_equals_full_replay_equals_the_live_engine(tmp_path: Path) -> None:
    calls = session(seed=7, count=2500)
    live = _durable_session(tmp_path, calls, fsync="never", snapshot_every=700)
    live_hash = live.state_hash()
    assert live_hash == in_memory(None, calls).state_hash()
    live.close()
    snapshots = _snapshots(tmp_path)
    assert [path.name for path in snapshots] == ["snapshot-000000001400.cbs", "snapshot-000000002100.cbs"]

    from_snapshot = cb.Exchange.open(tmp_path)
    assert from_snapshot.state_hash() == live_hash
    from_snapshot.close()
    assert cb.replay(tmp_path / JOURNAL_NAME).state_hash() == live_hash
    for path in snapshots:
        path.unlink()
    journal_only = cb.Exchange.open(tmp_path)
    assert journal_only.state_hash() == live_hash
    # The engine continues: the same further commands give the same state as in memory.
    more = session(seed=8, count=300)[len(setup_calls()) :]
    reference = in_memory(None, calls + more)
    for call in more:
        apply(journal_only, call)
    assert journal_only.state_hash() == reference.state_hash()
    journal_only.close()
    assert cb.Exchange.open(tmp_path).state_hash() == reference.state_hash()


def test_a_snapshot_taken_at_any_point_restores_the_same_state(tmp_path: Path) -> None:
    calls = session(seed=11, count=400)
    exchange = cb.Exchange.open(tmp_path, fsync="never", snapshot_every=None)
    for index, call in enumerate(calls):
        apply(exchange, call)
        if index % 37 == 0:
            path = exchange.snapshot()
            engine, records = _core.read_snapshot(exchange.config.engine_spec(), path)
            assert records == index + 1
            assert engine.state_hash() == exchange.state_hash()
    exchange.close()


def test_refused_commands_are_journaled_and_replay_to_the_same_refusal(tmp_path: Path) -> None:
    exchange = cb.Exchange.open(tmp_path)
    sub = exchange.open_account("alice")
    with pytest.raises(cb.InsufficientBalanceError):
        exchange.withdraw(sub, "USDC", "1")
    with pytest.raises(cb.InvalidTypeError):
        exchange.withdraw(sub, "USDC", None)  # type: ignore[arg-type]  # never reaches the engine
    exchange.close()
    _metadata, count, records, torn = _core.read_journal(tmp_path / JOURNAL_NAME)
    assert (count, torn) == (2, None)
    assert [(name, args, refused) for _offset, name, args, refused in records] == [
        ("open_account", ("alice",), False),
        ("withdraw", (0, "USDC", "1"), True),
    ]


def test_a_torn_last_record_is_truncated_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    calls = session(seed=3, count=50)
    exchange = _durable_session(tmp_path, calls[:-1], snapshot_every=None)
    expected = exchange.state_hash()
    apply(exchange, calls[-1])
    exchange.close()
    journal = tmp_path / JOURNAL_NAME
    whole = journal.read_bytes()
    _metadata, _count, records, _torn = _core.read_journal(journal)
    last_offset = list(records)[-1][0]
    for cut in (last_offset + 1, last_offset + 12, len(whole) - 1):
        journal.write_bytes(whole[:cut])
        with caplog.at_level(logging.WARNING, logger="crossbook.journal"):
            reopened = cb.Exchange.open(tmp_path)
        assert reopened.state_hash() == expected
        assert f"truncating a torn last record at offset {last_offset}" in caplog.text
        caplog.clear()
        reopened.close()
        assert journal.stat().st_size == last_offset
    # The engine continues after the truncation: the lost command can be sent again.
    reopened = cb.Exchange.open(tmp_path)
    apply(reopened, calls[-1])
    reopened.close()
    assert cb.Exchange.open(tmp_path).state_hash() == in_memory(None, calls).state_hash()


def test_a_flipped_bit_in_a_middle_record_names_the_file_and_offset(tmp_path: Path) -> None:
    _durable_session(tmp_path, session(seed=4, count=30), snapshot_every=None).close()
    journal = tmp_path / JOURNAL_NAME
    _metadata, _count, records, _torn = _core.read_journal(journal)
    offset = list(records)[10][0]
    damaged = bytearray(journal.read_bytes())
    damaged[offset + 14] ^= 0x20
    journal.write_bytes(bytes(damaged))
    with pytest.raises(cb.JournalCorruptError) as raised:
        cb.Exchange.open(tmp_path)
    assert raised.value.path == str(journal)
    assert raised.value.offset == offset
    assert "payload fails its CRC" in str(raised.value)
    with pytest.raises(cb.JournalCorruptError):
        cb.replay(journal)
    # Nothing was reset or truncated: the file is as it was.
    assert journal.read_bytes() == bytes(damaged)


def test_snapshots_of_an_unknown_version_are_errors_and_damaged_ones_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = session(seed=5, count=200)
    exchange = _durable_session(tmp_path, calls, snapshot_every=None, fsync="never")
    exchange.snapshot()
    expected = exchange.state_hash()
    exchange.close()
    (snapshot,) = _snapshots(tmp_path)
    original = snapshot.read_bytes()

    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 1
    snapshot.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger="crossbook.journal"):
        reopened = cb.Exchange.open(tmp_path)
    assert "skipping damaged snapshot" in caplog.text
    assert str(snapshot) in caplog.text
    assert reopened.state_hash() == expected  # from the journal alone
    reopened.close()

    future = bytearray(original)
    future[8] = 99
    snapshot.write_bytes(bytes(future))
    with pytest.raises(cb.JournalVersionError) as raised:
        cb.Exchange.open(tmp_path)
    assert (raised.value.path, raised.value.offset) == (str(snapshot), 8)
    assert "version 99" in str(raised.value)


def test_a_journal_of_an_unknown_version_or_another_config_is_refused(tmp_path: Path) -> None:
    cb.Exchange.open(tmp_path).close()
    with pytest.raises(cb.InvalidArgumentError, match="another configuration"):
        cb.Exchange.open(tmp_path, config=_other_config())
    journal = tmp_path / JOURNAL_NAME
    header = bytearray(journal.read_bytes())
    header[8] = 7
    journal.write_bytes(bytes(header))
    with pytest.raises(cb.JournalVersionError, match="version 7"):
        cb.Exchange.open(tmp_path)


def _other_config() -> cb.Config:
    config = cb.Config.default()
    return dataclasses.replace(config, venue=dataclasses.replace(config.venue, max_subaccounts=3))


def test_a_directory_remembers_its_config(tmp_path: Path) -> None:
    config = _other_config()
    exchange = cb.Exchange.open(tmp_path, config=config)
    exchange.open_account("alice")
    exchange.close()
    reopened = cb.Exchange.open(tmp_path)
    assert reopened.config.to_dict() == config.to_dict()
    reopened.close()
    assert cb.replay(tmp_path).config.to_dict() == config.to_dict()


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
def test_every_fsync_mode_journals_every_command(tmp_path: Path, fsync: str) -> None:
    calls = session(seed=9, count=120)
    exchange = _durable_session(tmp_path, calls, fsync=fsync, batch_size=16, snapshot_every=50)
    expected = exchange.state_hash()
    exchange.close()
    assert cb.Exchange.open(tmp_path).state_hash() == expected


def test_bad_open_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(cb.InvalidArgumentError, match="fsync"):
        cb.Exchange.open(tmp_path, fsync="sometimes")
    with pytest.raises(cb.InvalidArgumentError, match="snapshot_every"):
        cb.Exchange.open(tmp_path, snapshot_every=0)
    with pytest.raises(cb.InvalidArgumentError, match="batch_size"):
        cb.Exchange.open(tmp_path, batch_size=0)
    with pytest.raises(cb.InvalidTypeError, match="config"):
        cb.Exchange.open(tmp_path, config={"venue": {}})  # type: ignore[arg-type]
    (tmp_path / "file").write_text("")
    with pytest.raises(cb.InvalidArgumentError, match="not a directory"):
        cb.Exchange.open(tmp_path / "file")


def test_one_directory_is_open_in_one_exchange_at_a_time(tmp_path: Path) -> None:
    first = cb.Exchange.open(tmp_path)
    with pytest.raises(cb.DurabilityError, match="LOCK"):
        cb.Exchange.open(tmp_path)
    first.close()
    second = cb.Exchange.open(tmp_path)
    del second  # dropped unclosed: the lock goes with it
    gc.collect()
    cb.Exchange.open(tmp_path).close()


def test_a_closed_or_failed_exchange_refuses_commands(tmp_path: Path) -> None:
    with cb.Exchange.open(tmp_path) as exchange:
        sub = exchange.open_account("alice")
    with pytest.raises(cb.DurabilityError, match="closed"):
        exchange.deposit(sub, "USDC", "1")

    exchange = cb.Exchange.open(tmp_path)
    exchange.deposit(sub, "USDC", "5")
    expected = exchange.state_hash()
    # The journal file goes away underneath (a full disk, a failed device): the command that could
    # not be journaled raises, and the exchange refuses everything after it.
    exchange._durability._writer.close()  # type: ignore[union-attr]
    with pytest.raises(cb.DurabilityError):
        exchange.deposit(sub, "USDC", "7")
    with pytest.raises(cb.DurabilityError, match="refuses commands"):
        exchange.deposit(sub, "USDC", "9")
    exchange.close()
    assert cb.Exchange.open(tmp_path).state_hash() == expected


def test_in_memory_exchanges_have_no_journal() -> None:
    exchange = cb.Exchange()
    assert (exchange.directory, exchange.journal_length) == (None, None)
    with pytest.raises(cb.DurabilityError, match="in-memory"):
        exchange.snapshot()
    with pytest.raises(cb.DurabilityError, match="in-memory"):
        exchange.sync()
    exchange.close()  # harmless


def test_sync_forces_a_batch_to_disk_and_the_journal_counts_commands(tmp_path: Path) -> None:
    exchange = cb.Exchange.open(tmp_path, fsync="batch", batch_size=1000)
    assert exchange.directory == tmp_path
    for call in session(seed=14, count=20):
        apply(exchange, call)
    exchange.sync()
    assert exchange.journal_length == len(setup_calls()) + 20
    _metadata, count, _records, torn = _core.read_journal(tmp_path / JOURNAL_NAME)
    assert (count, torn) == (exchange.journal_length, None)
    exchange.close()


def test_every_public_method_is_a_journaled_command_or_a_query() -> None:
    switches = {"set_auto_lend", "set_auto_borrow_settlements", "set_auto_repay_borrows", "set_auto_realize_pnl"}
    lifecycle = {"open", "snapshot", "sync", "close", "directory", "journal_length", "config"}
    public = {name for name in dir(cb.Exchange) if not name.startswith("_")} | {"config"}
    unclassified = public - QUERIES - COMMANDS - switches - lifecycle
    assert not unclassified, f"classify these as commands (journaled) or queries: {sorted(unclassified)}"
    for name in COMMANDS:
        assert inspect.isfunction(getattr(cb.Exchange, f"_{name}")), name
    # Each public command funnels through the journal: its source calls self._run.
    for name in (COMMANDS - {"set_setting"}) | switches:
        source = inspect.getsource(getattr(cb.Exchange, name))
        assert "self._run(" in source or "self._set(" in source, name


def test_queries_change_no_state_and_write_no_journal_records(tmp_path: Path) -> None:
    exchange = _durable_session(tmp_path, session(seed=12, count=150), snapshot_every=None)
    before = (exchange.state_hash(), exchange._durability.records)  # type: ignore[union-attr]
    sub, market = 0, "SOL_USDC_PERP"
    for name, args in {
        "audit": (),
        "backstop_providers": (),
        "balances": (sub,),
        "borrow_lend_positions": (sub,),
        "depth": (market,),
        "events": (),
        "funding_rate": (market,),
        "liquidatable": (),
        "liquidating": (),
        "liquidation_price": (sub, market),
        "liquidation_state": (sub,),
        "margin": (sub,),
        "margin_scan": (),
        "open_orders": (sub,),
        "pending_triggers": (sub,),
        "pools": (),
        "positions": (sub,),
        "settings": (sub,),
        "state_hash": (),
        "stress": (sub, {"SOL": "50"}),
        "subaccount_info": (sub,),
    }.items():
        getattr(exchange, name)(*args)
    assert exchange.time_ms >= 0
    assert (exchange.state_hash(), exchange._durability.records) == before  # type: ignore[union-attr]
    exchange.close()


def _changes_hash(exchange: cb.Exchange, command: str, *args: object, **kwargs: object) -> None:
    before = exchange.state_hash()
    getattr(exchange, command)(*args, **kwargs)
    assert exchange.state_hash() != before, f"{command}{args} did not change state_hash()"


def test_every_piece_of_state_changes_the_hash() -> None:
    exchange = cb.Exchange()
    _changes_hash(exchange, "open_account", "alice")
    _changes_hash(exchange, "open_account", "bob")
    _changes_hash(exchange, "open_subaccount", "alice", "hedge")
    _changes_hash(exchange, "deposit", 0, "USDC", "100000")  # balances, pools (auto-lend), deposits
    exchange.deposit(1, "USDC", "100000")
    exchange.deposit(2, "USDC", "100")
    _changes_hash(exchange, "set_auto_lend", 0, False)  # settings
    _changes_hash(exchange, "set_auto_realize_pnl", 0, False)
    _changes_hash(exchange, "set_max_leverage", 0, 5)
    _changes_hash(exchange, "redeem", 1, "USDC", "10")
    _changes_hash(exchange, "withdraw", 0, "USDC", "1")
    _changes_hash(exchange, "transfer", 0, 2, "USDC", "1")
    _changes_hash(exchange, "set_index_price", "SOL", "100")  # index, derived marks, EMA, premiums
    _changes_hash(exchange, "set_mark_price", "SOL_USDC_PERP", "100")
    _changes_hash(exchange, "advance_to", 1)  # the clock
    first = exchange.place_order(0, "SOL_USDC_PERP", "Bid", quantity="1", price="99")
    second = exchange.place_order(1, "SOL_USDC_PERP", "Bid", quantity="1", price="99")
    # Queue order alone: growing then shrinking the first order sends it behind the second.
    before = exchange.state_hash()
    exchange.amend_order(0, "SOL_USDC_PERP", first.order_id, quantity="2")
    exchange.amend_order(0, "SOL_USDC_PERP", first.order_id, quantity="1")
    assert exchange.open_orders(0)[0].remaining == 1
    assert exchange.state_hash() != before
    _changes_hash(exchange, "cancel_order", 1, "SOL_USDC_PERP", second.order_id)
    _changes_hash(exchange, "place_order", 1, "SOL_USDC_PERP", "Ask", quantity="1", price="99")  # a position
    _changes_hash(exchange, "place_order", 1, "SOL_USDC_PERP", "Ask", quantity="1", price="105", trigger_price="104")
    _changes_hash(exchange, "register_backstop_provider", 1, ["SOL_USDC_PERP"], "1000")
    _changes_hash(exchange, "borrow", 1, "USDC", "10")
    _changes_hash(exchange, "advance_to", 3_600_000)  # realization, funding, interest
    exchange.place_order(0, "SOL_USDC_PERP", "Bid", quantity="1", price="98")
    _changes_hash(exchange, "cancel_all", 0)


def test_replay_rebuilds_from_commands_alone_and_ignores_a_torn_tail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = session(seed=13, count=300)
    exchange = _durable_session(tmp_path, calls, snapshot_every=100, fsync="never")
    expected = exchange.state_hash()
    exchange.close()
    journal = tmp_path / JOURNAL_NAME
    assert cb.replay(journal).state_hash() == expected
    journal.write_bytes(journal.read_bytes() + b"\x07\x00")
    with caplog.at_level(logging.WARNING, logger="crossbook.journal"):
        assert cb.replay(journal).state_hash() == expected
    assert "ignoring a torn last record" in caplog.text


def test_a_fixed_funding_rate_is_journaled_and_snapshotted(tmp_path: Path) -> None:
    ex = cb.Exchange.open(tmp_path / "fixed", fsync="never")
    ex.set_funding_rate("SOL_USDC_PERP", "0.0003")
    before = ex.state_hash()
    ex.set_funding_rate("BTC_USDC_PERP", "-0.0001")
    assert ex.state_hash() != before, "the fixed rate is state"
    ex.snapshot()
    ex.set_funding_rate("BTC_USDC_PERP", None)
    live = ex.state_hash()
    ex.close()
    reopened = cb.Exchange.open(tmp_path / "fixed", fsync="never")
    assert reopened.state_hash() == live
    assert reopened.funding_rate("SOL_USDC_PERP") == Decimal("0.0003")
    reopened.close()
    replayed = cb.replay(tmp_path / "fixed" / JOURNAL_NAME)
    assert replayed.state_hash() == live
