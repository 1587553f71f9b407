//! The exchange engine: many markets, owners with subaccounts, exact balances, spot and perpetual
//! trading through the order books, and Backpack's cross-margin model (SPEC §1–§6).
//!
//! Contract:
//! - Every command is atomic: it either applies completely or returns an error and changes nothing
//!   (checks come first, mutations after). Trading outcomes — a margin reject, a self-trade, an
//!   expired remainder — are [`Event`]s with a [`Reject`] reason, not errors.
//! - Amounts are integers: asset atoms, market ticks and lots. [`Engine::parse_amount`] and friends
//!   turn exact decimal strings into them and refuse anything that is not a whole number of units.
//! - Rounding goes against the account: fees are rounded up (rebates down) — once per order, on its
//!   cumulative notional, so a spot lock of `fee(notional)` always covers them — and the cost basis
//!   taken off a closed position is rounded up (realized PnL down). Fees go to the venue's fee
//!   account.
//! - Perpetuals settle in the settlement asset (USDC). Realized PnL is paid from and to the venue's
//!   PnL clearing account, so its balance is minus the realized PnL so far, which is also minus the
//!   sum of the open positions' cost bases: it returns to zero when every position is realized at
//!   one mark. So every asset reconciles at every moment:
//!   Σ holdings + pool cash + fees + liquidation fund + clearing + conversions = deposits −
//!   withdrawals ([`Engine::audit`]; lends and borrows move atoms between holdings and the pools, see
//!   `lending`; fees and losses beyond the free balance are paid as `settlement` says).
//! - A spot order locks what it may spend (a bid: notional at its limit, or at the impact band for a
//!   market order, plus the taker fee; an ask: its base quantity) and is rejected with
//!   `InsufficientBalance` if the free balance — plus what its lends can redeem now, redeemed once
//!   the book accepts the order — cannot cover it; it needs no margin check. With
//!   `auto_borrow` (spot margin) it locks only what is free, and is accepted only if the pool can
//!   lend the rest and initial margin stays within net equity with the order filled and the
//!   shortfall borrowed; its fills borrow what they spend beyond the free balance.
//! - A perpetual order that increases the account's worst-case exposure
//!   (`max(|pos + bids|, |pos − asks|)`) is accepted only if, counted as open, it keeps initial margin
//!   within net equity after the loss of filling at its worst price (its limit, or the impact band
//!   for a market order) versus the mark and the taker fee on that notional. Orders that do not
//!   increase exposure always pass.
//! - Reduce-only orders (perps) are clipped to the position and to what other reduce-only orders on
//!   that side leave; after every fill the account's resting reduce-only orders shrink (newest
//!   first) or are cancelled so that together they never exceed the position. Limitation: within
//!   one sweep, a reduce-only order resting behind the same account's ordinary orders on the same
//!   side can still be reached after those reduced the position.
//! - Self-trade prevention applies between orders of the same owner, across their subaccounts.
//! - Trigger orders wait off the book until the mark or last price reaches them (see `triggers`).
//! - Prices: the caller sets index prices (per asset, in quote per unit) and marks (per perp). A perp
//!   whose mark the caller never set derives it from its base index and book (see `marks`). An asset without an index price is worth
//!   nothing as collateral. Limit prices must lie within the market's multipliers of the mark;
//!   market orders trade at most `impact_band` away from the best price when they arrive.
//! - Time is an input (`advance_to`); the engine never reads a clock.
//!
//! Costs: a place is O(log L + fills) for the book plus O(assets + perps) for the margin check; a
//! price update runs the margin scan over every account (O(accounts × (assets + perps))).

mod accounts;
mod events;
mod funding;
mod fxhash;
mod hash;
mod lending;
mod liquidation;
mod marks;
mod replay;
mod settlement;
mod snapshot;
mod spec;

pub use accounts::{Accounts, Owner, Scenario, Setting};
pub use events::{AccountId, Event, EventKind, Reject};
pub use funding::PremiumSamples;
pub use lending::{LendingRefusal, Pool, INDEX_ONE};
pub use liquidation::{BackstopProvider, LiquidationStage, LiquidationStep};
pub use replay::{action as replay_action, QueueModel, ReplayColumns, ReplayError, ReplayTrades, Replayer};
pub use snapshot::SnapshotError;
pub use spec::{AssetSpec, EngineSpec, MarketKind, MarketSpec, SpecError, VenueSpec};

use std::collections::HashMap;

use crate::book::{BookParams, OrderBook, PlaceOutcome, Reason as BookReason};
use crate::decimal::{Decimal, DecimalError};
use crate::error::BookError;
use crate::risk::{self, AssetRisk, Margin, MarketRisk, RiskError, RiskParams, ScanResult};
use crate::types::{OrderId, OrderRequest, OrderType, Price, Qty, SelfTradePrevention, Side, TimeInForce};

/// Misuse of the engine. Nothing changed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("no subaccount with id {0}")]
    UnknownAccount(AccountId),
    #[error("no owner named {0:?}; open one with open_account")]
    UnknownOwner(String),
    #[error("owner {0:?} already has an account")]
    OwnerExists(String),
    #[error("owner {owner:?} already has a subaccount labelled {label:?}")]
    DuplicateLabel { owner: String, label: String },
    #[error("owner {owner:?} already has the maximum of {limit} subaccounts besides the main one")]
    SubaccountLimit { owner: String, limit: usize },
    #[error(
        "subaccounts {from} and {to} belong to different owners; transfers only move between one owner's subaccounts"
    )]
    DifferentOwners { from: AccountId, to: AccountId },
    #[error("order {order_id} on {market} belongs to another subaccount")]
    NotYourOrder { market: String, order_id: OrderId },
    #[error("{what}: {source}")]
    Decimal { what: String, source: DecimalError },
    #[error("{what} must be positive, got {value}")]
    NotPositive { what: String, value: String },
    #[error("insufficient {asset}: {needed} needed, {available} free")]
    InsufficientBalance { asset: String, needed: String, available: String },
    #[error("refused: initial margin {initial_margin} would exceed net equity {net_equity} (IMR above 100%)")]
    InsufficientMargin { initial_margin: String, net_equity: String },
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("refused for {asset}: {reason}")]
    LendingRefused { asset: String, reason: &'static str },
    #[error("{0} is the settlement asset: its price is fixed at 1")]
    SettlementAssetPrice(String),
    #[error("max_leverage must be between 1 and {max}, got {got}")]
    InvalidLeverage { got: i64, max: u32 },
    #[error("invalid order: {0}")]
    InvalidOrder(&'static str),
    #[error("time must not go backwards: the engine is at {now} ms, got {requested} ms")]
    TimeWentBack { now: i64, requested: i64 },
    #[error(transparent)]
    Book(#[from] BookError),
    #[error(transparent)]
    Risk(#[from] RiskError),
}

/// An order as the exchange receives it (amounts already in ticks and lots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCommand {
    pub side: Side,
    pub order_type: OrderType,
    /// Limit price in ticks (limit orders).
    pub price: Option<Price>,
    /// Quantity in lots; or `None` with `quote_quantity` for a spot market buy sized by quote.
    pub quantity: Option<Qty>,
    /// Quote atoms to spend (spot market buys only).
    pub quote_quantity: Option<i64>,
    pub time_in_force: TimeInForce,
    pub post_only: bool,
    pub reduce_only: bool,
    pub self_trade_prevention: SelfTradePrevention,
    /// Spot margin: lock only the free balance and borrow the rest of what a fill spends
    /// (checked against margin at placement).
    pub auto_borrow: bool,
}

impl OrderCommand {
    /// A plain GTC limit order (no flags, self-trade prevention `RejectTaker`): the base that
    /// other orders are written as variations of, with struct update syntax.
    #[must_use]
    pub fn limit(side: Side, price: Price, quantity: Qty) -> OrderCommand {
        OrderCommand {
            side,
            order_type: OrderType::Limit,
            price: Some(price),
            quantity: Some(quantity),
            quote_quantity: None,
            time_in_force: TimeInForce::Gtc,
            post_only: false,
            reduce_only: false,
            self_trade_prevention: SelfTradePrevention::RejectTaker,
            auto_borrow: false,
        }
    }
}

/// What happened to one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderOutcome {
    /// The book's outcome (`order_id` 0 and status `Rejected` when the exchange refused it before
    /// the book saw it).
    pub book: PlaceOutcome,
    /// Why it was rejected or expired, if it was.
    pub reject: Option<Reject>,
    /// Index of this order's first event in the engine's event log.
    pub first_event: usize,
}

/// A live order as reported (price in ticks, remaining in lots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOrder {
    pub market: usize,
    pub order_id: OrderId,
    pub side: Side,
    pub price: Price,
    pub remaining: Qty,
    pub reduce_only: bool,
}

/// A live order's exchange-side record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OrderMeta {
    account: AccountId,
    side: Side,
    price: Price,
    remaining: Qty,
    /// Atoms still locked for it (spot).
    locked: i64,
    /// Quote atoms traded so far (fees are rounded once, on the cumulative notional).
    filled_notional: i64,
    reduce_only: bool,
    /// Borrows what its fills spend beyond the free balance (spot margin).
    auto_borrow: bool,
}

/// Venue-owned balances.
#[derive(Clone, Debug, Default)]
pub struct VenueLedger {
    /// Fees collected, per asset (atoms).
    pub fees: Vec<i64>,
    /// The liquidation fund, per asset (atoms).
    pub liquidation_fund: Vec<i64>,
    /// Settlement-asset atoms paid out as realized PnL, negated (see the module docs).
    pub pnl_clearing: i64,
    /// Collateral taken in settlement conversions, per asset (the settlement asset's is negative:
    /// what the venue paid for it).
    pub conversions: Vec<i64>,
}

/// One asset's reconciliation (SPEC §11 `audit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssetAudit {
    pub held_by_accounts: i128,
    pub locked_by_orders: i128,
    /// Lenders' claims and borrowers' debts in the pool (claims, not atoms).
    pub lent: i128,
    pub borrowed: i128,
    /// Atoms in the pool: lends minus redemptions minus borrows plus repayments.
    pub pool_cash: i128,
    /// The venue's accrued lending income (fees and dust): pool cash + borrowed − lent.
    pub lending_income: i128,
    /// The venue's side of settlement conversions.
    pub conversions: i128,
    pub fees: i128,
    pub liquidation_fund: i128,
    pub pnl_clearing: i128,
    pub deposits: i128,
    pub withdrawals: i128,
}

impl AssetAudit {
    /// Whether everything the venue holds of the asset is accounted for.
    #[must_use]
    pub fn balanced(&self) -> bool {
        self.held_by_accounts
            + self.pool_cash
            + self.fees
            + self.liquidation_fund
            + self.pnl_clearing
            + self.conversions
            == self.deposits - self.withdrawals
            && self.lending_income >= 0
    }
}

/// One asset of one subaccount as reported, in atoms: `free + locked + lent − borrowed` is what
/// the subaccount is worth in the asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    pub free: i64,
    /// Locked by open spot orders.
    pub locked: i64,
    /// Lent to the pool (redeemable, still collateral).
    pub lent: i64,
    /// Owed: borrowed from the pool, plus a settlement beyond what the subaccount held unlocked.
    pub borrowed: i64,
}

/// One perpetual position as reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionView {
    pub market: usize,
    pub net_qty: Qty,
    pub net_cost: i64,
    pub mark: Option<Price>,
    pub unrealized_pnl: i64,
    /// Estimated liquidation price in ticks (not rounded to a tick).
    pub liquidation_price: Option<f64>,
    /// Funding paid (positive) or received (negative) by this position so far, settlement atoms.
    pub cumulative_funding: i64,
}

/// The exchange engine; see the module docs for its contract.
#[derive(Clone, Debug)]
pub struct Engine {
    spec: EngineSpec,
    /// For each market, its index among perps (position columns), if it is one.
    perp_of_market: Vec<Option<usize>>,
    risk: RiskParams,
    index_set: Vec<bool>,
    mark_set: Vec<bool>,
    /// Per market: the EMA of a derived mark's basis, millionths of a tick (see `marks`).
    basis_ema: Vec<Option<i128>>,
    owners: Vec<Owner>,
    owner_by_name: HashMap<String, u32>,
    accounts: Accounts,
    books: Vec<OrderBook>,
    orders: Vec<fxhash::FxMap<OrderId, OrderMeta>>,
    reduce_only: HashMap<(AccountId, usize), Vec<OrderId>>,
    venue: VenueLedger,
    deposits: Vec<i128>,
    withdrawals: Vec<i128>,
    time_ms: i64,
    sequence: u64,
    events: Vec<Event>,
    liquidatable: Vec<AccountId>,
    /// Subaccounts being liquidated, ascending (see `liquidation`).
    liquidating: Vec<AccountId>,
    /// Registered backstop liquidity providers, in registration order.
    backstops: Vec<BackstopProvider>,
    book_events: Vec<crate::book::Event>,
    /// Reused buffers for the pre-trade what-if.
    what_if: Scenario,
    /// One borrow/lend pool per asset.
    pools: Vec<Pool>,
    /// Funding premium samples per market (perpetuals only).
    premiums: Vec<PremiumSamples>,
    /// A fixed funding rate per market (1e-18 per interval) paid instead of the premium's.
    fixed_funding_e18: Vec<Option<i128>>,
    /// The risk kernel's holdings (holding + lent) and borrowed columns, rebuilt for each scan.
    risk_holdings: Vec<i64>,
    risk_borrowed: Vec<i64>,
    /// Reused result buffers of the scan run after every price update.
    last_scan: ScanResult,
    /// The last trade price of each market.
    last_price: Vec<Option<Price>>,
    /// Trigger orders waiting for their price, by id.
    triggers: Vec<PendingTrigger>,
    next_trigger_id: u64,
    /// Set while triggers fire, so orders they place do not fire others recursively.
    firing_triggers: bool,
}

/// `ceil(value × rate_e8 / 10^8)`: a fee rounded toward the venue.
fn fee(notional: i64, rate_e8: i64) -> i64 {
    let product = i128::from(notional) * i128::from(rate_e8);
    i64::try_from(product.div_euclid(100_000_000) + i128::from(product.rem_euclid(100_000_000) != 0))
        .expect("a fee is smaller than its notional")
}

fn direction(side: Side) -> i64 {
    match side {
        Side::Bid => 1,
        Side::Ask => -1,
    }
}

impl Engine {
    /// An empty exchange.
    ///
    /// # Errors
    /// [`ExchangeError::Spec`] for an inconsistent spec.
    pub fn new(spec: EngineSpec) -> Result<Self, ExchangeError> {
        spec.validate()?;
        let mut perp_of_market = Vec::new();
        let mut markets = Vec::new();
        for market in &spec.markets {
            if market.kind == MarketKind::Perp {
                perp_of_market.push(Some(markets.len()));
                markets.push(MarketRisk {
                    mark: 0,
                    notional_per_tick_lot: market.notional_per_tick_lot,
                    imf: market.imf,
                    mmf: market.mmf,
                });
            } else {
                perp_of_market.push(None);
            }
        }
        let assets = spec
            .assets
            .iter()
            .map(|asset| AssetRisk {
                price: 0,
                unit: asset.unit(),
                haircut: if asset.collateral {
                    asset.haircut
                } else {
                    risk::Haircut::InverseSqrt { base: 0.0, penalty: 0.0 }
                },
                borrow_imf: asset.borrow_imf,
                borrow_mmf: asset.borrow_mmf,
            })
            .collect();
        let settlement_unit = spec.assets[spec.settlement_asset].unit();
        let mut risk = RiskParams { quote_unit: settlement_unit, assets, markets };
        // The settlement asset is worth exactly one unit of itself.
        risk.assets[spec.settlement_asset].price = settlement_unit;
        let mut index_set = vec![false; spec.assets.len()];
        index_set[spec.settlement_asset] = true;
        let books = spec
            .markets
            .iter()
            .map(|market| {
                OrderBook::new(BookParams {
                    min_quantity: market.min_quantity_lots,
                    max_quantity: market.max_quantity_lots,
                    state: market.state,
                    ..BookParams::default()
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let perps = risk.markets.len();
        Ok(Engine {
            perp_of_market,
            risk,
            index_set,
            mark_set: vec![false; spec.markets.len()],
            basis_ema: vec![None; spec.markets.len()],
            owners: Vec::new(),
            owner_by_name: HashMap::new(),
            accounts: Accounts::new(spec.assets.len(), perps),
            orders: vec![fxhash::FxMap::default(); spec.markets.len()],
            books,
            reduce_only: HashMap::new(),
            venue: VenueLedger {
                fees: vec![0; spec.assets.len()],
                liquidation_fund: vec![0; spec.assets.len()],
                pnl_clearing: 0,
                conversions: vec![0; spec.assets.len()],
            },
            deposits: vec![0; spec.assets.len()],
            withdrawals: vec![0; spec.assets.len()],
            time_ms: 0,
            sequence: 0,
            events: Vec::new(),
            liquidatable: Vec::new(),
            liquidating: Vec::new(),
            backstops: Vec::new(),
            book_events: Vec::new(),
            what_if: Scenario::default(),
            pools: vec![Pool::default(); spec.assets.len()],
            premiums: vec![PremiumSamples::default(); spec.markets.len()],
            fixed_funding_e18: vec![None; spec.markets.len()],
            risk_holdings: Vec::new(),
            risk_borrowed: Vec::new(),
            last_scan: ScanResult::default(),
            last_price: vec![None; spec.markets.len()],
            triggers: Vec::new(),
            next_trigger_id: 0,
            firing_triggers: false,
            spec,
        })
    }

    #[must_use]
    pub fn spec(&self) -> &EngineSpec {
        &self.spec
    }

    #[must_use]
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    #[must_use]
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    #[must_use]
    pub fn owners(&self) -> &[Owner] {
        &self.owners
    }

    #[must_use]
    pub fn venue(&self) -> &VenueLedger {
        &self.venue
    }

    #[must_use]
    pub fn book(&self, market: usize) -> &OrderBook {
        &self.books[market]
    }

    /// Subaccounts found liquidatable (MMR ≥ 100%) by the last price update's scan.
    #[must_use]
    pub fn liquidatable(&self) -> &[AccountId] {
        &self.liquidatable
    }

    /// Every event so far, oldest first.
    #[must_use]
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Removes and returns the events so far.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    // ----- names and amounts -------------------------------------------------------------------

    #[must_use]
    pub fn asset_index(&self, symbol: &str) -> Option<usize> {
        self.spec.assets.iter().position(|asset| asset.symbol == symbol)
    }

    #[must_use]
    pub fn market_index(&self, symbol: &str) -> Option<usize> {
        self.spec.markets.iter().position(|market| market.symbol == symbol)
    }

    #[must_use]
    pub fn owner_of(&self, account: AccountId) -> Option<&Owner> {
        self.accounts.owner.get(account as usize).map(|&owner| &self.owners[owner as usize])
    }

    /// An amount of an asset, in atoms; must be positive.
    ///
    /// # Errors
    /// Malformed, not a whole number of atoms, out of range, or not positive.
    pub fn parse_amount(&self, asset: usize, text: &str) -> Result<i64, ExchangeError> {
        let spec = &self.spec.assets[asset];
        positive(|| format!("amount of {}", spec.symbol), text, Decimal::atom(spec.decimals))
    }

    /// A price in a market, in ticks; must be positive.
    ///
    /// # Errors
    /// Malformed, off the tick, out of range, or not positive.
    pub fn parse_price(&self, market: usize, text: &str) -> Result<Price, ExchangeError> {
        let spec = &self.spec.markets[market];
        positive(|| format!("price on {} (tick {})", spec.symbol, spec.tick_size), text, spec.tick_size)
    }

    /// A quantity in a market, in lots; must be positive.
    ///
    /// # Errors
    /// Malformed, off the step, out of range, or not positive.
    pub fn parse_quantity(&self, market: usize, text: &str) -> Result<Qty, ExchangeError> {
        let spec = &self.spec.markets[market];
        positive(|| format!("quantity on {} (step {})", spec.symbol, spec.step_size), text, spec.step_size)
    }

    /// An index price of an asset in quote atoms per whole unit; must be positive.
    ///
    /// # Errors
    /// Malformed, finer than a quote atom, out of range, or not positive.
    pub fn parse_index_price(&self, asset: usize, text: &str) -> Result<i64, ExchangeError> {
        let quote = &self.spec.assets[self.spec.settlement_asset];
        let what = || {
            format!(
                "index price of {} (in {} to {} decimals)",
                self.spec.assets[asset].symbol, quote.symbol, quote.decimals
            )
        };
        positive(what, text, Decimal::atom(quote.decimals))
    }

    /// Formats atoms of an asset as a decimal string.
    #[must_use]
    pub fn format_amount(&self, asset: usize, atoms: i64) -> String {
        Decimal::times(Decimal::atom(self.spec.assets[asset].decimals), atoms).to_string()
    }

    /// Formats ticks of a market as a decimal price string.
    #[must_use]
    pub fn format_price(&self, market: usize, ticks: i64) -> String {
        Decimal::times(self.spec.markets[market].tick_size, ticks).to_string()
    }

    /// Formats lots of a market as a decimal quantity string.
    #[must_use]
    pub fn format_quantity(&self, market: usize, lots: i64) -> String {
        Decimal::times(self.spec.markets[market].step_size, lots).to_string()
    }

    // ----- accounts ----------------------------------------------------------------------------

    fn check_account(&self, account: AccountId) -> Result<(), ExchangeError> {
        if (account as usize) < self.accounts.len() {
            Ok(())
        } else {
            Err(ExchangeError::UnknownAccount(account))
        }
    }

    /// The switches new subaccounts start with off.
    fn switched_off(&self) -> &'static [Setting] {
        if self.spec.venue.auto_lend {
            &[]
        } else {
            &[Setting::AutoLend]
        }
    }

    /// Opens an owner with their main subaccount.
    ///
    /// # Errors
    /// [`ExchangeError::OwnerExists`].
    pub fn open_account(&mut self, owner: &str) -> Result<AccountId, ExchangeError> {
        if self.owner_by_name.contains_key(owner) {
            return Err(ExchangeError::OwnerExists(owner.to_owned()));
        }
        let owner_id = u32::try_from(self.owners.len()).expect("fewer than 2^32 owners");
        let account =
            self.accounts.open(owner_id, "main".to_owned(), self.spec.venue.default_leverage, self.switched_off());
        self.owners.push(Owner { name: owner.to_owned(), accounts: vec![account] });
        self.owner_by_name.insert(owner.to_owned(), owner_id);
        Ok(account)
    }

    /// Opens another subaccount of an owner.
    ///
    /// # Errors
    /// Unknown owner, a label in use, or the owner at the subaccount limit.
    pub fn open_subaccount(&mut self, owner: &str, label: &str) -> Result<AccountId, ExchangeError> {
        let &owner_id = self.owner_by_name.get(owner).ok_or_else(|| ExchangeError::UnknownOwner(owner.to_owned()))?;
        let record = &self.owners[owner_id as usize];
        if record.accounts.iter().any(|&account| self.accounts.label[account as usize] == label) {
            return Err(ExchangeError::DuplicateLabel { owner: owner.to_owned(), label: label.to_owned() });
        }
        if record.accounts.len() > self.spec.venue.max_subaccounts {
            return Err(ExchangeError::SubaccountLimit {
                owner: owner.to_owned(),
                limit: self.spec.venue.max_subaccounts,
            });
        }
        let account =
            self.accounts.open(owner_id, label.to_owned(), self.spec.venue.default_leverage, self.switched_off());
        self.owners[owner_id as usize].accounts.push(account);
        Ok(account)
    }

    fn emit(&mut self, kind: EventKind) {
        self.sequence += 1;
        self.events.push(Event { sequence: self.sequence, time_ms: self.time_ms, kind });
    }

    /// Credits a deposit.
    ///
    /// # Errors
    /// Unknown account, or an amount that would overflow the holding.
    pub fn deposit(&mut self, account: AccountId, asset: usize, amount: i64) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        check_positive("deposit", amount)?;
        let slot = self.accounts.asset_slot(account, asset);
        self.accounts.holding[slot] = self.accounts.holding[slot]
            .checked_add(amount)
            .ok_or(ExchangeError::Risk(RiskError::Overflow("deposit overflows the holding")))?;
        self.deposits[asset] += i128::from(amount);
        self.emit(EventKind::Deposit { account, asset, amount });
        Ok(())
    }

    /// Checks that `account` can give up `amount` of `asset`: enough free balance, and initial
    /// margin still within net equity afterwards.
    /// Makes `amount` of `asset` free to leave `account`: checks the withdrawable quantity (free +
    /// lent) and that margin holds without it, then redeems the part beyond the free balance
    /// (a voluntary redemption: the pool's cash and throttle apply). Changes nothing on error.
    fn release(&mut self, account: AccountId, asset: usize, amount: i64) -> Result<(), ExchangeError> {
        let free = self.accounts.free(account, asset);
        let withdrawable = free.saturating_add(self.lent_amount(account, asset));
        if amount > withdrawable {
            return Err(ExchangeError::InsufficientBalance {
                asset: self.spec.assets[asset].symbol.clone(),
                needed: self.format_amount(asset, amount),
                available: self.format_amount(asset, withdrawable),
            });
        }
        let mut scenario = self.risk_scenario(account);
        scenario.holdings[asset] -= amount;
        self.check_margin_holds(&scenario)?;
        if amount > free {
            self.redeem(account, asset, amount - free.max(0), true)?;
        }
        Ok(())
    }

    fn check_margin_holds(&self, scenario: &Scenario) -> Result<(), ExchangeError> {
        let margin = risk::account_margin(&self.risk, &scenario.state())?;
        if margin.initial_margin > 0 && margin.initial_margin > margin.net_equity {
            let settlement = self.spec.settlement_asset;
            return Err(ExchangeError::InsufficientMargin {
                initial_margin: self.format_amount(settlement, margin.initial_margin),
                net_equity: self.format_amount(settlement, margin.net_equity),
            });
        }
        Ok(())
    }

    /// Pays out a withdrawal.
    ///
    /// # Errors
    /// Unknown account, insufficient free balance, or margin that would not hold.
    pub fn withdraw(&mut self, account: AccountId, asset: usize, amount: i64) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        check_positive("withdrawal", amount)?;
        self.release(account, asset, amount)?;
        let slot = self.accounts.asset_slot(account, asset);
        self.accounts.holding[slot] -= amount;
        self.withdrawals[asset] += i128::from(amount);
        self.emit(EventKind::Withdrawal { account, asset, amount });
        Ok(())
    }

    /// Moves an asset between two subaccounts of one owner.
    ///
    /// # Errors
    /// Unknown accounts, different owners, insufficient free balance, margin that would not hold.
    pub fn transfer(&mut self, from: AccountId, to: AccountId, asset: usize, amount: i64) -> Result<(), ExchangeError> {
        self.check_account(from)?;
        self.check_account(to)?;
        check_positive("transfer", amount)?;
        if from == to {
            return Err(ExchangeError::InvalidRequest("a transfer needs two different subaccounts"));
        }
        if self.accounts.owner[from as usize] != self.accounts.owner[to as usize] {
            return Err(ExchangeError::DifferentOwners { from, to });
        }
        let to_slot = self.accounts.asset_slot(to, asset);
        let credited = self.accounts.holding[to_slot]
            .checked_add(amount)
            .ok_or(ExchangeError::Risk(RiskError::Overflow("transfer overflows the holding")))?;
        self.release(from, asset, amount)?;
        let from_slot = self.accounts.asset_slot(from, asset);
        self.accounts.holding[from_slot] -= amount;
        self.accounts.holding[to_slot] = credited;
        self.emit(EventKind::Transfer { from, to, asset, amount });
        Ok(())
    }

    /// Changes a subaccount's maximum leverage (re-pricing the initial margin of its positions and
    /// orders).
    ///
    /// # Errors
    /// Out of `1..=max_leverage`, or a change that would take IMR above 100%.
    pub fn set_max_leverage(&mut self, account: AccountId, leverage: i64) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        let max = self.spec.venue.max_leverage;
        let leverage = u32::try_from(leverage)
            .ok()
            .filter(|&leverage| (1..=max).contains(&leverage))
            .ok_or(ExchangeError::InvalidLeverage { got: leverage, max })?;
        let mut scenario = self.risk_scenario(account);
        scenario.max_leverage = leverage;
        self.check_margin_holds(&scenario)?;
        self.accounts.max_leverage[account as usize] = leverage;
        self.emit(EventKind::LeverageChanged { account, max_leverage: leverage });
        Ok(())
    }

    /// Turns a per-subaccount switch on or off.
    ///
    /// # Errors
    /// Unknown account.
    pub fn set_setting(&mut self, account: AccountId, setting: Setting, on: bool) -> Result<(), ExchangeError> {
        self.check_account(account)?;
        let bits = &mut self.accounts.settings[account as usize];
        if on {
            *bits |= setting as u8;
        } else {
            *bits &= !(setting as u8);
        }
        self.emit(EventKind::SettingChanged { account, setting, on });
        Ok(())
    }

    // ----- prices and time -----------------------------------------------------------------------

    /// Sets an asset's index price (quote atoms per whole unit) and rescans every account.
    ///
    /// # Errors
    /// Changing the settlement asset's price (it is 1 by definition), or a scan overflow.
    pub fn set_index_price(&mut self, asset: usize, price: i64) -> Result<(), ExchangeError> {
        if asset == self.spec.settlement_asset {
            return Err(ExchangeError::SettlementAssetPrice(self.spec.assets[asset].symbol.clone()));
        }
        check_positive("index price", price)?;
        let previous = (self.risk.assets[asset].price, self.index_set[asset]);
        self.risk.assets[asset].price = price;
        self.index_set[asset] = true;
        let previous_marks = self.derive_marks(asset);
        if let Err(error) = self.rescan() {
            (self.risk.assets[asset].price, self.index_set[asset]) = previous;
            self.restore_marks(previous_marks);
            return Err(error);
        }
        self.emit(EventKind::IndexPrice { asset, price });
        self.emit_derived_marks(&previous_marks);
        self.sample_premiums();
        self.fire_triggers()
    }

    /// Sets a perpetual's mark price (ticks) and rescans every account.
    ///
    /// # Errors
    /// A spot market (its mark is its base asset's index), or a scan overflow.
    pub fn set_mark_price(&mut self, market: usize, price: Price) -> Result<(), ExchangeError> {
        let perp = self.perp_of_market[market].ok_or(ExchangeError::InvalidRequest(
            "only perpetuals have a mark of their own; set the base asset's index price for spot",
        ))?;
        check_positive("mark price", price)?;
        let previous = self.risk.markets[perp].mark;
        self.risk.markets[perp].mark = price;
        if let Err(error) = self.rescan() {
            self.risk.markets[perp].mark = previous;
            return Err(error);
        }
        self.mark_set[market] = true;
        self.emit(EventKind::MarkPrice { market, price });
        self.sample_premiums();
        self.fire_triggers()
    }

    /// The base asset's index price in a market's ticks (rounded down), if set.
    fn index_in_ticks(&self, market: usize) -> Option<Price> {
        let spec = &self.spec.markets[market];
        if !self.index_set[spec.base] {
            return None;
        }
        let per_unit = i128::from(self.risk.assets[spec.base].price);
        let base_unit = i128::from(self.spec.assets[spec.base].unit());
        // ticks = price_per_unit × atoms_per_lot / (notional_per_tick_lot × atoms_per_unit)
        let numerator = per_unit * i128::from(spec.base_atoms_per_lot);
        let denominator = i128::from(spec.notional_per_tick_lot) * base_unit;
        i64::try_from(numerator / denominator).ok().filter(|&ticks| ticks > 0)
    }

    /// The price limit orders are banded around: a perp's mark, a spot market's base index.
    #[must_use]
    pub fn mark(&self, market: usize) -> Option<Price> {
        match self.perp_of_market[market] {
            Some(perp) => Some(self.risk.markets[perp].mark).filter(|&mark| mark > 0),
            None => self.index_in_ticks(market),
        }
    }

    /// Whether the scheduled jobs (realization, funding, interest) have nothing to act on: no open
    /// position and no borrow anywhere.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.accounts.net_qty.iter().all(|&position| position == 0)
            && self.accounts.net_cost.iter().all(|&cost| cost == 0)
            && self.pools.iter().all(|pool| pool.borrow_shares == 0)
    }

    /// Moves engine time forward.
    ///
    /// # Errors
    /// [`ExchangeError::TimeWentBack`].
    pub fn advance_to(&mut self, time_ms: i64) -> Result<(), ExchangeError> {
        if time_ms < self.time_ms {
            return Err(ExchangeError::TimeWentBack { now: self.time_ms, requested: time_ms });
        }
        self.time_ms = time_ms;
        Ok(())
    }

    /// Runs the margin scan over every subaccount and refreshes [`Engine::liquidatable`] (what a
    /// price update does; the scheduled jobs call it after moving balances).
    ///
    /// # Errors
    /// Overflow in the kernel.
    pub fn rescan_margin(&mut self) -> Result<(), ExchangeError> {
        self.rescan()
    }

    fn rescan(&mut self) -> Result<(), ExchangeError> {
        self.refresh_risk_holdings();
        let mut result = std::mem::take(&mut self.last_scan);
        result.resize(self.accounts.len());
        let scanned = risk::scan_into(&self.risk, &self.risk_columns(), result.output());
        if scanned.is_ok() {
            self.liquidatable = (0..self.accounts.len())
                .filter(|&account| result.liquidatable[account])
                .map(|account| AccountId::try_from(account).expect("account ids fit u32"))
                .collect();
        }
        self.last_scan = result;
        Ok(scanned?)
    }

    /// Whether any pool has lends or borrows (else holdings are the risk kernel's view as they are).
    fn lending_active(&self) -> bool {
        self.pools.iter().any(|pool| pool.lend_shares > 0 || pool.borrow_shares > 0)
    }

    /// Counts what `account` has lent in its holdings and what it owes the pools as borrowed.
    pub(crate) fn add_pool_positions(&self, account: AccountId, scenario: &mut Scenario) {
        scenario.borrowed.clear();
        if self.lending_active() {
            for (asset, holding) in scenario.holdings.iter_mut().enumerate() {
                *holding += self.lent_amount(account, asset);
                scenario.borrowed.push(self.borrowed_amount(account, asset));
            }
        }
    }

    /// One account's risk inputs as the kernel should see them (lends and borrows counted).
    fn risk_scenario(&self, account: AccountId) -> Scenario {
        let mut scenario = Scenario::of(&self.accounts.state(account));
        self.add_pool_positions(account, &mut scenario);
        scenario
    }

    /// The kernel's holdings and borrowed columns with the pools counted (empty: use the live
    /// holdings as they are).
    fn refresh_risk_holdings(&mut self) {
        self.risk_holdings.clear();
        self.risk_borrowed.clear();
        if !self.lending_active() {
            return;
        }
        let assets = self.spec.assets.len();
        for account in 0..self.accounts.len() {
            let id = AccountId::try_from(account).expect("account ids fit u32");
            for asset in 0..assets {
                let slot = self.accounts.asset_slot(id, asset);
                self.risk_holdings.push(self.accounts.holding[slot] + self.lent_amount(id, asset));
                self.risk_borrowed.push(self.borrowed_amount(id, asset));
            }
        }
    }

    fn risk_columns(&self) -> risk::Columns<'_> {
        let mut columns = self.accounts.columns();
        if !self.risk_holdings.is_empty() {
            columns.holdings = &self.risk_holdings;
            columns.borrowed = &self.risk_borrowed;
        }
        columns
    }

    // ----- risk views ----------------------------------------------------------------------------

    /// The margin summary of one subaccount.
    ///
    /// # Errors
    /// Unknown account, or overflow in the kernel.
    pub fn margin(&self, account: AccountId) -> Result<Margin, ExchangeError> {
        self.check_account(account)?;
        Ok(risk::account_margin(&self.risk, &self.risk_scenario(account).state())?)
    }

    /// The margin summary of one subaccount under other prices (asset index prices in quote atoms
    /// per unit, perp marks in ticks), changing nothing.
    ///
    /// # Errors
    /// Unknown account, or overflow in the kernel.
    pub fn margin_at(
        &self,
        account: AccountId,
        index_prices: &[(usize, i64)],
        marks: &[(usize, Price)],
    ) -> Result<Margin, ExchangeError> {
        self.check_account(account)?;
        let mut params = self.risk.clone();
        for &(asset, price) in index_prices {
            if asset == self.spec.settlement_asset {
                return Err(ExchangeError::SettlementAssetPrice(self.spec.assets[asset].symbol.clone()));
            }
            check_positive("index price", price)?;
            params.assets[asset].price = price;
        }
        for &(market, mark) in marks {
            let perp = self.perp_of_market[market].ok_or(ExchangeError::InvalidRequest(
                "only perpetuals have a mark of their own; stress a spot market through its base asset",
            ))?;
            check_positive("mark price", mark)?;
            params.markets[perp].mark = mark;
        }
        Ok(risk::account_margin(&params, &self.risk_scenario(account).state())?)
    }

    /// The vectorized margin check over every subaccount.
    ///
    /// # Errors
    /// Overflow in the kernel.
    pub fn scan(&mut self) -> Result<ScanResult, ExchangeError> {
        self.refresh_risk_holdings();
        Ok(risk::scan(&self.risk, &self.risk_columns())?)
    }

    /// Every asset's balance of a subaccount, in asset order.
    ///
    /// # Errors
    /// Unknown account.
    pub fn balances(&self, account: AccountId) -> Result<Vec<Balance>, ExchangeError> {
        self.check_account(account)?;
        Ok((0..self.spec.assets.len())
            .map(|asset| {
                let slot = self.accounts.asset_slot(account, asset);
                let net_free = self.accounts.holding[slot] - self.accounts.locked[slot];
                Balance {
                    free: net_free.max(0),
                    locked: self.accounts.locked[slot],
                    lent: self.lent_amount(account, asset),
                    borrowed: (-net_free).max(0) + self.borrowed_amount(account, asset),
                }
            })
            .collect())
    }

    /// The perpetual positions of a subaccount (non-flat ones and ones with open orders).
    ///
    /// # Errors
    /// Unknown account.
    pub fn positions(&self, account: AccountId) -> Result<Vec<PositionView>, ExchangeError> {
        self.check_account(account)?;
        let scenario = self.risk_scenario(account);
        let state = scenario.state();
        let mut views = Vec::new();
        for (market, perp) in self.perp_of_market.iter().enumerate() {
            let Some(perp) = *perp else { continue };
            let net_qty = state.net_qty[perp];
            let cumulative_funding = self.accounts.funding[self.accounts.perp_slot(account, perp)];
            if net_qty == 0 && state.open_bids[perp] == 0 && state.open_asks[perp] == 0 {
                continue;
            }
            let mark = self.mark(market);
            let unrealized_pnl = mark.map_or(0, |mark| {
                let value = i128::from(net_qty)
                    * i128::from(mark)
                    * i128::from(self.spec.markets[market].notional_per_tick_lot);
                i64::try_from(value - i128::from(state.net_cost[perp])).unwrap_or(i64::MAX)
            });
            views.push(PositionView {
                market,
                net_qty,
                net_cost: state.net_cost[perp],
                mark,
                unrealized_pnl,
                liquidation_price: risk::liquidation_price(&self.risk, &state, perp),
                cumulative_funding,
            });
        }
        Ok(views)
    }

    /// Estimated liquidation price of one position, in ticks.
    ///
    /// # Errors
    /// Unknown account, or a market that is not a perpetual.
    pub fn liquidation_price(&self, account: AccountId, market: usize) -> Result<Option<f64>, ExchangeError> {
        self.check_account(account)?;
        let perp =
            self.perp_of_market[market].ok_or(ExchangeError::InvalidRequest("spot markets have no positions"))?;
        Ok(risk::liquidation_price(&self.risk, &self.risk_scenario(account).state(), perp))
    }

    /// Every asset's reconciliation.
    #[must_use]
    pub fn audit(&self) -> Vec<AssetAudit> {
        let assets = self.spec.assets.len();
        (0..assets)
            .map(|asset| {
                let column = |values: &[i64]| -> i128 {
                    values.iter().skip(asset).step_by(assets).map(|&value| i128::from(value)).sum()
                };
                AssetAudit {
                    held_by_accounts: column(&self.accounts.holding),
                    locked_by_orders: column(&self.accounts.locked),
                    lent: i128::try_from(self.pools[asset].lent()).unwrap_or(i128::MAX),
                    borrowed: i128::try_from(self.pools[asset].borrowed()).unwrap_or(i128::MAX),
                    pool_cash: self.pools[asset].cash,
                    lending_income: self.pools[asset].income(),
                    conversions: i128::from(self.venue.conversions[asset]),
                    fees: i128::from(self.venue.fees[asset]),
                    liquidation_fund: i128::from(self.venue.liquidation_fund[asset]),
                    pnl_clearing: if asset == self.spec.settlement_asset {
                        i128::from(self.venue.pnl_clearing)
                    } else {
                        0
                    },
                    deposits: self.deposits[asset],
                    withdrawals: self.withdrawals[asset],
                }
            })
            .collect()
    }

    /// A digest of all state that matters (accounts, balances, positions, settings, books, live
    /// orders, prices, venue ledgers, clock and sequence). Equal states give equal digests.
    #[must_use]
    pub fn state_hash(&self) -> u64 {
        hash::digest(self)
    }
}

/// A positive whole number of `unit`s; `what` names the value in errors (built only on error).
fn positive(what: impl Fn() -> String, text: &str, unit: Decimal) -> Result<i64, ExchangeError> {
    let value = Decimal::parse(text)
        .and_then(|value| value.units_of(unit))
        .map_err(|source| ExchangeError::Decimal { what: what(), source })?;
    if value <= 0 {
        return Err(ExchangeError::NotPositive { what: what(), value: text.to_owned() });
    }
    Ok(value)
}

fn check_positive(what: &str, value: i64) -> Result<(), ExchangeError> {
    if value <= 0 {
        return Err(ExchangeError::NotPositive { what: what.to_owned(), value: value.to_string() });
    }
    Ok(())
}

mod trading;
mod triggers;

pub use triggers::{PendingTrigger, TriggerBy};

#[cfg(test)]
mod test_specs;
#[cfg(test)]
mod tests;
