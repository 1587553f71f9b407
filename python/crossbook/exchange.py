"""The exchange: owners and subaccounts, balances, spot and perpetual trading and cross margin.

:class:`Exchange` is the command surface of SPEC §11. It normalises arguments (amounts as
``Decimal``, ``str`` or ``int``; a ``float`` goes through ``str()`` and must be exact at the asset's
or market's precision), hands them to the Rust engine, and returns ``Decimal`` amounts. Every
command is atomic: a bad argument raises a :class:`crossbook.CrossbookError` subclass and changes
nothing; a trading outcome (a margin reject, a self-trade, an expiry) is a result and an event, not
an exception. Time is an input (:meth:`Exchange.advance_to`); the engine never reads a clock, so the
same commands give the same events and the same :meth:`Exchange.state_hash`.

Units: prices are quote per base unit (e.g. USDC per BTC) on the market's tick; quantities are base
units on the market's step; amounts are asset units at the asset's decimals.

Commands and queries: every state-changing public method is a *command* (:data:`COMMANDS`): it
normalizes its arguments to canonical values (decimal strings, ints, bools, None, lists of names),
then runs a private ``_<name>`` method on exactly those values. A durable exchange
(:meth:`Exchange.open`, :mod:`crossbook.journal`) journals the command name and those values before
returning, and recovery replays them through the same private methods, so a replayed exchange is
the live one, by :meth:`Exchange.state_hash`. Every other public method is a query
(:data:`QUERIES`) and changes no state (``events`` drains output, which is not state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy.typing as npt

from crossbook import funding, lending, liquidation
from crossbook._core import Engine, OrderFill, OrderResult
from crossbook.config import Config
from crossbook.enums import OrderType, SelfTradePrevention, Side, TimeInForce
from crossbook.exceptions import (
    DurabilityError,
    InvalidArgumentError,
    InvalidTypeError,
    UnknownAccountError,
    UnknownOrderError,
)

if TYPE_CHECKING:
    import os

    from crossbook.journal import Durability

_T = TypeVar("_T")

AmountLike = Decimal | str | int | float
_AMOUNT_TYPES = (Decimal, str, int, float)


def _amount(value: object, name: str) -> str:
    """An amount as the exact decimal string the engine parses."""
    if type(value) is str:
        return value
    if isinstance(value, bool) or not isinstance(value, _AMOUNT_TYPES):
        raise InvalidTypeError(f"{name} must be a Decimal, str or int, got {type(value).__name__}")
    return str(value)


_I64 = range(-(2**63), 2**63)


def _subaccount(value: object) -> int:
    if type(value) is not int:
        raise InvalidTypeError(f"subaccount must be an int id, got {type(value).__name__}")
    if not 0 <= value < 2**32:
        raise UnknownAccountError(f"no subaccount with id {value}")
    return value


def _order_id(value: object) -> int:
    if type(value) is not int:
        raise InvalidTypeError(f"order_id must be an int, got {type(value).__name__}")
    if not 0 <= value < 2**64:
        raise UnknownOrderError(f"order id {value} was never issued")
    return value


def _int(value: object, name: str) -> int:
    """An int argument that must fit a signed 64-bit integer."""
    if type(value) is not int:
        raise InvalidTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value not in _I64:
        raise InvalidArgumentError(f"{name} {value} does not fit in a signed 64-bit integer")
    return value


def _name(value: object, what: str) -> str:
    if type(value) is not str:
        raise InvalidTypeError(f"{what} must be a str, got {type(value).__name__}")
    return value


def _choice(value: object, what: str) -> str:
    """A name given as a string enum of :mod:`crossbook.enums` or a plain str, as a plain str."""
    if type(value) is str:
        return value
    if not isinstance(value, str):
        raise InvalidTypeError(f"{what} must be a str, got {type(value).__name__}")
    return str.__str__(value)


@dataclass(frozen=True)
class OpenOrder:
    """A live order; ``remaining`` in base units."""

    market: str
    order_id: int
    side: str
    price: Decimal
    remaining: Decimal
    reduce_only: bool


@dataclass(frozen=True)
class PendingTrigger:
    """A trigger order waiting for ``trigger_by`` to reach ``trigger_price``."""

    trigger_id: int
    market: str
    side: str
    trigger_price: Decimal
    trigger_by: str


@dataclass(frozen=True)
class PoolView:
    """One asset's borrow/lend pool; rates are APRs."""

    lent: Decimal
    borrowed: Decimal
    cash: Decimal
    utilization: float
    borrow_rate: Decimal
    lend_rate: Decimal


@dataclass(frozen=True)
class MarginSummary:
    """SPEC §4-§5 for one subaccount; amounts in the settlement asset (USDC)."""

    net_equity: Decimal
    available: Decimal
    locked: Decimal
    im: Decimal
    mm: Decimal
    collateral: Decimal
    liabilities: Decimal
    unrealized_pnl: Decimal
    exposure: Decimal
    imr: float
    mmr: float
    margin_fraction: float
    liquidatable: bool


@dataclass(frozen=True)
class Balance:
    free: Decimal
    locked: Decimal
    lent: Decimal
    borrowed: Decimal


@dataclass(frozen=True)
class Position:
    """A perpetual position: ``net_qty`` signed base units, ``entry_price`` the average cost."""

    net_qty: Decimal
    entry_price: Decimal | None
    mark: Decimal | None
    unrealized_pnl: Decimal
    est_liquidation_price: Decimal | None
    net_cost: Decimal
    cumulative_funding: Decimal = Decimal(0)


@dataclass(frozen=True)
class AssetAudit:
    """One asset's proof-of-reserves line: everything held reconciles with deposits - withdrawals."""

    held_by_subaccounts: Decimal
    locked_by_orders: Decimal
    lent: Decimal
    borrowed: Decimal
    pool_cash: Decimal
    lending_income: Decimal
    conversions: Decimal
    fees: Decimal
    liquidation_fund: Decimal
    pnl_clearing: Decimal
    deposits: Decimal
    withdrawals: Decimal
    balanced: bool


@dataclass(frozen=True)
class LiquidationState:
    """Where a subaccount stands in the waterfall (SPEC §9)."""

    liquidating: bool
    liquidatable: bool
    mmr: float
    margin_fraction: float
    net_equity: Decimal
    bankrupt: bool


def _margin(raw: dict[str, Any]) -> MarginSummary:
    return MarginSummary(
        **{key: Decimal(value) for key, value in raw.items() if isinstance(value, str)},
        imr=raw["imr"],
        mmr=raw["mmr"],
        margin_fraction=raw["margin_fraction"],
        liquidatable=raw["liquidatable"],
    )


class Exchange:
    """An exchange (SPEC §11). ``Exchange(config)`` lives in memory (``Exchange()`` uses
    :meth:`Config.default`); :meth:`Exchange.open` makes a durable one in a directory."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else Config.default()
        self._engine = Engine(self.config.engine_spec())
        self._perps = tuple(market for market in self.config.markets if market.kind == "perp")
        self._waterfall = liquidation.Waterfall.of(self.config.venue.liquidation)
        self._liquidate = self.config.venue.liquidation.enabled
        self._durability: Durability | None = None

    # ----- durability ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: Config | None = None,
        fsync: str = "always",
        *,
        snapshot_every: int | None = 100_000,
        batch_size: int = 64,
    ) -> Exchange:
        """A durable exchange in directory ``path`` (created if needed), recovered from its newest
        valid snapshot and journal tail if it exists (see :mod:`crossbook.journal`).

        Every command is written to the journal before it returns. ``fsync``: ``"always"`` (each
        command is on stable storage before it returns: nothing acknowledged is lost, even to a power
        failure), ``"batch"`` (an fsync every ``batch_size`` commands: a power failure loses at most
        ``batch_size - 1`` acknowledged commands) or ``"never"`` (the OS decides). A crash of the
        process loses nothing acknowledged in any mode. A snapshot is taken every ``snapshot_every``
        commands (None: only on :meth:`snapshot`). ``config`` is required for a new directory's
        non-default configuration and must match an existing directory's."""
        from crossbook import journal  # noqa: PLC0415 - journal builds on this module

        return journal.open_exchange(
            cls, Path(path), config, fsync=fsync, snapshot_every=snapshot_every, batch_size=batch_size
        )

    @property
    def directory(self) -> Path | None:
        """The directory of a durable exchange; None in memory."""
        return None if self._durability is None else self._durability.directory

    @property
    def journal_length(self) -> int | None:
        """Commands in a durable exchange's journal (all acknowledged ones; after a crash, a client
        resumes sending from here); None in memory."""
        return None if self._durability is None else self._durability.records

    def snapshot(self) -> Path:
        """Writes a snapshot of the whole state (atomically) and returns its path; recovery starts
        from the newest valid one. Durable exchanges only."""
        return self._durable().snapshot(self)

    def sync(self) -> None:
        """Forces every acknowledged command to stable storage (for ``fsync="batch"``/``"never"``)."""
        self._durable().sync()

    def close(self) -> None:
        """Syncs and closes a durable exchange's journal; later commands raise ``DurabilityError``.
        Closing twice, or closing an in-memory exchange, does nothing."""
        if self._durability is not None:
            self._durability.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _durable(self) -> Durability:
        if self._durability is None:
            raise DurabilityError("an in-memory exchange has no journal; use Exchange.open(directory)")
        return self._durability

    def _run(self, apply: Callable[..., _T], *args: object) -> _T:
        """Runs the command ``apply`` (a ``_<name>`` method) on canonical ``args``, journaling it when
        durable."""
        if self._durability is None:
            return apply(*args)
        return self._durability.run(apply, args)

    # ----- accounts ------------------------------------------------------------------------------

    def open_account(self, owner: str) -> int:
        """Opens an owner and returns the id of their main subaccount."""
        return self._run(self._open_account, _name(owner, "owner"))

    def _open_account(self, owner: str) -> int:
        return self._engine.open_account(owner)

    def open_subaccount(self, owner: str, label: str) -> int:
        """Opens another subaccount (up to ``venue.max_subaccounts`` besides the main one)."""
        return self._run(self._open_subaccount, _name(owner, "owner"), _name(label, "label"))

    def _open_subaccount(self, owner: str, label: str) -> int:
        return self._engine.open_subaccount(owner, label)

    def deposit(self, subaccount: int, asset: str, amount: AmountLike) -> None:
        """Credits the free balance, then (by the subaccount's switches) repays borrows and lends
        what stays free (SPEC §3, §7)."""
        self._run(self._deposit, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _deposit(self, sub: int, asset: str, amount: str) -> None:
        self._engine.deposit(sub, asset, amount)
        self._engine.sweep_free_balances(sub)

    def withdraw(self, subaccount: int, asset: str, amount: AmountLike) -> None:
        """Refused (``InsufficientBalanceError``/``InsufficientMarginError``) beyond the free balance
        or if initial margin would exceed net equity afterwards."""
        self._run(self._withdraw, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _withdraw(self, sub: int, asset: str, amount: str) -> None:
        self._engine.withdraw(sub, asset, amount)

    def transfer(self, source: int, destination: int, asset: str, amount: AmountLike) -> None:
        """Moves an asset between two subaccounts of one owner, with the checks of a withdrawal."""
        self._run(
            self._transfer,
            _subaccount(source),
            _subaccount(destination),
            _name(asset, "asset"),
            _amount(amount, "amount"),
        )

    def _transfer(self, source: int, destination: int, asset: str, amount: str) -> None:
        self._engine.transfer(source, destination, asset, amount)

    def set_max_leverage(self, subaccount: int, leverage: int) -> None:
        """1 to ``venue.max_leverage``; refused if it would take IMR above 100%."""
        self._run(self._set_max_leverage, _subaccount(subaccount), _int(leverage, "leverage"))

    def _set_max_leverage(self, sub: int, leverage: int) -> None:
        self._engine.set_max_leverage(sub, leverage)

    def set_auto_lend(self, subaccount: int, on: bool) -> None:
        self._set(subaccount, "auto_lend", on)

    def set_auto_borrow_settlements(self, subaccount: int, on: bool) -> None:
        self._set(subaccount, "auto_borrow_settlements", on)

    def set_auto_repay_borrows(self, subaccount: int, on: bool) -> None:
        self._set(subaccount, "auto_repay_borrows", on)

    def set_auto_realize_pnl(self, subaccount: int, on: bool) -> None:
        self._set(subaccount, "auto_realize_pnl", on)

    def _set(self, subaccount: int, setting: str, on: bool) -> None:
        if not isinstance(on, bool):
            raise InvalidTypeError(f"{setting} must be a bool, got {type(on).__name__}")
        self._run(self._set_setting, _subaccount(subaccount), setting, on)

    def _set_setting(self, sub: int, setting: str, on: bool) -> None:
        self._engine.set_setting(sub, setting, on)

    def settings(self, subaccount: int) -> dict[str, int | bool]:
        """``max_leverage`` and the auto-* switches of a subaccount."""
        return dict(self._engine.settings(_subaccount(subaccount)))

    # ----- borrow and lend -----------------------------------------------------------------------

    def lend(self, subaccount: int, asset: str, amount: AmountLike) -> None:
        """Lends free balance to the asset's pool (it stays collateral and earns the lend rate)."""
        self._run(self._lend, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _lend(self, sub: int, asset: str, amount: str) -> None:
        self._engine.lend(sub, asset, amount)

    def redeem(self, subaccount: int, asset: str, amount: AmountLike) -> None:
        """Takes lent balance back; refused (``LendingRefusedError``) while the pool is throttled or
        lacks the cash."""
        self._run(self._redeem, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _redeem(self, sub: int, asset: str, amount: str) -> None:
        self._engine.redeem(sub, asset, amount)

    def borrow(self, subaccount: int, asset: str, amount: AmountLike) -> None:
        """Borrows from the asset's pool into the free balance, paying at once an entry fee for the
        rest of the current interest interval; refused if the pool lacks the cash or would pass its
        throttle, or if initial margin would exceed net equity."""
        self._run(self._borrow, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _borrow(self, sub: int, symbol: str, text: str) -> None:
        rate = lending.interval_rate_e18(self.config, symbol, self._utilization_after_borrow(symbol, text))
        self._engine.borrow(sub, symbol, text, rate)

    def repay(self, subaccount: int, asset: str, amount: AmountLike) -> Decimal:
        """Repays up to ``amount`` of a borrow from the free balance; returns what was repaid."""
        return self._run(self._repay, _subaccount(subaccount), _name(asset, "asset"), _amount(amount, "amount"))

    def _repay(self, sub: int, asset: str, amount: str) -> Decimal:
        return Decimal(self._engine.repay(sub, asset, amount))

    def pools(self) -> dict[str, PoolView]:
        """Per asset: lent, borrowed, utilization and the current borrow and lend APRs."""
        views = {}
        fee = self.config.venue.lend_venue_fee
        for symbol, lent, borrowed, utilization, cash in self._engine.pools():
            curve = self.config.asset(symbol).lending
            u = Decimal(repr(utilization)).min(Decimal(1))
            views[symbol] = PoolView(
                lent=Decimal(lent),
                borrowed=Decimal(borrowed),
                cash=Decimal(cash),
                utilization=utilization,
                borrow_rate=curve.borrow_rate(u),
                lend_rate=curve.lend_rate(u, fee),
            )
        return views

    def borrow_lend_positions(self, subaccount: int) -> dict[str, tuple[Decimal, Decimal]]:
        """Per asset with a lend or a borrow: (lent, borrowed)."""
        return {
            symbol: (balance.lent, balance.borrowed)
            for symbol, balance in self.balances(subaccount).items()
            if balance.lent or balance.borrowed
        }

    def _utilization_after_borrow(self, symbol: str, amount: str) -> Decimal:
        """The pool's utilization with the borrow counted: the rate the borrower's entry fee uses."""
        for name, lent, borrowed, _utilization, _cash in self._engine.pools():
            if name == symbol:
                try:
                    extra = Decimal(amount)
                except ArithmeticError:
                    extra = Decimal(0)  # the engine refuses the malformed amount with its own error
                lent_amount = Decimal(lent)
                return Decimal(1) if lent_amount <= 0 else min(Decimal(1), (Decimal(borrowed) + extra) / lent_amount)
        self.config.asset(symbol)  # raises the unknown-asset error
        return Decimal(0)

    # ----- prices and time -------------------------------------------------------------------------

    def set_index_price(self, asset: str, price: AmountLike) -> None:
        """An asset's index price in the settlement asset (rescans every subaccount's margin).

        Perps on this asset whose mark was never set derive it here: ``index + EMA(mid - index)`` within the
        market's price band (``MarketConfig.mark_ema_span``); a changed derived mark is a ``MarkPrice`` event.
        """
        self._run(self._set_index_price, _name(asset, "asset"), _amount(price, "price"))

    def _set_index_price(self, asset: str, price: str) -> None:
        self._engine.set_index_price(asset, price)
        if self._liquidate:
            liquidation.run(self._engine, self._waterfall)

    def set_mark_price(self, market: str, price: AmountLike) -> None:
        """A perpetual's mark price (rescans every subaccount's margin); from now on the caller owns it."""
        self._run(self._set_mark_price, _name(market, "market"), _amount(price, "price"))

    def _set_mark_price(self, market: str, price: str) -> None:
        self._engine.set_mark_price(market, price)
        if self._liquidate:
            liquidation.run(self._engine, self._waterfall)

    def advance_to(self, time_ms: int) -> None:
        """Moves engine time (milliseconds) forward; it never goes back. At every boundary crossed,
        in time order, the scheduled jobs run in a fixed order: PnL realization (every
        ``venue.realize_interval_ms``), then interest on every pool (every
        ``venue.interest_interval_ms``, at the rate of the pool's utilization there; see
        :mod:`crossbook.lending`), then a margin scan and the liquidation waterfall
        (:mod:`crossbook.liquidation`). So one long jump gives exactly what many short steps give."""
        self._run(self._advance_to, _int(time_ms, "time_ms"))

    def _advance_to(self, target: int) -> None:
        if target < self._engine.time_ms:
            self._engine.advance_to(target)  # raises: time never goes back
        venue = self.config.venue
        if self._engine.is_idle():
            # Nothing to realize, fund or charge: jump (epoch-millisecond clocks start far from 0),
            # forgetting premium samples as a funding payment would have.
            if any(
                lending.boundaries(market.funding_interval_ms, self._engine.time_ms, target) for market in self._perps
            ):
                self._engine.reset_premiums()
            self._engine.advance_to(target)
            return
        lender_share = lending.lender_share_e18(self.config)
        for boundary in lending.boundaries(venue.realize_interval_ms, self._engine.time_ms, target):
            self._engine.advance_to(boundary)
            self._engine.realize_pnl()
            self._engine.sweep_all_free_balances()
            for market in self._perps:
                if boundary % market.funding_interval_ms == 0:
                    premium = self._engine.funding_premium(market.symbol)
                    fixed = self._engine.fixed_funding_rate(market.symbol)
                    rate_e18 = funding.rate_e18(funding.funding_rate(market, premium)) if fixed is None else fixed
                    self._engine.pay_funding(market.symbol, rate_e18)
            if boundary % venue.interest_interval_ms == 0:
                for symbol, _lent, borrowed, utilization, _cash in self._engine.pools():
                    if Decimal(borrowed) > 0:
                        rate = lending.interval_rate_e18(self.config, symbol, utilization)
                        self._engine.accrue_interest(symbol, rate, lender_share)
            if self._liquidate:
                self._engine.rescan_margin()
                liquidation.run(self._engine, self._waterfall)
        self._engine.advance_to(target)

    def set_funding_rate(self, market: str, rate: AmountLike | None) -> None:
        """Fixes the rate (per funding interval) of a perpetual's next payments, e.g. a replayed venue's
        recorded rate, instead of the one from the sampled premium; None goes back to the premium's."""
        spec = self.config.market(_name(market, "market"))
        if spec.kind != "perp":
            raise InvalidArgumentError(f"{market} is a spot market: only perpetuals pay funding")
        if rate is None:
            self._run(self._set_funding_rate, spec.symbol, None)
            return
        try:
            value = Decimal(_amount(rate, "rate"))
        except ArithmeticError as error:
            raise InvalidArgumentError(f"rate must be a decimal number, got {rate!r}") from error
        if not value.is_finite() or abs(value) >= 1:
            raise InvalidArgumentError(f"a funding rate per interval must be finite and within (-1, 1), got {rate!r}")
        self._run(self._set_funding_rate, spec.symbol, str(value))

    def _set_funding_rate(self, market: str, rate: str | None) -> None:
        self._engine.set_fixed_funding_rate(market, None if rate is None else funding.rate_e18(Decimal(rate)))

    @property
    def time_ms(self) -> int:
        return self._engine.time_ms

    # ----- orders ----------------------------------------------------------------------------------

    def place_order(
        self,
        subaccount: int,
        market: str,
        side: Side | str,
        *,
        order_type: OrderType | str = "Limit",
        quantity: AmountLike | None = None,
        price: AmountLike | None = None,
        time_in_force: TimeInForce | str = "GTC",
        post_only: bool = False,
        reduce_only: bool = False,
        self_trade_prevention: SelfTradePrevention | str = "RejectTaker",
        client_id: int | None = None,
        quote_quantity: AmountLike | None = None,
        trigger_price: AmountLike | None = None,
        trigger_by: str | None = None,
        auto_borrow: bool = False,
    ) -> OrderResult:
        """Places an order. Rejects and expiries are in the result (``status``, ``reject_reason``) and
        the events, not raised; misuse (unknown names, malformed amounts, contradictory flags) raises.
        ``price`` None with ``order_type="Market"``; ``quote_quantity`` sizes a spot market buy by the
        quote to spend. ``client_id`` is echoed on the result. With ``trigger_price`` the order waits
        off the book (status ``TriggerPending``, a ``trigger_id``) until the ``trigger_by`` price
        (``"MarkPrice"``, the default, or ``"LastPrice"``) reaches it, then is placed with every check
        of a new order. ``auto_borrow`` (spot margin) locks only the free balance and borrows the
        rest of what fills spend, if margin allows it with the order filled."""
        if type(post_only) is not bool or type(reduce_only) is not bool or type(auto_borrow) is not bool:
            raise InvalidTypeError("post_only, reduce_only and auto_borrow must be bools")
        if client_id is not None and (type(client_id) is not int or not 0 <= client_id < 2**64):
            raise InvalidTypeError(f"client_id must be an int in [0, 2**64) or None, got {client_id!r}")
        return self._run(
            self._place_order,
            _subaccount(subaccount),
            _name(market, "market"),
            side if type(side) is str else _choice(side, "side"),
            order_type if type(order_type) is str else _choice(order_type, "order_type"),
            None if quantity is None else _amount(quantity, "quantity"),
            None if price is None else _amount(price, "price"),
            None if quote_quantity is None else _amount(quote_quantity, "quote_quantity"),
            time_in_force if type(time_in_force) is str else _choice(time_in_force, "time_in_force"),
            post_only,
            reduce_only,
            self_trade_prevention
            if type(self_trade_prevention) is str
            else _choice(self_trade_prevention, "self_trade_prevention"),
            client_id,
            None if trigger_price is None else _amount(trigger_price, "trigger_price"),
            None if trigger_by is None else _name(trigger_by, "trigger_by"),
            auto_borrow,
        )

    def _place_order(self, *args: Any) -> OrderResult:
        return self._engine.place_order(*args)

    def amend_order(
        self,
        subaccount: int,
        market: str,
        order_id: int,
        price: AmountLike | None = None,
        quantity: AmountLike | None = None,
    ) -> str | None:
        """Changes a live order's price and/or remaining quantity. A smaller quantity at the same
        price keeps the order's place; anything else moves it to the back of its level. Returns None
        when amended, else why not (the book's filters, ``InsufficientMargin``,
        ``InsufficientBalance``, ``ReduceOnlyNotReducing``, ``OrderNotLive``, ``AmendWouldCross``);
        the order is then unchanged."""
        return self._run(
            self._amend_order,
            _subaccount(subaccount),
            _name(market, "market"),
            _order_id(order_id),
            None if price is None else _amount(price, "price"),
            None if quantity is None else _amount(quantity, "quantity"),
        )

    def _amend_order(self, sub: int, market: str, order_id: int, price: str | None, quantity: str | None) -> str | None:
        return self._engine.amend_order(sub, market, order_id, price, quantity)

    def cancel_trigger(self, subaccount: int, trigger_id: int) -> bool:
        """Cancels a pending trigger order: True if cancelled, False if it already fired."""
        return self._run(self._cancel_trigger, _subaccount(subaccount), _order_id(trigger_id))

    def _cancel_trigger(self, sub: int, trigger_id: int) -> bool:
        return self._engine.cancel_trigger(sub, trigger_id)

    def pending_triggers(self, subaccount: int) -> list[PendingTrigger]:
        """The subaccount's trigger orders still waiting, by id."""
        return [
            PendingTrigger(trigger_id, market, side, Decimal(price), by)
            for trigger_id, market, side, price, by in self._engine.pending_triggers(_subaccount(subaccount))
        ]

    def open_orders(self, subaccount: int) -> list[OpenOrder]:
        """The subaccount's live orders, by market and id."""
        orders = self._engine.open_orders(_subaccount(subaccount))
        return [
            OpenOrder(market, order_id, side, Decimal(price), Decimal(remaining), reduce_only)
            for market, order_id, side, price, remaining, reduce_only in orders
        ]

    def cancel_order(self, subaccount: int, market: str, order_id: int) -> bool:
        """True if cancelled; False if the order is no longer live. Another subaccount's order or an
        id never issued raises."""
        return self._run(self._cancel_order, _subaccount(subaccount), _name(market, "market"), _order_id(order_id))

    def _cancel_order(self, sub: int, market: str, order_id: int) -> bool:
        return self._engine.cancel_order(sub, market, order_id)

    def cancel_all(self, subaccount: int, market: str | None = None) -> int:
        """Cancels every live order of the subaccount (in one market, or all); returns how many."""
        return self._run(self._cancel_all, _subaccount(subaccount), None if market is None else _name(market, "market"))

    def _cancel_all(self, sub: int, market: str | None) -> int:
        return self._engine.cancel_all(sub, market)

    # ----- views -----------------------------------------------------------------------------------

    def margin(self, subaccount: int) -> MarginSummary:
        return _margin(self._engine.margin(_subaccount(subaccount)))

    def stress(self, subaccount: int, prices: dict[str, AmountLike]) -> MarginSummary:
        """The margin summary under hypothetical prices ({asset: index} or {perp market: mark}),
        changing nothing."""
        if not isinstance(prices, dict):
            raise InvalidTypeError(f"prices must be a dict, got {type(prices).__name__}")
        normalized = {_name(name, "price key"): _amount(price, f"price of {name}") for name, price in prices.items()}
        return _margin(self._engine.stress(_subaccount(subaccount), normalized))

    def balances(self, subaccount: int) -> dict[str, Balance]:
        return {
            symbol: Balance(Decimal(free), Decimal(locked), Decimal(lent), Decimal(borrowed))
            for symbol, free, locked, lent, borrowed in self._engine.balances(_subaccount(subaccount))
        }

    def positions(self, subaccount: int) -> dict[str, Position]:
        positions = {}
        rows = self._engine.positions(_subaccount(subaccount))
        for market, net_qty, net_cost, mark, pnl, estimate, paid_funding in rows:
            quantity, cost = Decimal(net_qty), Decimal(net_cost)
            tick = self.config.market(market).tick_size
            positions[market] = Position(
                net_qty=quantity,
                entry_price=(cost / quantity) if quantity else None,
                mark=None if mark is None else Decimal(mark),
                unrealized_pnl=Decimal(pnl),
                est_liquidation_price=None if estimate is None else Decimal(repr(estimate)).quantize(tick),
                net_cost=cost,
                cumulative_funding=Decimal(paid_funding),
            )
        return positions

    def funding_rate(self, market: str) -> Decimal:
        """The funding rate per interval the next payment of a perpetual would use (SPEC §8), from
        the premium sampled so far this interval (or the rate fixed by :meth:`set_funding_rate`)."""
        spec = self.config.market(_name(market, "market"))
        if spec.kind != "perp":
            raise InvalidArgumentError(f"{market} is a spot market: only perpetuals pay funding")
        fixed = self._engine.fixed_funding_rate(spec.symbol)
        if fixed is not None:
            return Decimal(fixed).scaleb(-18).normalize()
        return funding.funding_rate(spec, self._engine.funding_premium(spec.symbol))

    def liquidation_price(self, subaccount: int, market: str) -> Decimal | None:
        """The estimated mark at which the subaccount's MMR reaches 100% (SPEC §5), or None."""
        price = self._engine.liquidation_price(_subaccount(subaccount), _name(market, "market"))
        return None if price is None else Decimal(repr(price)).quantize(self.config.market(market).tick_size)

    def depth(
        self, market: str, levels: int = 10
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids, asks) of (price, quantity), best first."""
        if _int(levels, "levels") < 0:
            raise InvalidArgumentError(f"levels must be >= 0, got {levels}")
        bids, asks = self._engine.depth(_name(market, "market"), levels)
        return (
            [(Decimal(price), Decimal(quantity)) for price, quantity in bids],
            [(Decimal(price), Decimal(quantity)) for price, quantity in asks],
        )

    def events(self) -> list[dict[str, Any]]:
        """Drains the events since the last call (each a dict with ``sequence``, ``time_ms``,
        ``kind`` and its fields; amounts as decimal strings)."""
        return list(self._engine.events())

    def state_hash(self) -> str:
        """A fingerprint of all state: equal commands give equal hashes."""
        return self._engine.state_hash()

    def audit(self) -> dict[str, AssetAudit]:
        """Per asset: held by subaccounts, locked, lent, borrowed, venue accounts, deposits,
        withdrawals, and ``balanced`` (True when the asset reconciles)."""
        audits = {}
        for raw in self._engine.audit():
            symbol = raw.pop("asset")
            balanced = raw.pop("balanced")
            audits[symbol] = AssetAudit(**{key: Decimal(value) for key, value in raw.items()}, balanced=balanced)
        return audits

    def margin_scan(self) -> dict[str, npt.NDArray[Any]]:
        """The vectorized margin check over every subaccount (numpy columns in quote atoms and
        ratios), the one Rust call a venue runs after every price update."""
        return dict(self._engine.scan())

    def liquidatable(self) -> list[int]:
        """Subaccounts whose MMR reached 100% at the last price update."""
        return list(self._engine.liquidatable())

    # ----- liquidation -----------------------------------------------------------------------------

    def register_backstop_provider(self, subaccount: int, markets: list[str], capacity: AmountLike) -> None:
        """Registers a backstop liquidity provider (or replaces its markets and capacity): in the waterfall
        it takes positions in ``markets`` (perps) at the mark, up to ``capacity`` USDC of notional in all,
        while its own IMR stays within 100%, and receives the liquidation fee. Providers are asked in
        registration order."""
        if isinstance(markets, str) or not isinstance(markets, list | tuple):
            raise InvalidTypeError(f"markets must be a list of perp market symbols, got {type(markets).__name__}")
        names = [_name(market, "market") for market in markets]
        self._run(self._register_backstop_provider, _subaccount(subaccount), names, _amount(capacity, "capacity"))

    def _register_backstop_provider(self, sub: int, markets: list[str], capacity: str) -> None:
        self._engine.register_backstop_provider(sub, markets, capacity)

    def backstop_providers(self) -> list[tuple[int, list[str], Decimal]]:
        """(subaccount, markets, remaining capacity in USDC) of every provider, in order."""
        return [
            (account, markets, Decimal(capacity)) for account, markets, capacity in self._engine.backstop_providers()
        ]

    def liquidation_state(self, subaccount: int) -> LiquidationState:
        """Whether the subaccount is being liquidated, with the margin figures the waterfall reads."""
        account = _subaccount(subaccount)
        margin = self._engine.margin(account)
        return LiquidationState(
            liquidating=account in self._engine.liquidating(),
            liquidatable=margin["liquidatable"],
            mmr=margin["mmr"],
            margin_fraction=margin["margin_fraction"],
            net_equity=Decimal(margin["net_equity"]),
            bankrupt=Decimal(margin["net_equity"]) < 0,
        )

    def liquidating(self) -> list[int]:
        """Subaccounts being liquidated now, by id (a liquidation may span several passes)."""
        return list(self._engine.liquidating())

    def subaccount_info(self, subaccount: int) -> tuple[str, str]:
        """(owner, label) of a subaccount."""
        return self._engine.account_info(_subaccount(subaccount))


COMMANDS = frozenset(
    {
        "open_account",
        "open_subaccount",
        "deposit",
        "withdraw",
        "transfer",
        "set_max_leverage",
        "set_setting",
        "lend",
        "redeem",
        "borrow",
        "repay",
        "set_index_price",
        "set_mark_price",
        "advance_to",
        "place_order",
        "amend_order",
        "cancel_trigger",
        "cancel_order",
        "cancel_all",
        "register_backstop_provider",
        "set_funding_rate",
    }
)
"""Names of the journaled commands: each runs as ``Exchange._<name>`` on canonical arguments (the
public ``set_auto_*`` switches are the one command ``set_setting``)."""

QUERIES = frozenset(
    {
        "audit",
        "backstop_providers",
        "balances",
        "borrow_lend_positions",
        "depth",
        "events",
        "funding_rate",
        "liquidatable",
        "liquidating",
        "liquidation_price",
        "liquidation_state",
        "margin",
        "margin_scan",
        "open_orders",
        "pending_triggers",
        "pools",
        "positions",
        "settings",
        "state_hash",
        "stress",
        "subaccount_info",
        "time_ms",
    }
)
"""Public methods that change no state (``events`` drains output, not state)."""

__all__ = [
    "COMMANDS",
    "QUERIES",
    "AssetAudit",
    "Balance",
    "Exchange",
    "LiquidationState",
    "MarginSummary",
    "OpenOrder",
    "OrderFill",
    "OrderResult",
    "PendingTrigger",
    "PoolView",
    "Position",
]
