//! `crossbook._core` journal adapters: the journal writer, the journal and snapshot readers, and
//! snapshot writing, over `crossbook_core::journal` and `Engine::snapshot`/`restore`. Policy (the
//! directory layout, recovery, when to snapshot) lives in `crossbook.journal`.
//!
//! Command arguments cross as Python values of the journal's types: None, bool, int (fitting
//! i128), str, and lists or tuples of those.

use std::path::PathBuf;

use crossbook_core::exchange::{Engine, SnapshotError};
use crossbook_core::journal::{self, Command, Fsync, JournalError, JournalWriter, Value};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};

use crate::errors::{
    DurabilityError, InvalidArgumentError, InvalidTypeError, JournalCorruptError, JournalVersionError,
};
use crate::exchange::{engine_spec, PyEngine};

/// The Python exception for a file that cannot be read, naming the file and the offset.
fn read_error(path: &std::path::Path, error: JournalError) -> PyErr {
    let path = path.display().to_string();
    match error {
        JournalError::UnknownVersion { .. } => JournalVersionError::new_err((path, 8u64, error.to_string())),
        JournalError::Corrupt { offset, .. } => JournalCorruptError::new_err((path, offset, error.to_string())),
        _ => JournalCorruptError::new_err((path, 0u64, error.to_string())),
    }
}

fn io_error(path: &std::path::Path, error: &std::io::Error) -> PyErr {
    DurabilityError::new_err(format!("{}: {error}", path.display()))
}

fn fsync_policy(mode: &str, batch: u32) -> PyResult<Fsync> {
    match mode {
        "always" => Ok(Fsync::Always),
        "batch" if batch >= 1 => Ok(Fsync::Batch(batch)),
        "batch" => Err(InvalidArgumentError::new_err(format!("fsync batch size must be at least 1, got {batch}"))),
        "never" => Ok(Fsync::Never),
        other => Err(InvalidArgumentError::new_err(format!(
            "fsync must be \"always\", \"batch\" or \"never\", got {other:?}"
        ))),
    }
}

fn to_value(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_none() {
        Ok(Value::None)
    } else if value.is_instance_of::<PyBool>() {
        Ok(Value::Bool(value.extract()?))
    } else if value.is_instance_of::<PyInt>() {
        Ok(Value::Int(value.extract()?))
    } else if value.is_instance_of::<PyString>() {
        Ok(Value::Text(value.extract()?))
    } else if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        value.try_iter()?.map(|item| to_value(&item?)).collect::<PyResult<_>>().map(Value::List)
    } else {
        Err(InvalidTypeError::new_err(format!(
            "a journaled argument must be None, bool, int, str or a list of them, got {}",
            value.get_type().name()?
        )))
    }
}

fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::None => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Int(int) => int.into_pyobject(py)?.into_any(),
        Value::Text(text) => PyString::new(py, text).into_any(),
        Value::List(items) => {
            PyList::new(py, items.iter().map(|item| to_python(py, item)).collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
    })
}

/// Appends commands to a journal file (use it through `crossbook.Exchange.open`).
#[pyclass(module = "crossbook._core", name = "JournalWriter")]
#[derive(Debug)]
pub struct PyJournalWriter {
    path: PathBuf,
    writer: Option<JournalWriter>,
}

impl PyJournalWriter {
    fn writer(&mut self) -> PyResult<&mut JournalWriter> {
        self.writer.as_mut().ok_or_else(|| DurabilityError::new_err(format!("{} is closed", self.path.display())))
    }
}

#[pymethods]
impl PyJournalWriter {
    /// Creates a new journal (the file must not exist) whose header carries `metadata`.
    #[staticmethod]
    fn create(path: PathBuf, metadata: &[u8], fsync: &str, batch: u32) -> PyResult<Self> {
        let writer = JournalWriter::create(&path, metadata, fsync_policy(fsync, batch)?)
            .map_err(|error| io_error(&path, &error))?;
        Ok(PyJournalWriter { path, writer: Some(writer) })
    }

    /// Opens an existing journal holding `records` valid records for appending, first cutting it at
    /// `truncate_at` (a torn tail) if given.
    #[staticmethod]
    #[pyo3(signature = (path, truncate_at, records, fsync, batch))]
    fn append_to(path: PathBuf, truncate_at: Option<u64>, records: u64, fsync: &str, batch: u32) -> PyResult<Self> {
        let writer = JournalWriter::append_to(&path, truncate_at, records, fsync_policy(fsync, batch)?)
            .map_err(|error| io_error(&path, &error))?;
        Ok(PyJournalWriter { path, writer: Some(writer) })
    }

    /// Appends one command and applies the fsync policy (the GIL is released while the OS
    /// writes and syncs); after an error the writer is closed.
    fn append(&mut self, py: Python<'_>, name: String, args: &Bound<'_, PyTuple>, refused: bool) -> PyResult<()> {
        let args = args.iter().map(|arg| to_value(&arg)).collect::<PyResult<Vec<_>>>()?;
        let command = Command { name, args, refused };
        let writer = self.writer()?;
        let result = py.detach(|| writer.append(&command));
        result.map_err(|error| {
            self.writer = None;
            io_error(&self.path, &error)
        })
    }

    /// Forces every record written so far to stable storage.
    fn sync(&mut self, py: Python<'_>) -> PyResult<()> {
        let writer = self.writer()?;
        let result = py.detach(|| writer.sync());
        result.map_err(|error| io_error(&self.path, &error))
    }

    /// Syncs and closes the file; later appends raise. Closing twice is harmless.
    fn close(&mut self) -> PyResult<()> {
        if let Some(mut writer) = self.writer.take() {
            writer.sync().map_err(|error| io_error(&self.path, &error))?;
        }
        Ok(())
    }

    /// Records in the file.
    #[getter]
    fn records(&self) -> u64 {
        self.writer.as_ref().map_or(0, JournalWriter::records)
    }

    #[getter]
    fn closed(&self) -> bool {
        self.writer.is_none()
    }
}

/// The records of a checked journal, decoded one at a time as `(offset, name, args, refused)`
/// tuples (so memory stays about the file's size).
#[pyclass(module = "crossbook._core", name = "JournalRecords")]
#[derive(Debug)]
pub struct JournalRecords {
    path: PathBuf,
    bytes: Vec<u8>,
    spans: Vec<journal::RecordSpan>,
    next: usize,
}

#[pymethods]
impl JournalRecords {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(span) = self.spans.get(self.next) else { return Ok(None) };
        self.next += 1;
        let offset = span.offset;
        let command = span.command(&self.bytes).map_err(|error| read_error(&self.path, error))?;
        let args: Vec<Bound<'py, PyAny>> =
            command.args.iter().map(|arg| to_python(py, arg)).collect::<PyResult<_>>()?;
        Ok(Some(PyTuple::new(
            py,
            [
                offset.into_pyobject(py)?.into_any(),
                PyString::new(py, &command.name).into_any(),
                PyTuple::new(py, args)?.into_any(),
                PyBool::new(py, command.refused).to_owned().into_any(),
            ],
        )?))
    }

    /// Records not yet iterated.
    fn __len__(&self) -> usize {
        self.spans.len() - self.next
    }

    /// Skips the next `count` records (those a snapshot already includes).
    fn skip(&mut self, count: usize) {
        self.next = self.next.saturating_add(count).min(self.spans.len());
    }
}

/// Reads and checks a whole journal: `(metadata, record count, records, torn)`, where `torn` is
/// `(offset, reason)` of a torn last record (the caller truncates there) or None.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn read_journal<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Bound<'py, PyBytes>, usize, JournalRecords, Option<(u64, &'static str)>)> {
    let bytes = std::fs::read(&path).map_err(|error| io_error(&path, &error))?;
    let index = py.detach(|| journal::index_journal(&bytes)).map_err(|error| read_error(&path, error))?;
    Ok((
        PyBytes::new(py, &index.metadata),
        index.records.len(),
        JournalRecords { path, bytes, spans: index.records, next: 0 },
        index.torn.map(|torn| (torn.offset, torn.reason)),
    ))
}

/// Writes a snapshot of `engine` (which has applied `records` journal records) to `path`
/// atomically (temporary file, fsync, rename, directory fsync); returns its size in bytes.
#[pyfunction]
pub fn write_snapshot(py: Python<'_>, engine: &PyEngine, path: PathBuf, records: u64) -> PyResult<usize> {
    let body = engine.engine.snapshot();
    let bytes = journal::encode_snapshot(records, engine.engine.state_hash(), &body);
    py.detach(|| journal::write_atomically(&path, &bytes)).map_err(|error| io_error(&path, &error))?;
    Ok(bytes.len())
}

/// Reads a snapshot file and restores its engine on `spec`: `(engine, records it includes)`. The
/// restored engine's state hash must equal the one recorded when it was taken.
#[pyfunction]
pub fn read_snapshot(spec: &Bound<'_, PyAny>, path: PathBuf) -> PyResult<(PyEngine, u64)> {
    let bytes = std::fs::read(&path).map_err(|error| io_error(&path, &error))?;
    let file = journal::decode_snapshot(&bytes).map_err(|error| read_error(&path, error))?;
    let body_offset = (bytes.len() - file.body.len() - 4) as u64;
    let engine = Engine::restore(engine_spec(spec)?, &file.body).map_err(|error| {
        let offset = match &error {
            SnapshotError::Malformed(wire) => body_offset + wire.offset as u64,
            _ => body_offset,
        };
        JournalCorruptError::new_err((path.display().to_string(), offset, error.to_string()))
    })?;
    if engine.state_hash() != file.state_hash {
        return Err(JournalCorruptError::new_err((
            path.display().to_string(),
            18u64,
            format!(
                "the restored state hashes to {:016x}, not the {:016x} recorded when the snapshot was taken",
                engine.state_hash(),
                file.state_hash
            ),
        )));
    }
    Ok((PyEngine { engine }, file.records))
}
