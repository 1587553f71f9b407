"""Derived perpetual marks (SPEC §8): ``index + EMA(mid - index)`` clamped to the price band.

A worked example fixes the formula by hand; a hypothesis test replays random index moves and book changes
against a slow Python reference of the EMA (exact fractions), comparing every ``MarkPrice`` event the
engine announces; the caller's own mark takes over for good; the span is validated.
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crossbook as cb
from crossbook.config import Config
from exchange_helpers import no_auto_lend, zero_fee_config

MARKET = "SOL_USDC_PERP"
TICK = Decimal("0.01")


def exchange(span: int = 3) -> tuple[cb.Exchange, int]:
    """A zero-fee exchange whose SOL perp has EMA span ``span``, and a well-funded maker subaccount."""
    config = no_auto_lend(zero_fee_config())
    markets = tuple(
        dataclasses.replace(market, mark_ema_span=span) if market.symbol == MARKET else market
        for market in config.markets
    )
    ex = cb.Exchange(dataclasses.replace(config, markets=markets))
    maker = ex.open_account("maker")
    ex.deposit(maker, "USDC", "10000000")
    return ex, maker


def marks(ex: cb.Exchange) -> list[Decimal]:
    return [Decimal(event["price"]) for event in ex.events() if event["kind"] == "MarkPrice"]


def test_worked_example() -> None:
    ex, maker = exchange(span=3)  # each sample weighs 2 / (3 + 1) = 1/2
    ex.set_index_price("SOL", "100")
    assert marks(ex) == [Decimal(100)]  # no book yet: the mark is the index
    ex.place_order(maker, MARKET, "Bid", quantity="1", price="101")
    ex.place_order(maker, MARKET, "Ask", quantity="1", price="103")
    ex.events()
    ex.set_index_price("SOL", "100")
    assert marks(ex) == [Decimal(102)]  # first sample seeds the EMA: mid 102 - index 100 = 2
    ex.cancel_all(maker)
    ex.place_order(maker, MARKET, "Bid", quantity="1", price="99.99")
    ex.place_order(maker, MARKET, "Ask", quantity="1", price="100.01")
    ex.events()
    ex.set_index_price("SOL", "100")
    assert marks(ex) == [Decimal(101)]  # EMA 2 + (0 - 2) / 2 = 1
    ex.set_index_price("SOL", "100")
    assert marks(ex) == [Decimal("100.50")]  # EMA 1 + (0 - 1) / 2 = 0.5
    ex.set_index_price("SOL", "60")
    assert marks(ex) == [Decimal("80.25")]  # sample 40; EMA 0.5 + 39.5 / 2 = 20.25 (whole ticks of 0.01)


def test_band_clamps_a_derived_mark_from_below() -> None:
    ex, maker = exchange(span=1)  # each sample replaces the EMA
    ex.set_index_price("SOL", "100")
    ex.place_order(maker, MARKET, "Bid", quantity="1", price="50")
    ex.place_order(maker, MARKET, "Ask", quantity="1", price="52")
    ex.events()
    ex.set_index_price("SOL", "110")
    assert marks(ex) == [Decimal(55)]  # mid 51 - 110 = -59 → 51, but the band's floor is 110 x 0.5
    ex.set_index_price("SOL", "110")
    assert marks(ex) == []  # unchanged marks are not announced again


def test_a_callers_mark_takes_over() -> None:
    ex, maker = exchange()
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(MARKET, "97")
    ex.place_order(maker, MARKET, "Bid", quantity="1", price="120")
    ex.place_order(maker, MARKET, "Ask", quantity="1", price="122")
    ex.events()
    ex.set_index_price("SOL", "101")
    assert marks(ex) == []  # the caller's mark stays


def test_two_runs_hash_alike_and_the_ema_is_state() -> None:
    hashes = []
    for mid in ("102", "104"):
        ex, maker = exchange()
        ex.set_index_price("SOL", "100")
        ex.place_order(maker, MARKET, "Bid", quantity="1", price=str(Decimal(mid) - 1))
        ex.place_order(maker, MARKET, "Ask", quantity="1", price=str(Decimal(mid) + 1))
        ex.set_index_price("SOL", "100")
        ex.cancel_all(maker)
        hashes.append(ex.state_hash())
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize("span", [0, -1, 1_000_001, 2.5, "30"])
def test_span_is_validated(span: object) -> None:
    market = Config.default().market(MARKET)
    with pytest.raises(cb.ConfigError, match="mark_ema_span"):
        dataclasses.replace(market, mark_ema_span=span)


class ReferenceMark:
    """The derivation of SPEC §8 in exact fractions of a tick (slow and plain)."""

    def __init__(self, span: int) -> None:
        self.weight = Fraction(2, span + 1)
        self.ema: Fraction | None = None
        self.mark = 0

    def update(self, index: Decimal, best_bid: Decimal | None, best_ask: Decimal | None) -> int:
        index_ticks = math.floor(index / TICK)
        if best_bid is not None and best_ask is not None:
            sample = (Fraction(best_bid / TICK) + Fraction(best_ask / TICK)) / 2 - index_ticks
            if self.ema is None:
                self.ema = sample
            else:
                # The engine keeps millionths of a tick and floors each step.
                step = (sample - self.ema) * self.weight
                self.ema += Fraction(math.floor(step * 1_000_000), 1_000_000)
        basis = math.floor(self.ema) if self.ema is not None else 0
        lower, upper = math.ceil(index_ticks * Fraction(1, 2)), math.floor(index_ticks * 2)
        self.mark = max(1, min(upper, max(lower, index_ticks + basis)))
        return self.mark


commands = st.lists(
    st.one_of(
        st.tuples(st.just("index"), st.integers(8_000, 12_000)),
        st.tuples(st.just("quote"), st.sampled_from(["Bid", "Ask"]), st.integers(7_000, 13_000)),
        st.tuples(st.just("clear")),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(span=st.integers(1, 50), script=commands)
def test_derived_marks_match_the_reference(span: int, script: list[tuple[object, ...]]) -> None:
    ex, maker = exchange(span)
    reference = ReferenceMark(span)
    ex.set_index_price("SOL", "100")
    assert marks(ex) == [Decimal(reference.update(Decimal(100), None, None)) * TICK]
    for command in script:
        if command[0] == "index":
            index = Decimal(int(command[1])) * TICK  # type: ignore[call-overload]
            bids, asks = ex.depth(MARKET, levels=1)
            before = reference.mark
            expected = reference.update(index, bids[0][0] if bids else None, asks[0][0] if asks else None)
            ex.set_index_price("SOL", str(index))
            announced = marks(ex)
            assert announced == ([Decimal(expected) * TICK] if expected != before else [])
        elif command[0] == "quote":
            _, side, ticks = command
            ex.place_order(maker, MARKET, str(side), quantity="1", price=str(Decimal(int(ticks)) * TICK))  # type: ignore[call-overload]
        else:
            ex.cancel_all(maker)
        ex.events()
