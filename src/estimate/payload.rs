//! The bytes of a base64 payload, read by position without decoding the rest.
//!
//! Four base64 characters hold three bytes, so byte `n` of a payload lies in
//! the four characters from `4 × (n / 3)`: a header (an image's size) or a
//! window (a PDF's first and last kilobytes) is read from the body where it
//! lies, a few characters at a time. A payload whose JSON string holds
//! escapes (`\/`) cannot be read by position; only its head is available.

use super::json::Str;
use super::source::{read, Source};

/// A base64 payload inside a body: the value of an Anthropic `source.data`,
/// or the part of a data URL after its comma.
pub struct Payload<'a> {
    source: &'a dyn Source,
    /// Where its base64 starts in the body, when it can be read by position.
    start: Option<usize>,
    /// Its first base64 characters (what the JSON string's head holds).
    head: &'a str,
    /// Its base64 characters, padding included.
    chars: usize,
}

/// A data URL's media type and whether it says `;base64`, with the length of
/// its prefix up to and including the comma (RFC 2397).
pub fn data_url(head: &str) -> Option<(&str, bool, usize)> {
    let rest = head.strip_prefix("data:")?;
    let comma = rest.find(',')?;
    let meta = &rest[..comma];
    let base64 = meta.split(';').skip(1).any(|p| p.eq_ignore_ascii_case("base64"));
    let media_type = meta.split(';').next().unwrap_or("");
    Some((media_type, base64, "data:".len() + comma + 1))
}

impl<'a> Payload<'a> {
    /// The payload of a string, from `skip` characters on (a data URL's
    /// prefix).
    pub fn new(source: &'a dyn Source, string: &'a Str, skip: usize) -> Payload<'a> {
        let head = string.text.as_deref().unwrap_or("");
        let head = head.get(skip..).unwrap_or("");
        let chars = string.span.len().saturating_sub(skip);
        Payload { source, start: string.plain.then_some(string.span.start + skip), head, chars }
    }

    /// Its length in bytes, about (exact for a payload read by position).
    pub fn len(&self) -> usize {
        let padding = match self.start {
            Some(start) if self.chars >= 2 => {
                let tail = read(self.source, start + self.chars - 2, start + self.chars);
                tail.bytes().filter(|&b| b == b'=').count()
            }
            _ => 0,
        };
        (self.chars / 4 * 3 + (self.chars % 4 * 3 / 4)).saturating_sub(padding)
    }

    /// Up to `count` bytes from byte `offset`: fewer at the end, or where the
    /// base64 is not valid, or beyond the head of a payload with escapes.
    pub fn bytes(&self, offset: usize, count: usize) -> Vec<u8> {
        let first = offset / 3 * 4;
        let last = (offset + count).div_ceil(3) * 4;
        let text = match self.start {
            Some(start) => read(self.source, start + first, start + last.min(self.chars)),
            None => self.head.get(first.min(self.head.len())..last.min(self.head.len() / 4 * 4)).unwrap_or("").into(),
        };
        let mut bytes = decode(&text);
        bytes.drain(..(offset % 3).min(bytes.len()));
        bytes.truncate(count);
        bytes
    }
}

/// Decode base64 (standard or URL-safe alphabet), stopping at padding or at
/// the first character that is not base64.
pub fn decode(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut bits, mut held) = (0u32, 0u32);
    for b in text.bytes() {
        let value = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => break,
        };
        bits = bits << 6 | u32::from(value);
        held += 6;
        if held >= 8 {
            held -= 8;
            bytes.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    bytes
}

/// Whether a text looks like base64 and not like prose: only base64
/// characters, and no spaces.
pub fn looks_like_base64(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='))
}

#[cfg(test)]
mod tests {
    use super::super::json::{parse, Value};
    use super::*;
    use base64::{engine::general_purpose::STANDARD, Engine};

    fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn any_range_of_bytes_reads_as_decoded() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(5_000).collect();
        let body = format!(r#"{{"data":"{}"}}"#, encode(&bytes));
        let source = body.as_str();
        let value = parse(&source).unwrap();
        let Some(Value::Str(s)) = value.get("data") else { panic!() };
        let payload = Payload::new(&source, s, 0);
        assert_eq!(payload.len(), bytes.len());
        for (offset, count) in [(0, 10), (1, 1), (2, 7), (3, 3), (4_990, 50), (1_234, 321)] {
            let end = (offset + count).min(bytes.len());
            assert_eq!(payload.bytes(offset, count), bytes[offset..end], "{offset}+{count}");
        }
    }

    #[test]
    fn lengths_count_padding() {
        for n in [1, 2, 3, 4, 700, 701, 702] {
            let bytes = vec![7u8; n];
            let body = format!(r#"{{"data":"{}"}}"#, encode(&bytes));
            let source = body.as_str();
            let value = parse(&source).unwrap();
            let Some(Value::Str(s)) = value.get("data") else { panic!() };
            assert_eq!(Payload::new(&source, s, 0).len(), n, "{n} bytes");
        }
    }

    #[test]
    fn data_urls_give_their_type_and_encoding() {
        assert_eq!(data_url("data:image/png;base64,iVBOR"), Some(("image/png", true, 22)));
        assert_eq!(data_url("data:application/pdf;name=a.pdf;base64,JVBER"), Some(("application/pdf", true, 39)));
        assert_eq!(data_url("data:text/plain,hello"), Some(("text/plain", false, 16)));
        assert_eq!(data_url("https://example.com/a.png"), None);
    }
}
