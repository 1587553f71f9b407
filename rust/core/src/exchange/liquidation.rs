//! The liquidation waterfall's mechanics (SPEC §9). Python's `crossbook.liquidation` decides which
//! stage runs when; each stage here is one step that moves balances and positions exactly.
//!
//! Contract:
//! - [`Engine::start_liquidation`] marks a subaccount liquidating (its new orders and trigger orders
//!   are rejected with `Liquidating`) and cancels all its orders and trigger orders.
//! - [`Engine::liquidate_on_book`] runs one on-book loop for the exposure with the largest
//!   maintenance margin. A position: a reduce-only IOC limit order for `chunk` of it (at least one
//!   lot), priced no worse than the mark ± the market's impact band and never past the position's
//!   bankruptcy price. A borrow of asset *k*: repay from the subaccount's own *k* (redeeming its
//!   lends up to `max_utilization`); else buy *k* on its spot market with free settlement asset;
//!   else sell `chunk` of its most valuable other collateral on that asset's spot market (no worse
//!   than index − impact band) and repay with the proceeds. The liquidation fee (`fee_e8` of the
//!   notional traded, rounded up) goes to the liquidation fund, never more than the net equity left
//!   nor more than three quarters of what the loop gained against the MMR (so every loop lowers the
//!   MMR, even in a market whose MMF is at or below the fee rate).
//!   Returns the notional traded or repaid (0: the loop achieved nothing).
//! - [`Engine::liquidate_to_backstop`] transfers remaining positions, largest maintenance margin
//!   first, at the mark to the registered backstop providers in registration order: each takes what
//!   its market list, its remaining capacity (settlement atoms of notional) and its own IMR ≤ 100%
//!   allow (the largest quantity that fits, by bisection); it receives the liquidation fee.
//! - [`Engine::auto_deleverage`] closes every remaining position against the opposing positions of
//!   other subaccounts, ranked by `PnL since entry / |entry cost| × notional / net equity`
//!   (highest first, then lowest id; net equity as of the last margin scan), at the bankruptcy
//!   price: the first position closed absorbs the subaccount's whole net equity (positive or
//!   negative), so afterwards its equity is zero up to rounding;
//!   the notional is split across counterparties in proportion to quantity, exactly, except that
//!   what a counterparty gives up against the mark is capped so that paying it (with a settlement
//!   borrow's entry fee or a conversion's discount) cannot take it below zero; a capped
//!   counterparty's remainder passes on to the next ones, and a deficit that none can absorb stays
//!   with the liquidated subaccount for the last stage.
//! - [`Engine::settle_liquidation_debts`] closes the debts left. First all the subaccount's lends
//!   are redeemed; what a pool has no cash for, the venue's fee account buys at face value (the
//!   claim becomes the pool's income, which is the venue's). A negative holding of an asset other
//!   than the settlement asset is bought back from the venue's conversion account at the index,
//!   charged in the settlement asset; each borrow of *k* is repaid from the subaccount's own *k*;
//!   then its other collateral, converted at the index less the conversion discount, raises what
//!   its remaining borrows are worth and its settlement-asset shortfall, and nothing more. Each
//!   borrow left is written off the pool: *k*'s lenders' claims shrink by it and they receive its
//!   value at the index in the settlement asset, pro rata to their shares, from what was raised,
//!   then from the liquidation fund; what neither covers is the socialized loss, an explicit
//!   event. A negative settlement-asset holding left is covered by the liquidation fund, then by
//!   the settlement asset's lenders (their claims shrink, up to the pool's cash), then by the
//!   venue's fee account. So a loss is socialized only once the subaccount has nothing left;
//!   afterwards it owes nothing and its net equity is not negative. A write-off that leaves a
//!   pool's lenders no claim at all retires their shares and restarts the lend index at 1.
//! - Every step is an `Liquidation` event naming its stage, with the quantity, the notional, the
//!   (average) price, the counterparty and the MMR before and after (millionths; `i64::MAX` for
//!   infinite).
//! - Every asset keeps reconciling: positions move between accounts at one notional, fees to the
//!   fund or a provider, written-off debts shrink the pool's borrowed and lent alike.
//!
//! Costs: a loop, a backstop or an ADL step costs O(assets + perps) margin computations per
//! counterparty considered; ranking ADL counterparties (a few float operations per subaccount, no
//! margin computation) and paying lenders are O(accounts).

use super::trading::ceil_div;
use super::*;
use crate::book::OrderStatus;

/// The stage a liquidation event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiquidationStage {
    /// The subaccount became liquidating; its orders were cancelled.
    Trigger,
    OnBook,
    Backstop,
    Adl,
    /// A borrow written off, its value delivered to the asset's lenders in the settlement asset.
    LenderPayout,
    /// A loss nobody could cover but the lenders (or, last, the venue).
    SocializedLoss,
    /// The subaccount is healthy again (or has nothing left to liquidate).
    Ended,
}

impl LiquidationStage {
    /// The name Python sees.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LiquidationStage::Trigger => "trigger",
            LiquidationStage::OnBook => "on_book",
            LiquidationStage::Backstop => "backstop",
            LiquidationStage::Adl => "adl",
            LiquidationStage::LenderPayout => "lender_payout",
            LiquidationStage::SocializedLoss => "socialized_loss",
            LiquidationStage::Ended => "ended",
        }
    }
}

/// One liquidation step, as recorded in a `Liquidation` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidationStep {
    pub account: AccountId,
    pub stage: LiquidationStage,
    /// The market traded or transferred (on-book, backstop, ADL).
    pub market: Option<usize>,
    /// The asset repaid, written off or socialized.
    pub asset: Option<usize>,
    /// The provider or ADL counterparty.
    pub counterparty: Option<AccountId>,
    /// Lots of `market`, or atoms of `asset`.
    pub quantity: i64,
    /// Settlement atoms: the notional traded, transferred or delivered.
    pub notional: i64,
    /// Settlement atoms per whole unit (rounded down): the average price of a perp trade or
    /// transfer (`notional` over `quantity`), or for a borrow's step the index price of the asset
    /// repaid, written off or socialized; 0 for the steps that move nothing.
    pub price: i64,
    /// Settlement atoms of liquidation fee paid.
    pub fee: i64,
    /// MMR in millionths before and after the step (`i64::MAX`: infinite).
    pub mmr_before_e6: i64,
    pub mmr_after_e6: i64,
}

/// A registered backstop liquidity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackstopProvider {
    pub account: AccountId,
    pub markets: Vec<usize>,
    /// Settlement atoms of notional it may still take.
    pub capacity: i64,
}

/// What remains to liquidate of a subaccount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exposure {
    Position { market: usize, perp: usize, net_qty: Qty },
    Borrow { asset: usize, owed: i64 },
}

fn mmr_e6(mmr: f64) -> i64 {
    if mmr.is_finite() {
        #[allow(clippy::cast_possible_truncation)]
        let scaled = (mmr * 1e6).round() as i64;
        scaled
    } else {
        i64::MAX
    }
}

const FRACTION_ONE: i128 = 100_000_000;

impl Engine {
    /// Whether a subaccount is being liquidated.
    #[must_use]
    pub fn is_liquidating(&self, account: AccountId) -> bool {
        self.liquidating.binary_search(&account).is_ok()
    }

    /// The subaccounts being liquidated, by id.
    #[must_use]
    pub fn liquidating(&self) -> &[AccountId] {
        &self.liquidating
    }

    /// The registered backstop providers, in order.
    #[must_use]
    pub fn backstop_providers(&self) -> &[BackstopProvider] {
        &self.backstops
    }

    /// Registers (or re-registers, replacing markets and capacity) a backstop provider.
    ///
    /// # Errors
    /// Unknown account, a spot market, or a negative capacity.
    pub fn register_backstop_provider(
        &mut self,
        account: AccountId,
        markets: &[usize],
        capacity: i64,
    ) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        if markets.is_empty() {
            return Err(ExchangeError::InvalidRequest("a backstop provider needs at least one perpetual market"));
        }
        for &market in markets {
            self.check_market(market)?;
            if self.perp_of_market[market].is_none() {
                return Err(ExchangeError::InvalidRequest("backstop providers take perpetual positions only"));
            }
        }
        check_positive("backstop capacity", capacity)?;
        let mut markets = markets.to_vec();
        markets.sort_unstable();
        markets.dedup();
        let provider = BackstopProvider { account, markets, capacity };
        match self.backstops.iter_mut().find(|existing| existing.account == account) {
            Some(existing) => *existing = provider,
            None => self.backstops.push(provider),
        }
        Ok(())
    }

    /// Stage 1: marks `account` liquidating and cancels its orders and trigger orders. Returns
    /// false if it already was.
    ///
    /// # Errors
    /// Unknown account, or a margin overflow.
    pub fn start_liquidation(&mut self, account: AccountId) -> Result<bool, ExchangeError> {
        self.check_account(account)?;
        if self.is_liquidating(account) {
            return Ok(false);
        }
        let before = self.margin(account)?.mmr;
        let position = self.liquidating.partition_point(|&id| id < account);
        self.liquidating.insert(position, account);
        self.cancel_all_for(account, None, Reject::Liquidating)?;
        self.record(account, LiquidationStage::Trigger, before, |_| {})?;
        Ok(true)
    }

    /// Ends a liquidation (the policy found the subaccount healthy, or nothing is left).
    ///
    /// # Errors
    /// Unknown account, or a margin overflow.
    pub fn end_liquidation(&mut self, account: AccountId) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        if let Ok(position) = self.liquidating.binary_search(&account) {
            self.liquidating.remove(position);
            let mmr = self.margin(account)?.mmr;
            self.record(account, LiquidationStage::Ended, mmr, |_| {})?;
        }
        Ok(())
    }

    /// Emits a liquidation event for `account`, with the MMR now as "after".
    fn record(
        &mut self,
        account: AccountId,
        stage: LiquidationStage,
        mmr_before: f64,
        fill: impl FnOnce(&mut LiquidationStep),
    ) -> Result<(), ExchangeError> {
        let mmr_after = self.margin(account)?.mmr;
        let mut step = LiquidationStep {
            account,
            stage,
            market: None,
            asset: None,
            counterparty: None,
            quantity: 0,
            notional: 0,
            price: 0,
            fee: 0,
            mmr_before_e6: mmr_e6(mmr_before),
            mmr_after_e6: mmr_e6(mmr_after),
        };
        fill(&mut step);
        step.price = match (step.market, step.asset) {
            (Some(market), None) if step.quantity > 0 => {
                let spec = &self.spec.markets[market];
                let unit = i128::from(self.spec.assets[spec.base].unit());
                let price = i128::from(step.notional) * unit
                    / (i128::from(step.quantity) * i128::from(spec.base_atoms_per_lot));
                i64::try_from(price).unwrap_or(i64::MAX)
            }
            (_, Some(asset)) => self.risk.assets[asset].price,
            _ => 0,
        };
        self.emit(EventKind::Liquidation(step));
        Ok(())
    }

    /// The exposures of `account` with their maintenance margin (settlement atoms, approximate: for
    /// ranking only), largest first.
    fn exposures(&self, account: AccountId) -> Vec<(f64, Exposure)> {
        #[allow(clippy::cast_precision_loss)]
        let unit = self.risk.quote_unit as f64;
        let mut exposures = Vec::new();
        for (market, perp) in self.perp_of_market.iter().enumerate() {
            let Some(perp) = *perp else { continue };
            let net_qty = self.accounts.net_qty[self.accounts.perp_slot(account, perp)];
            if net_qty != 0 {
                let risk = &self.risk.markets[perp];
                #[allow(clippy::cast_precision_loss)]
                let notional = net_qty.unsigned_abs() as f64 * risk.mark as f64 * risk.notional_per_tick_lot as f64;
                let margin = notional * risk.mmf.at(notional / unit);
                exposures.push((margin, Exposure::Position { market, perp, net_qty }));
            }
        }
        for asset in 0..self.spec.assets.len() {
            let owed = self.borrowed_amount(account, asset);
            if owed > 0 {
                let risk = &self.risk.assets[asset];
                #[allow(clippy::cast_precision_loss)]
                let notional = owed as f64 * risk.price as f64 / risk.unit as f64;
                let margin = notional * risk.borrow_mmf.at(notional / unit);
                exposures.push((margin, Exposure::Borrow { asset, owed }));
            }
        }
        // Largest first; ties by kind and index, so the order is deterministic.
        exposures.sort_by(|a, b| b.0.total_cmp(&a.0));
        exposures
    }

    /// Ticks at which closing all of `net_qty` leaves `account` with zero net equity (rounded so
    /// that trading at it never goes past it: up for a long's sale, down for a short's purchase).
    fn bankruptcy_ticks(&self, account: AccountId, perp: usize, net_qty: Qty) -> Result<i128, ExchangeError> {
        let equity = i128::from(self.margin(account)?.net_equity);
        let risk = &self.risk.markets[perp];
        let per_tick = i128::from(net_qty.abs()) * i128::from(risk.notional_per_tick_lot);
        let mark = i128::from(risk.mark);
        Ok(if net_qty > 0 { mark - equity.div_euclid(per_tick) } else { mark + equity.div_euclid(per_tick) })
    }

    /// Charges the liquidation fee on `notional` (capped at `cap` and at the net equity left) to `account`,
    /// crediting `to` (a provider) or the liquidation fund. Returns the fee.
    fn charge_liquidation_fee(
        &mut self,
        account: AccountId,
        notional: i64,
        fee_e8: i64,
        to: Option<AccountId>,
        cap: i64,
    ) -> Result<i64, ExchangeError> {
        let fee = ceil_div(i128::from(notional) * i128::from(fee_e8), FRACTION_ONE);
        let equity = i128::from(self.margin(account)?.net_equity.max(0));
        let fee = i64::try_from(fee.min(equity).min(i128::from(cap.max(0)))).expect("capped by equity");
        if fee > 0 {
            self.pay(account, fee);
            let usdc = self.spec.settlement_asset;
            match to {
                Some(provider) => {
                    let slot = self.accounts.asset_slot(provider, usdc);
                    self.accounts.holding[slot] += fee;
                }
                None => self.venue.liquidation_fund[usdc] += fee,
            }
        }
        Ok(fee)
    }

    /// An IOC order placed for the liquidation (it bypasses the liquidating reject and the margin
    /// check); returns (lots filled, notional traded).
    fn liquidation_order(
        &mut self,
        account: AccountId,
        market: usize,
        order: &OrderCommand,
    ) -> Result<(Qty, i64), ExchangeError> {
        let first = self.events.len();
        let outcome = self.place_order_unchecked(account, market, order)?;
        if outcome.book.status == OrderStatus::Rejected {
            return Ok((0, 0));
        }
        let mut notional = 0i64;
        for event in &self.events[first..] {
            if let EventKind::Fill { market: filled, price, quantity, taker, .. } = event.kind {
                if filled == market && taker == account {
                    let per = self.spec.markets[market].notional_per_tick_lot;
                    notional += i64::try_from(i128::from(price) * i128::from(quantity) * i128::from(per))
                        .expect("a fill's notional fits");
                }
            }
        }
        Ok((outcome.book.filled, notional))
    }

    /// Stage 2: one on-book loop (see the module docs). `chunk_e8` and `fee_e8` are fractions in
    /// units of 1e-8.
    ///
    /// # Errors
    /// Unknown or non-liquidating account, or a margin overflow.
    pub fn liquidate_on_book(&mut self, account: AccountId, chunk_e8: i64, fee_e8: i64) -> Result<i64, ExchangeError> {
        self.check_liquidating(account)?;
        let margin_before = self.margin(account)?;
        let before = margin_before.mmr;
        let Some(&(_, exposure)) = self.exposures(account).first() else { return Ok(0) };
        let (market, asset, quantity, notional) = match exposure {
            Exposure::Position { market, perp, net_qty } => {
                let (filled, notional) = self.close_on_book(account, market, perp, net_qty, chunk_e8)?;
                (Some(market), None, filled, notional)
            }
            Exposure::Borrow { asset, owed } => {
                let (market, notional) = self.repay_on_book(account, asset, owed, chunk_e8)?;
                (market, Some(asset), owed - self.borrowed_amount(account, asset), notional)
            }
        };
        if notional == 0 {
            return Ok(0);
        }
        let fee = if market.is_some() {
            // At most three quarters of what the loop gained against the MMR (E' - E x MM' / MM would
            // keep it level), so every loop that reduces risk also lowers the MMR.
            let after = self.margin(account)?;
            let keeps_ratio = i128::from(after.net_equity)
                - ceil_div(
                    i128::from(margin_before.net_equity.max(0)) * i128::from(after.maintenance_margin),
                    i128::from(margin_before.maintenance_margin.max(1)),
                );
            let cap = i64::try_from(keeps_ratio.max(0) * 3 / 4).unwrap_or(i64::MAX);
            self.charge_liquidation_fee(account, notional, fee_e8, None, cap)?
        } else {
            0
        };
        self.record(account, LiquidationStage::OnBook, before, |step| {
            (step.market, step.asset, step.quantity, step.notional, step.fee) =
                (market, asset, quantity, notional, fee);
        })?;
        Ok(notional)
    }

    fn close_on_book(
        &mut self,
        account: AccountId,
        market: usize,
        perp: usize,
        net_qty: Qty,
        chunk_e8: i64,
    ) -> Result<(Qty, i64), ExchangeError> {
        let chunk = ceil_div(i128::from(net_qty.abs()) * i128::from(chunk_e8), FRACTION_ONE);
        let quantity = i64::try_from(chunk).expect("a part of a position").clamp(1, net_qty.abs());
        let mark = self.risk.markets[perp].mark;
        let band = self.spec.markets[market].impact_band;
        let bankruptcy = self.bankruptcy_ticks(account, perp, net_qty)?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let (side, price) = if net_qty > 0 {
            let banded = (mark as f64 * (1.0 - band)).ceil() as i128;
            (Side::Ask, banded.max(bankruptcy).max(1))
        } else {
            let banded = (mark as f64 * (1.0 + band)).floor() as i128;
            (Side::Bid, banded.min(bankruptcy))
        };
        let Ok(price) = Price::try_from(price) else { return Ok((0, 0)) };
        if price < 1 {
            return Ok((0, 0));
        }
        let order = liquidation_command(side, price, quantity, true);
        self.liquidation_order(account, market, &order)
    }

    /// Raises `asset` to repay a borrow (see the module docs); returns (spot market traded, notional
    /// traded or repaid in settlement atoms).
    fn repay_on_book(
        &mut self,
        account: AccountId,
        asset: usize,
        owed: i64,
        chunk_e8: i64,
    ) -> Result<(Option<usize>, i64), ExchangeError> {
        let repaid = self.repay_from_own(account, asset);
        if repaid > 0 {
            return Ok((None, self.value_of(asset, repaid)));
        }
        let usdc = self.spec.settlement_asset;
        let mut traded = (None, 0);
        if asset != usdc {
            if let Some(market) = self.spot_market(asset) {
                self.redeem_all(account, usdc);
                traded = (Some(market), self.buy_on_book(account, market, owed, chunk_e8)?);
            }
        }
        if traded.1 == 0 {
            traded = self.sell_collateral(account, asset, chunk_e8)?;
        }
        self.repay_from_own(account, asset);
        Ok(traded)
    }

    /// Buys up to `chunk` of `owed` atoms of a spot market's base with the free settlement asset.
    fn buy_on_book(
        &mut self,
        account: AccountId,
        market: usize,
        owed: i64,
        chunk_e8: i64,
    ) -> Result<i64, ExchangeError> {
        let spec = &self.spec.markets[market];
        let Some(index) = self.index_in_ticks(market) else { return Ok(0) };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let price = ((index as f64) * (1.0 + spec.impact_band)).floor() as i64;
        let wanted =
            ceil_div(i128::from(owed) * i128::from(chunk_e8), FRACTION_ONE * i128::from(spec.base_atoms_per_lot));
        let per_lot = i128::from(price) * i128::from(spec.notional_per_tick_lot);
        let with_fee = per_lot + ceil_div(per_lot * i128::from(spec.taker_fee_e8), FRACTION_ONE);
        let affordable = i128::from(self.accounts.free(account, spec.quote).max(0)) / with_fee.max(1);
        let quantity = i64::try_from(wanted.max(1).min(affordable)).expect("capped by a balance");
        if quantity < 1 || price < 1 {
            return Ok(0);
        }
        Ok(self.liquidation_order(account, market, &liquidation_command(Side::Bid, price, quantity, false))?.1)
    }

    /// Sells `chunk` of the most valuable collateral other than `keep` on its spot market.
    fn sell_collateral(
        &mut self,
        account: AccountId,
        keep: usize,
        chunk_e8: i64,
    ) -> Result<(Option<usize>, i64), ExchangeError> {
        let usdc = self.spec.settlement_asset;
        let mut best: Option<(i64, usize, usize)> = None;
        for asset in 0..self.spec.assets.len() {
            if asset == keep || asset == usdc {
                continue;
            }
            let Some(market) = self.spot_market(asset) else { continue };
            let held = self.accounts.free(account, asset).max(0) + self.lent_amount(account, asset);
            let value = self.value_of(asset, held);
            if value > 0 && best.is_none_or(|(top, _, _)| value > top) {
                best = Some((value, asset, market));
            }
        }
        let Some((_, asset, market)) = best else { return Ok((None, 0)) };
        self.redeem_all(account, asset);
        let spec = &self.spec.markets[market];
        let lots = self.accounts.free(account, asset).max(0) / spec.base_atoms_per_lot;
        let Some(index) = self.index_in_ticks(market) else { return Ok((None, 0)) };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let price = ((index as f64) * (1.0 - spec.impact_band)).ceil() as i64;
        let chunk = ceil_div(i128::from(lots) * i128::from(chunk_e8), FRACTION_ONE);
        let quantity = i64::try_from(chunk).expect("a part of a holding").clamp(1, lots.max(1));
        if lots < 1 || price < 1 {
            return Ok((None, 0));
        }
        let (_, notional) =
            self.liquidation_order(account, market, &liquidation_command(Side::Ask, price, quantity, false))?;
        Ok((Some(market), notional))
    }

    /// The spot market of `asset` against the settlement asset, if any.
    fn spot_market(&self, asset: usize) -> Option<usize> {
        let usdc = self.spec.settlement_asset;
        self.spec
            .markets
            .iter()
            .position(|market| market.kind == MarketKind::Spot && market.base == asset && market.quote == usdc)
    }

    /// Settlement atoms that `amount` atoms of `asset` are worth at the index (rounded down).
    fn value_of(&self, asset: usize, amount: i64) -> i64 {
        let risk = &self.risk.assets[asset];
        let value = i128::from(amount) * i128::from(risk.price) / i128::from(risk.unit);
        i64::try_from(value).unwrap_or(i64::MAX)
    }

    /// Redeems all of `account`'s lends of `asset` that the pool can pay (not voluntary: up to
    /// `max_utilization`).
    fn redeem_all(&mut self, account: AccountId, asset: usize) {
        self.redeem_up_to(account, asset, i64::MAX);
    }

    /// Repays what `account` can of its `asset` borrow from its own `asset`; returns atoms repaid.
    fn repay_from_own(&mut self, account: AccountId, asset: usize) -> i64 {
        let owed = self.borrowed_amount(account, asset);
        if owed == 0 {
            return 0;
        }
        if self.accounts.free(account, asset) < owed {
            self.redeem_all(account, asset);
        }
        let free = self.accounts.free(account, asset).min(owed);
        if free > 0 {
            self.repay(account, asset, free).unwrap_or(0)
        } else {
            0
        }
    }

    fn check_liquidating(&self, account: AccountId) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        if self.is_liquidating(account) {
            Ok(())
        } else {
            Err(ExchangeError::InvalidRequest("the subaccount is not being liquidated; start_liquidation first"))
        }
    }

    /// Moves `quantity` lots of a perp position from `from` (closing) to `to` at `notional`
    /// settlement atoms; realized PnL moves through the clearing account as a fill's does.
    fn transfer_position(
        &mut self,
        from: AccountId,
        to: AccountId,
        perp: usize,
        side_of_from: Side,
        quantity: Qty,
        notional: i64,
    ) {
        let to_side = match side_of_from {
            Side::Bid => Side::Ask,
            Side::Ask => Side::Bid,
        };
        for (account, side) in [(from, side_of_from), (to, to_side)] {
            let realized = self.move_position(account, perp, side, quantity, notional);
            self.venue.pnl_clearing -= realized;
            self.credit_or_pay(account, realized);
        }
    }

    /// Stage 3: hands remaining positions to backstop providers (see the module docs). Returns the
    /// notional transferred.
    ///
    /// # Errors
    /// Unknown or non-liquidating account, or a margin overflow.
    pub fn liquidate_to_backstop(&mut self, account: AccountId, fee_e8: i64) -> Result<i64, ExchangeError> {
        self.check_liquidating(account)?;
        let mut transferred = 0;
        for (_, exposure) in self.exposures(account) {
            let Exposure::Position { market, perp, .. } = exposure else { continue };
            for provider in 0..self.backstops.len() {
                let net_qty = self.accounts.net_qty[self.accounts.perp_slot(account, perp)];
                let candidate = &self.backstops[provider];
                if net_qty == 0 {
                    break;
                }
                if candidate.account == account
                    || self.is_liquidating(candidate.account)
                    || candidate.markets.binary_search(&market).is_err()
                {
                    continue;
                }
                let (provider_account, capacity) = (candidate.account, candidate.capacity);
                let mark = self.risk.markets[perp].mark;
                let per_lot = i128::from(mark) * i128::from(self.risk.markets[perp].notional_per_tick_lot);
                let by_capacity = i64::try_from(i128::from(capacity) / per_lot.max(1)).unwrap_or(i64::MAX);
                let side = if net_qty > 0 { Side::Ask } else { Side::Bid };
                let quantity = self.largest_fitting(
                    provider_account,
                    perp,
                    net_qty.signum(),
                    net_qty.abs().min(by_capacity),
                    mark,
                )?;
                if quantity == 0 {
                    continue;
                }
                let before = self.margin(account)?.mmr;
                let notional = i64::try_from(i128::from(quantity) * per_lot).expect("within capacity");
                self.transfer_position(account, provider_account, perp, side, quantity, notional);
                self.backstops[provider].capacity -= notional;
                let fee = self.charge_liquidation_fee(account, notional, fee_e8, Some(provider_account), i64::MAX)?;
                transferred += notional;
                self.record(account, LiquidationStage::Backstop, before, |step| {
                    step.market = Some(market);
                    step.counterparty = Some(provider_account);
                    (step.quantity, step.notional, step.fee) = (quantity, notional, fee);
                })?;
            }
        }
        Ok(transferred)
    }

    /// The most lots (≤ `limit`) of a position in direction `sign` that `provider` can take at `mark`
    /// keeping its initial margin within its net equity (bisection; 0 if not even one lot fits).
    fn largest_fitting(
        &self,
        provider: AccountId,
        perp: usize,
        sign: i64,
        limit: Qty,
        mark: Price,
    ) -> Result<Qty, ExchangeError> {
        let fits = |quantity: Qty| -> Result<bool, ExchangeError> {
            let mut scenario = self.risk_scenario(provider);
            let per_lot = i128::from(mark) * i128::from(self.risk.markets[perp].notional_per_tick_lot);
            scenario.net_qty[perp] += sign * quantity;
            let cost = i128::from(scenario.net_cost[perp]) + i128::from(sign * quantity) * per_lot;
            let Ok(cost) = i64::try_from(cost) else { return Ok(false) };
            scenario.net_cost[perp] = cost;
            let margin = risk::account_margin(&self.risk, &scenario.state())?;
            Ok(margin.initial_margin <= margin.net_equity)
        };
        if limit <= 0 || !fits(1)? {
            return Ok(0);
        }
        if fits(limit)? {
            return Ok(limit);
        }
        let (mut good, mut bad) = (1, limit);
        while bad - good > 1 {
            let middle = good + (bad - good) / 2;
            if fits(middle)? {
                good = middle;
            } else {
                bad = middle;
            }
        }
        Ok(good)
    }

    /// Stage 4: closes every remaining position against ranked opposing positions at the bankruptcy
    /// price (see the module docs). Returns the lots closed.
    ///
    /// # Errors
    /// Unknown or non-liquidating account, or a margin overflow.
    pub fn auto_deleverage(&mut self, account: AccountId) -> Result<Qty, ExchangeError> {
        self.check_liquidating(account)?;
        let mut closed_total = 0;
        for (_, exposure) in self.exposures(account) {
            let Exposure::Position { market, perp, net_qty } = exposure else { continue };
            let equity = i128::from(self.margin(account)?.net_equity);
            let risk = self.risk.markets[perp];
            let per_lot = i128::from(risk.mark) * i128::from(risk.notional_per_tick_lot);
            let value = i128::from(net_qty.abs()) * per_lot;
            // What the whole position trades for so that the subaccount's equity ends at zero.
            let mut remaining_notional = if net_qty > 0 { value - equity } else { value + equity }.max(0);
            let mut remaining_lots = net_qty.abs();
            let side = if net_qty > 0 { Side::Ask } else { Side::Bid };
            for (counterparty, available) in self.adl_ranking(account, perp, net_qty.signum())? {
                if remaining_lots == 0 {
                    break;
                }
                let before = self.margin(account)?.mmr;
                let quantity = available.min(remaining_lots);
                // Its share of what is left to allocate: a capped counterparty's remainder passes
                // on to the next ones, and the last one takes the exact rest.
                let mut notional = remaining_notional * i128::from(quantity) / i128::from(remaining_lots);
                let at_mark = i128::from(quantity) * per_lot;
                let given_up = if net_qty > 0 { notional - at_mark } else { at_mark - notional };
                let cap = self.adl_loss_cap(counterparty, perp)?;
                if given_up > cap {
                    notional = if net_qty > 0 { at_mark + cap } else { at_mark - cap };
                }
                remaining_notional -= notional;
                remaining_lots -= quantity;
                let notional = i64::try_from(notional).expect("a part of a position's value");
                self.transfer_position(account, counterparty, perp, side, quantity, notional);
                self.record(account, LiquidationStage::Adl, before, |step| {
                    step.market = Some(market);
                    step.counterparty = Some(counterparty);
                    (step.quantity, step.notional) = (quantity, notional);
                })?;
            }
            closed_total += net_qty.abs() - remaining_lots;
        }
        Ok(closed_total)
    }

    /// The most an ADL counterparty may give up against the mark on its `perp` position without
    /// ending below zero: its net equity, less what paying the realized loss can cost it — a
    /// settlement borrow's entry fee (at most one interval's rate) or a conversion's discount —
    /// on both that loss and the position's unrealized loss that realizing it also pays, less a
    /// few atoms for the rounding of shares and conversions.
    fn adl_loss_cap(&self, counterparty: AccountId, perp: usize) -> Result<i128, ExchangeError> {
        const ROUNDING_ATOMS: i128 = 8;
        let equity = i128::from(self.margin(counterparty)?.net_equity);
        let slot = self.accounts.perp_slot(counterparty, perp);
        let risk = &self.risk.markets[perp];
        let value =
            i128::from(self.accounts.net_qty[slot]) * i128::from(risk.mark) * i128::from(risk.notional_per_tick_lot);
        let unrealized_loss = (i128::from(self.accounts.net_cost[slot]) - value).max(0);
        let discount = self.spec.venue.conversion_discount;
        // Cost per settlement atom paid, in 1e-18, rounded up.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let conversion_cost_e18 = (discount / (1.0 - discount) * 1e18).ceil() as u128 + 1;
        let cost_e18 = i128::try_from(self.pools[self.spec.settlement_asset].rate_e18 + conversion_cost_e18)
            .unwrap_or(i128::MAX / 4);
        let one = i128::try_from(INDEX_ONE).expect("1e18 fits");
        let room = equity
            .saturating_mul(one)
            .saturating_sub(unrealized_loss.saturating_mul(cost_e18))
            .saturating_sub(ROUNDING_ATOMS.saturating_mul(one + cost_e18));
        Ok((room / (one + cost_e18)).max(0))
    }

    /// Opposing positions to `sign` in `perp`, best ADL candidate first, with their size in lots.
    fn adl_ranking(&self, account: AccountId, perp: usize, sign: i64) -> Result<Vec<(AccountId, Qty)>, ExchangeError> {
        let risk = self.risk.markets[perp];
        let mut ranked = Vec::new();
        for other in 0..self.accounts.len() {
            let other = AccountId::try_from(other).expect("account ids fit u32");
            let slot = self.accounts.perp_slot(other, perp);
            let position = self.accounts.net_qty[slot];
            if other == account || position == 0 || position.signum() == sign {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let value = position as f64 * risk.mark as f64 * risk.notional_per_tick_lot as f64;
            #[allow(clippy::cast_precision_loss)]
            let cost = self.accounts.entry_cost[slot] as f64;
            // Net equity as of the last margin scan (every price update runs one): O(1) per
            // candidate, where a fresh margin computation would make a cascade O(accounts²).
            let equity = match self.last_scan.net_equity.get(usize::try_from(other).expect("ids fit usize")) {
                Some(&equity) => equity,
                None => self.margin(other)?.net_equity,
            };
            #[allow(clippy::cast_precision_loss)]
            let score = if equity > 0 && cost != 0.0 {
                (value - cost) / cost.abs() * (value.abs() / equity as f64)
            } else {
                f64::NEG_INFINITY
            };
            ranked.push((score, other, position.abs()));
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(ranked.into_iter().map(|(_, other, quantity)| (other, quantity)).collect())
    }

    /// Stage 5: settles every debt left (see the module docs).
    ///
    /// # Errors
    /// Unknown or non-liquidating account, or a margin overflow.
    pub fn settle_liquidation_debts(&mut self, account: AccountId) -> Result<(), ExchangeError> {
        self.check_liquidating(account)?;
        let usdc = self.spec.settlement_asset;
        let usdc_slot = self.accounts.asset_slot(account, usdc);
        for asset in 0..self.spec.assets.len() {
            self.redeem_all(account, asset);
            self.venue_buys_lend(account, asset, i64::MAX);
        }
        // Negative holdings of other assets are bought back at the index, charged in the settlement
        // asset (which may go negative until the conversions below).
        for asset in 0..self.spec.assets.len() {
            let slot = self.accounts.asset_slot(account, asset);
            let short = -self.accounts.holding[slot];
            if short > 0 && asset != usdc {
                let price = self.risk.assets[asset].price;
                let cost = ceil_div(i128::from(short) * i128::from(price), i128::from(self.risk.assets[asset].unit));
                let cost = i64::try_from(cost).unwrap_or(i64::MAX);
                self.accounts.holding[slot] += short;
                self.venue.conversions[asset] -= short;
                self.accounts.holding[usdc_slot] -= cost;
                self.venue.conversions[usdc] += cost;
            }
        }
        for asset in 0..self.spec.assets.len() {
            self.repay_from_own(account, asset);
        }
        let mut wanted = -self.accounts.free(account, usdc);
        for asset in 0..self.spec.assets.len() {
            let owed = self.borrowed_amount(account, asset);
            if owed > 0 {
                wanted = wanted.saturating_add(self.debt_worth(asset, owed));
            }
        }
        if wanted > 0 {
            self.raise_settlement(account, wanted);
        }
        self.repay_from_own(account, usdc);
        for asset in 0..self.spec.assets.len() {
            let owed = self.borrowed_amount(account, asset);
            if owed > 0 {
                self.pay_lenders_in_notional(account, asset, owed)?;
            }
        }
        self.cover_settlement_shortfall(account)
    }

    /// Settlement atoms that `owed` atoms of `asset` are worth at the index, rounded up.
    fn debt_worth(&self, asset: usize, owed: i64) -> i64 {
        let risk = &self.risk.assets[asset];
        i64::try_from(ceil_div(i128::from(owed) * i128::from(risk.price), i128::from(risk.unit))).unwrap_or(i64::MAX)
    }

    /// Adds up to `wanted` atoms to `account`'s settlement-asset holding by converting its other
    /// free collateral at the index less the conversion discount, in asset order.
    fn raise_settlement(&mut self, account: AccountId, wanted: i64) {
        let usdc = self.spec.settlement_asset;
        let usdc_slot = self.accounts.asset_slot(account, usdc);
        let start = self.accounts.holding[usdc_slot];
        for asset in 0..self.spec.assets.len() {
            let raised = self.accounts.holding[usdc_slot] - start;
            if raised >= wanted {
                break;
            }
            if asset != usdc {
                self.convert_to_settlement(account, asset, wanted - raised);
            }
        }
    }

    /// Writes off `owed` atoms of `account`'s `asset` borrow and pays its lenders its value in the
    /// settlement asset (see the module docs).
    fn pay_lenders_in_notional(&mut self, account: AccountId, asset: usize, owed: i64) -> Result<(), ExchangeError> {
        let before = self.margin(account)?.mmr;
        let usdc = self.spec.settlement_asset;
        let worth = self.debt_worth(asset, owed);
        let usdc_slot = self.accounts.asset_slot(account, usdc);
        let from_account = self.accounts.free(account, usdc).clamp(0, worth);
        self.accounts.holding[usdc_slot] -= from_account;
        let from_fund = (worth - from_account).min(self.venue.liquidation_fund[usdc].max(0));
        self.venue.liquidation_fund[usdc] -= from_fund;
        let socialized = worth - from_account - from_fund;
        // The debt leaves the pool; the lenders' claims shrink by as much.
        let slot = self.accounts.asset_slot(account, asset);
        let shares = self.accounts.borrow_shares[slot];
        self.accounts.borrow_shares[slot] = 0;
        self.pools[asset].borrow_shares -= u128::from(shares.unsigned_abs());
        self.shrink_lenders(asset, owed);
        let delivered = from_account + from_fund;
        let paid = self.pay_lenders(asset, delivered);
        self.venue.fees[usdc] += delivered - paid;
        self.record(account, LiquidationStage::LenderPayout, before, |step| {
            step.asset = Some(asset);
            (step.quantity, step.notional) = (owed, delivered);
        })?;
        if socialized > 0 {
            // The part of the debt nobody paid for, in the asset (rounded down).
            let unpaid = i128::from(owed) * i128::from(socialized) / i128::from(worth.max(1));
            self.record(account, LiquidationStage::SocializedLoss, before, |step| {
                step.asset = Some(asset);
                (step.quantity, step.notional) = (i64::try_from(unpaid).expect("a part of the debt"), socialized);
            })?;
        }
        Ok(())
    }

    /// Lowers `asset`'s lend index so that lenders' claims fall by at least `amount` atoms. If
    /// nothing would be left of them, their shares are retired and the index restarts at 1 (an
    /// index of 0 would price new lends at infinitely many shares); O(accounts) then.
    fn shrink_lenders(&mut self, asset: usize, amount: i64) {
        let pool = &mut self.pools[asset];
        if pool.lend_shares == 0 {
            return;
        }
        let target = pool.lent().saturating_sub(u128::from(amount.unsigned_abs()));
        let index = target.saturating_mul(INDEX_ONE) / pool.lend_shares;
        if index > 0 {
            pool.lend_index = index;
            return;
        }
        pool.lend_shares = 0;
        pool.lend_index = INDEX_ONE;
        for account in 0..self.accounts.len() {
            let account = AccountId::try_from(account).expect("account ids fit u32");
            let slot = self.accounts.asset_slot(account, asset);
            self.accounts.lend_shares[slot] = 0;
        }
    }

    /// Credits `amount` settlement atoms to `asset`'s lenders pro rata to their shares (rounded
    /// down); returns what was credited.
    fn pay_lenders(&mut self, asset: usize, amount: i64) -> i64 {
        let total = self.pools[asset].lend_shares;
        if amount <= 0 || total == 0 {
            return 0;
        }
        let usdc = self.spec.settlement_asset;
        let mut paid = 0;
        for lender in 0..self.accounts.len() {
            let lender = AccountId::try_from(lender).expect("account ids fit u32");
            let shares = self.accounts.lend_shares[self.accounts.asset_slot(lender, asset)];
            if shares <= 0 {
                continue;
            }
            let share = u128::from(amount.unsigned_abs()) * u128::from(shares.unsigned_abs()) / total;
            let share = i64::try_from(share).expect("a part of amount");
            let slot = self.accounts.asset_slot(lender, usdc);
            self.accounts.holding[slot] += share;
            paid += share;
        }
        paid
    }

    /// Covers a negative settlement-asset holding: the liquidation fund, then the settlement asset's
    /// lenders (up to the pool's cash), then the venue's fee account.
    fn cover_settlement_shortfall(&mut self, account: AccountId) -> Result<(), ExchangeError> {
        let usdc = self.spec.settlement_asset;
        let slot = self.accounts.asset_slot(account, usdc);
        let short = -self.accounts.holding[slot];
        if short <= 0 {
            return Ok(());
        }
        let before = self.margin(account)?.mmr;
        let from_fund = short.min(self.venue.liquidation_fund[usdc].max(0));
        self.venue.liquidation_fund[usdc] -= from_fund;
        let from_lenders = (short - from_fund).min(self.pools[usdc].cash_atoms());
        if from_lenders > 0 {
            self.shrink_lenders(usdc, from_lenders);
            self.pools[usdc].cash -= i128::from(from_lenders);
        }
        let from_venue = short - from_fund - from_lenders;
        self.venue.fees[usdc] -= from_venue;
        self.accounts.holding[slot] = 0;
        self.record(account, LiquidationStage::SocializedLoss, before, |step| {
            step.asset = Some(usdc);
            (step.quantity, step.notional) = (short, from_lenders + from_venue);
        })
    }
}

/// A liquidation's IOC limit order.
fn liquidation_command(side: Side, price: Price, quantity: Qty, reduce_only: bool) -> OrderCommand {
    OrderCommand {
        time_in_force: TimeInForce::Ioc,
        reduce_only,
        self_trade_prevention: SelfTradePrevention::Allow,
        ..OrderCommand::limit(side, price, quantity)
    }
}
