//! The older IETF drafts: `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset`, and `RateLimit-Policy` with numeric policies.
//!
//! Sources: draft-ietf-httpapi-ratelimit-headers-01 §3 (the three fields)
//! and drafts -03 to -07 (the same fields as Structured Field Items, with the
//! policies moved to their own `RateLimit-Policy` field). Servers and API
//! gateways still send this form, so it is read beside the current one.
//!
//! - `RateLimit-Limit: 10` is the "expiring limit", the quota closest to
//!   running out (-01 §3.1). In -01 it may be followed by the policies
//!   themselves: `RateLimit-Limit: 10, 10;w=1, 50;w=60`.
//! - `RateLimit-Policy: 10;w=1, 50;w=60` (-04 to -07) lists the same
//!   policies on their own; its values "are informative".
//! - `RateLimit-Remaining: 50` is the quota left (-01 §3.2).
//! - `RateLimit-Reset: 50` is delay-seconds until the quota resets
//!   (-01 §3.3), so it needs no clock skew correction.
//!
//! One dimension, `requests`, with a window refill. Its window length is the
//! `w` of the policy whose quota equals the expiring limit (-01 §3.1: "A
//! time-window associated to expiring-limit can be communicated via an
//! optional quota-policy value"); when none matches, the window is unknown.
//! A policy named by a String is the current draft's and is left to
//! [`super::ietf`]; only numeric policies belong here.

use super::structured::{count, count_param, items, Item};
use super::{sane_reset, sane_window, Clock, Dimension, HeaderMap, Reading, Refill, Source};

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Vec<Dimension>) {
    let limit_members = map.get("ratelimit-limit").map(|v| items(&v)).unwrap_or_default();
    let policy_members = map.get("ratelimit-policy").map(|v| items(&v)).unwrap_or_default();

    let limit = limit_members.first().and_then(|item| count(&item.bare_item));
    // The policies after the expiring limit (-01), then those of
    // RateLimit-Policy (-04 to -07).
    let policies = limit_members.iter().skip(1).chain(policy_members.iter());
    let window_ms = limit.and_then(|limit| {
        policies.filter(|policy| count(&policy.bare_item) == Some(limit)).find_map(|policy| count_param(&policy.params, "w")).and_then(sane_window)
    });
    let reading = Reading {
        limit,
        remaining: first_count(map, "ratelimit-remaining"),
        reset_at_ms: first_count(map, "ratelimit-reset").and_then(|seconds| sane_reset(clock.now_ms + seconds * 1000.0, clock.now_ms)),
        window_ms,
    };
    out.extend(reading.into_dimension("requests", Refill::Window, Source::IetfLegacy));
}

/// A field that holds one non-negative Integer (as an Item, or as the first
/// member of a List, which parses the same way).
fn first_count(map: &HeaderMap, name: &str) -> Option<f64> {
    let value = map.get(name)?;
    items(&value).first().and_then(|item: &Item| count(&item.bare_item))
}
