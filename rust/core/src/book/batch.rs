//! The bulk interface: a batch of operations as columns in, every event as columns out.
//!
//! A batch is validated completely before its first operation runs, so a malformed row (unknown
//! op code or side, contradictory flags, a non-positive quantity, an id that will not have been
//! issued by the time the row runs) is an error naming the row, and the book is left untouched.
//! Trading outcomes are events, exactly as in the per-call interface, written as packed records
//! ([`EventRecords`]) whose `row` names the operation that produced each.
//!
//! Costs: validation streams once over the six columns it needs (28 bytes a row) in blocks of 16
//! rows, checked by straight-line, table-free code that the compiler vectorizes even for baseline
//! x86-64 (64-bit comparisons are written as sign-bit arithmetic, since SSE2 has no 64-bit vector
//! compare). A block of only limit places and cancels (the usual shape of order flow) has a
//! shorter loop that needs one op mask instead of four: about 24 instructions a row, and about 36
//! for mixed blocks, against about 50 for the row-by-row rule-table check this replaced. A block
//! that names an id issued inside itself, or holds a bad row, is rescanned row by row (about one
//! block in eighty on the standard workload). Execution then reads each row straight into the
//! book's checked paths (no second decode), with the cancel, rest and store paths inlined into the
//! loop; a limit order that does not cross skips the matching loop after one look at the opposite
//! best level. An event is one append of seven 64-bit words.
//! On the standard workload (`crossbook bench`) the whole batch path costs about 201 instructions
//! an operation before events and 234 writing them (callgrind: `benches/examples/profile_book.rs`
//! with `--count`, and with `--batch 100000`), 25 of them validation. What is left is spread thin:
//! no part of the place or cancel path is more than a few percent, and about one instruction in six
//! of the execution loop moves a value to or from the stack (everything is inlined into one loop).
//! Tried and dropped (slower or no better on this VM): loading a row's order and level a few rows
//! ahead (the loads' results are needed to retire, so they stall as the misses did), one cache line
//! per order node, a validation rule of check bits instead of flags (the compiler made the same
//! loop), validation blocks of 8, 32 or 64 rows (more per-block work, or more rescans), per-row
//! bit masks or byte-narrowed tests in validation (the compiler scalarizes them), and, in the
//! execution loop, zipped or re-sliced columns, an if-chain instead of the op-code match, tables
//! or matches for the time in force and side, and a branch-free side key (each a few instructions
//! more, as register allocation shifted). Narrower records would not pay either: a fill needs all
//! six 64-bit fields (two ids, two owners, price, quantity), and even dropping the maker's two
//! (40-byte records) saved only about 1 ns an op. Writing an event costs about 29 instructions: the
//! append itself about 17 (header, seven stores, length and capacity), the rest keeping its values
//! alive through the book's code; an append without the capacity check would need `unsafe`.

use crate::error::BookError;
use crate::types::{OrderId, OrderRequest, OrderType, OwnerId, Price, Qty, SelfTradePrevention, Side, TimeInForce};

use super::{check_amend, check_request, Event, EventKind, EventSink, OrderBook, Reason};

/// Operation codes of the `op` column.
pub mod op {
    /// Place an order: `side`, `price` (ignored for market), `quantity`, `owner`, `flags`.
    pub const PLACE: u8 = 0;
    /// Cancel `order_id`.
    pub const CANCEL: u8 = 1;
    /// Amend `order_id`: `price` 0 keeps the price, `quantity` 0 keeps the quantity.
    pub const AMEND: u8 = 2;
    /// Cancel every order of `owner`.
    pub const CANCEL_ALL: u8 = 3;
}

/// Bits of the `flags` column (places only).
pub mod flags {
    /// A market order (otherwise limit).
    pub const MARKET: u16 = 1;
    /// Time in force IOC.
    pub const IOC: u16 = 1 << 1;
    /// Time in force FOK.
    pub const FOK: u16 = 1 << 2;
    pub const POST_ONLY: u16 = 1 << 3;
    /// `quantity` is a quote amount in tick-lots (market orders).
    pub const QUOTE_QUANTITY: u16 = 1 << 4;
    /// Self-trade prevention, two bits: 0 RejectTaker, 1 RejectMaker, 2 RejectBoth, 3 Allow.
    pub const STP_SHIFT: u16 = 5;
    pub const STP_MASK: u16 = 0b11 << STP_SHIFT;
    /// Every defined bit.
    pub const ALL: u16 = MARKET | IOC | FOK | POST_ONLY | QUOTE_QUANTITY | STP_MASK;
}

/// A batch of operations, one row per index across equal-length columns.
#[derive(Clone, Copy, Debug)]
pub struct Operations<'a> {
    pub op: &'a [u8],
    pub side: &'a [u8],
    pub price: &'a [Price],
    pub quantity: &'a [Qty],
    pub owner: &'a [OwnerId],
    pub order_id: &'a [OrderId],
    pub flags: &'a [u16],
}

/// Owned columns of operations, e.g. a generated workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationColumns {
    pub op: Vec<u8>,
    pub side: Vec<u8>,
    pub price: Vec<Price>,
    pub quantity: Vec<Qty>,
    pub owner: Vec<OwnerId>,
    pub order_id: Vec<OrderId>,
    pub flags: Vec<u16>,
}

impl OperationColumns {
    #[must_use]
    pub fn len(&self) -> usize {
        self.op.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.op.is_empty()
    }

    /// Appends one row.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        op: u8,
        side: Side,
        price: Price,
        quantity: Qty,
        owner: OwnerId,
        order_id: OrderId,
        flags: u16,
    ) {
        self.push_codes(op, side as u8, price, quantity, owner, order_id, flags);
    }

    /// Appends one row with the side as its code, which need not name a side (for tests of
    /// malformed rows).
    #[allow(clippy::too_many_arguments)]
    pub fn push_codes(
        &mut self,
        op: u8,
        side: u8,
        price: Price,
        quantity: Qty,
        owner: OwnerId,
        order_id: OrderId,
        flags: u16,
    ) {
        self.op.push(op);
        self.side.push(side);
        self.price.push(price);
        self.quantity.push(quantity);
        self.owner.push(owner);
        self.order_id.push(order_id);
        self.flags.push(flags);
    }

    /// Appends every row of `ops` (columns of equal length).
    pub fn extend_from(&mut self, ops: &Operations<'_>) {
        self.op.extend_from_slice(ops.op);
        self.side.extend_from_slice(ops.side);
        self.price.extend_from_slice(ops.price);
        self.quantity.extend_from_slice(ops.quantity);
        self.owner.extend_from_slice(ops.owner);
        self.order_id.extend_from_slice(ops.order_id);
        self.flags.extend_from_slice(ops.flags);
    }

    #[must_use]
    pub fn as_operations(&self) -> Operations<'_> {
        Operations {
            op: &self.op,
            side: &self.side,
            price: &self.price,
            quantity: &self.quantity,
            owner: &self.owner,
            order_id: &self.order_id,
            flags: &self.flags,
        }
    }
}

/// The layout of one event record: (field name, numpy type string, byte offset). Little-endian,
/// [`EVENT_RECORD_SIZE`] bytes per record; `row` is the operation's index in its batch.
pub const EVENT_RECORD_FIELDS: [(&str, &str, usize); 10] = [
    ("row", "<u4", 0),
    ("kind", "u1", 4),
    ("reason", "u1", 5),
    ("side", "u1", 6),
    ("order_id", "<u8", 8),
    ("owner", "<u8", 16),
    ("price", "<i8", 24),
    ("quantity", "<i8", 32),
    ("maker_order_id", "<u8", 40),
    ("maker_owner", "<u8", 48),
];

/// Bytes per event record (one byte of padding after `side`).
pub const EVENT_RECORD_SIZE: usize = 56;

/// 64-bit words per event record.
const RECORD_WORDS: usize = EVENT_RECORD_SIZE / 8;

/// Events as packed little-endian records (the bulk sink), ready to be viewed as a numpy structured
/// array with [`EVENT_RECORD_FIELDS`]. A record is seven 64-bit words (the first holds `row`,
/// `kind`, `reason` and `side`), each stored little-endian, so one event is one append of 56 bytes
/// with no byte shuffling; [`EventRecords::into_words`] hands the buffer over without a copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventRecords {
    records: Vec<[u64; RECORD_WORDS]>,
    current_row: u32,
}

impl EventRecords {
    #[must_use]
    pub fn with_capacity(events: usize) -> Self {
        EventRecords { records: Vec::with_capacity(events), current_row: 0 }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets every record, keeping the buffer.
    pub fn clear(&mut self) {
        self.records.clear();
    }

    /// The packed records as bytes (a copy; [`EventRecords::into_words`] moves them).
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.records.into_iter().flatten().flat_map(u64::to_ne_bytes).collect()
    }

    /// The packed records as 64-bit words holding little-endian bytes (seven per
    /// record): the same memory as [`EventRecords::into_bytes`], without a copy.
    #[must_use]
    pub fn into_words(self) -> Vec<u64> {
        self.records.into_flattened()
    }

    /// Decodes record `index` (for tests and Rust consumers; Python views the bytes directly).
    #[must_use]
    pub fn get(&self, index: usize) -> Option<(u32, Event)> {
        let record = self.records.get(index)?.map(u64::from_le);
        let byte = |shift: u32| usize::from((record[0] >> shift) as u8);
        let event = Event {
            kind: EventKind::ALL[byte(32)],
            reason: Reason::ALL[byte(40)],
            side: Side::from_code((record[0] >> 48) as u8).expect("a recorded side"),
            order_id: record[1],
            owner: record[2],
            price: i64::from_ne_bytes(record[3].to_ne_bytes()),
            quantity: i64::from_ne_bytes(record[4].to_ne_bytes()),
            maker_order_id: record[5],
            maker_owner: record[6],
        };
        Some((record[0] as u32, event))
    }
}

impl EventSink for EventRecords {
    #[inline]
    fn begin_operation(&mut self, row: usize) {
        // `apply_batch` refuses batches of 2^32 rows or more, so the row fits.
        debug_assert!(u32::try_from(row).is_ok(), "row {row} of a batch of 2^32 rows or more");
        self.current_row = row as u32;
    }

    #[inline]
    fn push(&mut self, event: Event) {
        let header = u64::from(self.current_row)
            | u64::from(event.kind as u8) << 32
            | u64::from(event.reason as u8) << 40
            | u64::from(event.side as u8) << 48;
        let record = [
            header,
            event.order_id,
            event.owner,
            u64::from_ne_bytes(event.price.to_ne_bytes()),
            u64::from_ne_bytes(event.quantity.to_ne_bytes()),
            event.maker_order_id,
            event.maker_owner,
        ];
        self.records.push(record.map(u64::to_le));
    }
}

/// What is wrong with a malformed row (one [`is_malformed`] flags), other than an id not yet
/// issued: the same errors the per-call interface gives.
#[cold]
fn row_error(ops: &Operations<'_>, row: usize) -> Option<BookError> {
    let invalid = |message| Some(BookError::InvalidOrder(message));
    match ops.op[row] {
        op::PLACE => {
            let bits = ops.flags[row];
            if ops.side[row] > 1 {
                return invalid("side must be 0 (Bid) or 1 (Ask)");
            }
            if bits & !flags::ALL != 0 {
                return invalid("flags has undefined bits set");
            }
            if bits & flags::IOC != 0 && bits & flags::FOK != 0 {
                return invalid("flags sets both IOC and FOK");
            }
            check_request(&validated_place(ops, row)).err()
        }
        op::AMEND => {
            let price = (ops.price[row] != 0).then_some(ops.price[row]);
            let quantity = (ops.quantity[row] != 0).then_some(ops.quantity[row]);
            check_amend(price, quantity).err()
        }
        op::CANCEL | op::CANCEL_ALL => None,
        _ => invalid("op must be 0 (place), 1 (cancel), 2 (amend) or 3 (cancel all)"),
    }
}

/// Rows validated per block. A block is checked by straight-line code over fixed-size arrays,
/// which the compiler turns into vector instructions; only a block it cannot clear (a bad row, or
/// a cancel of an id issued inside the block) is looked at again, row by row.
const VALIDATION_BLOCK: usize = 16;

/// Whether a row is one that [`row_error`] would refuse, or whose cancel/amend names an id not
/// issued by the time it runs (`next_id`: the id the next place gets, counting this row).
/// Branch-free and table-free, so a block of rows vectorizes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn is_malformed(code: u8, side: u8, price: Price, quantity: Qty, id: OrderId, bits: u16, next_id: OrderId) -> bool {
    let place = code == op::PLACE;
    let targets_order = (code == op::CANCEL) | (code == op::AMEND);
    let amend = code == op::AMEND;
    let unknown = code > op::CANCEL_ALL;
    let market = bits & flags::MARKET != 0;
    let (ioc, fok) = (bits & flags::IOC != 0, bits & flags::FOK != 0);
    let (post_only, quote) = (bits & flags::POST_ONLY != 0, bits & flags::QUOTE_QUANTITY != 0);
    let contradictory = (ioc & fok) | (market & post_only) | (!market & quote) | (market & quote & fok);
    let bad_place = (side > 1) | (bits & !flags::ALL != 0) | contradictory | (quantity < 1) | (!market & (price < 1));
    let bad_amend = (price < 0) | (quantity < 0) | ((price | quantity) == 0);
    let not_issued = (id == 0) | (id >= next_id);
    unknown | (place & bad_place) | (targets_order & not_issued) | (amend & bad_amend)
}

/// The first malformed row among `rows`, checked one by one; `next_id` is the id the first place
/// among them gets.
fn first_malformed_in(ops: &Operations<'_>, rows: std::ops::Range<usize>, mut next_id: OrderId) -> Option<usize> {
    rows.into_iter().find(|&row| {
        let code = ops.op[row];
        next_id += u64::from(code == op::PLACE);
        let (side, price, quantity) = (ops.side[row], ops.price[row], ops.quantity[row]);
        is_malformed(code, side, price, quantity, ops.order_id[row], ops.flags[row], next_id)
    })
}

/// Whether every row of a block is well formed, judged without following the ids the block
/// issues: false if a row is malformed, or if a cancel or amend names an id issued inside the
/// block (at or after `next_id`; only a row-by-row scan can tell whether it is issued in time).
/// Comparisons of 64-bit columns are written as sign-bit arithmetic, which vectorizes on every
/// x86-64 (no 64-bit vector compare needed); each row ORs a word whose sign bit says "look again".
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block_is_clear(
    op: &[u8; VALIDATION_BLOCK],
    side: &[u8; VALIDATION_BLOCK],
    price: &[Price; VALIDATION_BLOCK],
    quantity: &[Qty; VALIDATION_BLOCK],
    order_id: &[OrderId; VALIDATION_BLOCK],
    bits: &[u16; VALIDATION_BLOCK],
    next_id: OrderId,
) -> bool {
    let mut narrow_bad = false;
    // Only limit places and cancels: the common shape of order flow, checked by a shorter loop.
    let mut limits_and_cancels = true;
    for i in 0..VALIDATION_BLOCK {
        let (code, bits) = (op[i], bits[i]);
        let market = bits & flags::MARKET != 0;
        let (ioc, fok) = (bits & flags::IOC != 0, bits & flags::FOK != 0);
        let (post_only, quote) = (bits & flags::POST_ONLY != 0, bits & flags::QUOTE_QUANTITY != 0);
        let contradictory = (ioc & fok) | (market & post_only) | (!market & quote) | (market & quote & fok);
        let bad_place = (side[i] > 1) | (bits & !flags::ALL != 0) | contradictory;
        narrow_bad |= (code > op::CANCEL_ALL) | ((code == op::PLACE) & bad_place);
        limits_and_cancels &= (code == op::CANCEL) | ((code == op::PLACE) & !market);
    }
    let first_in_block = i64::from_ne_bytes(next_id.wrapping_sub(1).to_ne_bytes());
    // Sign set iff x <= 0 (x - 1 wraps only for i64::MIN, whose own sign is set).
    let non_positive = |x: i64| x | x.wrapping_sub(1);
    // Sign set iff id - 1 >= next_id - 1 as unsigned numbers: id 0, or an id the block issues or
    // later. The borrow of a - b is the sign of (!a & b) | (!(a ^ b) & (a - b)).
    let issued_before = |order_id: OrderId| {
        let id = i64::from_ne_bytes(order_id.wrapping_sub(1).to_ne_bytes());
        (!id & first_in_block) | (!(id ^ first_in_block) & id.wrapping_sub(first_in_block))
    };
    let all_if = |condition: bool| -i64::from(condition);
    let mut wide_bad = 0i64;
    if limits_and_cancels {
        for i in 0..VALIDATION_BLOCK {
            let place = all_if(op[i] == op::PLACE);
            let bad_place = non_positive(quantity[i]) | non_positive(price[i]);
            wide_bad |= (place & bad_place) | (!place & !issued_before(order_id[i]));
        }
        return !narrow_bad & (wide_bad >= 0);
    }
    for i in 0..VALIDATION_BLOCK {
        let code = i64::from(op[i]);
        let (place, amend) = (all_if(code == 0), all_if(code == 2));
        let targets = all_if((code == 1) | (code == 2));
        let not_market = all_if(bits[i] & flags::MARKET == 0);
        let (price, quantity) = (price[i], quantity[i]);
        let both = price | quantity;
        let bad_place = non_positive(quantity) | (non_positive(price) & not_market);
        let bad_amend = price | quantity | (!both & both.wrapping_sub(1));
        wide_bad |= (place & bad_place) | (amend & bad_amend) | (targets & !issued_before(order_id[i]));
    }
    !narrow_bad & (wide_bad >= 0)
}

/// The first malformed row, given the id the batch's first place will get. A few vector
/// instructions per row, so validating costs little next to running the batch. Kept out of line so
/// that every caller of [`OrderBook::apply_batch`] gets the same code around the execution loop.
#[inline(never)]
fn first_malformed_row(ops: &Operations<'_>, first_id: OrderId) -> Option<usize> {
    fn blocks<T>(column: &[T]) -> std::slice::ChunksExact<'_, T> {
        column.chunks_exact(VALIDATION_BLOCK)
    }
    fn block<T>(chunk: &[T]) -> &[T; VALIDATION_BLOCK] {
        chunk.try_into().expect("chunks_exact yields whole blocks")
    }
    let mut next_id = first_id;
    let columns = blocks(ops.op)
        .zip(blocks(ops.side))
        .zip(blocks(ops.price))
        .zip(blocks(ops.quantity))
        .zip(blocks(ops.order_id))
        .zip(blocks(ops.flags));
    for (index, (((((op, side), price), quantity), order_id), bits)) in columns.enumerate() {
        let op = block(op);
        let clear =
            block_is_clear(op, block(side), block(price), block(quantity), block(order_id), block(bits), next_id);
        if !clear {
            let start = index * VALIDATION_BLOCK;
            if let Some(row) = first_malformed_in(ops, start..start + VALIDATION_BLOCK, next_id) {
                return Some(row);
            }
        }
        next_id += op.iter().map(|&code| u64::from(code == op::PLACE)).sum::<u64>();
    }
    let tail = ops.op.len() - ops.op.len() % VALIDATION_BLOCK;
    first_malformed_in(ops, tail..ops.op.len(), next_id)
}

/// The request of a place row, read without checks: [`is_malformed`] made them (or, for a
/// malformed row, [`row_error`] makes them after the side and flags).
#[inline(always)]
fn validated_place(ops: &Operations<'_>, row: usize) -> OrderRequest {
    // Indexed by the IOC and FOK bits; both set is refused by validation.
    const TIME_IN_FORCE: [TimeInForce; 4] = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok, TimeInForce::Fok];
    const SIDES: [Side; 2] = [Side::Bid, Side::Ask];
    const _: () = assert!(flags::IOC == 1 << 1 && flags::FOK == 1 << 2);
    let bits = ops.flags[row];
    let market = bits & flags::MARKET != 0;
    OrderRequest {
        side: SIDES[usize::from(ops.side[row] & 1)],
        order_type: if market { OrderType::Market } else { OrderType::Limit },
        price: if market { 0 } else { ops.price[row] },
        quantity: ops.quantity[row],
        quote_quantity: bits & flags::QUOTE_QUANTITY != 0,
        owner: ops.owner[row],
        time_in_force: TIME_IN_FORCE[usize::from((bits >> 1) & 0b11)],
        post_only: bits & flags::POST_ONLY != 0,
        self_trade_prevention: match (bits & flags::STP_MASK) >> flags::STP_SHIFT {
            0 => SelfTradePrevention::RejectTaker,
            1 => SelfTradePrevention::RejectMaker,
            2 => SelfTradePrevention::RejectBoth,
            _ => SelfTradePrevention::Allow,
        },
    }
}

impl OrderBook {
    /// Runs a batch of operations, writing every event to `sink`.
    ///
    /// # Errors
    /// [`BookError::BatchRow`] for the first malformed row, or [`BookError::InvalidParameter`] for
    /// columns of unequal length; in both cases nothing has run.
    // Out of line, so every caller (the Python binding, the Rust benchmark) runs the same code.
    #[inline(never)]
    pub fn apply_batch<S: EventSink>(&mut self, ops: &Operations<'_>, sink: &mut S) -> Result<(), BookError> {
        let rows = ops.op.len();
        let lengths =
            [ops.side.len(), ops.price.len(), ops.quantity.len(), ops.owner.len(), ops.order_id.len(), ops.flags.len()];
        if lengths.iter().any(|&length| length != rows) {
            return Err(BookError::InvalidParameter(format!(
                "batch columns differ in length: op has {rows} rows, others {lengths:?}"
            )));
        }
        if u32::try_from(rows).is_err() {
            return Err(BookError::InvalidParameter(format!("a batch holds fewer than 2^32 rows, got {rows}")));
        }
        if let Some(row) = first_malformed_row(ops, self.next_order_id()) {
            let mut next_id = self.next_order_id();
            for earlier in 0..row {
                next_id += u64::from(ops.op[earlier] == op::PLACE);
            }
            let source = row_error(ops, row).unwrap_or(BookError::UnknownOrder(ops.order_id[row], next_id));
            return Err(BookError::BatchRow { row, source: Box::new(source) });
        }
        for row in 0..rows {
            sink.begin_operation(row);
            match ops.op[row] {
                op::PLACE => {
                    self.place_checked(&validated_place(ops, row), sink);
                }
                op::CANCEL => self.cancel_issued(ops.order_id[row], sink),
                op::AMEND => {
                    let price = (ops.price[row] != 0).then_some(ops.price[row]);
                    let quantity = (ops.quantity[row] != 0).then_some(ops.quantity[row]);
                    self.amend(ops.order_id[row], price, quantity, sink).expect("validated above");
                }
                _ => {
                    self.cancel_all(ops.owner[row], sink);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The malformed rows by the per-call rules, one row at a time: [`row_error`] for the row's own
    /// fields, and for a cancel or amend an id issued before it runs.
    fn first_malformed_by_the_rules(ops: &Operations<'_>, first_id: OrderId) -> Option<usize> {
        let mut next_id = first_id;
        (0..ops.op.len()).find(|&row| {
            let code = ops.op[row];
            next_id += u64::from(code == op::PLACE);
            let id = ops.order_id[row];
            let targets_order = code == op::CANCEL || code == op::AMEND;
            row_error(ops, row).is_some() || (targets_order && (id == 0 || id >= next_id))
        })
    }

    /// Mostly valid values, now and then one that is wrong for some op.
    fn mostly<T: std::fmt::Debug + Clone + 'static>(
        good: impl Strategy<Value = T> + 'static,
        bad: impl Strategy<Value = T> + 'static,
    ) -> impl Strategy<Value = T> {
        prop_oneof![200 => good.boxed(), 1 => bad.boxed()]
    }

    fn rows() -> impl Strategy<Value = (OrderId, OperationColumns)> {
        let row = (
            mostly(prop_oneof![Just(op::PLACE), Just(op::CANCEL), Just(op::AMEND), Just(op::CANCEL_ALL)], 4u8..),
            mostly(0u8..2, 2u8..),
            mostly(1i64..200, prop_oneof![Just(i64::MIN), Just(-1i64), Just(0i64), Just(i64::MAX)]),
            mostly(1i64..20, prop_oneof![Just(i64::MIN), Just(-1i64), Just(0i64), Just(i64::MAX)]),
            mostly(1u64..100, prop_oneof![Just(0u64), 100u64..400, Just(u64::MAX), Just(1u64 << 63)]),
            mostly(
                prop_oneof![Just(0u16), Just(flags::IOC), Just(flags::MARKET), Just(flags::POST_ONLY | 3 << 5)],
                any::<u16>(),
            ),
        );
        // Half the batches are limit places and cancels only (bad values aside), the shape
        // validation has a shorter loop for.
        (100u64..250, any::<bool>(), proptest::collection::vec(row, 0..200)).prop_map(
            |(first_id, limits_and_cancels, rows)| {
                let mut columns = OperationColumns::default();
                for (code, side, price, quantity, order_id, bits) in rows {
                    let (code, bits) = match (code, bits) {
                        (op::AMEND | op::CANCEL_ALL, _) if limits_and_cancels => (op::CANCEL, bits),
                        (_, flags::MARKET) if limits_and_cancels => (code, 0),
                        _ => (code, bits),
                    };
                    columns.push_codes(code, side, price, quantity, 1, order_id, bits);
                }
                (first_id, columns)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Block-wise validation finds the same first malformed row as checking every row by the
        /// per-call rules, whether it lies in a block or in the tail, early or late.
        #[test]
        fn validation_finds_the_first_malformed_row_by_the_rules((first_id, columns) in rows()) {
            let ops = columns.as_operations();
            let found = first_malformed_row(&ops, first_id);
            prop_assert_eq!(found, first_malformed_by_the_rules(&ops, first_id));
        }
    }
}
