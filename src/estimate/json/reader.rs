//! The tree of values: a [`Reader`] reads one value after another from its
//! [`Cursor`], strictly (RFC 8259), keeping each key as one of
//! [`KNOWN_KEYS`] and of each string what its key calls for: its weight, its
//! text under one of [`TEXT_KEYS`], its head under one of [`PAYLOAD_KEYS`]
//! (found by search when long, see the module docs of [`super`]).

use super::cursor::Cursor;
use super::{Str, Value, HEAD_UNITS, KEEP_CHARS, KNOWN_KEYS, MAX_DEPTH, PAYLOAD_KEYS, SEARCH_OVER_UNITS, TEXT_KEYS};
use crate::estimate::source::{read, Source};
use crate::estimate::TextWeight;

pub(super) struct Reader<'s> {
    pub(super) cursor: Cursor<'s>,
    /// The last search for a backslash: from where, and what it found.
    /// Strings are met in order, so the body is searched once in all.
    backslash: Option<(usize, Option<usize>)>,
}

impl<'s> Reader<'s> {
    pub(super) fn new(source: &'s dyn Source) -> Reader<'s> {
        Reader { cursor: Cursor::new(source), backslash: None }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.cursor.eat(byte).then_some(())
    }

    pub(super) fn skip_space(&mut self) {
        while matches!(self.cursor.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.cursor.bump();
        }
    }

    /// One value; `key` is the key it is the value of, if any.
    pub(super) fn value(&mut self, depth: usize, key: Option<&'static str>) -> Option<Value> {
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
        crate::float::parse_decimal(&text)
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
        while let Some(ch) = self.cursor.string_char()? {
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
            if !payload {
                // Text between escapes is weighed a run at a time.
                for ch in self.cursor.plain_run()?.chars() {
                    take_text(ch, keep, &mut chars, &mut weight, &mut text);
                }
            }
            plain &= self.cursor.peek()? != b'\\';
            let Some(ch) = self.cursor.string_char()? else { break };
            if payload {
                // Short, or holding escapes: read in order, keeping only its
                // head, and weighed only if it is known to be text.
                chars += 1;
                if chars <= HEAD_UNITS {
                    text.push(ch);
                }
            } else {
                take_text(ch, keep, &mut chars, &mut weight, &mut text);
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
}

/// One character of a text string: counted, weighed, and kept (with `keep`)
/// while the string is short enough to keep whole.
#[inline(always)]
fn take_text(ch: char, keep: bool, chars: &mut usize, weight: &mut TextWeight, text: &mut String) {
    *chars += 1;
    weight.add(ch);
    if keep && *chars <= KEEP_CHARS {
        text.push(ch);
    }
}
