//! Which prompt prefixes are warm in the server's cache, and what a call
//! that begins with one will be charged.
//!
//! A call whose body marks prefixes for caching ([`Breakpoint`]s, found by
//! [`crate::estimate::cache`]) writes them to the cache when the server
//! answers it; from then until their time to live runs out (renewed by
//! each use) a call that begins with one reads it, and on current Anthropic
//! models a cache read does not count against input tokens per minute. So:
//!
//! - a call is queued at its estimate less the tokens of its longest warm
//!   prefix, in the same partition (the first call of a prefix, and the
//!   calls sent before its answer came, write it and pay in full);
//! - a successful answer makes its call's prefixes warm, or renews them;
//!   when one turns warm, the calls queued with it are charged anew;
//! - a prefix shorter than [`MIN_CACHED_TOKENS`] is never cached by the
//!   server and never counts as warm;
//! - an answer whose `usage` shows neither a cache read nor a cache write
//!   marks its prefixes cold for good (a model that needs a longer prefix,
//!   or a server that does not cache): they are never taken off again;
//! - with `cacheReadsCount` (models on which cache reads still count), no
//!   prefix is ever taken off.
//!
//! What is kept is bounded: at most [`MAX_PREFIXES`] warm and cold
//! prefixes, the breakpoints of live calls only.

use super::CallId;
use crate::budget::Cost;
use crate::estimate::cache::PrefixHash;
use crate::estimate::Breakpoint;
use crate::ids::IdMap;

/// The fewest tokens a prefix must have for the server to cache it
/// (Anthropic's least, for Sonnet and Opus models; models that need more
/// are found out by the `usage` of their answers).
pub const MIN_CACHED_TOKENS: f64 = 1_024.0;

/// The most prefixes kept, warm or cold.
pub const MAX_PREFIXES: usize = 1_024;

#[derive(Debug, Default)]
pub(super) struct PromptCache {
    /// Reads count like any input (`cacheReadsCount`): nothing is tracked.
    reads_count: bool,
    /// Until when each prefix is warm, by partition and prefix ([`slot`]);
    /// `NEG_INFINITY` for one found cold.
    prefixes: IdMap<u64, f64>,
    /// The breakpoints of live calls that have any.
    calls: IdMap<CallId, Box<[Breakpoint]>>,
}

/// One prefix in one partition.
fn slot(key: &str, hash: u64) -> u64 {
    let mut partition = PrefixHash::default();
    partition.name(key);
    partition.value().rotate_left(29) ^ hash
}

impl PromptCache {
    pub(super) fn new(reads_count: bool) -> PromptCache {
        PromptCache { reads_count, ..PromptCache::default() }
    }

    /// A new call and its breakpoints.
    pub(super) fn track(&mut self, call: CallId, breakpoints: Vec<Breakpoint>) {
        if !self.reads_count && breakpoints.iter().any(|b| b.tokens >= MIN_CACHED_TOKENS) {
            self.calls.insert(call, breakpoints.into_boxed_slice());
        }
    }

    /// A call that ended.
    pub(super) fn forget(&mut self, call: CallId) {
        self.calls.remove(&call);
    }

    /// Prefixes kept, warm or cold.
    #[cfg(test)]
    pub(super) fn prefixes(&self) -> usize {
        self.prefixes.len()
    }

    /// The calls with breakpoints.
    pub(super) fn calls(&self) -> impl Iterator<Item = CallId> + '_ {
        self.calls.keys().copied()
    }

    /// `cost` (with `guessed` input tokens a guess) less its longest warm
    /// prefix at `now`.
    pub(super) fn charged(&self, key: &str, call: CallId, mut cost: Cost, guessed: f64, now: f64) -> Cost {
        let Some(breakpoints) = self.calls.get(&call) else { return cost };
        let warm = |b: &&Breakpoint| self.prefixes.get(&slot(key, b.hash)).is_some_and(|&until| until > now);
        let read = breakpoints.iter().filter(warm).map(|b| b.tokens).fold(0.0, f64::max);
        // Never below what is a guess, nor below nothing.
        let read = read.min(cost.input_tokens - guessed).max(0.0);
        cost.input_tokens -= read;
        cost.tokens = (cost.tokens - read).max(0.0);
        cost
    }

    /// A call's answer was a success at `now`: its prefixes are warm (or
    /// renewed). True when one of them was not warm before.
    pub(super) fn answered(&mut self, key: &str, call: CallId, now: f64) -> bool {
        let Some(breakpoints) = self.calls.get(&call) else { return false };
        let mut turned = false;
        for b in breakpoints.iter().filter(|b| b.tokens >= MIN_CACHED_TOKENS) {
            let until = self.prefixes.get_or_insert(slot(key, b.hash), f64::MIN);
            if *until == f64::NEG_INFINITY {
                continue;
            }
            turned |= *until <= now;
            *until = until.max(now + b.ttl_ms);
        }
        self.bound(now);
        turned
    }

    /// An answer's usage showed neither a cache read nor a write for a call
    /// with these breakpoints: the server does not cache them. True when
    /// one of them was counted warm.
    pub(super) fn cold(&mut self, key: &str, breakpoints: &[Breakpoint], now: f64) -> bool {
        let mut was_warm = false;
        for b in breakpoints {
            let until = self.prefixes.insert(slot(key, b.hash), f64::NEG_INFINITY);
            was_warm |= until.is_some_and(|until| until > now);
        }
        self.bound(now);
        was_warm
    }

    /// Past [`MAX_PREFIXES`], expired prefixes go first, then warm ones,
    /// and prefixes found cold only when nothing else is left (forgetting
    /// one would take it off calls again).
    fn bound(&mut self, now: f64) {
        if self.prefixes.len() <= MAX_PREFIXES {
            return;
        }
        self.prefixes.retain(|_, until| *until == f64::NEG_INFINITY || *until > now);
        for cold in [false, true] {
            let excess = self.prefixes.len().saturating_sub(MAX_PREFIXES);
            let drop: Vec<u64> =
                self.prefixes.iter().filter(|(_, until)| (**until == f64::NEG_INFINITY) == cold).map(|(slot, _)| *slot).take(excess).collect();
            for slot in drop {
                self.prefixes.remove(&slot);
            }
        }
    }
}
