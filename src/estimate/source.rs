//! Where the estimate reads a request body from, without copying all of it.
//!
//! A body may hold megabytes of base64 (an image, a PDF) beside a few hundred
//! bytes of text. Copying such a body into the estimate costs time in
//! proportion to its payloads (tens of milliseconds for 20 MB in wasm, most
//! of it in encoding the JS string to UTF-8). So the estimate asks its
//! [`Source`] for text a chunk at a time, and for the end of a long string by
//! a search the source runs natively (`String.prototype.indexOf` in JS): it
//! then reads of a payload only the bytes its header needs.
//!
//! Positions count the source's own units: bytes for Rust text, UTF-16 code
//! units for a JS string. Within ASCII text (JSON syntax, base64) one
//! character is one unit in both, which is all the estimate's arithmetic on
//! positions assumes.

use std::borrow::Cow;

/// A body's text, read in pieces.
pub trait Source {
    /// Its length, in units.
    fn len(&self) -> usize;

    /// Text from `from` towards `to` (clamped to the end): all of it, or a
    /// part that is not empty unless `from` is at the end; its end moved on
    /// where it would split a character. Returns the text and where it ends.
    fn text(&self, from: usize, to: usize) -> (Cow<'_, str>, usize);

    /// The position of the first `byte` (an ASCII character) at or after `from`.
    fn find(&self, byte: u8, from: usize) -> Option<usize>;

    /// The units one character takes.
    fn units(&self, ch: char) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// All the text from `from` to `to` (clamped to the end), however the
/// source hands it out.
pub fn read(source: &dyn Source, from: usize, to: usize) -> Cow<'_, str> {
    let (first, mut at) = source.text(from, to);
    if at >= to || first.is_empty() {
        return first;
    }
    let mut text = first.into_owned();
    while at < to {
        let (more, end) = source.text(at, to);
        if more.is_empty() {
            break;
        }
        text.push_str(&more);
        at = end;
    }
    Cow::Owned(text)
}

/// Rust text (`&str`, `String`): positions are bytes.
impl<T: AsRef<str> + ?Sized> Source for T {
    fn len(&self) -> usize {
        self.as_ref().len()
    }

    fn text(&self, from: usize, to: usize) -> (Cow<'_, str>, usize) {
        let text = self.as_ref();
        let from = from.min(text.len());
        let mut to = to.clamp(from, text.len());
        while !text.is_char_boundary(to) {
            to += 1;
        }
        (Cow::Borrowed(&text[from..to]), to)
    }

    fn find(&self, byte: u8, from: usize) -> Option<usize> {
        let bytes = self.as_ref().as_bytes().get(from..)?;
        bytes.iter().position(|&b| b == byte).map(|at| from + at)
    }

    fn units(&self, ch: char) -> usize {
        ch.len_utf8()
    }
}

/// A source for tests that hands out text in chunks of at most `chunk`
/// units and counts how much it handed out.
#[cfg(test)]
pub(crate) struct Counting<'a> {
    pub text: &'a str,
    pub chunk: usize,
    pub handed: std::cell::Cell<usize>,
}

#[cfg(test)]
impl<'a> Counting<'a> {
    pub fn new(text: &'a str, chunk: usize) -> Counting<'a> {
        Counting { text, chunk, handed: 0.into() }
    }
}

#[cfg(test)]
impl Source for Counting<'_> {
    fn len(&self) -> usize {
        self.text.len()
    }
    fn text(&self, from: usize, to: usize) -> (Cow<'_, str>, usize) {
        let (text, end) = Source::text(&self.text, from, to.min(from.saturating_add(self.chunk)));
        self.handed.set(self.handed.get() + text.len());
        (text, end)
    }
    fn find(&self, byte: u8, from: usize) -> Option<usize> {
        Source::find(&self.text, byte, from)
    }
    fn units(&self, ch: char) -> usize {
        ch.len_utf8()
    }
}
