//! The scheduler's settings.

use crate::budget::Limits;

/// The most tokens (input plus output, as estimated) the calls of a probe
/// hold together in flight; its first call goes whatever its size. Below
/// the smallest published token limits per minute (Anthropic's first tier
/// allows 8,000 output tokens a minute, OpenAI's first tier 30,000
/// tokens), so a probe of small calls answers sooner than a probe of one
/// without spending a budget it does not know yet.
pub const PROBE_TOKENS: f64 = 8_000.0;

/// The scheduler's settings; defaults in [`Config::default`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Calls in flight at most, over all partitions.
    pub max_concurrent: u32,
    /// Calls in flight in a partition before its first response (its
    /// probe). Beyond the first, a probe's calls also stay within
    /// [`PROBE_TOKENS`] together.
    pub probe_concurrency: u32,
    /// Calls waiting at most, over all partitions; one more is refused.
    pub max_queue: usize,
    /// Limits known before any response (applied to every partition).
    pub limits: Option<Limits>,
    /// The window assumed where a server names no reset or window length.
    pub default_window_ms: f64,
    /// How many waiters behind a blocked head are considered for backfill
    /// (0 turns backfill off). Bounds the work of one poll.
    pub backfill_scan: usize,
    /// Seed of the generator that jitters overload backoff. Give clients
    /// that share an API different seeds so they do not retry in step.
    pub seed: u64,
    /// Whether admission waits for the local budget. Off while a coordinator
    /// keeps the budget for many schedulers: this one then only orders its
    /// calls and bounds their concurrency (responses still update the local
    /// budget, ready for when the coordinator cannot be reached).
    pub local_budget: bool,
    /// The part of each limit this scheduler may use, in (0, 1]: the rest is
    /// left for others that share the budget and cannot be seen (a
    /// coordinator's clients while it is unreachable).
    pub share: f64,
    /// Hold every call's reservation until its own answer (a coordinator:
    /// its grants are sent by other isolates, each after its own round
    /// trip, so dispatch order is not the order the server counts them in).
    pub hold_until_answered: bool,
    /// The longest pause (a 429's retry-after or reset) a call waits out:
    /// while its partition is paused for longer, a call to it is refused
    /// with [`Refusal::RateLimited`](super::Refusal::RateLimited) at once (`maxRetryAfterMs`).
    pub max_pause_wait_ms: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent: 32,
            probe_concurrency: 4,
            max_queue: usize::MAX,
            limits: None,
            default_window_ms: 60_000.0,
            backfill_scan: 32,
            seed: 0x6865_6164_726f_6f6d,
            local_budget: true,
            share: 1.0,
            hold_until_answered: false,
            max_pause_wait_ms: 60_000.0,
        }
    }
}
