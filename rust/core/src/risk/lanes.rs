//! The scan's fast path: one account's margin in f64 lanes, four markets (or four assets) at a
//! time, either certified equal to the exact path or declined.
//!
//! Contract: [`LanePlan::margin`] returns exactly the [`Margin`] that `margin_of` returns for the
//! same account (every amount equal, every ratio the same bits), or `None`, and then the scan runs
//! `margin_of`, which also reports the faults. It declines an account instead of risking a
//! difference: when an input or an amount it computes reaches [`LIMIT`] (2^45 atoms, about 35
//! million USDC), when an order count or a borrow is negative or the leverage is 0, and when the
//! product of an amount and a weight or fraction lies within the rounding module's clearance of a
//! whole number (where `mul_ratio` takes its exact path). A plan is built only for parameters whose
//! constants are exact f64s (a lot's notional at the mark, the reduced price ratio) and for at most
//! [`MAX_TERMS`] assets and markets together; otherwise every account takes the exact path.
//!
//! Why the results are exact: integers below 2^53 are f64s, and sums, differences and products of
//! them that stay below 2^53 are exact; below the limit every term is under 2^46 and an account
//! has at most `MAX_TERMS` of them, so the sums and net equity are exact too. `floor(x / u)` comes from the f64
//! quotient corrected by the exact remainder (within one of the true one for `x < 2^52`).
//! A comparison `a * b >= n` of an inexact f64 product with an amount `n < 2^53` has the exact
//! product's answer, since rounding is monotone. The curves are the same IEEE expressions with the
//! same flat-part shortcut, and the products with them are rounded by the same f64 test as
//! `rounding::round_in_f64` (declining where it would decline). Sums become a `Totals`, so the
//! ratios are computed by the same code as the exact path's.
//!
//! Costs: per group of four lanes about thirty f64 vector operations for positions and forty for
//! holdings (square roots and divisions only when a lane is past a curve's flat part), then a
//! handful of horizontal sums per account: a few ns a position on one core with AVX2, against
//! about 13 ns for the exact path. Lanes are plain `[f64; 4]` arrays written lane by lane, which
//! the compiler turns into vector instructions; [`super::scan`] compiles the loop for AVX2 too and
//! picks it at run time where the CPU has it.

use super::{AssetRisk, Haircut, Margin, MarketRisk, RiskParams};

/// Lanes per group: one AVX2 register of f64.
const LANES: usize = 4;

/// Inputs and amounts at or above this many atoms (2^45, about 35 million USDC) send the account to
/// the exact path.
const LIMIT: f64 = 35_184_372_088_832.0;

/// Assets plus markets of a plan: every sum has at most this many terms below 2^46, so it stays
/// below 2^52, and net equity (three such sums) below 2^53: all exact.
const MAX_TERMS: usize = 64;

/// `rounding::round_in_f64`'s clearance, 2^-48 of the product: farther from a whole number, a
/// product rounds strictly.
const CLEARANCE: f64 = 1.0 / 281_474_976_710_656.0;

/// 2^-52 of the product: nearer to a whole number, a product is that number.
const NEAR: f64 = 1.0 / 4_503_599_627_370_496.0;

/// Numerator of the `inverseSqrt` haircut (as in `curves`).
const INVERSE_SQRT_NUMERATOR: f64 = 1.1;

type Lanes = [f64; LANES];

/// A size-scaled fraction per lane: `max(base, factor * sqrt(N / quote_unit))`, flat below `flat_end`.
#[derive(Clone, Copy, Debug)]
struct FractionLanes {
    base: Lanes,
    factor: Lanes,
    flat_end: Lanes,
}

/// Padding lanes are flat at zero everywhere.
impl Default for FractionLanes {
    fn default() -> FractionLanes {
        FractionLanes { base: [0.0; LANES], factor: [0.0; LANES], flat_end: [f64::INFINITY; LANES] }
    }
}

/// A haircut per lane: `min(base, 1.1 / (1 + penalty * sqrt(N / quote_unit)))`, flat below
/// `flat_end`; the identity is base 1 with no end.
#[derive(Clone, Copy, Debug)]
struct HaircutLanes {
    base: Lanes,
    penalty: Lanes,
    flat_end: Lanes,
}

/// Padding lanes are flat everywhere.
impl Default for HaircutLanes {
    fn default() -> HaircutLanes {
        HaircutLanes { base: [0.0; LANES], penalty: [0.0; LANES], flat_end: [f64::INFINITY; LANES] }
    }
}

/// Four markets' constants (padding lanes have a zero notional per lot, so they add nothing).
#[derive(Clone, Copy, Debug, Default)]
struct MarketGroup {
    /// Quote atoms one lot is worth at the mark (`mark * notional_per_tick_lot`).
    lot_notional: Lanes,
    imf: FractionLanes,
    mmf: FractionLanes,
}

/// Four assets' constants (padding lanes have price 0 and unit 1, so they add nothing).
#[derive(Clone, Copy, Debug)]
struct AssetGroup {
    /// The price ratio in lowest terms, as in `AssetConstants`, and `1 / unit`.
    price: Lanes,
    unit: Lanes,
    unit_reciprocal: Lanes,
    haircut: HaircutLanes,
    borrow_imf: FractionLanes,
    borrow_mmf: FractionLanes,
}

impl Default for AssetGroup {
    fn default() -> AssetGroup {
        AssetGroup {
            price: [0.0; LANES],
            unit: [1.0; LANES],
            unit_reciprocal: [1.0; LANES],
            haircut: HaircutLanes::default(),
            borrow_imf: FractionLanes::default(),
            borrow_mmf: FractionLanes::default(),
        }
    }
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

/// The lane constants of one scan's parameters.
#[derive(Clone, Debug)]
pub(super) struct LanePlan {
    quote_unit: f64,
    assets: usize,
    markets: usize,
    asset_groups: Vec<AssetGroup>,
    market_groups: Vec<MarketGroup>,
}

impl LanePlan {
    /// The plan for validated `params` (with `reduced` giving each asset's price ratio in lowest
    /// terms), or `None` when the fast path cannot be exact for them (see the module docs).
    pub(super) fn new(params: &RiskParams, reduced: impl Fn(usize) -> (u64, u64)) -> Option<LanePlan> {
        if params.assets.len() + params.markets.len() > MAX_TERMS || !bases_at_most_one(params) {
            return None;
        }
        let quote_unit = params.quote_unit as f64;
        let mut asset_groups = vec![AssetGroup::default(); params.assets.len().div_ceil(LANES)];
        for (index, asset) in params.assets.iter().enumerate() {
            let (price, unit) = reduced(index);
            let (price, unit) = (exact_f64(price)?, exact_f64(unit)?);
            let (group, lane) = (&mut asset_groups[index / LANES], index % LANES);
            group.price[lane] = price;
            group.unit[lane] = unit;
            group.unit_reciprocal[lane] = 1.0 / unit;
            set_haircut(&mut group.haircut, lane, asset, quote_unit);
            set_fraction(&mut group.borrow_imf, lane, asset.borrow_imf, quote_unit);
            set_fraction(&mut group.borrow_mmf, lane, asset.borrow_mmf, quote_unit);
        }
        let mut market_groups = vec![MarketGroup::default(); params.markets.len().div_ceil(LANES)];
        for (index, market) in params.markets.iter().enumerate() {
            let (group, lane) = (&mut market_groups[index / LANES], index % LANES);
            group.lot_notional[lane] = lot_notional(market)?;
            set_fraction(&mut group.imf, lane, market.imf, quote_unit);
            set_fraction(&mut group.mmf, lane, market.mmf, quote_unit);
        }
        Some(LanePlan {
            quote_unit,
            assets: params.assets.len(),
            markets: params.markets.len(),
            asset_groups,
            market_groups,
        })
    }
}

/// Whether every flat part is at most 1, so a product with it is at most the amount (the lanes
/// then check only fractions past their flat part).
fn bases_at_most_one(params: &RiskParams) -> bool {
    let haircut_base = |haircut: Haircut| match haircut {
        Haircut::Identity => 1.0,
        Haircut::InverseSqrt { base, .. } => base,
    };
    let assets = params
        .assets
        .iter()
        .flat_map(|asset| [haircut_base(asset.haircut), asset.borrow_imf.base, asset.borrow_mmf.base]);
    let markets = params.markets.iter().flat_map(|market| [market.imf.base, market.mmf.base]);
    assets.chain(markets).all(|base| base <= 1.0)
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

fn set_fraction(lanes: &mut FractionLanes, lane: usize, fraction: super::Fraction, quote_unit: f64) {
    lanes.base[lane] = fraction.base;
    lanes.factor[lane] = fraction.factor;
    lanes.flat_end[lane] = fraction.flat_end(quote_unit);
}

fn set_haircut(lanes: &mut HaircutLanes, lane: usize, asset: &AssetRisk, quote_unit: f64) {
    lanes.flat_end[lane] = asset.haircut.flat_end(quote_unit);
    match asset.haircut {
        Haircut::Identity => lanes.base[lane] = 1.0,
        Haircut::InverseSqrt { base, penalty } => {
            lanes.base[lane] = base;
            lanes.penalty[lane] = penalty;
        }
    }
}

/// The computation, in AVX2 vectors of four f64. Every function needs AVX2: [`super::scan`] calls
/// in only after checking the CPU.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256d, __m256i, _mm256_add_epi64, _mm256_add_pd, _mm256_and_pd, _mm256_andnot_pd, _mm256_blendv_pd,
        _mm256_castsi256_pd, _mm256_cmp_pd, _mm256_div_pd, _mm256_fmsub_pd, _mm256_hadd_pd, _mm256_max_pd,
        _mm256_min_pd, _mm256_movemask_pd, _mm256_mul_pd, _mm256_or_pd, _mm256_or_si256, _mm256_permute2f128_pd,
        _mm256_permute4x64_pd, _mm256_round_pd, _mm256_set1_epi64x, _mm256_set1_pd, _mm256_sqrt_pd, _mm256_sub_pd,
        _mm256_testz_pd, _mm256_testz_si256, _CMP_GE_OQ, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _MM_FROUND_NO_EXC,
        _MM_FROUND_TO_POS_INF, _MM_FROUND_TO_ZERO,
    };

    use super::{
        AssetGroup, FractionLanes, HaircutLanes, LanePlan, Lanes, MarketGroup, Row, CLEARANCE, INVERSE_SQRT_NUMERATOR,
        LANES, LIMIT, NEAR,
    };
    use crate::risk::AccountState;

    /// Four f64 lanes. A comparison gives a mask: each lane all ones (true) or all zeros.
    #[derive(Clone, Copy)]
    struct V(__m256d);

    impl V {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn splat(value: f64) -> V {
            V(_mm256_set1_pd(value))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn of(lanes: &Lanes) -> V {
            V(bytemuck::cast(*lanes))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn to_array(self) -> Lanes {
            bytemuck::cast(self.0)
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn add(self, other: V) -> V {
            V(_mm256_add_pd(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn sub(self, other: V) -> V {
            V(_mm256_sub_pd(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn mul(self, other: V) -> V {
            V(_mm256_mul_pd(self.0, other.0))
        }
        /// `self * factor - subtrahend`, rounded once (fused).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn mul_sub(self, factor: V, subtrahend: V) -> V {
            V(_mm256_fmsub_pd(self.0, factor.0, subtrahend.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn div(self, other: V) -> V {
            V(_mm256_div_pd(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn sqrt(self) -> V {
            V(_mm256_sqrt_pd(self.0))
        }
        /// Lane-wise maximum (`maxpd`: the second operand when either is NaN; none is here).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn max(self, other: V) -> V {
            V(_mm256_max_pd(self.0, other.0))
        }
        /// Lane-wise minimum (`minpd`: the second operand when either is NaN; none is here).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn min(self, other: V) -> V {
            V(_mm256_min_pd(self.0, other.0))
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
        fn lt(self, other: V) -> V {
            V(_mm256_cmp_pd::<_CMP_LT_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn le(self, other: V) -> V {
            V(_mm256_cmp_pd::<_CMP_LE_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn gt(self, other: V) -> V {
            V(_mm256_cmp_pd::<_CMP_GT_OQ>(self.0, other.0))
        }
        /// `>=`, false for NaN: `!(x >= limit)` catches NaN as out of range.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn ge(self, other: V) -> V {
            V(_mm256_cmp_pd::<_CMP_GE_OQ>(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn and(self, other: V) -> V {
            V(_mm256_and_pd(self.0, other.0))
        }
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn or(self, other: V) -> V {
            V(_mm256_or_pd(self.0, other.0))
        }
        /// Per lane, `when_true` where this mask is set, else `when_false`.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn select(self, when_true: V, when_false: V) -> V {
            V(_mm256_blendv_pd(when_false.0, when_true.0, self.0))
        }
        /// Whether every lane of this mask is set.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn all(self) -> bool {
            _mm256_movemask_pd(self.0) == 0b1111
        }
        /// Whether no lane of this mask is set.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn none(self) -> bool {
            _mm256_testz_pd(self.0, self.0) == 1
        }
    }

    /// The sums of four vectors' lanes, as the lanes of one: `[Σa, Σb, Σc, Σd]`, each added in the
    /// order ((0 + 1) + (2 + 3)); exact for the whole numbers summed here.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sums_of(a: V, b: V, c: V, d: V) -> V {
        let ab = _mm256_hadd_pd(a.0, b.0); // a0+a1, b0+b1, a2+a3, b2+b3
        let cd = _mm256_hadd_pd(c.0, d.0);
        let low = _mm256_permute2f128_pd::<0x20>(ab, cd); // a0+a1, b0+b1, c0+c1, d0+d1
        let high = _mm256_permute2f128_pd::<0x31>(ab, cd); // a2+a3, b2+b3, c2+c3, d2+d3
        V(_mm256_add_pd(low, high))
    }

    /// Range checks of the integers loaded into lanes, accumulated as bits and tested once.
    struct Ranges {
        /// OR of `x + 2^45` over signed inputs: all are in `[-2^45, 2^45)` when no bit from 46 up
        /// is set (a negative sum sets the sign bit).
        signed: __m256i,
        /// OR of the inputs that must be in `[0, 2^45)`: no bit from 45 up.
        unsigned: __m256i,
    }

    impl Ranges {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new() -> Ranges {
            Ranges { signed: _mm256_set1_epi64x(0), unsigned: _mm256_set1_epi64x(0) }
        }

        /// Up to four entries of a signed column, zero-padded, as f64 lanes.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn signed(&mut self, values: &[i64]) -> V {
            let integers = lanes_of(values);
            let offset = _mm256_add_epi64(integers, _mm256_set1_epi64x(LIMIT as i64));
            self.signed = _mm256_or_si256(self.signed, offset);
            as_f64(integers)
        }

        /// Up to four entries of a column that must not be negative, zero-padded, as f64 lanes.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn unsigned(&mut self, values: &[i64]) -> V {
            let integers = lanes_of(values);
            self.unsigned = _mm256_or_si256(self.unsigned, integers);
            as_f64(integers)
        }

        /// Whether every input was in range.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn fit(&self) -> bool {
            let signed_out = _mm256_set1_epi64x(-(2 * LIMIT as i64));
            let unsigned_out = _mm256_set1_epi64x(-(LIMIT as i64));
            _mm256_testz_si256(self.signed, signed_out) == 1 && _mm256_testz_si256(self.unsigned, unsigned_out) == 1
        }
    }

    /// Up to four entries of an i64 column, zero-padded.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn lanes_of(values: &[i64]) -> __m256i {
        match <&[i64; LANES]>::try_from(values) {
            Ok(&lanes) => bytemuck::cast(lanes),
            Err(_) => {
                bytemuck::cast::<[i64; LANES], _>(std::array::from_fn(|lane| values.get(lane).copied().unwrap_or(0)))
            }
        }
    }

    /// Integers of magnitude below 2^51 as f64, exactly: added to the bits of 1.5 * 2^52, they
    /// are that f64's low mantissa bits, so subtracting 1.5 * 2^52 leaves them. (Lanes out of
    /// range give garbage, which [`Ranges::fit`] rejects.)
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn as_f64(integers: __m256i) -> V {
        const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
        let biased = _mm256_add_epi64(integers, _mm256_set1_epi64x(MAGIC.to_bits().cast_signed()));
        V(_mm256_sub_pd(_mm256_castsi256_pd(biased), _mm256_set1_pd(MAGIC)))
    }

    /// Per-lane running sums of one account (every term a whole number below 2^46), and the lanes
    /// that an f64 test could not settle.
    struct Sums {
        /// collateral + unrealized PnL − liabilities.
        net_equity: V,
        initial_margin: V,
        maintenance_margin: V,
        exposure: V,
        unsettled: V,
    }

    impl LanePlan {
        /// What the scan writes for the account, or `None` to take the exact path (see the module
        /// docs). The account's columns have the plan's lengths (`borrowed` may be empty).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        pub(in crate::risk) fn row(&self, account: &AccountState<'_>) -> Option<Row> {
            if account.max_leverage == 0 {
                return None;
            }
            let leverage = Divisor::new(f64::from(account.max_leverage));
            let zero = V::splat(0.0);
            let mut sums = Sums {
                net_equity: zero,
                initial_margin: zero,
                maintenance_margin: zero,
                exposure: zero,
                unsettled: zero,
            };
            let mut ranges = Ranges::new();
            for (group_index, group) in self.asset_groups.iter().enumerate() {
                let range = group_index * LANES..self.assets.min((group_index + 1) * LANES);
                let borrowed = if account.borrowed.is_empty() { &[][..] } else { &account.borrowed[range.clone()] };
                let holding = ranges.signed(&account.holdings[range]);
                let borrowed = ranges.unsigned(borrowed);
                self.add_holdings(group, holding, borrowed, leverage, &mut sums);
            }
            for (group_index, group) in self.market_groups.iter().enumerate() {
                let range = group_index * LANES..self.markets.min((group_index + 1) * LANES);
                let positions = Positions {
                    net_qty: ranges.signed(&account.net_qty[range.clone()]),
                    net_cost: ranges.signed(&account.net_cost[range.clone()]),
                    open_bids: ranges.unsigned(&account.open_bids[range.clone()]),
                    open_asks: ranges.unsigned(&account.open_asks[range]),
                };
                self.add_positions(group, &positions, leverage, &mut sums);
            }
            if !(sums.unsettled.none() && ranges.fit()) {
                return None;
            }
            Some(finish(&sums))
        }

        /// Adds four holdings (`Totals::add_holding` in lanes).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn add_holdings(&self, group: &AssetGroup, holding: V, borrowed: V, leverage: Divisor, sums: &mut Sums) {
            let zero = V::splat(0.0);
            let price = V::of(&group.price);
            let unit = Divisor { value: V::of(&group.unit), reciprocal: V::of(&group.unit_reciprocal) };
            let value = floor_product_div(holding.max(zero), price, unit);
            let weight = self.haircut(&group.haircut, value);
            let (collateral, collateral_unsettled) = rounded(value, weight, false);
            let limit = V::splat(LIMIT);
            sums.net_equity = sums.net_equity.add(collateral);
            sums.unsettled = sums.unsettled.or(collateral_unsettled).or(value.ge(limit));
            let owed = zero.sub(holding).max(zero).add(borrowed);
            if owed.gt(zero).none() {
                return;
            }
            let liability = ceil_product_div(owed, price, unit);
            let (imf, imf_unsettled) = self.fraction(&group.borrow_imf, liability);
            let (mmf, mmf_unsettled) = self.fraction(&group.borrow_mmf, liability);
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

        /// Adds four perpetual positions (`position_terms` in lanes).
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn add_positions(&self, group: &MarketGroup, positions: &Positions, leverage: Divisor, sums: &mut Sums) {
            let Positions { net_qty, net_cost, open_bids, open_asks } = *positions;
            let zero = V::splat(0.0);
            let lot_notional = V::of(&group.lot_notional);
            let position_notional = net_qty.abs().mul(lot_notional);
            // |q| <= max(|q + bids|, |q - asks|) for non-negative orders: one bound covers both.
            let exposure_notional = net_qty.add(open_bids).abs().max(net_qty.sub(open_asks).abs()).mul(lot_notional);
            let signed = net_qty.lt(zero).select(zero.sub(position_notional), position_notional);
            let (imf, imf_unsettled) = self.fraction(&group.imf, exposure_notional);
            let (mmf, mmf_unsettled) = self.fraction(&group.mmf, position_notional);
            let (maintenance, maintenance_unsettled) = rounded(position_notional, mmf, true);
            let (initial, initial_unsettled) = initial_margin(exposure_notional, imf, leverage);
            sums.unsettled = sums
                .unsettled
                .or(imf_unsettled)
                .or(mmf_unsettled)
                .or(maintenance_unsettled)
                .or(initial_unsettled)
                .or(exposure_notional.ge(V::splat(LIMIT)));
            sums.net_equity = sums.net_equity.add(signed.sub(net_cost));
            sums.exposure = sums.exposure.add(exposure_notional);
            sums.initial_margin = sums.initial_margin.add(initial);
            sums.maintenance_margin = sums.maintenance_margin.add(maintenance);
        }

        /// `Fraction::at_below` per lane, with the lanes whose fraction exceeds 1 (past the flat
        /// part; a product with them could pass the limit). The square roots only when a lane is
        /// past its flat part.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn fraction(&self, curve: &FractionLanes, notional: V) -> (V, V) {
            let base = V::of(&curve.base);
            let flat = notional.lt(V::of(&curve.flat_end));
            if flat.all() {
                return (base, V::splat(0.0));
            }
            let scaled = V::of(&curve.factor).mul(notional.div(V::splat(self.quote_unit)).sqrt());
            let fraction = flat.select(base, base.max(scaled));
            (fraction, fraction.gt(V::splat(1.0)))
        }

        /// `Haircut::weight_below` per lane (at most the base, so at most 1). The square roots only
        /// when a lane is past its flat part.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn haircut(&self, curve: &HaircutLanes, value: V) -> V {
            let base = V::of(&curve.base);
            let flat = value.lt(V::of(&curve.flat_end));
            if flat.all() {
                return base;
            }
            let root = value.div(V::splat(self.quote_unit)).sqrt();
            let falling = V::splat(INVERSE_SQRT_NUMERATOR).div(V::splat(1.0).add(V::of(&curve.penalty).mul(root)));
            flat.select(base, base.min(falling))
        }
    }

    /// `Totals::margin` from settled sums, in f64: every amount is a whole number below 2^53, so
    /// each conversion is exact and each ratio the same f64 division of the same two values as
    /// the exact path's; the three divisions share one vector instruction.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn finish(sums: &Sums) -> Row {
        let totals = sums_of(sums.net_equity, sums.initial_margin, sums.maintenance_margin, sums.exposure);
        let [net_equity, initial_margin, maintenance_margin, exposure] = totals.to_array();
        // Lanes 1, 2, 0, 3 of the totals: IM, MM, NE and (unused) exposure.
        let numerators = V(_mm256_permute4x64_pd::<0b11_00_10_01>(totals.0));
        let denominators = V::of(&[net_equity, net_equity, exposure, 1.0]);
        let [initial_ratio, maintenance_ratio, margin_fraction, _] = numerators.div(denominators).to_array();
        let to_equity = |ratio: f64| if net_equity > 0.0 { ratio } else { f64::INFINITY };
        let mmr = to_equity(maintenance_ratio);
        Row {
            net_equity: net_equity as i64,
            initial_margin: initial_margin as i64,
            maintenance_margin: maintenance_margin as i64,
            imr: to_equity(initial_ratio),
            mmr,
            margin_fraction: if exposure == 0.0 { f64::INFINITY } else { margin_fraction },
            liquidatable: maintenance_margin > 0.0 && mmr >= 1.0,
        }
    }

    /// Four markets of one account.
    #[derive(Clone, Copy)]
    struct Positions {
        net_qty: V,
        net_cost: V,
        open_bids: V,
        open_asks: V,
    }

    /// `amount * ratio` (with `0 <= ratio <= 1`) rounded as `rounding::mul_ratio` rounds it (up when
    /// `up`, else down), with the mask of the lanes this f64 test cannot settle (the exact path
    /// must). `mul_ratio` takes a product within `x * 2^-50` of a whole number as that number and
    /// rounds the rest strictly; the f64 product is within `x * 2^-53` of the exact `x` and its
    /// distance to its floor is exact, so a distance below `x * 2^-52` (to the floor or the
    /// ceiling) is surely within the allowance, and one beyond the rounding module's clearance
    /// (`x * 2^-48`) surely outside it. Between the two, the lane is unsettled.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn rounded(amount: V, ratio: V, up: bool) -> (V, V) {
        let one = V::splat(1.0);
        let product = amount.mul(ratio);
        let whole = product.trunc();
        let fraction = product.sub(whole);
        let to_ceiling = one.sub(fraction);
        let distance = fraction.min(to_ceiling);
        let near = product.mul(V::splat(NEAR));
        let unsettled = near.lt(distance).and(distance.le(product.mul(V::splat(CLEARANCE))));
        let raise = if up { fraction.gt(near) } else { to_ceiling.le(near) };
        (whole.add(one.and(raise)), unsettled)
    }

    /// `initial_margin`: `ceil(notional * max(fraction, 1 / leverage))`, with the unsettled mask.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn initial_margin(notional: V, fraction: V, leverage: Divisor) -> (V, V) {
        let (by_size, unsettled) = rounded(notional, fraction, true);
        let by_leverage = ceil_div(notional, leverage);
        (by_size.mul(leverage.value).ge(notional).select(by_size, by_leverage), unsettled)
    }

    /// A whole-number divisor `1 <= d < 2^53` with its f64 reciprocal.
    #[derive(Clone, Copy)]
    struct Divisor {
        value: V,
        reciprocal: V,
    }

    impl Divisor {
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        fn new(value: f64) -> Divisor {
            Divisor { value: V::splat(value), reciprocal: V::splat(1.0 / value) }
        }
    }

    /// `floor(a * b / divisor)` for whole numbers `a, b >= 0` whose quotient is below 2^46 (a larger
    /// one gives some value at least about 2^46, which the caller declines), without `a * b`
    /// having to be an exact f64. The estimate `a * b * (1 / divisor)` is within `2^-51` relative,
    /// so within one of the floor; the remainder `a * b - estimate * divisor` is exact: the fused
    /// `a * b - t`, with `t` the rounded `estimate * divisor`, is a whole number below 2^53 (the
    /// remainder plus `t`'s rounding error), and so is `t`'s rounding error, from a second fused
    /// operation.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn floor_product_div(a: V, b: V, divisor: Divisor) -> V {
        let one = V::splat(1.0);
        let estimate = a.mul(b).mul(divisor.reciprocal).trunc();
        let remainder = exact_remainder(a, b, estimate, divisor.value);
        let low = one.and(remainder.lt(V::splat(0.0)));
        let high = one.and(remainder.ge(divisor.value));
        estimate.sub(low).add(high)
    }

    /// `ceil(a * b / divisor)`, with the domain and argument of [`floor_product_div`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ceil_product_div(a: V, b: V, divisor: Divisor) -> V {
        let one = V::splat(1.0);
        let estimate = a.mul(b).mul(divisor.reciprocal).ceil();
        let shortfall = exact_remainder(a, b, estimate, divisor.value); // a * b - estimate * divisor
        let up = one.and(shortfall.gt(V::splat(0.0)));
        let down = one.and(shortfall.le(V::splat(0.0).sub(divisor.value)));
        estimate.add(up).sub(down)
    }

    /// `a * b - estimate * divisor`, exactly, when it is small (see [`floor_product_div`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exact_remainder(a: V, b: V, estimate: V, divisor: V) -> V {
        let rounded = estimate.mul(divisor);
        let rounding_error = estimate.mul_sub(divisor, rounded);
        a.mul_sub(b, rounded).sub(rounding_error)
    }

    /// `ceil(numerator / divisor)` for a whole number `0 <= numerator < 2^52`: the product with the
    /// reciprocal is within `2^-52` relative of the true quotient (below 2^52), so less than one
    /// from it; rounded up, it is within one of the ceiling, and the exact
    /// `estimate * divisor - numerator` says which way to step.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn ceil_div(numerator: V, divisor: Divisor) -> V {
        let one = V::splat(1.0);
        let estimate = numerator.mul(divisor.reciprocal).ceil();
        let excess = estimate.mul(divisor.value).sub(numerator);
        let low = one.and(excess.lt(V::splat(0.0)));
        let high = one.and(excess.ge(divisor.value));
        estimate.add(low).sub(high)
    }
}

/// The fast path against the exact one, account by account: equal wherever it answers, and
/// answering for the accounts a venue actually has.
#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{LanePlan, Row, LIMIT};
    use crate::risk::{account_margin, AccountState, AssetRisk, Fraction, Haircut, MarketRisk, Prepared, RiskParams};
    use crate::workload::SplitMix64;
    use proptest::prelude::*;

    const USDC: i64 = 1_000_000;

    /// The fast path's answer, or `None` twice over on a CPU without AVX2 (the test then has
    /// nothing to compare).
    fn fast_row(plan: &LanePlan, account: &AccountState<'_>) -> Option<Option<Row>> {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return None;
        }
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2 and FMA, checked just above; `row` needs nothing else.
        Some(unsafe { plan.row(account) })
    }

    /// One account's columns.
    #[derive(Clone, Debug)]
    struct Account {
        holdings: Vec<i64>,
        borrowed: Vec<i64>,
        net_qty: Vec<i64>,
        net_cost: Vec<i64>,
        open_bids: Vec<i64>,
        open_asks: Vec<i64>,
        max_leverage: u32,
    }

    impl Account {
        fn state(&self) -> AccountState<'_> {
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

    /// Whether the fast path answered; panics when its answer differs from the exact path's.
    fn check(params: &RiskParams, account: &Account) -> Option<bool> {
        let plan = Prepared::new(params).lanes.expect("a plan for these parameters");
        let fast = fast_row(&plan, &account.state())?;
        let exact = account_margin(params, &account.state());
        match (fast, exact) {
            (Some(fast), Ok(exact)) => {
                let expected = Row::of(&exact);
                assert_eq!(fast.net_equity, expected.net_equity, "{account:?}");
                assert_eq!(fast.initial_margin, expected.initial_margin, "{account:?}");
                assert_eq!(fast.maintenance_margin, expected.maintenance_margin, "{account:?}");
                assert_eq!(fast.imr.to_bits(), expected.imr.to_bits(), "{account:?}");
                assert_eq!(fast.mmr.to_bits(), expected.mmr.to_bits(), "{account:?}");
                assert_eq!(fast.margin_fraction.to_bits(), expected.margin_fraction.to_bits(), "{account:?}");
                assert_eq!(fast.liquidatable, expected.liquidatable, "{account:?}");
                Some(true)
            }
            (Some(fast), Err(error)) => panic!("fast path answered {fast:?} where the exact one fails: {error}"),
            (None, _) => Some(false),
        }
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
    fn venue_account(rng: &mut SplitMix64, params: &RiskParams, scale: f64) -> Account {
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
        Account {
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
        let (mut answered, mut accounts) = (0, 0);
        for _ in 0..200 {
            let params = venue_params(&mut rng);
            for _ in 0..100 {
                let account = venue_account(&mut rng, &params, 100_000.0);
                let Some(fast) = check(&params, &account) else { return };
                answered += usize::from(fast);
                accounts += 1;
            }
        }
        // Up to ~16 million USDC a holding or position, at 100 a lot or less: nearly all settle.
        assert!(answered * 100 >= accounts * 95, "answered {answered} of {accounts}");
    }

    #[test]
    fn the_fast_path_declines_what_it_cannot_settle() {
        let mut rng = SplitMix64::new(11);
        let params = venue_params(&mut rng);
        let account = venue_account(&mut rng, &params, 1_000.0);
        let plan = Prepared::new(&params).lanes.unwrap();
        if check(&params, &account) != Some(true) {
            return;
        }
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
        for declined in [zero_leverage, huge_holding, huge_cost, negative_orders, negative_borrow] {
            assert_eq!(fast_row(&plan, &declined.state()), Some(None), "{declined:?}");
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
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        /// Hostile accounts (amounts around the limit and the rounding edges, negative orders,
        /// any leverage): the fast path never answers differently from the exact path.
        #[test]
        fn the_fast_path_never_differs_from_the_exact_path(
            seed in any::<u64>(),
            edge in prop_oneof![Just(0i64), -64i64..64, Just(LIMIT as i64), Just(-(LIMIT as i64)), any::<i64>()],
            column in 0usize..6,
            max_leverage in prop_oneof![1u32..=60, any::<u32>()],
            scale in prop_oneof![Just(1.0), Just(1e5), Just(3e7), Just(1e9)],
        ) {
            let mut rng = SplitMix64::new(seed);
            let params = venue_params(&mut rng);
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
            check(&params, &account);
        }
    }
}
