//! The body a character at a time: a [`Cursor`] asks the source for a
//! chunk of text ([`CHUNK_UNITS`]) when it runs out, keeps count of the
//! position in the body's own units, and reads the characters inside a JSON
//! string, an escape as the character it stands for.

use super::CHUNK_UNITS;
use crate::estimate::source::Source;
use std::borrow::Cow;

/// A position in the body and the chunk of text around it.
pub(super) struct Cursor<'s> {
    pub(super) source: &'s dyn Source,
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
    pub(super) fn new(source: &'s dyn Source) -> Cursor<'s> {
        Cursor { source, chunk: Cow::Borrowed(""), at: 0, start: 0, units: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.start + self.units
    }

    pub(super) fn seek(&mut self, pos: usize) {
        self.chunk = Cow::Borrowed("");
        self.at = 0;
        self.units = 0;
        self.start = pos;
    }

    pub(super) fn peek(&mut self) -> Option<u8> {
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
    pub(super) fn bump(&mut self) {
        self.at += 1;
        self.units += 1;
    }

    /// The next character, whole (a source never splits one across chunks).
    pub(super) fn next_char(&mut self) -> Option<char> {
        self.peek()?;
        let ch = self.chunk[self.at..].chars().next()?;
        self.at += ch.len_utf8();
        self.units += if ch.is_ascii() { 1 } else { self.source.units(ch) };
        Some(ch)
    }

    pub(super) fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.bump();
        }
        found
    }

    /// The characters inside a string from here to its next quote,
    /// backslash or control character, or to the end of the chunk,
    /// stepped over at once (it may be empty). `None` at the body's end.
    pub(super) fn plain_run(&mut self) -> Option<&str> {
        self.peek()?;
        let from = self.at;
        let rest = &self.chunk.as_bytes()[from..];
        // Each byte searched for is ASCII, so the run ends on a character's boundary.
        let len = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(rest.len());
        let run = &self.chunk[from..from + len];
        let units = if run.is_ascii() { len } else { run.chars().map(|ch| if ch.is_ascii() { 1 } else { self.source.units(ch) }).sum() };
        self.at += len;
        self.units += units;
        Some(&self.chunk[from..from + len])
    }

    /// The next character inside a string: `Some(None)` at its closing
    /// quote (not consumed), `None` where the JSON is invalid.
    pub(super) fn string_char(&mut self) -> Option<Option<char>> {
        Some(Some(match self.peek()? {
            b'"' => return Some(None),
            b'\\' => {
                self.bump();
                self.escape()?
            }
            0x00..=0x1f => return None,
            _ => self.next_char()?,
        }))
    }

    /// The character of an escape, read from just after its backslash. A
    /// `\\uD83D\\uDE00` surrogate pair is one character; a lone surrogate
    /// reads as U+FFFD.
    fn escape(&mut self) -> Option<char> {
        let letter = self.peek()?;
        self.bump();
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
                let save = self.pos();
                let low = (self.eat(b'\\') && self.eat(b'u')).then(|| self.hex4()).flatten();
                match low {
                    Some(low) if (0xDC00..0xE000).contains(&low) => char::decode_utf16([unit, low]).next().and_then(Result::ok).unwrap_or('\u{fffd}'),
                    _ => {
                        self.seek(save);
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
            let digit = char::from(self.peek()?).to_digit(16)?;
            self.bump();
            unit = unit * 16 + digit as u16;
        }
        Some(unit)
    }
}
