//! Prompt-cache breakpoints: the prefixes of an Anthropic Messages body
//! marked with `cache_control`, with what each weighs and what identifies it.
//!
//! Anthropic caches a prompt's prefix up to a block marked `cache_control`,
//! reading the prompt in the order tools, system, messages. A later call
//! that begins with the same prefix within its time to live (5 minutes, or
//! an hour for `"ttl": "1h"`; each use renews it) reads it from the cache,
//! and on current models a cache read does not count against input tokens
//! per minute. The estimate still weighs the whole prompt (the call's
//! cost); the breakpoints say which part of it a warm cache would not
//! charge, and the engine ([`crate::engine`]) knows which prefixes are warm.
//!
//! A prefix is identified by a hash of its content as the body states it:
//! every string's characters (a payload's length, head and tail), number
//! and literal, the names of the keys the estimate reads, and the shape of
//! arrays and objects. Keys the estimate does not keep (a tool's `name`,
//! say) add only their values: two prefixes differing only in such a key's
//! name hash the same, a risk taken for a reader that keeps no keys.

use super::json::{Str, Value};
use super::source::{read, Source};

/// How long a cached prefix lives after its last use, unless the body asks
/// for [`LONG_TTL_MS`] (`"ttl": "1h"`).
pub const TTL_MS: f64 = 5.0 * 60_000.0;
pub const LONG_TTL_MS: f64 = 60.0 * 60_000.0;

/// A prefix marked for caching.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Breakpoint {
    /// Identifies the prefix's content (see the module docs).
    pub hash: u64,
    /// The input tokens of the prompt up to and including the marked block,
    /// as estimated (before any calibration).
    pub tokens: f64,
    /// How long the cache keeps it after each use.
    pub ttl_ms: f64,
}

/// Characters of a payload's head and tail that its hash reads.
const PAYLOAD_SAMPLE: usize = 64;

/// Whether anything below `value` is marked `cache_control`.
pub fn marked(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(marked),
        Value::Object(fields) => fields.iter().any(|(key, field)| *key == Some("cache_control") || marked(field)),
        _ => false,
    }
}

/// The breakpoint a block makes, if it is marked: its hash and time to live,
/// the tokens to be filled in by the caller.
pub fn breakpoint_of(block: &Value, hash: u64, tokens: f64) -> Option<Breakpoint> {
    let control = block.get("cache_control")?;
    if matches!(control, Value::Null) {
        return None;
    }
    let ttl_ms = match control.get("ttl").and_then(Value::as_str) {
        Some("1h") => LONG_TTL_MS,
        _ => TTL_MS,
    };
    Some(Breakpoint { hash, tokens, ttl_ms })
}

/// A running FNV-1a hash of a prompt's content, in the order it is read.
#[derive(Clone, Copy, Debug)]
pub struct PrefixHash(u64);

impl Default for PrefixHash {
    fn default() -> PrefixHash {
        PrefixHash(0xcbf2_9ce4_8422_2325)
    }
}

impl PrefixHash {
    /// A hash that starts with the request's model (a cache is per model).
    pub fn of_model(model: Option<&str>) -> PrefixHash {
        let mut hash = PrefixHash::default();
        hash.name(model.unwrap_or(""));
        hash
    }

    pub fn value(self) -> u64 {
        self.0
    }

    /// A key's name (`?` for one the estimate does not keep).
    pub fn name(&mut self, name: &str) {
        self.bytes(name.as_bytes());
        self.bytes(b":");
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Hash a value and everything below it (see the module docs).
    pub fn add(&mut self, source: &dyn Source, value: &Value) {
        match value {
            Value::Null => self.bytes(b"n"),
            Value::Bool(b) => self.bytes(if *b { b"t" } else { b"f" }),
            Value::Number(n) => {
                self.bytes(b"#");
                self.bytes(&n.to_bits().to_le_bytes());
            }
            Value::Str(s) => self.string(source, s),
            Value::Array(items) => {
                self.bytes(b"[");
                self.bytes(&(items.len() as u64).to_le_bytes());
                items.iter().for_each(|item| self.add(source, item));
            }
            Value::Object(fields) => {
                self.bytes(b"{");
                self.bytes(&(fields.len() as u64).to_le_bytes());
                for (key, field) in fields {
                    self.name(key.unwrap_or("?"));
                    self.add(source, field);
                }
            }
        }
    }

    fn string(&mut self, source: &dyn Source, s: &Str) {
        self.bytes(b"\"");
        self.bytes(&(s.span.len() as u64).to_le_bytes());
        if s.payload {
            // Megabytes of base64: its length, head and tail identify it.
            let head = s.span.start + PAYLOAD_SAMPLE.min(s.span.len());
            let tail = s.span.end.saturating_sub(PAYLOAD_SAMPLE).max(head);
            self.bytes(read(source, s.span.start, head).as_bytes());
            self.bytes(read(source, tail, s.span.end).as_bytes());
        } else {
            self.bytes(read(source, s.span.start, s.span.end).as_bytes());
        }
    }
}
