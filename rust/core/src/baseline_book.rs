//! The yardstick of the order-book benchmark: a minimal array-of-levels book.
//!
//! Issue #2 sets the bulk interface's target relative to "a minimal array-of-levels Rust book" on
//! the standard workload ([`crate::workload`]). This is such a book, so `crossbook bench` measures
//! the yardstick in the same run, on the same host, instead of quoting a figure from another day:
//!
//! - one level per tick over a price window fixed when the book is made, each level a FIFO queue
//!   of order slots plus a count of its live orders; bids and asks share the array (the book is
//!   never crossed, so a level holds one side at a time);
//! - orders in a vector indexed by id, ids issued densely from 1 as [`crate::OrderBook`] does;
//! - a cancel zeroes the order's quantity and leaves its slot queued until matching reaches it
//!   (lazy deletion); a level whose live count reaches zero drops its queue;
//! - the best bid and ask are level indices, moved by a linear scan when their level empties.
//!
//! It knows what the standard workload needs and nothing else: limit orders, good till cancelled
//! or immediate or cancel, cancels by id, and self-trade prevention's default (a taker that meets
//! a resting order of its own owner expires, its earlier fills standing). So on that workload it
//! does the same trading as [`crate::OrderBook`] — the same fills, the same book — without events,
//! filters, other order types or checks: [`BaselineBook::check`] vets rows before they run, and
//! [`BaselineBook::run`] trusts them.

use crate::book::{flags, op, Operations, RestingOrder};
use crate::error::BookError;
use crate::types::{OrderId, OwnerId, Price, Qty, Side};

/// Ends a queue; marks an id whose order is gone.
const NONE: u32 = u32::MAX;

/// A resting order, linked into its level's queue.
#[derive(Clone, Copy, Debug)]
struct Node {
    quantity: Qty,
    owner: OwnerId,
    id: OrderId,
    level: u32,
    next: u32,
    prev: u32,
    side: Side,
}

#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
}

const EMPTY: Level = Level { head: NONE, tail: NONE };

/// A minimal price-time book over a fixed price window; see the module docs.
#[derive(Clone, Debug)]
pub struct BaselineBook {
    lowest: Price,
    highest: Price,
    levels: Vec<Level>,
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// The node of every id issued (id − 1), `NONE` once the order is gone.
    slots: Vec<u32>,
    /// The best level of each side, indexed by `Side as usize`.
    best: [Option<usize>; 2],
}

impl BaselineBook {
    /// An empty book whose levels cover the prices `lowest..=highest`.
    ///
    /// # Errors
    /// [`BookError::InvalidParameter`] unless `1 <= lowest <= highest` and the window spans at
    /// most 2^24 ticks.
    pub fn new(lowest: Price, highest: Price) -> Result<Self, BookError> {
        let span = highest.checked_sub(lowest).and_then(|span| usize::try_from(span).ok());
        match span {
            Some(span) if lowest >= 1 && span < 1 << 24 => Ok(BaselineBook {
                lowest,
                highest,
                levels: vec![EMPTY; span + 1],
                nodes: Vec::new(),
                free: Vec::new(),
                slots: Vec::new(),
                best: [None; 2],
            }),
            _ => Err(BookError::InvalidParameter(format!(
                "the baseline book needs 1 <= lowest <= highest within 2^24 ticks, got {lowest} and {highest}"
            ))),
        }
    }

    /// Whether [`BaselineBook::run`] can run `ops` on this book: columns of equal length holding
    /// only places of limit orders (flags 0 or IOC) on side 0 or 1, at prices in the window, of 1
    /// lot or more, and cancels of ids issued before them.
    ///
    /// # Errors
    /// [`BookError::BatchRow`] naming the first row it cannot run, or
    /// [`BookError::InvalidParameter`] for columns of unequal length or too many orders.
    pub fn check(&self, ops: &Operations<'_>) -> Result<(), BookError> {
        let rows = ops.op.len();
        let lengths =
            [ops.side.len(), ops.price.len(), ops.quantity.len(), ops.owner.len(), ops.order_id.len(), ops.flags.len()];
        if lengths.iter().any(|&length| length != rows) {
            return Err(BookError::InvalidParameter(format!(
                "batch columns differ in length: op has {rows} rows, others {lengths:?}"
            )));
        }
        let highest = self.highest;
        let mut next_id = self.slots.len() as OrderId + 1;
        for row in 0..rows {
            let problem = match ops.op[row] {
                op::PLACE => {
                    next_id += 1;
                    let price = ops.price[row];
                    if ops.side[row] > 1 {
                        Some("side must be 0 (Bid) or 1 (Ask)".to_owned())
                    } else if ops.flags[row] & !flags::IOC != 0 {
                        Some("the baseline book runs limit orders, GTC or IOC, only".to_owned())
                    } else if !(self.lowest..=highest).contains(&price) {
                        Some(format!("price {price} is outside the window {}..={highest}", self.lowest))
                    } else if ops.quantity[row] < 1 {
                        Some(format!("quantity {} is not positive", ops.quantity[row]))
                    } else {
                        None
                    }
                }
                op::CANCEL if (1..next_id).contains(&ops.order_id[row]) => None,
                op::CANCEL => Some(format!("order id {} has not been issued", ops.order_id[row])),
                code => Some(format!("the baseline book runs places and cancels only, got op {code}")),
            };
            if let Some(message) = problem {
                let source = Box::new(BookError::InvalidParameter(message));
                return Err(BookError::BatchRow { row, source });
            }
        }
        if u32::try_from(next_id).is_err() {
            return Err(BookError::InvalidParameter("the baseline book holds fewer than 2^32 orders".to_owned()));
        }
        Ok(())
    }

    /// Runs rows that passed [`BaselineBook::check`] on this book; returns the number of fills.
    ///
    /// # Panics
    /// On rows [`BaselineBook::check`] refuses.
    pub fn run(&mut self, ops: &Operations<'_>) -> u64 {
        let mut fills = 0;
        for row in 0..ops.op.len() {
            if ops.op[row] == op::PLACE {
                let side = if ops.side[row] == 0 { Side::Bid } else { Side::Ask };
                let immediate = ops.flags[row] & flags::IOC != 0;
                fills += self.place(side, ops.price[row], ops.quantity[row], ops.owner[row], immediate);
            } else {
                self.cancel(ops.order_id[row]);
            }
        }
        fills
    }

    /// Live orders, by id.
    #[must_use]
    pub fn orders(&self) -> Vec<RestingOrder> {
        let live = self.slots.iter().filter(|&&slot| slot != NONE);
        live.map(|&slot| {
            let node = &self.nodes[slot as usize];
            RestingOrder {
                order_id: node.id,
                owner: node.owner,
                side: node.side,
                price: self.lowest + Price::from(node.level),
                quantity: node.quantity,
            }
        })
        .collect()
    }

    fn place(&mut self, side: Side, price: Price, quantity: Qty, owner: OwnerId, immediate: bool) -> u64 {
        let id = self.slots.len() as OrderId + 1;
        let index = (price - self.lowest) as usize;
        let (mut remaining, mut fills) = (quantity, 0);
        let mut self_trade = false;
        let opposite = side.opposite() as usize;
        while remaining > 0 && !self_trade {
            let Some(best) = self.best[opposite] else { break };
            let crosses = match side {
                Side::Bid => best <= index,
                Side::Ask => best >= index,
            };
            if !crosses {
                break;
            }
            while remaining > 0 {
                let head = self.levels[best].head;
                if head == NONE {
                    break;
                }
                let maker = &mut self.nodes[head as usize];
                if maker.owner == owner {
                    self_trade = true;
                    break;
                }
                let traded = remaining.min(maker.quantity);
                maker.quantity -= traded;
                remaining -= traded;
                fills += 1;
                if maker.quantity == 0 {
                    self.remove(head);
                }
            }
        }
        let slot = if remaining > 0 && !immediate && !self_trade {
            self.rest(Node { quantity: remaining, owner, id, level: index as u32, next: NONE, prev: NONE, side })
        } else {
            NONE
        };
        self.slots.push(slot);
        fills
    }

    /// Stores a node at the back of its level's queue; returns its slot.
    fn rest(&mut self, node: Node) -> u32 {
        let index = node.level as usize;
        let level = &mut self.levels[index];
        let node = Node { prev: level.tail, ..node };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        if level.tail == NONE {
            level.head = slot;
        } else {
            self.nodes[level.tail as usize].next = slot;
        }
        level.tail = slot;
        let best = &mut self.best[node.side as usize];
        let better = match (node.side, *best) {
            (_, None) => true,
            (Side::Bid, Some(best)) => index > best,
            (Side::Ask, Some(best)) => index < best,
        };
        if better {
            *best = Some(index);
        }
        slot
    }

    fn cancel(&mut self, order_id: OrderId) {
        let slot = self.slots[(order_id - 1) as usize];
        if slot != NONE {
            self.remove(slot);
        }
    }

    /// Unlinks and frees a resting order, moving its side's best level on if that level empties.
    fn remove(&mut self, slot: u32) {
        let Node { id, level: index, next, prev, side, .. } = self.nodes[slot as usize];
        let level = &mut self.levels[index as usize];
        if prev == NONE {
            level.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NONE {
            level.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        self.slots[(id - 1) as usize] = NONE;
        self.free.push(slot);
        let index = index as usize;
        if level.head == NONE && self.best[side as usize] == Some(index) {
            self.best[side as usize] = next_live(&self.levels, side, index);
        }
    }
}

/// The next level worse than `from` for `side` (lower for bids, higher for asks) with orders.
fn next_live(levels: &[Level], side: Side, from: usize) -> Option<usize> {
    match side {
        Side::Bid => (0..from).rev().find(|&index| levels[index].head != NONE),
        Side::Ask => (from + 1..levels.len()).find(|&index| levels[index].head != NONE),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::book::{EventKind, EventRecords, OperationColumns};
    use crate::workload;
    use crate::OrderBook;

    /// Runs the same rows through a baseline book and an [`OrderBook`]: (fills, orders) of each.
    fn both(rows: &OperationColumns, lowest: Price, highest: Price) -> [(u64, Vec<RestingOrder>); 2] {
        let mut baseline = BaselineBook::new(lowest, highest).expect("a valid window");
        baseline.check(&rows.as_operations()).expect("rows the baseline runs");
        let fills = baseline.run(&rows.as_operations());
        let mut book = OrderBook::default();
        let mut events = EventRecords::default();
        book.apply_batch(&rows.as_operations(), &mut events).expect("valid rows");
        let book_fills = (0..events.len())
            .filter(|&index| events.get(index).is_some_and(|(_, event)| event.kind == EventKind::Fill))
            .count();
        [(fills, baseline.orders()), (book_fills as u64, book.orders())]
    }

    #[test]
    fn trades_the_standard_workload_as_the_order_book_does() {
        let (warm, measured) = workload::standard(42, 10_000, 200_000);
        let mut rows = warm;
        rows.extend_from(&measured.as_operations());
        let lowest = rows.price.iter().copied().filter(|&price| price > 0).min().expect("places");
        let highest = rows.price.iter().copied().max().expect("places");
        let [(fills, orders), (book_fills, book_orders)] = both(&rows, lowest, highest);
        assert!(fills > 10_000, "the workload trades: {fills} fills");
        assert_eq!(fills, book_fills);
        assert_eq!(orders, book_orders);
    }

    #[test]
    fn refuses_rows_it_cannot_run_and_names_them() {
        let book = BaselineBook::new(90, 110).expect("a valid window");
        let cases: [(u8, u8, Price, Qty, OrderId, u16, &str); 6] = [
            (op::PLACE, 2, 100, 1, 0, 0, "side"),
            (op::PLACE, 0, 100, 1, 0, flags::MARKET, "limit orders"),
            (op::PLACE, 0, 111, 1, 0, 0, "outside the window"),
            (op::PLACE, 1, 100, 0, 0, 0, "not positive"),
            (op::CANCEL, 0, 0, 0, 2, 0, "has not been issued"),
            (op::AMEND, 0, 100, 1, 1, 0, "places and cancels only"),
        ];
        for (code, side, price, quantity, order_id, bits, expected) in cases {
            let mut rows = OperationColumns::default();
            rows.push(op::PLACE, Side::Bid, 95, 1, 1, 0, 0);
            rows.push_codes(code, side, price, quantity, 1, order_id, bits);
            let error = book.check(&rows.as_operations()).expect_err("a row it cannot run").to_string();
            assert!(error.contains("row 1") && error.contains(expected), "{error}");
        }
        let mut short = OperationColumns::default();
        short.push(op::PLACE, Side::Bid, 95, 1, 1, 0, 0);
        short.flags.clear();
        let error = book.check(&short.as_operations()).expect_err("a missing flag").to_string();
        assert!(error.contains("differ in length"), "{error}");
        assert!(BaselineBook::new(0, 10).is_err());
        assert!(BaselineBook::new(10, 9).is_err());
        assert!(BaselineBook::new(1, 1 << 30).is_err());
    }

    fn row() -> impl Strategy<Value = (bool, bool, Price, Qty, OwnerId, bool, u64)> {
        (any::<bool>(), any::<bool>(), 95i64..106, 1i64..8, 1u64..4, any::<bool>(), any::<u64>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random limit orders (GTC and IOC, few owners, so self-trade prevention fires) and
        /// cancels of any issued id: the baseline's fills and book are the order book's.
        #[test]
        fn trades_as_the_order_book_does(steps in proptest::collection::vec(row(), 1..300)) {
            let mut rows = OperationColumns::default();
            let mut issued = 0u64;
            for (cancel, ask, price, quantity, owner, immediate, pick) in steps {
                if cancel && issued > 0 {
                    rows.push(op::CANCEL, Side::Bid, 0, 0, 0, 1 + pick % issued, 0);
                } else {
                    let side = if ask { Side::Ask } else { Side::Bid };
                    rows.push(op::PLACE, side, price, quantity, owner, 0, if immediate { flags::IOC } else { 0 });
                    issued += 1;
                }
            }
            let [baseline, book] = both(&rows, 95, 105);
            prop_assert_eq!(baseline, book);
        }
    }
}
