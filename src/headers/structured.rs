//! Reading the IETF rate-limit fields as Structured Field Values.
//!
//! Both IETF dialects write their fields as RFC 9651 Lists (Structured Field
//! Values for HTTP, §3.1): members separated by commas, each an Item with
//! `;key=value` parameters. This file parses such a List by RFC 9651's
//! algorithms (§4.2), every type included, and keeps of each Item what the
//! dialects ask: an Integer, a String or Token as a name, and its parameters.
//! A field that fails the algorithms is ignored whole, as both RFC 9651 §4.2
//! ("fail parsing") and the rate-limit draft ("Malformed RateLimit header
//! fields MUST be ignored", §7) require. The tests hold it to the `sfv`
//! crate's parser on every field they make; the `.wasm` carries this one,
//! a fraction of that crate's code.

use super::MAX_COUNT;

/// At most this many members of one field are read. Documented servers send
/// one to four policies; the cap keeps a hostile field from making thousands
/// of budget dimensions.
pub(super) const MAX_MEMBERS: usize = 32;

/// An Item's bare value, as far as the dialects read it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum BareItem {
    Integer(i64),
    /// A String or a Token.
    Name(String),
    /// A Decimal, Boolean, Byte Sequence, Date or Display String: valid,
    /// and meaning nothing to either dialect.
    Other,
}

impl BareItem {
    fn as_integer(&self) -> Option<i64> {
        match self {
            BareItem::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

/// An Item of a List: its value and its parameters, in order (a key given
/// twice keeps its last value, as RFC 9651 §4.2.3.2 overwrites it).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Item {
    pub bare_item: BareItem,
    pub params: Parameters,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Parameters(Vec<(String, BareItem)>);

impl Parameters {
    pub(super) fn get(&self, key: &str) -> Option<&BareItem> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// The Items of a List field, in order, or none if the field does not parse.
/// Inner Lists (RFC 9651 §3.1.1) carry no meaning in either draft and are
/// skipped.
pub(super) fn items(value: &str) -> Vec<Item> {
    let mut parser = Parser { input: value.as_bytes(), at: 0 };
    parser.list().unwrap_or_default()
}

/// RFC 9651 §4.2's parsing algorithms over the bytes of a field; `None` is
/// "fail parsing".
struct Parser<'a> {
    input: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let here = self.peek() == Some(byte);
        self.at += usize::from(here);
        here
    }

    /// Spaces, and with `also_tab` tabs too (RFC 9651's OWS).
    fn skip(&mut self, also_tab: bool) {
        while self.eat(b' ') || (also_tab && self.eat(b'\t')) {}
    }

    /// §4.2 and §4.2.1: a List, with the spaces around it; Inner Lists are
    /// parsed and dropped, and Items past [`MAX_MEMBERS`] parsed and not
    /// kept.
    fn list(&mut self) -> Option<Vec<Item>> {
        let mut items = Vec::new();
        self.skip(false);
        while self.peek().is_some() {
            if self.peek() == Some(b'(') {
                self.inner_list()?;
            } else {
                let item = self.item()?;
                if items.len() < MAX_MEMBERS {
                    items.push(item);
                }
            }
            self.skip(true);
            if self.peek().is_none() {
                break;
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip(true);
            self.peek()?;
        }
        // Trailing spaces were taken as the whitespace after a member.
        Some(items)
    }

    /// §4.2.1.2: an Inner List and its parameters, checked and dropped.
    fn inner_list(&mut self) -> Option<()> {
        self.at += 1;
        while self.peek().is_some() {
            self.skip(false);
            if self.eat(b')') {
                self.parameters()?;
                return Some(());
            }
            self.item()?;
            if !matches!(self.peek(), None | Some(b' ' | b')')) {
                return None;
            }
        }
        None
    }

    /// §4.2.3.
    fn item(&mut self) -> Option<Item> {
        let bare_item = self.bare_item()?;
        Some(Item { bare_item, params: self.parameters()? })
    }

    /// §4.2.3.2: later values of a key overwrite earlier ones.
    fn parameters(&mut self) -> Option<Parameters> {
        let mut params = Vec::new();
        while self.eat(b';') {
            self.skip(false);
            let key = self.key()?;
            let value = if self.eat(b'=') { self.bare_item()? } else { BareItem::Other };
            params.push((key, value));
        }
        Some(Parameters(params))
    }

    /// §4.2.3.3.
    fn key(&mut self) -> Option<String> {
        let start = self.at;
        if !matches!(self.peek()?, b'a'..=b'z' | b'*') {
            return None;
        }
        self.at += 1;
        while matches!(self.peek(), Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')) {
            self.at += 1;
        }
        Some(ascii(&self.input[start..self.at]))
    }

    /// §4.2.3.1.
    fn bare_item(&mut self) -> Option<BareItem> {
        match self.peek()? {
            b'-' | b'0'..=b'9' => self.number().map(|n| n.map_or(BareItem::Other, BareItem::Integer)),
            b'"' => self.string().map(BareItem::Name),
            b'A'..=b'Z' | b'a'..=b'z' | b'*' => Some(BareItem::Name(self.token())),
            b':' => self.byte_sequence().map(|()| BareItem::Other),
            b'?' => {
                self.at += 1;
                (self.eat(b'0') || self.eat(b'1')).then_some(BareItem::Other)
            }
            b'@' => {
                self.at += 1;
                // A Date is an Integer (§4.2.9).
                self.number()?.map(|_| BareItem::Other)
            }
            b'%' => self.display_string().map(|()| BareItem::Other),
            _ => None,
        }
    }

    /// §4.2.4: `Some(Some(n))` for an Integer, `Some(None)` for a valid
    /// Decimal.
    fn number(&mut self) -> Option<Option<i64>> {
        let negative = self.eat(b'-');
        let mut magnitude: i64 = 0;
        let mut digits = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            digits += 1;
            if digits > 15 {
                return None;
            }
            magnitude = magnitude * 10 + i64::from(digit - b'0');
            self.at += 1;
        }
        if digits == 0 {
            return None;
        }
        if !self.eat(b'.') {
            return Some(Some(if negative { -magnitude } else { magnitude }));
        }
        if digits > 12 {
            return None;
        }
        let mut fraction = 0;
        while let Some(b'0'..=b'9') = self.peek() {
            fraction += 1;
            if fraction > 3 {
                return None;
            }
            self.at += 1;
        }
        (fraction > 0).then_some(None)
    }

    /// §4.2.5.
    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut text = String::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(text);
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.peek().filter(|b| matches!(b, b'"' | b'\\'))?;
                    text.push(char::from(escaped));
                }
                byte @ 0x20..=0x7e => text.push(char::from(byte)),
                _ => return None,
            }
            self.at += 1;
        }
    }

    /// §4.2.6: a Token (tchar, `:` and `/` after its first character).
    fn token(&mut self) -> String {
        let start = self.at;
        self.at += 1;
        while let Some(byte) = self.peek() {
            let tchar = byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&byte);
            if !tchar {
                break;
            }
            self.at += 1;
        }
        ascii(&self.input[start..self.at])
    }

    /// §4.2.7: a Byte Sequence, checked as base64 (padding optional, extra
    /// bits in the last character allowed) and not decoded.
    fn byte_sequence(&mut self) -> Option<()> {
        self.at += 1;
        let start = self.at;
        let length = self.input[start..].iter().position(|b| *b == b':')?;
        let body = &self.input[start..start + length];
        self.at += length + 1;
        let symbol = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/');
        if body.is_empty() {
            return Some(());
        }
        // The last group of one to four characters: two symbols, then
        // symbols or padding, and no symbol after padding.
        let last = match body.len() % 4 {
            0 => 4,
            rest => rest,
        };
        let (whole, tail) = body.split_at(body.len() - last);
        let padded = tail.iter().skip(2).skip_while(|b| symbol(b)).all(|b| *b == b'=');
        (whole.iter().all(symbol) && last >= 2 && tail[..2].iter().all(symbol) && padded).then_some(())
    }

    /// §4.2.10: a Display String, `%` escapes of lowercase hex whose bytes
    /// are UTF-8.
    fn display_string(&mut self) -> Option<()> {
        self.at += 1;
        if !self.eat(b'"') {
            return None;
        }
        let mut bytes = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return std::str::from_utf8(&bytes).is_ok().then_some(());
                }
                b'%' => {
                    let mut octet = 0;
                    for _ in 0..2 {
                        self.at += 1;
                        let nibble = match self.peek()? {
                            digit @ b'0'..=b'9' => digit - b'0',
                            letter @ b'a'..=b'f' => letter - b'a' + 10,
                            _ => return None,
                        };
                        octet = octet << 4 | nibble;
                    }
                    bytes.push(octet);
                }
                byte @ 0x20..=0x7e => bytes.push(byte),
                _ => return None,
            }
            self.at += 1;
        }
    }
}

/// Bytes the parser has checked to be ASCII, as text.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// A non-negative Integer as a count; anything else (a Decimal, a String, a
/// negative number) is treated as absent. RFC 9651 Integers have at most 15
/// digits, so every one fits under [`MAX_COUNT`].
pub(super) fn count(item: &BareItem) -> Option<f64> {
    let number = item.as_integer()? as f64;
    (0.0..=MAX_COUNT).contains(&number).then_some(number)
}

/// The count in parameter `key`, if present and a non-negative Integer.
pub(super) fn count_param(params: &Parameters, key: &str) -> Option<f64> {
    count(params.get(key)?)
}

/// A policy's name: the draft makes it a String (`"burst"`); a Token
/// (`burst`) is read too, since the working group has proposed switching to
/// Tokens. Empty names are refused: a dimension must be nameable.
pub(super) fn policy_name(item: &BareItem) -> Option<&str> {
    let name = match item {
        BareItem::Name(name) => name.as_str(),
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::{items, BareItem, Item, MAX_MEMBERS};

    /// The `sfv` crate's reading of `value`, in the same terms.
    fn sfv_items(value: &str) -> Vec<Item> {
        fn bare(item: &sfv::BareItem) -> BareItem {
            match item {
                sfv::BareItem::Integer(n) => BareItem::Integer(i64::from(*n)),
                sfv::BareItem::String(s) => BareItem::Name(s.as_str().to_owned()),
                sfv::BareItem::Token(t) => BareItem::Name(t.as_str().to_owned()),
                _ => BareItem::Other,
            }
        }
        let Ok(list) = sfv::Parser::new(value).parse::<sfv::List>() else { return Vec::new() };
        list.into_iter()
            .filter_map(|entry| match entry {
                sfv::ListEntry::Item(item) => Some(item),
                sfv::ListEntry::InnerList(_) => None,
            })
            .take(MAX_MEMBERS)
            .map(|item| Item {
                bare_item: bare(&item.bare_item),
                params: super::Parameters(item.params.iter().map(|(k, v)| (k.as_str().to_owned(), bare(v))).collect()),
            })
            .collect()
    }

    /// Ours, with each key once where it first came, holding its last value
    /// (as `sfv`'s ordered map keeps parameters).
    fn ours(value: &str) -> Vec<Item> {
        items(value)
            .into_iter()
            .map(|item| {
                let mut keys: Vec<String> = Vec::new();
                for (key, _) in &item.params.0 {
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                }
                let params = keys.into_iter().map(|key| (key.clone(), item.params.get(&key).unwrap().clone())).collect();
                Item { bare_item: item.bare_item, params: super::Parameters(params) }
            })
            .collect()
    }

    #[test]
    fn reads_the_drafts_fields_and_refuses_malformed_ones_whole() {
        let read = items(r#""default";q=100;w=60, "burst";q=10;w=1"#);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].bare_item, BareItem::Name("default".into()));
        assert_eq!(read[0].params.get("q"), Some(&BareItem::Integer(100)));
        assert_eq!(read[1].params.get("w"), Some(&BareItem::Integer(1)));
        assert_eq!(items("day;r=5;r=7")[0].params.get("r"), Some(&BareItem::Integer(7)), "the last of a repeated key");
        assert_eq!(items("(1 2), 3;a").len(), 1, "an inner list is skipped");
        for malformed in ["\"default\";q=100,", "1,,2", "1;Q=2", "1.2345", "\"a", "?2", ":YQ=:x", "1 2", "\t1", "1234567890123456"] {
            assert!(items(malformed).is_empty(), "{malformed:?}");
        }
    }

    #[test]
    fn agrees_with_the_sfv_crate_on_random_fields() {
        const PIECES: &[&str] = &[
            ":YQ=:",
            ":YR==:",
            ":YR=:",
            ":+/8=:",
            ":+/+/:",
            ":Y+:",
            "t!$&'^_`|~",
            "a_b",
            ";a_b=1",
            ";_a=1",
            "123456789012.5",
            "123456789012.",
            "12345678901.25",
            "1.123",
            "x,",
            "7, ",
            "\"default\"",
            "\"a\\\"b\"",
            "\"x\\y\"",
            "\"\"",
            "tok",
            "*t/x:y",
            "Ab.c",
            ";q=100",
            ";w=60",
            ";r=5",
            ";t=30",
            ";a",
            "; b=?1",
            ";*k=\"v\"",
            ";Q=1",
            "=",
            ",",
            ", ",
            " ,",
            "\t",
            " ",
            "(",
            ")",
            "(1 2)",
            "( a ;x=1 )",
            "1",
            "-7",
            "0",
            "123456789012345",
            "1234567890123456",
            "1.5",
            "1.",
            "1.2345",
            "1234567890123.4",
            "-",
            "?1",
            "?0",
            "?",
            "@1700000000",
            "@1.5",
            "@-",
            ":aGVsbG8=:",
            ":YQ==:",
            ":YQ:",
            ":Y:",
            ":YQ=x:",
            ":=:",
            "::",
            ":a==b:",
            ":",
            "%\"caf%c3%a9\"",
            "%\"%ff\"",
            "%\"%C3\"",
            "%\"ok\"",
            "%x",
            "\"\u{e9}\"",
            "\u{e9}",
            "\u{1}",
            "\"\u{1}\"",
            ";",
            ";9",
            "#",
            "a;b;c",
            "  ",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut parsed = 0;
        let mut long = 0;
        for round in 0..300_000 {
            // Now and then a field of 30 to 40 valid members, past the 32
            // kept, one of them sometimes a random piece.
            let field: String = if round % 100 == 0 {
                const VALID: &[&str] = &["tok", "1", "\"default\";q=100;w=60", "(1 2)", "?1;a", ":YQ=:", "1.5"];
                let members: Vec<&str> =
                    (0..30 + next(11)).map(|_| if next(20) == 0 { PIECES[next(PIECES.len())] } else { VALID[next(VALID.len())] }).collect();
                members.join(", ")
            } else {
                (0..1 + next(8)).map(|_| PIECES[next(PIECES.len())]).collect()
            };
            let theirs = sfv_items(&field);
            parsed += usize::from(!theirs.is_empty());
            long += usize::from(theirs.len() == MAX_MEMBERS);
            assert_eq!(ours(&field), theirs, "{field:?}");
        }
        // The pieces make fields both ways: a fair share of them parse.
        assert!(parsed > 10_000, "{parsed} fields parsed");
        assert!(long > 0, "no field had more members than are kept");
    }
}
