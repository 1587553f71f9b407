//! The bulk interface: a batch of operations as columns in, every event as columns out.
//!
//! A batch is validated completely before its first operation runs, so a malformed row (unknown
//! op code or side, contradictory flags, a non-positive quantity, an id that will not have been
//! issued by the time the row runs) is an error naming the row, and the book is left untouched.
//! Trading outcomes are events, exactly as in the per-call interface; `row` on each event names the
//! operation that produced it.

use crate::error::BookError;
use crate::types::{OrderId, OrderRequest, OrderType, OwnerId, Price, Qty, SelfTradePrevention, Side, TimeInForce};

use super::{check_amend, check_request, Event, EventSink, OrderBook};

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

/// Events as columns (the bulk sink); `row` is the operation's index in its batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventColumns {
    pub row: Vec<u32>,
    pub kind: Vec<u8>,
    pub reason: Vec<u8>,
    pub side: Vec<u8>,
    pub order_id: Vec<OrderId>,
    pub owner: Vec<OwnerId>,
    pub price: Vec<Price>,
    pub quantity: Vec<Qty>,
    pub maker_order_id: Vec<OrderId>,
    pub maker_owner: Vec<OwnerId>,
    current_row: u32,
}

impl EventColumns {
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        EventColumns {
            row: Vec::with_capacity(capacity),
            kind: Vec::with_capacity(capacity),
            reason: Vec::with_capacity(capacity),
            side: Vec::with_capacity(capacity),
            order_id: Vec::with_capacity(capacity),
            owner: Vec::with_capacity(capacity),
            price: Vec::with_capacity(capacity),
            quantity: Vec::with_capacity(capacity),
            maker_order_id: Vec::with_capacity(capacity),
            maker_owner: Vec::with_capacity(capacity),
            current_row: 0,
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.kind.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kind.is_empty()
    }
}

impl EventSink for EventColumns {
    #[inline]
    fn begin_operation(&mut self, row: usize) {
        self.current_row = u32::try_from(row).expect("batches are validated to fewer than 2^32 rows");
    }

    #[inline]
    fn push(&mut self, event: Event) {
        self.row.push(self.current_row);
        self.kind.push(event.kind as u8);
        self.reason.push(event.reason as u8);
        self.side.push(event.side as u8);
        self.order_id.push(event.order_id);
        self.owner.push(event.owner);
        self.price.push(event.price);
        self.quantity.push(event.quantity);
        self.maker_order_id.push(event.maker_order_id);
        self.maker_owner.push(event.maker_owner);
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
        let mut next_id = self.next_order_id();
        for row in 0..rows {
            let row_error = |source| BookError::BatchRow { row, source: Box::new(source) };
            match decode(ops, row).map_err(row_error)? {
                Decoded::Place(_) => next_id += 1,
                Decoded::Cancel(id) | Decoded::Amend(id, _, _) if id == 0 || id >= next_id => {
                    return Err(row_error(BookError::UnknownOrder(id, next_id - 1)));
                }
                _ => {}
            }
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
