//! The durable side of the exchange (SPEC §10): the write-ahead journal's file format, its decoder
//! and writer, and the framing of snapshot files. Pure Rust and `std::fs`; Python drives it through
//! `crossbook.journal`.
//!
//! **Journal file** (integers little-endian):
//! - header: [`JOURNAL_MAGIC`] (8 bytes), format version (u16), metadata length (u32), metadata
//!   (the exchange's configuration, so a journal replays with nothing else), CRC-32 of all of it.
//! - records, back to back: payload length (u32), CRC-32 of the payload (u32), CRC-32 of those
//!   eight bytes (u32), payload (a [`Command`]). The header check means a flipped bit in a length
//!   is caught before the length is trusted.
//!
//! **Decoding** ([`index_journal`] checks, [`decode_journal`] also decodes) walks the records. At
//! the first one that fails a check (cut short, a bad header or payload CRC, an absurd length) it
//! looks for any complete, valid record
//! further on: if there is one, the file is corrupt in the middle and decoding fails with
//! [`JournalError::Corrupt`] naming the offset (never a silent loss of the records after it); if
//! there is none, the bad record is a **torn tail** (a write cut by a crash, or zeros the file
//! system left there) and decoding returns the records before it with the offset to truncate at.
//! A chance false "valid record" in garbage needs two independent CRCs to match (about 2^-64).
//! Decoding never panics on any bytes (a proptest feeds it random bytes and mutations).
//!
//! **Writing** ([`JournalWriter`]): each record goes to the OS in one `write` before the command
//! is acknowledged, so a killed process loses nothing acknowledged in any mode. [`Fsync`] says
//! when it is forced to stable storage against power loss: after every record (`Always`), after
//! every `n` records (`Batch(n)`: at most `n - 1` acknowledged records can be lost to a power
//! failure or OS crash), or only on [`JournalWriter::sync`] and close (`Never`).
//!
//! **Snapshot file**: [`SNAPSHOT_MAGIC`], version (u16), the number of journal records it
//! includes (u64), the engine's `state_hash` then (u64), body length (u64), body (the encoding of
//! `exchange::snapshot`), CRC-32 of everything before it. Written by the caller with temp file +
//! rename + directory fsync, so a snapshot is whole or absent.
//!
//! Costs: decoding is O(file bytes) (one CRC pass), plus a scan of the rest of the file after a
//! failed record; appending is one `write` syscall, plus `fdatasync` as the policy says.

mod command;
mod crc32;
pub mod wire;

pub use command::{Command, Value};
pub use crc32::crc32;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// First eight bytes of a journal file.
pub const JOURNAL_MAGIC: [u8; 8] = *b"CBJRNL\r\n";
/// First eight bytes of a snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"CBSNAP\r\n";
/// The journal format this code writes and reads.
pub const JOURNAL_VERSION: u16 = 1;
/// The snapshot format this code writes and reads.
pub const SNAPSHOT_VERSION: u16 = 1;
/// Bytes before each record's payload.
pub const RECORD_HEADER: usize = 12;
/// Longest payload accepted (commands are a few hundred bytes; a longer length is corruption).
pub const MAX_PAYLOAD: usize = 1 << 24;

/// Why a journal or snapshot cannot be read. Offsets are bytes from the start of the file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    #[error("not a crossbook {kind} file (bad magic bytes at offset 0)")]
    NotAJournal { kind: &'static str },
    #[error("{kind} format version {version} at offset 8 is not supported (this build reads version {supported})")]
    UnknownVersion { kind: &'static str, version: u16, supported: u16 },
    #[error("corrupt {kind} at offset {offset}: {reason}")]
    Corrupt { kind: &'static str, offset: u64, reason: String },
}

/// One decoded record: where it starts and its command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: u64,
    pub command: Command,
}

/// A torn last record: where it starts (truncate the file there) and what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub offset: u64,
    pub reason: &'static str,
}

/// Where one record lies in the file: its start and its payload's byte range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSpan {
    pub offset: u64,
    pub payload: std::ops::Range<usize>,
}

/// A checked journal whose payloads are not decoded yet (see [`index_journal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalIndex {
    pub metadata: Vec<u8>,
    pub records: Vec<RecordSpan>,
    /// Set when the file ends in a torn record; the records before it are all valid.
    pub torn: Option<TornTail>,
}

impl RecordSpan {
    /// The record's command, decoded from the file's bytes.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] at the record's offset for a payload that passed its CRC but does
    /// not decode (written by something other than this format).
    pub fn command(&self, bytes: &[u8]) -> Result<Command, JournalError> {
        let payload = bytes.get(self.payload.clone()).unwrap_or_default();
        Command::decode(payload).map_err(|error| JournalError::Corrupt {
            kind: "journal",
            offset: self.offset,
            reason: format!("the record payload does not decode: {error}"),
        })
    }
}

/// A decoded journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    pub metadata: Vec<u8>,
    pub records: Vec<Record>,
    /// Set when the file ends in a torn record; the records before it are all valid.
    pub torn: Option<TornTail>,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn corrupt(kind: &'static str, offset: usize, reason: impl Into<String>) -> JournalError {
    JournalError::Corrupt { kind, offset: offset as u64, reason: reason.into() }
}

/// The bytes of a journal header carrying `metadata`.
#[must_use]
pub fn journal_header(metadata: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(18 + metadata.len());
    header.extend_from_slice(&JOURNAL_MAGIC);
    header.extend_from_slice(&JOURNAL_VERSION.to_le_bytes());
    header.extend_from_slice(&u32::try_from(metadata.len()).unwrap_or(u32::MAX).to_le_bytes());
    header.extend_from_slice(metadata);
    let crc = crc32(&header);
    header.extend_from_slice(&crc.to_le_bytes());
    header
}

/// Appends one record (header + payload) carrying `command` to `out`.
pub fn encode_record(command: &Command, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    let mut payload = wire::Writer { bytes: std::mem::take(out) };
    command.encode(&mut payload);
    *out = payload.bytes;
    let body = &out[start + RECORD_HEADER..];
    let length = u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes();
    let payload_crc = crc32(body).to_le_bytes();
    out[start..start + 4].copy_from_slice(&length);
    out[start + 4..start + 8].copy_from_slice(&payload_crc);
    let header_crc = crc32(&out[start..start + 8]).to_le_bytes();
    out[start + 8..start + RECORD_HEADER].copy_from_slice(&header_crc);
}

/// Parses the header; returns the metadata and where records start.
fn parse_header(bytes: &[u8]) -> Result<(Vec<u8>, usize), JournalError> {
    const KIND: &str = "journal";
    if bytes.len() < 8 || bytes[..8] != JOURNAL_MAGIC {
        return Err(JournalError::NotAJournal { kind: KIND });
    }
    if bytes.len() < 14 {
        return Err(corrupt(KIND, bytes.len(), "the header is cut short"));
    }
    let version = u16_at(bytes, 8);
    if version != JOURNAL_VERSION {
        return Err(JournalError::UnknownVersion { kind: KIND, version, supported: JOURNAL_VERSION });
    }
    let metadata_len = u32_at(bytes, 10) as usize;
    let end = 14usize.saturating_add(metadata_len);
    if end.saturating_add(4) > bytes.len() {
        return Err(corrupt(KIND, 10, "the header's metadata length runs past the end of the file"));
    }
    if crc32(&bytes[..end]) != u32_at(bytes, end) {
        return Err(corrupt(KIND, end, "the header fails its CRC"));
    }
    Ok((bytes[14..end].to_vec(), end + 4))
}

/// Checks the record at `offset` (framing and CRCs): its payload's range, or why not.
fn check_record(bytes: &[u8], offset: usize) -> Result<std::ops::Range<usize>, &'static str> {
    let remaining = bytes.len() - offset;
    if remaining < RECORD_HEADER {
        return Err("the record header is cut short");
    }
    if crc32(&bytes[offset..offset + 8]) != u32_at(bytes, offset + 8) {
        return Err("the record header fails its CRC");
    }
    let length = u32_at(bytes, offset) as usize;
    if length > MAX_PAYLOAD {
        return Err("the record length exceeds the largest payload");
    }
    let start = offset + RECORD_HEADER;
    if length > remaining - RECORD_HEADER {
        return Err("the record payload is cut short");
    }
    if crc32(&bytes[start..start + length]) != u32_at(bytes, offset + 4) {
        return Err("the record payload fails its CRC");
    }
    Ok(start..start + length)
}

/// Checks a whole journal file (header, every record's framing and CRCs) without decoding the
/// payloads; see the module docs for torn tails versus corruption. Costs one CRC pass over the file
/// and no allocation per record beyond its span.
///
/// # Errors
/// A bad header (not a journal, an unknown version, a bad CRC) or a corrupt record followed by
/// valid ones, with its offset.
pub fn index_journal(bytes: &[u8]) -> Result<JournalIndex, JournalError> {
    let (metadata, mut offset) = parse_header(bytes)?;
    let mut records = Vec::new();
    while offset < bytes.len() {
        match check_record(bytes, offset) {
            Ok(payload) => {
                let next = payload.end;
                records.push(RecordSpan { offset: offset as u64, payload });
                offset = next;
            }
            Err(reason) => {
                if let Some(valid) = (offset + 1..bytes.len()).find(|&at| check_record(bytes, at).is_ok()) {
                    return Err(corrupt(
                        "journal",
                        offset,
                        format!("{reason}, and a valid record follows at offset {valid}"),
                    ));
                }
                return Ok(JournalIndex { metadata, records, torn: Some(TornTail { offset: offset as u64, reason }) });
            }
        }
    }
    Ok(JournalIndex { metadata, records, torn: None })
}

/// Checks and decodes a whole journal file (see [`index_journal`]).
///
/// # Errors
/// As [`index_journal`], and a record whose payload does not decode.
pub fn decode_journal(bytes: &[u8]) -> Result<Journal, JournalError> {
    let JournalIndex { metadata, records, torn } = index_journal(bytes)?;
    let records = records
        .iter()
        .map(|span| Ok(Record { offset: span.offset, command: span.command(bytes)? }))
        .collect::<Result<_, JournalError>>()?;
    Ok(Journal { metadata, records, torn })
}

/// When the journal forces its records to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// After every record: nothing acknowledged is ever lost.
    Always,
    /// After every `n` records (and on sync/close): a power loss loses at most `n - 1`.
    Batch(u32),
    /// Only on sync and close: the OS decides (a process crash still loses nothing).
    Never,
}

/// Appends records to a journal file.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    fsync: Fsync,
    /// Records written since the last fsync.
    unsynced: u32,
    /// Records in the file.
    records: u64,
    buffer: Vec<u8>,
}

/// Fsyncs the directory holding `path`, so a rename or a new file in it is durable.
///
/// # Errors
/// The OS's.
pub fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

impl JournalWriter {
    /// Creates a new journal at `path` (which must not exist) with `metadata` in its header. The
    /// header is written to a temporary file, synced and renamed into place, so a journal file
    /// always has a whole header.
    ///
    /// # Errors
    /// The OS's (including `path` already existing).
    pub fn create(path: &Path, metadata: &[u8], fsync: Fsync) -> io::Result<JournalWriter> {
        if path.exists() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", path.display())));
        }
        write_atomically(path, &journal_header(metadata))?;
        JournalWriter::append_to(path, None, 0, fsync)
    }

    /// Opens an existing journal for appending after its `records` valid records; with
    /// `truncate_at` the file is first cut there (dropping a torn tail) and synced.
    ///
    /// # Errors
    /// The OS's.
    pub fn append_to(path: &Path, truncate_at: Option<u64>, records: u64, fsync: Fsync) -> io::Result<JournalWriter> {
        let file = OpenOptions::new().append(true).open(path)?;
        if let Some(length) = truncate_at {
            file.set_len(length)?;
            file.sync_all()?;
        }
        Ok(JournalWriter { file, fsync, unsynced: 0, records, buffer: Vec::new() })
    }

    /// Appends one record and applies the fsync policy. On error the file may end in a partial
    /// record (decoded later as a torn tail); the caller must stop using this writer.
    ///
    /// # Errors
    /// The OS's.
    pub fn append(&mut self, command: &Command) -> io::Result<()> {
        self.buffer.clear();
        encode_record(command, &mut self.buffer);
        self.file.write_all(&self.buffer)?;
        self.records += 1;
        self.unsynced += 1;
        match self.fsync {
            Fsync::Always => self.sync(),
            Fsync::Batch(every) if self.unsynced >= every => self.sync(),
            Fsync::Batch(_) | Fsync::Never => Ok(()),
        }
    }

    /// Forces the records written so far to stable storage.
    ///
    /// # Errors
    /// The OS's.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// Records in the file (valid ones found when opened plus those appended since).
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    #[must_use]
    pub fn fsync(&self) -> Fsync {
        self.fsync
    }
}

/// Writes `bytes` to `path` so that the file is either its old self or all of `bytes`, durably:
/// a temporary file beside it, fsync, rename over `path`, fsync of the directory.
///
/// # Errors
/// The OS's.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    sync_directory(path)
}

/// A decoded snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotFile {
    /// How many journal records the snapshot includes (replay the journal from this record on).
    pub records: u64,
    /// The engine's `state_hash` when it was taken (checked after restoring).
    pub state_hash: u64,
    pub body: Vec<u8>,
}

const SNAPSHOT_HEADER: usize = 8 + 2 + 8 + 8 + 8;

/// The bytes of a snapshot file.
#[must_use]
pub fn encode_snapshot(records: u64, state_hash: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER + body.len() + 4);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&state_hash.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a snapshot file written by [`encode_snapshot`].
///
/// # Errors
/// Bad magic, an unknown version, a length that disagrees with the file, a bad CRC.
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotFile, JournalError> {
    const KIND: &str = "snapshot";
    if bytes.len() < 8 || bytes[..8] != SNAPSHOT_MAGIC {
        return Err(JournalError::NotAJournal { kind: KIND });
    }
    if bytes.len() < SNAPSHOT_HEADER + 4 {
        return Err(corrupt(KIND, bytes.len(), "the file is shorter than a snapshot header"));
    }
    let version = u16_at(bytes, 8);
    if version != SNAPSHOT_VERSION {
        return Err(JournalError::UnknownVersion { kind: KIND, version, supported: SNAPSHOT_VERSION });
    }
    let body_len = u64_at(bytes, 26);
    if body_len != (bytes.len() - SNAPSHOT_HEADER - 4) as u64 {
        return Err(corrupt(KIND, 26, "the body length disagrees with the file size"));
    }
    let end = bytes.len() - 4;
    if crc32(&bytes[..end]) != u32_at(bytes, end) {
        return Err(corrupt(KIND, end, "the snapshot fails its CRC"));
    }
    Ok(SnapshotFile {
        records: u64_at(bytes, 10),
        state_hash: u64_at(bytes, 18),
        body: bytes[SNAPSHOT_HEADER..end].to_vec(),
    })
}

#[cfg(test)]
mod tests;
