//! Just enough JSON for the estimate: a strict reader (RFC 8259) of one
//! object that reports, for each top-level key, what the estimate needs —
//! the weight of the strings below it ([`TextWeight`]), how many items an
//! array has, a string's text, a number's value — without building a
//! document.
//!
//! Why not a JSON library: the estimate reads a few fields, and a general
//! parser (with its error messages, which format numbers) was a tenth of the
//! `.wasm`. Anything that is not valid JSON, or nests deeper than
//! [`MAX_DEPTH`], is rejected whole, as a full parser would reject it.

/// Deeper than this is refused rather than recursed into (serde_json's
/// default limit is the same).
pub const MAX_DEPTH: usize = 128;

use super::TextWeight;

/// What the estimate needs to know about one top-level value.
#[derive(Debug, Default, PartialEq)]
pub struct Field {
    /// The token weight of every string value below it, keys excluded.
    pub text_tokens: f64,
    /// Items, when it is an array.
    pub items: Option<usize>,
    /// Its text, when it is a string.
    pub string: Option<String>,
    /// Its value, when it is a number.
    pub number: Option<f64>,
}

/// The top-level fields of a JSON object, in order (a repeated key appears
/// twice; callers take the last, as JSON parsers do). `None` when `text` is
/// not one valid JSON object.
pub fn object_fields(text: &str) -> Option<Vec<(String, Field)>> {
    let mut reader = Reader { bytes: text.as_bytes(), at: 0 };
    reader.skip_space();
    let mut fields = Vec::new();
    reader.expect(b'{')?;
    reader.skip_space();
    if !reader.eat(b'}') {
        loop {
            reader.skip_space();
            let (_, key) = reader.string(true)?;
            let key = key.unwrap_or_default();
            reader.skip_space();
            reader.expect(b':')?;
            let field = reader.value(1)?;
            fields.push((key, field));
            reader.skip_space();
            if reader.eat(b'}') {
                break;
            }
            reader.expect(b',')?;
        }
    }
    reader.skip_space();
    (reader.at == reader.bytes.len()).then_some(fields)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// One value; its summary at the top level, its characters below.
    fn value(&mut self, depth: usize) -> Option<Field> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        let mut field = Field::default();
        match self.peek()? {
            b'"' => {
                let (tokens, text) = self.string(depth == 1)?;
                field.text_tokens = tokens;
                field.string = text;
            }
            b'{' => {
                self.at += 1;
                self.skip_space();
                if !self.eat(b'}') {
                    loop {
                        self.skip_space();
                        self.string(false)?;
                        self.skip_space();
                        self.expect(b':')?;
                        field.text_tokens += self.value(depth + 1)?.text_tokens;
                        self.skip_space();
                        if self.eat(b'}') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
            }
            b'[' => {
                self.at += 1;
                self.skip_space();
                let mut items = 0;
                if !self.eat(b']') {
                    loop {
                        field.text_tokens += self.value(depth + 1)?.text_tokens;
                        items += 1;
                        self.skip_space();
                        if self.eat(b']') {
                            break;
                        }
                        self.expect(b',')?;
                    }
                }
                field.items = Some(items);
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            _ => field.number = Some(self.number()?),
        }
        Some(field)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A number per RFC 8259 §6.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.') {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        std::str::from_utf8(&self.bytes[start..self.at]).ok()?.parse().ok()
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

impl Reader<'_> {
    /// A string: its token weight, and its decoded text when `keep`.
    fn string(&mut self, keep: bool) -> Option<(f64, Option<String>)> {
        self.expect(b'"')?;
        let mut text = keep.then(String::new);
        let mut weight = TextWeight::default();
        loop {
            let decoded = match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some((weight.tokens(), text));
                }
                b'\\' => {
                    self.at += 1;
                    self.escape()?
                }
                0x00..=0x1f => return None,
                _ => {
                    // One UTF-8 sequence: a lead byte and its continuation bytes.
                    let start = self.at;
                    self.at += 1;
                    while self.peek().is_some_and(|b| b & 0xC0 == 0x80) {
                        self.at += 1;
                    }
                    std::str::from_utf8(&self.bytes[start..self.at]).ok()?.chars().next()?
                }
            };
            weight.add(decoded);
            if let Some(t) = text.as_mut() {
                t.push(decoded);
            }
        }
    }

    /// The character of an escape, read from just after its backslash. A
    /// `\\uD83D\\uDE00` surrogate pair is one character; a lone surrogate
    /// reads as U+FFFD.
    fn escape(&mut self) -> Option<char> {
        let letter = self.peek()?;
        self.at += 1;
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
                if (0xD800..0xDC00).contains(&unit) && self.bytes.get(self.at..self.at + 2) == Some(b"\\u") {
                    let save = self.at;
                    self.at += 2;
                    match self.hex4() {
                        Some(low) if (0xDC00..0xE000).contains(&low) => {
                            char::decode_utf16([unit, low]).next().and_then(Result::ok).unwrap_or('\u{fffd}')
                        }
                        _ => {
                            self.at = save;
                            '\u{fffd}'
                        }
                    }
                } else {
                    char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}')
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = std::str::from_utf8(self.bytes.get(self.at..self.at + 4)?).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let unit = u16::from_str_radix(digits, 16).ok()?;
        self.at += 4;
        Some(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_top_level_fields_of_an_object() {
        let fields = object_fields(r#" {"model":"claude","max_tokens":1024,"messages":[{"role":"user","content":"héllo"}],"x":null} "#).unwrap();
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["model", "max_tokens", "messages", "x"]);
        assert_eq!(fields[0].1.string.as_deref(), Some("claude"));
        assert_eq!(fields[1].1.number, Some(1024.0));
        assert_eq!(fields[2].1.items, Some(1));
        // "user" (4 letters) and "héllo" (4 letters, 1 other), not the keys.
        assert!((fields[2].1.text_tokens - (8.0 * 0.27 + 0.6)).abs() < 1e-9, "{}", fields[2].1.text_tokens);
    }

    #[test]
    fn escapes_count_as_the_characters_they_stand_for() {
        let fields = object_fields(r#"{"s":"a\n\u00e9\ud83d\ude00\"","t":"\udc00x"}"#).unwrap();
        assert_eq!(fields[0].1.string.as_deref(), Some("a\né😀\""));
        // a, newline, é, the emoji (one pair), quote.
        assert!((fields[0].1.text_tokens - (0.27 + 0.5 + 0.6 + 0.6 + 0.5)).abs() < 1e-9);
        assert_eq!(fields[1].1.string.as_deref(), Some("\u{fffd}x"));
    }

    #[test]
    fn anything_but_one_valid_object_is_refused() {
        for text in ["", "[1]", "{", "{}x", r#"{"a":01}"#, r#"{"a":1.}"#, r#"{"a":tru}"#, "{\"a\":\"\u{1}\"}", r#"{"a":"\q"}"#, r#"{"a" 1}"#, r#"{"a":1,}"#, "name=value"] {
            assert_eq!(object_fields(text), None, "{text:?}");
        }
        assert_eq!(object_fields("{}"), Some(vec![]));
        assert!(object_fields(r#"{"n":-1.5e+3,"m":0,"f":false}"#).is_some());
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_without_recursing_further() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(object_fields(&deep), None);
        let fine = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(object_fields(&fine).is_some());
    }
}
