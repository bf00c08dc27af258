//! The IETF draft as it stands: `RateLimit-Policy` and `RateLimit`.
//!
//! Source: draft-ietf-httpapi-ratelimit-headers-11 ("RateLimit header fields
//! for HTTP"; the List-of-Items form dates from draft-08). Both fields are
//! Structured Field Lists whose Items name a quota policy:
//!
//! - `RateLimit-Policy: "burst";q=100;w=60, "daily";q=1000;w=86400` (§3):
//!   `q` the quota (§3.1.1, required), `w` the window in seconds (§3.1.3),
//!   `qu` the quota unit (§3.1.2) and `pk` the partition key (§3.1.4).
//! - `RateLimit: "burst";r=50;t=30` (§4): `r` the available quota (§4.1.1,
//!   required), `t` the seconds within which no more than `r` may be used
//!   (§4.1.2), `pk` as above.
//!
//! The two fields are joined by policy name (§4.1: "Each service limit Item
//! identifies the quota policy"), one dimension per name, named as the
//! server names it. `t` is delay-seconds, so the reset needs no clock skew
//! correction (§4.1.2 chose it for that reason). The refill is a window: the
//! quota is back when `t` has passed, not trickling in before.
//!
//! `qu` and `pk` are tolerated and not used: the budget counts whatever
//! unit the policy counts, under the policy's own name, and partitions by
//! origin and model (see DESIGN.md) rather than by a server's opaque key.
//! Other parameters "can be regarded as comments" (§3.1, §4.1) and are.
//! A policy without `q` or a limit without `r` still counts for what it has;
//! a field that is not a valid Structured List is ignored whole (§7).

use super::structured::{count_param, items, policy_name};
use super::{sane_reset, sane_window, Clock, Dimension, HeaderMap, Reading, Refill, Source};

pub(super) fn read(map: &HeaderMap, clock: &Clock, out: &mut Vec<Dimension>) {
    let policies = map.get("ratelimit-policy").map(|v| items(&v)).unwrap_or_default();
    let limits = map.get("ratelimit").map(|v| items(&v)).unwrap_or_default();

    // Names in order of first appearance, policies first; a name repeated
    // within one field counts once, the first time.
    let mut names: Vec<&str> = Vec::new();
    for item in policies.iter().chain(limits.iter()) {
        if let Some(name) = policy_name(&item.bare_item) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }

    for name in names {
        let policy = policies.iter().find(|p| policy_name(&p.bare_item) == Some(name));
        let limit = limits.iter().find(|l| policy_name(&l.bare_item) == Some(name));
        let reading = Reading {
            // The draft's appendix ("RateLimit header fields currently used
            // on the web") also shows `q` on a `RateLimit` item; it is read
            // when no policy gives one.
            limit: policy.and_then(|p| count_param(&p.params, "q")).or_else(|| limit.and_then(|l| count_param(&l.params, "q"))),
            remaining: limit.and_then(|l| count_param(&l.params, "r")),
            reset_at_ms: limit.and_then(|l| count_param(&l.params, "t")).and_then(|t| sane_reset(clock.now_ms + t * 1000.0, clock.now_ms)),
            window_ms: policy.and_then(|p| count_param(&p.params, "w")).and_then(sane_window),
        };
        out.extend(reading.into_dimension(name, Refill::Window, Source::Ietf));
    }
}
