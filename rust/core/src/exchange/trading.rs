//! Orders through the books: checks before, settlement of every fill after (see the module docs
//! of `exchange` for the contract).

use crate::book::{EventKind as BookEventKind, OrderStatus};

use super::*;

/// How a fill moves one party's balances.
struct Leg {
    account: AccountId,
    side: Side,
    fee_rate_e8: i64,
    /// Borrow what the fill spends beyond the free balance (spot margin).
    auto_borrow: bool,
}

impl Engine {
    /// Places an order for a subaccount.
    ///
    /// # Errors
    /// Misuse only (unknown account or market, contradictory parameters); trading outcomes are in
    /// the returned outcome and the events.
    pub fn place_order(
        &mut self,
        account: AccountId,
        market: usize,
        order: &OrderCommand,
    ) -> Result<OrderOutcome, ExchangeError> {
        self.check_account(account)?;
        self.check_market(market)?;
        check_order_shape(order, self.perp_of_market[market].is_some())?;
        if self.is_liquidating(account) {
            let first_event = self.events.len();
            let reason = Reject::Liquidating;
            self.emit(EventKind::OrderRejected { account, market, order_id: None, side: order.side, reason });
            return Ok(OrderOutcome { book: rejected_outcome(order), reject: Some(reason), first_event });
        }
        self.place_order_unchecked(account, market, order)
    }

    /// [`Engine::place_order`] for a subaccount whether or not it is being liquidated (the
    /// liquidation's own orders); the account and market are known to exist.
    pub(super) fn place_order_unchecked(
        &mut self,
        account: AccountId,
        market: usize,
        order: &OrderCommand,
    ) -> Result<OrderOutcome, ExchangeError> {
        let perp = self.perp_of_market[market];
        check_order_shape(order, perp.is_some())?;
        let first_event = self.events.len();
        let reject = |engine: &mut Engine, reason: Reject| {
            engine.emit(EventKind::OrderRejected { account, market, order_id: None, side: order.side, reason });
            Ok(OrderOutcome { book: rejected_outcome(order), reject: Some(reason), first_event })
        };

        let mark = self.mark(market);
        if perp.is_some() && mark.is_none() {
            return reject(self, Reject::NoPrice);
        }
        self.set_bands(market, mark)?;
        let mut quantity = order.quantity;
        if order.reduce_only {
            match self.reduce_only_room(account, market, order.side) {
                Some(room) => quantity = quantity.map(|quantity| quantity.min(room)),
                None => return reject(self, Reject::ReduceOnlyNotReducing),
            }
        }
        let worst_price = self.worst_price(market, order);
        // Lent balance that a spot order's lock redeems, once the book has accepted the order.
        let mut redeem_to_lock = 0;
        let lock = match perp {
            Some(_) => 0,
            None => {
                let (asset, required) = self.spot_lock(market, order, quantity, worst_price)?;
                let free = self.accounts.free(account, asset).max(0);
                let wanted = (required - free).clamp(0, self.lent_amount(account, asset));
                if wanted > 0 && self.can_redeem(account, asset, wanted) {
                    redeem_to_lock = wanted;
                }
                let free = free + redeem_to_lock;
                if required <= free {
                    required
                } else if !order.auto_borrow {
                    return reject(self, Reject::InsufficientBalance);
                } else {
                    let shortfall = required - free;
                    if let Some(reason) =
                        self.spot_margin_refusal(account, market, order, quantity, worst_price, required, shortfall)?
                    {
                        return reject(self, reason);
                    }
                    free
                }
            }
        };
        if let (Some(perp), Some(mark), Some(quantity)) = (perp, mark, quantity) {
            if !order.reduce_only
                && !self.perp_order_fits_margin(market, account, perp, order.side, quantity, 0, worst_price, mark)?
            {
                return reject(self, Reject::InsufficientMargin);
            }
        }

        let spec = &self.spec.markets[market];
        if order.quote_quantity.is_some_and(|quote| quote < spec.notional_per_tick_lot) {
            return Err(ExchangeError::InvalidOrder("quote_quantity is less than one lot at one tick"));
        }
        let request = OrderRequest {
            side: order.side,
            order_type: order.order_type,
            price: order.price.unwrap_or(0),
            quantity: match (quantity, order.quote_quantity) {
                (Some(quantity), _) => quantity,
                (None, Some(quote)) => quote / spec.notional_per_tick_lot,
                (None, None) => unreachable!("checked by check_order_shape"),
            },
            quote_quantity: order.quote_quantity.is_some(),
            owner: u64::from(self.accounts.owner[account as usize]),
            time_in_force: order.time_in_force,
            post_only: order.post_only,
            self_trade_prevention: order.self_trade_prevention,
        };
        let mut book_events = std::mem::take(&mut self.book_events);
        book_events.clear();
        let placed = self.books[market].place(&request, &mut book_events);
        let outcome = match placed {
            Ok(outcome) => outcome,
            Err(error) => {
                self.book_events = book_events;
                return Err(error.into());
            }
        };
        if outcome.status == OrderStatus::Rejected {
            self.book_events = book_events;
            let reason = Reject::Book(outcome.reason);
            self.emit(EventKind::OrderRejected {
                account,
                market,
                order_id: Some(outcome.order_id),
                side: order.side,
                reason,
            });
            return Ok(OrderOutcome { book: outcome, reject: Some(reason), first_event });
        }
        self.emit(EventKind::OrderAccepted {
            account,
            market,
            order_id: outcome.order_id,
            side: order.side,
            price: order.price.unwrap_or(0),
            quantity: if order.quote_quantity.is_some() { 0 } else { request.quantity },
            quote_quantity: order.quote_quantity.unwrap_or(0),
        });
        let lock_asset = self.lock_asset(market, order.side);
        if redeem_to_lock > 0 {
            self.redeem(account, lock_asset, redeem_to_lock, true)?;
        }
        if lock > 0 {
            let slot = self.accounts.asset_slot(account, lock_asset);
            self.accounts.locked[slot] += lock;
        }
        let mut taker_lock = lock;
        let mut taker_notional = 0;
        let mut touched = vec![(account, market)];
        for event in &book_events {
            match event.kind {
                BookEventKind::Fill => {
                    let maker = self.settle_fill(
                        market,
                        event,
                        account,
                        &mut taker_lock,
                        &mut taker_notional,
                        order.auto_borrow,
                    );
                    touched.push((maker, market));
                }
                BookEventKind::Cancelled => {
                    self.release_resting(market, event.order_id, Reject::Book(event.reason));
                }
                BookEventKind::Accepted | BookEventKind::Expired | BookEventKind::Rejected | BookEventKind::Amended => {
                }
            }
        }
        self.book_events = book_events;

        let mut reject_reason = None;
        if matches!(outcome.status, OrderStatus::New | OrderStatus::PartiallyFilled) {
            let meta = OrderMeta {
                account,
                side: order.side,
                price: request.price,
                remaining: outcome.remaining,
                locked: taker_lock,
                filled_notional: taker_notional,
                reduce_only: order.reduce_only,
                auto_borrow: order.auto_borrow,
            };
            self.orders[market].insert(outcome.order_id, meta);
            if let Some(perp) = perp {
                let slot = self.accounts.perp_slot(account, perp);
                match order.side {
                    Side::Bid => self.accounts.open_bids[slot] += outcome.remaining,
                    Side::Ask => self.accounts.open_asks[slot] += outcome.remaining,
                }
            }
            if order.reduce_only {
                self.reduce_only.entry((account, market)).or_default().push(outcome.order_id);
            }
        } else {
            self.unlock(account, lock_asset, taker_lock);
            if outcome.status == OrderStatus::Expired {
                let reason = Reject::Book(outcome.reason);
                reject_reason = Some(reason);
                self.emit(EventKind::OrderExpired {
                    account,
                    market,
                    order_id: outcome.order_id,
                    quantity: outcome.remaining,
                    reason,
                });
            }
        }
        if perp.is_some() {
            touched.sort_unstable();
            touched.dedup();
            for (touched_account, touched_market) in touched {
                self.shrink_reduce_only(touched_account, touched_market)?;
            }
        }
        if outcome.filled > 0 {
            self.fire_triggers()?;
        }
        Ok(OrderOutcome { book: outcome, reject: reject_reason, first_event })
    }

    /// Cancels one live order of a subaccount: `Ok(true)` if cancelled, `Ok(false)` if it was no
    /// longer live.
    ///
    /// # Errors
    /// Unknown account or market, an id the book never issued, or another subaccount's order.
    pub fn cancel_order(
        &mut self,
        account: AccountId,
        market: usize,
        order_id: OrderId,
    ) -> Result<bool, ExchangeError> {
        self.check_account(account)?;
        self.check_market(market)?;
        match self.orders[market].get(&order_id) {
            Some(meta) if meta.account != account => {
                Err(ExchangeError::NotYourOrder { market: self.spec.markets[market].symbol.clone(), order_id })
            }
            Some(_) => {
                self.cancel_resting(market, order_id, Reject::Book(BookReason::CancelledByOwner))?;
                Ok(true)
            }
            None => {
                let mut events = Vec::new();
                self.books[market].cancel(order_id, &mut events)?;
                Ok(false)
            }
        }
    }

    /// Changes a live order's price and/or remaining quantity (a smaller quantity at the same
    /// price keeps its place). Returns `None` when amended, or why it was not (also an
    /// `AmendRejected` event): the book's filters, margin for a larger perp exposure, balance for a
    /// larger spot lock, a reduce-only order growing past its position, or an order no longer live.
    ///
    /// # Errors
    /// Unknown account or market, an id never issued, another subaccount's order, neither field
    /// given, or a non-positive price or quantity.
    pub fn amend_order(
        &mut self,
        account: AccountId,
        market: usize,
        order_id: OrderId,
        new_price: Option<Price>,
        new_quantity: Option<Qty>,
    ) -> Result<Option<Reject>, ExchangeError> {
        self.check_account(account)?;
        self.check_market(market)?;
        if new_price.is_none() && new_quantity.is_none() {
            return Err(ExchangeError::InvalidOrder("an amend needs a new price, a new quantity or both"));
        }
        if new_price.is_some_and(|price| price <= 0) || new_quantity.is_some_and(|quantity| quantity <= 0) {
            return Err(ExchangeError::InvalidOrder("an amend's price and quantity must be positive"));
        }
        let refuse = |engine: &mut Engine, reason: Reject| {
            engine.emit(EventKind::AmendRejected { account, market, order_id, reason });
            Ok(Some(reason))
        };
        let Some(&meta) = self.orders[market].get(&order_id) else {
            let mut events = Vec::new();
            self.books[market].amend(order_id, new_price, new_quantity, &mut events)?;
            return refuse(self, Reject::Book(BookReason::OrderNotLive));
        };
        if meta.account != account {
            return Err(ExchangeError::NotYourOrder { market: self.spec.markets[market].symbol.clone(), order_id });
        }
        let (price, quantity) = (new_price.unwrap_or(meta.price), new_quantity.unwrap_or(meta.remaining));
        let mark = self.mark(market);
        self.set_bands(market, mark)?;
        if meta.reduce_only
            && quantity > meta.remaining
            && self.reduce_only_room_besides(account, market, meta.side, Some(order_id)).unwrap_or(0) < quantity
        {
            return refuse(self, Reject::ReduceOnlyNotReducing);
        }
        let perp = self.perp_of_market[market];
        let lock_asset = self.lock_asset(market, meta.side);
        let mut new_lock = meta.locked;
        if perp.is_none() {
            new_lock = self.spot_remaining_lock(market, meta.side, price, quantity, meta.filled_notional)?;
            if new_lock - meta.locked > self.accounts.free(account, lock_asset) {
                return refuse(self, Reject::InsufficientBalance);
            }
        }
        if let (Some(perp), Some(mark)) = (perp, mark) {
            if !meta.reduce_only
                && !self.perp_order_fits_margin(
                    market,
                    account,
                    perp,
                    meta.side,
                    quantity,
                    meta.remaining,
                    price,
                    mark,
                )?
            {
                return refuse(self, Reject::InsufficientMargin);
            }
        }
        let mut events = Vec::new();
        self.books[market].amend(order_id, new_price, new_quantity, &mut events)?;
        if let Some(rejected) = events.iter().find(|event| event.kind == BookEventKind::Rejected) {
            return refuse(self, Reject::Book(rejected.reason));
        }
        let slot = self.accounts.asset_slot(account, lock_asset);
        self.accounts.locked[slot] += new_lock - meta.locked;
        if let Some(perp) = perp {
            let slot = self.accounts.perp_slot(account, perp);
            match meta.side {
                Side::Bid => self.accounts.open_bids[slot] += quantity - meta.remaining,
                Side::Ask => self.accounts.open_asks[slot] += quantity - meta.remaining,
            }
        }
        self.orders[market].insert(order_id, OrderMeta { price, remaining: quantity, locked: new_lock, ..meta });
        self.emit(EventKind::OrderAmended { account, market, order_id, price, quantity });
        Ok(None)
    }

    /// Cancels every live order and pending trigger of a subaccount, in one market or all; returns
    /// how many.
    ///
    /// # Errors
    /// Unknown account or market.
    pub fn cancel_all(&mut self, account: AccountId, market: Option<usize>) -> Result<usize, ExchangeError> {
        self.check_account(account)?;
        if let Some(market) = market {
            self.check_market(market)?;
        }
        self.cancel_all_for(account, market, Reject::Book(BookReason::CancelledByOwner))
    }

    /// Cancels an account's trigger orders and resting orders (in one market or all) with `reason`.
    pub(super) fn cancel_all_for(
        &mut self,
        account: AccountId,
        market: Option<usize>,
        reason: Reject,
    ) -> Result<usize, ExchangeError> {
        let mut cancelled = self.cancel_triggers_of(account, market);
        let markets = market.map_or(0..self.spec.markets.len(), |market| market..market + 1);
        for market in markets {
            let mut mine: Vec<OrderId> =
                self.orders[market].iter().filter(|(_, meta)| meta.account == account).map(|(&id, _)| id).collect();
            mine.sort_unstable();
            for order_id in mine {
                self.cancel_resting(market, order_id, reason)?;
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// The live orders of a subaccount, by market and id.
    ///
    /// # Errors
    /// Unknown account.
    pub fn open_orders(&self, account: AccountId) -> Result<Vec<OpenOrder>, ExchangeError> {
        self.check_account(account)?;
        let mut mine: Vec<OpenOrder> = self
            .orders
            .iter()
            .enumerate()
            .flat_map(|(market, orders)| {
                orders.iter().filter(|(_, meta)| meta.account == account).map(move |(&order_id, meta)| OpenOrder {
                    market,
                    order_id,
                    side: meta.side,
                    price: meta.price,
                    remaining: meta.remaining,
                    reduce_only: meta.reduce_only,
                })
            })
            .collect();
        mine.sort_unstable_by_key(|order| (order.market, order.order_id));
        Ok(mine)
    }

    pub(super) fn check_market(&self, market: usize) -> Result<(), ExchangeError> {
        if market < self.spec.markets.len() {
            Ok(())
        } else {
            Err(ExchangeError::InvalidOrder("no such market"))
        }
    }

    /// Sets the book's limit-price band around the mark and its impact band around the best prices.
    pub(super) fn set_bands(&mut self, market: usize, mark: Option<Price>) -> Result<(), ExchangeError> {
        let spec = &self.spec.markets[market];
        let book = &mut self.books[market];
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let scaled = |price: Price, factor: f64, round: fn(f64) -> f64| round(price as f64 * factor).max(1.0) as i64;
        match mark {
            Some(mark) => book.set_price_band(
                scaled(mark, spec.min_multiplier, f64::ceil),
                scaled(mark, spec.max_multiplier, f64::floor),
            )?,
            None => book.set_price_band(1, Price::MAX)?,
        }
        let upper = book.best(Side::Ask).map_or(Price::MAX, |(ask, _)| scaled(ask, 1.0 + spec.impact_band, f64::floor));
        let lower = book.best(Side::Bid).map_or(1, |(bid, _)| scaled(bid, 1.0 - spec.impact_band, f64::ceil));
        book.set_impact_band(lower, upper.max(lower))?;
        Ok(())
    }

    /// The worst price an order can trade at: its limit, or the impact band for a market order
    /// (the mark when the opposite side is empty).
    fn worst_price(&self, market: usize, order: &OrderCommand) -> Price {
        if let Some(price) = order.price {
            return price;
        }
        let book = &self.books[market];
        let (lower, upper) = book.params().impact_band;
        let fallback = self.mark(market).unwrap_or(0);
        match order.side {
            Side::Bid => book.best(Side::Ask).map_or(fallback, |_| upper),
            Side::Ask => book.best(Side::Bid).map_or(fallback, |_| lower),
        }
    }

    fn lock_asset(&self, market: usize, side: Side) -> usize {
        let spec = &self.spec.markets[market];
        match side {
            Side::Bid => spec.quote,
            Side::Ask => spec.base,
        }
    }

    /// What a spot order must lock: (asset, atoms).
    fn spot_lock(
        &self,
        market: usize,
        order: &OrderCommand,
        quantity: Option<Qty>,
        worst_price: Price,
    ) -> Result<(usize, i64), ExchangeError> {
        let spec = &self.spec.markets[market];
        let overflow = || ExchangeError::Risk(RiskError::Overflow("the order's notional overflows"));
        let fee_rate = spec.taker_fee_e8.max(spec.maker_fee_e8).max(0);
        match order.side {
            Side::Bid => {
                let notional = match (quantity, order.quote_quantity) {
                    (_, Some(quote)) => quote,
                    (Some(quantity), None) => {
                        let value =
                            i128::from(quantity) * i128::from(worst_price) * i128::from(spec.notional_per_tick_lot);
                        i64::try_from(value).map_err(|_| overflow())?
                    }
                    (None, None) => 0,
                };
                Ok((spec.quote, notional.checked_add(fee(notional, fee_rate)).ok_or_else(overflow)?))
            }
            Side::Ask => {
                let atoms = i128::from(quantity.unwrap_or(0)) * i128::from(spec.base_atoms_per_lot);
                Ok((spec.base, i64::try_from(atoms).map_err(|_| overflow())?))
            }
        }
    }

    /// Why a spot-margin order that may spend `required` atoms cannot borrow its `shortfall` (the
    /// pool's rule for a borrow, or margin with the order filled and the shortfall borrowed), if
    /// it cannot.
    #[allow(clippy::too_many_arguments)]
    fn spot_margin_refusal(
        &mut self,
        account: AccountId,
        market: usize,
        order: &OrderCommand,
        quantity: Option<Qty>,
        worst_price: Price,
        required: i64,
        shortfall: i64,
    ) -> Result<Option<Reject>, ExchangeError> {
        let spec = &self.spec.markets[market];
        let (spent, received) = match order.side {
            Side::Bid => (spec.quote, spec.base),
            Side::Ask => (spec.base, spec.quote),
        };
        if self.borrowing(spent, shortfall, shortfall, true).is_err() {
            return Ok(Some(Reject::InsufficientBalance));
        }
        let lots = i128::from(quantity.unwrap_or(0));
        let notional = lots * i128::from(worst_price) * i128::from(spec.notional_per_tick_lot);
        let base_atoms = lots * i128::from(spec.base_atoms_per_lot);
        let gained = match order.side {
            Side::Bid => base_atoms,
            Side::Ask => {
                notional - i128::from(fee(i64::try_from(notional).unwrap_or(i64::MAX), spec.taker_fee_e8.max(0)))
            }
        };
        let mut scenario = self.risk_scenario(account);
        scenario.borrowed.resize(self.spec.assets.len(), 0);
        scenario.holdings[spent] += shortfall - required;
        scenario.borrowed[spent] += shortfall;
        scenario.holdings[received] =
            scenario.holdings[received].saturating_add(i64::try_from(gained).unwrap_or(i64::MAX));
        Ok(self.check_margin_holds(&scenario).err().map(|_| Reject::InsufficientMargin))
    }

    /// What a resting spot order of `quantity` lots at `price` must keep locked, given the notional
    /// it has traded so far (the fee is rounded once on the cumulative notional).
    fn spot_remaining_lock(
        &self,
        market: usize,
        side: Side,
        price: Price,
        quantity: Qty,
        traded: i64,
    ) -> Result<i64, ExchangeError> {
        let spec = &self.spec.markets[market];
        let overflow = || ExchangeError::Risk(RiskError::Overflow("the order's notional overflows"));
        match side {
            Side::Bid => {
                let notional =
                    i64::try_from(i128::from(quantity) * i128::from(price) * i128::from(spec.notional_per_tick_lot))
                        .map_err(|_| overflow())?;
                let fee_rate = spec.taker_fee_e8.max(spec.maker_fee_e8).max(0);
                let total = traded.checked_add(notional).ok_or_else(overflow)?;
                Ok(notional + fee(total, fee_rate) - fee(traded, fee_rate))
            }
            Side::Ask => {
                i64::try_from(i128::from(quantity) * i128::from(spec.base_atoms_per_lot)).map_err(|_| overflow())
            }
        }
    }

    /// Whether a perp order of `quantity` lots keeps initial margin within net equity (see the
    /// module docs); `replacing` lots of the same side leave the open orders first (an amend).
    #[allow(clippy::too_many_arguments)]
    fn perp_order_fits_margin(
        &mut self,
        market: usize,
        account: AccountId,
        perp: usize,
        side: Side,
        quantity: Qty,
        replacing: Qty,
        worst_price: Price,
        mark: Price,
    ) -> Result<bool, ExchangeError> {
        let taker_fee_e8 = self.spec.markets[market].taker_fee_e8.max(0);
        let state = self.accounts.state(account);
        let (position, bids, asks) = (state.net_qty[perp], state.open_bids[perp], state.open_asks[perp]);
        let exposure = |bids: i64, asks: i64| (position + bids).abs().max((position - asks).abs());
        let (new_bids, new_asks) = match side {
            Side::Bid => (bids - replacing + quantity, asks),
            Side::Ask => (bids, asks - replacing + quantity),
        };
        if exposure(new_bids, new_asks) <= exposure(bids, asks) {
            return Ok(true);
        }
        let mut scenario = std::mem::take(&mut self.what_if);
        scenario.load(&state);
        self.add_pool_positions(account, &mut scenario);
        scenario.open_bids[perp] = new_bids;
        scenario.open_asks[perp] = new_asks;
        let margin = risk::account_margin(&self.risk, &scenario.state());
        self.what_if = scenario;
        let margin = margin?;
        let adverse_ticks = ((worst_price - mark) * direction(side)).max(0);
        let notional_per_tick_lot = self.risk.markets[perp].notional_per_tick_lot;
        let adverse = i128::from(quantity) * i128::from(adverse_ticks) * i128::from(notional_per_tick_lot);
        let worst_notional =
            i128::from(quantity) * i128::from(worst_price.max(mark)) * i128::from(notional_per_tick_lot);
        let taker_fee =
            i64::try_from(worst_notional).map_or(i128::MAX / 4, |notional| i128::from(fee(notional, taker_fee_e8)));
        let equity = i128::from(margin.net_equity) - adverse - taker_fee;
        Ok(equity > 0 && i128::from(margin.initial_margin) <= equity)
    }

    /// How many lots a new reduce-only order may have, or `None` if it would not reduce.
    fn reduce_only_room(&self, account: AccountId, market: usize, side: Side) -> Option<Qty> {
        self.reduce_only_room_besides(account, market, side, None)
    }

    /// [`Engine::reduce_only_room`], not counting the resting order `besides` (being amended).
    fn reduce_only_room_besides(
        &self,
        account: AccountId,
        market: usize,
        side: Side,
        besides: Option<OrderId>,
    ) -> Option<Qty> {
        let perp = self.perp_of_market[market]?;
        let position = self.accounts.net_qty[self.accounts.perp_slot(account, perp)];
        if position == 0 || (position > 0) == (side == Side::Bid) {
            return None;
        }
        let resting: Qty = self
            .reduce_only
            .get(&(account, market))
            .into_iter()
            .flatten()
            .filter(|&&id| Some(id) != besides)
            .filter_map(|id| self.orders[market].get(id))
            .filter(|meta| meta.side == side)
            .map(|meta| meta.remaining)
            .sum();
        Some(position.abs() - resting).filter(|&room| room > 0)
    }

    /// Settles one book fill between the taker (`taker`, whose lock is `taker_lock`) and its maker;
    /// returns the maker's account.
    fn settle_fill(
        &mut self,
        market: usize,
        fill: &crate::book::Event,
        taker: AccountId,
        taker_lock: &mut i64,
        taker_notional: &mut i64,
        taker_auto_borrow: bool,
    ) -> AccountId {
        let spec = &self.spec.markets[market];
        let (maker_fee_e8, taker_fee_e8) = (spec.maker_fee_e8, spec.taker_fee_e8);
        self.last_price[market] = Some(fill.price);
        let mut maker_meta = *self.orders[market].get(&fill.maker_order_id).expect("a resting maker has a record");
        let taker_leg =
            Leg { account: taker, side: fill.side, fee_rate_e8: taker_fee_e8, auto_borrow: taker_auto_borrow };
        let maker_leg = Leg {
            account: maker_meta.account,
            side: maker_meta.side,
            fee_rate_e8: maker_fee_e8,
            auto_borrow: maker_meta.auto_borrow,
        };
        let (taker_fee, taker_pnl) =
            self.settle_leg(market, &taker_leg, fill.price, fill.quantity, taker_lock, taker_notional);
        let (maker_fee, maker_pnl) = self.settle_leg(
            market,
            &maker_leg,
            fill.price,
            fill.quantity,
            &mut maker_meta.locked,
            &mut maker_meta.filled_notional,
        );
        maker_meta.remaining -= fill.quantity;
        if let Some(perp) = self.perp_of_market[market] {
            let slot = self.accounts.perp_slot(maker_meta.account, perp);
            match maker_meta.side {
                Side::Bid => self.accounts.open_bids[slot] -= fill.quantity,
                Side::Ask => self.accounts.open_asks[slot] -= fill.quantity,
            }
        }
        if maker_meta.remaining == 0 {
            self.forget_order(market, fill.maker_order_id, &maker_meta);
        } else {
            self.orders[market].insert(fill.maker_order_id, maker_meta);
        }
        self.emit(EventKind::Fill {
            market,
            price: fill.price,
            quantity: fill.quantity,
            taker,
            taker_order_id: fill.order_id,
            taker_side: fill.side,
            taker_fee,
            taker_realized_pnl: taker_pnl,
            maker: maker_meta.account,
            maker_order_id: fill.maker_order_id,
            maker_fee,
            maker_realized_pnl: maker_pnl,
        });
        maker_meta.account
    }

    /// Moves one party's balances for a fill; returns (fee, realized PnL). `traded` is the order's
    /// notional before this fill; the fee is the step of the fee on the cumulative notional.
    fn settle_leg(
        &mut self,
        market: usize,
        leg: &Leg,
        price: Price,
        quantity: Qty,
        lock: &mut i64,
        traded: &mut i64,
    ) -> (i64, i64) {
        let spec = &self.spec.markets[market];
        let notional = i64::try_from(i128::from(quantity) * i128::from(price) * i128::from(spec.notional_per_tick_lot))
            .expect("a fill's notional fits the book's checked quantities");
        let fee_paid = fee(*traded + notional, leg.fee_rate_e8) - fee(*traded, leg.fee_rate_e8);
        *traded += notional;
        let (base, quote) = (spec.base, spec.quote);
        let base_atoms = quantity * spec.base_atoms_per_lot;
        let quote_slot = self.accounts.asset_slot(leg.account, quote);
        self.venue.fees[quote] += fee_paid;
        match self.perp_of_market[market] {
            None => {
                let base_slot = self.accounts.asset_slot(leg.account, base);
                let (spent_slot, spent) = match leg.side {
                    Side::Bid => {
                        self.accounts.holding[quote_slot] -= notional + fee_paid;
                        self.accounts.holding[base_slot] += base_atoms;
                        (quote_slot, notional + fee_paid)
                    }
                    Side::Ask => {
                        self.accounts.holding[base_slot] -= base_atoms;
                        self.accounts.holding[quote_slot] += notional - fee_paid;
                        (base_slot, base_atoms)
                    }
                };
                let released = spent.min(*lock);
                *lock -= released;
                self.accounts.locked[spent_slot] -= released;
                let free = self.accounts.holding[spent_slot] - self.accounts.locked[spent_slot];
                if leg.auto_borrow && free < 0 {
                    let asset = if leg.side == Side::Bid { quote } else { base };
                    // Whatever the pool cannot lend stays owed as a negative holding.
                    let _ = self.borrow_unchecked(leg.account, asset, -free);
                }
                (fee_paid, 0)
            }
            Some(perp) => {
                let realized = self.move_position(leg.account, perp, leg.side, quantity, notional);
                self.venue.pnl_clearing -= realized;
                self.credit_or_pay(leg.account, realized - fee_paid);
                (fee_paid, realized)
            }
        }
    }

    /// Applies a perp trade of `quantity` lots worth `notional` to a position; returns the realized
    /// PnL of the part that closed (rounded against the account).
    pub(super) fn move_position(
        &mut self,
        account: AccountId,
        perp: usize,
        side: Side,
        quantity: Qty,
        notional: i64,
    ) -> i64 {
        let slot = self.accounts.perp_slot(account, perp);
        let position = self.accounts.net_qty[slot];
        let (realized, new_cost) = traded_cost(position, self.accounts.net_cost[slot], side, quantity, notional);
        let (_, entry_cost) = traded_cost(position, self.accounts.entry_cost[slot], side, quantity, notional);
        self.accounts.net_qty[slot] = position + direction(side) * quantity;
        self.accounts.net_cost[slot] = new_cost;
        self.accounts.entry_cost[slot] = entry_cost;
        realized
    }

    fn unlock(&mut self, account: AccountId, asset: usize, amount: i64) {
        if amount > 0 {
            let slot = self.accounts.asset_slot(account, asset);
            self.accounts.locked[slot] -= amount;
        }
    }

    /// Drops a finished order's record, releasing what it still locks.
    fn forget_order(&mut self, market: usize, order_id: OrderId, meta: &OrderMeta) {
        self.orders[market].remove(&order_id);
        let asset = self.lock_asset(market, meta.side);
        self.unlock(meta.account, asset, meta.locked);
        if meta.reduce_only {
            if let Some(ids) = self.reduce_only.get_mut(&(meta.account, market)) {
                ids.retain(|&id| id != order_id);
                if ids.is_empty() {
                    self.reduce_only.remove(&(meta.account, market));
                }
            }
        }
    }

    /// Books a resting order that has left the book (cancelled by the book or by us).
    fn release_resting(&mut self, market: usize, order_id: OrderId, reason: Reject) {
        let meta = *self.orders[market].get(&order_id).expect("a cancelled resting order has a record");
        if let Some(perp) = self.perp_of_market[market] {
            let slot = self.accounts.perp_slot(meta.account, perp);
            match meta.side {
                Side::Bid => self.accounts.open_bids[slot] -= meta.remaining,
                Side::Ask => self.accounts.open_asks[slot] -= meta.remaining,
            }
        }
        self.forget_order(market, order_id, &meta);
        self.emit(EventKind::OrderCancelled {
            account: meta.account,
            market,
            order_id,
            quantity: meta.remaining,
            reason,
        });
    }

    fn cancel_resting(&mut self, market: usize, order_id: OrderId, reason: Reject) -> Result<(), ExchangeError> {
        let mut events = Vec::new();
        self.books[market].cancel(order_id, &mut events)?;
        self.release_resting(market, order_id, reason);
        Ok(())
    }

    /// Shrinks (newest first) or cancels an account's resting reduce-only orders in a market so
    /// that together they never exceed its position.
    fn shrink_reduce_only(&mut self, account: AccountId, market: usize) -> Result<(), ExchangeError> {
        let Some(ids) = self.reduce_only.get(&(account, market)).cloned() else { return Ok(()) };
        let perp = self.perp_of_market[market].expect("reduce-only orders are on perps");
        let position = self.accounts.net_qty[self.accounts.perp_slot(account, perp)];
        let mut room = position.abs();
        for order_id in ids {
            let meta = *self.orders[market].get(&order_id).expect("indexed reduce-only orders are live");
            let reduces = position != 0 && (position > 0) == (meta.side == Side::Ask);
            let allowed = if reduces { room } else { 0 };
            if meta.remaining > allowed {
                if allowed == 0 {
                    self.cancel_resting(market, order_id, Reject::ReduceOnlyNotReducing)?;
                    continue;
                }
                let mut events = Vec::new();
                self.books[market].amend(order_id, None, Some(allowed), &mut events)?;
                let slot = self.accounts.perp_slot(account, perp);
                match meta.side {
                    Side::Bid => self.accounts.open_bids[slot] -= meta.remaining - allowed,
                    Side::Ask => self.accounts.open_asks[slot] -= meta.remaining - allowed,
                }
                self.orders[market].insert(order_id, OrderMeta { remaining: allowed, ..meta });
                self.emit(EventKind::OrderAmended { account, market, order_id, price: meta.price, quantity: allowed });
            }
            room -= meta.remaining.min(allowed);
        }
        Ok(())
    }
}

/// A trade of `quantity` lots worth `notional` against a position of `position` lots with cost
/// basis `cost`: (realized PnL of the part that closed, rounded against the account; the new cost).
fn traded_cost(position: Qty, cost: i64, side: Side, quantity: Qty, notional: i64) -> (i64, i64) {
    let sign = direction(side);
    let closing = if position * sign < 0 { quantity.min(position.abs()) } else { 0 };
    let mut realized = 0;
    let mut new_cost = cost;
    if closing > 0 {
        let removed = ceil_div(i128::from(cost) * i128::from(closing), i128::from(position.abs()));
        let closed_value = i128::from(notional) * i128::from(closing) / i128::from(quantity);
        // Closing a long sells (receives the value); closing a short buys (pays it).
        realized = i64::try_from(-i128::from(sign) * closed_value - removed).expect("realized PnL fits");
        new_cost = i64::try_from(i128::from(cost) - removed).expect("cost fits");
    }
    let opening = quantity - closing;
    if opening > 0 {
        let opened_value = i128::from(notional) - i128::from(notional) * i128::from(closing) / i128::from(quantity);
        new_cost += i64::try_from(i128::from(sign) * opened_value).expect("cost fits");
    }
    (realized, new_cost)
}

pub(super) fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    numerator.div_euclid(denominator) + i128::from(numerator.rem_euclid(denominator) != 0)
}

fn rejected_outcome(order: &OrderCommand) -> PlaceOutcome {
    PlaceOutcome {
        order_id: 0,
        status: OrderStatus::Rejected,
        filled: 0,
        remaining: order.quantity.or(order.quote_quantity).unwrap_or(0),
        reason: BookReason::None,
    }
}

pub(super) fn check_order_shape(order: &OrderCommand, is_perp: bool) -> Result<(), ExchangeError> {
    let invalid = |message| Err(ExchangeError::InvalidOrder(message));
    match (order.order_type, order.price) {
        (OrderType::Limit, None) => return invalid("a Limit order needs a price"),
        (OrderType::Market, Some(_)) => return invalid("a Market order takes no price"),
        (_, Some(price)) if price <= 0 => return invalid("price must be positive"),
        _ => {}
    }
    match (order.quantity, order.quote_quantity) {
        (Some(quantity), None) if quantity > 0 => {}
        (None, Some(quote)) if quote > 0 => {
            if is_perp || order.order_type != OrderType::Market || order.side != Side::Bid {
                return invalid("quote_quantity sizes spot market buys only");
            }
        }
        (Some(_), Some(_)) | (None, None) => return invalid("give exactly one of quantity and quote_quantity"),
        _ => return invalid("quantity must be positive"),
    }
    if order.reduce_only && !is_perp {
        return invalid("reduce_only applies to perpetuals only");
    }
    if order.auto_borrow && is_perp {
        return invalid("auto_borrow applies to spot orders (perpetuals are margined already)");
    }
    if order.post_only && order.order_type == OrderType::Market {
        return invalid("a market order cannot be post-only");
    }
    Ok(())
}
