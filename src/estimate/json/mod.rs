//! Just enough JSON for the estimate: a strict reader (RFC 8259) of one
//! object into a light tree whose strings carry their token weight
//! ([`TextWeight`]), their position in the body, and their text only when
//! short: the estimate needs the `type`, `media_type` and `model` of a body,
//! never a copy of its prose or its payloads.
//!
//! A long string under a key that carries payloads ([`PAYLOAD_KEYS`]: base64
//! image or document data, data URLs) is not read: its end is found by the
//! source's own search, and only its head ([`HEAD_UNITS`]) is kept, enough
//! for a data URL's prefix and the first bytes of an image. Reading a body
//! then takes time in proportion to its text, not to its payloads. Should
//! such a string turn out to be text (a plain-text document), the estimate
//! weighs it afterwards from its position (see [`weigh_span`]).
//!
//! Why not a JSON library: the estimate reads a few fields, and a general
//! parser (with its error messages, which format numbers) was a tenth of the
//! `.wasm`. Anything that is not valid JSON, or nests deeper than
//! [`MAX_DEPTH`], is rejected whole, as a full parser would reject it.
//!
//! The reader is in two parts: `cursor`, which hands out the body's
//! characters a chunk at a time and reads the characters of strings,
//! escapes and all; and `reader`, which reads the tree of values above it,
//! keeping of each key and string what the tables here say.

mod cursor;
mod reader;
#[cfg(test)]
mod tests;

use super::source::Source;
use super::TextWeight;
use cursor::Cursor;
use reader::Reader;
use std::ops::Range;

/// Deeper than this is refused rather than recursed into (serde_json's
/// default limit is the same).
pub const MAX_DEPTH: usize = 128;

/// Keys whose long string values may be payloads rather than text: Anthropic
/// `source.data`, OpenAI `image_url.url` and `input_image.image_url`,
/// `file.file_data` and `input_file.file_data`.
pub const PAYLOAD_KEYS: [&str; 4] = ["data", "url", "image_url", "file_data"];

/// A payload key's string longer than this (in units) is found by search
/// instead of read.
const SEARCH_OVER_UNITS: usize = 512;

/// Units kept of a string found by search: a data URL's prefix and the first
/// 180 or so bytes of its base64 (PNG, GIF and WebP keep their size there).
pub const HEAD_UNITS: usize = 320;

/// The keys the estimate looks up. An object keeps its keys as one of
/// these, or as `None` for any other key, so that reading a body allocates
/// no key (see [`Value::get`]).
pub const KNOWN_KEYS: [&str; 23] = [
    "model",
    "messages",
    "system",
    "tools",
    "prompt",
    "input",
    "max_tokens",
    "max_output_tokens",
    "max_completion_tokens",
    "type",
    "source",
    "content",
    "data",
    "url",
    "image_url",
    "file_data",
    "file",
    "file_id",
    "file_url",
    "detail",
    "media_type",
    "cache_control",
    "ttl",
];

/// Keys whose string values keep their text (up to [`KEEP_CHARS`]); other
/// strings keep only their weight.
const TEXT_KEYS: [&str; 5] = ["model", "type", "media_type", "detail", "ttl"];

/// Characters kept of a string under one of [`TEXT_KEYS`].
const KEEP_CHARS: usize = 64;

/// Units of text asked of the source at a time.
pub(super) const CHUNK_UNITS: usize = 16 * 1024;

/// One JSON value.
#[derive(Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Str(Str),
    Array(Vec<Value>),
    /// Fields by key: one of [`KNOWN_KEYS`], or `None`.
    Object(Vec<(Option<&'static str>, Value)>),
}

/// A string value.
#[derive(Debug, PartialEq)]
pub struct Str {
    /// The token weight of its characters; 0 for a payload.
    pub tokens: f64,
    /// Its text, when short and under one of [`TEXT_KEYS`]; a payload's
    /// first [`HEAD_UNITS`] characters.
    pub text: Option<String>,
    /// Where its characters lie in the body (inside the quotes).
    pub span: Range<usize>,
    /// The value of a payload key: not weighed as it was read (see the
    /// module docs), and its text is only its head.
    pub payload: bool,
    /// Holds no escape: each of its ASCII characters is one unit at its
    /// position, so any part of it can be read by position.
    pub plain: bool,
}

impl Value {
    /// The value of `key`, one of [`KNOWN_KEYS`], in an object (its last,
    /// as JSON parsers read a repeated key).
    pub fn get(&self, key: &str) -> Option<&Value> {
        debug_assert!(KNOWN_KEYS.contains(&key), "`{key}` is looked up but not kept");
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| *k == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a short string, or the head of a payload.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => s.text.as_deref(),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// Read a body that should be one JSON object. `None` when it is not valid
/// JSON or not an object.
pub fn parse(source: &dyn Source) -> Option<Value> {
    let mut reader = Reader::new(source);
    reader.skip_space();
    if reader.cursor.peek() != Some(b'{') {
        return None;
    }
    let value = reader.value(1, None)?;
    reader.skip_space();
    reader.cursor.peek().is_none().then_some(value)
}

/// The token weight of a span of a body that holds JSON string content
/// (escapes are read as the characters they stand for).
pub fn weigh_span(source: &dyn Source, span: &Range<usize>) -> f64 {
    let mut cursor = Cursor::new(source);
    cursor.seek(span.start);
    let mut weight = TextWeight::default();
    while cursor.pos() < span.end {
        match cursor.string_char() {
            Some(Some(ch)) => weight.add(ch),
            _ => break,
        }
    }
    weight.tokens()
}
