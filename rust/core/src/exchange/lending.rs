//! Borrow/lend pools (SPEC §7): one pool per asset, with cumulative indices so that accruing
//! interest costs O(assets), not O(accounts).
//!
//! Contract:
//! - A subaccount's lend is `lend_shares × lend_index` (rounded down) and its borrow
//!   `borrow_shares × borrow_index` (rounded up); indices start at 1 (`INDEX_ONE`) and only grow,
//!   except that a liquidation's write-off lowers the lend index (`exchange::liquidation`).
//! - Lending and borrowing move atoms between the subaccount's holding and the pool's cash;
//!   interest moves none: it grows the borrow index (what borrowers owe) and the lend index
//!   (lenders' claims, their share of the interest, rounded down). So every asset keeps
//!   reconciling: Σ holdings + pool cash + venue accounts = deposits − withdrawals, and the pool's
//!   income — cash + borrowed − lent — is the venue's fee plus every rounding's dust, never negative.
//! - Rounding goes against the account: shares bought by a lend and shares burnt by a repay round
//!   down, shares owed by a borrow and burnt by a redeem round up.
//! - The rate is policy: the caller passes the interval rate (from the pool's curve at its
//!   utilization) in units of 1e-18. A new borrow pays, at once, an entry fee for the part of the
//!   interval until the next boundary, added to its debt.
//! - Voluntary redemptions and new borrows are refused when the pool's utilization would pass the
//!   throttle threshold; settlement ones when it would pass `max_utilization`; all of them when the
//!   pool's cash cannot pay them. New lends and borrows are refused past the asset's open
//!   borrow/lend limit.

use super::*;

/// 1.0 in the fixed point of indices and rates (1e18).
pub const INDEX_ONE: u128 = 1_000_000_000_000_000_000;

/// One asset's pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub lend_index: u128,
    pub borrow_index: u128,
    pub lend_shares: u128,
    pub borrow_shares: u128,
    /// Atoms the pool holds: lent in minus redeemed, minus borrowed out plus repaid.
    pub cash: i128,
    /// The rate per interval of the last accrual or borrow (1e-18), for settlement borrows.
    pub rate_e18: u128,
}

impl Default for Pool {
    fn default() -> Self {
        Pool { lend_index: INDEX_ONE, borrow_index: INDEX_ONE, lend_shares: 0, borrow_shares: 0, cash: 0, rate_e18: 0 }
    }
}

fn floor_mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    a.checked_mul(b).map(|product| product / c)
}

fn ceil_mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    a.checked_mul(b).map(|product| product.div_ceil(c))
}

impl Pool {
    /// Lenders' claims, in atoms.
    #[must_use]
    pub fn lent(&self) -> u128 {
        floor_mul_div(self.lend_shares, self.lend_index, INDEX_ONE).unwrap_or(u128::MAX)
    }

    /// Borrowers' debts, in atoms.
    #[must_use]
    pub fn borrowed(&self) -> u128 {
        ceil_mul_div(self.borrow_shares, self.borrow_index, INDEX_ONE).unwrap_or(u128::MAX)
    }

    /// Borrowed over lent (0 for an empty pool).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn utilization(&self) -> f64 {
        match self.lent() {
            0 => 0.0,
            lent => self.borrowed() as f64 / lent as f64,
        }
    }

    /// The pool's cash as atoms an account could receive.
    #[must_use]
    pub fn cash_atoms(&self) -> i64 {
        i64::try_from(self.cash.max(0)).unwrap_or(i64::MAX)
    }

    /// The venue's accrued lending income (fees and dust): cash + borrowed − lent.
    #[must_use]
    pub fn income(&self) -> i128 {
        let (borrowed, lent) = (i128::try_from(self.borrowed()), i128::try_from(self.lent()));
        self.cash + borrowed.unwrap_or(i128::MAX) - lent.unwrap_or(i128::MAX)
    }
}

/// Why a lending command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LendingRefusal {
    /// The pool's cash cannot pay it now.
    PoolCash,
    /// Utilization would pass the throttle threshold.
    Throttled,
    /// More than the subaccount has lent.
    ExceedsLend,
    /// An amount too small to buy one share.
    TooSmall,
    /// The pool is at its open borrow/lend limit.
    Limit,
}

impl LendingRefusal {
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            LendingRefusal::PoolCash => "the pool's cash cannot pay it now (utilization at its maximum)",
            LendingRefusal::Throttled => "the pool is throttled: utilization would pass the threshold",
            LendingRefusal::ExceedsLend => "more than the subaccount has lent",
            LendingRefusal::TooSmall => "the amount is too small to buy one share of the pool",
            LendingRefusal::Limit => "the pool is at its open borrow/lend limit",
        }
    }
}

impl Engine {
    /// What a subaccount has lent of an asset, in atoms.
    #[must_use]
    pub fn lent_amount(&self, account: AccountId, asset: usize) -> i64 {
        let shares = u128::from(self.accounts.lend_shares[self.accounts.asset_slot(account, asset)].unsigned_abs());
        let amount = floor_mul_div(shares, self.pools[asset].lend_index, INDEX_ONE).unwrap_or(u128::MAX);
        i64::try_from(amount).unwrap_or(i64::MAX)
    }

    /// What a subaccount owes of an asset, in atoms.
    #[must_use]
    pub fn borrowed_amount(&self, account: AccountId, asset: usize) -> i64 {
        let shares = u128::from(self.accounts.borrow_shares[self.accounts.asset_slot(account, asset)].unsigned_abs());
        let amount = ceil_mul_div(shares, self.pools[asset].borrow_index, INDEX_ONE).unwrap_or(u128::MAX);
        i64::try_from(amount).unwrap_or(i64::MAX)
    }

    /// Every pool, by asset.
    #[must_use]
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// Whether adding `amount` to a pool side of size `current` passes the asset's open limit.
    fn past_limit(&self, asset: usize, current: u128, amount: i64) -> bool {
        self.spec.assets[asset].open_borrow_lend_limit.is_some_and(|limit| {
            current.saturating_add(u128::from(amount.unsigned_abs())) > u128::from(limit.unsigned_abs())
        })
    }

    fn lending_refused(&self, asset: usize, refusal: LendingRefusal) -> ExchangeError {
        ExchangeError::LendingRefused { asset: self.spec.assets[asset].symbol.clone(), reason: refusal.describe() }
    }

    /// Lends free balance to the asset's pool.
    ///
    /// # Errors
    /// Unknown account, a non-positive amount, more than the free balance, or too small an amount.
    pub fn lend(&mut self, account: AccountId, asset: usize, amount: i64) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        check_positive("lend", amount)?;
        let available = self.accounts.free(account, asset);
        if amount > available {
            return Err(ExchangeError::InsufficientBalance {
                asset: self.spec.assets[asset].symbol.clone(),
                needed: self.format_amount(asset, amount),
                available: self.format_amount(asset, available),
            });
        }
        let pool = &self.pools[asset];
        let shares = floor_mul_div(amount.unsigned_abs().into(), INDEX_ONE, pool.lend_index).unwrap_or(0);
        let shares = i64::try_from(shares).ok().filter(|&shares| shares > 0);
        let Some(shares) = shares else { return Err(self.lending_refused(asset, LendingRefusal::TooSmall)) };
        if self.past_limit(asset, pool.lent(), amount) {
            return Err(self.lending_refused(asset, LendingRefusal::Limit));
        }
        let slot = self.accounts.asset_slot(account, asset);
        self.accounts.holding[slot] -= amount;
        self.accounts.lend_shares[slot] += shares;
        let pool = &mut self.pools[asset];
        pool.cash += i128::from(amount);
        pool.lend_shares += u128::from(shares.unsigned_abs());
        self.emit(EventKind::Lend { account, asset, amount });
        Ok(())
    }

    /// Whether a voluntary redemption of `amount` would be served now.
    #[must_use]
    pub fn can_redeem(&self, account: AccountId, asset: usize, amount: i64) -> bool {
        amount > 0 && self.redemption(account, asset, amount, true).is_ok()
    }

    /// The pool after `account` redeems `amount`, and the shares it burns; or why it cannot.
    fn redemption(
        &self,
        account: AccountId,
        asset: usize,
        amount: i64,
        voluntary: bool,
    ) -> Result<(Pool, i64), LendingRefusal> {
        let lent = self.lent_amount(account, asset);
        if amount > lent {
            return Err(LendingRefusal::ExceedsLend);
        }
        let owned = self.accounts.lend_shares[self.accounts.asset_slot(account, asset)];
        let pool = &self.pools[asset];
        let burnt = if amount == lent {
            owned
        } else {
            let shares = ceil_mul_div(amount.unsigned_abs().into(), INDEX_ONE, pool.lend_index).unwrap_or(u128::MAX);
            i64::try_from(shares).unwrap_or(i64::MAX).min(owned)
        };
        if pool.cash < i128::from(amount) {
            return Err(LendingRefusal::PoolCash);
        }
        let mut after = pool.clone();
        after.lend_shares -= u128::from(burnt.unsigned_abs());
        after.cash -= i128::from(amount);
        let ceiling = if voluntary { self.spec.venue.throttle_threshold } else { self.spec.venue.max_utilization };
        if after.borrowed() > 0 && after.utilization() > ceiling {
            return Err(LendingRefusal::Throttled);
        }
        Ok((after, burnt))
    }

    /// A settlement's redemption (not voluntary): redeems the most of `account`'s `asset` lends,
    /// up to `amount`, that the pool's cash and `max_utilization` allow; returns the atoms redeemed.
    /// Bisection over the amount: O(log amount) pool computations.
    pub(super) fn redeem_up_to(&mut self, account: AccountId, asset: usize, amount: i64) -> i64 {
        let (mut fits, mut refused) = (0, amount.min(self.lent_amount(account, asset)).saturating_add(1));
        while refused - fits > 1 {
            let middle = fits + (refused - fits) / 2;
            if self.redemption(account, asset, middle, false).is_ok() {
                fits = middle;
            } else {
                refused = middle;
            }
        }
        if fits > 0 {
            self.redeem(account, asset, fits, false).expect("the amount was just checked");
        }
        fits
    }

    /// The last stage of a liquidation: the venue's fee account buys `amount` atoms of `account`'s
    /// `asset` lend that the pool has no cash to redeem. The subaccount's shares are burnt (as a
    /// redemption burns them, rounded up) and it receives the atoms from the fee account; the pool's
    /// cash is untouched, so its income — the venue's — grows by what the lenders' claims fell. The
    /// venue is left whole once the borrowers repay.
    pub(super) fn venue_buys_lend(&mut self, account: AccountId, asset: usize, amount: i64) {
        let lent = self.lent_amount(account, asset);
        let amount = amount.min(lent);
        if amount <= 0 {
            return;
        }
        let slot = self.accounts.asset_slot(account, asset);
        let owned = self.accounts.lend_shares[slot];
        let burnt = if amount == lent {
            owned
        } else {
            let shares = ceil_mul_div(amount.unsigned_abs().into(), INDEX_ONE, self.pools[asset].lend_index)
                .unwrap_or(u128::MAX);
            i64::try_from(shares).unwrap_or(i64::MAX).min(owned)
        };
        self.pools[asset].lend_shares -= u128::from(burnt.unsigned_abs());
        self.accounts.lend_shares[slot] -= burnt;
        self.accounts.holding[slot] += amount;
        self.venue.fees[asset] -= amount;
        self.emit(EventKind::Redeem { account, asset, amount });
    }

    /// Redeems lent balance back to the free balance.
    ///
    /// # Errors
    /// Unknown account, a non-positive amount, more than is lent, a pool without the cash, or (for
    /// a voluntary redemption) a throttled pool.
    pub fn redeem(
        &mut self,
        account: AccountId,
        asset: usize,
        amount: i64,
        voluntary: bool,
    ) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        check_positive("redemption", amount)?;
        let (after, burnt) = self
            .redemption(account, asset, amount, voluntary)
            .map_err(|refusal| self.lending_refused(asset, refusal))?;
        let slot = self.accounts.asset_slot(account, asset);
        self.pools[asset] = after;
        self.accounts.lend_shares[slot] -= burnt;
        self.accounts.holding[slot] += amount;
        self.emit(EventKind::Redeem { account, asset, amount });
        Ok(())
    }

    /// Borrows from the asset's pool into the free balance, paying an entry fee (added to the debt)
    /// for the rest of the current interest interval at `interval_rate_e18`.
    ///
    /// # Errors
    /// Unknown account, a non-positive amount, a pool without the cash or throttled, or margin that
    /// would not hold with the borrow counted.
    pub fn borrow(
        &mut self,
        account: AccountId,
        asset: usize,
        amount: i64,
        interval_rate_e18: u128,
    ) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        check_positive("borrow", amount)?;
        self.borrow_inner(account, asset, amount, interval_rate_e18, true)
    }

    /// A settlement's borrow: at the pool's last rate, past the throttle, without a margin check.
    pub(super) fn borrow_unchecked(
        &mut self,
        account: AccountId,
        asset: usize,
        amount: i64,
    ) -> Result<(), ExchangeError> {
        let rate = self.pools[asset].rate_e18;
        self.borrow_inner(account, asset, amount, rate, false)
    }

    fn borrow_inner(
        &mut self,
        account: AccountId,
        asset: usize,
        amount: i64,
        interval_rate_e18: u128,
        voluntary: bool,
    ) -> Result<(), ExchangeError> {
        let interval = self.spec.venue.interest_interval_ms;
        let remaining = interval - self.time_ms.rem_euclid(interval);
        let entry_fee = entry_fee(amount, interval_rate_e18, remaining, interval);
        let debt = amount.checked_add(entry_fee).ok_or(ExchangeError::Risk(RiskError::Overflow("borrow")))?;
        let (mut after, shares) =
            self.borrowing(asset, amount, debt, voluntary).map_err(|refusal| self.lending_refused(asset, refusal))?;
        after.rate_e18 = interval_rate_e18;
        if voluntary {
            let mut scenario = self.risk_scenario(account);
            scenario.holdings[asset] += amount;
            scenario.borrowed.resize(self.spec.assets.len(), 0);
            scenario.borrowed[asset] += debt;
            self.check_margin_holds(&scenario)?;
        }
        let slot = self.accounts.asset_slot(account, asset);
        self.pools[asset] = after;
        self.accounts.borrow_shares[slot] += shares;
        self.accounts.holding[slot] += amount;
        self.emit(EventKind::Borrow { account, asset, amount, entry_fee });
        Ok(())
    }

    /// The pool after lending out `amount` for a debt of `debt` atoms, and the shares owed; or why
    /// it cannot (its cash, the open limit and the throttle for a voluntary borrow, `max_utilization`
    /// for a settlement's). The one rule every borrow and every spot-margin pre-check follows.
    pub(super) fn borrowing(
        &self,
        asset: usize,
        amount: i64,
        debt: i64,
        voluntary: bool,
    ) -> Result<(Pool, i64), LendingRefusal> {
        let pool = &self.pools[asset];
        if pool.cash < i128::from(amount) {
            return Err(LendingRefusal::PoolCash);
        }
        if voluntary && self.past_limit(asset, pool.borrowed(), amount) {
            return Err(LendingRefusal::Limit);
        }
        let shares = ceil_mul_div(debt.unsigned_abs().into(), INDEX_ONE, pool.borrow_index)
            .and_then(|shares| i64::try_from(shares).ok())
            .expect("indices start at 1 and only grow, so a debt's shares never exceed it");
        let mut after = pool.clone();
        after.borrow_shares += u128::from(shares.unsigned_abs());
        after.cash -= i128::from(amount);
        let ceiling = if voluntary { self.spec.venue.throttle_threshold } else { self.spec.venue.max_utilization };
        if after.utilization() > ceiling {
            return Err(LendingRefusal::Throttled);
        }
        Ok((after, shares))
    }

    /// Repays up to `amount` of a borrow from the free balance; returns what was repaid.
    ///
    /// # Errors
    /// Unknown account, a non-positive amount, nothing owed, or too little free balance.
    pub fn repay(&mut self, account: AccountId, asset: usize, amount: i64) -> Result<i64, ExchangeError> {
        self.check_account(account)?;
        check_positive("repayment", amount)?;
        let owed = self.borrowed_amount(account, asset);
        let repaid = amount.min(owed);
        let available = self.accounts.free(account, asset);
        if repaid == 0 || repaid > available {
            return Err(ExchangeError::InsufficientBalance {
                asset: self.spec.assets[asset].symbol.clone(),
                needed: self.format_amount(asset, repaid.max(1)),
                available: self.format_amount(asset, available),
            });
        }
        let slot = self.accounts.asset_slot(account, asset);
        let owned = self.accounts.borrow_shares[slot];
        let burnt = if repaid == owed {
            owned
        } else {
            let shares = floor_mul_div(repaid.unsigned_abs().into(), INDEX_ONE, self.pools[asset].borrow_index);
            i64::try_from(shares.unwrap_or(0)).unwrap_or(0).min(owned)
        };
        self.accounts.borrow_shares[slot] -= burnt;
        self.accounts.holding[slot] -= repaid;
        let pool = &mut self.pools[asset];
        pool.borrow_shares -= u128::from(burnt.unsigned_abs());
        pool.cash += i128::from(repaid);
        self.emit(EventKind::Repay { account, asset, amount: repaid });
        Ok(repaid)
    }

    /// Accrues one interval of interest on an asset's pool: borrowers owe `interval_rate_e18` more
    /// (their debts rounded up), lenders receive `lender_share_e18` of that interest (rounded down),
    /// the venue keeps the rest. O(1).
    ///
    /// # Errors
    /// An index that would overflow.
    pub fn accrue_interest(
        &mut self,
        asset: usize,
        interval_rate_e18: u128,
        lender_share_e18: u128,
    ) -> Result<(), ExchangeError> {
        let overflow = || ExchangeError::Risk(RiskError::Overflow("interest index"));
        let pool = &self.pools[asset];
        let before = pool.borrowed();
        let growth = ceil_mul_div(pool.borrow_index, interval_rate_e18, INDEX_ONE).ok_or_else(overflow)?;
        let mut after = pool.clone();
        after.rate_e18 = interval_rate_e18;
        after.borrow_index = after.borrow_index.checked_add(growth).ok_or_else(overflow)?;
        let interest = after.borrowed().saturating_sub(before);
        let lender_income = floor_mul_div(interest, lender_share_e18.min(INDEX_ONE), INDEX_ONE).ok_or_else(overflow)?;
        if after.lend_shares > 0 {
            let step = floor_mul_div(lender_income, INDEX_ONE, after.lend_shares).ok_or_else(overflow)?;
            after.lend_index = after.lend_index.checked_add(step).ok_or_else(overflow)?;
        }
        self.pools[asset] = after;
        let to_i64 = |value: u128| i64::try_from(value).unwrap_or(i64::MAX);
        self.emit(EventKind::InterestAccrued { asset, interest: to_i64(interest), lenders: to_i64(lender_income) });
        Ok(())
    }
}

/// `ceil(amount × rate × remaining / interval)`, exactly when it fits 128 bits (else the full
/// interval's interest, rounded up, times the fraction, rounded up again: at most an atom more).
fn entry_fee(amount: i64, rate_e18: u128, remaining: i64, interval: i64) -> i64 {
    let amount = u128::from(amount.unsigned_abs());
    let (remaining, interval) = (u128::from(remaining.unsigned_abs()), u128::from(interval.unsigned_abs()));
    let exact = amount
        .checked_mul(rate_e18)
        .and_then(|value| value.checked_mul(remaining))
        .and_then(|value| interval.checked_mul(INDEX_ONE).map(|scale| value.div_ceil(scale)));
    let fee = exact.unwrap_or_else(|| {
        let full = amount.saturating_mul(rate_e18).div_ceil(INDEX_ONE);
        full.saturating_mul(remaining).div_ceil(interval)
    });
    i64::try_from(fee).unwrap_or(i64::MAX)
}
