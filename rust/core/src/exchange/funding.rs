//! Funding of perpetuals (SPEC §8): premium samples in the engine, payments at each interval.
//!
//! Contract:
//! - Every price update samples, for each perpetual with a two-sided book and an index price for its
//!   base asset, the premium `(mid − index) / index` (as f64); [`Engine::funding_premium`] is their
//!   mean since the last payment (0 without samples).
//! - The rate is policy (the caller clamps premium and interest as SPEC §8 says) and arrives in
//!   units of 1e-18 per interval. [`Engine::pay_funding`] moves `net_qty × mark × rate` from longs to
//!   shorts when the rate is positive (the reverse when negative): payers pay their amount rounded
//!   up (through the settlement chain), receivers get theirs rounded down, and the difference — the
//!   rounding dust — goes to the venue's fee account, so funding is zero-sum to the atom. Then the
//!   samples reset. O(accounts) per market.
//! - A perpetual may carry a fixed rate ([`Engine::set_fixed_funding_rate`], e.g. a replayed
//!   venue's recorded one) that the policy pays instead of the premium's; it is state (hashed and
//!   snapshotted) until cleared.

use super::*;

/// Premium samples of one perpetual since its last funding payment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PremiumSamples {
    pub sum: f64,
    pub count: u64,
}

impl Engine {
    /// Samples the premium of every perpetual (after a price update).
    pub(super) fn sample_premiums(&mut self) {
        for market in 0..self.spec.markets.len() {
            if self.perp_of_market[market].is_none() {
                continue;
            }
            let book = &self.books[market];
            let (Some((bid, _)), Some((ask, _)), Some(index)) =
                (book.best(Side::Bid), book.best(Side::Ask), self.index_in_ticks(market))
            else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let premium = ((bid + ask) as f64 / 2.0 - index as f64) / index as f64;
            let samples = &mut self.premiums[market];
            samples.sum += premium;
            samples.count += 1;
        }
    }

    /// Forgets every market's premium samples (what a funding payment does, for an interval skipped
    /// because nothing could be paid).
    pub fn reset_premiums(&mut self) {
        self.premiums.fill(PremiumSamples::default());
    }

    /// Fixes (`Some`) or clears (`None`) the rate of a perpetual's next payments, in 1e-18 per
    /// interval.
    ///
    /// # Errors
    /// Unknown market, a spot market, or a rate whose magnitude is not below 1.
    pub fn set_fixed_funding_rate(&mut self, market: usize, rate_e18: Option<i128>) -> Result<(), ExchangeError> {
        self.check_market(market)?;
        if self.perp_of_market[market].is_none() {
            return Err(ExchangeError::InvalidRequest("only perpetuals pay funding"));
        }
        if rate_e18.is_some_and(|rate| rate.unsigned_abs() >= 1_000_000_000_000_000_000) {
            return Err(ExchangeError::InvalidRequest("a funding rate per interval must be within (-1, 1)"));
        }
        self.fixed_funding_e18[market] = rate_e18;
        Ok(())
    }

    /// The fixed funding rate of a market, if one is set (1e-18 per interval).
    #[must_use]
    pub fn fixed_funding_rate(&self, market: usize) -> Option<i128> {
        self.fixed_funding_e18[market]
    }

    /// The mean premium of a perpetual since its last funding payment (0 without samples).
    #[must_use]
    pub fn funding_premium(&self, market: usize) -> f64 {
        let samples = self.premiums[market];
        if samples.count == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let mean = samples.sum / samples.count as f64;
            mean
        }
    }

    /// Pays one interval of funding on a perpetual at `rate_e18` (see the module docs).
    ///
    /// # Errors
    /// A market that is not a perpetual.
    pub fn pay_funding(&mut self, market: usize, rate_e18: i128) -> Result<(), ExchangeError> {
        let perp = self.perp_of_market[market].ok_or(ExchangeError::InvalidRequest("spot markets have no funding"))?;
        self.premiums[market] = PremiumSamples::default();
        let mark = self.risk.markets[perp].mark;
        if rate_e18 == 0 || mark <= 0 {
            return Ok(());
        }
        let per_lot = i128::from(mark) * i128::from(self.risk.markets[perp].notional_per_tick_lot);
        let one = i128::try_from(INDEX_ONE).expect("1e18 fits i128");
        let (mut paid, mut received) = (0i128, 0i128);
        let usdc = self.spec.settlement_asset;
        for account in 0..self.accounts.len() {
            let account = AccountId::try_from(account).expect("account ids fit u32");
            let position = self.accounts.net_qty[self.accounts.perp_slot(account, perp)];
            if position == 0 {
                continue;
            }
            // Positive: this account pays (a long when the rate is positive, a short when negative).
            let owed = i128::from(position) * per_lot * rate_e18;
            let amount = if owed > 0 { (owed + one - 1) / one } else { owed / one };
            let Ok(amount) = i64::try_from(amount) else { continue };
            if amount > 0 {
                self.pay(account, amount);
                paid += i128::from(amount);
            } else if amount < 0 {
                let slot = self.accounts.asset_slot(account, usdc);
                self.accounts.holding[slot] -= amount;
                received -= i128::from(amount);
            }
            if amount != 0 {
                let slot = self.accounts.perp_slot(account, perp);
                self.accounts.funding[slot] = self.accounts.funding[slot].saturating_add(amount);
                self.emit(EventKind::FundingPaid { account, market, amount });
            }
        }
        let dust = i64::try_from(paid - received).expect("dust is at most an atom per position");
        self.venue.fees[usdc] += dust;
        Ok(())
    }
}
