//! Settlement in the settlement asset (SPEC §8): paying fees and losses, and realizing PnL.
//!
//! Contract:
//! - [`Engine::pay`] pays an amount of the settlement asset for a subaccount, in this order: its
//!   free balance; then its lends of the settlement asset, redeemed whatever the throttle while the
//!   pool has cash; then a borrow (if `auto_borrow_settlements`), while the pool has cash, at the
//!   pool's last rate with the entry fee and without a margin check (a settlement must happen);
//!   then its other free collateral, in asset order, converted at the index price less the
//!   conversion discount (the venue's conversion account takes the asset and pays the USDC); what
//!   is still missing stays owed as a negative holding. Each step is an event.
//! - [`Engine::realize_pnl`] (every realize interval, for subaccounts with `auto_realize_pnl`) moves
//!   each position's unrealized PnL at the mark into the settlement asset — a profit credited, a
//!   loss paid as above — and resets the cost basis to `net_qty × mark`; sizes do not change.
//! - [`Engine::sweep_free_balances`] (on deposit and at every realize tick) repays borrows from free
//!   balance for subaccounts with `auto_repay_borrows`, then lends what stays free for those with
//!   `auto_lend` — so realized profits end up lent.
//! - Everything moves through venue accounts, so every asset keeps reconciling.

use super::*;

impl Engine {
    /// Pays `amount` atoms of the settlement asset for `account` (see the module docs).
    pub(crate) fn pay(&mut self, account: AccountId, amount: i64) {
        let usdc = self.spec.settlement_asset;
        let slot = self.accounts.asset_slot(account, usdc);
        let free = (self.accounts.holding[slot] - self.accounts.locked[slot]).max(0);
        let mut missing = amount - free.min(amount);
        if missing > 0 {
            let redeemable = self.lent_amount(account, usdc).min(missing).min(self.pools[usdc].cash_atoms());
            if redeemable > 0 && self.redeem(account, usdc, redeemable, false).is_ok() {
                missing -= redeemable;
            }
        }
        if missing > 0 && self.accounts.setting(account, Setting::AutoBorrowSettlements) {
            let borrowable = missing.min(self.pools[usdc].cash_atoms());
            if borrowable > 0 && self.borrow_unchecked(account, usdc, borrowable).is_ok() {
                missing -= borrowable;
            }
        }
        for asset in 0..self.spec.assets.len() {
            if missing <= 0 {
                break;
            }
            if asset != usdc {
                missing -= self.convert_to_settlement(account, asset, missing);
            }
        }
        self.accounts.holding[slot] -= amount;
    }

    /// Credits a positive settlement amount to `account`'s holding, or pays a negative one (as
    /// [`Engine::pay`] does).
    pub(crate) fn credit_or_pay(&mut self, account: AccountId, amount: i64) {
        if amount >= 0 {
            let slot = self.accounts.asset_slot(account, self.spec.settlement_asset);
            self.accounts.holding[slot] += amount;
        } else {
            self.pay(account, -amount);
        }
    }

    /// Sells enough of `account`'s free `asset` to the venue at index × (1 − discount) to raise up to
    /// `wanted` settlement atoms; returns the atoms raised.
    pub(super) fn convert_to_settlement(&mut self, account: AccountId, asset: usize, wanted: i64) -> i64 {
        let slot = self.accounts.asset_slot(account, asset);
        let free = self.accounts.holding[slot] - self.accounts.locked[slot];
        let price = self.risk.assets[asset].price;
        if free <= 0 || price <= 0 || !self.index_set[asset] {
            return 0;
        }
        let unit = i128::from(self.spec.assets[asset].unit());
        // Settlement atoms per whole unit after the discount, rounded down (against the account).
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let discounted = ((price as f64) * (1.0 - self.spec.venue.conversion_discount)).floor() as i128;
        if discounted <= 0 {
            return 0;
        }
        // The fewest atoms of the asset that raise `wanted`, capped by what is free.
        let needed = (i128::from(wanted) * unit).div_euclid(discounted)
            + i128::from((i128::from(wanted) * unit).rem_euclid(discounted) != 0);
        let sold = i64::try_from(needed.min(i128::from(free))).expect("capped by a holding");
        let raised = i64::try_from(i128::from(sold) * discounted / unit).expect("a fraction of a holding's value");
        let usdc = self.spec.settlement_asset;
        let usdc_slot = self.accounts.asset_slot(account, usdc);
        self.accounts.holding[slot] -= sold;
        self.accounts.holding[usdc_slot] += raised;
        self.venue.conversions[asset] += sold;
        self.venue.conversions[usdc] -= raised;
        self.emit(EventKind::Conversion { account, asset, sold, raised });
        raised
    }

    /// Realizes every position's PnL at the mark for subaccounts with `auto_realize_pnl`.
    pub fn realize_pnl(&mut self) {
        for account in 0..self.accounts.len() {
            let account = AccountId::try_from(account).expect("account ids fit u32");
            if !self.accounts.setting(account, Setting::AutoRealizePnl) {
                continue;
            }
            for market in 0..self.perp_of_market.len() {
                let Some(perp) = self.perp_of_market[market] else { continue };
                let slot = self.accounts.perp_slot(account, perp);
                let (position, cost) = (self.accounts.net_qty[slot], self.accounts.net_cost[slot]);
                let mark = self.risk.markets[perp].mark;
                if position == 0 && cost == 0 || mark <= 0 {
                    continue;
                }
                let value =
                    i128::from(position) * i128::from(mark) * i128::from(self.risk.markets[perp].notional_per_tick_lot);
                let Ok(value) = i64::try_from(value) else { continue };
                let pnl = value - cost;
                if pnl == 0 {
                    continue;
                }
                self.accounts.net_cost[slot] = value;
                self.venue.pnl_clearing -= pnl;
                self.credit_or_pay(account, pnl);
                self.emit(EventKind::PnlRealized { account, market, amount: pnl });
            }
        }
    }
}

impl Engine {
    /// For one subaccount: repays its borrows from free balance (`auto_repay_borrows`), then lends
    /// what stays free (`auto_lend`), asset by asset. Amounts the pools refuse (too small to buy a
    /// share) stay free.
    pub fn sweep_free_balances(&mut self, account: AccountId) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        let (repay, lend) = (
            self.accounts.setting(account, Setting::AutoRepayBorrows),
            self.accounts.setting(account, Setting::AutoLend),
        );
        for asset in 0..self.spec.assets.len() {
            let mut free = self.accounts.free(account, asset);
            if free > 0 && repay && self.borrowed_amount(account, asset) > 0 {
                free -= self.repay(account, asset, free).unwrap_or(0);
            }
            if free > 0 && lend {
                // A refusal (an amount below one share) leaves the balance free.
                let _ = self.lend(account, asset, free);
            }
        }
        Ok(())
    }

    /// [`Engine::sweep_free_balances`] for every subaccount (each realize tick). O(accounts × assets).
    pub fn sweep_all_free_balances(&mut self) {
        for account in 0..self.accounts.len() {
            let account = AccountId::try_from(account).expect("account ids fit u32");
            self.sweep_free_balances(account).expect("the account exists");
        }
    }
}
