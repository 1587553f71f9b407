//! The bulk interface: a batch of operations as columns in, every event as columns out.
//!
//! A batch is validated completely before its first operation runs, so a malformed row (unknown
//! op code or side, contradictory flags, a non-positive quantity, an id that will not have been
//! issued by the time the row runs) is an error naming the row, and the book is left untouched.
//! Trading outcomes are events, exactly as in the per-call interface, written as packed records
//! ([`EventRecords`]) whose `row` names the operation that produced each.

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

/// Events as packed little-endian records (the bulk sink): one buffer, one write per event, ready to
/// be viewed as a numpy structured array with [`EVENT_RECORD_FIELDS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventRecords {
    bytes: Vec<u8>,
    current_row: u32,
}

impl EventRecords {
    #[must_use]
    pub fn with_capacity(events: usize) -> Self {
        EventRecords { bytes: Vec::with_capacity(events * EVENT_RECORD_SIZE), current_row: 0 }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len() / EVENT_RECORD_SIZE
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Forgets every record, keeping the buffer.
    pub fn clear(&mut self) {
        self.bytes.clear();
    }

    /// The packed records.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Decodes record `index` (for tests and Rust consumers; Python views the bytes directly).
    #[must_use]
    pub fn get(&self, index: usize) -> Option<(u32, Event)> {
        let record = self.bytes.get(index * EVENT_RECORD_SIZE..(index + 1) * EVENT_RECORD_SIZE)?;
        let word = |offset: usize| -> [u8; 8] { record[offset..offset + 8].try_into().expect("8 bytes") };
        let row = u32::from_le_bytes(record[0..4].try_into().expect("4 bytes"));
        let event = Event {
            kind: EventKind::ALL[usize::from(record[4])],
            reason: Reason::ALL[usize::from(record[5])],
            side: Side::from_code(record[6]).expect("a recorded side"),
            order_id: u64::from_le_bytes(word(8)),
            owner: u64::from_le_bytes(word(16)),
            price: i64::from_le_bytes(word(24)),
            quantity: i64::from_le_bytes(word(32)),
            maker_order_id: u64::from_le_bytes(word(40)),
            maker_owner: u64::from_le_bytes(word(48)),
        };
        Some((row, event))
    }
}

impl EventSink for EventRecords {
    #[inline]
    fn begin_operation(&mut self, row: usize) {
        self.current_row = u32::try_from(row).expect("batches are validated to fewer than 2^32 rows");
    }

    #[inline]
    fn push(&mut self, event: Event) {
        let mut record = [0u8; EVENT_RECORD_SIZE];
        record[0..4].copy_from_slice(&self.current_row.to_le_bytes());
        record[4] = event.kind as u8;
        record[5] = event.reason as u8;
        record[6] = event.side as u8;
        record[8..16].copy_from_slice(&event.order_id.to_le_bytes());
        record[16..24].copy_from_slice(&event.owner.to_le_bytes());
        record[24..32].copy_from_slice(&event.price.to_le_bytes());
        record[32..40].copy_from_slice(&event.quantity.to_le_bytes());
        record[40..48].copy_from_slice(&event.maker_order_id.to_le_bytes());
        record[48..56].copy_from_slice(&event.maker_owner.to_le_bytes());
        self.bytes.extend_from_slice(&record);
    }
}

/// One decoded row.
enum Decoded {
    Place(OrderRequest),
    Cancel(OrderId),
    Amend(OrderId, Option<Price>, Option<Qty>),
    CancelAll(OwnerId),
}

fn decode(ops: &Operations<'_>, row: usize) -> Result<Decoded, BookError> {
    let invalid = |message| Err(BookError::InvalidOrder(message));
    match ops.op[row] {
        op::PLACE => {
            let Some(side) = Side::from_code(ops.side[row]) else { return invalid("side must be 0 (Bid) or 1 (Ask)") };
            let bits = ops.flags[row];
            if bits & !flags::ALL != 0 {
                return invalid("flags has undefined bits set");
            }
            let time_in_force = match (bits & flags::IOC != 0, bits & flags::FOK != 0) {
                (false, false) => TimeInForce::Gtc,
                (true, false) => TimeInForce::Ioc,
                (false, true) => TimeInForce::Fok,
                (true, true) => return invalid("flags sets both IOC and FOK"),
            };
            let self_trade_prevention = match (bits & flags::STP_MASK) >> flags::STP_SHIFT {
                0 => SelfTradePrevention::RejectTaker,
                1 => SelfTradePrevention::RejectMaker,
                2 => SelfTradePrevention::RejectBoth,
                _ => SelfTradePrevention::Allow,
            };
            let market = bits & flags::MARKET != 0;
            let request = OrderRequest {
                side,
                order_type: if market { OrderType::Market } else { OrderType::Limit },
                price: if market { 0 } else { ops.price[row] },
                quantity: ops.quantity[row],
                quote_quantity: bits & flags::QUOTE_QUANTITY != 0,
                owner: ops.owner[row],
                time_in_force,
                post_only: bits & flags::POST_ONLY != 0,
                self_trade_prevention,
            };
            check_request(&request)?;
            Ok(Decoded::Place(request))
        }
        op::CANCEL => Ok(Decoded::Cancel(ops.order_id[row])),
        op::AMEND => {
            let price = (ops.price[row] != 0).then_some(ops.price[row]);
            let quantity = (ops.quantity[row] != 0).then_some(ops.quantity[row]);
            check_amend(price, quantity)?;
            Ok(Decoded::Amend(ops.order_id[row], price, quantity))
        }
        op::CANCEL_ALL => Ok(Decoded::CancelAll(ops.owner[row])),
        _ => invalid("op must be 0 (place), 1 (cancel), 2 (amend) or 3 (cancel all)"),
    }
}

/// The first row that `decode` would refuse, or whose cancel/amend names an id not issued by the
/// time the row runs. Branch-free per row, so validating a batch costs little next to running it.
fn first_malformed_row(ops: &Operations<'_>, mut next_id: OrderId) -> Option<usize> {
    for row in 0..ops.op.len() {
        let (code, bits, price, quantity) = (ops.op[row], ops.flags[row], ops.price[row], ops.quantity[row]);
        let is_place = code == op::PLACE;
        let market = bits & flags::MARKET != 0;
        let quote = bits & flags::QUOTE_QUANTITY != 0;
        let fok = bits & flags::FOK != 0;
        let bad_place = (ops.side[row] > 1)
            | (bits & !flags::ALL != 0)
            | (bits & flags::IOC != 0 && fok)
            | (quantity <= 0)
            | (!market & (price <= 0))
            | (market & (bits & flags::POST_ONLY != 0))
            | (!market & quote)
            | (market & quote & fok);
        next_id += u64::from(is_place);
        let id = ops.order_id[row];
        let targets_order = code == op::CANCEL || code == op::AMEND;
        let bad_target = (id == 0) | (id >= next_id);
        let bad_amend = (price < 0) | (quantity < 0) | ((price == 0) & (quantity == 0));
        let bad = (code > op::CANCEL_ALL)
            | (is_place & bad_place)
            | (targets_order & bad_target)
            | ((code == op::AMEND) & bad_amend);
        if bad {
            return Some(row);
        }
    }
    None
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
            let source = match decode(ops, row) {
                Err(error) => error,
                Ok(_) => BookError::UnknownOrder(ops.order_id[row], next_id),
            };
            return Err(BookError::BatchRow { row, source: Box::new(source) });
        }
        for row in 0..rows {
            sink.begin_operation(row);
            let applied = match decode(ops, row).expect("validated above") {
                Decoded::Place(request) => self.place(&request, sink).map(drop),
                Decoded::Cancel(id) => self.cancel(id, sink),
                Decoded::Amend(id, price, quantity) => self.amend(id, price, quantity, sink),
                Decoded::CancelAll(owner) => {
                    self.cancel_all(owner, sink);
                    Ok(())
                }
            };
            applied.expect("validated above");
        }
        Ok(())
    }
}
