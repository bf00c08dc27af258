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

use super::source::{read, Source};
use super::TextWeight;
use std::borrow::Cow;
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
pub const KNOWN_KEYS: [&str; 21] = [
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
];

/// Keys whose string values keep their text (up to [`KEEP_CHARS`]); other
/// strings keep only their weight.
const TEXT_KEYS: [&str; 4] = ["model", "type", "media_type", "detail"];

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
    let mut reader = Reader { cursor: Cursor::new(source), backslash: None };
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
    let mut reader = Reader { cursor: Cursor::new(source), backslash: None };
    reader.cursor.seek(span.start);
    let mut weight = TextWeight::default();
    while reader.cursor.pos() < span.end {
        match reader.string_char() {
            Some(Some(ch)) => weight.add(ch),
            _ => break,
        }
    }
    weight.tokens()
}

/// A position in the body and the chunk of text around it.
struct Cursor<'s> {
    source: &'s dyn Source,
    chunk: Cow<'s, str>,
    /// Bytes of `chunk` read.
    at: usize,
    /// Where `chunk` starts in the body.
    start: usize,
    /// Units of `chunk` read (differs from `at` past non-ASCII text in a
    /// source that counts UTF-16 units).
    units: usize,
}

impl<'s> Cursor<'s> {
    fn new(source: &'s dyn Source) -> Cursor<'s> {
        Cursor { source, chunk: Cow::Borrowed(""), at: 0, start: 0, units: 0 }
    }

    fn pos(&self) -> usize {
        self.start + self.units
    }

    fn seek(&mut self, pos: usize) {
        self.chunk = Cow::Borrowed("");
        self.at = 0;
        self.units = 0;
        self.start = pos;
    }

    fn peek(&mut self) -> Option<u8> {
        if self.at == self.chunk.len() {
            let from = self.pos();
            if from >= self.source.len() {
                return None;
            }
            let (chunk, _) = self.source.text(from, from + CHUNK_UNITS);
            self.seek(from);
            self.chunk = chunk;
            if self.chunk.is_empty() {
                return None;
            }
        }
        self.chunk.as_bytes().get(self.at).copied()
    }

    /// Step over one ASCII byte just peeked.
    fn bump(&mut self) {
        self.at += 1;
        self.units += 1;
    }

    /// The next character, whole (a source never splits one across chunks).
    fn next_char(&mut self) -> Option<char> {
        self.peek()?;
        let ch = self.chunk[self.at..].chars().next()?;
        self.at += ch.len_utf8();
        self.units += if ch.is_ascii() { 1 } else { self.source.units(ch) };
        Some(ch)
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.bump();
        }
        found
    }
}

struct Reader<'s> {
    cursor: Cursor<'s>,
    /// The last search for a backslash: from where, and what it found.
    /// Strings are met in order, so the body is searched once in all.
    backslash: Option<(usize, Option<usize>)>,
}

impl Reader<'_> {
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.cursor.eat(byte).then_some(())
    }

    fn skip_space(&mut self) {
        while matches!(self.cursor.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.cursor.bump();
        }
    }

    /// One value; `key` is the key it is the value of, if any.
    fn value(&mut self, depth: usize, key: Option<&'static str>) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        Some(match self.cursor.peek()? {
            b'"' => {
                let is = |keys: &[&str]| key.is_some_and(|k| keys.contains(&k));
                Value::Str(self.string(is(&PAYLOAD_KEYS), is(&TEXT_KEYS))?)
            }
            b'{' => {
                self.cursor.bump();
                self.skip_space();
                let mut fields = Vec::new();
                if !self.cursor.eat(b'}') {
                    loop {
                        self.skip_space();
                        let name = self.key()?;
                        self.skip_space();
                        self.expect(b':')?;
                        let value = self.value(depth + 1, name)?;
                        fields.push((name, value));
                        self.skip_space();
                        if self.cursor.eat(b'}') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                Value::Object(fields)
            }
            b'[' => {
                self.cursor.bump();
                self.skip_space();
                let mut items = Vec::new();
                if !self.cursor.eat(b']') {
                    loop {
                        items.push(self.value(depth + 1, None)?);
                        self.skip_space();
                        if self.cursor.eat(b']') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                Value::Array(items)
            }
            b't' => self.literal("true", Value::Bool(true))?,
            b'f' => self.literal("false", Value::Bool(false))?,
            b'n' => self.literal("null", Value::Null)?,
            _ => Value::Number(self.number()?),
        })
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        for byte in word.bytes() {
            self.expect(byte)?;
        }
        Some(value)
    }

    /// A number per RFC 8259 §6.
    fn number(&mut self) -> Option<f64> {
        let mut text = String::new();
        let mut take = |cursor: &mut Cursor, byte: u8| {
            text.push(byte as char);
            cursor.bump();
        };
        if self.cursor.peek() == Some(b'-') {
            take(&mut self.cursor, b'-');
        }
        match self.cursor.peek()? {
            b'0' => take(&mut self.cursor, b'0'),
            b'1'..=b'9' => self.digits(&mut take),
            _ => return None,
        }
        if self.cursor.peek() == Some(b'.') {
            take(&mut self.cursor, b'.');
            self.cursor.peek().filter(u8::is_ascii_digit)?;
            self.digits(&mut take);
        }
        if let Some(e @ (b'e' | b'E')) = self.cursor.peek() {
            take(&mut self.cursor, e);
            if let Some(sign @ (b'+' | b'-')) = self.cursor.peek() {
                take(&mut self.cursor, sign);
            }
            self.cursor.peek().filter(u8::is_ascii_digit)?;
            self.digits(&mut take);
        }
        text.parse().ok()
    }

    fn digits(&mut self, take: &mut impl FnMut(&mut Cursor, u8)) {
        while let Some(digit) = self.cursor.peek().filter(u8::is_ascii_digit) {
            take(&mut self.cursor, digit);
        }
    }

    /// A key, from its opening quote: one of [`KNOWN_KEYS`] or `None`.
    fn key(&mut self) -> Option<Option<&'static str>> {
        self.expect(b'"')?;
        let mut name = [0u8; 24];
        let mut len = 0;
        while let Some(ch) = self.string_char()? {
            if let Some(slot) = name.get_mut(len..len + ch.len_utf8()) {
                ch.encode_utf8(slot);
            }
            len += ch.len_utf8();
        }
        self.cursor.bump();
        let name = name.get(..len).and_then(|n| std::str::from_utf8(n).ok());
        Some(name.and_then(|n| KNOWN_KEYS.iter().copied().find(|k| *k == n)))
    }

    /// A string, from its opening quote, keeping its text if `keep`. A long
    /// one under a payload key is found by search when it holds no escape
    /// (see the module docs).
    fn string(&mut self, payload: bool, keep: bool) -> Option<Str> {
        self.expect(b'"')?;
        let start = self.cursor.pos();
        if payload {
            let end = self.cursor.source.find(b'"', start)?;
            if end - start > SEARCH_OVER_UNITS && !self.backslash_before(start, end) {
                let head = read(self.cursor.source, start, start + HEAD_UNITS);
                self.cursor.seek(end + 1);
                return Some(Str { tokens: 0.0, text: Some(head.into_owned()), span: start..end, payload: true, plain: true });
            }
        }
        let mut text = String::new();
        let mut chars = 0;
        let mut weight = TextWeight::default();
        let mut plain = true;
        loop {
            plain &= self.cursor.peek()? != b'\\';
            let Some(ch) = self.string_char()? else { break };
            chars += 1;
            if payload {
                // Short, or holding escapes: read in order, keeping only its
                // head, and weighed only if it is known to be text.
                if chars <= HEAD_UNITS {
                    text.push(ch);
                }
            } else {
                weight.add(ch);
                if keep && chars <= KEEP_CHARS {
                    text.push(ch);
                }
            }
        }
        let end = self.cursor.pos();
        self.cursor.bump();
        let text = (payload || (keep && chars <= KEEP_CHARS)).then_some(text);
        Some(Str { tokens: weight.tokens(), text, span: start..end, payload, plain })
    }

    /// Whether a backslash lies in `from..to`.
    fn backslash_before(&mut self, from: usize, to: usize) -> bool {
        let found = match self.backslash {
            Some((searched_from, found)) if searched_from <= from && found.is_none_or(|at| at >= from) => found,
            _ => {
                let found = self.cursor.source.find(b'\\', from);
                self.backslash = Some((from, found));
                found
            }
        };
        found.is_some_and(|at| at < to)
    }

    /// The next character inside a string: `Some(None)` at its closing
    /// quote (not consumed), `None` where the JSON is invalid.
    fn string_char(&mut self) -> Option<Option<char>> {
        Some(Some(match self.cursor.peek()? {
            b'"' => return Some(None),
            b'\\' => {
                self.cursor.bump();
                self.escape()?
            }
            0x00..=0x1f => return None,
            _ => self.cursor.next_char()?,
        }))
    }

    /// The character of an escape, read from just after its backslash. A
    /// `\\uD83D\\uDE00` surrogate pair is one character; a lone surrogate
    /// reads as U+FFFD.
    fn escape(&mut self) -> Option<char> {
        let letter = self.cursor.peek()?;
        self.cursor.bump();
        Some(match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                if !(0xD800..0xDC00).contains(&unit) {
                    return Some(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'));
                }
                // A high surrogate: a low one must follow as `\uDC00`..`\uDFFF`.
                let save = self.cursor.pos();
                let low = (self.cursor.eat(b'\\') && self.cursor.eat(b'u')).then(|| self.hex4()).flatten();
                match low {
                    Some(low) if (0xDC00..0xE000).contains(&low) => char::decode_utf16([unit, low]).next().and_then(Result::ok).unwrap_or('\u{fffd}'),
                    _ => {
                        self.cursor.seek(save);
                        '\u{fffd}'
                    }
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u16> {
        let mut unit = 0u16;
        for _ in 0..4 {
            let digit = char::from(self.cursor.peek()?).to_digit(16)?;
            self.cursor.bump();
            unit = unit * 16 + digit as u16;
        }
        Some(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::Counting;
    use super::*;

    fn read(text: &str) -> Option<Value> {
        parse(&text)
    }

    #[test]
    fn reads_an_object_with_short_texts_numbers_and_weights() {
        let value =
            read(r#" {"model":"claude","max_tokens":1024,"messages":[{"role":"user","content":"héllo"}],"input":null,"unknown":1} "#).unwrap();
        assert_eq!(value.get("model").and_then(Value::as_str), Some("claude"));
        assert_eq!(value.get("max_tokens").and_then(Value::as_number), Some(1024.0));
        let Some(Value::Array(messages)) = value.get("messages") else { panic!("messages") };
        let Some(Value::Str(content)) = messages[0].get("content") else { panic!("content") };
        // "héllo": 4 letters, 1 other.
        assert!((content.tokens - (4.0 * 0.27 + 0.6)).abs() < 1e-9, "{}", content.tokens);
        assert_eq!(value.get("input"), Some(&Value::Null));
        let Value::Object(fields) = &value else { panic!() };
        assert_eq!(fields.last().map(|(k, _)| *k), Some(None), "an unknown key is kept as None");
        assert_eq!(content.text, None, "text is kept only for the keys that need it");
    }

    #[test]
    fn escapes_count_as_the_characters_they_stand_for() {
        let value = read(r#"{"type":"a\n\u00e9\ud83d\ude00\"","model":"\udc00x","\u0063ontent":"k"}"#).unwrap();
        let Some(Value::Str(s)) = value.get("type") else { panic!() };
        assert_eq!(s.text.as_deref(), Some("a\né😀\""));
        assert!(!s.plain);
        // a, newline, é, the emoji (one pair), quote.
        assert!((s.tokens - (0.27 + 0.5 + 0.6 + 0.6 + 0.5)).abs() < 1e-9);
        assert_eq!(value.get("model").and_then(Value::as_str), Some("\u{fffd}x"));
        assert!(value.get("content").is_some(), "an escaped key reads as the key it stands for");
    }

    #[test]
    fn anything_but_one_valid_object_is_refused() {
        for text in [
            "",
            "[1]",
            "{",
            "{}x",
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":"\q"}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "name=value",
            r#"{"data":"abc"#,
        ] {
            assert_eq!(read(text), None, "{text:?}");
        }
        assert_eq!(read("{}"), Some(Value::Object(vec![])));
        assert!(read(r#"{"n":-1.5e+3,"m":0,"f":false}"#).is_some());
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_without_recursing_further() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(read(&deep), None);
        let fine = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(read(&fine).is_some());
    }

    #[test]
    fn a_long_payload_string_is_found_by_search_and_only_its_head_kept() {
        let data = "QUJD".repeat(1000);
        let body = format!(r#"{{"data":"{data}","type":"ok"}}"#);
        let value = read(&body).unwrap();
        let Some(Value::Str(s)) = value.get("data") else { panic!() };
        assert!(s.payload && s.plain);
        assert_eq!(s.tokens, 0.0);
        assert_eq!(s.text.as_deref(), Some(&data[..HEAD_UNITS]));
        assert_eq!(&body[s.span.clone()], data);
        assert_eq!(value.get("type").and_then(Value::as_str), Some("ok"));
        // The same text under another key is read and weighed.
        let body = format!(r#"{{"content":"{data}"}}"#);
        let value = read(&body).unwrap();
        let Some(Value::Str(s)) = value.get("content") else { panic!() };
        assert!(!s.payload && s.tokens > 1000.0);
    }

    #[test]
    fn a_payload_with_escapes_is_read_in_order_keeping_its_head() {
        let data = "QU\\/D".repeat(200);
        let body = format!(r#"{{"data":"{data}","max_tokens":1}}"#);
        let value = read(&body).unwrap();
        let Some(Value::Str(s)) = value.get("data") else { panic!() };
        assert!(s.payload && !s.plain);
        assert_eq!(s.tokens, 0.0);
        assert!(s.text.as_deref().unwrap().starts_with("QU/DQU/D"));
        assert_eq!(value.get("max_tokens").and_then(Value::as_number), Some(1.0));
        // Weighed afterwards from its position, as the characters it holds.
        let expected = {
            let mut w = TextWeight::default();
            "QU/D".repeat(200).chars().for_each(|c| w.add(c));
            w.tokens()
        };
        assert!((weigh_span(&body.as_str(), &s.span) - expected).abs() < 1e-9);
    }

    #[test]
    fn chunks_split_anywhere_read_the_same_and_payloads_are_not_read() {
        let data = "iVBORw0KGgo".repeat(100_000);
        let body = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"Привет, мир! 速率 \u00e9 {{}}"}},{{"source":{{"data":"{data}"}}}}]}}],"n":-12.5e-1,"t":true}}"#
        );
        let whole = read(&body).unwrap();
        for chunk in [1, 2, 3, 7, 64] {
            let source = Counting::new(&body, chunk);
            assert_eq!(parse(&source).as_ref(), Some(&whole), "chunks of {chunk}");
            assert!(source.handed.get() < 2_000, "read {} of {} bytes", source.handed.get(), body.len());
        }
    }
}
