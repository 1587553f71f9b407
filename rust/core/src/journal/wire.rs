//! The compact binary encoding shared by journal records and snapshots.
//!
//! Integers are LEB128 varints (signed ones zig-zag encoded first), so the small numbers that
//! dominate engine state (counts, flags, ids, most balances in atoms) take one to three bytes;
//! text is a varint byte length followed by UTF-8. [`Reader`] never panics: every read is bounds-
//! and range-checked and a malformed input is a [`WireError`] naming the offset. Costs: O(bytes)
//! both ways, no allocation beyond the output buffer and decoded strings.

/// Why bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {offset}")]
pub struct WireError {
    /// Offset of the offending byte within the decoded buffer.
    pub offset: usize,
    pub reason: &'static str,
}

/// Appends encoded values to a byte buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

impl Writer {
    pub fn unsigned(&mut self, mut value: u128) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    pub fn signed(&mut self, value: i128) {
        let magnitude = value.unsigned_abs();
        self.unsigned(if value < 0 { ((magnitude - 1) << 1) | 1 } else { magnitude << 1 });
    }

    pub fn flag(&mut self, value: bool) {
        self.bytes.push(u8::from(value));
    }

    pub fn len(&mut self, len: usize) {
        self.unsigned(len as u128);
    }

    pub fn text(&mut self, text: &str) {
        self.len(text.len());
        self.bytes.extend_from_slice(text.as_bytes());
    }
}

/// Reads values back from bytes written by [`Writer`].
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, position: 0 }
    }

    /// A [`WireError`] at the current position.
    #[must_use]
    pub fn error(&self, reason: &'static str) -> WireError {
        WireError { offset: self.position, reason }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    pub fn byte(&mut self) -> Result<u8, WireError> {
        let byte = *self.bytes.get(self.position).ok_or_else(|| self.error("unexpected end of data"))?;
        self.position += 1;
        Ok(byte)
    }

    pub fn unsigned(&mut self) -> Result<u128, WireError> {
        let mut value: u128 = 0;
        for shift in (0..128).step_by(7) {
            let byte = self.byte()?;
            let bits = u128::from(byte & 0x7f);
            if shift == 126 && bits > 0b11 {
                return Err(self.error("varint longer than 128 bits"));
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 128 bits"))
    }

    pub fn signed(&mut self) -> Result<i128, WireError> {
        let raw = self.unsigned()?;
        let half = i128::try_from(raw >> 1).map_err(|_| self.error("integer out of range"))?;
        Ok(if raw & 1 == 1 { -half - 1 } else { half })
    }

    /// An unsigned value that must fit `T`.
    pub fn narrow<T: TryFrom<u128>>(&mut self) -> Result<T, WireError> {
        let value = self.unsigned()?;
        T::try_from(value).map_err(|_| self.error("integer out of range"))
    }

    /// A signed value that must fit `T`.
    pub fn narrow_signed<T: TryFrom<i128>>(&mut self) -> Result<T, WireError> {
        let value = self.signed()?;
        T::try_from(value).map_err(|_| self.error("integer out of range"))
    }

    pub fn flag(&mut self) -> Result<bool, WireError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.error("flag byte is neither 0 nor 1")),
        }
    }

    /// A length that the remaining bytes can hold at `min_item_bytes` per item (so a corrupt
    /// length cannot make the decoder reserve absurd memory).
    pub fn len(&mut self, min_item_bytes: usize) -> Result<usize, WireError> {
        let len: usize = self.narrow()?;
        let remaining = self.bytes.len() - self.position;
        if len.saturating_mul(min_item_bytes.max(1)) > remaining {
            return Err(self.error("length exceeds the remaining data"));
        }
        Ok(len)
    }

    pub fn text(&mut self) -> Result<String, WireError> {
        let len = self.len(1)?;
        let start = self.position;
        let slice = &self.bytes[start..start + len];
        let text = std::str::from_utf8(slice).map_err(|_| self.error("text is not UTF-8"))?;
        self.position += len;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn integers_round_trip(unsigned in any::<u128>(), signed in any::<i128>(), small in -300i64..300) {
            let mut writer = Writer::default();
            writer.unsigned(unsigned);
            writer.signed(signed);
            writer.signed(i128::from(small));
            let mut reader = Reader::new(&writer.bytes);
            prop_assert_eq!(reader.unsigned().unwrap(), unsigned);
            prop_assert_eq!(reader.signed().unwrap(), signed);
            prop_assert_eq!(reader.signed().unwrap(), i128::from(small));
            prop_assert!(reader.is_empty());
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut reader = Reader::new(&bytes);
            while !reader.is_empty() {
                let _ = reader.text();
                let _ = reader.signed();
                let _ = reader.flag();
                if reader.len(8).is_err() && reader.byte().is_err() {
                    break;
                }
            }
        }
    }

    #[test]
    fn small_values_are_short() {
        let mut writer = Writer::default();
        writer.signed(-1);
        writer.signed(63);
        writer.unsigned(127);
        assert_eq!(writer.bytes, [1, 126, 127]);
    }
}
