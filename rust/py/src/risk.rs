//! Adapters for `crossbook_core::risk`: the vectorized margin scan over numpy columns.
//!
//! `margin_scan` takes the risk parameters as 1-D arrays (one entry per asset or per perpetual
//! market, any memory layout) and the account state as C-contiguous arrays borrowed without copying:
//! `holdings` int64 of shape (accounts, assets), `net_qty`, `net_cost`, `open_bids`, `open_asks` int64
//! of shape (accounts, markets), `max_leverage` uint32 of shape (accounts,). A `haircut_base` of NaN
//! encodes the identity haircut; any other value is `inverseSqrt {base, penalty}` (base 1 with
//! penalty 0 also weighs 1 at every size). The scan runs with the GIL released.

use crossbook_core::risk::{
    self, AssetRisk, Columns, Fraction, Haircut, MarketRisk, RiskError, RiskParams, ScanOutput, ScanResult,
};
use numpy::ndarray::Dimension;
use numpy::{Element, PyArray, PyArray1, PyArrayMethods, PyReadonlyArray, PyReadwriteArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert;
use crate::errors::{InvalidArgumentError, InvalidTypeError};

/// Adds the risk functions to the extension module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(margin_scan, module)?)
}

/// Converts a risk-kernel error into its Python exception (every one is a bad value).
pub fn risk_error(error: RiskError) -> PyErr {
    InvalidArgumentError::new_err(error.to_string())
}

/// Net equity, requirements, ratios and the liquidatable mask of every account (see the module docs
/// for the encoding); returns a dict of numpy arrays, one entry per account.
#[pyfunction]
#[pyo3(signature = (
    *, asset_price, asset_unit, haircut_base, haircut_penalty, borrow_imf_base, borrow_imf_factor,
    borrow_mmf_base, borrow_mmf_factor, mark, notional_per_tick_lot, imf_base, imf_factor, mmf_base,
    mmf_factor, holdings, net_qty, net_cost, open_bids, open_asks, max_leverage, quote_unit, out=None, borrowed=None
))]
#[allow(clippy::too_many_arguments)]
fn margin_scan<'py>(
    py: Python<'py>,
    asset_price: &Bound<'py, PyAny>,
    asset_unit: &Bound<'py, PyAny>,
    haircut_base: &Bound<'py, PyAny>,
    haircut_penalty: &Bound<'py, PyAny>,
    borrow_imf_base: &Bound<'py, PyAny>,
    borrow_imf_factor: &Bound<'py, PyAny>,
    borrow_mmf_base: &Bound<'py, PyAny>,
    borrow_mmf_factor: &Bound<'py, PyAny>,
    mark: &Bound<'py, PyAny>,
    notional_per_tick_lot: &Bound<'py, PyAny>,
    imf_base: &Bound<'py, PyAny>,
    imf_factor: &Bound<'py, PyAny>,
    mmf_base: &Bound<'py, PyAny>,
    mmf_factor: &Bound<'py, PyAny>,
    holdings: &Bound<'py, PyAny>,
    net_qty: &Bound<'py, PyAny>,
    net_cost: &Bound<'py, PyAny>,
    open_bids: &Bound<'py, PyAny>,
    open_asks: &Bound<'py, PyAny>,
    max_leverage: &Bound<'py, PyAny>,
    quote_unit: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyDict>>,
    borrowed: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let price = per_item::<i64>(asset_price, "asset_price", "int64", None)?;
    let per_asset = Some(("asset", price.len()));
    let unit = per_item::<i64>(asset_unit, "asset_unit", "int64", per_asset)?;
    let haircut_base = per_item::<f64>(haircut_base, "haircut_base", "float64", per_asset)?;
    let haircut_penalty = per_item::<f64>(haircut_penalty, "haircut_penalty", "float64", per_asset)?;
    let borrow_imf = fractions(
        per_item(borrow_imf_base, "borrow_imf_base", "float64", per_asset)?,
        per_item(borrow_imf_factor, "borrow_imf_factor", "float64", per_asset)?,
    );
    let borrow_mmf = fractions(
        per_item(borrow_mmf_base, "borrow_mmf_base", "float64", per_asset)?,
        per_item(borrow_mmf_factor, "borrow_mmf_factor", "float64", per_asset)?,
    );
    let mark = per_item::<i64>(mark, "mark", "int64", None)?;
    let per_market = Some(("market", mark.len()));
    let notional_per_tick_lot = per_item::<i64>(notional_per_tick_lot, "notional_per_tick_lot", "int64", per_market)?;
    let imf = fractions(
        per_item(imf_base, "imf_base", "float64", per_market)?,
        per_item(imf_factor, "imf_factor", "float64", per_market)?,
    );
    let mmf = fractions(
        per_item(mmf_base, "mmf_base", "float64", per_market)?,
        per_item(mmf_factor, "mmf_factor", "float64", per_market)?,
    );
    let (assets, markets) = (price.len(), mark.len());
    let params = RiskParams {
        quote_unit: convert::integer(quote_unit, "quote_unit")?,
        assets: (0..assets)
            .map(|k| AssetRisk {
                price: price[k],
                unit: unit[k],
                haircut: if haircut_base[k].is_nan() {
                    Haircut::Identity
                } else {
                    Haircut::InverseSqrt { base: haircut_base[k], penalty: haircut_penalty[k] }
                },
                borrow_imf: borrow_imf[k],
                borrow_mmf: borrow_mmf[k],
            })
            .collect(),
        markets: (0..markets)
            .map(|m| MarketRisk {
                mark: mark[m],
                notional_per_tick_lot: notional_per_tick_lot[m],
                imf: imf[m],
                mmf: mmf[m],
            })
            .collect(),
    };

    let max_leverage = column::<u32, numpy::Ix1>(max_leverage, "max_leverage", "uint32")?;
    let accounts = max_leverage.len();
    let holdings = column::<i64, numpy::Ix2>(holdings, "holdings", "int64")?;
    let net_qty = column::<i64, numpy::Ix2>(net_qty, "net_qty", "int64")?;
    let net_cost = column::<i64, numpy::Ix2>(net_cost, "net_cost", "int64")?;
    let open_bids = column::<i64, numpy::Ix2>(open_bids, "open_bids", "int64")?;
    let open_asks = column::<i64, numpy::Ix2>(open_asks, "open_asks", "int64")?;
    check_shape(&holdings, "holdings", [accounts, assets], "(accounts, assets)")?;
    let borrowed = borrowed.map(|borrowed| column::<i64, numpy::Ix2>(borrowed, "borrowed", "int64")).transpose()?;
    if let Some(borrowed) = &borrowed {
        check_shape(borrowed, "borrowed", [accounts, assets], "(accounts, assets)")?;
    }
    for (array, name) in
        [(&net_qty, "net_qty"), (&net_cost, "net_cost"), (&open_bids, "open_bids"), (&open_asks, "open_asks")]
    {
        check_shape(array, name, [accounts, markets], "(accounts, markets)")?;
    }
    let columns = Columns {
        holdings: contiguous(&holdings, "holdings")?,
        borrowed: match &borrowed {
            Some(borrowed) => contiguous(borrowed, "borrowed")?,
            None => &[],
        },
        net_qty: contiguous(&net_qty, "net_qty")?,
        net_cost: contiguous(&net_cost, "net_cost")?,
        open_bids: contiguous(&open_bids, "open_bids")?,
        open_asks: contiguous(&open_asks, "open_asks")?,
        max_leverage: contiguous(&max_leverage, "max_leverage")?,
    };
    let Some(out) = out else {
        let result = py.detach(|| risk::scan(&params, &columns)).map_err(risk_error)?;
        return into_dict(py, result);
    };
    let mut net_equity = output::<i64>(out, "net_equity", "int64")?;
    let mut initial_margin = output::<i64>(out, "initial_margin", "int64")?;
    let mut maintenance_margin = output::<i64>(out, "maintenance_margin", "int64")?;
    let mut imr = output::<f64>(out, "imr", "float64")?;
    let mut mmr = output::<f64>(out, "mmr", "float64")?;
    let mut margin_fraction = output::<f64>(out, "margin_fraction", "float64")?;
    let mut liquidatable = output::<bool>(out, "liquidatable", "bool")?;
    let writable = |name: &str| InvalidArgumentError::new_err(format!("out[{name:?}] must be a C-contiguous array"));
    let output = ScanOutput {
        net_equity: net_equity.as_slice_mut().map_err(|_| writable("net_equity"))?,
        initial_margin: initial_margin.as_slice_mut().map_err(|_| writable("initial_margin"))?,
        maintenance_margin: maintenance_margin.as_slice_mut().map_err(|_| writable("maintenance_margin"))?,
        imr: imr.as_slice_mut().map_err(|_| writable("imr"))?,
        mmr: mmr.as_slice_mut().map_err(|_| writable("mmr"))?,
        margin_fraction: margin_fraction.as_slice_mut().map_err(|_| writable("margin_fraction"))?,
        liquidatable: liquidatable.as_slice_mut().map_err(|_| writable("liquidatable"))?,
    };
    py.detach(|| risk::scan_into(&params, &columns, output)).map_err(risk_error)?;
    Ok(out.clone())
}

/// A writable 1-D output column `out[name]` of exactly this dtype.
fn output<'py, T: Element>(out: &Bound<'py, PyDict>, name: &str, dtype: &str) -> PyResult<PyReadwriteArray1<'py, T>> {
    let value = out
        .get_item(name)?
        .ok_or_else(|| InvalidArgumentError::new_err(format!("out has no {name:?} column (see margin_scan_output)")))?;
    let array = value
        .cast::<PyArray1<T>>()
        .map_err(|_| InvalidTypeError::new_err(format!("out[{name:?}] must be a 1-D numpy array of {dtype}")))?;
    array.try_readwrite().map_err(|_| InvalidArgumentError::new_err(format!("out[{name:?}] is borrowed elsewhere")))
}

fn fractions(base: Vec<f64>, factor: Vec<f64>) -> Vec<Fraction> {
    base.into_iter().zip(factor).map(|(base, factor)| Fraction { base, factor }).collect()
}

/// A 1-D parameter array as a `Vec`, with `expected` = (what an entry is per, how many there are).
fn per_item<T: Element + Copy>(
    value: &Bound<'_, PyAny>,
    name: &str,
    dtype: &str,
    expected: Option<(&str, usize)>,
) -> PyResult<Vec<T>> {
    let array = column::<T, numpy::Ix1>(value, name, dtype)?;
    let values: Vec<T> = array.as_array().iter().copied().collect();
    match expected {
        Some((per, count)) if values.len() != count => Err(InvalidArgumentError::new_err(format!(
            "{name} has {} entries, expected {count} (one per {per})",
            values.len()
        ))),
        _ => Ok(values),
    }
}

/// Borrows a numpy array of exactly this dtype and dimension, or says what it got instead.
fn column<'py, T: Element, D: Dimension>(
    value: &Bound<'py, PyAny>,
    name: &str,
    dtype: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    if let Ok(array) = value.cast::<PyArray<T, D>>() {
        return array.try_readonly().map_err(|_| {
            InvalidArgumentError::new_err(format!("{name} is being written elsewhere and cannot be read"))
        });
    }
    let got = match value.cast::<numpy::PyUntypedArray>() {
        Ok(array) => format!("a {}-D array of {}", array.ndim(), array.dtype()),
        Err(_) => value.get_type().name().map_or_else(|_| "?".to_owned(), |name| name.to_string()),
    };
    let ndim = D::NDIM.unwrap_or_default();
    Err(InvalidTypeError::new_err(format!("{name} must be a {ndim}-D numpy array of {dtype}, got {got}")))
}

fn check_shape<T: Element>(
    array: &PyReadonlyArray<'_, T, numpy::Ix2>,
    name: &str,
    [rows, columns]: [usize; 2],
    meaning: &str,
) -> PyResult<()> {
    let shape = array.shape();
    if shape == [rows, columns] {
        return Ok(());
    }
    let got = shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    Err(InvalidArgumentError::new_err(format!("{name} must have shape {meaning} = ({rows}, {columns}), got ({got})")))
}

fn contiguous<'a, T: Element, D: Dimension>(array: &'a PyReadonlyArray<'_, T, D>, name: &str) -> PyResult<&'a [T]> {
    match array.as_slice() {
        Ok(slice) if array.is_c_contiguous() => Ok(slice),
        _ => Err(InvalidArgumentError::new_err(format!(
            "{name} must be a C-contiguous numpy array (use numpy.ascontiguousarray)"
        ))),
    }
}

/// A scan's columns as a dict of numpy arrays (moved, not copied).
pub fn into_dict(py: Python<'_>, result: ScanResult) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("net_equity", PyArray1::from_vec(py, result.net_equity))?;
    dict.set_item("initial_margin", PyArray1::from_vec(py, result.initial_margin))?;
    dict.set_item("maintenance_margin", PyArray1::from_vec(py, result.maintenance_margin))?;
    dict.set_item("imr", PyArray1::from_vec(py, result.imr))?;
    dict.set_item("mmr", PyArray1::from_vec(py, result.mmr))?;
    dict.set_item("margin_fraction", PyArray1::from_vec(py, result.margin_fraction))?;
    dict.set_item("liquidatable", PyArray1::from_vec(py, result.liquidatable))?;
    Ok(dict)
}
