//! The standard order-book workload that `crossbook bench` and the criterion benches run.
//!
//! Seeded and self-contained (SplitMix64), so every run and every language sees the same rows:
//! `warmup` passive limit adds, then `operations` rows of which 45% are passive limit adds within
//! 100 ticks of a slowly drifting mid, 40% cancels of orders the generator placed and has not
//! cancelled (some will have been filled, which the book reports as `OrderNotLive`), and 15%
//! aggressive IOC limits up to 4 ticks through the mid. 64 owners, so self-trade prevention
//! (the default `RejectTaker`) fires too. Ids are predicted from the book's dense id scheme, so the
//! workload must run on an empty book.

use crate::book::{flags, op, OperationColumns};
use crate::types::{OrderId, Side};

/// SplitMix64: tiny, fast and good enough to shape a benchmark.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0; the modulo bias is irrelevant for workloads).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    fn side(&mut self) -> Side {
        if self.next_u64() & 1 == 0 {
            Side::Bid
        } else {
            Side::Ask
        }
    }
}

/// Starting mid price of the workload, in ticks.
pub const START_MID: i64 = 100_000;

struct Generator {
    rng: SplitMix64,
    mid: i64,
    next_id: OrderId,
    placed: Vec<OrderId>,
}

impl Generator {
    fn small(&mut self, bound: u64) -> i64 {
        i64::try_from(self.rng.below(bound)).expect("small bound")
    }

    fn passive_add(&mut self, rows: &mut OperationColumns) {
        let side = self.rng.side();
        let offset = 1 + self.small(100);
        let price = match side {
            Side::Bid => self.mid - offset,
            Side::Ask => self.mid + offset,
        };
        let quantity = 1 + self.small(10);
        let owner = 1 + self.rng.below(64);
        rows.push(op::PLACE, side, price, quantity, owner, 0, 0);
        self.placed.push(self.next_id);
        self.next_id += 1;
    }

    fn aggressive_ioc(&mut self, rows: &mut OperationColumns) {
        let side = self.rng.side();
        let through = self.small(5);
        let price = match side {
            Side::Bid => self.mid + through,
            Side::Ask => self.mid - through,
        };
        let quantity = 1 + self.small(20);
        let owner = 1 + self.rng.below(64);
        rows.push(op::PLACE, side, price, quantity, owner, 0, flags::IOC);
        self.next_id += 1;
    }

    fn cancel(&mut self, rows: &mut OperationColumns) {
        let pick = usize::try_from(self.rng.below(self.placed.len() as u64)).expect("index fits");
        let id = self.placed.swap_remove(pick);
        rows.push(op::CANCEL, Side::Bid, 0, 0, 0, id, 0);
    }

    fn drift(&mut self) {
        match self.rng.below(32) {
            0 => self.mid += 1,
            1 => self.mid -= 1,
            _ => {}
        }
    }
}

/// The standard workload: (warm-up rows, measured rows).
#[must_use]
pub fn standard(seed: u64, warmup: usize, operations: usize) -> (OperationColumns, OperationColumns) {
    let mut generator = Generator { rng: SplitMix64::new(seed), mid: START_MID, next_id: 1, placed: Vec::new() };
    let mut warm = OperationColumns::default();
    for _ in 0..warmup {
        generator.passive_add(&mut warm);
    }
    let mut measured = OperationColumns::default();
    for _ in 0..operations {
        generator.drift();
        match generator.rng.below(100) {
            0..=44 => generator.passive_add(&mut measured),
            45..=84 if !generator.placed.is_empty() => generator.cancel(&mut measured),
            45..=84 => generator.passive_add(&mut measured),
            _ => generator.aggressive_ioc(&mut measured),
        }
    }
    (warm, measured)
}
