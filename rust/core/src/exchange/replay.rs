//! Replay of recorded market flow into an engine's perpetual book, in bulk (backtests).
//!
//! A [`Replayer`] owns the replayed flow of one perpetual market: its orders are real engine orders of
//! one subaccount (the replay account, funded by the caller with ample collateral), so anyone else —
//! a strategy, a liquidation — trades against them through the real book with the engine's settlement
//! and margin, and every asset stays reconciled. [`Engine::replay`] applies a batch of rows (columns,
//! see [`ReplayColumns`]) up to a time and returns how many it consumed.
//!
//! Semantics of a row (`action`):
//! - `ADD` (L3): an order `order_key` of `quantity` lots at `price`. If it crosses, it first takes
//!   what it crosses, from the front of each level (see taking below); the rest rests, last in line.
//! - `CANCEL` (L3): the order `order_key` leaves the book with what is left of it.
//! - `MODIFY` (L3): the order's remaining becomes `quantity` (less keeps its place, more goes last).
//! - `TRADE`: a trade of `quantity` lots at `price` whose aggressor was on `side`: it takes from the
//!   front of the resting side at prices up to `price`, never rests. With L3 data in FIFO order the
//!   front replay order is the recorded maker, so the replay is exact.
//! - `LEVEL` (L2): the level (`side`, `price`) now holds `quantity` lots. The replay account's orders
//!   there are made to sum to it: an increase is a new order at the back of the level (first clearing
//!   replay orders on the other side that it crosses: they are stale; anyone else's it crosses it
//!   takes); a decrease comes off the replay orders from the back of the queue ([`QueueModel::Back`]:
//!   a strategy's place improves only through trades at its level) or from the front
//!   ([`QueueModel::Front`]).
//!
//! Taking: a replay order that meets a replay order reduces it without a fill (two outside parties
//! traded; it is reported in [`ReplayTrades`] and sets the last price); one that meets anyone else's
//! order is placed through the engine as an IOC limit (self-trade prevention `Allow`), so the other
//! side gets a real fill, with its fees and events. The replay account's own orders emit no events:
//! only their trades with other accounts do, as `Fill` events.
//!
//! Errors: a malformed row (lengths, an unknown action or side, a non-positive price or quantity,
//! times going back) is refused with its row number before anything of the batch is applied.
//! Rows that cannot apply (a cancel of a key never added, a price outside the book's band) are
//! skipped and counted in [`Replayer::skipped`].
//!
//! Costs: the replayer keeps its own view of its orders per level (ids and remaining lots, in queue
//! order, with each level's total), checked in O(1) against the engine's open-order totals at every
//! batch and rebuilt (O(replay orders)) only when someone else traded with them. A row is then a
//! book operation (O(1) at a known level, O(log L) for a new one), one lookup in the engine's order
//! records and a few in the replayer's; an L3 cancel or modify scans its level's orders; taking
//! from a level that holds another account's order walks the book's queue there.

use std::collections::VecDeque;

use crate::book::{EventKind as BookEventKind, OrderStatus};

use super::fxhash::FxMap;
use super::*;

/// Row actions of a replay batch.
pub mod action {
    pub const ADD: u8 = 0;
    pub const CANCEL: u8 = 1;
    pub const MODIFY: u8 = 2;
    pub const TRADE: u8 = 3;
    pub const LEVEL: u8 = 4;
}

/// Where an L2 level's decrease comes off the replay account's queue there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueModel {
    /// From the back: orders behind a strategy's go first, so its place improves only through trades.
    Back,
    /// From the front: cancellations ahead of a strategy's order move it up.
    Front,
}

/// A batch of replay rows as columns of equal length. `side` is 0 bid, 1 ask; `price` in ticks and
/// `quantity` in lots of the market; `order_key` names an L3 order (ignored by `TRADE` and `LEVEL`).
#[derive(Clone, Copy, Debug)]
pub struct ReplayColumns<'a> {
    pub time_ms: &'a [i64],
    pub action: &'a [u8],
    pub side: &'a [u8],
    pub price: &'a [i64],
    pub quantity: &'a [i64],
    pub order_key: &'a [u64],
}

/// Trades between replayed orders (the engine settles none of them), as columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayTrades {
    pub time_ms: Vec<i64>,
    pub price: Vec<Price>,
    pub quantity: Vec<Qty>,
    /// The taker's side: 0 bid, 1 ask.
    pub aggressor: Vec<u8>,
}

impl ReplayTrades {
    fn push(&mut self, time_ms: i64, price: Price, quantity: Qty, aggressor: Side) {
        self.time_ms.push(time_ms);
        self.price.push(price);
        self.quantity.push(quantity);
        self.aggressor.push(aggressor as u8);
    }
}

/// A malformed replay batch: nothing of it was applied.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("replay row {row}: {problem}")]
    Row { row: usize, problem: &'static str },
    #[error("replay columns must have equal lengths: {0}")]
    Lengths(String),
    #[error("replay needs a perpetual market and an existing account: {0}")]
    Setup(&'static str),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
}

/// The replay account's orders at one level, in queue order, with their remaining lots.
#[derive(Clone, Debug, Default)]
struct Level {
    orders: VecDeque<(OrderId, Qty)>,
    total: Qty,
}

/// The replayed flow of one perpetual market (see the module docs).
#[derive(Clone, Debug)]
pub struct Replayer {
    account: AccountId,
    market: usize,
    perp: usize,
    queue: QueueModel,
    /// L3 order keys to the engine's ids and their levels.
    by_key: FxMap<u64, (OrderId, Side, Price)>,
    levels: FxMap<(Side, Price), Level>,
    /// Lots this view holds open on each side (bids, asks): equal to the engine's open orders of the
    /// replay account unless someone else traded with them.
    open: [Qty; 2],
    scratch: Vec<crate::book::Event>,
    skipped: u64,
    applied: u64,
}

impl Replayer {
    /// Replays into `market` (a perpetual) as `account`.
    ///
    /// # Errors
    /// [`ReplayError::Setup`] for a spot or unknown market or an unknown account.
    pub fn new(engine: &Engine, account: AccountId, market: usize, queue: QueueModel) -> Result<Self, ReplayError> {
        let Some(perp) = engine.perp_of_market.get(market).copied().flatten() else {
            return Err(ReplayError::Setup("the market is not a perpetual of this engine"));
        };
        if engine.check_account(account).is_err() {
            return Err(ReplayError::Setup("no such account"));
        }
        let mut replayer = Replayer {
            account,
            market,
            perp,
            queue,
            by_key: FxMap::default(),
            levels: FxMap::default(),
            open: [0, 0],
            scratch: Vec::new(),
            skipped: 0,
            applied: 0,
        };
        replayer.open = replayer.engine_open(engine);
        Ok(replayer)
    }

    /// Rows that could not apply (unknown keys, prices outside the band, trades with nothing to take).
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Rows applied so far.
    #[must_use]
    pub fn applied(&self) -> u64 {
        self.applied
    }

    #[must_use]
    pub fn account(&self) -> AccountId {
        self.account
    }

    fn engine_open(&self, engine: &Engine) -> [Qty; 2] {
        let slot = engine.accounts.perp_slot(self.account, self.perp);
        [engine.accounts.open_bids[slot], engine.accounts.open_asks[slot]]
    }

    /// Brings the view back to the engine's records after others traded with the replay orders.
    fn resync(&mut self, engine: &Engine) {
        let orders = &engine.orders[self.market];
        self.levels.retain(|_, level| {
            level.orders.retain_mut(|(order_id, remaining)| match orders.get(order_id) {
                Some(meta) => {
                    *remaining = meta.remaining;
                    true
                }
                None => false,
            });
            level.total = level.orders.iter().map(|&(_, remaining)| remaining).sum();
            !level.orders.is_empty()
        });
        self.by_key.retain(|_, (order_id, _, _)| orders.contains_key(order_id));
        self.open = self.engine_open(engine);
    }

    fn record(&mut self, side: Side, delta: Qty) {
        self.open[side as usize] += delta;
    }
}

fn side_of(code: u8) -> Side {
    if code == 0 {
        Side::Bid
    } else {
        Side::Ask
    }
}

fn crosses(side: Side, limit: Price, level: Price) -> bool {
    match side {
        Side::Bid => level <= limit,
        Side::Ask => level >= limit,
    }
}

/// How many leading rows have `time_ms <= until_ms`, after checking them.
fn checked_rows(columns: &ReplayColumns<'_>, until_ms: i64) -> Result<usize, ReplayError> {
    let rows = columns.time_ms.len();
    let lengths = [
        columns.action.len(),
        columns.side.len(),
        columns.price.len(),
        columns.quantity.len(),
        columns.order_key.len(),
    ];
    if lengths.iter().any(|&length| length != rows) {
        return Err(ReplayError::Lengths(format!("time_ms has {rows} rows, the others {lengths:?}")));
    }
    let end = columns.time_ms.partition_point(|&time| time <= until_ms);
    let mut previous = i64::MIN;
    for row in 0..end {
        let problem = |problem| Err(ReplayError::Row { row, problem });
        let (time, kind, price, quantity) =
            (columns.time_ms[row], columns.action[row], columns.price[row], columns.quantity[row]);
        if time < previous {
            return problem("time_ms goes back");
        }
        previous = time;
        if kind > action::LEVEL {
            return problem("unknown action (0 add, 1 cancel, 2 modify, 3 trade, 4 level)");
        }
        if columns.side[row] > 1 && kind != action::CANCEL && kind != action::MODIFY {
            return problem("side must be 0 (bid) or 1 (ask)");
        }
        if (kind == action::ADD || kind == action::TRADE || kind == action::LEVEL) && price <= 0 {
            return problem("price must be positive");
        }
        if (kind == action::ADD || kind == action::TRADE) && quantity <= 0 {
            return problem("quantity must be positive");
        }
        if (kind == action::MODIFY || kind == action::LEVEL) && quantity < 0 {
            return problem("quantity must not be negative");
        }
    }
    if end < rows && columns.time_ms[end] < previous {
        return Err(ReplayError::Row { row: end, problem: "time_ms goes back" });
    }
    Ok(end)
}

impl Engine {
    /// Applies the rows of `columns` with `time_ms <= until_ms` (a prefix: rows must be in time
    /// order) and returns how many; their trades between replayed orders go to `trades`.
    ///
    /// # Errors
    /// [`ReplayError`] for a malformed row, before anything is applied; an engine error from a
    /// placement for the replay account (not expected: it means the engine refused its own flow).
    pub fn replay(
        &mut self,
        replayer: &mut Replayer,
        columns: &ReplayColumns<'_>,
        until_ms: i64,
        trades: &mut ReplayTrades,
    ) -> Result<usize, ReplayError> {
        let rows = checked_rows(columns, until_ms)?;
        if rows == 0 {
            return Ok(0);
        }
        if replayer.open != replayer.engine_open(self) {
            replayer.resync(self);
        }
        let mark = self.mark(replayer.market);
        self.set_bands(replayer.market, mark)?;
        let traded_before = trades.time_ms.len();
        for row in 0..rows {
            let time = columns.time_ms[row];
            let (side, price, quantity, key) =
                (side_of(columns.side[row]), columns.price[row], columns.quantity[row], columns.order_key[row]);
            let applied = match columns.action[row] {
                action::ADD => self.replay_add(replayer, key, side, price, quantity, time, trades)?,
                action::CANCEL => self.replay_cancel(replayer, key),
                action::MODIFY => self.replay_modify(replayer, key, quantity)?,
                action::TRADE => self.replay_take(replayer, side, price, quantity, time, trades)? < quantity,
                _ => self.replay_level(replayer, side, price, quantity, time, trades)?,
            };
            if applied {
                replayer.applied += 1;
            } else {
                replayer.skipped += 1;
            }
        }
        if trades.time_ms.len() > traded_before {
            self.last_price[replayer.market] = trades.price.last().copied();
            self.fire_triggers()?;
        }
        Ok(rows)
    }

    #[allow(clippy::too_many_arguments)]
    fn replay_add(
        &mut self,
        replayer: &mut Replayer,
        key: u64,
        side: Side,
        price: Price,
        quantity: Qty,
        time: i64,
        trades: &mut ReplayTrades,
    ) -> Result<bool, ExchangeError> {
        let left = self.replay_take(replayer, side, price, quantity, time, trades)?;
        if left == 0 {
            return Ok(true);
        }
        Ok(match self.rest_replay_order(replayer, side, price, left)? {
            Some(order_id) => {
                replayer.by_key.insert(key, (order_id, side, price));
                true
            }
            None => left < quantity,
        })
    }

    fn replay_cancel(&mut self, replayer: &mut Replayer, key: u64) -> bool {
        let Some((order_id, side, price)) = replayer.by_key.remove(&key) else { return false };
        let Some(index) = position(replayer, side, price, order_id) else { return false };
        self.reduce_replay_order(replayer, side, price, index, Qty::MAX);
        true
    }

    fn replay_modify(&mut self, replayer: &mut Replayer, key: u64, quantity: Qty) -> Result<bool, ExchangeError> {
        let Some(&(order_id, side, price)) = replayer.by_key.get(&key) else { return Ok(false) };
        let Some(index) = position(replayer, side, price, order_id) else {
            replayer.by_key.remove(&key);
            return Ok(false);
        };
        let remaining = replayer.levels[&(side, price)].orders[index].1;
        if quantity < remaining {
            if quantity == 0 {
                replayer.by_key.remove(&key);
            }
            self.reduce_replay_order(replayer, side, price, index, remaining - quantity);
        } else if quantity > remaining {
            replayer.scratch.clear();
            self.books[replayer.market].amend(order_id, None, Some(quantity), &mut replayer.scratch)?;
            if replayer.scratch.iter().any(|event| event.kind == BookEventKind::Rejected) {
                return Ok(false);
            }
            // More than before goes to the back of the level.
            let level = replayer.levels.get_mut(&(side, price)).expect("the order's level is known");
            level.orders.remove(index);
            level.orders.push_back((order_id, quantity));
            level.total += quantity - remaining;
            self.grow_replay_order(replayer, order_id, side, quantity - remaining);
        }
        Ok(true)
    }

    /// Takes up to `quantity` lots for a replayed aggressor on `side` at prices up to `limit`;
    /// returns what is left.
    fn replay_take(
        &mut self,
        replayer: &mut Replayer,
        side: Side,
        limit: Price,
        mut quantity: Qty,
        time: i64,
        trades: &mut ReplayTrades,
    ) -> Result<Qty, ExchangeError> {
        let market = replayer.market;
        let opposite = side.opposite();
        while quantity > 0 {
            let Some((best, total)) = self.books[market].best(opposite) else { break };
            if !crosses(side, limit, best) {
                break;
            }
            let ours = replayer.levels.get(&(opposite, best)).map_or(0, |level| level.total);
            // All of the level is the replay account's: its first order is the front of the queue.
            let front = if ours == total {
                Some(0)
            } else {
                let front = self.books[market].queue(opposite, best).first().copied();
                front.and_then(|order_id| position(replayer, opposite, best, order_id))
            };
            if let Some(index) = front {
                let take = quantity.min(replayer.levels[&(opposite, best)].orders[index].1);
                self.reduce_replay_order(replayer, opposite, best, index, take);
                trades.push(time, best, take, side);
                quantity -= take;
                continue;
            }
            let front = self.books[market].queue(opposite, best)[0];
            let take = quantity.min(self.orders[market][&front].remaining);
            let command = OrderCommand {
                time_in_force: TimeInForce::Ioc,
                self_trade_prevention: SelfTradePrevention::Allow,
                ..OrderCommand::limit(side, best, take)
            };
            let outcome = self.place_order_unchecked(replayer.account, market, &command)?;
            // The fill may fire trigger orders that trade with replay orders.
            if replayer.open != replayer.engine_open(self) {
                replayer.resync(self);
            }
            if outcome.book.filled == 0 {
                break;
            }
            quantity -= outcome.book.filled;
        }
        Ok(quantity)
    }

    fn replay_level(
        &mut self,
        replayer: &mut Replayer,
        side: Side,
        price: Price,
        size: Qty,
        time: i64,
        trades: &mut ReplayTrades,
    ) -> Result<bool, ExchangeError> {
        let held = replayer.levels.get(&(side, price)).map_or(0, |level| level.total);
        if size > held {
            self.clear_crossed_replay_orders(replayer, side, price);
            let left = self.replay_take(replayer, side, price, size - held, time, trades)?;
            if left > 0 && self.rest_replay_order(replayer, side, price, left)?.is_none() {
                return Ok(false);
            }
        } else if size < held {
            let mut excess = held - size;
            while excess > 0 {
                let level = &replayer.levels[&(side, price)];
                let index = match replayer.queue {
                    QueueModel::Back => level.orders.len() - 1,
                    QueueModel::Front => 0,
                };
                let cut = excess.min(level.orders[index].1);
                self.reduce_replay_order(replayer, side, price, index, cut);
                excess -= cut;
            }
        }
        Ok(true)
    }

    /// Drops the replay account's orders on the other side that a level at `price` on `side`
    /// crosses: the recorded book says they are gone.
    fn clear_crossed_replay_orders(&mut self, replayer: &mut Replayer, side: Side, price: Price) {
        let market = replayer.market;
        let opposite = side.opposite();
        // Best level first, while it is all the replay account's (the common case, no allocation).
        while let Some((best, total)) = self.books[market].best(opposite) {
            if !crosses(side, price, best) {
                return;
            }
            if replayer.levels.get(&(opposite, best)).map_or(0, |level| level.total) != total {
                break;
            }
            while replayer.levels.contains_key(&(opposite, best)) {
                self.reduce_replay_order(replayer, opposite, best, 0, Qty::MAX);
            }
        }
        // Someone else rests at a crossed level: clear the replay orders at every crossed level.
        let crossed: Vec<Price> = self.books[market]
            .depth(opposite, usize::MAX)
            .into_iter()
            .map(|(level, _)| level)
            .take_while(|&level| crosses(side, price, level))
            .collect();
        for level in crossed {
            while replayer.levels.contains_key(&(opposite, level)) {
                self.reduce_replay_order(replayer, opposite, level, 0, Qty::MAX);
            }
        }
    }

    /// Rests a replay order that crosses nothing, at the back of its level; `None` if the book
    /// refused it (its filters).
    fn rest_replay_order(
        &mut self,
        replayer: &mut Replayer,
        side: Side,
        price: Price,
        quantity: Qty,
    ) -> Result<Option<OrderId>, ExchangeError> {
        let market = replayer.market;
        let request = OrderRequest {
            side,
            order_type: OrderType::Limit,
            price,
            quantity,
            quote_quantity: false,
            owner: u64::from(self.accounts.owner[replayer.account as usize]),
            time_in_force: TimeInForce::Gtc,
            post_only: true,
            self_trade_prevention: SelfTradePrevention::Allow,
        };
        replayer.scratch.clear();
        let outcome = self.books[market].place(&request, &mut replayer.scratch)?;
        if outcome.status != OrderStatus::New {
            return Ok(None);
        }
        self.orders[market].insert(
            outcome.order_id,
            OrderMeta {
                account: replayer.account,
                side,
                price,
                remaining: quantity,
                locked: 0,
                filled_notional: 0,
                reduce_only: false,
                auto_borrow: false,
            },
        );
        let level = replayer.levels.entry((side, price)).or_default();
        level.orders.push_back((outcome.order_id, quantity));
        level.total += quantity;
        self.add_open(replayer, side, quantity);
        Ok(Some(outcome.order_id))
    }

    /// Takes `quantity` lots (all, if more) off the replay order at `index` of its level, quietly.
    /// If the book refuses the smaller quantity (its filters moved), the whole order goes.
    fn reduce_replay_order(&mut self, replayer: &mut Replayer, side: Side, price: Price, index: usize, quantity: Qty) {
        let market = replayer.market;
        let level = replayer.levels.get_mut(&(side, price)).expect("the order's level is known");
        let (order_id, remaining) = level.orders[index];
        replayer.scratch.clear();
        let mut cut = quantity.min(remaining);
        if cut < remaining {
            let amended = self.books[market].amend(order_id, None, Some(remaining - cut), &mut replayer.scratch);
            if amended.is_err() || replayer.scratch.iter().any(|event| event.kind == BookEventKind::Rejected) {
                cut = remaining;
            }
        }
        if cut == remaining {
            replayer.scratch.clear();
            // The book knows the order (the view is in sync with the engine's records).
            let _ = self.books[market].cancel(order_id, &mut replayer.scratch);
            self.orders[market].remove(&order_id);
            level.orders.remove(index);
        } else {
            level.orders[index].1 -= cut;
            if let Some(meta) = self.orders[market].get_mut(&order_id) {
                meta.remaining -= cut;
            }
        }
        level.total -= cut;
        if level.orders.is_empty() {
            replayer.levels.remove(&(side, price));
        }
        self.add_open(replayer, side, -cut);
    }

    /// A replay order's record and its account's open orders grow by `delta` lots.
    fn grow_replay_order(&mut self, replayer: &mut Replayer, order_id: OrderId, side: Side, delta: Qty) {
        if delta == 0 {
            return;
        }
        if let Some(meta) = self.orders[replayer.market].get_mut(&order_id) {
            meta.remaining += delta;
        }
        self.add_open(replayer, side, delta);
    }

    fn add_open(&mut self, replayer: &mut Replayer, side: Side, delta: Qty) {
        let slot = self.accounts.perp_slot(replayer.account, replayer.perp);
        match side {
            Side::Bid => self.accounts.open_bids[slot] += delta,
            Side::Ask => self.accounts.open_asks[slot] += delta,
        }
        replayer.record(side, delta);
    }
}

/// Where a replay order is in its level's view.
fn position(replayer: &Replayer, side: Side, price: Price, order_id: OrderId) -> Option<usize> {
    replayer.levels.get(&(side, price))?.orders.iter().position(|&(id, _)| id == order_id)
}

#[cfg(test)]
mod tests {
    use super::super::test_specs::{asset, market, venue};
    use super::*;
    use crate::risk::Haircut;

    const PERP: usize = 0;

    /// USDC and SOL; SOL_USDC_PERP (tick 0.01, step 0.01), fee-free.
    fn engine() -> Engine {
        let spec = EngineSpec {
            settlement_asset: 0,
            assets: vec![
                asset("USDC", 6, Haircut::Identity),
                asset("SOL", 8, Haircut::InverseSqrt { base: 0.9, penalty: 0.0001 }),
            ],
            markets: vec![market("SOL_USDC_PERP", MarketKind::Perp, 1)],
            venue: venue(false),
        };
        let mut engine = Engine::new(spec).unwrap();
        engine.set_mark_price(PERP, 10_000).unwrap();
        engine
    }

    fn funded(engine: &mut Engine, owner: &str) -> AccountId {
        let account = engine.open_account(owner).unwrap();
        engine.deposit(account, 0, 1_000_000_000_000).unwrap();
        account
    }

    struct Rows(Vec<(i64, u8, u8, i64, i64, u64)>);

    impl Rows {
        fn apply(&self, engine: &mut Engine, replayer: &mut Replayer) -> Result<(usize, ReplayTrades), ReplayError> {
            let column = |pick: fn(&(i64, u8, u8, i64, i64, u64)) -> i64| self.0.iter().map(pick).collect::<Vec<_>>();
            let (time, price, quantity) = (column(|row| row.0), column(|row| row.3), column(|row| row.4));
            let action: Vec<u8> = self.0.iter().map(|row| row.1).collect();
            let side: Vec<u8> = self.0.iter().map(|row| row.2).collect();
            let key: Vec<u64> = self.0.iter().map(|row| row.5).collect();
            let columns = ReplayColumns {
                time_ms: &time,
                action: &action,
                side: &side,
                price: &price,
                quantity: &quantity,
                order_key: &key,
            };
            let mut trades = ReplayTrades::default();
            let rows = engine.replay(replayer, &columns, i64::MAX, &mut trades)?;
            Ok((rows, trades))
        }
    }

    const BID: u8 = 0;
    const ASK: u8 = 1;

    #[test]
    fn l3_orders_that_cross_reproduce_the_recorded_trades() {
        let mut engine = engine();
        let replay = funded(&mut engine, "replay");
        let mut replayer = Replayer::new(&engine, replay, PERP, QueueModel::Back).unwrap();
        let rows = Rows(vec![
            (1, action::ADD, ASK, 10_010, 30, 1),
            (2, action::ADD, ASK, 10_020, 50, 2),
            (3, action::ADD, ASK, 10_010, 20, 3),
            (4, action::ADD, BID, 9_990, 40, 4),
            (5, action::ADD, BID, 10_020, 60, 5),
            (6, action::CANCEL, 0, 0, 0, 2),
            (7, action::ADD, ASK, 9_980, 50, 6),
            (8, action::MODIFY, 0, 0, 10, 4),
        ]);
        let (applied, trades) = rows.apply(&mut engine, &mut replayer).unwrap();
        assert_eq!(applied, 8);
        // order 5 takes 30 from order 1 and 20 from order 3 at 100.10, then 10 of order 2 at 100.20;
        // order 6 takes order 4 (40 lots at 99.90) and rests 10.
        assert_eq!(trades.time_ms, vec![5, 5, 5, 7]);
        assert_eq!(trades.price, vec![10_010, 10_010, 10_020, 9_990]);
        assert_eq!(trades.quantity, vec![30, 20, 10, 40]);
        assert_eq!(trades.aggressor, vec![BID, BID, BID, ASK]);
        assert_eq!(engine.book(PERP).depth(Side::Ask, 5), vec![(9_980, 10)]);
        assert_eq!(engine.book(PERP).depth(Side::Bid, 5), vec![]);
        assert!(engine.events().iter().all(|event| !matches!(event.kind, EventKind::Fill { .. })));
        assert!(engine.audit().iter().all(AssetAudit::balanced));
    }

    #[test]
    fn a_strategy_behind_five_lots_fills_only_after_five_lots_trade_there() {
        let mut engine = engine();
        let replay = funded(&mut engine, "replay");
        let strategy = funded(&mut engine, "strategy");
        let mut replayer = Replayer::new(&engine, replay, PERP, QueueModel::Back).unwrap();
        Rows(vec![(1, action::LEVEL, BID, 9_990, 5, 0), (1, action::LEVEL, ASK, 10_010, 8, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        let order = OrderCommand { post_only: true, ..OrderCommand::limit(Side::Bid, 9_990, 3) };
        engine.place_order(strategy, PERP, &order).unwrap();
        let filled = |engine: &Engine| engine.accounts.net_qty[engine.accounts.perp_slot(strategy, 0)];
        // the level grows and shrinks behind the strategy: its place does not change
        Rows(vec![(2, action::LEVEL, BID, 9_990, 9, 0), (3, action::LEVEL, BID, 9_990, 4, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        assert_eq!(engine.book(PERP).depth(Side::Bid, 1), vec![(9_990, 7)]);
        // 4 lots trade there (the size left ahead after the back shrank), then the level says 0
        let (_, trades) = Rows(vec![(4, action::TRADE, ASK, 9_990, 4, 0), (4, action::LEVEL, BID, 9_990, 0, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        assert_eq!(trades.quantity, vec![4]);
        assert_eq!(filled(&engine), 0);
        // the next lot to trade at 99.90 is the strategy's
        Rows(vec![(5, action::TRADE, ASK, 9_990, 2, 0)]).apply(&mut engine, &mut replayer).unwrap();
        assert_eq!(filled(&engine), 2);
        assert_eq!(engine.accounts.net_qty[engine.accounts.perp_slot(replay, 0)], -2);
        assert!(engine.audit().iter().all(AssetAudit::balanced));
    }

    #[test]
    fn a_level_that_crosses_clears_stale_replay_orders_and_takes_others() {
        let mut engine = engine();
        let replay = funded(&mut engine, "replay");
        let strategy = funded(&mut engine, "strategy");
        let mut replayer = Replayer::new(&engine, replay, PERP, QueueModel::Front).unwrap();
        Rows(vec![(1, action::LEVEL, ASK, 10_010, 5, 0), (1, action::LEVEL, ASK, 10_020, 5, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        let order = OrderCommand {
            side: Side::Ask,
            order_type: OrderType::Limit,
            price: Some(10_020),
            quantity: Some(2),
            quote_quantity: None,
            time_in_force: TimeInForce::Gtc,
            post_only: true,
            reduce_only: false,
            self_trade_prevention: SelfTradePrevention::RejectTaker,
            auto_borrow: false,
        };
        engine.place_order(strategy, PERP, &order).unwrap();
        let (_, trades) = Rows(vec![(2, action::LEVEL, BID, 10_020, 6, 0)]).apply(&mut engine, &mut replayer).unwrap();
        assert!(trades.time_ms.is_empty(), "clearing stale replay orders is not a trade");
        assert_eq!(engine.accounts.net_qty[engine.accounts.perp_slot(strategy, 0)], -2);
        assert_eq!(engine.book(PERP).depth(Side::Ask, 5), vec![]);
        assert_eq!(engine.book(PERP).depth(Side::Bid, 5), vec![(10_020, 4)]);
    }

    #[test]
    fn the_view_follows_others_taking_replay_orders() {
        let mut engine = engine();
        let replay = funded(&mut engine, "replay");
        let strategy = funded(&mut engine, "strategy");
        let mut replayer = Replayer::new(&engine, replay, PERP, QueueModel::Back).unwrap();
        Rows(vec![(1, action::LEVEL, ASK, 10_010, 5, 0), (1, action::LEVEL, ASK, 10_010, 8, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        let order = OrderCommand {
            side: Side::Bid,
            order_type: OrderType::Limit,
            price: Some(10_010),
            quantity: Some(6),
            quote_quantity: None,
            time_in_force: TimeInForce::Ioc,
            post_only: false,
            reduce_only: false,
            self_trade_prevention: SelfTradePrevention::RejectTaker,
            auto_borrow: false,
        };
        assert_eq!(engine.place_order(strategy, PERP, &order).unwrap().book.filled, 6);
        // the recorded level still says 8: the replay account tops its 2 lots up to 8
        Rows(vec![(2, action::LEVEL, ASK, 10_010, 8, 0), (3, action::LEVEL, ASK, 10_010, 7, 0)])
            .apply(&mut engine, &mut replayer)
            .unwrap();
        assert_eq!(engine.book(PERP).depth(Side::Ask, 1), vec![(10_010, 7)]);
        let slot = engine.accounts.perp_slot(replay, 0);
        assert_eq!(engine.accounts.open_asks[slot], 7);
        assert_eq!(engine.accounts.net_qty[slot], -6);
        assert!(engine.audit().iter().all(AssetAudit::balanced));
    }

    #[test]
    fn a_malformed_row_is_refused_with_its_number_and_nothing_applies() {
        let mut engine = engine();
        let replay = funded(&mut engine, "replay");
        let mut replayer = Replayer::new(&engine, replay, PERP, QueueModel::Back).unwrap();
        let before = engine.state_hash();
        for (rows, row) in [
            (vec![(1, action::ADD, BID, 9_990, 5, 1), (2, action::ADD, BID, 0, 5, 2)], 1),
            (vec![(1, action::ADD, BID, 9_990, 5, 1), (0, action::ADD, BID, 9_980, 5, 2)], 1),
            (vec![(1, 9, BID, 9_990, 5, 1)], 0),
            (vec![(1, action::TRADE, 2, 9_990, 5, 1)], 0),
            (vec![(1, action::LEVEL, ASK, 9_990, -1, 0)], 0),
        ] {
            let error = Rows(rows).apply(&mut engine, &mut replayer).unwrap_err();
            assert!(matches!(error, ReplayError::Row { row: r, .. } if r == row), "{error}");
            assert_eq!(engine.state_hash(), before);
        }
        assert!(Replayer::new(&engine, 99, PERP, QueueModel::Back).is_err());
        assert!(Replayer::new(&engine, replay, 7, QueueModel::Back).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A row of replayed flow, or (action 9) a strategy order.
        fn row() -> impl Strategy<Value = (u8, u8, i64, i64, u64)> {
            (
                prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), Just(4), Just(9)],
                0u8..2,
                -12i64..13,
                0i64..30,
                1u64..40,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            /// Whatever the flow and the strategy do: the books stay valid, every asset reconciles, and
            /// the replay account's open orders are exactly its resting orders.
            #[test]
            fn replay_keeps_the_engine_consistent(rows in proptest::collection::vec(row(), 1..120), front in any::<bool>()) {
                let mut engine = engine();
                let replay = funded(&mut engine, "replay");
                let strategy = funded(&mut engine, "strategy");
                let queue = if front { QueueModel::Front } else { QueueModel::Back };
                let mut replayer = Replayer::new(&engine, replay, PERP, queue).unwrap();
                for (time, &(kind, side, offset, quantity, key)) in (0i64..).zip(&rows) {
                    let price = 10_000 + offset;
                    if kind == 9 {
                        let order = OrderCommand {
                            side: side_of(side),
                            order_type: OrderType::Limit,
                            price: Some(price),
                            quantity: Some(quantity.max(1)),
                            quote_quantity: None,
                            time_in_force: if key % 2 == 0 { TimeInForce::Gtc } else { TimeInForce::Ioc },
                            post_only: false,
                            reduce_only: false,
                            self_trade_prevention: SelfTradePrevention::RejectTaker,
                            auto_borrow: false,
                        };
                        engine.place_order(strategy, PERP, &order).unwrap();
                        continue;
                    }
                    let quantity = if kind == action::ADD || kind == action::TRADE { quantity.max(1) } else { quantity };
                    Rows(vec![(time, kind, side, price, quantity, key)]).apply(&mut engine, &mut replayer).unwrap();
                    prop_assert!(engine.book(PERP).check_invariants().is_ok());
                    prop_assert!(engine.audit().iter().all(AssetAudit::balanced));
                    let owner = u64::from(engine.accounts.owner[replay as usize]);
                    let resting = |wanted: Side| -> Qty {
                        engine.book(PERP).orders().iter().filter(|o| o.owner == owner && o.side == wanted).map(|o| o.quantity).sum()
                    };
                    let slot = engine.accounts.perp_slot(replay, 0);
                    prop_assert_eq!(engine.accounts.open_bids[slot], resting(Side::Bid));
                    prop_assert_eq!(engine.accounts.open_asks[slot], resting(Side::Ask));
                    let best_bid = engine.book(PERP).best(Side::Bid).map(|(price, _)| price);
                    let best_ask = engine.book(PERP).best(Side::Ask).map(|(price, _)| price);
                    if let (Some(bid), Some(ask)) = (best_bid, best_ask) {
                        prop_assert!(bid < ask, "the book stays uncrossed");
                    }
                }
            }
        }
    }
}
