//! Cross-margin risk (SPEC §4–5): collateral haircuts, size-scaled margin fractions, net equity,
//! the vectorized scan of every account and the estimated liquidation price.
//!
//! Contract:
//! - Units. Amounts are `i64` atoms of the quote asset (USDC: 6 decimals). An asset's `price` is in
//!   quote atoms per whole unit of the asset and its `unit` is atoms per whole unit, so a holding of
//!   `h` atoms is worth `h * price / unit` quote atoms. A perpetual's `mark` is in ticks and one lot
//!   at one tick is worth `notional_per_tick_lot` quote atoms. The curves take `N` in whole quote
//!   units: a notional in atoms divided by `quote_unit`.
//! - Formulas, per account. A holding `h > 0` adds `floor(value * weight(value))` to collateral,
//!   with `value = floor(h * price / unit)`. A holding `h < 0` is a borrow: a liability
//!   `L = ceil(|h| * price / unit)` and an exposure of notional `L` under the asset's borrow
//!   fractions. A position of `q` lots adds `q * mark * c - net_cost` to unrealized PnL, exposes
//!   `N = max(|q + open_bids|, |q - open_asks|) * mark * c` (orders included) and is maintained on
//!   its own notional `Npos = |q| * mark * c`. Each exposure requires
//!   `IM = ceil(N * max(imf(N), 1 / max_leverage))` and `MM = ceil(Npos * mmf(Npos))` (a borrow uses
//!   `N` for both). Net equity is collateral + unrealized PnL − liabilities; `imr = IM / net_equity`
//!   and `mmr = MM / net_equity` (+inf when net equity <= 0), `margin_fraction = net_equity / ΣN`
//!   (+inf without exposure). An account is liquidatable when `MM > 0` and `mmr >= 1`.
//! - Exactness. Every amount is an integer computed in `i128` and checked; anything that does not fit
//!   an `i64` is [`RiskError::Overflow`], never a wrap or a panic. Terms are added in a fixed order
//!   (assets by index, then markets by index), so results never depend on threads or platforms.
//! - Rounding goes against the account: values and collateral down, liabilities and requirements
//!   up. `1 / max_leverage` is applied exactly (`ceil(N / max_leverage)`), so 10× on a notional of
//!   100,000 needs exactly 10,000. Weights and fractions are f64 (they need `sqrt`); their products
//!   with amounts are rounded as the `rounding` module describes, which lets decimal parameters such
//!   as 0.0135 give the whole amounts they mean.
//! - Misuse is an error that names the input: a column of the wrong length ([`RiskError::Shape`]),
//!   a parameter or account field outside its domain (`max_leverage` 0, negative open orders,
//!   a non-positive unit, a NaN curve parameter: [`RiskError::InvalidValue`]).
//!
//! Costs: [`account_margin`] is O(assets + markets) with no allocation; [`scan`] is one pass over the
//! columns, split across the available cores for large inputs; [`liquidation_price`] is one margin
//! computation plus a bisection of at most a few hundred f64 evaluations. Per exposure the exact
//! formulas cost two checked products, two flat-part tests (the ends of the flat parts are
//! constants of the parameters, computed once per scan: `Prepared`), two f64 products rounded as
//! `rounding` says and the leverage term through a per-account f64 reciprocal: about 140
//! instructions and 13 ns a position on the benchmark VM. On a CPU with AVX2 and FMA the scan runs
//! four accounts at a time through the vector fast path of `lanes` (a lane an account, certified
//! equal to these formulas or declined to them), eight with AVX-512F and DQ: about 40 instructions
//! and 3.5-4 ns a position on one core with AVX2, 15-25% less with AVX-512 (callgrind and timing:
//! `benches/examples/profile_margin.rs`).
//!
//! Unsafe code: the crate's only `unsafe` are the scan's calls of its AVX-512 and AVX2 builds, each
//! right after checking that the CPU has the features it needs (`scan.rs`), and the same calls in
//! the lanes' tests.
mod curves;
mod lanes;
mod liquidation;
mod rounding;
mod scan;
#[cfg(test)]
mod tests;

pub use curves::{Fraction, Haircut};
pub use liquidation::liquidation_price;
pub use scan::{scan, scan_into, scan_into_threads, Columns, ScanOutput, ScanResult};

use rounding::{mul_div, mul_ratio, Toward};

/// Misuse of the risk kernel. Nothing is computed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RiskError {
    /// An amount that does not fit an `i64` (or an intermediate product that does not fit `i128`).
    #[error("arithmetic overflow ({0}): an amount beyond a signed 64-bit integer")]
    Overflow(&'static str),
    /// A column whose length does not match the parameters.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A parameter or account field outside its domain.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The error of one account of a [`scan`].
    #[error("account {index}: {source}")]
    Account {
        index: usize,
        #[source]
        source: Box<RiskError>,
    },
}

/// Risk parameters of one asset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AssetRisk {
    /// Index price in quote atoms per whole unit of the asset (USDC: `10^6`), `>= 0`.
    pub price: i64,
    /// Atoms per whole unit of the asset (`10^decimals`), `> 0`.
    pub unit: i64,
    /// Weight of a positive holding as collateral.
    pub haircut: Haircut,
    /// Initial-margin fraction of a borrow.
    pub borrow_imf: Fraction,
    /// Maintenance-margin fraction of a borrow.
    pub borrow_mmf: Fraction,
}

/// Risk parameters of one perpetual market.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarketRisk {
    /// Mark price in ticks, `>= 0`.
    pub mark: i64,
    /// Quote atoms that one lot at one tick is worth (`tick_size * step_size` in atoms), `> 0`.
    pub notional_per_tick_lot: i64,
    pub imf: Fraction,
    pub mmf: Fraction,
}

/// Everything the kernel needs besides the accounts: prices and curves of every asset and market.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskParams {
    /// Atoms per whole quote unit (USDC: `10^6`), `> 0`; notionals are divided by it for the curves.
    pub quote_unit: i64,
    pub assets: Vec<AssetRisk>,
    pub markets: Vec<MarketRisk>,
}

impl RiskParams {
    /// Checks every parameter's domain (the calls of this module do it first).
    ///
    /// # Errors
    /// [`RiskError::InvalidValue`] naming the first parameter out of its domain.
    pub fn validate(&self) -> Result<(), RiskError> {
        positive(&"quote_unit", self.quote_unit)?;
        for (index, asset) in self.assets.iter().enumerate() {
            non_negative(&format_args!("assets[{index}].price"), asset.price)?;
            positive(&format_args!("assets[{index}].unit"), asset.unit)?;
            if let Haircut::InverseSqrt { base, penalty } = asset.haircut {
                curve_parameter(&format_args!("assets[{index}].haircut.base"), base)?;
                curve_parameter(&format_args!("assets[{index}].haircut.penalty"), penalty)?;
            }
            fraction(&format_args!("assets[{index}].borrow_imf"), asset.borrow_imf)?;
            fraction(&format_args!("assets[{index}].borrow_mmf"), asset.borrow_mmf)?;
        }
        for (index, market) in self.markets.iter().enumerate() {
            non_negative(&format_args!("markets[{index}].mark"), market.mark)?;
            positive(&format_args!("markets[{index}].notional_per_tick_lot"), market.notional_per_tick_lot)?;
            fraction(&format_args!("markets[{index}].imf"), market.imf)?;
            fraction(&format_args!("markets[{index}].mmf"), market.mmf)?;
        }
        Ok(())
    }
}

fn positive(name: &dyn std::fmt::Display, value: i64) -> Result<(), RiskError> {
    if value > 0 {
        Ok(())
    } else {
        Err(RiskError::InvalidValue(format!("{name} must be positive, got {value}")))
    }
}

fn non_negative(name: &dyn std::fmt::Display, value: i64) -> Result<(), RiskError> {
    if value >= 0 {
        Ok(())
    } else {
        Err(RiskError::InvalidValue(format!("{name} must be >= 0, got {value}")))
    }
}

fn curve_parameter(name: &dyn std::fmt::Display, value: f64) -> Result<(), RiskError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(RiskError::InvalidValue(format!("{name} must be finite and >= 0, got {value}")))
    }
}

fn fraction(name: &dyn std::fmt::Display, fraction: Fraction) -> Result<(), RiskError> {
    curve_parameter(&format_args!("{name}.base"), fraction.base)?;
    curve_parameter(&format_args!("{name}.factor"), fraction.factor)
}

/// One account's state, borrowed from wherever the caller keeps it.
#[derive(Clone, Copy, Debug)]
pub struct AccountState<'a> {
    /// Per asset: signed holding in atoms (free + locked + lent); a negative one is owed too.
    pub holdings: &'a [i64],
    /// Per asset: atoms borrowed from the pools, `>= 0` — a liability and an exposure even while
    /// the borrowed cash is still held. Empty when the account borrows nothing.
    pub borrowed: &'a [i64],
    /// Per perpetual market: signed position in lots.
    pub net_qty: &'a [i64],
    /// Per perpetual market: signed cost basis in quote atoms since the last realization.
    pub net_cost: &'a [i64],
    /// Per perpetual market: lots of open buy orders, `>= 0`.
    pub open_bids: &'a [i64],
    /// Per perpetual market: lots of open sell orders, `>= 0`.
    pub open_asks: &'a [i64],
    /// The account's leverage setting, `>= 1` (the venue allows 1 to 50).
    pub max_leverage: u32,
}

/// An account's margin, all amounts in quote atoms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Margin {
    /// Σ haircut value of positive holdings (rounded down).
    pub collateral: i64,
    /// Σ value of borrows (rounded up).
    pub liabilities: i64,
    pub unrealized_pnl: i64,
    /// collateral + unrealized PnL − liabilities.
    pub net_equity: i64,
    pub initial_margin: i64,
    pub maintenance_margin: i64,
    /// Σ notional of every exposure: positions with their risk-increasing orders, and borrows.
    pub exposure: i64,
    /// initial margin / net equity (+inf when net equity <= 0).
    pub imr: f64,
    /// maintenance margin / net equity (+inf when net equity <= 0).
    pub mmr: f64,
    /// net equity / exposure (+inf without exposure).
    pub margin_fraction: f64,
}

impl Margin {
    /// Equity not locked by initial margin (saturating at `i64::MIN`); negative means over-extended.
    #[must_use]
    pub fn available(&self) -> i64 {
        self.net_equity.saturating_sub(self.initial_margin)
    }

    /// Whether maintenance margin is due and reaches net equity (SPEC §9 starts liquidation).
    #[must_use]
    pub fn is_liquidatable(&self) -> bool {
        self.maintenance_margin > 0 && self.mmr >= 1.0
    }
}

/// The margin of one account.
///
/// # Errors
/// [`RiskError::InvalidValue`] for a parameter or account field out of its domain,
/// [`RiskError::Shape`] for a column whose length is not the number of assets or markets,
/// [`RiskError::Overflow`] when an amount does not fit an `i64`.
pub fn account_margin(params: &RiskParams, account: &AccountState<'_>) -> Result<Margin, RiskError> {
    params.validate()?;
    check_account_shape(params, account)?;
    Ok(margin_of(params, &OnTheFly(params), account)?)
}

fn check_account_shape(params: &RiskParams, account: &AccountState<'_>) -> Result<(), RiskError> {
    let assets = params.assets.len();
    let markets = params.markets.len();
    for (name, length, expected, per) in [
        ("holdings", account.holdings.len(), assets, "asset"),
        ("borrowed", if account.borrowed.is_empty() { assets } else { account.borrowed.len() }, assets, "asset"),
        ("net_qty", account.net_qty.len(), markets, "market"),
        ("net_cost", account.net_cost.len(), markets, "market"),
        ("open_bids", account.open_bids.len(), markets, "market"),
        ("open_asks", account.open_asks.len(), markets, "market"),
    ] {
        if length != expected {
            return Err(RiskError::Shape(format!("{name} has {length} entries, expected {expected} (one per {per})")));
        }
    }
    Ok(())
}

/// What the formulas need of one asset besides its [`AssetRisk`]: constants of the parameters,
/// computed once per scan rather than once per account.
#[derive(Clone, Copy, Debug)]
struct AssetConstants {
    /// `price` and `unit`, in a scan divided by their greatest common divisor: the same ratio, so
    /// the same exact values, and no division at all when the unit divides the price (USDC, BTC,
    /// ETH at whole-dollar prices).
    price: u64,
    unit: u64,
    /// Ends of the flat parts of the haircut and borrow curves ([`Haircut::flat_end`]).
    haircut_flat_end: f64,
    borrow_imf_flat_end: f64,
    borrow_mmf_flat_end: f64,
}

impl AssetConstants {
    fn of(asset: &AssetRisk, quote_unit: f64) -> AssetConstants {
        AssetConstants {
            price: asset.price.unsigned_abs(),
            unit: asset.unit.unsigned_abs(),
            haircut_flat_end: asset.haircut.flat_end(quote_unit),
            borrow_imf_flat_end: asset.borrow_imf.flat_end(quote_unit),
            borrow_mmf_flat_end: asset.borrow_mmf.flat_end(quote_unit),
        }
    }

    /// The price ratio in lowest terms (a few divisions: worth it once per scan, not per account).
    fn reduced(self) -> AssetConstants {
        let divisor = greatest_common_divisor(self.price, self.unit).max(1);
        AssetConstants { price: self.price / divisor, unit: self.unit / divisor, ..self }
    }
}

/// The ends of a market's IMF and MMF flat parts ([`Fraction::flat_end`]).
#[derive(Clone, Copy, Debug)]
struct MarketConstants {
    imf_flat_end: f64,
    mmf_flat_end: f64,
}

impl MarketConstants {
    fn of(market: &MarketRisk, quote_unit: f64) -> MarketConstants {
        MarketConstants { imf_flat_end: market.imf.flat_end(quote_unit), mmf_flat_end: market.mmf.flat_end(quote_unit) }
    }
}

fn greatest_common_divisor(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Where [`margin_of`] finds the constants: computed on the fly for one account ([`OnTheFly`]), or
/// looked up after being computed once for a whole scan ([`Prepared`]). Both give the same values.
trait Constants {
    fn asset(&self, index: usize) -> AssetConstants;
    fn market(&self, index: usize) -> MarketConstants;
}

/// Constants computed when asked (a few divisions per asset and market): no allocation.
struct OnTheFly<'a>(&'a RiskParams);

impl Constants for OnTheFly<'_> {
    fn asset(&self, index: usize) -> AssetConstants {
        AssetConstants::of(&self.0.assets[index], self.0.quote_unit as f64)
    }
    fn market(&self, index: usize) -> MarketConstants {
        MarketConstants::of(&self.0.markets[index], self.0.quote_unit as f64)
    }
}

/// Constants of every asset and market, computed once.
#[derive(Clone, Debug)]
struct Prepared {
    assets: Vec<AssetConstants>,
    markets: Vec<MarketConstants>,
    /// The scan's fast path, when the parameters allow it.
    lanes: Option<lanes::LanePlan>,
}

impl Prepared {
    fn new(params: &RiskParams) -> Prepared {
        let quote_unit = params.quote_unit as f64;
        let assets: Vec<AssetConstants> =
            params.assets.iter().map(|asset| AssetConstants::of(asset, quote_unit).reduced()).collect();
        let lanes = lanes::LanePlan::new(params, |index| (assets[index].price, assets[index].unit));
        Prepared {
            assets,
            markets: params.markets.iter().map(|market| MarketConstants::of(market, quote_unit)).collect(),
            lanes,
        }
    }
}

impl Constants for Prepared {
    #[inline]
    fn asset(&self, index: usize) -> AssetConstants {
        self.assets[index]
    }
    #[inline]
    fn market(&self, index: usize) -> MarketConstants {
        self.markets[index]
    }
}

/// The margin of an account whose parameters are validated and whose columns have the right lengths.
#[inline]
fn margin_of(params: &RiskParams, constants: &impl Constants, account: &AccountState<'_>) -> Result<Margin, Fault> {
    if account.max_leverage == 0 {
        return Err(Fault::ZeroLeverage);
    }
    let quote_unit = params.quote_unit as f64;
    let leverage = Leverage::new(account.max_leverage);
    let mut totals = Totals::default();
    for (index, (asset, &holding)) in params.assets.iter().zip(account.holdings).enumerate() {
        let borrowed = account.borrowed.get(index).copied().unwrap_or(0);
        if borrowed < 0 {
            return Err(Fault::NegativeBorrow { borrowed, asset: index });
        }
        totals.add_holding(asset, &constants.asset(index), holding, borrowed, leverage, quote_unit)?;
    }
    for (index, market) in params.markets.iter().enumerate() {
        totals.add_position(&position_terms(market, &constants.market(index), account, index, leverage, quote_unit)?);
    }
    totals.margin()
}

/// Why an account's margin cannot be computed. Plain data (no allocation, no drop glue in the hot
/// loop); it becomes a [`RiskError`] when it leaves the module.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// An amount, named, that does not fit an `i64`.
    Overflow(&'static str),
    ZeroLeverage,
    NegativeBorrow {
        borrowed: i64,
        asset: usize,
    },
    NegativeOrders {
        open_bids: i64,
        open_asks: i64,
        market: usize,
    },
}

impl From<Fault> for RiskError {
    #[cold]
    fn from(fault: Fault) -> RiskError {
        match fault {
            Fault::Overflow(name) => RiskError::Overflow(name),
            Fault::ZeroLeverage => RiskError::InvalidValue("max_leverage must be at least 1, got 0".to_owned()),
            Fault::NegativeBorrow { borrowed, asset } => {
                RiskError::InvalidValue(format!("borrowed must be >= 0 atoms, got {borrowed} of asset {asset}"))
            }
            Fault::NegativeOrders { open_bids, open_asks, market } => RiskError::InvalidValue(format!(
                "open orders must be >= 0 lots, got open_bids {open_bids} and open_asks {open_asks} in market {market}"
            )),
        }
    }
}

/// Running sums of one account. Every term fits an `i64`, so these `i128` sums cannot overflow.
#[derive(Default)]
struct Totals {
    collateral: i128,
    liabilities: i128,
    unrealized_pnl: i128,
    initial_margin: i128,
    maintenance_margin: i128,
    exposure: i128,
}

impl Totals {
    #[inline]
    fn add_holding(
        &mut self,
        asset: &AssetRisk,
        constants: &AssetConstants,
        holding: i64,
        borrowed: i64,
        leverage: Leverage,
        quote_unit: f64,
    ) -> Result<(), Fault> {
        let (price, unit) = (constants.price, constants.unit);
        if holding > 0 {
            let value = fitting(mul_div(holding.unsigned_abs(), price, unit, Toward::Account), "collateral value")?;
            let weight = asset.haircut.weight_below(value, quote_unit, constants.haircut_flat_end);
            let collateral = mul_ratio(value, weight, Toward::Account);
            self.collateral += i128::from(fitting(collateral, "weighted collateral")?);
        }
        let owed = holding.min(0).unsigned_abs().checked_add(borrowed.unsigned_abs());
        let owed = owed.ok_or(Fault::Overflow("liability"))?;
        if owed > 0 {
            let liability = fitting(mul_div(owed, price, unit, Toward::Venue), "liability")?;
            let mmf = asset.borrow_mmf.at_below(liability, quote_unit, constants.borrow_mmf_flat_end);
            let imf = asset.borrow_imf.at_below(liability, quote_unit, constants.borrow_imf_flat_end);
            let maintenance = mul_ratio(liability, mmf, Toward::Venue);
            self.liabilities += i128::from(liability);
            self.exposure += i128::from(liability);
            self.initial_margin += i128::from(initial_margin(liability, imf, leverage)?);
            self.maintenance_margin += i128::from(fitting(maintenance, "borrow maintenance margin")?);
        }
        Ok(())
    }

    #[inline]
    fn add_position(&mut self, terms: &PositionTerms) {
        self.unrealized_pnl += terms.unrealized_pnl;
        self.exposure += i128::from(terms.exposure_notional);
        self.initial_margin += i128::from(terms.initial_margin);
        self.maintenance_margin += i128::from(terms.maintenance_margin);
    }

    fn margin(&self) -> Result<Margin, Fault> {
        let amount = |value: i128, name: &'static str| i64::try_from(value).map_err(|_| Fault::Overflow(name));
        let collateral = amount(self.collateral, "collateral")?;
        let liabilities = amount(self.liabilities, "liabilities")?;
        let unrealized_pnl = amount(self.unrealized_pnl, "unrealized PnL")?;
        let net_equity = amount(self.collateral + self.unrealized_pnl - self.liabilities, "net equity")?;
        let initial_margin = amount(self.initial_margin, "initial margin")?;
        let maintenance_margin = amount(self.maintenance_margin, "maintenance margin")?;
        let exposure = amount(self.exposure, "exposure")?;
        Ok(Margin {
            collateral,
            liabilities,
            unrealized_pnl,
            net_equity,
            initial_margin,
            maintenance_margin,
            exposure,
            imr: ratio_to_equity(initial_margin, net_equity),
            mmr: ratio_to_equity(maintenance_margin, net_equity),
            margin_fraction: if exposure == 0 { f64::INFINITY } else { net_equity as f64 / exposure as f64 },
        })
    }
}

fn ratio_to_equity(requirement: i64, net_equity: i64) -> f64 {
    if net_equity <= 0 {
        f64::INFINITY
    } else {
        requirement as f64 / net_equity as f64
    }
}

/// What one perpetual position adds to its account.
#[derive(Clone, Copy, Debug)]
struct PositionTerms {
    /// `net_qty * mark * c - net_cost`.
    unrealized_pnl: i128,
    /// The notional including risk-increasing orders.
    exposure_notional: i64,
    initial_margin: i64,
    maintenance_margin: i64,
}

#[inline]
fn position_terms(
    market: &MarketRisk,
    constants: &MarketConstants,
    account: &AccountState<'_>,
    index: usize,
    leverage: Leverage,
    quote_unit: f64,
) -> Result<PositionTerms, Fault> {
    let net_qty = account.net_qty[index];
    let open_bids = account.open_bids[index];
    let open_asks = account.open_asks[index];
    if open_bids < 0 || open_asks < 0 {
        return Err(Fault::NegativeOrders { open_bids, open_asks, market: index });
    }
    let position_notional = notional(market, net_qty.checked_abs(), "position notional")?;
    // A quantity beyond an i64 is an overflow of its notional, whatever the mark.
    let with_bids = net_qty.checked_add(open_bids).and_then(i64::checked_abs);
    let with_asks = net_qty.checked_sub(open_asks).and_then(i64::checked_abs);
    let exposure_qty = with_bids.zip(with_asks).map(|(bids, asks)| bids.max(asks));
    let exposure_notional = notional(market, exposure_qty, "exposure notional")?;
    let signed_notional = if net_qty < 0 { -i128::from(position_notional) } else { i128::from(position_notional) };
    let imf = market.imf.at_below(exposure_notional, quote_unit, constants.imf_flat_end);
    let mmf = market.mmf.at_below(position_notional, quote_unit, constants.mmf_flat_end);
    Ok(PositionTerms {
        unrealized_pnl: signed_notional - i128::from(account.net_cost[index]),
        exposure_notional,
        initial_margin: initial_margin(exposure_notional, imf, leverage)?,
        maintenance_margin: fitting(mul_ratio(position_notional, mmf, Toward::Venue), "position maintenance margin")?,
    })
}

/// `quantity * mark * notional_per_tick_lot` in quote atoms (`quantity >= 0`, `None` when it does
/// not fit an `i64`). The factors are non-negative, so a product that overflows an `i64` on the way
/// cannot come back into range.
#[inline]
fn notional(market: &MarketRisk, quantity: Option<i64>, name: &'static str) -> Result<i64, Fault> {
    let atoms = quantity
        .and_then(|lots| lots.checked_mul(market.mark))
        .and_then(|ticks| ticks.checked_mul(market.notional_per_tick_lot));
    fitting(atoms, name)
}

/// An account's leverage setting (`>= 1`) with its f64 reciprocal, so the leverage term of every
/// exposure costs a multiplication instead of an integer division.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leverage {
    max: u32,
    reciprocal: f64,
}

impl Leverage {
    pub(super) fn new(max_leverage: u32) -> Leverage {
        Leverage { max: max_leverage, reciprocal: 1.0 / f64::from(max_leverage) }
    }

    /// `ceil(notional / max)`, exactly. Below 2^52 the f64 quotient `notional * reciprocal` is
    /// within one of the true one (two roundings of 2^-53 each, on a quotient below 2^52), so its
    /// truncation is corrected to the exact floor by the integer remainder; above, a division.
    #[inline(always)]
    pub(super) fn ceil_share(self, notional: u64) -> u64 {
        const F64_EXACT_BELOW: u64 = 1 << 52;
        if notional >= F64_EXACT_BELOW {
            return notional.div_ceil(u64::from(self.max));
        }
        // Truncation of a non-negative f64 below 2^52 + 1: exact, and in range of an i64.
        let estimate = (notional as f64 * self.reciprocal) as i64;
        let notional = i64::try_from(notional).unwrap_or(i64::MAX);
        let divisor = i64::from(self.max);
        let mut quotient = estimate;
        let mut remainder = notional - estimate * divisor;
        if remainder < 0 {
            quotient -= 1;
            remainder += divisor;
        } else if remainder >= divisor {
            quotient += 1;
            remainder -= divisor;
        }
        (quotient + i64::from(remainder != 0)) as u64
    }
}

/// `ceil(notional * max(fraction, 1 / max_leverage))`, the leverage term exactly.
#[inline(always)]
fn initial_margin(notional: i64, fraction: f64, leverage: Leverage) -> Result<i64, Fault> {
    let by_size = fitting(mul_ratio(notional, fraction, Toward::Venue), "initial margin")?;
    // by_size >= notional / max_leverage (checked without a division) makes the leverage term moot.
    if i128::from(by_size) * i128::from(leverage.max) >= i128::from(notional) {
        return Ok(by_size);
    }
    let by_leverage = leverage.ceil_share(notional.unsigned_abs());
    fitting(i64::try_from(by_leverage).ok(), "initial margin")
}

/// The amount, or an overflow error naming it.
#[inline]
fn fitting(amount: Option<i64>, name: &'static str) -> Result<i64, Fault> {
    match amount {
        Some(amount) => Ok(amount),
        None => Err(Fault::Overflow(name)),
    }
}
