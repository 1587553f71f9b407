"""The interest-accrual benchmark of issue #4: accrual cost does not depend on the subaccounts.

Two exchanges, one with ``small`` and one with ``large`` subaccounts (half lend USDC, half borrow it
against BTC), time one hourly accrual of every pool — the engine's ``accrue_interest``, which moves
the pools' cumulative indices and touches no subaccount, in rounds that take turns between the two.
The ratio of the two is the point: close to 1 however many subaccounts hold lends and borrows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crossbook import Exchange, lending
from crossbook.bench.report import Measurement, format_table, measure_in_turn

ACCRUALS = 10_000
EVENT_DRAIN_EVERY = 10_000


@dataclass(frozen=True)
class AccrualBenchmark:
    small: Measurement
    large: Measurement

    def table(self) -> str:
        title = (
            f"Hourly interest accrual (all pools; {ACCRUALS:,} accruals, median of {len(self.large.seconds)} runs): "
            "cost per accrual against the number of subaccounts"
        )
        return format_table(title, [self.large, self.small], self.small)


def _exchange(subaccounts: int) -> Exchange:
    """The exchange, its events drained as a caller drains them (an undrained buffer of millions of
    events would make each accrual's event an append to a vector that still has to grow)."""
    exchange = Exchange()
    exchange.set_index_price("BTC", "100000")
    for index in range(subaccounts):
        sub = exchange.open_account(f"o{index}")
        if index % 2 == 0:
            exchange.deposit(sub, "USDC", "1000")  # lent at once: auto_lend is on
        else:
            exchange.deposit(sub, "BTC", "0.01")
        if index % EVENT_DRAIN_EVERY == 0:
            exchange.events()
    for sub in range(1, subaccounts, 2):
        exchange.borrow(sub, "USDC", "500")
        if sub % EVENT_DRAIN_EVERY == 1:
            exchange.events()
    exchange.events()
    return exchange


def run_accrual_benchmark(small: int = 1_000, large: int = 1_000_000, repeats: int = 5) -> AccrualBenchmark:
    def setup(subaccounts: int) -> Callable[[], Callable[[], object]]:
        exchange = _exchange(subaccounts)
        engine = exchange._engine
        share = lending.lender_share_e18(exchange.config)
        rates = [
            (symbol, lending.interval_rate_e18(exchange.config, symbol, utilization))
            for symbol, _lent, _borrowed, utilization, _cash in engine.pools()
        ]

        def run() -> None:
            for _ in range(ACCRUALS):
                for symbol, rate in rates:
                    engine.accrue_interest(symbol, rate, share)

        def prepare() -> Callable[[], object]:
            exchange.events()  # the last round's accrual events
            return run

        return prepare

    large_run, small_run = measure_in_turn(
        repeats,
        [(f"{large:,} subaccounts", ACCRUALS, setup(large)), (f"{small:,} subaccounts", ACCRUALS, setup(small))],
    )
    return AccrualBenchmark(small=small_run, large=large_run)
