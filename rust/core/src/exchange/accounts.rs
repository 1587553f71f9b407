//! Owners, subaccounts and their balances and positions, stored as columns.
//!
//! Every per-account quantity is a column indexed by account id (and asset or perp market,
//! row-major), so the margin scan reads contiguous memory and never loops in Python. A subaccount
//! is its own wallet and cross-margin pool; nothing here moves value between accounts.
//!
//! `holding[a][k]` is the account's whole signed holding of asset `k` in atoms, including what open
//! spot orders lock (`locked[a][k]`, ≥ 0); free = holding − locked. A negative holding is a debt
//! (a settlement the account could not pay from its own balance), valued as a liability. What it
//! has lent or borrowed through the pools is counted in pool shares (`lend_shares`,
//! `borrow_shares`); the risk kernel sees holding + lent − borrowed.

use crate::risk::{AccountState, Columns};

use super::events::AccountId;

/// An owner and their subaccounts, main first.
#[derive(Clone, Debug)]
pub struct Owner {
    pub name: String,
    pub accounts: Vec<AccountId>,
}

#[derive(Clone, Debug, Default)]
pub struct Accounts {
    assets: usize,
    perps: usize,
    pub owner: Vec<u32>,
    pub label: Vec<String>,
    pub holding: Vec<i64>,
    pub locked: Vec<i64>,
    /// Shares of the asset's pool lent and owed (see `lending`).
    pub lend_shares: Vec<i64>,
    pub borrow_shares: Vec<i64>,
    pub net_qty: Vec<i64>,
    pub net_cost: Vec<i64>,
    /// Per perp: the cost basis since the position opened, which realizing PnL does not reset (the
    /// PnL % that ranks ADL counterparties).
    pub entry_cost: Vec<i64>,
    pub open_bids: Vec<i64>,
    pub open_asks: Vec<i64>,
    /// Per perp: settlement atoms of funding paid (positive) or received (negative), cumulative.
    pub funding: Vec<i64>,
    pub max_leverage: Vec<u32>,
    /// [`Setting`] bits.
    pub settings: Vec<u8>,
}

/// A per-subaccount switch (all on by default); the lending and settlement jobs read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Setting {
    AutoLend = 1,
    AutoBorrowSettlements = 2,
    AutoRepayBorrows = 4,
    AutoRealizePnl = 8,
}

impl Setting {
    pub const ALL: [Setting; 4] =
        [Setting::AutoLend, Setting::AutoBorrowSettlements, Setting::AutoRepayBorrows, Setting::AutoRealizePnl];

    /// The name Python sees.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Setting::AutoLend => "auto_lend",
            Setting::AutoBorrowSettlements => "auto_borrow_settlements",
            Setting::AutoRepayBorrows => "auto_repay_borrows",
            Setting::AutoRealizePnl => "auto_realize_pnl",
        }
    }
}

impl Accounts {
    #[must_use]
    pub fn new(assets: usize, perps: usize) -> Self {
        Accounts { assets, perps, ..Accounts::default() }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.owner.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// Appends an empty account with every switch on but those in `off`.
    pub fn open(&mut self, owner: u32, label: String, max_leverage: u32, off: &[Setting]) -> AccountId {
        let id = AccountId::try_from(self.owner.len()).expect("fewer than 2^32 accounts");
        self.owner.push(owner);
        self.label.push(label);
        for column in [&mut self.holding, &mut self.locked, &mut self.lend_shares, &mut self.borrow_shares] {
            column.extend(std::iter::repeat_n(0, self.assets));
        }
        for column in [
            &mut self.net_qty,
            &mut self.net_cost,
            &mut self.entry_cost,
            &mut self.open_bids,
            &mut self.open_asks,
            &mut self.funding,
        ] {
            column.extend(std::iter::repeat_n(0, self.perps));
        }
        self.max_leverage.push(max_leverage);
        let on = Setting::ALL.iter().filter(|setting| !off.contains(setting));
        self.settings.push(on.fold(0, |bits, &setting| bits | setting as u8));
        id
    }

    /// Index of (account, asset) in the asset columns.
    #[inline]
    #[must_use]
    pub fn asset_slot(&self, account: AccountId, asset: usize) -> usize {
        account as usize * self.assets + asset
    }

    /// Index of (account, perp) in the position columns.
    #[inline]
    #[must_use]
    pub fn perp_slot(&self, account: AccountId, perp: usize) -> usize {
        account as usize * self.perps + perp
    }

    #[must_use]
    pub fn setting(&self, account: AccountId, setting: Setting) -> bool {
        self.settings[account as usize] & setting as u8 != 0
    }

    /// Free (unlocked) balance.
    #[must_use]
    pub fn free(&self, account: AccountId, asset: usize) -> i64 {
        let slot = self.asset_slot(account, asset);
        self.holding[slot] - self.locked[slot]
    }

    /// The risk kernel's view of one account.
    #[must_use]
    pub fn state(&self, account: AccountId) -> AccountState<'_> {
        let assets = self.asset_slot(account, 0)..self.asset_slot(account, 0) + self.assets;
        let perps = self.perp_slot(account, 0)..self.perp_slot(account, 0) + self.perps;
        AccountState {
            holdings: &self.holding[assets],
            borrowed: &[],
            net_qty: &self.net_qty[perps.clone()],
            net_cost: &self.net_cost[perps.clone()],
            open_bids: &self.open_bids[perps.clone()],
            open_asks: &self.open_asks[perps],
            max_leverage: self.max_leverage[account as usize],
        }
    }

    /// The risk kernel's view of every account.
    #[must_use]
    pub fn columns(&self) -> Columns<'_> {
        Columns {
            holdings: &self.holding,
            borrowed: &[],
            net_qty: &self.net_qty,
            net_cost: &self.net_cost,
            open_bids: &self.open_bids,
            open_asks: &self.open_asks,
            max_leverage: &self.max_leverage,
        }
    }
}

/// An owned copy of one account's risk inputs, for what-if margin (an order counted, a
/// withdrawal taken, a leverage changed) without touching the live columns.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    pub holdings: Vec<i64>,
    pub borrowed: Vec<i64>,
    pub net_qty: Vec<i64>,
    pub net_cost: Vec<i64>,
    pub open_bids: Vec<i64>,
    pub open_asks: Vec<i64>,
    pub max_leverage: u32,
}

impl Scenario {
    #[must_use]
    pub fn of(state: &AccountState<'_>) -> Self {
        Scenario {
            holdings: state.holdings.to_vec(),
            borrowed: state.borrowed.to_vec(),
            net_qty: state.net_qty.to_vec(),
            net_cost: state.net_cost.to_vec(),
            open_bids: state.open_bids.to_vec(),
            open_asks: state.open_asks.to_vec(),
            max_leverage: state.max_leverage,
        }
    }

    /// Overwrites this scenario with `state`, reusing its buffers.
    pub fn load(&mut self, state: &AccountState<'_>) {
        self.holdings.clear();
        self.holdings.extend_from_slice(state.holdings);
        self.borrowed.clear();
        self.borrowed.extend_from_slice(state.borrowed);
        self.net_qty.clear();
        self.net_qty.extend_from_slice(state.net_qty);
        self.net_cost.clear();
        self.net_cost.extend_from_slice(state.net_cost);
        self.open_bids.clear();
        self.open_bids.extend_from_slice(state.open_bids);
        self.open_asks.clear();
        self.open_asks.extend_from_slice(state.open_asks);
        self.max_leverage = state.max_leverage;
    }

    #[must_use]
    pub fn state(&self) -> AccountState<'_> {
        AccountState {
            holdings: &self.holdings,
            borrowed: &self.borrowed,
            net_qty: &self.net_qty,
            net_cost: &self.net_cost,
            open_bids: &self.open_bids,
            open_asks: &self.open_asks,
            max_leverage: self.max_leverage,
        }
    }
}
