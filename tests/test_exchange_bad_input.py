"""Misuse of ``crossbook.Exchange``: each bad call raises a clear ``CrossbookError`` subclass whose message
names the problem, and changes nothing (``state_hash()`` is the same and no event is emitted)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

import crossbook as cb

SOL_PERP = "SOL_USDC_PERP"


@dataclass
class World:
    """An exchange with some state, so that a command that wrongly changed something would show."""

    ex: cb.Exchange
    alice: int
    hedge: int
    bob: int
    alice_order: int
    hedge_order: int


@pytest.fixture
def world() -> World:
    ex = cb.Exchange()
    alice, bob = ex.open_account("alice"), ex.open_account("bob")
    hedge = ex.open_subaccount("alice", "hedge")
    ex.deposit(alice, "USDC", "10000")
    ex.deposit(hedge, "USDC", "5000")
    ex.deposit(bob, "USDC", "10000")
    ex.deposit(bob, "SOL", "10")
    ex.set_index_price("SOL", "100")
    ex.set_mark_price(SOL_PERP, "100")
    ex.place_order(bob, SOL_PERP, "Ask", quantity="500", price="100")
    ex.place_order(alice, SOL_PERP, "Bid", quantity="500", price="100")  # alice long 500: IM 5,000 at 10x
    alice_order = ex.place_order(alice, "SOL_USDC", "Bid", quantity="1", price="90").order_id
    hedge_order = ex.place_order(hedge, "SOL_USDC", "Bid", quantity="1", price="91").order_id
    assert alice_order is not None and hedge_order is not None
    ex.advance_to(1_000)
    ex.events()
    return World(ex, alice, hedge, bob, alice_order, hedge_order)


def untyped(target: World | cb.Exchange) -> Any:
    """The exchange without its static types, for calls that pass wrong types on purpose."""
    return target.ex if isinstance(target, World) else target


Case = tuple[str, Callable[[World], Any], type[cb.CrossbookError], str]

CASES: list[Case] = [
    # --- unknown names and accounts ---
    ("unknown asset deposit", lambda w: w.ex.deposit(w.alice, "XRP", "1"), cb.UnknownNameError, r'unknown asset "XRP"'),
    ("unknown asset withdraw", lambda w: w.ex.withdraw(w.alice, "usdc", "1"), cb.UnknownNameError, "known assets"),
    ("unknown asset index", lambda w: w.ex.set_index_price("DOGE", "1"), cb.UnknownNameError, "unknown asset"),
    (
        "unknown asset transfer",
        lambda w: w.ex.transfer(w.alice, w.hedge, "XRP", "1"),
        cb.UnknownNameError,
        "unknown asset",
    ),
    (
        "unknown market order",
        lambda w: w.ex.place_order(w.alice, "SOL_USD", "Bid", quantity="1", price="1"),
        cb.UnknownNameError,
        r'unknown market "SOL_USD"; known markets: .*SOL_USDC_PERP',
    ),
    ("unknown market mark", lambda w: w.ex.set_mark_price("DOGE_USDC_PERP", "1"), cb.UnknownNameError, "market"),
    ("unknown market cancel", lambda w: w.ex.cancel_order(w.alice, "X", 1), cb.UnknownNameError, "unknown market"),
    ("unknown market cancel_all", lambda w: w.ex.cancel_all(w.alice, "X"), cb.UnknownNameError, "unknown market"),
    ("unknown market depth", lambda w: w.ex.depth("X"), cb.UnknownNameError, "unknown market"),
    (
        "unknown market liquidation price",
        lambda w: w.ex.liquidation_price(w.alice, "X"),
        cb.UnknownNameError,
        "unknown market",
    ),
    ("unknown stress key", lambda w: w.ex.stress(w.alice, {"XYZ": "1"}), cb.UnknownNameError, '"XYZ"'),
    ("unknown subaccount deposit", lambda w: w.ex.deposit(99, "USDC", "1"), cb.UnknownAccountError, "id 99"),
    ("unknown subaccount withdraw", lambda w: w.ex.withdraw(99, "USDC", "1"), cb.UnknownAccountError, "id 99"),
    (
        "unknown subaccount transfer",
        lambda w: w.ex.transfer(w.alice, 99, "USDC", "1"),
        cb.UnknownAccountError,
        "id 99",
    ),
    (
        "unknown subaccount order",
        lambda w: w.ex.place_order(99, SOL_PERP, "Bid", quantity="1", price="100"),
        cb.UnknownAccountError,
        "id 99",
    ),
    ("unknown subaccount leverage", lambda w: w.ex.set_max_leverage(99, 5), cb.UnknownAccountError, "id 99"),
    ("unknown subaccount cancel_all", lambda w: w.ex.cancel_all(99), cb.UnknownAccountError, "id 99"),
    ("unknown subaccount margin", lambda w: w.ex.margin(99), cb.UnknownAccountError, "id 99"),
    ("unknown subaccount balances", lambda w: w.ex.balances(99), cb.UnknownAccountError, "id 99"),
    ("unknown subaccount positions", lambda w: w.ex.positions(99), cb.UnknownAccountError, "id 99"),
    ("unknown owner", lambda w: w.ex.open_subaccount("carol", "x"), cb.UnknownAccountError, '"carol"'),
    ("owner exists", lambda w: w.ex.open_account("alice"), cb.InvalidArgumentError, "already has an account"),
    ("label in use", lambda w: w.ex.open_subaccount("alice", "hedge"), cb.InvalidArgumentError, "labelled"),
    ("never issued order", lambda w: w.ex.cancel_order(w.alice, "SOL_USDC", 999), cb.UnknownOrderError, "999"),
    # --- wrong owner ---
    (
        "transfer to another owner",
        lambda w: w.ex.transfer(w.alice, w.bob, "USDC", "1"),
        cb.WrongOwnerError,
        "different owners",
    ),
    (
        "transfer from another owner",
        lambda w: w.ex.transfer(w.bob, w.hedge, "USDC", "1"),
        cb.WrongOwnerError,
        "different owners",
    ),
    (
        "cancel another owner's order",
        lambda w: w.ex.cancel_order(w.bob, "SOL_USDC", w.alice_order),
        cb.WrongOwnerError,
        "another subaccount",
    ),
    (
        "cancel own other subaccount's order",
        lambda w: w.ex.cancel_order(w.alice, "SOL_USDC", w.hedge_order),
        cb.WrongOwnerError,
        "another subaccount",
    ),
    # --- amounts ---
    ("negative amount", lambda w: w.ex.deposit(w.alice, "USDC", "-1"), cb.InvalidAmountError, "must be positive"),
    ("zero amount", lambda w: w.ex.deposit(w.alice, "USDC", 0), cb.InvalidAmountError, "must be positive"),
    ("negative zero", lambda w: w.ex.deposit(w.alice, "USDC", Decimal("-0")), cb.InvalidAmountError, "positive"),
    ("NaN string", lambda w: w.ex.deposit(w.alice, "USDC", "NaN"), cb.InvalidAmountError, "not a decimal number"),
    ("NaN float", lambda w: w.ex.deposit(w.alice, "USDC", float("nan")), cb.InvalidAmountError, "not a decimal"),
    ("NaN Decimal", lambda w: w.ex.deposit(w.alice, "USDC", Decimal("NaN")), cb.InvalidAmountError, "not a decimal"),
    ("inf string", lambda w: w.ex.deposit(w.alice, "USDC", "inf"), cb.InvalidAmountError, "not a decimal number"),
    ("inf float", lambda w: w.ex.withdraw(w.alice, "USDC", float("inf")), cb.InvalidAmountError, "not a decimal"),
    ("malformed", lambda w: w.ex.deposit(w.alice, "USDC", "1.5."), cb.InvalidAmountError, "not a decimal number"),
    ("empty", lambda w: w.ex.deposit(w.alice, "USDC", ""), cb.InvalidAmountError, "not a decimal number"),
    ("out of range", lambda w: w.ex.deposit(w.alice, "USDC", 10**30), cb.InvalidAmountError, "out of range"),
    (
        "too many USDC decimals",
        lambda w: w.ex.deposit(w.alice, "USDC", "0.0000001"),
        cb.InvalidAmountError,
        r"amount of USDC: 0\.0000001 is not a whole multiple of 0\.000001",
    ),
    (
        "too many BTC decimals",
        lambda w: w.ex.deposit(w.alice, "BTC", "0.000000001"),
        cb.InvalidAmountError,
        r"amount of BTC: .* not a whole multiple of 0\.00000001",
    ),
    (
        "float with too many decimals",
        lambda w: w.ex.deposit(w.alice, "USDC", 0.1234567),
        cb.InvalidAmountError,
        r"0\.1234567 is not a whole multiple",
    ),
    (
        "tiny float",
        lambda w: w.ex.withdraw(w.alice, "USDC", 1e-7),
        cb.InvalidAmountError,
        "not a whole multiple of 0.000001",
    ),
    (
        "off-tick price",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="1", price="100.001"),
        cb.InvalidAmountError,
        r"price on SOL_USDC_PERP \(tick 0\.01\): 100\.001 is not a whole multiple of 0\.01",
    ),
    (
        "off-tick float price",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="1", price=99.995),
        cb.InvalidAmountError,
        "tick 0.01",
    ),
    (
        "off-step quantity",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="0.001", price="100"),
        cb.InvalidAmountError,
        r"quantity on SOL_USDC_PERP \(step 0\.01\): 0\.001 is not a whole multiple of 0\.01",
    ),
    (
        "zero quantity",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="0", price="100"),
        cb.InvalidAmountError,
        "must be positive",
    ),
    (
        "negative price",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="1", price="-100"),
        cb.InvalidAmountError,
        "must be positive",
    ),
    ("zero index price", lambda w: w.ex.set_index_price("BTC", "0"), cb.InvalidAmountError, "must be positive"),
    ("off-tick mark", lambda w: w.ex.set_mark_price(SOL_PERP, "100.005"), cb.InvalidAmountError, "tick 0.01"),
    (
        "off-tick stress price",
        lambda w: w.ex.stress(w.alice, {SOL_PERP: "1.001"}),
        cb.InvalidAmountError,
        "tick 0.01",
    ),
    # --- types ---
    ("bool amount", lambda w: w.ex.deposit(w.alice, "USDC", True), cb.InvalidTypeError, "amount must be .* got bool"),
    ("None amount", lambda w: untyped(w).deposit(w.alice, "USDC", None), cb.InvalidTypeError, "got NoneType"),
    ("list amount", lambda w: untyped(w).withdraw(w.alice, "USDC", [1]), cb.InvalidTypeError, "got list"),
    (
        "bool quantity",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity=True, price="100"),
        cb.InvalidTypeError,
        "quantity must be",
    ),
    (
        "list price",
        lambda w: untyped(w).place_order(w.alice, SOL_PERP, "Bid", quantity="1", price=[100]),
        cb.InvalidTypeError,
        "price must be",
    ),
    ("bool subaccount", lambda w: w.ex.deposit(True, "USDC", "1"), cb.InvalidTypeError, "subaccount must be an int"),
    ("None subaccount", lambda w: untyped(w).margin(None), cb.InvalidTypeError, "subaccount must be an int"),
    ("str subaccount", lambda w: untyped(w).balances("0"), cb.InvalidTypeError, "subaccount must be an int"),
    ("None asset", lambda w: untyped(w).deposit(w.alice, None, "1"), cb.InvalidTypeError, "asset must be a str"),
    ("int owner", lambda w: untyped(w).open_account(5), cb.InvalidTypeError, "owner must be a str"),
    (
        "list order id",
        lambda w: untyped(w).cancel_order(w.alice, "SOL_USDC", [w.alice_order]),
        cb.InvalidTypeError,
        "order_id",
    ),
    ("None order id", lambda w: untyped(w).cancel_order(w.alice, "SOL_USDC", None), cb.InvalidTypeError, "order_id"),
    ("bool order id", lambda w: w.ex.cancel_order(w.alice, "SOL_USDC", True), cb.InvalidTypeError, "order_id"),
    (
        "float leverage",
        lambda w: untyped(w).set_max_leverage(w.alice, 5.0),
        cb.InvalidTypeError,
        "leverage must be an int",
    ),
    ("bool leverage", lambda w: w.ex.set_max_leverage(w.alice, True), cb.InvalidTypeError, "leverage must be an int"),
    ("float time", lambda w: untyped(w).advance_to(2000.0), cb.InvalidTypeError, "time_ms must be an int"),
    ("bool switch", lambda w: untyped(w).set_auto_lend(w.alice, 1), cb.InvalidTypeError, "auto_lend must be a bool"),
    (
        "int post_only",
        lambda w: untyped(w).place_order(w.alice, SOL_PERP, "Bid", quantity="1", price="100", post_only=1),
        cb.InvalidTypeError,
        "post_only",
    ),
    (
        "str client id",
        lambda w: untyped(w).place_order(w.alice, SOL_PERP, "Bid", quantity="1", price="100", client_id="x"),
        cb.InvalidTypeError,
        "client_id",
    ),
    ("list stress", lambda w: untyped(w).stress(w.alice, [SOL_PERP]), cb.InvalidTypeError, "prices must be a dict"),
    ("bool depth levels", lambda w: w.ex.depth(SOL_PERP, True), cb.InvalidTypeError, "levels"),
    (
        "unknown side",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Buy", quantity="1", price="100"),
        cb.InvalidArgumentError,
        "side must be one of 'Bid', 'Ask'",
    ),
    (
        "unknown time in force",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="1", price="100", time_in_force="DAY"),
        cb.InvalidArgumentError,
        "time_in_force",
    ),
    # --- limits, leverage, balance and margin ---
    ("leverage 0", lambda w: w.ex.set_max_leverage(w.alice, 0), cb.InvalidArgumentError, "between 1 and 50, got 0"),
    ("leverage 51", lambda w: w.ex.set_max_leverage(w.alice, 51), cb.InvalidArgumentError, "between 1 and 50, got 51"),
    ("leverage -1", lambda w: w.ex.set_max_leverage(w.alice, -1), cb.InvalidArgumentError, "between 1 and 50"),
    (
        "withdraw beyond free balance",
        lambda w: w.ex.withdraw(w.bob, "SOL", "10.01"),
        cb.InsufficientBalanceError,
        "insufficient SOL",
    ),
    (
        "withdraw what an order locks",
        lambda w: w.ex.withdraw(w.hedge, "USDC", "5000"),
        cb.InsufficientBalanceError,
        "insufficient USDC",
    ),
    (
        "transfer beyond free balance",
        lambda w: w.ex.transfer(w.hedge, w.alice, "USDC", "5000"),
        cb.InsufficientBalanceError,
        "insufficient USDC",
    ),
    (
        "withdraw beyond margin",
        lambda w: w.ex.withdraw(w.alice, "USDC", "9600"),
        cb.InsufficientMarginError,
        "IMR above 100%",
    ),
    (
        "transfer beyond margin",
        lambda w: w.ex.transfer(w.alice, w.hedge, "USDC", "9600"),
        cb.InsufficientMarginError,
        "IMR above 100%",
    ),
    (
        "leverage beyond margin",
        lambda w: w.ex.set_max_leverage(w.alice, 1),
        cb.InsufficientMarginError,
        "IMR above 100%",
    ),
    ("time going backwards", lambda w: w.ex.advance_to(999), cb.InvalidArgumentError, "must not go backwards"),
    ("negative time", lambda w: w.ex.advance_to(-1), cb.InvalidArgumentError, "must not go backwards"),
    # --- contradictory orders ---
    (
        "quantity and quote_quantity",
        lambda w: w.ex.place_order(w.alice, "SOL_USDC", "Bid", order_type="Market", quantity="1", quote_quantity="100"),
        cb.InvalidOrderError,
        "exactly one of quantity and quote_quantity",
    ),
    (
        "neither quantity",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", price="100"),
        cb.InvalidOrderError,
        "exactly one of quantity and quote_quantity",
    ),
    (
        "quote_quantity on a perp",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", order_type="Market", quote_quantity="100"),
        cb.InvalidOrderError,
        "spot market buys only",
    ),
    (
        "limit without price",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", quantity="1"),
        cb.InvalidOrderError,
        "needs a price",
    ),
    (
        "market with price",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", order_type="Market", quantity="1", price="100"),
        cb.InvalidOrderError,
        "takes no price",
    ),
    (
        "post-only market",
        lambda w: w.ex.place_order(w.alice, SOL_PERP, "Bid", order_type="Market", quantity="1", post_only=True),
        cb.InvalidOrderError,
        "post-only",
    ),
    (
        "reduce-only spot",
        lambda w: w.ex.place_order(w.alice, "SOL_USDC", "Bid", quantity="1", price="100", reduce_only=True),
        cb.InvalidOrderError,
        "perpetuals only",
    ),
    ("USDC index price", lambda w: w.ex.set_index_price("USDC", "2"), cb.InvalidArgumentError, "fixed at 1"),
    ("mark of a spot market", lambda w: w.ex.set_mark_price("SOL_USDC", "100"), cb.InvalidArgumentError, "perpetuals"),
    (
        "liquidation price of a spot market",
        lambda w: w.ex.liquidation_price(w.alice, "SOL_USDC"),
        cb.InvalidArgumentError,
        "spot markets have no positions",
    ),
]


def _check_refused(world: World, call: Callable[[World], Any], error: type[Exception], message: str) -> None:
    before = world.ex.state_hash()
    margins = [world.ex.margin(sub) for sub in (world.alice, world.hedge, world.bob)]
    with pytest.raises(error, match=message) as raised:
        call(world)
    assert isinstance(raised.value, cb.CrossbookError)
    assert str(raised.value), "an error needs a message"
    assert world.ex.state_hash() == before
    assert world.ex.events() == []
    assert [world.ex.margin(sub) for sub in (world.alice, world.hedge, world.bob)] == margins
    assert world.ex.time_ms == 1_000


@pytest.mark.parametrize(("call", "error", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_refused_and_changes_nothing(
    world: World, call: Callable[[World], Any], error: type[cb.CrossbookError], message: str
) -> None:
    _check_refused(world, call, error, message)


def test_eleventh_extra_subaccount_is_refused() -> None:
    ex = cb.Exchange()
    ex.open_account("carol")
    ids = [ex.open_subaccount("carol", f"sub{index}") for index in range(10)]
    assert len(set(ids)) == 10
    before = ex.state_hash()
    with pytest.raises(cb.SubaccountLimitError, match=r'owner "carol" already has the maximum of 10 subaccounts'):
        ex.open_subaccount("carol", "eleventh")
    assert ex.state_hash() == before
    # Another owner is not affected by carol's limit.
    ex.open_account("dave")
    ex.open_subaccount("dave", "first")


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0.5, "0.5"), (1.25, "1.25"), (100.0, "100"), (0.000001, "0.000001"), (1e2, "100"), (3, "3")],
)
def test_exact_floats_and_ints_are_accepted(amount: float, expected: str) -> None:
    ex = cb.Exchange()
    sub = ex.open_account("alice")
    ex.deposit(sub, "USDC", amount)
    assert ex.balances(sub)["USDC"].lent == Decimal(expected), "deposits are auto-lent by default"
    deposit, lend = ex.events()
    assert (deposit["kind"], deposit["amount"]) == ("Deposit", expected)
    assert (lend["kind"], lend["amount"]) == ("Lend", expected)


def test_exact_float_price_and_quantity_are_accepted() -> None:
    ex = cb.Exchange()
    sub = ex.open_account("alice")
    ex.deposit(sub, "USDC", 1000)
    result = ex.place_order(sub, "SOL_USDC", "Bid", quantity=0.5, price=100.25)
    assert result.status == "New"
    (order,) = ex.open_orders(sub)
    assert (order.price, order.remaining) == (Decimal("100.25"), Decimal("0.5"))


def test_trading_rejects_are_results_not_exceptions() -> None:
    """The counterpart of the cases above: a trading outcome changes state (an event), it does not raise."""
    ex = cb.Exchange()
    sub = ex.open_account("alice")
    result = ex.place_order(sub, SOL_PERP, "Bid", quantity="1", price="100")
    assert (result.status, result.reject_reason) == ("Rejected", "NoPrice")
    (event,) = ex.events()
    assert (event["kind"], event["reason"]) == ("OrderRejected", "NoPrice")


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.ex.deposit(-1, "USDC", "1"),
        lambda w: w.ex.margin(-1),
        lambda w: w.ex.balances(2**32),
        lambda w: w.ex.place_order(-1, SOL_PERP, "Bid", quantity="1", price="100"),
    ],
    ids=["deposit -1", "margin -1", "balances 2**32", "order -1"],
)
def test_out_of_range_subaccount_ids_are_unknown_accounts(world: World, call: Callable[[World], Any]) -> None:
    _check_refused(world, call, cb.UnknownAccountError, "subaccount")


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.ex.set_max_leverage(w.alice, 2**70),
        lambda w: w.ex.cancel_order(w.alice, "SOL_USDC", 2**64),
    ],
    ids=["leverage 2**70", "order id 2**64"],
)
def test_huge_integers_are_crossbook_errors(world: World, call: Callable[[World], Any]) -> None:
    before = world.ex.state_hash()
    with pytest.raises(cb.CrossbookError):
        call(world)
    assert world.ex.state_hash() == before


def test_stress_refuses_a_settlement_asset_price(world: World) -> None:
    _check_refused(world, lambda w: w.ex.stress(w.alice, {"USDC": "2"}), cb.InvalidArgumentError, "USDC")


def test_messages_name_the_expected_values() -> None:
    ex = cb.Exchange()
    with pytest.raises(cb.UnknownNameError) as raised:
        ex.set_index_price("XRP", "1")
    assert re.search(r"known assets: USDC, BTC, ETH, SOL", str(raised.value))
    # Every error class derives from the matching builtin too, so generic handlers still work.
    with pytest.raises(LookupError):
        ex.set_index_price("XRP", "1")
    sub = ex.open_account("a")
    with pytest.raises(ValueError, match="USDC"):
        ex.deposit(sub, "USDC", "0.0000001")
    with pytest.raises(TypeError, match="amount"):
        untyped(ex).deposit(sub, "USDC", None)
    with pytest.raises(PermissionError, match="different owners"):
        ex.transfer(sub, ex.open_account("b"), "USDC", "1")
