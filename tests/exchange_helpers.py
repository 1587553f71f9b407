"""Shared helpers of the ``crossbook.Exchange`` tests: config variants and small conveniences.

Configs are derived from :meth:`Config.default` with ``dataclasses.replace`` (which validates again), so
every variant is a real, valid configuration: zero fees where fees would blur exact numbers, and a custom
BTC haircut for SPEC §12 example 3.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import crossbook as cb
from crossbook.config import Config, Haircut

USDC_ATOM = Decimal("0.000001")


def zero_fee_config(config: Config | None = None) -> Config:
    """``config`` (default: :meth:`Config.default`) with every maker and taker fee set to 0."""
    base = config if config is not None else Config.default()
    markets = tuple(dataclasses.replace(market, maker_fee=Decimal(0), taker_fee=Decimal(0)) for market in base.markets)
    return dataclasses.replace(base, markets=markets)


def no_auto_lend(config: Config | None = None) -> Config:
    """``config`` (default: :meth:`Config.default`) whose subaccounts start with ``auto_lend`` off, for
    tests of balance mechanics that read free balances after deposits."""
    base = config if config is not None else Config.default()
    return dataclasses.replace(base, venue=dataclasses.replace(base.venue, auto_lend=False))


def no_liquidation(config: Config | None = None) -> Config:
    """``config`` (default: :meth:`Config.default`) with the liquidation waterfall off, for tests of margin
    mechanics that read liquidatable subaccounts as they were left."""
    base = config if config is not None else Config.default()
    liquidation = dataclasses.replace(base.venue.liquidation, enabled=False)
    return dataclasses.replace(base, venue=dataclasses.replace(base.venue, liquidation=liquidation))


def with_haircut(config: Config, symbol: str, haircut: Haircut) -> Config:
    """``config`` with the collateral haircut of asset ``symbol`` replaced."""
    assets = tuple(
        dataclasses.replace(asset, haircut=haircut) if asset.symbol == symbol else asset for asset in config.assets
    )
    return dataclasses.replace(config, assets=assets)


def usdc_atoms(amount: Decimal) -> int:
    """A USDC amount as a whole number of atoms (fails if it is not one)."""
    scaled = amount / USDC_ATOM
    assert scaled == scaled.to_integral_value(), f"{amount} is not a whole number of USDC atoms"
    return int(scaled)


def open_pair(
    ex: cb.Exchange, market: str, price: str, quantity: str, *, long: int, short: int, maker_is_short: bool = True
) -> Any:
    """Opens a position of ``quantity`` at ``price`` between ``long`` and ``short`` (the maker rests first);
    returns the taker's result, asserting that it filled completely."""
    maker, taker = (short, long) if maker_is_short else (long, short)
    maker_side, taker_side = ("Ask", "Bid") if maker_is_short else ("Bid", "Ask")
    resting = ex.place_order(maker, market, maker_side, quantity=quantity, price=price)
    assert resting.status == "New", resting
    result = ex.place_order(taker, market, taker_side, quantity=quantity, price=price)
    assert result.status == "Filled", result
    return result


def events_of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["kind"] == kind]
