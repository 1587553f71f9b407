"""The ``Exchange.place_order`` benchmark of issue #3: one call per order, pre-trade check included.

Workload (seeded): 100 subaccounts with 1,000,000 USDC each on ``Config.default()``, BTC_USDC_PERP
marked at 100,000; 100,000 orders of 0.001-0.010 BTC from random subaccounts, 80% passive GTC limits
within 20 USDC of the mark and 20% IOC limits up to 5 USDC through it (which trade). Amounts are
decimal strings, as a service would pass them. The baseline is the bare ``OrderBook.place`` fed
the same orders in integer ticks and lots: the ratio is the price of accounts, margin and Decimals.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from crossbook import Exchange, OrderBook
from crossbook.bench.report import Measurement, format_table, measure

MARKET = "BTC_USDC_PERP"
SUBACCOUNTS = 100


@dataclass(frozen=True)
class ExchangeBenchmark:
    exchange: Measurement
    bare_book: Measurement

    def table(self) -> str:
        title = (
            f"Exchange.place_order with the pre-trade check ({self.exchange.operations:,} orders, "
            f"median of {len(self.exchange.seconds)} runs)"
        )
        return format_table(title, [self.exchange, self.bare_book], self.exchange)


def _orders(count: int, seed: int) -> list[tuple[int, str, str, str, str]]:
    """(subaccount index, side, price, quantity, time in force) as strings."""
    rng = random.Random(seed)
    orders = []
    for _ in range(count):
        side = rng.choice(("Bid", "Ask"))
        aggressive = rng.random() < 0.2
        offset = Decimal(rng.randrange(0, 51)) / 10 if aggressive else Decimal(rng.randrange(1, 201)) / 10
        through = offset if aggressive else -offset
        price = Decimal(100_000) + (through if side == "Bid" else -through)
        quantity = Decimal(rng.randrange(1, 11)) / 1000
        orders.append((rng.randrange(SUBACCOUNTS), side, str(price), str(quantity), "IOC" if aggressive else "GTC"))
    return orders


def run_exchange_benchmark(orders: int = 100_000, repeats: int = 5, seed: int = 7) -> ExchangeBenchmark:
    stream = _orders(orders, seed)

    def exchange_setup() -> Callable[[], object]:
        exchange = Exchange()
        subaccounts = []
        for index in range(SUBACCOUNTS):
            subaccount = exchange.open_account(f"trader{index}")
            exchange.deposit(subaccount, "USDC", "1000000")
            subaccounts.append(subaccount)
        exchange.set_mark_price(MARKET, "100000")
        place = exchange.place_order
        calls = [(subaccounts[who], side, price, quantity, tif) for who, side, price, quantity, tif in stream]

        def run() -> None:
            for subaccount, side, price, quantity, tif in calls:
                place(subaccount, MARKET, side, quantity=quantity, price=price, time_in_force=tif)

        return run

    market = Exchange().config.market(MARKET)
    tick, step = market.tick_size, market.step_size
    ticks_and_lots = [
        (who + 1, side, int(Decimal(price) / tick), int(Decimal(quantity) / step), tif)
        for who, side, price, quantity, tif in stream
    ]

    def book_setup() -> Callable[[], object]:
        place = OrderBook().place

        def run() -> None:
            for owner, side, price, lots, tif in ticks_and_lots:
                place(side, price, lots, owner, None, tif)

        return run

    exchange = measure("Exchange.place_order (Decimal strings)", orders, repeats, exchange_setup)
    bare_book = measure("bare OrderBook.place (ticks, lots)", orders, repeats, book_setup)
    return ExchangeBenchmark(exchange=exchange, bare_book=bare_book)
