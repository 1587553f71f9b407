"""A synthetic market with a seed: index paths and agents trading through the real engine.

:class:`SyntheticMarket` is a market source (:mod:`crossbook.backtest.source`). From ``seed`` it draws,
up front, one index path per asset: geometric Brownian motion with Poisson jumps, correlated through a
common factor, with an optional scripted run-up and crash (:class:`Crash`: a steady fall with one gap).
At every ``step_ms`` it then applies, in this order:

1. market makers that saw a fast move at the last step pull their quotes (so a gap meets a thin book);
2. the index prices are set, then the perps' marks: the index times one plus a premium that
   mean-reverts around ``premium_mean`` (so funding is paid); each runs the margin scan and the
   liquidation waterfall;
3. the market makers requote a ladder around the index, skewed against their inventory, and wider on the
   bid side while the market is falling fast (plain limit orders: a stale quote of someone else's
   that the new ladder crosses is taken);
4. momentum traders on leverage (5x-50x) act on the index's trend: they buy breakouts with market
   orders, and cut or flip on reversals.

Lenders fund the borrow/lend pools at the start, and a backstop provider with a bounded capacity stands
behind the book. So a crash runs a real cascade through the waterfall: liquidations on the book while the
makers still bid, the backstop once the book is pulled or the account is too far gone, and
auto-deleveraging of the bankrupt ones (the gap takes the most levered past zero) and once the backstop's
capacity is used up.

Everything is drawn from ``numpy.random.default_rng(seed)`` in a fixed order: the same config gives the
same market. Costs: O(steps x (assets + makers x levels + traders)) engine calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import numpy as np
import numpy.typing as npt

from crossbook.backtest.source import SourceStep
from crossbook.exceptions import InvalidArgumentError
from crossbook.exchange import Exchange

_YEAR_MS = 365 * 86_400_000


@dataclass(frozen=True)
class AssetPath:
    """One asset's index path and its perpetual: ``volatility`` annualized, jumps per day of size
    ``jump_sigma`` (log), ``beta`` to the common factor; ``crash_depth`` is this asset's share of a crash."""

    asset: str
    market: str
    start: float
    volatility: float
    beta: float = 1.0
    jumps_per_day: float = 2.0
    jump_sigma: float = 0.01
    crash_depth: float = 0.25
    level_quantity: str = "10"
    """The market makers' quantity per level, in base units."""


@dataclass(frozen=True)
class Crash:
    """A scripted crash: a run-up of ``run_up`` (log) over ``run_up_ms`` before ``at_ms``, then each asset
    falls by its ``crash_depth`` over ``duration_ms``, ``gap_share`` of it in one step at ``gap_at`` of the way."""

    at_ms: int
    duration_ms: int = 1_800_000
    run_up: float = 0.06
    run_up_ms: int = 7_200_000
    gap_at: float = 0.3
    gap_share: float = 0.15


def default_assets() -> tuple[AssetPath, ...]:
    return (
        AssetPath("BTC", "BTC_USDC_PERP", 60_000.0, 0.55, 1.0, 2.0, 0.008, 0.18, "1"),
        AssetPath("SOL", "SOL_USDC_PERP", 150.0, 0.9, 1.5, 3.0, 0.015, 0.32, "400"),
    )


@dataclass(frozen=True)
class SyntheticConfig:
    """The synthetic market's parameters; the defaults are the demo's day."""

    seed: int = 7
    start_ms: int = 0
    duration_ms: int = 86_400_000
    step_ms: int = 5_000
    assets: tuple[AssetPath, ...] = field(default_factory=default_assets)
    crash: Crash | None = field(default_factory=lambda: Crash(at_ms=14 * 3_600_000))
    makers: int = 2
    maker_levels: int = 6
    maker_spread: float = 0.0004
    """Half-spread of the first level, and the step between levels, as a fraction of the index."""
    maker_deposit: str = "200000000"
    maker_skew: float = 0.0003
    """Fractional shift of a maker's quotes per level-quantity of inventory."""
    falling_bid_gap: float = 0.06
    """How far below their usual ladder the makers bid while the index falls fast (beyond the impact
    band: liquidations then find no bids on the book and go to the backstop)."""
    pull_move: float = 0.004
    """A step move (absolute log return) beyond which makers pull before the next index update."""
    traders: int = 48
    trader_deposit: tuple[float, float] = (2_000.0, 20_000.0)
    trader_leverage: tuple[int, int] = (5, 50)
    trend_lookback_ms: int = 1_800_000
    trend_threshold: float = 0.012
    trader_activity: float = 0.01
    """Chance that a trader looks at the market at a step."""
    trader_slippage: float = 0.004
    """How far through the index a trader's IOC order may trade."""
    premium_mean: float = 0.0002
    """The perps' mean mark premium over the index (what funding is paid on)."""
    premium_volatility: float = 0.0004
    lenders: int = 4
    lender_deposit: str = "5000000"
    backstop_capacity: str = "400000"

    def __post_init__(self) -> None:
        if self.step_ms < 1 or self.duration_ms < self.step_ms:
            raise InvalidArgumentError("step_ms must be >= 1 and duration_ms at least one step")
        if not self.assets:
            raise InvalidArgumentError("a synthetic market needs at least one asset")
        if self.crash is not None and not 0 <= self.crash.at_ms < self.start_ms + self.duration_ms:
            raise InvalidArgumentError(f"the crash at {self.crash.at_ms} ms is outside the run")


def index_paths(config: SyntheticConfig) -> npt.NDArray[np.float64]:
    """The index of each asset at each step (``steps + 1`` rows, one column per asset), from the seed alone."""
    rng = np.random.default_rng([config.seed, 0x5EED])
    steps = config.duration_ms // config.step_ms
    dt = config.step_ms / _YEAR_MS
    common = rng.standard_normal(steps)
    logs = np.zeros((steps + 1, len(config.assets)))
    times = config.start_ms + config.step_ms * np.arange(1, steps + 1)
    for column, asset in enumerate(config.assets):
        own = rng.standard_normal(steps)
        weight = min(0.9, 0.6 * asset.beta)
        shocks = weight * common + math.sqrt(1 - weight**2) * own
        diffusion = asset.volatility * math.sqrt(dt) * shocks - 0.5 * asset.volatility**2 * dt
        jumps = rng.poisson(asset.jumps_per_day * config.step_ms / 86_400_000, steps) * rng.normal(
            0.0, asset.jump_sigma, steps
        )
        scripted = np.zeros(steps)
        crash = config.crash
        if crash is not None:
            run_up = (times > crash.at_ms - crash.run_up_ms) & (times <= crash.at_ms)
            if run_up.any():
                scripted[run_up] += crash.run_up * asset.beta / run_up.sum()
            falling = (times > crash.at_ms) & (times <= crash.at_ms + crash.duration_ms)
            if falling.any():
                total = math.log(1 - asset.crash_depth)
                gap_step = int(np.flatnonzero(falling)[int(crash.gap_at * (falling.sum() - 1))])
                scripted[falling] += total * (1 - crash.gap_share) / falling.sum()
                scripted[gap_step] += total * crash.gap_share
        logs[1:, column] = np.cumsum(diffusion + jumps + scripted)
    starts = np.array([asset.start for asset in config.assets])
    prices: npt.NDArray[np.float64] = starts * np.exp(logs)
    return prices


def mark_premiums(config: SyntheticConfig) -> npt.NDArray[np.float64]:
    """Each perp's mark premium over its index at each step: a mean-reverting (Ornstein-Uhlenbeck)
    path around ``premium_mean`` with a half-life of an hour, from the seed alone."""
    rng = np.random.default_rng([config.seed, 0x9E3])
    steps = config.duration_ms // config.step_ms
    reversion = 1 - 0.5 ** (config.step_ms / 3_600_000)
    premiums = np.zeros((steps + 1, len(config.assets)))
    premiums[0] = config.premium_mean
    shocks = rng.standard_normal((steps, len(config.assets))) * config.premium_volatility * math.sqrt(reversion)
    for step in range(steps):
        previous = premiums[step]
        premiums[step + 1] = previous + reversion * (config.premium_mean - previous) + shocks[step]
    return premiums


def _on_grid(value: float, unit: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    return (Decimal(repr(float(value))) / unit).to_integral_value(rounding) * unit


@dataclass
class _Trader:
    subaccount: int
    market: int
    """Index into the assets."""
    leverage: int
    deposit: float
    position: int = 0
    """+1 long, -1 short, 0 flat (as the trader believes; liquidations reset it)."""


class SyntheticMarket:
    """A seeded synthetic market as a backtest source (see the module docs)."""

    def __init__(self, config: SyntheticConfig | None = None) -> None:
        self.config = config if config is not None else SyntheticConfig()
        self.paths = index_paths(self.config)
        self.premiums = mark_premiums(self.config)
        self._rng = np.random.default_rng([self.config.seed, 0xA6E7])
        self._step = 0
        self._applied = 0
        self._makers: list[int] = []
        self._traders: list[_Trader] = []
        self._pulled: list[bool] = [False] * len(self.config.assets)
        self._falling: list[bool] = [False] * len(self.config.assets)
        self.backstop: int | None = None

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(asset.market for asset in self.config.assets)

    @property
    def start_ms(self) -> int:
        return self.config.start_ms

    @property
    def end_ms(self) -> int:
        return self.config.start_ms + (len(self.paths) - 1) * self.config.step_ms

    def events_applied(self) -> int:
        return self._applied

    def next_time(self) -> int | None:
        if self._step >= len(self.paths):
            return None
        return self.config.start_ms + self._step * self.config.step_ms

    def setup(self, exchange: Exchange, queue: str = "back") -> None:
        config, rng = self.config, self._rng
        for index in range(config.lenders):
            lender = exchange.open_account(f"synthetic:lender{index}")
            exchange.deposit(lender, "USDC", config.lender_deposit)
        for index in range(config.makers):
            maker = exchange.open_account(f"synthetic:maker{index}")
            exchange.deposit(maker, "USDC", config.maker_deposit)
            exchange.set_max_leverage(maker, exchange.config.venue.max_leverage)
            self._makers.append(maker)
        provider = exchange.open_account("synthetic:backstop")
        exchange.deposit(provider, "USDC", config.backstop_capacity)
        exchange.set_max_leverage(provider, exchange.config.venue.max_leverage)
        exchange.register_backstop_provider(provider, list(self.markets), config.backstop_capacity)
        self.backstop = provider
        low, high = config.trader_leverage
        for index in range(config.traders):
            deposit = float(np.exp(rng.uniform(math.log(config.trader_deposit[0]), math.log(config.trader_deposit[1]))))
            leverage = int(rng.integers(low, high + 1))
            trader = exchange.open_account(f"synthetic:trader{index}")
            exchange.deposit(trader, "USDC", str(_on_grid(deposit, Decimal("0.01"))))
            exchange.set_max_leverage(trader, leverage)
            self._traders.append(_Trader(trader, index % len(config.assets), leverage, deposit))

    def run_until(self, exchange: Exchange, time_ms: int) -> SourceStep:
        step = SourceStep()
        while self._step < len(self.paths):
            at = self.config.start_ms + self._step * self.config.step_ms
            if at > time_ms:
                break
            if at > exchange.time_ms:
                exchange.advance_to(at)
            self._apply(exchange, self._step)
            self._step += 1
            step.changed.update(self.markets)
        return step

    def _apply(self, exchange: Exchange, step: int) -> None:
        config = self.config
        for column, asset in enumerate(config.assets):
            if self._pulled[column]:
                for maker in self._makers:
                    exchange.cancel_all(maker, asset.market)
            index = float(self.paths[step, column])
            exchange.set_index_price(asset.asset, str(_on_grid(index, Decimal("0.01"))))
            spec = exchange.config.market(asset.market)
            mark = index * (1 + float(self.premiums[step, column]))
            exchange.set_mark_price(asset.market, str(_on_grid(mark, spec.tick_size)))
            self._applied += 2
        for column, asset in enumerate(config.assets):
            move = 0.0 if step == 0 else math.log(self.paths[step, column] / self.paths[step - 1, column])
            self._pulled[column] = abs(move) > config.pull_move
            lookback = max(0, step - 24)
            self._falling[column] = (
                math.log(self.paths[step, column] / self.paths[lookback, column]) < -3 * config.pull_move
            )
            self._requote(exchange, column, asset)
        self._trade(exchange, step)

    def _requote(self, exchange: Exchange, column: int, asset: AssetPath) -> None:
        config = self.config
        spec = exchange.config.market(asset.market)
        index = float(self.paths[self._step, column])
        level = Decimal(asset.level_quantity)
        for maker_number, maker in enumerate(self._makers):
            exchange.cancel_all(maker, asset.market)
            position = exchange.positions(maker).get(asset.market)
            inventory = float(position.net_qty / level) if position is not None else 0.0
            skew = max(-0.02, min(0.02, -config.maker_skew * inventory))
            spread = config.maker_spread * (1 + maker_number)
            bid_gap = config.falling_bid_gap if self._falling[column] else 0.0
            for depth in range(config.maker_levels):
                offset = spread * (depth + 1)
                bid = _on_grid(index * (1 + skew - offset - bid_gap), spec.tick_size)
                ask = _on_grid(index * (1 + skew + offset), spec.tick_size, ROUND_UP)
                # Not post-only: a maker takes a stale quote that its new price crosses.
                exchange.place_order(maker, asset.market, "Bid", quantity=str(level), price=str(bid))
                exchange.place_order(maker, asset.market, "Ask", quantity=str(level), price=str(ask))
            self._applied += 1

    def _trade(self, exchange: Exchange, step: int) -> None:
        config, rng = self.config, self._rng
        lookback = max(0, step - config.trend_lookback_ms // config.step_ms)
        looks = rng.random(len(self._traders)) < config.trader_activity
        for trader, looks_now in zip(self._traders, looks.tolist(), strict=True):
            if not looks_now:
                continue
            asset = config.assets[trader.market]
            trend = math.log(self.paths[step, trader.market] / self.paths[lookback, trader.market])
            held = exchange.positions(trader.subaccount).get(asset.market)
            quantity = Decimal(0) if held is None else held.net_qty
            trader.position = (quantity > 0) - (quantity < 0)
            wanted = 1 if trend > config.trend_threshold else -1 if trend < -config.trend_threshold else trader.position
            if trend * trader.position < -config.trend_threshold * 1.5:
                wanted = 0
            if wanted == trader.position:
                continue
            spec = exchange.config.market(asset.market)
            if quantity:
                side = "Ask" if quantity > 0 else "Bid"
                exchange.place_order(
                    trader.subaccount,
                    asset.market,
                    side,
                    order_type="Market",
                    quantity=str(abs(quantity)),
                    reduce_only=True,
                )
            if wanted:
                equity = float(exchange.margin(trader.subaccount).net_equity)
                notional = equity * trader.leverage * float(rng.uniform(0.6, 0.9))
                size = _on_grid(notional / float(self.paths[step, trader.market]), spec.step_size)
                if size >= spec.min_quantity:
                    # An IOC limit a little through the index: a market order's pre-trade check would
                    # count a loss to the impact band, more than a 50x account may risk.
                    limit = float(self.paths[step, trader.market]) * (1 + wanted * config.trader_slippage)
                    exchange.place_order(
                        trader.subaccount,
                        asset.market,
                        "Bid" if wanted > 0 else "Ask",
                        quantity=str(size),
                        price=str(_on_grid(limit, spec.tick_size, ROUND_DOWN if wanted > 0 else ROUND_UP)),
                        time_in_force="IOC",
                    )
            self._applied += 1
