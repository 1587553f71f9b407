//! Errors for misuse of the core. Trading outcomes (a reject by a filter, an expired remainder, a
//! self-trade) are [`crate::Event`]s with a [`crate::Reason`], never errors. An operation that
//! returns an error has changed nothing.

use crate::types::{OrderId, Price, Qty};

/// Misuse of an [`crate::OrderBook`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BookError {
    #[error("quantity must be a positive number of lots, got {0}")]
    NonPositiveQuantity(Qty),
    #[error("price must be a positive number of ticks, got {0}")]
    NonPositivePrice(Price),
    #[error("order id {0} was never issued by this book (the next id it will issue is {1})")]
    UnknownOrder(OrderId, OrderId),
    #[error("invalid order: {0}")]
    InvalidOrder(&'static str),
    #[error("invalid book parameter: {0}")]
    InvalidParameter(String),
    #[error("batch row {row}: {source}")]
    BatchRow {
        row: usize,
        #[source]
        source: Box<BookError>,
    },
}
