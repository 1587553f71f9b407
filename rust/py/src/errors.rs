//! The one mapping from core errors to the Python exception tree of `crossbook.exceptions`.
//!
//! The classes are defined in Python (so they can also derive from `ValueError`, `TypeError`,
//! `LookupError`) and imported lazily on first use.

use crossbook_core::BookError;
use pyo3::PyErr;

pyo3::import_exception!(crossbook.exceptions, InvalidTypeError);
pyo3::import_exception!(crossbook.exceptions, InvalidArgumentError);
pyo3::import_exception!(crossbook.exceptions, InvalidQuantityError);
pyo3::import_exception!(crossbook.exceptions, InvalidPriceError);
pyo3::import_exception!(crossbook.exceptions, InvalidOrderError);
pyo3::import_exception!(crossbook.exceptions, InvalidParameterError);
pyo3::import_exception!(crossbook.exceptions, UnknownOrderError);
pyo3::import_exception!(crossbook.exceptions, ConfigError);
pyo3::import_exception!(crossbook.exceptions, UnknownNameError);
pyo3::import_exception!(crossbook.exceptions, UnknownAccountError);
pyo3::import_exception!(crossbook.exceptions, InvalidAmountError);
pyo3::import_exception!(crossbook.exceptions, SubaccountLimitError);
pyo3::import_exception!(crossbook.exceptions, WrongOwnerError);
pyo3::import_exception!(crossbook.exceptions, InsufficientBalanceError);
pyo3::import_exception!(crossbook.exceptions, InsufficientMarginError);
pyo3::import_exception!(crossbook.exceptions, LendingRefusedError);
pyo3::import_exception!(crossbook.exceptions, JournalCorruptError);
pyo3::import_exception!(crossbook.exceptions, JournalVersionError);
pyo3::import_exception!(crossbook.exceptions, DurabilityError);

/// Converts a core error into its Python exception.
pub fn book_error(error: BookError) -> PyErr {
    let message = error.to_string();
    let innermost = match error {
        BookError::BatchRow { source, .. } => *source,
        other => other,
    };
    match innermost {
        BookError::NonPositiveQuantity(_) => InvalidQuantityError::new_err(message),
        BookError::NonPositivePrice(_) => InvalidPriceError::new_err(message),
        BookError::UnknownOrder(..) => UnknownOrderError::new_err(message),
        BookError::InvalidOrder(_) => InvalidOrderError::new_err(message),
        BookError::InvalidParameter(_) => InvalidParameterError::new_err(message),
        _ => InvalidArgumentError::new_err(message),
    }
}
