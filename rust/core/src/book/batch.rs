//! The bulk interface: a batch of operations as columns in, every event as columns out.
//!
//! A batch is validated completely before its first operation runs, so a malformed row (unknown
//! op code or side, contradictory flags, a non-positive quantity, an id that will not have been
//! issued by the time the row runs) is an error naming the row, and the book is left untouched.
//! Trading outcomes are events, exactly as in the per-call interface, written as packed records
//! ([`EventRecords`]) whose `row` names the operation that produced each.
//!
//! Costs: validation streams once over the six columns it needs (28 bytes a row) in blocks of 256
//! rows, each row a table load and a dozen branch-free comparisons (about 50 instructions); a
//! block with a bad row is rescanned row by row to name it. Execution then reads each row straight
//! into the book's checked paths (no second decode), with the cancel, rest and store paths inlined
//! into the loop. An event is one append of seven 64-bit words.
//! On the standard workload (`crossbook bench`) the whole batch path costs about 253 instructions
//! an operation before events and 291 writing them (callgrind: `benches/examples/profile_book.rs`
//! with `--count`, and with `--batch 100000`), about 50 of them validation. What is left is spread
//! thin: no part of the place or cancel path is more than a few percent. Tried and dropped
//! (slower or no better on this VM): loading a row's order and level a few rows ahead (the loads'
//! results are needed to retire, so they stall as the misses did), one cache line per order node,
//! and a validation rule of check bits instead of flags (the compiler made the same loop). Narrower
//! records would not pay either: a fill needs all six 64-bit fields (two ids, two owners, price,
//! quantity), and even dropping the maker's two (40-byte records) saved only about 1 ns an op.

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
        self.op.push(op);
        self.side.push(side as u8);
        self.price.push(price);
        self.quantity.push(quantity);
        self.owner.push(owner);
        self.order_id.push(order_id);
        self.flags.push(flags);
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
        self.current_row = u32::try_from(row).expect("batches are validated to fewer than 2^32 rows");
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

/// Rows validated per block: a block's rows are checked without a branch each and reported by
/// one test, so validation streams through the columns; only a block with a bad row is looked at
/// again, row by row, to name it.
const VALIDATION_BLOCK: usize = 256;

/// What a row must satisfy, by its op code and defined flag bits (see [`ROW_RULES`]).
#[derive(Clone, Copy, Debug)]
struct RowRule {
    /// The op code is unknown, or the flags contradict each other for a place.
    invalid: bool,
    /// A place: the side must be 0 or 1 and no undefined flag bit may be set.
    place: bool,
    /// A cancel or amend: the target id must be issued.
    targets_order: bool,
    /// An amend: price and quantity must not both be 0 (keep both).
    amend: bool,
    /// Smallest valid quantity and price (`i64::MIN`: anything goes).
    min_quantity: Qty,
    min_price: Price,
}

/// Op codes past the last valid one share this rule row.
const UNKNOWN_OP: usize = op::CANCEL_ALL as usize + 1;

/// The rule of every (op code, defined flag bits) pair, indexed `op * 128 + bits`, so checking a row
/// is a table load and a few comparisons, the same for every op.
const ROW_RULES: [RowRule; (UNKNOWN_OP + 1) * 128] = {
    let anything = RowRule {
        invalid: false,
        place: false,
        targets_order: false,
        amend: false,
        min_quantity: i64::MIN,
        min_price: i64::MIN,
    };
    let mut rules = [anything; (UNKNOWN_OP + 1) * 128];
    let mut bits = 0;
    while bits < 128 {
        let market = bits & flags::MARKET != 0;
        let (ioc, fok) = (bits & flags::IOC != 0, bits & flags::FOK != 0);
        let (post_only, quote) = (bits & flags::POST_ONLY != 0, bits & flags::QUOTE_QUANTITY != 0);
        let contradictory = (ioc && fok) || (market && post_only) || (!market && quote) || (market && quote && fok);
        rules[op::PLACE as usize * 128 + bits as usize] = RowRule {
            invalid: contradictory,
            place: true,
            min_quantity: 1,
            min_price: if market { i64::MIN } else { 1 },
            ..anything
        };
        rules[op::CANCEL as usize * 128 + bits as usize] = RowRule { targets_order: true, ..anything };
        rules[op::AMEND as usize * 128 + bits as usize] =
            RowRule { targets_order: true, amend: true, min_quantity: 0, min_price: 0, ..anything };
        rules[UNKNOWN_OP * 128 + bits as usize] = RowRule { invalid: true, ..anything };
        bits += 1;
    }
    rules
};

/// Whether a row is one that [`row_error`] would refuse, or whose cancel/amend names an id not
/// issued by the time it runs (`next_id`: the id the next place gets, counting this row).
/// Branch-free.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn is_malformed(code: u8, side: u8, price: Price, quantity: Qty, id: OrderId, bits: u16, next_id: OrderId) -> bool {
    let rule = &ROW_RULES[usize::from(code).min(UNKNOWN_OP) * 128 + usize::from(bits & flags::ALL)];
    rule.invalid
        | (quantity < rule.min_quantity)
        | (price < rule.min_price)
        | (rule.place & ((side > 1) | (bits & !flags::ALL != 0)))
        | (rule.targets_order & ((id == 0) | (id >= next_id)))
        | (rule.amend & ((price | quantity) == 0))
}

/// The first malformed row, given the id the batch's first place will get. About twenty
/// instructions per row, so validating costs little next to running the batch.
fn first_malformed_row(ops: &Operations<'_>, first_id: OrderId) -> Option<usize> {
    let mut next_id = first_id;
    let mut start = 0;
    while start < ops.op.len() {
        let end = (start + VALIDATION_BLOCK).min(ops.op.len());
        let block_first_id = next_id;
        let mut any_bad = false;
        let rows = ops.op[start..end]
            .iter()
            .zip(&ops.side[start..end])
            .zip(&ops.price[start..end])
            .zip(&ops.quantity[start..end])
            .zip(&ops.order_id[start..end])
            .zip(&ops.flags[start..end]);
        for (((((&code, &side), &price), &quantity), &id), &bits) in rows {
            next_id += u64::from(code == op::PLACE);
            any_bad |= is_malformed(code, side, price, quantity, id, bits, next_id);
        }
        if any_bad {
            let mut next_id = block_first_id;
            return (start..end).find(|&row| {
                let code = ops.op[row];
                next_id += u64::from(code == op::PLACE);
                let (side, price, quantity) = (ops.side[row], ops.price[row], ops.quantity[row]);
                is_malformed(code, side, price, quantity, ops.order_id[row], ops.flags[row], next_id)
            });
        }
        start = end;
    }
    None
}

/// The request of a place row, read without checks: [`is_malformed`] made them (or, for a
/// malformed row, [`row_error`] makes them after the side and flags).
#[inline(always)]
fn validated_place(ops: &Operations<'_>, row: usize) -> OrderRequest {
    const STP_MODES: [SelfTradePrevention; 4] = [
        SelfTradePrevention::RejectTaker,
        SelfTradePrevention::RejectMaker,
        SelfTradePrevention::RejectBoth,
        SelfTradePrevention::Allow,
    ];
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
        self_trade_prevention: STP_MODES[usize::from((bits & flags::STP_MASK) >> flags::STP_SHIFT)],
    }
}

impl OrderBook {
    /// Runs a batch of operations, writing every event to `sink`.
    ///
    /// # Errors
    /// [`BookError::BatchRow`] for the first malformed row, or [`BookError::InvalidParameter`] for
    /// columns of unequal length; in both cases nothing has run.
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
