"""Amends and trigger orders through the Exchange (SPEC §6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import crossbook as cb

SOL_PERP = "SOL_USDC_PERP"


@pytest.fixture
def ex() -> cb.Exchange:
    exchange = cb.Exchange()
    for owner, usdc in (("alice", "10000"), ("bob", "1000000")):
        exchange.deposit(exchange.open_account(owner), "USDC", usdc)
    exchange.set_mark_price(SOL_PERP, "100")
    return exchange


ALICE, BOB = 0, 1


def test_an_amend_down_keeps_priority_and_an_amend_up_is_margin_checked(ex: cb.Exchange) -> None:
    first = ex.place_order(BOB, SOL_PERP, "Bid", quantity="10", price="99")
    ex.place_order(ALICE, SOL_PERP, "Bid", quantity="10", price="99")
    assert ex.amend_order(BOB, SOL_PERP, first.order_id, quantity="4") is None
    fill = ex.place_order(ALICE, SOL_PERP, "Ask", quantity="1", price="99", self_trade_prevention="Allow")
    assert fill.fills[0].quantity == Decimal("1")
    assert [order.remaining for order in ex.open_orders(BOB)] == [Decimal("3")], "bob kept the front of the queue"
    # Alice has 10,000 USDC at 10x: a 99-USDC bid of 1,010 SOL (101,000 of notional at mark 100) does not fit.
    alices = ex.open_orders(ALICE)[0]
    assert ex.amend_order(ALICE, SOL_PERP, alices.order_id, quantity="1010") == "InsufficientMargin"
    assert ex.open_orders(ALICE)[0].remaining == alices.remaining
    assert ex.events()[-1]["kind"] == "AmendRejected"
    # 990 fits: IM 9,890 against ~9,949 of equity after the worst-case taker fee.
    assert ex.amend_order(ALICE, SOL_PERP, alices.order_id, quantity="990") is None


def test_amending_someone_elses_order_raises_and_nothing_changes(ex: cb.Exchange) -> None:
    order = ex.place_order(BOB, SOL_PERP, "Ask", quantity="1", price="101")
    before = ex.state_hash()
    with pytest.raises(cb.WrongOwnerError):
        ex.amend_order(ALICE, SOL_PERP, order.order_id, price="102")
    with pytest.raises(cb.InvalidAmountError, match="tick"):
        ex.amend_order(BOB, SOL_PERP, order.order_id, price="102.001")
    with pytest.raises(cb.InvalidOrderError, match="needs a new price"):
        ex.amend_order(BOB, SOL_PERP, order.order_id)
    assert ex.state_hash() == before


def test_a_stop_loss_waits_for_the_mark_then_closes_the_position(ex: cb.Exchange) -> None:
    ex.place_order(BOB, SOL_PERP, "Ask", quantity="10", price="100")
    ex.place_order(ALICE, SOL_PERP, "Bid", quantity="10", price="100")
    stop = ex.place_order(
        ALICE, SOL_PERP, "Ask", order_type="Market", quantity="10", reduce_only=True, trigger_price="95"
    )
    assert (stop.status, stop.order_id, stop.trigger_id) == ("TriggerPending", None, 1)
    assert [(t.trigger_id, t.trigger_price, t.trigger_by) for t in ex.pending_triggers(ALICE)] == [
        (1, Decimal("95"), "MarkPrice")
    ]
    ex.place_order(BOB, SOL_PERP, "Bid", quantity="10", price="94")
    ex.set_mark_price(SOL_PERP, "96")
    assert ex.positions(ALICE)[SOL_PERP].net_qty == Decimal("10")
    ex.set_mark_price(SOL_PERP, "95")
    assert ex.pending_triggers(ALICE) == []
    assert SOL_PERP not in ex.positions(ALICE)
    kinds = [event["kind"] for event in ex.events()]
    assert kinds.index("Triggered") < len(kinds) - kinds[::-1].index("Fill")
    assert all(audit.balanced for audit in ex.audit().values())


def test_a_trigger_can_be_cancelled_and_cancel_all_takes_triggers_too(ex: cb.Exchange) -> None:
    first = ex.place_order(ALICE, SOL_PERP, "Bid", quantity="1", price="101", trigger_price="101")
    second = ex.place_order(ALICE, SOL_PERP, "Bid", quantity="1", price="102", trigger_price="102")
    assert first.trigger_id is not None and second.trigger_id is not None
    assert ex.cancel_trigger(ALICE, first.trigger_id) is True
    assert ex.cancel_trigger(ALICE, first.trigger_id) is False
    assert ex.cancel_all(ALICE) == 1
    assert ex.pending_triggers(ALICE) == []
    with pytest.raises(cb.InvalidArgumentError, match="trigger_by"):
        ex.place_order(ALICE, SOL_PERP, "Bid", quantity="1", price="101", trigger_price="101", trigger_by="Index")
