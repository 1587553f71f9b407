//! Adapters for `crossbook_core::risk`. (Being written.)

use pyo3::prelude::*;

/// Adds the risk functions to the extension module.
pub fn register(_module: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
