//! A journaled command: the name of an `Exchange` method and its arguments, already normalized to
//! canonical values (decimal strings, ints, bools, None, lists of names), plus whether the engine
//! refused it.
//!
//! Payload layout: a flag byte (0 accepted, 1 refused), the name as text, an argument count, then
//! each [`Value`] as a tag byte and its body (see `wire` for integers and text). Decoding checks
//! every tag, length and nesting depth and never panics on arbitrary bytes.

use super::wire::{Reader, WireError, Writer};

/// One argument of a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Text(String),
    List(Vec<Value>),
}

/// A command as journaled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub args: Vec<Value>,
    /// The engine refused it (it raised a `CrossbookError` and changed nothing); replay expects the
    /// same refusal.
    pub refused: bool,
}

const TAG_NONE: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_TEXT: u8 = 4;
const TAG_LIST: u8 = 5;
/// Lists nest at most this deep (commands use one level); deeper input is refused, not recursed.
const MAX_DEPTH: usize = 4;

fn encode_value(value: &Value, out: &mut Writer) {
    match value {
        Value::None => out.bytes.push(TAG_NONE),
        Value::Bool(false) => out.bytes.push(TAG_FALSE),
        Value::Bool(true) => out.bytes.push(TAG_TRUE),
        Value::Int(int) => {
            out.bytes.push(TAG_INT);
            out.signed(*int);
        }
        Value::Text(text) => {
            out.bytes.push(TAG_TEXT);
            out.text(text);
        }
        Value::List(items) => {
            out.bytes.push(TAG_LIST);
            out.len(items.len());
            for item in items {
                encode_value(item, out);
            }
        }
    }
}

fn decode_value(input: &mut Reader<'_>, depth: usize) -> Result<Value, WireError> {
    Ok(match input.byte()? {
        TAG_NONE => Value::None,
        TAG_FALSE => Value::Bool(false),
        TAG_TRUE => Value::Bool(true),
        TAG_INT => Value::Int(input.signed()?),
        TAG_TEXT => Value::Text(input.text()?),
        TAG_LIST if depth < MAX_DEPTH => {
            let len = input.len(1)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(decode_value(input, depth + 1)?);
            }
            Value::List(items)
        }
        TAG_LIST => return Err(input.error("lists nested too deeply")),
        _ => return Err(input.error("unknown value tag")),
    })
}

impl Command {
    /// Appends the payload encoding to `out`.
    pub fn encode(&self, out: &mut Writer) {
        out.flag(self.refused);
        out.text(&self.name);
        out.len(self.args.len());
        for arg in &self.args {
            encode_value(arg, out);
        }
    }

    /// Decodes a payload written by [`Command::encode`]; the whole payload must be used.
    ///
    /// # Errors
    /// A [`WireError`] naming the offset within the payload.
    pub fn decode(payload: &[u8]) -> Result<Command, WireError> {
        let mut input = Reader::new(payload);
        let refused = input.flag()?;
        let name = input.text()?;
        let count = input.len(1)?;
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            args.push(decode_value(&mut input, 0)?);
        }
        if !input.is_empty() {
            return Err(input.error("trailing bytes after the last argument"));
        }
        Ok(Command { name, args, refused })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i128>().prop_map(Value::Int),
            ".{0,12}".prop_map(Value::Text),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Value::List))
    }

    proptest! {
        #[test]
        fn commands_round_trip(name in "[a-z_]{1,20}", args in proptest::collection::vec(value(), 0..8), refused: bool) {
            let command = Command { name, args, refused };
            let mut out = Writer::default();
            command.encode(&mut out);
            prop_assert_eq!(Command::decode(&out.bytes), Ok(command));
        }

        #[test]
        fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Command::decode(&bytes);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0, 1, b'x', 1];
        bytes.extend([TAG_LIST, 1].repeat(10));
        bytes.push(TAG_NONE);
        assert_eq!(Command::decode(&bytes).unwrap_err().reason, "lists nested too deeply");
    }
}
