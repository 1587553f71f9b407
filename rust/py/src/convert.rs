//! Argument conversion: Python values to core types, with errors that name the argument.
//!
//! Integers must be `int` (not `bool`, not `float`: a float price is ambiguous about ticks).
//! Names accept the string enums of `crossbook.enums` or their plain strings.

use crossbook_core::{BookState, OrderType, SelfTradePrevention, Side, TimeInForce};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

use crate::errors::{InvalidArgumentError, InvalidPriceError, InvalidQuantityError, InvalidTypeError};

/// An `int` argument as `i64`.
#[inline]
pub fn integer(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    bounded_integer(value, name, InvalidArgumentError::new_err)
}

/// A price in ticks: out of range is an `InvalidPriceError`.
#[inline]
pub fn price(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    bounded_integer(value, name, InvalidPriceError::new_err)
}

/// A quantity in lots (or a quote amount): out of range is an `InvalidQuantityError`.
#[inline]
pub fn quantity(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    bounded_integer(value, name, InvalidQuantityError::new_err)
}

/// The usual case, an exact `int` that fits, inlined into the callers; everything else (a subclass,
/// an overflow, a wrong type) goes through [`checked_integer`].
#[inline]
fn bounded_integer(value: &Bound<'_, PyAny>, name: &str, out_of_range: fn(String) -> PyErr) -> PyResult<i64> {
    if value.is_exact_instance_of::<PyInt>() {
        if let Ok(integer) = value.extract::<i64>() {
            return Ok(integer);
        }
    }
    checked_integer(value, name, out_of_range)
}

/// Every check of an integer argument. An exact `int` comes here only when it does not fit, and
/// converting it again raises the same overflow, now named after the argument.
#[cold]
#[inline(never)]
fn checked_integer(value: &Bound<'_, PyAny>, name: &str, out_of_range: fn(String) -> PyErr) -> PyResult<i64> {
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        return value.extract::<i64>().map_err(|error| {
            if error.is_instance_of::<PyOverflowError>(value.py()) {
                out_of_range(format!("{name} {value} does not fit in a signed 64-bit integer"))
            } else {
                error
            }
        });
    }
    Err(InvalidTypeError::new_err(format!("{name} must be an int, got {}", type_name(value))))
}

/// An `int` argument as `u64` (ids and owners).
#[inline]
pub fn unsigned(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    let signed = integer(value, name)?;
    u64::try_from(signed).map_err(|_| negative(name, signed))
}

#[cold]
fn negative(name: &str, value: i64) -> PyErr {
    InvalidArgumentError::new_err(format!("{name} must be >= 0, got {value}"))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "an unknown type".to_owned(), |name| name.to_string())
}

fn name_of<'a>(value: &'a Bound<'_, PyAny>, argument: &str) -> PyResult<std::borrow::Cow<'a, str>> {
    match value.cast::<PyString>() {
        Ok(text) => text.to_cow(),
        Err(_) => Err(InvalidTypeError::new_err(format!("{argument} must be a str, got {}", type_name(value)))),
    }
}

fn unknown(argument: &str, got: &str, expected: &str) -> PyErr {
    InvalidArgumentError::new_err(format!("{argument} must be one of {expected}, got {got:?}"))
}

pub fn side(value: &Bound<'_, PyAny>) -> PyResult<Side> {
    match &*name_of(value, "side")? {
        "Bid" => Ok(Side::Bid),
        "Ask" => Ok(Side::Ask),
        other => Err(unknown("side", other, "'Bid', 'Ask'")),
    }
}

pub fn order_type(value: &Bound<'_, PyAny>) -> PyResult<OrderType> {
    match &*name_of(value, "order_type")? {
        "Limit" => Ok(OrderType::Limit),
        "Market" => Ok(OrderType::Market),
        other => Err(unknown("order_type", other, "'Limit', 'Market'")),
    }
}

pub fn time_in_force(value: &Bound<'_, PyAny>) -> PyResult<TimeInForce> {
    match &*name_of(value, "time_in_force")? {
        "GTC" => Ok(TimeInForce::Gtc),
        "IOC" => Ok(TimeInForce::Ioc),
        "FOK" => Ok(TimeInForce::Fok),
        other => Err(unknown("time_in_force", other, "'GTC', 'IOC', 'FOK'")),
    }
}

pub fn self_trade_prevention(value: &Bound<'_, PyAny>) -> PyResult<SelfTradePrevention> {
    match &*name_of(value, "self_trade_prevention")? {
        "RejectTaker" => Ok(SelfTradePrevention::RejectTaker),
        "RejectMaker" => Ok(SelfTradePrevention::RejectMaker),
        "RejectBoth" => Ok(SelfTradePrevention::RejectBoth),
        "Allow" => Ok(SelfTradePrevention::Allow),
        other => Err(unknown("self_trade_prevention", other, "'RejectTaker', 'RejectMaker', 'RejectBoth', 'Allow'")),
    }
}

pub fn book_state(value: &Bound<'_, PyAny>) -> PyResult<BookState> {
    match &*name_of(value, "state")? {
        "Open" => Ok(BookState::Open),
        "PostOnly" => Ok(BookState::PostOnly),
        "CancelOnly" => Ok(BookState::CancelOnly),
        "Closed" => Ok(BookState::Closed),
        other => Err(unknown("state", other, "'Open', 'PostOnly', 'CancelOnly', 'Closed'")),
    }
}

pub fn book_state_name(state: BookState) -> &'static str {
    match state {
        BookState::Open => "Open",
        BookState::PostOnly => "PostOnly",
        BookState::CancelOnly => "CancelOnly",
        BookState::Closed => "Closed",
    }
}

/// A bool flag (only real bools: `0`/`1` are rejected to catch swapped arguments).
pub fn flag(value: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    match value.cast::<PyBool>() {
        Ok(flag) => Ok(flag.is_true()),
        Err(_) => Err(InvalidTypeError::new_err(format!("{name} must be a bool, got {}", type_name(value)))),
    }
}
