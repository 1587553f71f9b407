//! The scan's fast path: accounts in f64 vector lanes (one lane an account; four with AVX2, eight
//! with AVX-512), each either certified equal to the exact path or declined to it.
//!
//! Contract: for every account of a block, `avx2::scan` (and `avx512::scan`, the same formulas
//! from `lane_formulas!` on eight lanes) writes exactly the row the exact
//! path (`margin_of`) gives (every amount equal, every ratio the same bits), or hands the account
//! to the exact path, which then also reports its faults. An account is declined instead of
//! risking a difference when an input or an amount computed from it reaches [`LIMIT`] (2^45 atoms,
//! about 35 million USDC), when an order count or a borrow is negative or the leverage is 0, and
//! when the product of an amount and a weight or fraction lies between the two f64 tests of
//! `rounded` (almost surely a whole number, or surely not one). A plan exists only for
//! parameters whose constants are exact f64s (a lot's notional at the mark, the reduced price
//! ratio), whose curves' flat parts are at most 1, and with at most [`MAX_TERMS`] assets and
//! markets together; without one every account takes the exact path, as on a CPU without AVX2 and
//! FMA. The last few accounts of a block of rows that do not fill a vector take the exact path.
//!
//! Why the results are exact: integers below 2^53 are f64s, and sums, differences and products of
//! them that stay below 2^53 are exact; below the limit every term is at most 2^45 in magnitude
//! and a sum has at most `2 * MAX_TERMS` of them, so every partial sum is exact too.
//! `floor(h * p / u)` is the f64 estimate corrected by a remainder that two fused
//! multiply-subtracts make exact, and `ceil(n / leverage)` is `ceil((n - 1/2) / leverage)`, which
//! f64 cannot get wrong (see `ceil_div`). The curves are the same IEEE expressions with the same
//! flat-part shortcut, and the ratios the same f64 divisions of the same whole numbers as
//! `Totals::margin`'s.
//!
//! Costs: a block's columns (four or eight consecutive accounts) are loaded four entries a row at a
//! time and transposed in registers, so a lane holds one account's market or asset (a four-wide
//! column is loaded whole). Per market about forty vector operations, per asset about
//! as many, borrow terms included (computed for every asset: a branch on whether one of four
//! accounts owes mispredicts too often), fewer for a whole price (nothing to divide) or the identity
//! haircut (nothing to round); square roots and divisions only past a curve's flat part; then a
//! dozen to finish the block's rows, with no per-account loop or horizontal sum. About 320
//! instructions an account of 4 holdings and 4 perpetuals with AVX2: 3.5-4 ns a position on one
//! core of the benchmark VM, against about 13 ns for the exact path; with AVX-512 (eight accounts a
//! vector, 32 registers, so no spills) 15-25% less again
//! (`benches/examples/profile_margin.rs`; callgrind, which has no AVX-512, for the AVX2 counts).

use super::{Fault, Haircut, Margin, MarketRisk, RiskParams};

/// Inputs and amounts at or above this many atoms (2^45, about 35 million USDC) send the account to
/// the exact path.
const LIMIT: f64 = 35_184_372_088_832.0;

/// Assets plus markets of a plan: a sum (net equity has two terms an asset, collateral and
/// liability, and two a market, signed notional and cost) then has at most 128 terms of at most
/// 2^45, so it stays below 2^53: exact.
const MAX_TERMS: usize = 64;

/// `rounding::round_in_f64`'s clearance, 2^-48 of the product: farther from a whole number, a
/// product rounds strictly.
const CLEARANCE: f64 = 1.0 / 281_474_976_710_656.0;

/// 2^-52 of the product: nearer to a whole number, a product is that number.
const NEAR: f64 = 1.0 / 4_503_599_627_370_496.0;

/// Numerator of the `inverseSqrt` haircut (as in `curves`).
const INVERSE_SQRT_NUMERATOR: f64 = 1.1;

/// A size-scaled fraction: `max(base, factor * sqrt(N / quote_unit))`, `base` below `flat_end`.
#[derive(Clone, Copy, Debug)]
struct Curve {
    base: f64,
    factor: f64,
    flat_end: f64,
}

impl Curve {
    fn of(fraction: super::Fraction, quote_unit: f64) -> Curve {
        Curve { base: fraction.base, factor: fraction.factor, flat_end: fraction.flat_end(quote_unit) }
    }
}

/// A haircut: `min(base, 1.1 / (1 + penalty * sqrt(N / quote_unit)))`, `base` below `flat_end`
/// (the identity is base 1 with no end).
#[derive(Clone, Copy, Debug)]
struct Weight {
    base: f64,
    penalty: f64,
    flat_end: f64,
}

/// One asset's constants.
#[derive(Clone, Copy, Debug)]
struct AssetTerms {
    /// The price ratio in lowest terms, as in `AssetConstants`, and `1 / unit`.
    price: f64,
    unit: f64,
    unit_reciprocal: f64,
    /// Whether `unit` is 1: a value is then the product `holding * price`, nothing to divide.
    whole_price: bool,
    haircut: Weight,
    /// Whether the haircut is the identity: collateral is then the value.
    identity: bool,
    borrow_imf: Curve,
    borrow_mmf: Curve,
}

/// One perpetual market's constants.
#[derive(Clone, Copy, Debug)]
struct MarketTerms {
    /// Quote atoms one lot is worth at the mark (`mark * notional_per_tick_lot`).
    lot_notional: f64,
    imf: Curve,
    mmf: Curve,
}

/// What the scan writes for one account: the fields of a [`Margin`] it reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Row {
    pub net_equity: i64,
    pub initial_margin: i64,
    pub maintenance_margin: i64,
    pub imr: f64,
    pub mmr: f64,
    pub margin_fraction: f64,
    pub liquidatable: bool,
}

impl Row {
    pub(super) fn of(margin: &Margin) -> Row {
        Row {
            net_equity: margin.net_equity,
            initial_margin: margin.initial_margin,
            maintenance_margin: margin.maintenance_margin,
            imr: margin.imr,
            mmr: margin.mmr,
            margin_fraction: margin.margin_fraction,
            liquidatable: margin.is_liquidatable(),
        }
    }
}

/// The constants of one scan's parameters, as the lanes use them.
#[derive(Clone, Debug)]
pub(super) struct LanePlan {
    quote_unit: f64,
    assets: Vec<AssetTerms>,
    markets: Vec<MarketTerms>,
}

impl LanePlan {
    /// The plan for validated `params` (with `reduced` giving each asset's price ratio in lowest
    /// terms), or `None` when the fast path cannot be exact for them (see the module docs).
    pub(super) fn new(params: &RiskParams, reduced: impl Fn(usize) -> (u64, u64)) -> Option<LanePlan> {
        if params.assets.len() + params.markets.len() > MAX_TERMS {
            return None;
        }
        let quote_unit = params.quote_unit as f64;
        let mut assets = Vec::with_capacity(params.assets.len());
        for (index, asset) in params.assets.iter().enumerate() {
            let (price, unit) = reduced(index);
            let (price, unit) = (exact_f64(price)?, exact_f64(unit)?);
            let haircut = match asset.haircut {
                Haircut::Identity => Weight { base: 1.0, penalty: 0.0, flat_end: f64::INFINITY },
                Haircut::InverseSqrt { base, penalty } => {
                    Weight { base, penalty, flat_end: asset.haircut.flat_end(quote_unit) }
                }
            };
            assets.push(AssetTerms {
                price,
                unit,
                unit_reciprocal: 1.0 / unit,
                whole_price: unit == 1.0,
                haircut,
                identity: asset.haircut == Haircut::Identity,
                borrow_imf: Curve::of(asset.borrow_imf, quote_unit),
                borrow_mmf: Curve::of(asset.borrow_mmf, quote_unit),
            });
        }
        let mut markets = Vec::with_capacity(params.markets.len());
        for market in &params.markets {
            markets.push(MarketTerms {
                lot_notional: lot_notional(market)?,
                imf: Curve::of(market.imf, quote_unit),
                mmf: Curve::of(market.mmf, quote_unit),
            });
        }
        let bases = assets.iter().flat_map(|asset| [asset.haircut.base, asset.borrow_imf.base, asset.borrow_mmf.base]);
        let bases = bases.chain(markets.iter().flat_map(|market| [market.imf.base, market.mmf.base]));
        // Flat parts at most 1 keep a product with them at most its amount (past a flat part the
        // lanes check the fraction).
        if !bases.into_iter().all(|base| base <= 1.0) {
            return None;
        }
        Some(LanePlan { quote_unit, assets, markets })
    }
}

/// `value` as an f64, when it is one exactly (below 2^53).
fn exact_f64(value: u64) -> Option<f64> {
    (value < 1 << 53).then_some(value as f64)
}

/// A lot's notional at the mark, when it is an exact f64.
fn lot_notional(market: &MarketRisk) -> Option<f64> {
    let notional = market.mark.checked_mul(market.notional_per_tick_lot)?;
    exact_f64(u64::try_from(notional).ok()?)
}

/// The element-wise arithmetic of a module's `V` (a newtype over its f64 vector), one intrinsic an
/// operation: `add`, `sub`, `mul`, `div`, `max` and `min` of two vectors (`max`/`min` return the
/// second operand when either is NaN; no lane the formulas keep is), `sqrt`, and `mul_sub`
/// (`self * factor - subtrahend`, rounded once).
#[cfg(target_arch = "x86_64")]
macro_rules! lane_arithmetic {
    ($features:literal, [$($name:ident: $intrinsic:ident),*], sqrt: $sqrt:ident, mul_sub: $fmsub:ident) => {
        impl V {
            $(
                #[inline]
                #[target_feature(enable = $features)]
                fn $name(self, other: V) -> V {
                    V($intrinsic(self.0, other.0))
                }
            )*
            #[inline]
            #[target_feature(enable = $features)]
            fn sqrt(self) -> V {
                V($sqrt(self.0))
            }
            #[inline]
            #[target_feature(enable = $features)]
            fn mul_sub(self, factor: V, subtrahend: V) -> V {
                V($fmsub(self.0, factor.0, subtrahend.0))
            }
        }
    };
}

/// The formulas of the lanes and the block loop around them (`scan`), written once and compiled
/// into a module with its target features. The module supplies `LANES` (accounts a vector), `V` (a
/// vector of f64 lanes: arithmetic, comparisons giving a `Mask`, `to_array`), `Mask` (a lane
/// predicate: `and`, `or`, `select`, `ones`, `all`, `bits`, `empty`), `Ranges` (range checks of
/// the loaded integers: `new`, `zero`, `signed`, `unsigned`, `out`), `transposed` (four entries a
/// row of a block's rows, as four vectors), `leverage_lanes`, `as_i64` and `unconvertible` (the
/// lanes whose amounts `as_i64` cannot convert exactly).
#[cfg(target_arch = "x86_64")]
macro_rules! lane_formulas {
    ($features:literal) => {
        /// Per-lane running sums (every term a whole number of at most 2^45), and the lanes that an
        /// f64 test could not settle.
        struct Sums {
            /// collateral + unrealized PnL - liabilities.
            net_equity: V,
            initial_margin: V,
            maintenance_margin: V,
            exposure: V,
            unsettled: Mask,
        }

        /// A whole-number divisor `1 <= d < 2^53` per lane, with its f64 reciprocal.
        #[derive(Clone, Copy)]
        struct Divisor {
            value: V,
            reciprocal: V,
        }

        /// Adds one asset of each lane's account (`Totals::add_holding` in lanes).
        #[inline]
        #[target_feature(enable = $features)]
        fn add_holding(
            plan: &LanePlan,
            terms: &AssetTerms,
            holding: V,
            borrowed: V,
            leverage: Divisor,
            sums: &mut Sums,
        ) {
            let zero = V::splat(0.0);
            let price = V::splat(terms.price);
            let unit = Divisor { value: V::splat(terms.unit), reciprocal: V::splat(terms.unit_reciprocal) };
            // A product at or beyond 2^53 rounds to at least 2^53: beyond the limit, declined.
            let long = holding.max(zero);
            let value = if terms.whole_price { long.mul(price) } else { floor_product_div(long, price, unit) };
            let limit = V::splat(LIMIT);
            sums.unsettled = sums.unsettled.or(value.ge(limit));
            if terms.identity {
                sums.net_equity = sums.net_equity.add(value);
            } else {
                let weight = haircut(plan, &terms.haircut, value);
                let (collateral, collateral_unsettled) = rounded(value, weight, false);
                sums.net_equity = sums.net_equity.add(collateral);
                sums.unsettled = sums.unsettled.or(collateral_unsettled);
            }
            // The borrow terms are computed whether or not any lane owes (zero where none does): a
            // branch on it would be as good as a coin toss where some accounts borrow.
            let owed = zero.sub(holding).max(zero).add(borrowed);
            let liability = if terms.whole_price { owed.mul(price) } else { ceil_product_div(owed, price, unit) };
            let (imf, imf_unsettled) = fraction(plan, &terms.borrow_imf, liability);
            let (mmf, mmf_unsettled) = fraction(plan, &terms.borrow_mmf, liability);
            let (maintenance, maintenance_unsettled) = rounded(liability, mmf, true);
            let (initial, initial_unsettled) = initial_margin(liability, imf, leverage);
            sums.unsettled = sums
                .unsettled
                .or(imf_unsettled)
                .or(mmf_unsettled)
                .or(maintenance_unsettled)
                .or(initial_unsettled)
                .or(liability.ge(limit));
            sums.net_equity = sums.net_equity.sub(liability);
            sums.exposure = sums.exposure.add(liability);
            sums.initial_margin = sums.initial_margin.add(initial);
            sums.maintenance_margin = sums.maintenance_margin.add(maintenance);
        }

        /// Adds one perpetual market of each lane's account (`position_terms` in lanes; the costs
        /// are subtracted by the caller).
        #[inline]
        #[target_feature(enable = $features)]
        fn add_position(
            plan: &LanePlan,
            terms: &MarketTerms,
            net_qty: V,
            exposure_lots: V,
            leverage: Divisor,
            sums: &mut Sums,
        ) {
            let lot_notional = V::splat(terms.lot_notional);
            // Exact below the limit (the exposure, checked, bounds the position).
            let signed = net_qty.mul(lot_notional);
            let position_notional = signed.abs();
            let exposure_notional = exposure_lots.mul(lot_notional);
            let (imf, imf_unsettled) = fraction(plan, &terms.imf, exposure_notional);
            let (mmf, mmf_unsettled) = fraction(plan, &terms.mmf, position_notional);
            let (maintenance, maintenance_unsettled) = rounded(position_notional, mmf, true);
            let (initial, initial_unsettled) = initial_margin(exposure_notional, imf, leverage);
            sums.unsettled = sums
                .unsettled
                .or(imf_unsettled)
                .or(mmf_unsettled)
                .or(maintenance_unsettled)
                .or(initial_unsettled)
                .or(exposure_notional.ge(V::splat(LIMIT)));
            sums.net_equity = sums.net_equity.add(signed);
            sums.exposure = sums.exposure.add(exposure_notional);
            sums.initial_margin = sums.initial_margin.add(initial);
            sums.maintenance_margin = sums.maintenance_margin.add(maintenance);
        }

        /// `Fraction::at_below` per lane, with the lanes whose fraction exceeds 1 (past the flat
        /// part; a product with them could pass the limit). The square roots only when a lane is
        /// past the flat part.
        #[inline]
        #[target_feature(enable = $features)]
        fn fraction(plan: &LanePlan, curve: &Curve, notional: V) -> (V, Mask) {
            let base = V::splat(curve.base);
            let flat = notional.lt(V::splat(curve.flat_end));
            if flat.all() {
                return (base, Mask::empty());
            }
            let scaled = V::splat(curve.factor).mul(notional.div(V::splat(plan.quote_unit)).sqrt());
            let fraction = flat.select(base, base.max(scaled));
            (fraction, fraction.gt(V::splat(1.0)))
        }

        /// `Haircut::weight_below` per lane (at most the base, so at most 1). The square roots only
        /// when a lane is past the flat part.
        #[inline]
        #[target_feature(enable = $features)]
        fn haircut(plan: &LanePlan, curve: &Weight, value: V) -> V {
            let base = V::splat(curve.base);
            let flat = value.lt(V::splat(curve.flat_end));
            if flat.all() {
                return base;
            }
            let root = value.div(V::splat(plan.quote_unit)).sqrt();
            let falling = V::splat(INVERSE_SQRT_NUMERATOR).div(V::splat(1.0).add(V::splat(curve.penalty).mul(root)));
            flat.select(base, base.min(falling))
        }

        /// `amount * ratio` (with `0 <= ratio <= 1`) rounded as `rounding::mul_ratio` rounds it (up
        /// when `up`, else down), with the lanes this f64 test cannot settle (the exact path must).
        /// `mul_ratio` takes a product within `x * 2^-50` of a whole number as that number and
        /// rounds the rest strictly, so rounding up gives the floor only when `x` is that near it,
        /// and rounding down the ceiling only when `x` is that near it: one distance decides. The
        /// f64 product is within `x * 2^-53` of the exact `x` and its distance to its floor is exact
        /// (to its ceiling, within 2^-53), so a distance below `x * 2^-52` is surely within the
        /// allowance and one beyond the rounding module's clearance (`x * 2^-48`) surely outside
        /// it. Between the two, the lane is unsettled.
        #[inline]
        #[target_feature(enable = $features)]
        fn rounded(amount: V, ratio: V, up: bool) -> (V, Mask) {
            let product = amount.mul(ratio);
            let whole = product.trunc();
            let fraction = product.sub(whole);
            let distance = if up { fraction } else { V::splat(1.0).sub(fraction) };
            let near = product.mul(V::splat(NEAR));
            let beyond_near = near.lt(distance);
            let unsettled = beyond_near.and(distance.le(product.mul(V::splat(CLEARANCE))));
            // Up: the ceiling unless near the floor. Down: the floor unless near the ceiling.
            let raise = if up { beyond_near } else { distance.le(near) };
            (whole.add(raise.ones()), unsettled)
        }

        /// `initial_margin`: `ceil(notional * max(fraction, 1 / leverage))`, with the unsettled
        /// lanes. The exact path takes the size term when `by_size * leverage >= notional`, else
        /// `ceil(notional / leverage)`; for a whole `by_size` that is the larger of the two.
        #[inline]
        #[target_feature(enable = $features)]
        fn initial_margin(notional: V, fraction: V, leverage: Divisor) -> (V, Mask) {
            let (by_size, unsettled) = rounded(notional, fraction, true);
            (by_size.max(ceil_div(notional, leverage)), unsettled)
        }

        /// `floor(a * b / divisor)` for whole numbers `a, b >= 0` whose quotient is below 2^46 (a
        /// larger one gives some value at least about 2^46, which the caller declines), without
        /// `a * b` having to be an exact f64. The estimate `a * b * (1 / divisor)` is within
        /// `2^-51` relative, so within one of the floor; the remainder `a * b - estimate * divisor`
        /// is exact: the fused `a * b - t`, with `t` the rounded `estimate * divisor`, is a whole
        /// number below 2^53 (the remainder plus `t`'s rounding error), and so is `t`'s rounding
        /// error, from a second fused operation.
        #[inline]
        #[target_feature(enable = $features)]
        fn floor_product_div(a: V, b: V, divisor: Divisor) -> V {
            let estimate = a.mul(b).mul(divisor.reciprocal).trunc();
            let remainder = exact_remainder(a, b, estimate, divisor.value);
            let low = remainder.lt(V::splat(0.0)).ones();
            let high = remainder.ge(divisor.value).ones();
            estimate.sub(low).add(high)
        }

        /// `ceil(a * b / divisor)`, with the domain and argument of [`floor_product_div`].
        #[inline]
        #[target_feature(enable = $features)]
        fn ceil_product_div(a: V, b: V, divisor: Divisor) -> V {
            let estimate = a.mul(b).mul(divisor.reciprocal).ceil();
            let shortfall = exact_remainder(a, b, estimate, divisor.value); // a * b - estimate * divisor
            let up = shortfall.gt(V::splat(0.0)).ones();
            let down = shortfall.le(V::splat(0.0).sub(divisor.value)).ones();
            estimate.add(up).sub(down)
        }

        /// `a * b - estimate * divisor`, exactly, when it is small (see [`floor_product_div`]).
        #[inline]
        #[target_feature(enable = $features)]
        fn exact_remainder(a: V, b: V, estimate: V, divisor: V) -> V {
            let rounded = estimate.mul(divisor);
            let rounding_error = estimate.mul_sub(divisor, rounded);
            a.mul_sub(b, rounded).sub(rounding_error)
        }

        /// `ceil(numerator / divisor)` for a whole number `0 <= numerator < 2^45`, as
        /// `ceil((numerator - 1/2) * (1 / divisor))`. With `numerator = k * divisor + j`, the exact
        /// `(numerator - 1/2) / divisor` is `k + (j - 1/2) / divisor`: at least `1 / (2 * divisor)`
        /// away from every whole number, below `k` for `j = 0` and above it otherwise, so its
        /// ceiling is the answer; the f64 evaluation (two roundings of `2^-53`, on a quotient below
        /// `2^45 / divisor`) is off by less than `2^-7 / divisor`, too little to cross one.
        #[inline]
        #[target_feature(enable = $features)]
        fn ceil_div(numerator: V, divisor: Divisor) -> V {
            numerator.sub(V::splat(0.5)).mul(divisor.reciprocal).ceil()
        }

        /// Rows `first..first + LANES` of a row-major column of `width` entries a row (empty for an
        /// empty column).
        fn rows_of(column: &[i64], first: usize, width: usize) -> &[i64] {
            column.get(first * width..(first + LANES) * width).unwrap_or(&[])
        }

        /// Writes the rows of the block `rows` (accounts `first..first + rows.len()` of `columns`,
        /// whose lengths were checked): `LANES` accounts at a time in lanes, and through `exact`
        /// (the exact path, which may fail) the accounts the lanes decline and the last few that do
        /// not fill a vector. Stops at the first failing account.
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::risk) fn scan(
            plan: &LanePlan,
            columns: &Columns<'_>,
            first: usize,
            mut rows: ScanOutput<'_>,
            exact: impl Fn(usize) -> Result<Row, Fault>,
        ) -> Result<(), (usize, Fault)> {
            let count = rows.len();
            let full = count - count % LANES;
            let write_exact = |row: usize, rows: &mut ScanOutput<'_>| -> Result<(), (usize, Fault)> {
                let index = first + row;
                rows.set(row, &exact(index).map_err(|fault| (index, fault))?);
                Ok(())
            };
            for block_start in (0..full).step_by(LANES) {
                let declined = block(plan, columns, first + block_start, &mut rows, block_start);
                for lane in 0..LANES {
                    if declined & (1 << lane) != 0 {
                        write_exact(block_start + lane, &mut rows)?;
                    }
                }
            }
            for row in full..count {
                write_exact(row, &mut rows)?;
            }
            Ok(())
        }

        /// Computes accounts `first..first + LANES` and writes them to `rows` from `row` on;
        /// returns the bits of the lanes declined (whose rows hold nothing meaningful yet).
        #[inline]
        #[target_feature(enable = $features)]
        fn block(plan: &LanePlan, columns: &Columns<'_>, first: usize, rows: &mut ScanOutput<'_>, row: usize) -> u32 {
            let assets = plan.assets.len();
            let markets = plan.markets.len();
            let leverage = leverage_lanes(columns.max_leverage.get(first..first + LANES).unwrap_or(&[]));
            let zero = V::splat(0.0);
            // A leverage of 0 (or one beyond what the lanes convert) is declined.
            let zero_leverage = leverage.le(zero);
            let leverage = zero_leverage.select(V::splat(1.0), leverage);
            let leverage = Divisor { value: leverage, reciprocal: V::splat(1.0).div(leverage) };
            let mut sums = Sums {
                net_equity: zero,
                initial_margin: zero,
                maintenance_margin: zero,
                exposure: zero,
                unsettled: zero_leverage,
            };
            let mut ranges = Ranges::new();
            let holdings = rows_of(columns.holdings, first, assets);
            let borrowed = rows_of(columns.borrowed, first, assets);
            for (group, terms) in plan.assets.chunks(4).enumerate() {
                let holding = transposed(holdings, assets, group);
                let borrow =
                    if borrowed.is_empty() { [Ranges::zero(); 4] } else { transposed(borrowed, assets, group) };
                for (lane, terms) in terms.iter().enumerate() {
                    let holding = ranges.signed(holding[lane]);
                    let borrow = ranges.unsigned(borrow[lane]);
                    add_holding(plan, terms, holding, borrow, leverage, &mut sums);
                }
            }
            let (net_qty, net_cost) =
                (rows_of(columns.net_qty, first, markets), rows_of(columns.net_cost, first, markets));
            let (open_bids, open_asks) =
                (rows_of(columns.open_bids, first, markets), rows_of(columns.open_asks, first, markets));
            for (group, terms) in plan.markets.chunks(4).enumerate() {
                // Each column is used up as soon as it is transposed, so few vectors are live at
                // once: costs go straight into net equity, orders into the exposure's lots.
                for cost in &transposed(net_cost, markets, group)[..terms.len()] {
                    sums.net_equity = sums.net_equity.sub(ranges.signed(*cost));
                }
                let qty = transposed(net_qty, markets, group).map(|qty| ranges.signed(qty));
                let (bids, asks) = (transposed(open_bids, markets, group), transposed(open_asks, markets, group));
                for (lane, terms) in terms.iter().enumerate() {
                    let (bids, asks) = (ranges.unsigned(bids[lane]), ranges.unsigned(asks[lane]));
                    // |q| <= max(|q + bids|, |q - asks|) for non-negative orders: one bound on the
                    // exposure covers the position too.
                    let exposure_lots = qty[lane].add(bids).abs().max(qty[lane].sub(asks).abs());
                    add_position(plan, terms, qty[lane], exposure_lots, leverage, &mut sums);
                }
            }
            sums.unsettled = sums.unsettled.or(ranges.out());
            finish(&sums, rows, row)
        }

        /// `Totals::margin` for a block, written to `rows` from `row` on: every amount is a whole
        /// number below 2^53 and each ratio the same f64 division of the same two values as the
        /// exact path's. Returns the bits of the unsettled lanes (and of those whose amounts the
        /// module cannot convert back exactly).
        #[inline]
        #[target_feature(enable = $features)]
        fn finish(sums: &Sums, rows: &mut ScanOutput<'_>, row: usize) -> u32 {
            let Sums { net_equity, initial_margin, maintenance_margin, exposure, .. } = *sums;
            let zero = V::splat(0.0);
            let infinity = V::splat(f64::INFINITY);
            let unsettled = sums.unsettled.or(unconvertible(net_equity, initial_margin, maintenance_margin));
            let positive = net_equity.gt(zero);
            let imr = positive.select(initial_margin.div(net_equity), infinity);
            let mmr = positive.select(maintenance_margin.div(net_equity), infinity);
            let margin_fraction = exposure.ne(zero).select(net_equity.div(exposure), infinity);
            let liquidatable = maintenance_margin.gt(zero).and(mmr.ge(V::splat(1.0))).bits();
            let span = row..row + LANES;
            rows.net_equity[span.clone()].copy_from_slice(&as_i64(net_equity));
            rows.initial_margin[span.clone()].copy_from_slice(&as_i64(initial_margin));
            rows.maintenance_margin[span.clone()].copy_from_slice(&as_i64(maintenance_margin));
            rows.imr[span.clone()].copy_from_slice(&imr.to_array());
            rows.mmr[span.clone()].copy_from_slice(&mmr.to_array());
            rows.margin_fraction[span.clone()].copy_from_slice(&margin_fraction.to_array());
            let flags: [bool; LANES] = std::array::from_fn(|lane| liquidatable & (1 << lane) != 0);
            rows.liquidatable[span].copy_from_slice(&flags);
            unsettled.bits()
        }
    };
}

/// The lanes in AVX2 vectors of four f64 (lane `i` is account `first + i` of a block of four). Every
/// function needs AVX2 and FMA: [`super::scan`] calls in only after checking the CPU.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    use std::arch::x86_64::{
        __m256d, __m256i, _mm256_add_epi64, _mm256_add_pd, _mm256_and_pd, _mm256_and_si256, _mm256_andnot_pd,
        _mm256_blendv_pd, _mm256_castpd_si256, _mm256_castsi256_pd, _mm256_cmp_pd, _mm256_cmpeq_epi64,
        _mm256_cvtepi32_pd, _mm256_div_pd, _mm256_fmsub_pd, _mm256_max_pd, _mm256_min_pd, _mm256_movemask_pd,
        _mm256_mul_pd, _mm256_or_pd, _mm256_or_si256, _mm256_permute2x128_si256, _mm256_round_pd, _mm256_set1_epi64x,
        _mm256_set1_pd, _mm256_setzero_pd, _mm256_setzero_si256, _mm256_sqrt_pd, _mm256_sub_epi64, _mm256_sub_pd,
        _mm256_unpackhi_epi64, _mm256_unpacklo_epi64, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NEQ_UQ,
        _MM_FROUND_NO_EXC, _MM_FROUND_TO_POS_INF, _MM_FROUND_TO_ZERO,
    };

    use super::{
        AssetTerms, Curve, Fault, LanePlan, MarketTerms, Row, Weight, CLEARANCE, INVERSE_SQRT_NUMERATOR, LIMIT, NEAR,
    };
    use crate::risk::scan::{Columns, ScanOutput};

    /// Accounts per block: one vector of f64.
    const LANES: usize = 4;

    /// Four f64 lanes.
    #[derive(Clone, Copy)]
    struct V(__m256d);

    /// A predicate per lane: all ones (true) or all zeros.
    #[derive(Clone, Copy)]
    struct Mask(__m256d);

    impl V {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn splat(value: f64) -> V {
            V(_mm256_set1_pd(value))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn abs(self) -> V {
            V(_mm256_andnot_pd(_mm256_set1_pd(-0.0), self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn trunc(self) -> V {
            V(_mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn ceil(self) -> V {
            V(_mm256_round_pd::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn lt(self, other: V) -> Mask {
            Mask(_mm256_cmp_pd::<_CMP_LT_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn le(self, other: V) -> Mask {
            Mask(_mm256_cmp_pd::<_CMP_LE_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn gt(self, other: V) -> Mask {
            Mask(_mm256_cmp_pd::<_CMP_GT_OQ>(self.0, other.0))
        }
        /// `>=`, false for NaN.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn ge(self, other: V) -> Mask {
            Mask(_mm256_cmp_pd::<_CMP_GE_OQ>(self.0, other.0))
        }
        /// `!=`, true for NaN.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn ne(self, other: V) -> Mask {
            Mask(_mm256_cmp_pd::<_CMP_NEQ_UQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn to_array(self) -> [f64; LANES] {
            bytemuck::cast(self.0)
        }
    }

    impl Mask {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn empty() -> Mask {
            Mask(_mm256_setzero_pd())
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn and(self, other: Mask) -> Mask {
            Mask(_mm256_and_pd(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn or(self, other: Mask) -> Mask {
            Mask(_mm256_or_pd(self.0, other.0))
        }
        /// Per lane, `when_true` where set, else `when_false`.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn select(self, when_true: V, when_false: V) -> V {
            V(_mm256_blendv_pd(when_false.0, when_true.0, self.0))
        }
        /// 1 where set, else 0.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn ones(self) -> V {
            V(_mm256_and_pd(self.0, _mm256_set1_pd(1.0)))
        }
        /// Whether every lane is set.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn all(self) -> bool {
            _mm256_movemask_pd(self.0) == 0b1111
        }
        /// One bit per lane (lane 0 the lowest).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn bits(self) -> u32 {
            _mm256_movemask_pd(self.0).cast_unsigned()
        }
    }

    lane_arithmetic!(
        "avx2,fma",
        [
            add: _mm256_add_pd,
            sub: _mm256_sub_pd,
            mul: _mm256_mul_pd,
            div: _mm256_div_pd,
            max: _mm256_max_pd,
            min: _mm256_min_pd
        ],
        sqrt: _mm256_sqrt_pd,
        mul_sub: _mm256_fmsub_pd
    );
    lane_formulas!("avx2,fma");

    /// Range checks of the integers loaded into lanes, accumulated as bits.
    struct Ranges {
        /// OR of `x + 2^45` over signed inputs: a lane's are all in `[-2^45, 2^45)` when no bit
        /// from 46 up is set (a negative sum sets the sign bit).
        signed: __m256i,
        /// OR of the inputs that must be in `[0, 2^45)`: no bit from 45 up.
        unsigned: __m256i,
    }

    impl Ranges {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new() -> Ranges {
            Ranges { signed: _mm256_setzero_si256(), unsigned: _mm256_setzero_si256() }
        }

        /// A vector of zeros, for a column the scan does not have.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn zero() -> __m256i {
            _mm256_setzero_si256()
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn signed(&mut self, integers: __m256i) -> V {
            let offset = _mm256_add_epi64(integers, _mm256_set1_epi64x(LIMIT as i64));
            self.signed = _mm256_or_si256(self.signed, offset);
            as_f64(integers)
        }

        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn unsigned(&mut self, integers: __m256i) -> V {
            self.unsigned = _mm256_or_si256(self.unsigned, integers);
            as_f64(integers)
        }

        /// The lanes with an input out of range.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn out(&self) -> Mask {
            let zero = _mm256_setzero_si256();
            let signed_in =
                _mm256_cmpeq_epi64(_mm256_and_si256(self.signed, _mm256_set1_epi64x(-(2 * LIMIT as i64))), zero);
            let unsigned_in =
                _mm256_cmpeq_epi64(_mm256_and_si256(self.unsigned, _mm256_set1_epi64x(-(LIMIT as i64))), zero);
            // A lane is in when both masks are all ones: out is the complement.
            let both_in = _mm256_castsi256_pd(_mm256_and_si256(signed_in, unsigned_in));
            Mask(_mm256_andnot_pd(both_in, _mm256_castsi256_pd(_mm256_set1_epi64x(-1))))
        }
    }

    /// 1.5 * 2^52, the bias of [`as_f64`] and [`as_i64`].
    const MAGIC: f64 = 6_755_399_441_055_744.0;

    /// Whole numbers of magnitude at or beyond this (2^51) do not go through [`as_i64`].
    const CONVERTIBLE: f64 = 2_251_799_813_685_248.0;

    /// Integers of magnitude below 2^51 as f64, exactly: added to the bits of 1.5 * 2^52, they
    /// are that f64's low mantissa bits, so subtracting 1.5 * 2^52 leaves them. (Lanes out of
    /// range give garbage, which [`Ranges::out`] declines.)
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn as_f64(integers: __m256i) -> V {
        let biased = _mm256_add_epi64(integers, _mm256_set1_epi64x(MAGIC.to_bits().cast_signed()));
        V(_mm256_sub_pd(_mm256_castsi256_pd(biased), _mm256_set1_pd(MAGIC)))
    }

    /// The lanes with an amount beyond what [`as_i64`] converts exactly.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn unconvertible(net_equity: V, initial_margin: V, maintenance_margin: V) -> Mask {
        let convertible = V::splat(CONVERTIBLE);
        net_equity.abs().ge(convertible).or(initial_margin.ge(convertible)).or(maintenance_margin.ge(convertible))
    }

    /// Four leverages as f64 lanes: 0 for a lane that is missing or beyond 2^31 (a signed
    /// conversion), which the caller declines.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn leverage_lanes(leverages: &[u32]) -> V {
        let leverages: [u32; LANES] = leverages.try_into().unwrap_or([0; LANES]);
        V(_mm256_max_pd(_mm256_cvtepi32_pd(bytemuck::cast(leverages)), _mm256_setzero_pd()))
    }

    /// Whole f64s of magnitude below 2^51 as integers, exactly (the inverse of [`as_f64`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn as_i64(whole: V) -> [i64; LANES] {
        let biased = _mm256_castpd_si256(_mm256_add_pd(whole.0, _mm256_set1_pd(MAGIC)));
        bytemuck::cast(_mm256_sub_epi64(biased, _mm256_set1_epi64x(MAGIC.to_bits().cast_signed())))
    }

    /// Four rows of a row-major column (`width` entries a row), as four vectors of four lanes: the
    /// rows' entries `group * 4..` transposed, so vector `j` holds entry `group * 4 + j` of each
    /// row (zero past the row's end).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn transposed(rows: &[i64], width: usize, group: usize) -> [__m256i; LANES] {
        let [row0, row1, row2, row3] = match <&[i64; LANES * LANES]>::try_from(rows) {
            // Four entries a row (four markets or assets): the rows are the four vectors.
            Ok(&square) => bytemuck::cast::<_, [__m256i; LANES]>(square),
            Err(_) => {
                let start = group * LANES;
                std::array::from_fn(|index| {
                    let entries = rows.get(index * width + start..(index + 1) * width).unwrap_or(&[]);
                    bytemuck::cast::<[i64; LANES], _>(std::array::from_fn(|entry| {
                        entries.get(entry).copied().unwrap_or(0)
                    }))
                })
            }
        };
        let low01 = _mm256_unpacklo_epi64(row0, row1); // r0e0 r1e0 r0e2 r1e2
        let high01 = _mm256_unpackhi_epi64(row0, row1); // r0e1 r1e1 r0e3 r1e3
        let low23 = _mm256_unpacklo_epi64(row2, row3);
        let high23 = _mm256_unpackhi_epi64(row2, row3);
        [
            _mm256_permute2x128_si256::<0x20>(low01, low23),
            _mm256_permute2x128_si256::<0x20>(high01, high23),
            _mm256_permute2x128_si256::<0x31>(low01, low23),
            _mm256_permute2x128_si256::<0x31>(high01, high23),
        ]
    }
}

pub(super) mod avx512 {
    use std::arch::x86_64::{
        __m256i, __m512d, __m512i, __mmask8, _mm512_abs_pd, _mm512_add_epi64, _mm512_add_pd, _mm512_cmp_pd_mask,
        _mm512_cvtepi64_pd, _mm512_cvtepu32_pd, _mm512_cvttpd_epi64, _mm512_div_pd, _mm512_fmsub_pd,
        _mm512_mask_blend_pd, _mm512_maskz_mov_pd, _mm512_max_pd, _mm512_min_pd, _mm512_mul_pd, _mm512_or_si512,
        _mm512_permutex2var_epi64, _mm512_roundscale_pd, _mm512_set1_epi64, _mm512_set1_pd, _mm512_setzero_si512,
        _mm512_sqrt_pd, _mm512_sub_pd, _mm512_test_epi64_mask, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ,
        _CMP_NEQ_UQ, _MM_FROUND_NO_EXC, _MM_FROUND_TO_POS_INF, _MM_FROUND_TO_ZERO,
    };

    use super::{
        AssetTerms, Curve, Fault, LanePlan, MarketTerms, Row, Weight, CLEARANCE, INVERSE_SQRT_NUMERATOR, LIMIT, NEAR,
    };
    use crate::risk::scan::{Columns, ScanOutput};

    /// Accounts per block: one vector of f64.
    const LANES: usize = 8;

    /// Eight f64 lanes.
    #[derive(Clone, Copy)]
    struct V(__m512d);

    /// A predicate per lane: one bit each.
    #[derive(Clone, Copy)]
    struct Mask(__mmask8);

    impl V {
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn splat(value: f64) -> V {
            V(_mm512_set1_pd(value))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn abs(self) -> V {
            V(_mm512_abs_pd(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn trunc(self) -> V {
            V(_mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn ceil(self) -> V {
            V(_mm512_roundscale_pd::<{ _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC }>(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn lt(self, other: V) -> Mask {
            Mask(_mm512_cmp_pd_mask::<_CMP_LT_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn le(self, other: V) -> Mask {
            Mask(_mm512_cmp_pd_mask::<_CMP_LE_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn gt(self, other: V) -> Mask {
            Mask(_mm512_cmp_pd_mask::<_CMP_GT_OQ>(self.0, other.0))
        }
        /// `>=`, false for NaN.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn ge(self, other: V) -> Mask {
            Mask(_mm512_cmp_pd_mask::<_CMP_GE_OQ>(self.0, other.0))
        }
        /// `!=`, true for NaN.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn ne(self, other: V) -> Mask {
            Mask(_mm512_cmp_pd_mask::<_CMP_NEQ_UQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn to_array(self) -> [f64; LANES] {
            bytemuck::cast(self.0)
        }
    }

    impl Mask {
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn empty() -> Mask {
            Mask(0)
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn and(self, other: Mask) -> Mask {
            Mask(self.0 & other.0)
        }
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn or(self, other: Mask) -> Mask {
            Mask(self.0 | other.0)
        }
        /// Per lane, `when_true` where set, else `when_false`.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn select(self, when_true: V, when_false: V) -> V {
            V(_mm512_mask_blend_pd(self.0, when_false.0, when_true.0))
        }
        /// 1 where set, else 0.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn ones(self) -> V {
            V(_mm512_maskz_mov_pd(self.0, _mm512_set1_pd(1.0)))
        }
        /// Whether every lane is set.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn all(self) -> bool {
            self.0 == __mmask8::MAX
        }
        /// One bit per lane (lane 0 the lowest).
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn bits(self) -> u32 {
            u32::from(self.0)
        }
    }

    lane_arithmetic!(
        "avx512f,avx512dq,avx2,fma",
        [
            add: _mm512_add_pd,
            sub: _mm512_sub_pd,
            mul: _mm512_mul_pd,
            div: _mm512_div_pd,
            max: _mm512_max_pd,
            min: _mm512_min_pd
        ],
        sqrt: _mm512_sqrt_pd,
        mul_sub: _mm512_fmsub_pd
    );
    lane_formulas!("avx512f,avx512dq,avx2,fma");

    /// Range checks of the integers loaded into lanes, accumulated as bits.
    struct Ranges {
        /// OR of `x + 2^45` over signed inputs: a lane's are all in `[-2^45, 2^45)` when no bit
        /// from 46 up is set (a negative sum sets the sign bit).
        signed: __m512i,
        /// OR of the inputs that must be in `[0, 2^45)`: no bit from 45 up.
        unsigned: __m512i,
    }

    impl Ranges {
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn new() -> Ranges {
            Ranges { signed: _mm512_setzero_si512(), unsigned: _mm512_setzero_si512() }
        }

        /// A vector of zeros, for a column the scan does not have.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn zero() -> __m512i {
            _mm512_setzero_si512()
        }

        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn signed(&mut self, integers: __m512i) -> V {
            let offset = _mm512_add_epi64(integers, _mm512_set1_epi64(LIMIT as i64));
            self.signed = _mm512_or_si512(self.signed, offset);
            as_f64(integers)
        }

        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn unsigned(&mut self, integers: __m512i) -> V {
            self.unsigned = _mm512_or_si512(self.unsigned, integers);
            as_f64(integers)
        }

        /// The lanes with an input out of range.
        #[inline]
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        fn out(&self) -> Mask {
            let signed_out = _mm512_test_epi64_mask(self.signed, _mm512_set1_epi64(-(2 * LIMIT as i64)));
            let unsigned_out = _mm512_test_epi64_mask(self.unsigned, _mm512_set1_epi64(-(LIMIT as i64)));
            Mask(signed_out | unsigned_out)
        }
    }

    /// Integers as f64 (exact below 2^53; lanes out of range are declined by [`Ranges::out`]).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn as_f64(integers: __m512i) -> V {
        V(_mm512_cvtepi64_pd(integers))
    }

    /// No lane: [`as_i64`] converts every amount of a settled lane (below 2^53) exactly.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn unconvertible(_net_equity: V, _initial_margin: V, _maintenance_margin: V) -> Mask {
        Mask::empty()
    }

    /// Eight leverages as f64 lanes: 0 for a lane that is missing, which the caller declines.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn leverage_lanes(leverages: &[u32]) -> V {
        let leverages: [u32; LANES] = leverages.try_into().unwrap_or([0; LANES]);
        V(_mm512_cvtepu32_pd(bytemuck::cast::<_, __m256i>(leverages)))
    }

    /// Whole f64s below 2^53 in magnitude as integers, exactly.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn as_i64(whole: V) -> [i64; LANES] {
        bytemuck::cast(_mm512_cvttpd_epi64(whole.0))
    }

    /// Eight rows of a row-major column (`width` entries a row), as four vectors of eight lanes:
    /// the rows' entries `group * 4..` transposed, so vector `j` holds entry `group * 4 + j` of
    /// each row (zero past the row's end).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn transposed(rows: &[i64], width: usize, group: usize) -> [__m512i; 4] {
        let Ok(&rows) = <&[i64; LANES * 4]>::try_from(rows) else {
            let start = group * 4;
            return std::array::from_fn(|entry| {
                bytemuck::cast::<[i64; LANES], _>(std::array::from_fn(|row| {
                    let column = start + entry;
                    if column < width {
                        rows.get(row * width + column).copied().unwrap_or(0)
                    } else {
                        0
                    }
                }))
            });
        };
        // Four entries a row: two rows a vector, [r0e0..r0e3, r1e0..r1e3] and so on.
        let [rows01, rows23, rows45, rows67] = bytemuck::cast::<_, [__m512i; 4]>(rows);
        let index = |lanes: [i64; LANES]| bytemuck::cast::<_, __m512i>(lanes);
        let (first_two, last_two) = (index([0, 4, 8, 12, 1, 5, 9, 13]), index([2, 6, 10, 14, 3, 7, 11, 15]));
        // Entries 0 and 1 (2 and 3) of rows 0-3, then of rows 4-7.
        let low03 = _mm512_permutex2var_epi64(rows01, first_two, rows23);
        let high03 = _mm512_permutex2var_epi64(rows01, last_two, rows23);
        let low47 = _mm512_permutex2var_epi64(rows45, first_two, rows67);
        let high47 = _mm512_permutex2var_epi64(rows45, last_two, rows67);
        let (lower, upper) = (index([0, 1, 2, 3, 8, 9, 10, 11]), index([4, 5, 6, 7, 12, 13, 14, 15]));
        [
            _mm512_permutex2var_epi64(low03, lower, low47),
            _mm512_permutex2var_epi64(low03, upper, low47),
            _mm512_permutex2var_epi64(high03, lower, high47),
            _mm512_permutex2var_epi64(high03, upper, high47),
        ]
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{Row, LIMIT};
    use crate::exchange::Scenario;
    use crate::risk::scan::{Columns, ScanResult};
    use crate::risk::{account_margin, margin_of, AssetRisk, Fraction, Haircut, MarketRisk, Prepared, RiskParams};
    use crate::workload::SplitMix64;
    use proptest::prelude::*;
    use std::cell::RefCell;

    const USDC: i64 = 1_000_000;

    /// The vector kernels this CPU can run.
    #[derive(Clone, Copy, Debug)]
    enum Kernel {
        Avx2,
        Avx512,
    }

    fn kernels() -> Vec<Kernel> {
        let mut kernels = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            kernels.push(Kernel::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
            kernels.push(Kernel::Avx512);
        }
        kernels
    }

    /// Runs `accounts` through each kernel the CPU has and returns, per kernel, whether the lanes
    /// answered each account; panics where an answer differs from the exact path's. Empty on a CPU
    /// without AVX2 and FMA (nothing to compare).
    fn answered(params: &RiskParams, accounts: &[Scenario]) -> Vec<(Kernel, Vec<bool>)> {
        let constants = Prepared::new(params);
        let plan = constants.lanes.as_ref().expect("a plan for these parameters");
        let borrows = accounts.iter().any(|account| !account.borrowed.is_empty());
        let column = |pick: fn(&Scenario) -> &Vec<i64>| {
            accounts.iter().flat_map(|account| pick(account).clone()).collect::<Vec<i64>>()
        };
        let borrowed: Vec<i64> = if borrows {
            accounts
                .iter()
                .flat_map(|account| {
                    if account.borrowed.is_empty() {
                        vec![0; params.assets.len()]
                    } else {
                        account.borrowed.clone()
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let (holdings, net_qty, net_cost) = (column(|a| &a.holdings), column(|a| &a.net_qty), column(|a| &a.net_cost));
        let (open_bids, open_asks) = (column(|a| &a.open_bids), column(|a| &a.open_asks));
        let max_leverage: Vec<u32> = accounts.iter().map(|account| account.max_leverage).collect();
        let columns = Columns {
            holdings: &holdings,
            borrowed: &borrowed,
            net_qty: &net_qty,
            net_cost: &net_cost,
            open_bids: &open_bids,
            open_asks: &open_asks,
            max_leverage: &max_leverage,
        };
        let (assets, markets) = (params.assets.len(), params.markets.len());
        let mut answers = Vec::new();
        for kernel in kernels() {
            let mut result = ScanResult::default();
            result.resize(accounts.len());
            let declined = RefCell::new(vec![false; accounts.len()]);
            let exact = |index: usize| {
                declined.borrow_mut()[index] = true;
                // A failing account gets a placeholder row, so the scan goes on to the next.
                Ok(margin_of(params, &constants, &columns.account(index, assets, markets)).map_or(
                    Row {
                        net_equity: 0,
                        initial_margin: 0,
                        maintenance_margin: 0,
                        imr: 0.0,
                        mmr: 0.0,
                        margin_fraction: 0.0,
                        liquidatable: false,
                    },
                    |margin| Row::of(&margin),
                ))
            };
            let scanned = match kernel {
                #[allow(unsafe_code)]
                // SAFETY: `kernels` lists AVX2 only where the CPU has AVX2 and FMA.
                Kernel::Avx2 => unsafe { super::avx2::scan(plan, &columns, 0, result.output(), exact) },
                #[allow(unsafe_code)]
                // SAFETY: `kernels` lists AVX-512 only where the CPU has AVX-512F and DQ.
                Kernel::Avx512 => unsafe { super::avx512::scan(plan, &columns, 0, result.output(), exact) },
            };
            scanned.expect("the exact path never fails here");
            let declined = declined.into_inner();
            for (index, account) in accounts.iter().enumerate().filter(|&(index, _)| !declined[index]) {
                let expected = Row::of(&account_margin(params, &account.state()).unwrap_or_else(|error| {
                    panic!("{kernel:?} answered where the exact path fails ({error}): {account:?}")
                }));
                let got = Row {
                    net_equity: result.net_equity[index],
                    initial_margin: result.initial_margin[index],
                    maintenance_margin: result.maintenance_margin[index],
                    imr: result.imr[index],
                    mmr: result.mmr[index],
                    margin_fraction: result.margin_fraction[index],
                    liquidatable: result.liquidatable[index],
                };
                // Bits, so that ratios compare exactly (and infinities alike).
                let bits = |row: &Row| {
                    (
                        row.net_equity,
                        row.initial_margin,
                        row.maintenance_margin,
                        row.imr.to_bits(),
                        row.mmr.to_bits(),
                        row.margin_fraction.to_bits(),
                        row.liquidatable,
                    )
                };
                assert_eq!(bits(&got), bits(&expected), "{kernel:?}: {account:?}");
            }
            answers.push((kernel, declined.iter().map(|&declined| !declined).collect()));
        }
        answers
    }

    /// A decimal with `digits` decimal places, as the f64 a config would parse.
    fn decimal(rng: &mut SplitMix64, whole: u64, digits: i32) -> f64 {
        let scale = 10f64.powi(digits);
        rng.below(whole * scale as u64 + 1) as f64 / scale
    }

    /// Venue-like parameters: decimal curves, prices with cents, 1-9 assets and markets.
    fn venue_params(rng: &mut SplitMix64) -> RiskParams {
        let fraction = |rng: &mut SplitMix64, base_digits| Fraction {
            base: decimal(rng, 1, base_digits).max(0.001),
            factor: decimal(rng, 1, 6) / 1_000.0,
        };
        let assets = (0..1 + rng.below(9))
            .map(|index| AssetRisk {
                price: match (index, rng.below(2)) {
                    (0, _) => USDC,
                    (_, 0) => 10_000 * (1 + i64::try_from(rng.below(200_000 * 100)).unwrap()),
                    _ => 1 + i64::try_from(rng.below(200_000 * USDC.unsigned_abs())).unwrap(),
                },
                unit: if index == 0 { USDC } else { 10i64.pow(u32::try_from(rng.below(10)).unwrap()) },
                haircut: if index == 0 {
                    Haircut::Identity
                } else {
                    Haircut::InverseSqrt { base: decimal(rng, 1, 2), penalty: decimal(rng, 1, 4) / 10.0 }
                },
                borrow_imf: fraction(rng, 3),
                borrow_mmf: fraction(rng, 4),
            })
            .collect();
        let markets = (0..1 + rng.below(9))
            .map(|_| MarketRisk {
                mark: 1 + i64::try_from(rng.below(10_000_000)).unwrap(),
                notional_per_tick_lot: 10i64.pow(u32::try_from(rng.below(5)).unwrap()),
                imf: fraction(rng, 3),
                mmf: fraction(rng, 4),
            })
            .collect();
        RiskParams { quote_unit: USDC, assets, markets }
    }

    /// A venue-like account: holdings and positions of up to about `scale` USDC of notional.
    fn venue_account(rng: &mut SplitMix64, params: &RiskParams, scale: f64) -> Scenario {
        let size = |rng: &mut SplitMix64| (rng.next_u64() as f64 / u64::MAX as f64 * 12.0).exp() * scale / 1.6e5;
        let atoms = |rng: &mut SplitMix64, asset: &AssetRisk| {
            (size(rng) * USDC as f64 / asset.price as f64 * asset.unit as f64) as i64
        };
        let holdings = params
            .assets
            .iter()
            .map(|asset| {
                let atoms = atoms(rng, asset);
                if rng.below(5) == 0 {
                    -atoms / 3
                } else {
                    atoms
                }
            })
            .collect();
        let borrowed = if rng.below(2) == 0 {
            Vec::new()
        } else {
            params.assets.iter().map(|asset| if rng.below(4) == 0 { atoms(rng, asset) / 4 } else { 0 }).collect()
        };
        let (mut net_qty, mut net_cost, mut open_bids, mut open_asks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for market in &params.markets {
            let lot = (market.mark * market.notional_per_tick_lot) as f64;
            let lots = (size(rng) * USDC as f64 / lot) as i64;
            let lots = if rng.below(2) == 0 { -lots } else { lots };
            net_qty.push(lots);
            net_cost.push((lots as f64 * lot * (0.9 + decimal(rng, 1, 3) / 5.0)) as i64);
            open_bids.push(if rng.below(2) == 0 { 0 } else { lots.abs() / 2 + i64::try_from(rng.below(10)).unwrap() });
            open_asks.push(if rng.below(2) == 0 { 0 } else { lots.abs() / 3 });
        }
        Scenario {
            holdings,
            borrowed,
            net_qty,
            net_cost,
            open_bids,
            open_asks,
            max_leverage: 1 + u32::try_from(rng.below(50)).unwrap(),
        }
    }

    #[test]
    fn the_fast_path_equals_the_exact_path_on_venue_like_accounts_and_answers_almost_all() {
        let mut rng = SplitMix64::new(7);
        let (mut answered_count, mut accounts_count) = (0, 0);
        for _ in 0..200 {
            let params = venue_params(&mut rng);
            let accounts: Vec<Scenario> = (0..100).map(|_| venue_account(&mut rng, &params, 100_000.0)).collect();
            for (_, answers) in answered(&params, &accounts) {
                answered_count += answers.iter().filter(|&&answer| answer).count();
                accounts_count += accounts.len();
            }
        }
        // Up to ~16 million USDC a holding or position: nearly all settle.
        assert!(answered_count * 100 >= accounts_count * 95, "answered {answered_count} of {accounts_count}");
    }

    #[test]
    fn the_fast_path_declines_what_it_cannot_settle_and_answers_its_neighbours() {
        let mut rng = SplitMix64::new(11);
        let params = venue_params(&mut rng);
        let account = venue_account(&mut rng, &params, 1_000.0);
        let limit = LIMIT as i64;
        let mut zero_leverage = account.clone();
        zero_leverage.max_leverage = 0;
        let mut huge_holding = account.clone();
        huge_holding.holdings[0] = limit;
        let mut huge_cost = account.clone();
        huge_cost.net_cost[0] = -limit - 1;
        let mut negative_orders = account.clone();
        negative_orders.open_asks[0] = -1;
        let mut negative_borrow = account.clone();
        negative_borrow.borrowed = vec![0; params.assets.len()];
        negative_borrow.borrowed[0] = -1;
        let declined = [zero_leverage, huge_holding, huge_cost, negative_orders, negative_borrow];
        let mut accounts = Vec::new();
        for bad in &declined {
            // Each bad account twice in a block of eight good ones (two blocks of four).
            let quarter = [account.clone(), bad.clone(), account.clone(), account.clone()];
            accounts.extend(quarter.iter().chain(&quarter).cloned());
        }
        for (kernel, answers) in answered(&params, &accounts) {
            for (index, answer) in answers.iter().enumerate() {
                assert_eq!(*answer, index % 4 != 1, "{kernel:?}, account {index}: {:?}", accounts[index]);
            }
        }
    }

    #[test]
    fn parameters_the_lanes_cannot_hold_get_no_plan() {
        let mut rng = SplitMix64::new(3);
        let mut params = venue_params(&mut rng);
        assert!(Prepared::new(&params).lanes.is_some());
        params.markets[0].imf.base = 1.5;
        assert!(Prepared::new(&params).lanes.is_none(), "a base above 1");
        params.markets[0].imf.base = 0.1;
        params.markets[0].mark = 1 << 40;
        params.markets[0].notional_per_tick_lot = 1 << 20;
        assert!(Prepared::new(&params).lanes.is_none(), "a lot notional beyond 2^53");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]

        /// Hostile accounts (amounts around the limit and the rounding edges, negative orders,
        /// any leverage) in blocks with ordinary ones: the fast path never answers differently
        /// from the exact path.
        #[test]
        fn the_fast_path_never_differs_from_the_exact_path(
            seed in any::<u64>(),
            edges in prop::collection::vec(
                (prop_oneof![Just(0i64), -64i64..64, Just(LIMIT as i64), Just(-(LIMIT as i64)), any::<i64>()], 0usize..6, prop_oneof![1u32..=60, any::<u32>()]),
                1..9,
            ),
            scale in prop_oneof![Just(1.0), Just(1e5), Just(3e7), Just(1e9)],
        ) {
            let mut rng = SplitMix64::new(seed);
            let params = venue_params(&mut rng);
            let accounts: Vec<Scenario> = edges
                .iter()
                .map(|&(edge, column, max_leverage)| {
                    let mut account = venue_account(&mut rng, &params, scale);
                    account.max_leverage = max_leverage;
                    let target = match column {
                        0 => &mut account.holdings,
                        1 => &mut account.net_qty,
                        2 => &mut account.net_cost,
                        3 => &mut account.open_bids,
                        4 => &mut account.open_asks,
                        _ => &mut account.borrowed,
                    };
                    if let Some(first) = target.first_mut() {
                        *first = if edge.unsigned_abs() < 64 { first.saturating_add(edge) } else { edge };
                    }
                    account
                })
                .collect();
            answered(&params, &accounts);
        }
    }
}
