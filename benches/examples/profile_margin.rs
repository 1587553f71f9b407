//! Runs the margin scan over 1,000,000 accounts × (4 holdings + 4 perpetuals) shaped like
//! `crossbook bench`'s state, into reused output buffers (what the engine does after every price
//! update), and prints ns per position: a target for `perf record`. `--threads N` pins the split;
//! `--accounts N --rounds N` shrink it (e.g. for `valgrind --tool=callgrind`).
use crossbook_core::risk::{self, AssetRisk, Columns, Fraction, Haircut, MarketRisk, RiskParams, ScanResult};
use crossbook_core::workload::SplitMix64;

const USDC: i64 = 1_000_000;

/// A value spread log-uniformly around `centre` (a factor of e either way), like the bench's log-normal.
fn around(rng: &mut SplitMix64, centre: f64) -> f64 {
    let unit = rng.next_u64() as f64 / u64::MAX as f64;
    centre * (2.0 * unit - 1.0).exp()
}

/// The value after `--name` on the command line.
fn option(name: &str) -> Option<usize> {
    std::env::args().skip_while(|arg| arg != name).nth(1).map(|value| value.parse().expect("a number"))
}

fn main() {
    let accounts = option("--accounts").unwrap_or(1_000_000);
    let rounds = option("--rounds").unwrap_or(11);
    let fraction = |base, factor| Fraction { base, factor };
    let inverse_sqrt = |base| Haircut::InverseSqrt { base, penalty: 0.001 };
    let params = RiskParams {
        quote_unit: USDC,
        assets: vec![
            AssetRisk {
                price: USDC,
                unit: USDC,
                haircut: Haircut::Identity,
                borrow_imf: fraction(0.1, 0.0),
                borrow_mmf: fraction(0.05, 0.0),
            },
            AssetRisk {
                price: 100_000 * USDC,
                unit: 100_000_000,
                haircut: inverse_sqrt(0.95),
                borrow_imf: fraction(0.1, 0.000_05),
                borrow_mmf: fraction(0.05, 0.000_03),
            },
            AssetRisk {
                price: 3_000 * USDC,
                unit: 100_000_000,
                haircut: inverse_sqrt(0.95),
                borrow_imf: fraction(0.1, 0.000_05),
                borrow_mmf: fraction(0.05, 0.000_03),
            },
            AssetRisk {
                price: 150 * USDC,
                unit: 100_000_000,
                haircut: inverse_sqrt(0.90),
                borrow_imf: fraction(0.15, 0.000_06),
                borrow_mmf: fraction(0.08, 0.000_036),
            },
        ],
        markets: vec![
            MarketRisk {
                mark: 1_000_000,
                notional_per_tick_lot: 10,
                imf: fraction(0.01, 0.000_04),
                mmf: fraction(0.006, 0.000_024),
            },
            MarketRisk {
                mark: 300_000,
                notional_per_tick_lot: 10,
                imf: fraction(0.015, 0.000_05),
                mmf: fraction(0.01, 0.000_03),
            },
            MarketRisk {
                mark: 15_000,
                notional_per_tick_lot: 100,
                imf: fraction(0.02, 0.000_06),
                mmf: fraction(0.0135, 0.000_036),
            },
            MarketRisk {
                mark: 5_000,
                notional_per_tick_lot: 100,
                imf: fraction(0.03, 0.000_08),
                mmf: fraction(0.02, 0.000_05),
            },
        ],
    };
    let mut rng = SplitMix64::new(42);
    let mut holdings = Vec::with_capacity(accounts * 4);
    let (mut net_qty, mut net_cost, mut open_bids, mut open_asks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut max_leverage = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        for asset in &params.assets {
            let atoms = (around(&mut rng, 5_000.0) * USDC as f64 / asset.price as f64 * asset.unit as f64) as i64;
            holdings.push(if rng.below(100) < 15 { -(atoms / 4) } else { atoms });
        }
        for market in &params.markets {
            let lot_usd = (market.mark * market.notional_per_tick_lot) as f64 / USDC as f64;
            let size = (around(&mut rng, 3_000.0) / lot_usd) as i64 + 1;
            let quantity = if rng.below(2) == 0 { -size } else { size };
            let entry = market.mark as f64 * (0.95 + 0.1 * (rng.below(1000) as f64 / 1000.0));
            net_qty.push(quantity);
            net_cost.push((quantity as f64 * entry * market.notional_per_tick_lot as f64) as i64);
            let with_orders = rng.below(2) == 0;
            let order = |rng: &mut SplitMix64| {
                if with_orders {
                    size * i64::try_from(rng.below(100)).unwrap() / 100
                } else {
                    0
                }
            };
            open_bids.push(order(&mut rng));
            open_asks.push(order(&mut rng));
        }
        max_leverage.push(1 + u32::try_from(rng.below(50)).unwrap());
    }
    let columns = Columns {
        holdings: &holdings,
        borrowed: &[],
        net_qty: &net_qty,
        net_cost: &net_cost,
        open_bids: &open_bids,
        open_asks: &open_asks,
        max_leverage: &max_leverage,
    };
    let threads = option("--threads");
    let mut result = ScanResult::default();
    result.resize(accounts);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        match threads {
            Some(threads) => risk::scan_into_threads(&params, &columns, result.output(), threads),
            None => risk::scan_into(&params, &columns, result.output()),
        }
        .expect("valid state");
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let liquidatable = result.liquidatable.iter().filter(|&&flag| flag).count();
    let checksum =
        result.net_equity.iter().zip(&result.initial_margin).fold(0i64, |sum, (a, b)| sum.wrapping_add(a ^ b));
    println!(
        "median {:.1} ms/scan, {:.2} ns/position; {liquidatable} liquidatable; checksum {checksum}",
        times[rounds / 2] * 1e3,
        times[rounds / 2] * 1e9 / (accounts * 8) as f64
    );
}
