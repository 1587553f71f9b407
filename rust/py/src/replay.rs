//! `crossbook._core.Replayer`: an adapter to `crossbook_core::exchange::Replayer` — numpy columns in,
//! the batch applied to an `Engine` with the GIL released, the replayed trades out as numpy columns.

use crossbook_core::exchange::{QueueModel, ReplayColumns, ReplayError, ReplayTrades, Replayer};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::book::column;
use crate::errors::{InvalidArgumentError, UnknownNameError};
use crate::exchange::{exchange_error, PyEngine};

fn replay_error(error: ReplayError) -> PyErr {
    match error {
        ReplayError::Exchange(error) => exchange_error(error),
        other => InvalidArgumentError::new_err(other.to_string()),
    }
}

/// The replayed flow of one perpetual market (use it through `crossbook.backtest.Replay`).
#[pyclass(module = "crossbook._core", name = "Replayer")]
#[derive(Debug)]
pub struct PyReplayer {
    replayer: Replayer,
}

#[pymethods]
impl PyReplayer {
    #[new]
    fn new(engine: PyRef<'_, PyEngine>, account: u32, market: &str, queue: &str) -> PyResult<Self> {
        let index = engine
            .engine
            .market_index(market)
            .ok_or_else(|| UnknownNameError::new_err(format!("no market named {market:?}")))?;
        let queue = match queue {
            "back" => QueueModel::Back,
            "front" => QueueModel::Front,
            other => {
                return Err(InvalidArgumentError::new_err(format!("queue must be 'back' or 'front', got {other:?}")))
            }
        };
        Ok(PyReplayer { replayer: Replayer::new(&engine.engine, account, index, queue).map_err(replay_error)? })
    }

    /// Applies the rows with `time_ms <= until_ms` (a prefix) to `engine`; returns (rows applied,
    /// the trades between replayed orders as a dict of numpy columns).
    #[allow(clippy::too_many_arguments)]
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        mut engine: PyRefMut<'_, PyEngine>,
        time_ms: &Bound<'py, PyAny>,
        action: &Bound<'py, PyAny>,
        side: &Bound<'py, PyAny>,
        price: &Bound<'py, PyAny>,
        quantity: &Bound<'py, PyAny>,
        order_key: &Bound<'py, PyAny>,
        until_ms: i64,
    ) -> PyResult<(usize, Bound<'py, PyDict>)> {
        let time_ms = column::<i64>(time_ms, "time_ms", "int64")?;
        let action = column::<u8>(action, "action", "uint8")?;
        let side = column::<u8>(side, "side", "uint8")?;
        let price = column::<i64>(price, "price", "int64")?;
        let quantity = column::<i64>(quantity, "quantity", "int64")?;
        let order_key = column::<u64>(order_key, "order_key", "uint64")?;
        let columns = ReplayColumns {
            time_ms: time_ms.slice()?,
            action: action.slice()?,
            side: side.slice()?,
            price: price.slice()?,
            quantity: quantity.slice()?,
            order_key: order_key.slice()?,
        };
        let replayer = &mut self.replayer;
        let engine = &mut engine.engine;
        let (rows, trades) = py
            .detach(|| {
                let mut trades = ReplayTrades::default();
                engine.replay(replayer, &columns, until_ms, &mut trades).map(|rows| (rows, trades))
            })
            .map_err(replay_error)?;
        let out = PyDict::new(py);
        out.set_item("time_ms", PyArray1::from_vec(py, trades.time_ms))?;
        out.set_item("price", PyArray1::from_vec(py, trades.price))?;
        out.set_item("quantity", PyArray1::from_vec(py, trades.quantity))?;
        out.set_item("aggressor", PyArray1::from_vec(py, trades.aggressor))?;
        Ok((rows, out))
    }

    /// Rows applied so far.
    #[getter]
    fn applied(&self) -> u64 {
        self.replayer.applied()
    }

    /// Rows that could not apply (unknown keys, prices outside the band, trades with nothing to take).
    #[getter]
    fn skipped(&self) -> u64 {
        self.replayer.skipped()
    }

    /// The replay account's subaccount id.
    #[getter]
    fn account(&self) -> u32 {
        self.replayer.account()
    }
}
