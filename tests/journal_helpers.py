"""Seeded random sessions of public ``Exchange`` commands, shared by the journal, recovery and
benchmark-style tests (and run in child processes by ``tests/test_recovery.py``).

A session opens three owners (four subaccounts), funds them, sets prices, then mixes every kind of
command: spot and perp orders (limit, market, IOC, post-only, reduce-only, triggers), amends and
cancels of live, dead, foreign and never-issued ids, cancel-alls, index and mark moves, clock moves
across realize/interest/funding boundaries, deposits, withdrawals, transfers (within and across
owners), leverage and auto-lend switches, lend/redeem/borrow/repay, and backstop registration. All
arguments are well-typed, so every command reaches the engine and is journaled; some are refused
(insufficient balance, wrong owner, unknown order), as in real traffic.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import crossbook as cb

Call = tuple[str, tuple[Any, ...], dict[str, Any]]

OWNERS = ("alice", "bob", "carol")
SUBACCOUNTS = (0, 1, 2, 3)  # the three mains, then alice's "hedge"
CENTER = {"SOL": Decimal(100), "BTC": Decimal(30000)}
TICK = {"SOL": Decimal("0.01"), "BTC": Decimal("0.1")}
STEP = {"SOL_USDC": Decimal("0.01"), "BTC_USDC": Decimal("0.00001"), "SOL_USDC_PERP": Decimal("0.01")}
STEP["BTC_USDC_PERP"] = Decimal("0.0001")
MARKETS = tuple(STEP)
PERPS = ("SOL_USDC_PERP", "BTC_USDC_PERP")
HOUR_MS = 3_600_000


def setup_calls() -> list[Call]:
    calls: list[Call] = [("open_account", (owner,), {}) for owner in OWNERS]
    calls.append(("open_subaccount", ("alice", "hedge"), {}))
    for sub in SUBACCOUNTS:
        calls.append(("deposit", (sub, "USDC", "200000"), {}))
        calls.append(("deposit", (sub, "SOL", "500"), {}))
        calls.append(("deposit", (sub, "BTC", "2"), {}))
    calls.append(("set_index_price", ("SOL", "100"), {}))
    calls.append(("set_index_price", ("BTC", "30000"), {}))
    return calls


def _base(market: str) -> str:
    return market.split("_", maxsplit=1)[0]


def _price(rng: random.Random, base: str, spread: float = 0.02) -> str:
    moved = CENTER[base] * Decimal(repr(1 + rng.uniform(-spread, spread)))
    return str(moved.quantize(TICK[base]))


def _quantity(rng: random.Random, market: str) -> str:
    return str(STEP[market] * rng.randint(1, 40 if _base(market) == "SOL" else 300))


def random_call(rng: random.Random, clock: list[int]) -> Call:
    """One random command; ``clock`` holds the session's time so ``advance_to`` only moves forward."""
    sub = rng.choice(SUBACCOUNTS)
    market = rng.choice(MARKETS)
    base = _base(market)
    roll = rng.random()
    if roll < 0.40:
        kwargs: dict[str, Any] = {"quantity": _quantity(rng, market)}
        kind = rng.random()
        if kind < 0.1:
            kwargs["order_type"] = "Market"
        else:
            kwargs["price"] = _price(rng, base)
            kwargs["time_in_force"] = rng.choice(("GTC", "GTC", "GTC", "IOC", "FOK"))
            kwargs["post_only"] = rng.random() < 0.15 and kwargs["time_in_force"] == "GTC"
        if market in PERPS and rng.random() < 0.1:
            kwargs["reduce_only"] = True
        if market in PERPS and rng.random() < 0.05 and "price" in kwargs:
            kwargs["trigger_price"] = _price(rng, base)
        return ("place_order", (sub, market, rng.choice(("Bid", "Ask"))), kwargs)
    if roll < 0.55:
        return ("cancel_order", (sub, market, rng.randint(1, 60)), {})
    if roll < 0.60:
        new_price = _price(rng, base) if rng.random() < 0.5 else None
        return ("amend_order", (sub, market, rng.randint(1, 60), new_price, _quantity(rng, market)), {})
    if roll < 0.62:
        return ("cancel_all", (sub,), {"market": rng.choice((None, market))})
    if roll < 0.63:
        return ("cancel_trigger", (sub, rng.randint(0, 5)), {})
    if roll < 0.71:
        if rng.random() < 0.5:
            return ("set_index_price", (base, _price(rng, base, 0.04)), {})
        perp = rng.choice(PERPS)
        return ("set_mark_price", (perp, _price(rng, _base(perp), 0.04)), {})
    if roll < 0.76:
        clock[0] += rng.choice((1, 1_000, 60_000, HOUR_MS // 2, HOUR_MS))
        return ("advance_to", (clock[0],), {})
    if roll < 0.80:
        return ("deposit", (sub, rng.choice(("USDC", "SOL", "BTC")), str(rng.randint(1, 5000))), {})
    if roll < 0.83:
        return ("withdraw", (sub, "USDC", str(rng.randint(1, 300000))), {})
    if roll < 0.86:
        return ("transfer", (sub, rng.choice(SUBACCOUNTS), "USDC", str(rng.randint(1, 5000))), {})
    if roll < 0.88:
        return ("set_max_leverage", (sub, rng.randint(1, 20)), {})
    if roll < 0.90:
        return ("set_auto_lend", (sub, rng.random() < 0.5), {})
    if roll < 0.98:
        action = rng.choice(("lend", "redeem", "borrow", "repay"))
        return (action, (sub, rng.choice(("USDC", "SOL")), str(rng.randint(1, 2000))), {})
    perp = rng.choice(PERPS)
    return ("register_backstop_provider", (2, [perp], str(rng.randint(1000, 100000))), {})


def session(seed: int, count: int) -> list[Call]:
    """The setup then ``count`` random commands, the same for the same seed."""
    rng = random.Random(seed)
    clock = [0]
    return setup_calls() + [random_call(rng, clock) for _ in range(count)]


def apply(exchange: cb.Exchange, call: Call) -> tuple[str, Any]:
    """Runs a call: ("ok", result) or ("refused", the error's class name)."""
    name, args, kwargs = call
    try:
        return "ok", getattr(exchange, name)(*args, **kwargs)
    except cb.CrossbookError as error:
        return "refused", type(error).__name__


def in_memory(config: cb.Config | None, calls: list[Call]) -> cb.Exchange:
    """A fresh in-memory exchange after ``calls``."""
    exchange = cb.Exchange(config)
    for call in calls:
        apply(exchange, call)
    return exchange
