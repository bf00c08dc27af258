//! Reading the IETF rate-limit fields as Structured Field Values.
//!
//! Both IETF dialects write their fields as RFC 9651 Lists (Structured Field
//! Values for HTTP, §3.1): members separated by commas, each an Item with
//! `;key=value` parameters. This file owns the few questions the dialects ask
//! of such a List (its members, a member's name or number, a parameter as a
//! count) so each dialect reads as its draft does. Parsing itself is left to
//! the `sfv` crate, which implements RFC 9651's algorithms exactly: a field
//! that fails them is ignored whole, as both RFC 9651 §4.2 ("fail parsing")
//! and the rate-limit draft ("Malformed RateLimit header fields MUST be
//! ignored", §7) require.

use super::MAX_COUNT;
use sfv::{BareItem, Item, List, ListEntry, Parameters, Parser};

/// At most this many members of one field are read. Documented servers send
/// one to four policies; the cap keeps a hostile field from making thousands
/// of budget dimensions.
pub(super) const MAX_MEMBERS: usize = 32;

/// The Items of a List field, in order, or none if the field does not parse.
/// Inner Lists (RFC 9651 §3.1.1) carry no meaning in either draft and are
/// skipped.
pub(super) fn items(value: &str) -> Vec<Item> {
    let list: List = match Parser::new(value).parse() {
        Ok(list) => list,
        Err(_) => return Vec::new(),
    };
    list.into_iter()
        .filter_map(|entry| match entry {
            ListEntry::Item(item) => Some(item),
            ListEntry::InnerList(_) => None,
        })
        .take(MAX_MEMBERS)
        .collect()
}

/// A non-negative Integer as a count; anything else (a Decimal, a String, a
/// negative number) is treated as absent. RFC 9651 Integers have at most 15
/// digits, so every one fits under [`MAX_COUNT`].
pub(super) fn count(item: &BareItem) -> Option<f64> {
    let number = i64::from(item.as_integer()?);
    let number = number as f64;
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
        BareItem::String(s) => s.as_str(),
        BareItem::Token(t) => t.as_str(),
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}
