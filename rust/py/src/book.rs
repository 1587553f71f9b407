//! `crossbook.OrderBook`: adapters from Python calls to `crossbook_core::OrderBook`.
//!
//! Per-call methods convert arguments, call the core once and wrap the result; the bulk method
//! borrows numpy columns, releases the GIL for the whole batch and hands the event columns back as
//! numpy arrays without copying.

use crossbook_core::baseline_book::BaselineBook;
use crossbook_core::book::{
    BookParams, EventRecords, EventSink, OperationColumns, Operations, OrderStatus, PlaceOutcome, EVENT_RECORD_FIELDS,
    EVENT_RECORD_SIZE,
};
use crossbook_core::{
    Event as CoreEvent, EventKind, OrderBook as CoreBook, OrderRequest, OrderType, Reason, RestingOrder as CoreResting,
    SelfTradePrevention, Side, TimeInForce,
};
use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert;
use crate::errors::{book_error, InvalidArgumentError, InvalidOrderError, InvalidTypeError};

/// One outcome of a book operation.
#[pyclass(module = "crossbook._core", frozen, name = "Event")]
#[derive(Clone, Debug)]
pub struct PyEvent(CoreEvent);

#[pymethods]
impl PyEvent {
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.name()
    }
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        reason_name(self.0.reason)
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.name()
    }
    #[getter]
    fn order_id(&self) -> u64 {
        self.0.order_id
    }
    #[getter]
    fn owner(&self) -> u64 {
        self.0.owner
    }
    #[getter]
    fn price(&self) -> i64 {
        self.0.price
    }
    #[getter]
    fn quantity(&self) -> i64 {
        self.0.quantity
    }
    #[getter]
    fn maker_order_id(&self) -> u64 {
        self.0.maker_order_id
    }
    #[getter]
    fn maker_owner(&self) -> u64 {
        self.0.maker_owner
    }
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyEvent>().is_ok_and(|other| other.get().0 == self.0)
    }
    fn __hash__(&self) -> u64 {
        self.0.order_id ^ (self.0.maker_order_id << 20) ^ (self.0.kind as u64)
    }
    fn __repr__(&self) -> String {
        let event = &self.0;
        match event.kind {
            EventKind::Fill => format!(
                "Event(Fill, order_id={}, owner={}, side={}, price={}, quantity={}, maker_order_id={}, maker_owner={})",
                event.order_id,
                event.owner,
                event.side.name(),
                event.price,
                event.quantity,
                event.maker_order_id,
                event.maker_owner
            ),
            kind => format!(
                "Event({}, order_id={}, owner={}, side={}, price={}, quantity={}, reason={})",
                kind.name(),
                event.order_id,
                event.owner,
                event.side.name(),
                event.price,
                event.quantity,
                event.reason.name()
            ),
        }
    }
}

fn reason_name(reason: Reason) -> Option<&'static str> {
    (reason != Reason::None).then(|| reason.name())
}

/// One trade of a placed order against a resting one.
#[pyclass(module = "crossbook._core", frozen, get_all)]
#[derive(Clone, Debug)]
pub struct Fill {
    maker_order_id: u64,
    maker_owner: u64,
    price: i64,
    quantity: i64,
}

#[pymethods]
impl Fill {
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Fill>().is_ok_and(|other| {
            let other = other.get();
            (other.maker_order_id, other.maker_owner, other.price, other.quantity)
                == (self.maker_order_id, self.maker_owner, self.price, self.quantity)
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "Fill(maker_order_id={}, maker_owner={}, price={}, quantity={})",
            self.maker_order_id, self.maker_owner, self.price, self.quantity
        )
    }
}

/// The events of one place, written by the book straight into the result: inline while there are
/// at most two (an order that rests, fills at once against one order, or expires without fills), so
/// the common per-call result costs no heap allocation besides its own object; on the heap beyond.
#[derive(Debug)]
enum PlaceEvents {
    Inline(usize, [CoreEvent; 2]),
    Heap(Vec<CoreEvent>),
}

impl PlaceEvents {
    /// What fills the unused inline slots; never read (`as_slice` stops at the length).
    const UNUSED: CoreEvent = CoreEvent {
        kind: EventKind::Accepted,
        reason: Reason::None,
        side: Side::Bid,
        order_id: 0,
        owner: 0,
        price: 0,
        quantity: 0,
        maker_order_id: 0,
        maker_owner: 0,
    };

    fn new() -> PlaceEvents {
        PlaceEvents::Inline(0, [Self::UNUSED; 2])
    }

    fn as_slice(&self) -> &[CoreEvent] {
        match self {
            PlaceEvents::Inline(len, events) => &events[..*len],
            PlaceEvents::Heap(events) => events,
        }
    }
}

impl EventSink for PlaceEvents {
    #[inline]
    fn push(&mut self, event: CoreEvent) {
        match self {
            PlaceEvents::Inline(len, events) if *len < events.len() => {
                events[*len] = event;
                *len += 1;
            }
            PlaceEvents::Inline(_, events) => {
                let mut spilled = Vec::with_capacity(2 * events.len());
                spilled.extend_from_slice(events);
                spilled.push(event);
                *self = PlaceEvents::Heap(spilled);
            }
            PlaceEvents::Heap(events) => events.push(event),
        }
    }
}

/// All `cancel` needs of its one event: whether it is `Cancelled` (else the order was not live).
struct CancelSeen(bool);

impl EventSink for CancelSeen {
    #[inline]
    fn push(&mut self, event: CoreEvent) {
        self.0 = event.kind == EventKind::Cancelled;
    }
}

/// What happened to one placed order. (A freelist recycles these objects: one is made per call.)
#[pyclass(module = "crossbook._core", frozen, freelist = 64)]
#[derive(Debug)]
pub struct PlaceResult {
    outcome: PlaceOutcome,
    events: PlaceEvents,
}

#[pymethods]
impl PlaceResult {
    #[getter]
    fn order_id(&self) -> u64 {
        self.outcome.order_id
    }
    /// `New`, `PartiallyFilled`, `Filled`, `Expired` or `Rejected`.
    #[getter]
    fn status(&self) -> &'static str {
        self.outcome.status.name()
    }
    /// Why it was rejected or expired, else `None`.
    #[getter]
    fn reject_reason(&self) -> Option<&'static str> {
        reason_name(self.outcome.reason)
    }
    /// Alias of `reject_reason` that reads better for expiries.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        reason_name(self.outcome.reason)
    }
    #[getter]
    fn filled(&self) -> i64 {
        self.outcome.filled
    }
    /// Lots not filled (unspent quote for a quote-sized order), resting, expired or rejected.
    #[getter]
    fn remaining(&self) -> i64 {
        self.outcome.remaining
    }
    /// True when the remainder is resting on the book.
    #[getter]
    fn is_resting(&self) -> bool {
        matches!(self.outcome.status, OrderStatus::New | OrderStatus::PartiallyFilled)
    }
    #[getter]
    fn fills(&self) -> Vec<Fill> {
        self.events
            .as_slice()
            .iter()
            .filter(|event| event.kind == EventKind::Fill)
            .map(|event| Fill {
                maker_order_id: event.maker_order_id,
                maker_owner: event.maker_owner,
                price: event.price,
                quantity: event.quantity,
            })
            .collect()
    }
    /// Every event the place produced, in order.
    #[getter]
    fn events(&self) -> Vec<PyEvent> {
        self.events.as_slice().iter().copied().map(PyEvent).collect()
    }
    fn __repr__(&self) -> String {
        format!(
            "PlaceResult(order_id={}, status={}, filled={}, remaining={}, reason={})",
            self.outcome.order_id,
            self.outcome.status.name(),
            self.outcome.filled,
            self.outcome.remaining,
            self.outcome.reason.name()
        )
    }
}

/// A live order.
#[pyclass(module = "crossbook._core", frozen, name = "RestingOrder")]
#[derive(Debug)]
pub struct PyRestingOrder(CoreResting);

#[pymethods]
impl PyRestingOrder {
    #[getter]
    fn order_id(&self) -> u64 {
        self.0.order_id
    }
    #[getter]
    fn owner(&self) -> u64 {
        self.0.owner
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.name()
    }
    #[getter]
    fn price(&self) -> i64 {
        self.0.price
    }
    #[getter]
    fn quantity(&self) -> i64 {
        self.0.quantity
    }
    fn __repr__(&self) -> String {
        let order = &self.0;
        format!(
            "RestingOrder(order_id={}, owner={}, side={}, price={}, quantity={})",
            order.order_id,
            order.owner,
            order.side.name(),
            order.price,
            order.quantity
        )
    }
}

/// A price-time priority order book for one market, in integer ticks and lots.
#[pyclass(module = "crossbook._core", name = "OrderBook")]
#[derive(Debug)]
pub struct PyOrderBook {
    book: CoreBook,
    scratch: Vec<CoreEvent>,
}

/// The side of a place: the interned names (what `"Bid"` in Python source is) by identity, without
/// reading the string; anything else through the general conversion.
fn side_of(value: &Bound<'_, PyAny>) -> PyResult<Side> {
    let py = value.py();
    if value.is(intern!(py, "Bid")) {
        Ok(Side::Bid)
    } else if value.is(intern!(py, "Ask")) {
        Ok(Side::Ask)
    } else {
        convert::side(value)
    }
}

/// A time in force, with the same identity shortcut as [`side_of`] for the two common names.
fn time_in_force_of(value: &Bound<'_, PyAny>) -> PyResult<TimeInForce> {
    let py = value.py();
    if value.is(intern!(py, "GTC")) {
        Ok(TimeInForce::Gtc)
    } else if value.is(intern!(py, "IOC")) {
        Ok(TimeInForce::Ioc)
    } else {
        convert::time_in_force(value)
    }
}

/// A `(lower, upper)` band of int prices; `None` for no band.
fn band(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<(i64, i64)> {
    let Some(value) = value else { return Ok((1, i64::MAX)) };
    let pair =
        value.cast::<PyTuple>().ok().filter(|pair| pair.len() == 2).ok_or_else(|| {
            InvalidTypeError::new_err(format!("{name} must be a (lower, upper) tuple of ints or None"))
        })?;
    Ok((convert::integer(&pair.get_item(0)?, name)?, convert::integer(&pair.get_item(1)?, name)?))
}

/// An optional int bound: `None` means `default`.
fn bound(value: Option<&Bound<'_, PyAny>>, name: &str, default: i64) -> PyResult<i64> {
    value.map(|value| convert::integer(value, name)).transpose().map(|value| value.unwrap_or(default))
}

#[pymethods]
impl PyOrderBook {
    #[new]
    #[pyo3(signature = (*, min_quantity=None, max_quantity=None, price_band=None, impact_band=None, state=None))]
    fn new(
        min_quantity: Option<&Bound<'_, PyAny>>,
        max_quantity: Option<&Bound<'_, PyAny>>,
        price_band: Option<&Bound<'_, PyAny>>,
        impact_band: Option<&Bound<'_, PyAny>>,
        state: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let params = BookParams {
            min_quantity: min_quantity.map(|value| convert::integer(value, "min_quantity")).transpose()?.unwrap_or(1),
            max_quantity: max_quantity
                .map(|value| convert::integer(value, "max_quantity"))
                .transpose()?
                .unwrap_or(i64::MAX),
            price_band: band(price_band, "price_band")?,
            impact_band: band(impact_band, "impact_band")?,
            state: state.map(convert::book_state).transpose()?.unwrap_or_default(),
        };
        Ok(PyOrderBook { book: CoreBook::new(params).map_err(book_error)?, scratch: Vec::new() })
    }

    /// Places an order. `price=None` makes a market order; `quote_quantity` sizes a market order by
    /// quote (tick-lots) instead of `quantity`.
    #[pyo3(signature = (side, price, quantity, owner=None, order_type=None, time_in_force=None, post_only=None,
                        self_trade_prevention=None, quote_quantity=None))]
    #[allow(clippy::too_many_arguments)]
    fn place(
        &mut self,
        side: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        quantity: Option<&Bound<'_, PyAny>>,
        owner: Option<&Bound<'_, PyAny>>,
        order_type: Option<&Bound<'_, PyAny>>,
        time_in_force: Option<&Bound<'_, PyAny>>,
        post_only: Option<&Bound<'_, PyAny>>,
        self_trade_prevention: Option<&Bound<'_, PyAny>>,
        quote_quantity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PlaceResult> {
        let side = side_of(side)?;
        let owner = owner.map(|owner| convert::unsigned(owner, "owner")).transpose()?.unwrap_or(0);
        let price = price.map(|price| convert::price(price, "price")).transpose()?;
        let order_type = match (order_type.map(convert::order_type).transpose()?, price) {
            (None | Some(OrderType::Limit), Some(_)) => OrderType::Limit,
            (None | Some(OrderType::Market), None) => OrderType::Market,
            (Some(OrderType::Limit), None) => {
                return Err(InvalidOrderError::new_err("a Limit order needs a price (price=None means a market order)"))
            }
            (Some(OrderType::Market), Some(_)) => {
                return Err(InvalidOrderError::new_err("a Market order takes no price; pass price=None"))
            }
        };
        let (quantity, is_quote) = match (quantity, quote_quantity) {
            (Some(quantity), None) => (convert::quantity(quantity, "quantity")?, false),
            (None, Some(quote)) => (convert::quantity(quote, "quote_quantity")?, true),
            _ => return Err(InvalidOrderError::new_err("give exactly one of quantity and quote_quantity")),
        };
        let request = OrderRequest {
            side,
            order_type,
            price: price.unwrap_or(0),
            quantity,
            quote_quantity: is_quote,
            owner,
            time_in_force: time_in_force.map(time_in_force_of).transpose()?.unwrap_or(match order_type {
                OrderType::Limit => TimeInForce::Gtc,
                OrderType::Market => TimeInForce::Ioc,
            }),
            post_only: post_only.map(|flag| convert::flag(flag, "post_only")).transpose()?.unwrap_or(false),
            self_trade_prevention: self_trade_prevention
                .map(convert::self_trade_prevention)
                .transpose()?
                .unwrap_or(SelfTradePrevention::RejectTaker),
        };
        let mut events = PlaceEvents::new();
        let outcome = self.book.place(&request, &mut events).map_err(book_error)?;
        Ok(PlaceResult { outcome, events })
    }

    /// Cancels a live order: True if cancelled, False if it is no longer live.
    fn cancel(&mut self, order_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let order_id = convert::unsigned(order_id, "order_id")?;
        let mut cancelled = CancelSeen(false);
        self.book.cancel(order_id, &mut cancelled).map_err(book_error)?;
        Ok(cancelled.0)
    }

    /// Changes price and/or remaining quantity; returns the `Amended` or `Rejected` event.
    #[pyo3(signature = (order_id, price=None, quantity=None))]
    fn amend(
        &mut self,
        order_id: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        quantity: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyEvent> {
        let order_id = convert::unsigned(order_id, "order_id")?;
        let price = price.map(|price| convert::price(price, "price")).transpose()?;
        let quantity = quantity.map(|quantity| convert::quantity(quantity, "quantity")).transpose()?;
        self.scratch.clear();
        self.book.amend(order_id, price, quantity, &mut self.scratch).map_err(book_error)?;
        Ok(PyEvent(self.scratch[0]))
    }

    /// Cancels every live order of `owner`; returns the `Cancelled` events in id order.
    fn cancel_all(&mut self, owner: &Bound<'_, PyAny>) -> PyResult<Vec<PyEvent>> {
        let owner = convert::unsigned(owner, "owner")?;
        self.scratch.clear();
        self.book.cancel_all(owner, &mut self.scratch);
        Ok(self.scratch.iter().copied().map(PyEvent).collect())
    }

    /// (price, quantity) of the best bid, or None.
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.book.best(Side::Bid)
    }

    /// (price, quantity) of the best ask, or None.
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.book.best(Side::Ask)
    }

    /// (bids, asks): up to `levels` (price, quantity) pairs per side, best first.
    #[pyo3(signature = (levels=None))]
    fn depth(&self, levels: Option<&Bound<'_, PyAny>>) -> PyResult<(Vec<(i64, i64)>, Vec<(i64, i64)>)> {
        let levels = usize::try_from(bound(levels, "levels", 10)?)
            .map_err(|_| InvalidArgumentError::new_err("levels must be >= 0"))?;
        Ok((self.book.depth(Side::Bid, levels), self.book.depth(Side::Ask, levels)))
    }

    /// The live order with this id, or None.
    fn order(&self, order_id: &Bound<'_, PyAny>) -> PyResult<Option<PyRestingOrder>> {
        Ok(self.book.order(convert::unsigned(order_id, "order_id")?).map(PyRestingOrder))
    }

    /// Every live order, by id.
    fn orders(&self) -> Vec<PyRestingOrder> {
        self.book.orders().into_iter().map(PyRestingOrder).collect()
    }

    /// Ids queued at one price, first in line first.
    fn queue(&self, side: &Bound<'_, PyAny>, price: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
        Ok(self.book.queue(convert::side(side)?, convert::price(price, "price")?))
    }

    /// The id the next place will receive.
    #[getter]
    fn next_order_id(&self) -> u64 {
        self.book.next_order_id()
    }

    #[getter]
    fn state(&self) -> &'static str {
        convert::book_state_name(self.book.params().state)
    }

    #[setter]
    fn set_state(&mut self, state: &Bound<'_, PyAny>) -> PyResult<()> {
        self.book.set_state(convert::book_state(state)?);
        Ok(())
    }

    /// Limit orders priced outside `[lower, upper]` are rejected (`None` for no bound).
    #[pyo3(signature = (lower=None, upper=None))]
    fn set_price_band(&mut self, lower: Option<&Bound<'_, PyAny>>, upper: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let (lower, upper) = (bound(lower, "lower", 1)?, bound(upper, "upper", i64::MAX)?);
        self.book.set_price_band(lower, upper).map_err(book_error)
    }

    /// Market buys trade at most at `upper`, market sells at least at `lower` (`None`: no bound).
    #[pyo3(signature = (lower=None, upper=None))]
    fn set_impact_band(&mut self, lower: Option<&Bound<'_, PyAny>>, upper: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let (lower, upper) = (bound(lower, "lower", 1)?, bound(upper, "upper", i64::MAX)?);
        self.book.set_impact_band(lower, upper).map_err(book_error)
    }

    fn __len__(&self) -> usize {
        self.book.len()
    }

    fn __repr__(&self) -> String {
        let show = |best: Option<(i64, i64)>| best.map_or_else(|| "None".to_owned(), |(p, q)| format!("{q}@{p}"));
        format!(
            "OrderBook(orders={}, best_bid={}, best_ask={}, state={})",
            self.book.len(),
            show(self.book.best(Side::Bid)),
            show(self.book.best(Side::Ask)),
            self.state()
        )
    }

    /// Runs a batch of operations given as numpy columns (see `crossbook.batch`) with the GIL
    /// released; returns every event as one numpy structured array (`crossbook.batch.EVENT_DTYPE`).
    /// A malformed row raises before anything runs.
    #[pyo3(signature = (op, side, price, quantity, owner=None, order_id=None, flags=None))]
    #[allow(clippy::too_many_arguments)]
    fn execute_batch<'py>(
        &mut self,
        py: Python<'py>,
        op: &Bound<'py, PyAny>,
        side: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        quantity: &Bound<'py, PyAny>,
        owner: Option<&Bound<'py, PyAny>>,
        order_id: Option<&Bound<'py, PyAny>>,
        flags: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let columns = BatchColumns::borrow(op, side, price, quantity, owner, order_id, flags)?;
        let operations = columns.operations()?;
        let book = &mut self.book;
        let events = py.detach(|| {
            let mut events = EventRecords::with_capacity(operations.op.len() * 2);
            book.apply_batch(&operations, &mut events).map(|()| events)
        });
        let words = PyArray1::from_vec(py, events.map_err(book_error)?.into_words());
        words.call_method1("view", (event_dtype(py)?,))
    }
}

/// The order-book benchmark's yardstick (`crossbook_core::baseline_book`): a minimal
/// array-of-levels book. Rows are loaded (checked and copied) first and run later with the GIL
/// released, so a timed `run()` measures the book and nothing else.
#[pyclass(module = "crossbook._core", name = "BaselineBook")]
#[derive(Debug)]
pub struct PyBaselineBook {
    book: BaselineBook,
    loaded: OperationColumns,
}

#[pymethods]
impl PyBaselineBook {
    #[new]
    fn new(lowest: &Bound<'_, PyAny>, highest: &Bound<'_, PyAny>) -> PyResult<Self> {
        let (lowest, highest) = (convert::price(lowest, "lowest")?, convert::price(highest, "highest")?);
        let book = BaselineBook::new(lowest, highest).map_err(book_error)?;
        Ok(PyBaselineBook { book, loaded: OperationColumns::default() })
    }

    /// Checks and keeps rows for the next `run()`: limit places (flags 0 or `FLAG_IOC`) inside the
    /// price window and cancels of issued ids only. Raises, keeping nothing, for any other row or
    /// while rows are loaded and not yet run.
    #[pyo3(signature = (op, side, price, quantity, owner=None, order_id=None, flags=None))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        &mut self,
        op: &Bound<'_, PyAny>,
        side: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        quantity: &Bound<'_, PyAny>,
        owner: Option<&Bound<'_, PyAny>>,
        order_id: Option<&Bound<'_, PyAny>>,
        flags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !self.loaded.is_empty() {
            return Err(InvalidOrderError::new_err("rows are loaded already: run() them before loading more"));
        }
        let columns = BatchColumns::borrow(op, side, price, quantity, owner, order_id, flags)?;
        let operations = columns.operations()?;
        self.book.check(&operations).map_err(book_error)?;
        self.loaded.extend_from(&operations);
        Ok(())
    }

    /// Runs the loaded rows with the GIL released; returns the number of fills.
    fn run(&mut self, py: Python<'_>) -> u64 {
        let rows = std::mem::take(&mut self.loaded);
        let book = &mut self.book;
        py.detach(|| book.run(&rows.as_operations()))
    }

    /// Every live order, by id.
    fn orders(&self) -> Vec<PyRestingOrder> {
        self.book.orders().into_iter().map(PyRestingOrder).collect()
    }
}

/// The seven columns of a batch, borrowed from numpy (zeros for the optional ones left out).
struct BatchColumns<'py> {
    op: Column<'py, u8>,
    side: Column<'py, u8>,
    price: Column<'py, i64>,
    quantity: Column<'py, i64>,
    owner: Column<'py, u64>,
    order_id: Column<'py, u64>,
    flags: Column<'py, u16>,
}

impl<'py> BatchColumns<'py> {
    #[allow(clippy::too_many_arguments)]
    fn borrow(
        op: &Bound<'py, PyAny>,
        side: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        quantity: &Bound<'py, PyAny>,
        owner: Option<&Bound<'py, PyAny>>,
        order_id: Option<&Bound<'py, PyAny>>,
        flags: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Self> {
        let op = column::<u8>(op, "op", "uint8")?;
        let rows = op.len()?;
        Ok(BatchColumns {
            op,
            side: column::<u8>(side, "side", "uint8")?,
            price: column::<i64>(price, "price", "int64")?,
            quantity: column::<i64>(quantity, "quantity", "int64")?,
            owner: optional_column::<u64>(owner, "owner", "uint64", rows)?,
            order_id: optional_column::<u64>(order_id, "order_id", "uint64", rows)?,
            flags: optional_column::<u16>(flags, "flags", "uint16", rows)?,
        })
    }

    fn operations(&self) -> PyResult<Operations<'_>> {
        Ok(Operations {
            op: self.op.slice()?,
            side: self.side.slice()?,
            price: self.price.slice()?,
            quantity: self.quantity.slice()?,
            owner: self.owner.slice()?,
            order_id: self.order_id.slice()?,
            flags: self.flags.slice()?,
        })
    }
}

/// A borrowed numpy column, or zeros when the caller left it out.
pub(crate) enum Column<'py, T: numpy::Element> {
    Borrowed(&'static str, numpy::PyReadonlyArray1<'py, T>),
    Zeros(Vec<T>),
}

impl<T: numpy::Element> Column<'_, T> {
    pub(crate) fn slice(&self) -> PyResult<&[T]> {
        match self {
            Column::Borrowed(name, array) => array.as_slice().map_err(|_| {
                InvalidArgumentError::new_err(format!("column {name} must be a C-contiguous numpy array"))
            }),
            Column::Zeros(zeros) => Ok(zeros),
        }
    }

    fn len(&self) -> PyResult<usize> {
        Ok(self.slice()?.len())
    }
}

pub(crate) fn column<'py, T: numpy::Element>(
    value: &Bound<'py, PyAny>,
    name: &'static str,
    dtype: &str,
) -> PyResult<Column<'py, T>> {
    match value.cast::<PyArray1<T>>() {
        Ok(array) => Ok(Column::Borrowed(name, array.readonly())),
        Err(_) => {
            let got = value
                .cast::<numpy::PyUntypedArray>()
                .map(|array| format!("a {}-D array of {}", array.ndim(), array.dtype()))
                .unwrap_or_else(|_| value.get_type().name().map_or_else(|_| "?".to_owned(), |name| name.to_string()));
            Err(InvalidTypeError::new_err(format!("column {name} must be a 1-D numpy array of {dtype}, got {got}")))
        }
    }
}

fn optional_column<'py, T: numpy::Element + Default + Clone>(
    value: Option<&Bound<'py, PyAny>>,
    name: &'static str,
    dtype: &str,
    rows: usize,
) -> PyResult<Column<'py, T>> {
    match value {
        Some(value) => column(value, name, dtype),
        None => Ok(Column::Zeros(vec![T::default(); rows])),
    }
}

/// The numpy structured dtype of event records, built once from the core's record layout.
pub fn event_dtype(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static DTYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    DTYPE
        .get_or_try_init(py, || {
            let spec = PyDict::new(py);
            spec.set_item("names", PyList::new(py, EVENT_RECORD_FIELDS.map(|(name, _, _)| name))?)?;
            spec.set_item("formats", PyList::new(py, EVENT_RECORD_FIELDS.map(|(_, format, _)| format))?)?;
            spec.set_item("offsets", PyList::new(py, EVENT_RECORD_FIELDS.map(|(_, _, offset)| offset))?)?;
            spec.set_item("itemsize", EVENT_RECORD_SIZE)?;
            Ok::<_, PyErr>(py.import("numpy")?.call_method1("dtype", (spec,))?.unbind())
        })
        .map(|dtype| dtype.bind(py))
}

/// The standard benchmark workload as two dicts of numpy columns: (warm-up, measured).
#[pyfunction]
pub fn standard_workload(
    py: Python<'_>,
    seed: u64,
    warmup: usize,
    operations: usize,
) -> PyResult<(Bound<'_, PyDict>, Bound<'_, PyDict>)> {
    let (warm, measured) = py.detach(|| crossbook_core::workload::standard(seed, warmup, operations));
    let to_dict = |rows: crossbook_core::book::OperationColumns| -> PyResult<Bound<'_, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("op", PyArray1::from_vec(py, rows.op))?;
        dict.set_item("side", PyArray1::from_vec(py, rows.side))?;
        dict.set_item("price", PyArray1::from_vec(py, rows.price))?;
        dict.set_item("quantity", PyArray1::from_vec(py, rows.quantity))?;
        dict.set_item("owner", PyArray1::from_vec(py, rows.owner))?;
        dict.set_item("order_id", PyArray1::from_vec(py, rows.order_id))?;
        dict.set_item("flags", PyArray1::from_vec(py, rows.flags))?;
        Ok(dict)
    };
    Ok((to_dict(warm)?, to_dict(measured)?))
}

/// Names of event kinds and reasons, indexed by their codes in event columns.
pub fn code_tables(py: Python<'_>) -> PyResult<(Bound<'_, PyTuple>, Bound<'_, PyTuple>)> {
    let kinds = EventKind::ALL.map(EventKind::name);
    let reasons = Reason::ALL.map(Reason::name);
    Ok((PyTuple::new(py, kinds)?, PyTuple::new(py, reasons)?))
}
