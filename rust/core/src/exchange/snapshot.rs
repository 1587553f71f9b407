//! Snapshots: the engine's whole state as compact bytes, and the engine back from them.
//!
//! Contract: `Engine::restore(spec, &engine.snapshot())` gives an engine with the same
//! [`Engine::state_hash`] that behaves identically from then on, given the spec it was built with.
//! The spec itself is not stored (the journal header carries the configuration); the snapshot holds
//! what commands change: prices and marks, owners, the account columns, every book (its parameters,
//! id counter and every level's FIFO queue), the live orders' records, triggers, pools, funding
//! samples, the venue ledgers, liquidation state, the clock and the event sequence. Undrained events
//! are output, not state, and are not kept; neither are scratch buffers.
//!
//! The encoder destructures [`Engine`] without `..`, so adding a field to the engine does not
//! compile until it is either encoded here or named as derived/scratch.
//!
//! Format: `journal::wire` varints, fields in a fixed order, maps in key order (so equal states give
//! equal bytes). Books are stored logically, not as their in-memory levels, and rebuilt through the
//! book's public API: ids are re-issued in order (gaps consumed by refused placements on a closed
//! book), resting orders re-placed post-only, and any level whose queue order differs from the
//! snapshot's is re-queued with amends. Restoring costs O(ids the books ever issued + state);
//! snapshotting O(state).
//!
//! Restoring checks every count and index against the spec and against each other, and never
//! panics on arbitrary bytes; a snapshot that decodes but disagrees with itself is an error.

use super::{
    AccountId, BackstopProvider, Engine, OrderCommand, OrderMeta, PendingTrigger, Pool, PremiumSamples, TriggerBy,
};
use crate::book::{BookParams, EventSink, OrderBook, OrderStatus};
use crate::journal::wire::{Reader, WireError, Writer};
use crate::types::{BookState, OrderId, OrderRequest, OrderType, Price, SelfTradePrevention, Side, TimeInForce};

/// Why snapshot bytes could not be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("malformed snapshot body: {0}")]
    Malformed(#[from] WireError),
    #[error("snapshot does not match the engine: {0}")]
    Inconsistent(String),
}

fn inconsistent(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Inconsistent(what.into())
}

/// Swallows the events a restore's re-placements produce.
struct Discard;

impl EventSink for Discard {
    fn push(&mut self, _event: crate::book::Event) {}
}

fn side_code(side: Side) -> u8 {
    match side {
        Side::Bid => 0,
        Side::Ask => 1,
    }
}

fn side_of(input: &mut Reader<'_>) -> Result<Side, WireError> {
    let code = input.byte()?;
    Side::from_code(code).ok_or_else(|| input.error("unknown side"))
}

fn book_state_code(state: BookState) -> u8 {
    match state {
        BookState::Open => 0,
        BookState::PostOnly => 1,
        BookState::CancelOnly => 2,
        BookState::Closed => 3,
    }
}

fn book_state_of(input: &mut Reader<'_>) -> Result<BookState, WireError> {
    match input.byte()? {
        0 => Ok(BookState::Open),
        1 => Ok(BookState::PostOnly),
        2 => Ok(BookState::CancelOnly),
        3 => Ok(BookState::Closed),
        _ => Err(input.error("unknown book state")),
    }
}

fn write_option(out: &mut Writer, value: Option<i128>) {
    out.flag(value.is_some());
    if let Some(value) = value {
        out.signed(value);
    }
}

fn read_option<T: TryFrom<i128>>(input: &mut Reader<'_>) -> Result<Option<T>, WireError> {
    Ok(if input.flag()? { Some(input.narrow_signed()?) } else { None })
}

fn write_ints<T: Copy + Into<i128>>(out: &mut Writer, values: &[T]) {
    out.len(values.len());
    for &value in values {
        out.signed(value.into());
    }
}

fn read_ints<T: TryFrom<i128>>(input: &mut Reader<'_>) -> Result<Vec<T>, WireError> {
    let len = input.len(1)?;
    (0..len).map(|_| input.narrow_signed()).collect()
}

fn write_order_command(out: &mut Writer, order: &OrderCommand) {
    let OrderCommand {
        side,
        order_type,
        price,
        quantity,
        quote_quantity,
        time_in_force,
        post_only,
        reduce_only,
        self_trade_prevention,
        auto_borrow,
    } = *order;
    out.bytes.push(side_code(side));
    out.bytes.push(match order_type {
        OrderType::Limit => 0,
        OrderType::Market => 1,
    });
    write_option(out, price.map(i128::from));
    write_option(out, quantity.map(i128::from));
    write_option(out, quote_quantity.map(i128::from));
    out.bytes.push(match time_in_force {
        TimeInForce::Gtc => 0,
        TimeInForce::Ioc => 1,
        TimeInForce::Fok => 2,
    });
    out.flag(post_only);
    out.flag(reduce_only);
    out.bytes.push(match self_trade_prevention {
        SelfTradePrevention::RejectTaker => 0,
        SelfTradePrevention::RejectMaker => 1,
        SelfTradePrevention::RejectBoth => 2,
        SelfTradePrevention::Allow => 3,
    });
    out.flag(auto_borrow);
}

fn read_order_command(input: &mut Reader<'_>) -> Result<OrderCommand, WireError> {
    let side = side_of(input)?;
    let order_type = match input.byte()? {
        0 => OrderType::Limit,
        1 => OrderType::Market,
        _ => return Err(input.error("unknown order type")),
    };
    let price = read_option(input)?;
    let quantity = read_option(input)?;
    let quote_quantity = read_option(input)?;
    let time_in_force = match input.byte()? {
        0 => TimeInForce::Gtc,
        1 => TimeInForce::Ioc,
        2 => TimeInForce::Fok,
        _ => return Err(input.error("unknown time in force")),
    };
    let post_only = input.flag()?;
    let reduce_only = input.flag()?;
    let self_trade_prevention = match input.byte()? {
        0 => SelfTradePrevention::RejectTaker,
        1 => SelfTradePrevention::RejectMaker,
        2 => SelfTradePrevention::RejectBoth,
        3 => SelfTradePrevention::Allow,
        _ => return Err(input.error("unknown self-trade prevention")),
    };
    let auto_borrow = input.flag()?;
    Ok(OrderCommand {
        side,
        order_type,
        price,
        quantity,
        quote_quantity,
        time_in_force,
        post_only,
        reduce_only,
        self_trade_prevention,
        auto_borrow,
    })
}

/// A book as stored: parameters, id counter, and per side the levels best first, each a FIFO
/// queue of (id, owner, quantity).
fn write_book(out: &mut Writer, book: &OrderBook) {
    let BookParams { min_quantity, max_quantity, price_band, impact_band, state } = *book.params();
    for value in [min_quantity, max_quantity, price_band.0, price_band.1, impact_band.0, impact_band.1] {
        out.signed(i128::from(value));
    }
    out.bytes.push(book_state_code(state));
    out.unsigned(u128::from(book.next_order_id()));
    for side in [Side::Bid, Side::Ask] {
        let levels = book.depth(side, usize::MAX);
        out.len(levels.len());
        for (price, _total) in levels {
            out.signed(i128::from(price));
            let queue = book.queue(side, price);
            out.len(queue.len());
            for order_id in queue {
                let order = book.order(order_id).expect("a queued id is a live order");
                out.unsigned(u128::from(order_id));
                out.unsigned(u128::from(order.owner));
                out.signed(i128::from(order.quantity));
            }
        }
    }
}

struct StoredOrder {
    order_id: OrderId,
    owner: u64,
    side: Side,
    price: Price,
    quantity: i64,
}

fn read_book(input: &mut Reader<'_>) -> Result<OrderBook, SnapshotError> {
    let mut limits = [0i64; 6];
    for limit in &mut limits {
        *limit = input.narrow_signed()?;
    }
    let state = book_state_of(input)?;
    let next_order_id: OrderId = input.narrow()?;
    let mut queues: Vec<(Side, Price, Vec<OrderId>)> = Vec::new();
    let mut orders: Vec<StoredOrder> = Vec::new();
    for side in [Side::Bid, Side::Ask] {
        let levels = input.len(2)?;
        for _ in 0..levels {
            let price: Price = input.narrow_signed()?;
            let count = input.len(3)?;
            let mut queue = Vec::with_capacity(count);
            for _ in 0..count {
                let order_id: OrderId = input.narrow()?;
                let owner: u64 = input.narrow()?;
                let quantity: i64 = input.narrow_signed()?;
                queue.push(order_id);
                orders.push(StoredOrder { order_id, owner, side, price, quantity });
            }
            queues.push((side, price, queue));
        }
    }
    orders.sort_unstable_by_key(|order| order.order_id);
    if orders.windows(2).any(|pair| pair[0].order_id == pair[1].order_id)
        || orders.last().is_some_and(|order| order.order_id >= next_order_id)
        || orders.first().is_some_and(|order| order.order_id == 0)
    {
        return Err(inconsistent("a book's order ids repeat or lie outside the ids it issued"));
    }

    // Re-issue every id in order on a permissive book, then put the real parameters back.
    let bad_book = |error: crate::BookError| inconsistent(format!("a book cannot be rebuilt: {error}"));
    let mut book = OrderBook::new(BookParams::default()).map_err(bad_book)?;
    let mut pending = orders.iter().peekable();
    let mut next = 1;
    while next < next_order_id {
        let placed = match pending.next_if(|order| order.order_id == next) {
            Some(order) => {
                book.set_state(BookState::Open);
                let request = OrderRequest::limit(order.side, order.price, order.quantity, order.owner).post_only();
                let outcome = book.place(&request, &mut Discard).map_err(bad_book)?;
                outcome.status == OrderStatus::New
            }
            None => {
                // An id whose order is gone: a refused placement consumes it.
                book.set_state(BookState::Closed);
                let request = OrderRequest::limit(Side::Bid, 1, 1, 0);
                book.place(&request, &mut Discard).map_err(bad_book)?.status == OrderStatus::Rejected
            }
        };
        if !placed || book.next_order_id() != next + 1 {
            return Err(inconsistent(format!("order {next} cannot be put back on its book")));
        }
        next += 1;
    }
    book.set_state(BookState::Open);
    for (side, price, queue) in &queues {
        if book.queue(*side, *price) != *queue {
            // Amending to a larger quantity moves an order to the back; shrinking keeps its place.
            for &order_id in queue {
                let quantity = book.order(order_id).map_or(0, |order| order.quantity);
                let larger = quantity.checked_add(1).ok_or_else(|| inconsistent("a queue cannot be reordered"))?;
                book.amend(order_id, None, Some(larger), &mut Discard).map_err(bad_book)?;
                book.amend(order_id, None, Some(quantity), &mut Discard).map_err(bad_book)?;
            }
            if book.queue(*side, *price) != *queue {
                return Err(inconsistent("a price level's queue cannot be restored"));
            }
        }
    }
    let [min_quantity, max_quantity, price_low, price_high, impact_low, impact_high] = limits;
    book.set_quantity_limits(min_quantity, max_quantity).map_err(bad_book)?;
    book.set_price_band(price_low, price_high).map_err(bad_book)?;
    book.set_impact_band(impact_low, impact_high).map_err(bad_book)?;
    book.set_state(state);
    Ok(book)
}

impl Engine {
    /// The engine's state as compact bytes (see the module docs).
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        let Engine {
            spec,
            // Derived from the spec.
            perp_of_market: _,
            risk,
            index_set,
            mark_set,
            basis_ema,
            owners,
            // Derived from `owners`.
            owner_by_name: _,
            accounts,
            books,
            orders,
            reduce_only,
            venue,
            deposits,
            withdrawals,
            time_ms,
            sequence,
            // Output, drained by the caller; not state.
            events: _,
            liquidatable,
            liquidating,
            backstops,
            // Scratch buffers and a flag that is only set inside a command.
            book_events: _,
            what_if: _,
            risk_holdings: _,
            risk_borrowed: _,
            last_scan: _,
            firing_triggers: _,
            pools,
            premiums,
            fixed_funding_e18,
            last_price,
            triggers,
            next_trigger_id,
        } = self;
        let mut out = Writer::default();
        out.len(spec.assets.len());
        out.len(spec.markets.len());
        out.signed(i128::from(*time_ms));
        out.unsigned(u128::from(*sequence));
        for asset in &risk.assets {
            out.signed(i128::from(asset.price));
        }
        for market in &risk.markets {
            out.signed(i128::from(market.mark));
        }
        for &set in index_set.iter().chain(mark_set) {
            out.flag(set);
        }
        for &ema in basis_ema {
            write_option(&mut out, ema);
        }
        out.len(owners.len());
        for owner in owners {
            out.text(&owner.name);
            write_ints(&mut out, &owner.accounts);
        }
        out.len(accounts.len());
        for account in 0..accounts.len() {
            out.unsigned(u128::from(accounts.owner[account]));
            out.text(&accounts.label[account]);
            out.unsigned(u128::from(accounts.max_leverage[account]));
            out.bytes.push(accounts.settings[account]);
        }
        for column in [
            &accounts.holding,
            &accounts.locked,
            &accounts.lend_shares,
            &accounts.borrow_shares,
            &accounts.net_qty,
            &accounts.net_cost,
            &accounts.entry_cost,
            &accounts.open_bids,
            &accounts.open_asks,
            &accounts.funding,
        ] {
            write_ints(&mut out, column);
        }
        for book in books {
            write_book(&mut out, book);
        }
        for market_orders in orders {
            let mut ids: Vec<&OrderId> = market_orders.keys().collect();
            ids.sort_unstable();
            out.len(ids.len());
            for id in ids {
                let OrderMeta { account, side, price, remaining, locked, filled_notional, reduce_only, auto_borrow } =
                    market_orders[id];
                out.unsigned(u128::from(*id));
                out.unsigned(u128::from(account));
                out.bytes.push(side_code(side));
                for value in [price, remaining, locked, filled_notional] {
                    out.signed(i128::from(value));
                }
                out.flag(reduce_only);
                out.flag(auto_borrow);
            }
        }
        let mut keys: Vec<&(AccountId, usize)> = reduce_only.keys().collect();
        keys.sort_unstable();
        out.len(keys.len());
        for key in keys {
            out.unsigned(u128::from(key.0));
            out.len(key.1);
            write_ints(&mut out, &reduce_only[key].iter().map(|&id| i128::from(id)).collect::<Vec<_>>());
        }
        write_ints(&mut out, &venue.fees);
        write_ints(&mut out, &venue.liquidation_fund);
        out.signed(i128::from(venue.pnl_clearing));
        write_ints(&mut out, &venue.conversions);
        write_ints(&mut out, deposits);
        write_ints(&mut out, withdrawals);
        write_ints(&mut out, liquidatable);
        write_ints(&mut out, liquidating);
        out.len(backstops.len());
        for BackstopProvider { account, markets, capacity } in backstops {
            out.unsigned(u128::from(*account));
            write_ints(&mut out, &markets.iter().map(|&market| market as i128).collect::<Vec<_>>());
            out.signed(i128::from(*capacity));
        }
        for Pool { lend_index, borrow_index, lend_shares, borrow_shares, cash, rate_e18 } in pools {
            for value in [lend_index, borrow_index, lend_shares, borrow_shares] {
                out.unsigned(*value);
            }
            out.signed(*cash);
            out.unsigned(*rate_e18);
        }
        for PremiumSamples { sum, count } in premiums {
            out.unsigned(u128::from(sum.to_bits()));
            out.unsigned(u128::from(*count));
        }
        for rate in fixed_funding_e18 {
            write_option(&mut out, *rate);
        }
        for price in last_price {
            write_option(&mut out, price.map(i128::from));
        }
        out.len(triggers.len());
        for PendingTrigger { trigger_id, account, market, order, trigger_price, by, rising } in triggers {
            out.unsigned(u128::from(*trigger_id));
            out.unsigned(u128::from(*account));
            out.len(*market);
            write_order_command(&mut out, order);
            out.signed(i128::from(*trigger_price));
            out.bytes.push(match by {
                TriggerBy::MarkPrice => 0,
                TriggerBy::LastPrice => 1,
            });
            out.flag(*rising);
        }
        out.unsigned(u128::from(*next_trigger_id));
        out.bytes
    }

    /// The engine a [`Engine::snapshot`] was taken of, built on `spec`.
    ///
    /// # Errors
    /// [`SnapshotError`] for bytes that do not decode or do not fit `spec` or themselves.
    pub fn restore(spec: super::EngineSpec, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let mut engine = Engine::new(spec).map_err(|error| inconsistent(error.to_string()))?;
        let mut input = Reader::new(bytes);
        engine.read_state(&mut input)?;
        if !input.is_empty() {
            return Err(SnapshotError::Malformed(input.error("trailing bytes after the state")));
        }
        engine.check_restored()?;
        Ok(engine)
    }

    fn read_state(&mut self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let assets = self.spec.assets.len();
        let markets = self.spec.markets.len();
        let perps = self.risk.markets.len();
        if input.len(0)? != assets || input.len(0)? != markets {
            return Err(inconsistent("the snapshot was taken with other assets or markets"));
        }
        self.time_ms = input.narrow_signed()?;
        self.sequence = input.narrow()?;
        for asset in &mut self.risk.assets {
            asset.price = input.narrow_signed()?;
        }
        for market in &mut self.risk.markets {
            market.mark = input.narrow_signed()?;
        }
        for set in self.index_set.iter_mut().chain(&mut self.mark_set) {
            *set = input.flag()?;
        }
        for ema in &mut self.basis_ema {
            *ema = read_option(input)?;
        }
        let owners = input.len(2)?;
        for index in 0..owners {
            let name = input.text()?;
            let accounts = read_ints(input)?;
            let index = u32::try_from(index).map_err(|_| inconsistent("too many owners"))?;
            if self.owner_by_name.insert(name.clone(), index).is_some() {
                return Err(inconsistent(format!("owner {name:?} appears twice")));
            }
            self.owners.push(super::Owner { name, accounts });
        }
        let count = input.len(4)?;
        for _ in 0..count {
            let owner: u32 = input.narrow()?;
            let label = input.text()?;
            let max_leverage: u32 = input.narrow()?;
            let settings = input.byte()?;
            self.accounts.open(owner, label, max_leverage, &[]);
            if let Some(bits) = self.accounts.settings.last_mut() {
                *bits = settings;
            }
        }
        let accounts = &mut self.accounts;
        for (column, width) in [
            (&mut accounts.holding, assets),
            (&mut accounts.locked, assets),
            (&mut accounts.lend_shares, assets),
            (&mut accounts.borrow_shares, assets),
            (&mut accounts.net_qty, perps),
            (&mut accounts.net_cost, perps),
            (&mut accounts.entry_cost, perps),
            (&mut accounts.open_bids, perps),
            (&mut accounts.open_asks, perps),
            (&mut accounts.funding, perps),
        ] {
            let values: Vec<i64> = read_ints(input)?;
            if values.len() != count * width {
                return Err(inconsistent("an account column has the wrong length"));
            }
            *column = values;
        }
        for book in &mut self.books {
            *book = read_book(input)?;
        }
        for market_orders in &mut self.orders {
            let len = input.len(8)?;
            for _ in 0..len {
                let id: OrderId = input.narrow()?;
                let account: AccountId = input.narrow()?;
                let side = side_of(input)?;
                let meta = OrderMeta {
                    account,
                    side,
                    price: input.narrow_signed()?,
                    remaining: input.narrow_signed()?,
                    locked: input.narrow_signed()?,
                    filled_notional: input.narrow_signed()?,
                    reduce_only: input.flag()?,
                    auto_borrow: input.flag()?,
                };
                market_orders.insert(id, meta);
            }
        }
        let len = input.len(3)?;
        for _ in 0..len {
            let account: AccountId = input.narrow()?;
            let market = input.len(0)?;
            let ids: Vec<OrderId> = read_ints(input)?;
            self.reduce_only.insert((account, market), ids);
        }
        self.venue.fees = read_ints(input)?;
        self.venue.liquidation_fund = read_ints(input)?;
        self.venue.pnl_clearing = input.narrow_signed()?;
        self.venue.conversions = read_ints(input)?;
        self.deposits = read_ints(input)?;
        self.withdrawals = read_ints(input)?;
        self.liquidatable = read_ints(input)?;
        self.liquidating = read_ints(input)?;
        let len = input.len(3)?;
        for _ in 0..len {
            let account = input.narrow()?;
            let markets = read_ints(input)?;
            let capacity = input.narrow_signed()?;
            self.backstops.push(BackstopProvider { account, markets, capacity });
        }
        for pool in &mut self.pools {
            *pool = Pool {
                lend_index: input.unsigned()?,
                borrow_index: input.unsigned()?,
                lend_shares: input.unsigned()?,
                borrow_shares: input.unsigned()?,
                cash: input.signed()?,
                rate_e18: input.unsigned()?,
            };
        }
        for samples in &mut self.premiums {
            let bits: u64 = input.narrow()?;
            *samples = PremiumSamples { sum: f64::from_bits(bits), count: input.narrow()? };
        }
        for rate in &mut self.fixed_funding_e18 {
            *rate = read_option(input)?;
        }
        for price in &mut self.last_price {
            *price = read_option(input)?;
        }
        let len = input.len(8)?;
        for _ in 0..len {
            let trigger_id = input.narrow()?;
            let account = input.narrow()?;
            let market = input.len(0)?;
            let order = read_order_command(input)?;
            let trigger_price = input.narrow_signed()?;
            let by = match input.byte()? {
                0 => TriggerBy::MarkPrice,
                1 => TriggerBy::LastPrice,
                _ => return Err(input.error("unknown trigger reference").into()),
            };
            let rising = input.flag()?;
            self.triggers.push(PendingTrigger { trigger_id, account, market, order, trigger_price, by, rising });
        }
        self.next_trigger_id = input.narrow()?;
        Ok(())
    }

    /// Cross-checks a restored engine so that no later command can index out of bounds.
    fn check_restored(&self) -> Result<(), SnapshotError> {
        let assets = self.spec.assets.len();
        let markets = self.spec.markets.len();
        let accounts = self.accounts.len();
        let owners = self.owners.len();
        let account_ok = |account: AccountId| (account as usize) < accounts;
        if self.accounts.owner.iter().any(|&owner| owner as usize >= owners)
            || self
                .owners
                .iter()
                .any(|owner| owner.accounts.is_empty() || !owner.accounts.iter().all(|&a| account_ok(a)))
        {
            return Err(inconsistent("an account and its owner do not refer to each other"));
        }
        if [&self.venue.fees, &self.venue.liquidation_fund, &self.venue.conversions].iter().any(|c| c.len() != assets)
            || self.deposits.len() != assets
            || self.withdrawals.len() != assets
        {
            return Err(inconsistent("a per-asset ledger has the wrong length"));
        }
        if !self.liquidatable.iter().chain(&self.liquidating).all(|&account| account_ok(account)) {
            return Err(inconsistent("a liquidation list names an unknown subaccount"));
        }
        let perp_ok = |market: usize| market < markets && self.perp_of_market[market].is_some();
        if !self
            .backstops
            .iter()
            .all(|provider| account_ok(provider.account) && provider.markets.iter().all(|&m| perp_ok(m)))
        {
            return Err(inconsistent("a backstop provider names an unknown subaccount or market"));
        }
        if !self.triggers.iter().all(|trigger| account_ok(trigger.account) && trigger.market < markets) {
            return Err(inconsistent("a trigger names an unknown subaccount or market"));
        }
        for (market, market_orders) in self.orders.iter().enumerate() {
            let book = &self.books[market];
            if book.len() != market_orders.len()
                || !market_orders.iter().all(|(&id, meta)| account_ok(meta.account) && book.order(id).is_some())
            {
                return Err(inconsistent(format!("market {market}'s order records disagree with its book")));
            }
        }
        for (&(account, market), ids) in &self.reduce_only {
            if !account_ok(account) || market >= markets || !ids.iter().all(|id| self.orders[market].contains_key(id)) {
                return Err(inconsistent("a reduce-only list names an unknown order"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
