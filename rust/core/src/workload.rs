//! The standard order-book workload that `crossbook bench` and the criterion benches run.
//!
//! Seeded and self-contained (SplitMix64), so every run and every language sees the same rows:
//! `warmup` passive limit adds, then `operations` rows of which 45% are passive limit adds within
//! 100 ticks of a slowly drifting mid, 40% cancels of live orders (chosen uniformly), and 15%
//! aggressive IOC limits up to 4 ticks through the mid. 64 owners, so self-trade prevention
//! (the default `RejectTaker`) fires too. The generator runs its rows through a book of its own to
//! know which orders are live, so the workload must run on an empty book to mean the same thing.

use crate::book::{flags, op, EventKind, OperationColumns, OrderBook};
use crate::types::{OrderId, OrderRequest, Side, TimeInForce};

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
    /// The generator's own copy of the book, to know which orders are live.
    book: OrderBook,
    /// Live order ids, and each live id's position in `live` (for O(1) removal).
    live: Vec<OrderId>,
    position: std::collections::HashMap<OrderId, usize>,
    events: Vec<crate::book::Event>,
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
        self.run(|book, events| book.place(&OrderRequest::limit(side, price, quantity, owner), events).map(drop));
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
        let request = OrderRequest::limit(side, price, quantity, owner).with_time_in_force(TimeInForce::Ioc);
        self.run(|book, events| book.place(&request, events).map(drop));
    }

    fn cancel(&mut self, rows: &mut OperationColumns) {
        let pick = usize::try_from(self.rng.below(self.live.len() as u64)).expect("index fits");
        let id = self.live[pick];
        rows.push(op::CANCEL, Side::Bid, 0, 0, 0, id, 0);
        self.run(|book, events| book.cancel(id, events));
    }

    /// Applies one operation to the generator's book and updates the live set from its events.
    fn run(
        &mut self,
        operation: impl FnOnce(&mut OrderBook, &mut Vec<crate::book::Event>) -> Result<(), crate::BookError>,
    ) {
        self.events.clear();
        operation(&mut self.book, &mut self.events).expect("generated operations are valid");
        for event in &self.events {
            let gone = match event.kind {
                EventKind::Fill => Some(event.maker_order_id).filter(|&id| self.book.order(id).is_none()),
                EventKind::Cancelled => Some(event.order_id),
                _ => None,
            };
            if let Some(id) = gone {
                let at = self.position.remove(&id).expect("a removed order was live");
                self.live.swap_remove(at);
                if let Some(&moved) = self.live.get(at) {
                    self.position.insert(moved, at);
                }
            }
        }
        if let Some(event) = self.events.first() {
            if event.kind == EventKind::Accepted && self.book.order(event.order_id).is_some() {
                self.position.insert(event.order_id, self.live.len());
                self.live.push(event.order_id);
            }
        }
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
    let mut generator = Generator {
        rng: SplitMix64::new(seed),
        mid: START_MID,
        book: OrderBook::default(),
        live: Vec::new(),
        position: std::collections::HashMap::new(),
        events: Vec::new(),
    };
    let mut warm = OperationColumns::default();
    for _ in 0..warmup {
        generator.passive_add(&mut warm);
    }
    let mut measured = OperationColumns::default();
    for _ in 0..operations {
        generator.drift();
        match generator.rng.below(100) {
            0..=44 => generator.passive_add(&mut measured),
            45..=84 if !generator.live.is_empty() => generator.cancel(&mut measured),
            45..=84 => generator.passive_add(&mut measured),
            _ => generator.aggressive_ioc(&mut measured),
        }
    }
    (warm, measured)
}
