//! `crossbook._core`: the extension module. Adapters only — every behaviour lives in
//! `crossbook-core`; this crate converts arguments, releases the GIL for bulk work and maps errors
//! (in `errors`, one place).

mod book;
mod convert;
mod errors;
mod exchange;
mod journal;
mod replay;
mod risk;

use pyo3::prelude::*;

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<book::PyOrderBook>()?;
    module.add_class::<book::PlaceResult>()?;
    module.add_class::<book::Fill>()?;
    module.add_class::<book::PyEvent>()?;
    module.add_class::<book::PyRestingOrder>()?;
    module.add_class::<book::PyBaselineBook>()?;
    module.add_class::<exchange::PyEngine>()?;
    module.add_class::<exchange::OrderReport>()?;
    module.add_class::<exchange::OrderFill>()?;
    module.add_class::<journal::PyJournalWriter>()?;
    module.add_class::<journal::JournalRecords>()?;
    module.add_function(wrap_pyfunction!(journal::read_journal, module)?)?;
    module.add_function(wrap_pyfunction!(journal::write_snapshot, module)?)?;
    module.add_function(wrap_pyfunction!(journal::read_snapshot, module)?)?;
    module.add_class::<replay::PyReplayer>()?;
    module.add_function(wrap_pyfunction!(book::standard_workload, module)?)?;
    let (kinds, reasons) = book::code_tables(module.py())?;
    module.add("EVENT_KINDS", kinds)?;
    module.add("REASONS", reasons)?;
    module.add("EVENT_DTYPE", book::event_dtype(module.py())?)?;
    use crossbook_core::book::{flags, op};
    for (name, value) in
        [("OP_PLACE", op::PLACE), ("OP_CANCEL", op::CANCEL), ("OP_AMEND", op::AMEND), ("OP_CANCEL_ALL", op::CANCEL_ALL)]
    {
        module.add(name, value)?;
    }
    for (name, value) in [
        ("FLAG_MARKET", flags::MARKET),
        ("FLAG_IOC", flags::IOC),
        ("FLAG_FOK", flags::FOK),
        ("FLAG_POST_ONLY", flags::POST_ONLY),
        ("FLAG_QUOTE_QUANTITY", flags::QUOTE_QUANTITY),
        ("STP_SHIFT", flags::STP_SHIFT),
    ] {
        module.add(name, value)?;
    }
    risk::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
