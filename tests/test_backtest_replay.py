"""Replayed data: L3 files reproduce their trades, L2 queues, loaders and their errors, recorded prices."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from crossbook.backtest import Backtest, Context, Latency, Strategy, StrategyFill
from crossbook.backtest.data import (
    ADD,
    CANCEL,
    BookData,
    load_binance_aggtrades,
    load_l2,
    load_l3,
    load_prices,
    load_tardis_l2,
    load_tardis_trades,
    load_trades,
)
from crossbook.backtest.replay import Replay
from crossbook.backtest.toml import load_backtest
from crossbook.exceptions import ConfigError, CrossbookError
from crossbook.exchange import Exchange
from crossbook.reference_book import ReferenceBook

DATA = Path(__file__).parent / "data"
SOL = "SOL_USDC_PERP"


def test_replaying_a_small_recorded_l3_file_reproduces_its_trades_when_no_strategy_acts() -> None:
    recorded = load_trades(DATA / "l3_small_trades.csv", SOL)
    replay = Replay([load_l3(DATA / "l3_small.csv", SOL)])
    backtest = Backtest(None, replay, [])
    trades = backtest.run().tables["trades"]
    assert trades["time_ms"].to_list() == recorded.time_ms.tolist()
    assert trades["price"].to_list() == [float(p) / 100 for p in recorded.price]
    assert trades["quantity"].to_list() == [float(q) / 100 for q in recorded.quantity]
    assert trades["aggressor"].to_list() == ["Bid" if s == 0 else "Ask" for s in recorded.side]
    assert all(line.balanced for line in backtest.exchange.audit().values())
    (replayer,) = replay.replayers()
    assert (replayer.applied, replayer.skipped) == (13, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_l3_replay_matches_the_reference_book(seed: int) -> None:
    """Random L3 streams (crossing adds, cancels): the trades are the pure-Python reference book's."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, int, int, int, int]] = []
    reference = ReferenceBook()
    expected: list[tuple[int, int, int, int]] = []
    live: list[int] = []
    key_of: dict[int, int] = {}
    for step in range(400):
        if live and rng.random() < 0.3:
            key = live.pop(rng.randrange(len(live)))
            rows.append((step, CANCEL, 0, 0, 0, key))
            order_id = key_of[key]
            if reference.order(order_id) is not None:
                reference.cancel(order_id)
            continue
        side = rng.randrange(2)
        price = 15_000 + rng.randrange(-20, 21) + (8 if side == 0 else -8)
        quantity = rng.randrange(1, 40)
        key = 1_000 + step
        rows.append((step, ADD, side, price, quantity, key))
        result = reference.place("Bid" if side == 0 else "Ask", price, quantity, 1, self_trade_prevention="Allow")
        expected += [(step, fill.price, fill.quantity, side) for fill in result.fills]
        key_of[key] = result.order_id
        if result.remaining:
            live.append(key)
    columns = list(zip(*rows, strict=True))
    book = BookData(
        SOL,
        np.array(columns[0], np.int64),
        np.array(columns[1], np.uint8),
        np.array(columns[2], np.uint8),
        np.array(columns[3], np.int64),
        np.array(columns[4], np.int64),
        np.array(columns[5], np.uint64),
    )
    trades = Backtest(None, Replay([book]), []).run().tables["trades"]
    got = [
        (t, round(p * 100), round(q * 100), 0 if a == "Bid" else 1)
        for t, p, q, a in zip(trades["time_ms"], trades["price"], trades["quantity"], trades["aggressor"], strict=True)
    ]
    assert expected and got == expected


class JoinBid(Strategy):
    """Joins the bid at 100.00 with one lot at start."""

    def __init__(self) -> None:
        self.fills: list[StrategyFill] = []

    def on_start(self, ctx: Context) -> None:
        ctx.place_order(SOL, "Bid", quantity="0.01", price="100", post_only=True)

    def on_fill(self, ctx: Context, fill: StrategyFill) -> None:
        self.fills.append(fill)


def _l2_queue_rows(tmp_path: Path, churn: bool) -> BookData:
    """5 lots bid at 100.00 (and an ask); with ``churn`` the level grows to 7 at 20 ms (behind an order
    joining at 10 ms) and shrinks back to 5 at 50 ms; then one lot trades there every 100 ms."""
    lines = ["timestamp,side,price,quantity", "0,bid,100.00,0.05", "0,ask,100.10,1"]
    size = 5
    if churn:
        lines += ["20,bid,100.00,0.07", "50,bid,100.00,0.05"]
    trades = ["timestamp,side,price,quantity"]
    for number in range(1, 7):
        trades.append(f"{number * 100},sell,100.00,0.01")
        size = max(0, size - 1)
        lines.append(f"{number * 100},bid,100.00,{size / 100:.2f}")
    (tmp_path / "l2.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "trades.csv").write_text("\n".join(trades) + "\n")
    return BookData.merge(load_l2(tmp_path / "l2.csv", SOL), load_trades(tmp_path / "trades.csv", SOL))


def test_l2_a_resting_order_behind_five_lots_fills_only_after_five_lots_trade_there(tmp_path: Path) -> None:
    strategy = JoinBid()
    Backtest(None, Replay([_l2_queue_rows(tmp_path, False)]), [strategy], latency=Latency(insert=10)).run()
    assert [(fill.time_ms, fill.quantity, fill.price) for fill in strategy.fills] == [(600, Decimal("0.01"), 100)]


@pytest.mark.parametrize(("queue", "fill_at"), [("back", 600), ("front", 400)])
def test_l2_queue_model_decides_whether_a_decrease_comes_from_behind_or_ahead(
    tmp_path: Path, queue: str, fill_at: int
) -> None:
    strategy = JoinBid()
    data = Replay([_l2_queue_rows(tmp_path, True)])
    Backtest(None, data, [strategy], latency=Latency(insert=10), queue=queue).run()  # type: ignore[arg-type]
    assert [fill.time_ms for fill in strategy.fills] == [fill_at]


def test_tardis_incremental_l2_and_trades(tmp_path: Path) -> None:
    header = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
    (tmp_path / "book.csv").write_text(
        "\n".join(
            [
                header,
                "binance-futures,SOLUSDT,1000000,1000100,true,bid,99.9,3",
                "binance-futures,SOLUSDT,1000000,1000100,true,ask,100.1,4",
                "binance-futures,SOLUSDT,2000000,2000100,false,bid,100.0,2",
                "binance-futures,SOLUSDT,3000000,3000100,true,bid,99.8,1",
                "binance-futures,SOLUSDT,3000000,3000100,true,ask,100.2,1",
            ]
        )
        + "\n"
    )
    book = load_tardis_l2(tmp_path / "book.csv", SOL)
    # the second snapshot removes the levels it does not list (99.9, 100.0 bid; 100.1 ask) first
    assert book.time_ms.tolist() == [1000, 1000, 2000, 3000, 3000, 3000, 3000, 3000]
    assert book.quantity.tolist() == [300, 400, 200, 0, 0, 0, 100, 100]
    (tmp_path / "trades.csv").write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "binance-futures,SOLUSDT,2500000,2500100,7,sell,100.0,1.5\n"
    )
    trades = load_tardis_trades(tmp_path / "trades.csv", SOL)
    assert (trades.time_ms.tolist(), trades.side.tolist(), trades.quantity.tolist()) == ([2500], [1], [150])
    backtest = Backtest(None, Replay([BookData.merge(book, trades)]), [])
    results = backtest.run()
    assert results.tables["trades"]["quantity"].to_list() == [1.5]
    assert backtest.exchange.depth(SOL) == ([(Decimal("99.8"), Decimal(1))], [(Decimal("100.2"), Decimal(1))])


@pytest.mark.parametrize("header", [True, False])
def test_binance_aggtrades_with_or_without_header(tmp_path: Path, header: bool) -> None:
    rows = ["26129,100.12,0.5,27781,27781,1700000000123,true", "26130,100.13,1.25,27782,27783,1700000000456,false"]
    names = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    (tmp_path / "agg.csv").write_text("\n".join(([names] if header else []) + rows) + "\n")
    trades = load_binance_aggtrades(tmp_path / "agg.csv", SOL)
    assert trades.time_ms.tolist() == [1700000000123, 1700000000456]
    assert trades.side.tolist() == [1, 0]  # the buyer was the maker: a sell took it
    assert trades.price.tolist() == [10012, 10013] and trades.quantity.tolist() == [50, 125]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("timestamp,side,price,quantity\n1,bid,100,1\n2,bid,abc,1\n", "column 'price', row 2"),
        ("timestamp,side,price,quantity\n1,bid,100.001,1\n", "column 'price', row 1"),
        ("timestamp,side,price,quantity\n1,bid,100,1\n2,up,100,1\n", "column 'side', row 2"),
        ("timestamp,side,price,quantity\n5,bid,100,1\n4,bid,100,1\n", "column 'timestamp', row 2"),
        ("timestamp,side,price,quantity\n1,bid,100,0.001\n", "column 'quantity', row 1"),
        ("timestamp,side,price,quantity\n1,bid,-100,1\n", "column 'price', row 1"),
        ("timestamp,side,price\n1,bid,100\n", "missing column 'quantity'"),
    ],
)
def test_loaders_say_which_row_is_bad(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=where):
        load_trades(path, SOL)


def test_parquet_loads_like_csv(tmp_path: Path) -> None:
    pl.read_csv(DATA / "l3_small.csv").write_parquet(tmp_path / "l3.parquet")
    csv, parquet = load_l3(DATA / "l3_small.csv", SOL), load_l3(tmp_path / "l3.parquet", SOL)
    for name in ("time_ms", "action", "side", "price", "quantity", "order_key"):
        assert (getattr(csv, name) == getattr(parquet, name)).all()


def test_recorded_marks_index_and_funding_rates_drive_the_engine(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "timestamp,index_price,mark_price,funding_rate\n0,100,100.05,0.0001\n1800000,101,101.2,\n3599000,,100.5,-0.0002\n"
    )
    prices = load_prices(tmp_path / "prices.csv", SOL)
    assert np.isnan(prices.index_price[2]) and prices.funding_rate.tolist()[:1] == [0.0001]
    (tmp_path / "l2.csv").write_text(
        "timestamp,side,price,quantity\n0,ask,100.00,10\n0,bid,99.90,10\n3600000,bid,99.90,9\n"
    )

    class BuyOne(Strategy):
        def on_start(self, ctx: Context) -> None:
            ctx.place_order(SOL, "Bid", quantity="2", price="100.00", time_in_force="IOC")

    backtest = Backtest(
        None, Replay([load_l2(tmp_path / "l2.csv", SOL)], [prices]), [BuyOne()], latency=Latency(insert=1)
    )
    results = backtest.run()
    funding = results.tables["funding"]
    # the long pays the recorded rate at the hour: 2 SOL x mark 100.5 x 0.0002 received (rate -0.0002)
    assert funding["amount"].to_list() == [pytest.approx(-2 * 100.5 * 0.0002)]
    marks = results.tables["prices"]["mark"].to_list()
    assert marks[0] == pytest.approx(100.05)


def test_replay_refuses_bad_setups() -> None:
    book = load_l3(DATA / "l3_small.csv", SOL)
    with pytest.raises(CrossbookError):
        Replay([])
    with pytest.raises(CrossbookError):
        Replay([book, book])
    with pytest.raises(CrossbookError):
        load_l3(DATA / "l3_small.csv", "SOL_USDC")


@pytest.mark.parametrize(
    ("market", "rate"),
    [("SOL_USDC", "0.001"), ("SOL_USDC_PERP", "1.5"), ("SOL_USDC_PERP", "abc"), ("SOL_USDC_PERP", True)],
)
def test_set_funding_rate_refuses_misuse_and_changes_nothing(market: str, rate: object) -> None:
    exchange = Exchange()
    before = exchange.funding_rate("SOL_USDC_PERP")
    with pytest.raises(CrossbookError):
        exchange.set_funding_rate(market, rate)  # type: ignore[arg-type]
    assert exchange.funding_rate("SOL_USDC_PERP") == before
    exchange.set_funding_rate("SOL_USDC_PERP", "0.0003")
    assert exchange.funding_rate("SOL_USDC_PERP") == Decimal("0.0003")
    exchange.set_funding_rate("SOL_USDC_PERP", None)
    assert exchange.funding_rate("SOL_USDC_PERP") == before


def test_a_backtest_file_replays_data(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        f"""
[backtest]
seed = 1
[[data.market]]
market = "{SOL}"
l3 = "{DATA / "l3_small.csv"}"
"""
    )
    results = load_backtest(tmp_path / "run.toml").backtest().run()
    assert results.tables["trades"].height == load_trades(DATA / "l3_small_trades.csv", SOL).time_ms.size
    (tmp_path / "bad.toml").write_text(f'[[data.market]]\nmarket = "{SOL}"\nbook = "x.csv"\n')
    with pytest.raises(ConfigError, match=r"data.market\[0\]"):
        load_backtest(tmp_path / "bad.toml").backtest()


def test_l3_a_strategy_queues_exactly_between_recorded_orders(tmp_path: Path) -> None:
    """Order 1 (5 lots) rests, the strategy joins behind it, order 2 (3 lots) behind the strategy; a
    cancel of order 2 does not move the strategy, a trade of 5 takes order 1, the next lot is the
    strategy's."""
    (tmp_path / "l3.csv").write_text(
        "timestamp,action,order_id,side,price,quantity\n"
        "0,add,1,bid,100.00,0.05\n"
        "0,add,9,ask,100.50,1\n"
        "20,add,2,bid,100.00,0.03\n"
        "50,cancel,2,bid,0,0\n"
        "100,trade,0,sell,100.00,0.05\n"
        "200,trade,0,sell,100.00,0.01\n"
    )
    strategy = JoinBid()
    backtest = Backtest(None, Replay([load_l3(tmp_path / "l3.csv", SOL)]), [strategy], latency=Latency(insert=10))
    trades = backtest.run().tables["trades"]
    assert [(fill.time_ms, fill.quantity) for fill in strategy.fills] == [(200, Decimal("0.01"))]
    assert trades["quantity"].to_list() == [0.05, 0.01]


def test_backtest_refuses_bad_arguments() -> None:
    book = load_l3(DATA / "l3_small.csv", SOL)
    for arguments in (
        {"queue": "middle"},
        {"book_interval_ms": 0},
        {"sample_interval_ms": -5},
        {"timer_interval_ms": 0},
        {"seed": 1.5},
    ):
        with pytest.raises(CrossbookError):
            Backtest(None, Replay([book]), [], **arguments)  # type: ignore[arg-type]
    with pytest.raises(CrossbookError):
        Backtest(None, Replay([book]), [object()])  # type: ignore[list-item]
    backtest = Backtest(None, Replay([book]), [])
    backtest.run()
    with pytest.raises(CrossbookError):
        backtest.run()
