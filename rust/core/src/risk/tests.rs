//! Unit and property tests of the risk kernel: the worked examples of SPEC §12, one behaviour per
//! test, then proptests of the invariants (scan = per-account margin, monotonicity, rounding
//! direction, liquidation price, no panics).
//!
//! Units throughout: USDC has 6 decimals (`quote_unit` 10^6); the SOL perpetual has tick 0.01 USDC
//! and step 0.01 SOL, so one lot at one tick is 10^-4 USDC = 100 atoms; BTC and SOL have 8 decimals.

use super::liquidation::HealthCurve;
use super::scan::scan_into_threads;

/// A scan split into `threads` blocks, into a fresh result.
fn scan_blocks(params: &RiskParams, columns: &Columns<'_>, threads: usize) -> Result<ScanResult, RiskError> {
    let mut result = ScanResult::default();
    result.resize(columns.max_leverage.len());
    scan_into_threads(params, columns, result.output(), threads).map(|()| result)
}
use super::*;

const USDC: i64 = 1_000_000;
const SOL_TICK_LOT: i64 = 100;
const SOL_IMF: Fraction = Fraction { base: 0.02, factor: 0.00006 };
const SOL_MMF: Fraction = Fraction { base: 0.0135, factor: 0.000036 };
const NO_BORROW: Fraction = Fraction { base: 1.0, factor: 0.0 };

fn usdc() -> AssetRisk {
    AssetRisk {
        price: USDC,
        unit: USDC,
        haircut: Haircut::Identity,
        borrow_imf: Fraction { base: 0.1, factor: 0.0 },
        borrow_mmf: Fraction { base: 0.05, factor: 0.0 },
    }
}

/// BTC at `dollars` USDC (8 decimals), haircut `inverseSqrt {0.95, 0.001}`.
fn btc(dollars: i64) -> AssetRisk {
    AssetRisk {
        price: dollars * USDC,
        unit: 100_000_000,
        haircut: Haircut::InverseSqrt { base: 0.95, penalty: 0.001 },
        borrow_imf: NO_BORROW,
        borrow_mmf: NO_BORROW,
    }
}

fn sol_perp(mark: i64) -> MarketRisk {
    MarketRisk { mark, notional_per_tick_lot: SOL_TICK_LOT, imf: SOL_IMF, mmf: SOL_MMF }
}

/// An account's columns, owned.
#[derive(Clone, Debug, PartialEq)]
struct Account {
    holdings: Vec<i64>,
    net_qty: Vec<i64>,
    net_cost: Vec<i64>,
    open_bids: Vec<i64>,
    open_asks: Vec<i64>,
    max_leverage: u32,
}

impl Account {
    fn new(holdings: &[i64], positions: &[(i64, i64)], max_leverage: u32) -> Account {
        Account {
            holdings: holdings.to_vec(),
            net_qty: positions.iter().map(|&(qty, _)| qty).collect(),
            net_cost: positions.iter().map(|&(_, cost)| cost).collect(),
            open_bids: vec![0; positions.len()],
            open_asks: vec![0; positions.len()],
            max_leverage,
        }
    }

    fn state(&self) -> AccountState<'_> {
        AccountState {
            holdings: &self.holdings,
            borrowed: &[],
            net_qty: &self.net_qty,
            net_cost: &self.net_cost,
            open_bids: &self.open_bids,
            open_asks: &self.open_asks,
            max_leverage: self.max_leverage,
        }
    }
}

fn margin(params: &RiskParams, account: &Account) -> Margin {
    account_margin(params, &account.state()).expect("a valid account")
}

/// SPEC §12 example 2: 10,000 USDC and 1,000 SOL long at 100 USDC (N = 100,000 USDC), bought at the mark.
fn example_two(max_leverage: u32) -> (RiskParams, Account) {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(10_000)] };
    let account = Account::new(&[10_000 * USDC], &[(100_000, 100_000 * USDC)], max_leverage);
    (params, account)
}

fn relative_error(actual: f64, expected: f64) -> f64 {
    ((actual - expected) / expected).abs()
}

// ---------------------------------------------------------------------------------------------
// SPEC §12 worked examples
// ---------------------------------------------------------------------------------------------

#[test]
fn example_1_size_scaled_fractions() {
    assert!((SOL_IMF.at(250_000.0) - 0.03).abs() < 1e-15);
    assert!((SOL_MMF.at(250_000.0) - 0.018).abs() < 1e-15);
    assert_eq!(SOL_IMF.at(100_000.0), 0.02);
    assert_eq!(SOL_MMF.at(100_000.0), 0.0135);
    // Through the kernel at 50×: 2,500 SOL at 100 USDC is N = 250,000.
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(10_000)] };
    let large = margin(&params, &Account::new(&[100_000 * USDC], &[(250_000, 250_000 * USDC)], 50));
    assert_eq!(large.initial_margin, 7_500 * USDC);
    assert_eq!(large.maintenance_margin, 4_500 * USDC);
    let small = margin(&params, &Account::new(&[100_000 * USDC], &[(100_000, 100_000 * USDC)], 50));
    assert_eq!(small.initial_margin, 2_000 * USDC);
    assert_eq!(small.maintenance_margin, 1_350 * USDC);
}

#[test]
fn example_2_ratios_at_50x() {
    let (params, account) = example_two(50);
    let margin = margin(&params, &account);
    assert_eq!(
        margin,
        Margin {
            collateral: 10_000 * USDC,
            liabilities: 0,
            unrealized_pnl: 0,
            net_equity: 10_000 * USDC,
            initial_margin: 2_000 * USDC,
            maintenance_margin: 1_350 * USDC,
            exposure: 100_000 * USDC,
            imr: 0.2,
            mmr: 0.135,
            margin_fraction: 0.1,
        }
    );
    assert_eq!(margin.available(), 8_000 * USDC);
    assert!(!margin.is_liquidatable());
}

#[test]
fn example_2_at_the_default_10x_imr_is_exactly_100_percent() {
    let (params, account) = example_two(10);
    let margin = margin(&params, &account);
    assert_eq!(margin.initial_margin, 10_000 * USDC);
    assert_eq!(margin.imr, 1.0);
    assert_eq!(margin.available(), 0);
    assert_eq!(margin.maintenance_margin, 1_350 * USDC);
}

#[test]
fn example_2_liquidation_starts_when_equity_falls_to_1350() {
    let (params, mut account) = example_two(50);
    account.holdings[0] = 1_350 * USDC;
    let at_threshold = margin(&params, &account);
    assert_eq!(at_threshold.net_equity, 1_350 * USDC);
    assert_eq!(at_threshold.mmr, 1.0);
    assert!(at_threshold.is_liquidatable());
    account.holdings[0] += 1;
    assert!(!margin(&params, &account).is_liquidatable());
}

#[test]
fn example_2_liquidation_price_of_the_long() {
    // Equity 10^7 p - 9·10^10 atoms meets MM 0.0135 · 10^7 p (N stays on the flat part of the MMF)
    // at p = 9·10^10 / (10^7 · 0.9865) ticks ≈ 91.23 USDC; there equity is ≈ 1,231.6 USDC, not
    // 1,350: the requirement shrinks with the notional as the price falls.
    let (params, account) = example_two(50);
    let price = liquidation_price(&params, &account.state(), 0).expect("a long with finite collateral");
    assert!(relative_error(price, 9.0e10 / (1.0e7 * 0.9865)) < 1e-9, "{price}");
    let equity_there = 1.0e7 * price - 9.0e10;
    assert!(relative_error(equity_there, 0.0135 * 1.0e7 * price) < 1e-9);
}

#[test]
fn liquidation_price_of_a_short_is_above_the_mark() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(10_000)] };
    let account = Account::new(&[10_000 * USDC], &[(-100_000, -100_000 * USDC)], 50);
    let price = liquidation_price(&params, &account.state(), 0).expect("a short always has one");
    assert!(relative_error(price, 1.1e11 / (1.0e7 * 1.0135)) < 1e-9, "{price}");
}

#[test]
fn example_3_inverse_sqrt_haircut() {
    let haircut = Haircut::InverseSqrt { base: 0.95, penalty: 0.001 };
    assert_eq!(haircut.weight(0.0), 0.95);
    assert_eq!(haircut.weight(24_930.7), 0.95);
    assert!(haircut.weight(24_930.8) < 0.95);
    assert!((haircut.weight(100_000.0) - 0.835_721_619_3).abs() < 1e-10);
    assert!((haircut.weight(1_000_000.0) - 0.55).abs() < 1e-15);
    assert_eq!(Haircut::Identity.weight(1e12), 1.0);
}

#[test]
fn example_3_through_the_kernel() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc(), btc(100_000)], markets: vec![] };
    let collateral = |btc_atoms: i64| margin(&params, &Account::new(&[0, btc_atoms], &[], 10)).collateral;
    assert_eq!(collateral(20_000_000), 19_000 * USDC); // 20,000 USDC at 0.95
    assert_eq!(collateral(100_000_000), 83_572_161_931); // floor(10^11 · 0.8357216193…)
    assert_eq!(collateral(1_000_000_000), 550_000 * USDC); // 1,000,000 USDC at 0.55
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

#[test]
fn an_empty_account_has_infinite_ratios_and_is_not_liquidatable() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(10_000)] };
    let margin = margin(&params, &Account::new(&[0], &[(0, 0)], 10));
    assert_eq!((margin.net_equity, margin.initial_margin, margin.maintenance_margin, margin.exposure), (0, 0, 0, 0));
    assert_eq!((margin.imr, margin.mmr, margin.margin_fraction), (f64::INFINITY, f64::INFINITY, f64::INFINITY));
    assert!(!margin.is_liquidatable());
}

#[test]
fn collateral_without_exposure_has_zero_ratios() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![] };
    let margin = margin(&params, &Account::new(&[5 * USDC], &[], 10));
    assert_eq!((margin.imr, margin.mmr, margin.margin_fraction), (0.0, 0.0, f64::INFINITY));
}

#[test]
fn a_borrow_is_a_liability_and_an_exposure() {
    let sol = AssetRisk {
        price: 100 * USDC,
        unit: 100_000_000,
        haircut: Haircut::InverseSqrt { base: 0.9, penalty: 0.001 },
        borrow_imf: Fraction { base: 0.05, factor: 0.0001 },
        borrow_mmf: Fraction { base: 0.03, factor: 0.00006 },
    };
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc(), sol], markets: vec![] };
    // 10 SOL borrowed at 100 USDC: liability 1,000 USDC; 0.0001 · sqrt(1,000) < 0.05.
    let margin = margin(&params, &Account::new(&[10_000 * USDC, -1_000_000_000], &[], 50));
    assert_eq!(margin.collateral, 10_000 * USDC);
    assert_eq!(margin.liabilities, 1_000 * USDC);
    assert_eq!(margin.net_equity, 9_000 * USDC);
    assert_eq!(margin.exposure, 1_000 * USDC);
    assert_eq!(margin.initial_margin, 50 * USDC);
    assert_eq!(margin.maintenance_margin, 30 * USDC);
}

#[test]
fn a_borrow_at_low_leverage_needs_its_notional_over_leverage() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![] };
    // Borrowing 1,000 USDC at 2×: max(0.1, 1/2) of it.
    let margin = margin(&params, &Account::new(&[-1_000 * USDC], &[], 2));
    assert_eq!(margin.initial_margin, 500 * USDC);
    assert_eq!(margin.maintenance_margin, 50 * USDC);
    assert_eq!(margin.net_equity, -1_000 * USDC);
    assert_eq!(margin.mmr, f64::INFINITY);
    assert!(margin.is_liquidatable());
}

#[test]
fn values_round_down_and_liabilities_up() {
    // 3 atoms of an asset worth 1.00000001 atoms each.
    let odd = AssetRisk { price: 100_000_001, unit: 100_000_000, ..usdc() };
    let params = RiskParams { quote_unit: USDC, assets: vec![odd], markets: vec![] };
    assert_eq!(margin(&params, &Account::new(&[3], &[], 10)).collateral, 3);
    assert_eq!(margin(&params, &Account::new(&[-3], &[], 10)).liabilities, 4);
}

#[test]
fn requirements_round_up_to_the_atom() {
    let params = RiskParams { quote_unit: USDC, assets: vec![], markets: vec![sol_perp(333)] };
    // N = 1 · 333 · 100 = 33,300 atoms: IM = ceil(666.0), MM = ceil(449.55).
    let margin = margin(&params, &Account::new(&[], &[(1, 0)], 50));
    assert_eq!(margin.initial_margin, 666);
    assert_eq!(margin.maintenance_margin, 450);
    assert_eq!(margin.unrealized_pnl, 33_300);
}

#[test]
fn open_orders_count_on_the_side_that_increases_exposure() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(10_000)] };
    let mut account = Account::new(&[1_000 * USDC], &[(10, 10 * 10_000 * SOL_TICK_LOT)], 50);
    account.open_bids[0] = 5;
    account.open_asks[0] = 30; // selling 30 from +10 leaves a short of 20: the worse side
    let margin = margin(&params, &account);
    let lot_value = 10_000 * SOL_TICK_LOT;
    assert_eq!(margin.exposure, 20 * lot_value);
    assert_eq!(margin.initial_margin, 20 * lot_value / 50);
    assert_eq!(margin.maintenance_margin, 10 * lot_value * 135 / 10_000); // the position alone
    account.open_asks[0] = 12;
    assert_eq!(self::margin(&params, &account).exposure, 15 * lot_value);
}

#[test]
fn unrealized_pnl_is_signed() {
    let params = RiskParams { quote_unit: USDC, assets: vec![usdc()], markets: vec![sol_perp(11_000)] };
    // Long 100 SOL bought at 100, short 50 SOL sold at 100; the mark is 110.
    let long = margin(&params, &Account::new(&[0], &[(10_000, 10_000 * USDC)], 10));
    assert_eq!(long.unrealized_pnl, 1_000 * USDC);
    let short = margin(&params, &Account::new(&[0], &[(-5_000, -5_000 * USDC)], 10));
    assert_eq!(short.unrealized_pnl, -500 * USDC);
    assert_eq!(short.net_equity, -500 * USDC);
}

#[test]
fn terms_add_up_across_assets_and_markets() {
    let params = RiskParams {
        quote_unit: USDC,
        assets: vec![usdc(), btc(100_000)],
        markets: vec![sol_perp(10_000), sol_perp(20_000)],
    };
    let both = Account::new(&[1_000 * USDC, 10_000_000], &[(1_000, 0), (-2_000, 0)], 20);
    let margin = margin(&params, &both);
    let parts = [
        Account::new(&[1_000 * USDC, 0], &[(0, 0), (0, 0)], 20),
        Account::new(&[0, 10_000_000], &[(0, 0), (0, 0)], 20),
        Account::new(&[0, 0], &[(1_000, 0), (0, 0)], 20),
        Account::new(&[0, 0], &[(0, 0), (-2_000, 0)], 20),
    ]
    .map(|part| self::margin(&params, &part));
    let sum = |field: fn(&Margin) -> i64| parts.iter().map(field).sum::<i64>();
    assert_eq!(margin.collateral, sum(|m| m.collateral));
    assert_eq!(margin.net_equity, sum(|m| m.net_equity));
    assert_eq!(margin.initial_margin, sum(|m| m.initial_margin));
    assert_eq!(margin.maintenance_margin, sum(|m| m.maintenance_margin));
    assert_eq!(margin.exposure, sum(|m| m.exposure));
    assert_eq!(margin.collateral, 1_000 * USDC + 9_500 * USDC);
}

#[test]
fn liquidation_price_is_none_for_a_flat_or_overcollateralized_position() {
    let (params, mut account) = example_two(50);
    account.net_qty[0] = 0;
    assert_eq!(liquidation_price(&params, &account.state(), 0), None);
    // 1,000 SOL long paid for in full: safe down to a price of zero.
    let (params, mut account) = example_two(50);
    account.holdings[0] = 100_000 * USDC;
    assert_eq!(liquidation_price(&params, &account.state(), 0), None);
    assert_eq!(liquidation_price(&params, &account.state(), 1), None); // no such market
}

#[test]
fn liquidation_price_of_a_position_already_under_water_is_above_the_mark() {
    // Equity 1,000 USDC < MM 1,350 at 100; the long recovers at a higher price.
    let (params, mut account) = example_two(50);
    account.holdings[0] = 1_000 * USDC;
    let price = liquidation_price(&params, &account.state(), 0).unwrap();
    assert!(price > 10_000.0);
    assert!(relative_error(price, 9.9e10 / (1.0e7 * 0.9865)) < 1e-9, "{price}");
}

// ---------------------------------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------------------------------

#[test]
fn misuse_is_an_error_naming_the_input() {
    let (params, account) = example_two(50);
    let error = |params: &RiskParams, account: &Account| account_margin(params, &account.state()).unwrap_err();
    let message = |params: &RiskParams, account: &Account| error(params, account).to_string();

    let zero_leverage = Account { max_leverage: 0, ..account.clone() };
    assert!(matches!(error(&params, &zero_leverage), RiskError::InvalidValue(_)));
    let negative_bids = Account { open_bids: vec![-1], ..account.clone() };
    assert!(message(&params, &negative_bids).contains("open_bids -1"));
    let short_holdings = Account { holdings: vec![], ..account.clone() };
    assert_eq!(
        error(&params, &short_holdings),
        RiskError::Shape("holdings has 0 entries, expected 1 (one per asset)".to_owned())
    );
    let long_costs = Account { net_cost: vec![0, 0], ..account.clone() };
    assert!(message(&params, &long_costs).contains("net_cost has 2 entries"));

    let mut bad_unit = params.clone();
    bad_unit.assets[0].unit = 0;
    assert!(message(&bad_unit, &account).contains("assets[0].unit must be positive"));
    let mut nan_factor = params.clone();
    nan_factor.markets[0].mmf.factor = f64::NAN;
    assert!(message(&nan_factor, &account).contains("markets[0].mmf.factor"));
    let mut negative_mark = params.clone();
    negative_mark.markets[0].mark = -1;
    assert!(message(&negative_mark, &account).contains("markets[0].mark"));
    let mut no_quote_unit = params.clone();
    no_quote_unit.quote_unit = 0;
    assert!(matches!(error(&no_quote_unit, &account), RiskError::InvalidValue(_)));
    let mut nan_haircut = params;
    nan_haircut.assets[0].haircut = Haircut::InverseSqrt { base: f64::NAN, penalty: 0.0 };
    assert!(message(&nan_haircut, &account).contains("assets[0].haircut.base"));
}

#[test]
fn amounts_that_do_not_fit_are_overflow_errors() {
    let (params, account) = example_two(50);
    let huge_position = Account { net_qty: vec![i64::MAX], ..account.clone() };
    assert_eq!(account_margin(&params, &huge_position.state()), Err(RiskError::Overflow("position notional")));
    let huge_orders = Account { open_bids: vec![i64::MAX], ..account.clone() };
    assert_eq!(account_margin(&params, &huge_orders.state()), Err(RiskError::Overflow("exposure notional")));
    let pricey = RiskParams { assets: vec![AssetRisk { price: i64::MAX, unit: 1, ..usdc() }], ..params.clone() };
    assert_eq!(account_margin(&pricey, &account.state()), Err(RiskError::Overflow("collateral value")));
    let owing = Account { holdings: vec![i64::MIN], ..account.clone() };
    assert_eq!(account_margin(&pricey, &owing.state()), Err(RiskError::Overflow("liability")));
    // Two holdings that fit on their own but not together.
    let two = RiskParams { assets: vec![usdc(), usdc()], ..params };
    let rich = Account { holdings: vec![i64::MAX, i64::MAX], ..account };
    assert_eq!(account_margin(&two, &rich.state()), Err(RiskError::Overflow("collateral")));
}

// ---------------------------------------------------------------------------------------------
// Scan
// ---------------------------------------------------------------------------------------------

/// Owned columns for `accounts` rows.
#[derive(Clone, Debug, Default)]
struct OwnedColumns {
    holdings: Vec<i64>,
    net_qty: Vec<i64>,
    net_cost: Vec<i64>,
    open_bids: Vec<i64>,
    open_asks: Vec<i64>,
    max_leverage: Vec<u32>,
}

impl OwnedColumns {
    fn from_accounts(accounts: &[Account]) -> OwnedColumns {
        let mut columns = OwnedColumns::default();
        for account in accounts {
            columns.holdings.extend(&account.holdings);
            columns.net_qty.extend(&account.net_qty);
            columns.net_cost.extend(&account.net_cost);
            columns.open_bids.extend(&account.open_bids);
            columns.open_asks.extend(&account.open_asks);
            columns.max_leverage.push(account.max_leverage);
        }
        columns
    }

    fn view(&self) -> Columns<'_> {
        Columns {
            holdings: &self.holdings,
            borrowed: &[],
            net_qty: &self.net_qty,
            net_cost: &self.net_cost,
            open_bids: &self.open_bids,
            open_asks: &self.open_asks,
            max_leverage: &self.max_leverage,
        }
    }
}

/// Deterministic pseudo-random accounts (an LCG; no dependency) over `example_params`.
fn many_accounts(count: usize) -> Vec<Account> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |bound: i64| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        i64::try_from(state >> 1).unwrap() % bound
    };
    (0..count)
        .map(|_| {
            let mut account = Account::new(
                &[next(20_000 * USDC) - 2_000 * USDC, next(200_000_000) - 50_000_000],
                &[(next(200_000) - 100_000, next(2_000_000 * USDC) - 1_000_000 * USDC), (next(2_000) - 1_000, 0)],
                u32::try_from(next(50) + 1).unwrap(),
            );
            account.open_bids = vec![next(1_000), next(10)];
            account.open_asks = vec![next(1_000), next(10)];
            account
        })
        .collect()
}

fn example_params() -> RiskParams {
    RiskParams {
        quote_unit: USDC,
        assets: vec![usdc(), btc(100_000)],
        markets: vec![sol_perp(10_000), MarketRisk { mark: 5_000_000, notional_per_tick_lot: 10, ..sol_perp(0) }],
    }
}

#[test]
fn scan_equals_account_margin_for_any_split_across_threads() {
    let params = example_params();
    let accounts = many_accounts(70_001);
    let columns = OwnedColumns::from_accounts(&accounts);
    let single = scan_blocks(&params, &columns.view(), 1).unwrap();
    for threads in [2, 3, 8] {
        assert_eq!(scan_blocks(&params, &columns.view(), threads).unwrap(), single, "{threads} threads");
    }
    assert_eq!(scan(&params, &columns.view()).unwrap(), single);
    for (row, account) in accounts.iter().enumerate() {
        let margin = margin(&params, account);
        assert_eq!(single.net_equity[row], margin.net_equity);
        assert_eq!(single.initial_margin[row], margin.initial_margin);
        assert_eq!(single.maintenance_margin[row], margin.maintenance_margin);
        assert_eq!(single.imr[row].to_bits(), margin.imr.to_bits());
        assert_eq!(single.mmr[row].to_bits(), margin.mmr.to_bits());
        assert_eq!(single.margin_fraction[row].to_bits(), margin.margin_fraction.to_bits());
        assert_eq!(single.liquidatable[row], margin.is_liquidatable());
    }
    let liquidatable = single.liquidatable.iter().filter(|&&flag| flag).count();
    assert!(liquidatable > 1_000 && liquidatable < 69_000, "the sample should mix both: {liquidatable}");
}

#[test]
fn scan_reports_the_lowest_failing_account_for_any_split() {
    let params = example_params();
    let mut columns = OwnedColumns::from_accounts(&many_accounts(50_000));
    columns.max_leverage[45_000] = 0;
    columns.open_asks[2 * 30_000 + 1] = -4;
    for threads in [1, 2, 5] {
        let error = scan_blocks(&params, &columns.view(), threads).unwrap_err();
        assert!(
            matches!(&error, RiskError::Account { index: 30_000, source } if matches!(**source, RiskError::InvalidValue(_)))
        );
        assert!(error.to_string().starts_with("account 30000: invalid value: open orders must be >= 0"), "{error}");
    }
}

#[test]
fn scan_checks_every_column_shape() {
    let params = example_params();
    let columns = OwnedColumns::from_accounts(&many_accounts(3));
    for name in ["holdings", "net_qty", "net_cost", "open_bids", "open_asks"] {
        let mut wrong = columns.clone();
        let column = match name {
            "holdings" => &mut wrong.holdings,
            "net_qty" => &mut wrong.net_qty,
            "net_cost" => &mut wrong.net_cost,
            "open_bids" => &mut wrong.open_bids,
            _ => &mut wrong.open_asks,
        };
        column.push(0);
        match scan(&params, &wrong.view()) {
            Err(RiskError::Shape(message)) => assert!(message.starts_with(&format!("{name} has ")), "{message}"),
            other => panic!("{name}: expected a shape error, got {other:?}"),
        }
    }
    let mut fewer_accounts = columns.clone();
    fewer_accounts.max_leverage.pop();
    assert!(
        matches!(scan(&params, &fewer_accounts.view()), Err(RiskError::Shape(message)) if message == "holdings has 6 entries, expected 2 accounts × 2 (one per asset) = 4")
    );
}

#[test]
fn scan_of_no_accounts_is_empty() {
    let params = example_params();
    assert_eq!(scan(&params, &OwnedColumns::default().view()).unwrap(), ScanResult::default());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn fraction(max_base: f64, max_factor: f64) -> impl Strategy<Value = Fraction> {
        (0.0..max_base, 0.0..max_factor).prop_map(|(base, factor)| Fraction { base, factor })
    }

    fn haircut() -> impl Strategy<Value = Haircut> {
        prop_oneof![
            Just(Haircut::Identity),
            (0.0..=1.0, 0.0..0.01).prop_map(|(base, penalty)| Haircut::InverseSqrt { base, penalty }),
        ]
    }

    fn asset() -> impl Strategy<Value = AssetRisk> {
        // Holdings stay within ±10^12 atoms, so values stay below 10^12 · 10^10 / 10^4 = 10^18 atoms.
        (0i64..10_000_000_000, 4u32..=9, haircut(), fraction(0.5, 0.001), fraction(0.3, 0.001)).prop_map(
            |(price, decimals, haircut, borrow_imf, borrow_mmf)| AssetRisk {
                price,
                unit: 10i64.pow(decimals),
                haircut,
                borrow_imf,
                borrow_mmf,
            },
        )
    }

    fn market() -> impl Strategy<Value = MarketRisk> {
        (0i64..1_000_000, 1i64..10_000, fraction(0.5, 0.0002), fraction(0.3, 0.0001))
            .prop_map(|(mark, notional_per_tick_lot, imf, mmf)| MarketRisk { mark, notional_per_tick_lot, imf, mmf })
    }

    fn params() -> impl Strategy<Value = RiskParams> {
        (
            prop_oneof![4 => Just(1_000_000i64), 1 => Just(1i64), 1 => Just(100_000_000i64)],
            prop::collection::vec(asset(), 0..4),
            prop::collection::vec(market(), 0..4),
        )
            .prop_map(|(quote_unit, assets, markets)| RiskParams { quote_unit, assets, markets })
    }

    fn account(assets: usize, markets: usize) -> impl Strategy<Value = Account> {
        let positions = prop::collection::vec(
            (-1_000_000i64..1_000_000, -(1i64 << 50)..(1i64 << 50), 0i64..1_000_000, 0i64..1_000_000),
            markets,
        );
        (prop::collection::vec(-1_000_000_000_000i64..1_000_000_000_000, assets), positions, 1u32..=50).prop_map(
            |(holdings, positions, max_leverage)| Account {
                holdings,
                net_qty: positions.iter().map(|position| position.0).collect(),
                net_cost: positions.iter().map(|position| position.1).collect(),
                open_bids: positions.iter().map(|position| position.2).collect(),
                open_asks: positions.iter().map(|position| position.3).collect(),
                max_leverage,
            },
        )
    }

    fn params_and_accounts(count: std::ops::Range<usize>) -> impl Strategy<Value = (RiskParams, Vec<Account>)> {
        params().prop_flat_map(move |params| {
            let accounts = prop::collection::vec(account(params.assets.len(), params.markets.len()), count.clone());
            (Just(params), accounts)
        })
    }

    /// Params whose market 0 is held by the account: `qty` lots bought (or sold) within 20% of the
    /// mark, on USDC collateral of the notional over `gearing`; the rest of the account is random or,
    /// half the time, empty.
    fn with_position() -> impl Strategy<Value = (RiskParams, Account)> {
        let position = (1i64..1_000_000, 1i64..1_000, fraction(0.2, 0.0002), fraction(0.1, 0.0001), 1i64..1_000_000);
        (params_and_accounts(1..2), position, any::<bool>(), 0.8f64..1.2, 0.5f64..100.0, any::<bool>()).prop_map(
            |((mut params, mut accounts), (mark, tick_lot, imf, mmf, qty), long, entry, gearing, alone)| {
                let mut account = accounts.remove(0);
                if alone {
                    account.holdings.fill(0);
                    account.net_qty.fill(0);
                }
                let net_qty = if long { qty } else { -qty };
                let notional = (qty * mark * tick_lot) as f64;
                params.quote_unit = USDC;
                params.assets.insert(0, usdc());
                params.markets.insert(0, MarketRisk { mark, notional_per_tick_lot: tick_lot, imf, mmf });
                account.holdings.insert(0, (notional / gearing) as i64);
                account.net_qty.insert(0, net_qty);
                account.net_cost.insert(0, ((net_qty * mark * tick_lot) as f64 * entry) as i64);
                account.open_bids.insert(0, 0);
                account.open_asks.insert(0, 0);
                (params, account)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// The leverage term through the f64 reciprocal is the exact integer ceiling, at every
        /// size (both sides of the 2^52 switch to a division) and leverage.
        #[test]
        fn leverage_share_is_the_exact_ceiling(
            notional in prop_oneof![0u64..1_000_000, 0u64..(1 << 53), ((1u64 << 52) - 64)..((1u64 << 52) + 64), any::<u64>()],
            max_leverage in prop_oneof![1u32..=100, any::<u32>().prop_map(|leverage| leverage.max(1))],
        ) {
            let share = Leverage::new(max_leverage).ceil_share(notional);
            prop_assert_eq!(share, notional.div_ceil(u64::from(max_leverage)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn scan_equals_account_margin_row_by_row((params, accounts) in params_and_accounts(0..12), threads in 1usize..4) {
            let columns = OwnedColumns::from_accounts(&accounts);
            let scanned = scan_blocks(&params, &columns.view(), threads);
            let rows: Result<Vec<Margin>, RiskError> =
                accounts.iter().map(|account| account_margin(&params, &account.state())).collect();
            match (scanned, rows) {
                (Ok(scanned), Ok(rows)) => {
                    for (row, margin) in rows.iter().enumerate() {
                        prop_assert_eq!(scanned.net_equity[row], margin.net_equity);
                        prop_assert_eq!(scanned.initial_margin[row], margin.initial_margin);
                        prop_assert_eq!(scanned.maintenance_margin[row], margin.maintenance_margin);
                        prop_assert_eq!(scanned.imr[row].to_bits(), margin.imr.to_bits());
                        prop_assert_eq!(scanned.mmr[row].to_bits(), margin.mmr.to_bits());
                        prop_assert_eq!(scanned.margin_fraction[row].to_bits(), margin.margin_fraction.to_bits());
                        prop_assert_eq!(scanned.liquidatable[row], margin.is_liquidatable());
                    }
                }
                (Err(RiskError::Account { source, .. }), Err(error)) => prop_assert_eq!(*source, error),
                (scanned, rows) => prop_assert!(false, "scan {:?} but rows {:?}", scanned, rows),
            }
        }

        #[test]
        fn raising_a_mark_moves_net_equity_with_the_position(
            (mut params, account) in with_position(),
            raise in 1i64..1_000_000,
        ) {
            let before = account_margin(&params, &account.state());
            params.markets[0].mark += raise;
            let after = account_margin(&params, &account.state());
            if let (Ok(before), Ok(after)) = (before, after) {
                let qty = account.net_qty[0];
                prop_assert_eq!(after.collateral, before.collateral);
                prop_assert_eq!(
                    i128::from(after.net_equity) - i128::from(before.net_equity),
                    i128::from(qty) * i128::from(raise) * i128::from(params.markets[0].notional_per_tick_lot)
                );
                if qty > 0 {
                    prop_assert!(after.net_equity > before.net_equity);
                } else {
                    prop_assert!(after.net_equity < before.net_equity);
                }
                prop_assert!(after.maintenance_margin >= before.maintenance_margin);
                prop_assert!(after.exposure >= before.exposure);
            }
        }

        #[test]
        fn rounding_goes_against_the_account((params, accounts) in params_and_accounts(1..2)) {
            let account = &accounts[0];
            let Ok(margin) = account_margin(&params, &account.state()) else { return Ok(()) };
            let mut values = 0i128; // Σ floor(h · price / unit) over positive holdings
            let mut liabilities = 0i128;
            let mut notionals = 0i128; // exposures, for the leverage bound
            let mut maintenance = 0f64; // Σ N · mmf(N), in f64
            for (asset, &holding) in params.assets.iter().zip(&account.holdings) {
                let exact = i128::from(holding) * i128::from(asset.price);
                let unit = i128::from(asset.unit);
                if holding > 0 {
                    values += exact / unit;
                } else if holding < 0 {
                    let liability = (-exact + unit - 1) / unit;
                    prop_assert!(liability * unit >= -exact && (liability - 1) * unit < -exact);
                    liabilities += liability;
                    notionals += liability;
                    maintenance += liability as f64 * asset.borrow_mmf.at(liability as f64 / params.quote_unit as f64);
                }
            }
            for (index, market) in params.markets.iter().enumerate() {
                let qty = i128::from(account.net_qty[index]);
                let exposure = (qty + i128::from(account.open_bids[index])).abs()
                    .max((qty - i128::from(account.open_asks[index])).abs());
                let per_lot = i128::from(market.mark) * i128::from(market.notional_per_tick_lot);
                notionals += exposure * per_lot;
                let position = (qty.abs() * per_lot) as f64;
                maintenance += position * market.mmf.at(position / params.quote_unit as f64);
            }
            let terms = (params.assets.len() + params.markets.len()) as f64;
            // Every haircut weight here is at most 1, so collateral is at most the plain value.
            prop_assert!(i128::from(margin.collateral) <= values);
            prop_assert_eq!(i128::from(margin.liabilities), liabilities);
            prop_assert_eq!(i128::from(margin.exposure), notionals);
            prop_assert!(i128::from(margin.initial_margin) * i128::from(account.max_leverage) >= notionals);
            let mm = margin.maintenance_margin as f64;
            prop_assert!(mm >= maintenance * (1.0 - 1e-12), "{} < {}", mm, maintenance);
            prop_assert!(mm <= maintenance * (1.0 + 1e-12) + terms, "{} > {} + {}", mm, maintenance, terms);
        }

        #[test]
        fn a_liquidation_price_is_where_mmr_is_one((params, account) in with_position()) {
            let Some(price) = liquidation_price(&params, &account.state(), 0) else { return Ok(()) };
            prop_assert!(price > 0.0 && price.is_finite());
            let curve = HealthCurve::new(&params, &account.state(), 0).unwrap();
            // f64 can place the root only as well as net equity there stands out of its parts.
            if curve.cancellation(price) < 1e8 {
                prop_assert!((curve.mmr(price) - 1.0).abs() < 1e-6, "mmr {} at {}", curve.mmr(price), price);
            }
            // One whole tick either side, health has the signs of a root on the losing side: a long is
            // unhealthy below its price, a short above it.
            let long = account.net_qty[0] > 0;
            let below = price.floor() - 1.0;
            let above = price.ceil() + 1.0;
            let monotone_top = if long { curve.monotone_limit().unwrap_or(0.0) } else { curve.overflow_limit };
            for (tick, unhealthy) in [(below, long), (above, !long)] {
                if tick < 0.0 || tick > monotone_top {
                    continue;
                }
                let health = curve.health(tick);
                let tolerance = 2.0 + 1e-9 * curve.scale(tick);
                if health.abs() > tolerance {
                    prop_assert_eq!(health < 0.0, unhealthy, "health {} at tick {} (price {})", health, tick, price);
                }
                // At whole ticks the kernel agrees with the continuous curve to the atom (it rounds
                // the position's requirement up), up to f64 error.
                let mut at_tick = params.clone();
                at_tick.markets[0].mark = tick as i64;
                if let Ok(margin) = account_margin(&at_tick, &account.state()) {
                    let kernel = margin.net_equity as f64 - margin.maintenance_margin as f64;
                    prop_assert!(
                        kernel <= health + tolerance - 2.0 && kernel >= health - tolerance,
                        "tick {}: kernel {} continuous {}", tick, kernel, health
                    );
                    if health < -tolerance && margin.maintenance_margin > 0 {
                        prop_assert!(margin.is_liquidatable());
                    }
                    if health > tolerance {
                        prop_assert!(!margin.is_liquidatable());
                    }
                }
            }
        }

        #[test]
        fn extreme_inputs_give_errors_not_panics(
            holdings in prop::collection::vec(any::<i64>(), 2),
            positions in prop::collection::vec((any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()), 2),
            prices in prop::collection::vec((any::<i64>(), 1i64..=i64::MAX), 2),
            marks in prop::collection::vec((any::<i64>(), 1i64..=i64::MAX), 2),
            factors in prop::collection::vec(prop_oneof![Just(0.0), Just(1e300), Just(f64::MAX), 0.0..2.0], 4),
            max_leverage in any::<u32>(),
            quote_unit in 1i64..=i64::MAX,
        ) {
            let params = RiskParams {
                quote_unit,
                assets: prices.iter().map(|&(price, unit)| AssetRisk {
                    price: price.unsigned_abs().min(i64::MAX.unsigned_abs()).try_into().unwrap(),
                    unit,
                    haircut: Haircut::InverseSqrt { base: factors[0], penalty: factors[1] },
                    borrow_imf: Fraction { base: factors[2], factor: factors[3] },
                    borrow_mmf: Fraction { base: factors[3], factor: factors[2] },
                }).collect(),
                markets: marks.iter().map(|&(mark, notional_per_tick_lot)| MarketRisk {
                    mark: mark.unsigned_abs().min(i64::MAX.unsigned_abs()).try_into().unwrap(),
                    notional_per_tick_lot,
                    imf: Fraction { base: factors[1], factor: factors[3] },
                    mmf: Fraction { base: factors[0], factor: factors[2] },
                }).collect(),
            };
            let account = Account {
                holdings,
                net_qty: positions.iter().map(|position| position.0).collect(),
                net_cost: positions.iter().map(|position| position.1).collect(),
                open_bids: positions.iter().map(|position| position.2.unsigned_abs().min(i64::MAX.unsigned_abs()).try_into().unwrap()).collect(),
                open_asks: positions.iter().map(|position| position.3).collect(),
                max_leverage,
            };
            let result = account_margin(&params, &account.state());
            if let Ok(margin) = result {
                prop_assert!(margin.initial_margin >= 0 && margin.maintenance_margin >= 0 && margin.collateral >= 0);
            }
            let _ = liquidation_price(&params, &account.state(), 0);
            let _ = liquidation_price(&params, &account.state(), 1);
            let columns = OwnedColumns::from_accounts(&[account.clone(), account]);
            let _ = scan_blocks(&params, &columns.view(), 2);
        }
    }
}

#[test]
fn a_borrow_still_held_as_cash_is_collateral_and_a_liability_with_margin() {
    let params = RiskParams {
        quote_unit: 1_000_000,
        assets: vec![AssetRisk {
            price: 1_000_000,
            unit: 1_000_000,
            haircut: Haircut::Identity,
            borrow_imf: Fraction { base: 0.05, factor: 0.0 },
            borrow_mmf: Fraction { base: 0.03, factor: 0.0 },
        }],
        markets: vec![],
    };
    // 10,000 USDC of own money plus 2,000 borrowed and still held: 12,000 held, 2,000 owed.
    let state = AccountState {
        holdings: &[12_000_000_000],
        borrowed: &[2_000_000_000],
        net_qty: &[],
        net_cost: &[],
        open_bids: &[],
        open_asks: &[],
        max_leverage: 10,
    };
    let margin = account_margin(&params, &state).unwrap();
    assert_eq!(margin.collateral, 12_000_000_000);
    assert_eq!(margin.liabilities, 2_000_000_000);
    assert_eq!(margin.net_equity, 10_000_000_000);
    assert_eq!(margin.initial_margin, 200_000_000, "max(5%, 1/10) of 2,000");
    assert_eq!(margin.maintenance_margin, 60_000_000);
    let negative = AccountState { borrowed: &[-1], ..state };
    assert!(matches!(account_margin(&params, &negative), Err(RiskError::InvalidValue(_))));
}
