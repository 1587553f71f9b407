"""Hostile input (issue #6): no argument, however malformed, and no byte sequence in a journal can
corrupt state.

Hypothesis generates streams of public commands whose arguments mix good values with out-of-range,
NaN, infinite, huge, negative, too-fine, wrong-type, wrong-owner and unknown-name ones. Each command
runs on a *durable* exchange; properties:

- a command either returns (a trading outcome, possibly a rejection as an event) or raises a
  :class:`crossbook.CrossbookError`; anything else fails the test;
- a command that raises leaves ``state_hash()`` unchanged;
- the good commands around a bad one behave as if it never happened: a mirror exchange that only
  receives the commands that returned stays hash-equal after each of them;
- reopening the directory (journal replay, refused commands included) gives the mirror's state.

The journal decoder is fuzzed here through the public entry points (random bytes and mutations of
a real journal as files: ``replay`` and ``Exchange.open`` raise a ``JournalError`` or recover a
prefix, never anything else) and in Rust by proptests over random bytes (``rust/core/src/journal``).
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crossbook as cb
from crossbook.journal import JOURNAL_NAME
from journal_helpers import apply, random_call, session, setup_calls

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BAD_VALUES: list[Any] = [
    # malformed, NaN, infinite, huge, negative, zero and too-fine amounts
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "-1",
    "0",
    "-0",
    "1e400",
    "1e-400",
    "0.0000000001",
    "99999999999999999999999999",
    "1_000",
    " 1",
    "1,5",
    "",
    "abc",
    "0x10",
    float("nan"),
    float("inf"),
    -5.5,
    Decimal("NaN"),
    Decimal("-Infinity"),
    Decimal("1E+30"),
    # out-of-range and wrong-owner ids (subaccount 1 is bob's, 3 is alice's hedge)
    -1,
    0,
    1,
    3,
    4,
    99,
    2**32,
    2**63,
    2**64,
    2**100,
    -(2**63) - 1,
    10**40,
    # unknown names and wrong types
    "DOGE",
    "usdc",
    "BTC\x00",
    "SOL_USDC_PERP ",
    "Buy",
    "GTD",
    "IndexPrice",
    None,
    True,
    1.0,
    b"1",
    [],
    ["NOPE"],
    {},
    object(),
]
BAD = st.one_of(st.sampled_from(BAD_VALUES), st.integers(), st.floats(), st.text(max_size=6))
ORDER_OPTIONS = (
    "order_type",
    "quantity",
    "price",
    "time_in_force",
    "post_only",
    "reduce_only",
    "self_trade_prevention",
    "client_id",
    "quote_quantity",
    "trigger_price",
    "trigger_by",
    "auto_borrow",
)

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


@st.composite
def commands(draw: st.DrawFn) -> Call:
    """A realistic command (journal_helpers), or an account/stress command, with one argument
    replaced by a hostile value about half of the time."""
    kind = draw(st.sampled_from(["traffic"] * 8 + ["open_account", "open_subaccount", "stress"]))
    if kind == "traffic":
        clock = [draw(st.integers(min_value=0, max_value=10**8))]  # may go back: refused
        name, args, kwargs = random_call(draw(st.randoms(use_true_random=False)), clock)
    elif kind == "open_account":
        name, args, kwargs = kind, (draw(st.sampled_from(["alice", "dave", "x" * 300])),), {}
    elif kind == "open_subaccount":
        name, args, kwargs = kind, (draw(st.sampled_from(["alice", "bob", "nobody"])), draw(st.text(max_size=4))), {}
    else:
        name, args, kwargs = kind, (0, draw(st.sampled_from([{"SOL": "50"}, {"BTC_USDC_PERP": "20000"}]))), {}
    if draw(st.booleans()):
        slots: list[int | str] = list(range(len(args)))
        slots += list(ORDER_OPTIONS) if name == "place_order" else list(kwargs)
        slot = draw(st.sampled_from(slots))
        bad = draw(BAD)
        if isinstance(slot, int):
            args = (*args[:slot], bad, *args[slot + 1 :])
        else:
            kwargs = {**kwargs, slot: bad}
    return name, args, kwargs


def _run(exchange: cb.Exchange, call: Call) -> BaseException | None:
    name, args, kwargs = call
    try:
        getattr(exchange, name)(*args, **kwargs)
    except cb.CrossbookError as error:
        return error
    return None


@SETTINGS
@given(st.lists(commands(), min_size=10, max_size=50))
def test_bad_commands_raise_crossbook_errors_change_nothing_and_leave_no_trace(stream: list[Call]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        durable = cb.Exchange.open(directory, fsync="never", snapshot_every=15)
        mirror = cb.Exchange()
        for call in setup_calls():
            apply(durable, call)
            apply(mirror, call)
        for call in stream:
            before = durable.state_hash()
            error = _run(durable, call)
            if error is not None:
                assert durable.state_hash() == before, f"{call} raised {error!r} but changed state"
                continue
            mirror_error = _run(mirror, call)
            assert mirror_error is None, f"{call} passed on the exchange but not on its mirror: {mirror_error!r}"
            assert durable.state_hash() == mirror.state_hash(), f"a refused command left a trace before {call}"
        durable.close()
        reopened = cb.Exchange.open(directory)
        assert reopened.state_hash() == mirror.state_hash()
        reopened.close()


FUZZED_SESSION = session(seed=31, count=40)


@pytest.fixture(scope="module")
def real_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, set[str]]:
    """A real journal, and the state hash after each prefix of its commands."""
    directory = tmp_path_factory.mktemp("journal")
    exchange = cb.Exchange.open(directory, fsync="never", snapshot_every=None)
    reference = cb.Exchange()
    prefixes = {reference.state_hash()}
    for call in FUZZED_SESSION:
        apply(exchange, call)
        apply(reference, call)
        prefixes.add(reference.state_hash())
    exchange.close()
    return (directory / JOURNAL_NAME).read_bytes(), prefixes


@SETTINGS
@given(data=st.data())
def test_no_journal_bytes_crash_recovery(real_journal: tuple[bytes, set[str]], data: st.DataObject) -> None:
    journal_bytes, prefixes = real_journal
    header_length = 14 + int.from_bytes(journal_bytes[10:14], "little") + 4
    if data.draw(st.booleans()):
        damaged = bytearray(journal_bytes)
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            position = data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))
            damaged[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        content = bytes(damaged[: data.draw(st.integers(min_value=0, max_value=len(damaged)))])
    else:
        prefix = data.draw(st.sampled_from([b"", journal_bytes[:8], journal_bytes[:header_length]]))
        content = prefix + data.draw(st.binary(max_size=200))
    with tempfile.TemporaryDirectory() as directory:
        journal = Path(directory) / JOURNAL_NAME
        journal.write_bytes(content)
        try:
            replayed = cb.replay(journal)
        except cb.JournalError:
            return
        # Whatever replays is a prefix of the real session, and opening recovers the same state.
        assert replayed.state_hash() in prefixes
        reopened = cb.Exchange.open(directory)
        assert reopened.state_hash() == replayed.state_hash()
        reopened.close()
