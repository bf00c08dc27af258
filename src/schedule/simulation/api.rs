//! The simulated API: server-side buckets and the headers a real server sends.
//!
//! Two styles. `Anthropic`: token buckets per model for requests, input and
//! output tokens, refilled continuously at `limit` per minute, as
//! Anthropic's rate-limit page documents them. A call is charged when it is
//! admitted, output at its `max_tokens`, and refused with 429 and
//! `retry-after` (whole seconds) when a bucket would go negative; when the
//! model has written its answer ([`SimulatedApi::give_back`]) the output it
//! did not write (`max_tokens` less the tokens written) goes back to the
//! output bucket. Its answers carry `anthropic-ratelimit-*` headers as the
//! API documents them: resets in RFC 3339 whole seconds, token `remaining`
//! rounded to the nearest thousand, `tokens-*` repeating the most
//! restrictive token limit, and a `Date`. Whether they describe the server
//! as it admits the call or as it answers is the caller's choice (see
//! `wire`). `GitHub`: one fixed window of requests aligned to the epoch,
//! with `x-ratelimit-{limit,remaining,used,reset,resource}` (reset in epoch
//! seconds) and 429 without `retry-after` when the window is spent.
//!
//! Prompt caching: a call may begin with a [`Prefix`] marked for caching.
//! The server keeps, per prefix, when it becomes readable and when it was
//! last written or read; an entry lives [`CACHE_TTL_MS`] after its last use.
//! A call admitted while its prefix is readable is a cache read: charged
//! only its uncached input tokens against input tokens per minute (reads
//! are free for current models). Any other call with a prefix (the first,
//! or one admitted when the entry is absent, expired or not yet readable)
//! is a cache write, charged in full. A written entry is readable from the
//! writer's admission plus its time to first token: concurrent first
//! requests miss the cache, as documented.
//!
//! A server made `quiet` sends neither family of headers: only a `Date`,
//! and `retry-after` on a 429 (as many APIs do), so a client learns nothing
//! of its limits but its refusals.

use std::collections::HashMap;

/// Which kind of server to simulate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    /// Continuous buckets: requests, input and output tokens per minute.
    Anthropic { requests: f64, input_tokens: f64, output_tokens: f64 },
    /// A fixed window of `requests` per `window_ms`.
    GitHub { requests: f64, window_ms: f64 },
}

#[derive(Clone, Debug)]
enum Refill {
    Continuous { per_ms: f64 },
    Window { window_ms: f64 },
}

#[derive(Clone, Debug)]
struct ServerBucket {
    /// The header family: `requests`, `input-tokens`, `output-tokens`.
    family: &'static str,
    limit: f64,
    level: f64,
    at_ms: f64,
    refill: Refill,
}

impl ServerBucket {
    fn level_at(&self, t: f64) -> f64 {
        match self.refill {
            Refill::Continuous { per_ms } => (self.level + per_ms * (t - self.at_ms)).min(self.limit),
            Refill::Window { window_ms } if (t / window_ms).floor() > (self.at_ms / window_ms).floor() => self.limit,
            Refill::Window { .. } => self.level,
        }
    }

    /// How long until the level reaches `need`.
    fn wait_for(&self, need: f64, t: f64) -> f64 {
        let short = need - self.level_at(t);
        match self.refill {
            _ if short <= 0.0 => 0.0,
            Refill::Continuous { per_ms } => short / per_ms,
            Refill::Window { .. } => self.reset_at(t) - t,
        }
    }

    /// When the bucket is full again (continuous) or the window turns.
    fn reset_at(&self, t: f64) -> f64 {
        match self.refill {
            Refill::Continuous { per_ms } => t + (self.limit - self.level_at(t)) / per_ms,
            Refill::Window { window_ms } => ((t / window_ms).floor() + 1.0) * window_ms,
        }
    }

    fn charge(&mut self, amount: f64, t: f64) {
        self.level = self.level_at(t) - amount;
        self.at_ms = t;
    }
}

/// How long a prompt-cache entry lives after it was last written or read
/// (Anthropic's default TTL).
pub const CACHE_TTL_MS: f64 = 300_000.0;

/// What one call asks of the server.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Demand {
    /// Every input token of the call, its cacheable prefix included.
    pub input_tokens: f64,
    /// Its `max_tokens`: the output charged at admission.
    pub output_tokens: f64,
    /// The first input tokens, marked for caching.
    pub prefix: Option<Prefix>,
}

/// A prefix of a call's input marked for caching (a system prompt, say):
/// calls with the same `id` share it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prefix {
    pub id: u32,
    pub tokens: f64,
}

/// How the server took a call it admitted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cached {
    /// No prefix marked for caching.
    No,
    /// Its prefix was read from the cache: not charged.
    Read,
    /// Its prefix was written to the cache: charged in full.
    Written,
}

/// A cached prefix at the server.
#[derive(Clone, Copy, Debug)]
struct CacheEntry {
    /// From when it can be read (its first writer's time to first token
    /// after its admission).
    readable_from: f64,
    /// When it was last written or read.
    used_at: f64,
}

/// The server: its buckets, and totals of what it accepted.
#[derive(Clone, Debug)]
pub struct SimulatedApi {
    style: Style,
    buckets: Vec<ServerBucket>,
    /// Units charged per family for the calls of the client under test, net
    /// of the output given back.
    pub accepted_ours: [f64; 3],
    /// Background calls accepted: when, and units per family.
    pub background_log: Vec<(f64, [f64; 3])>,
    /// Send no rate-limit headers (see the module's docs).
    pub quiet: bool,
    cache: HashMap<u32, CacheEntry>,
    /// Our calls admitted with a cache read, and with a cache write.
    pub cache_reads: u32,
    pub cache_writes: u32,
}

impl SimulatedApi {
    /// A server whose buckets are full at `now_ms`, less `drained` (a share
    /// of each token bucket another client has just spent).
    pub fn new(style: Style, now_ms: f64, drained: f64) -> SimulatedApi {
        let minute = 60_000.0;
        let continuous = |family, limit: f64, drain: f64| ServerBucket {
            family,
            limit,
            level: limit * (1.0 - drain),
            at_ms: now_ms,
            refill: Refill::Continuous { per_ms: limit / minute },
        };
        let buckets = match style {
            Style::Anthropic { requests, input_tokens, output_tokens } => vec![
                continuous("requests", requests, 0.0),
                continuous("input-tokens", input_tokens, drained),
                continuous("output-tokens", output_tokens, drained),
            ],
            Style::GitHub { requests, window_ms } => vec![ServerBucket {
                family: "requests",
                limit: requests,
                level: requests * (1.0 - drained),
                at_ms: now_ms,
                refill: Refill::Window { window_ms },
            }],
        };
        SimulatedApi {
            style,
            buckets,
            accepted_ours: [0.0; 3],
            background_log: Vec::new(),
            quiet: false,
            cache: HashMap::new(),
            cache_reads: 0,
            cache_writes: 0,
        }
    }

    /// The families, limits per minute and starting levels, in the order
    /// of the accepted totals.
    pub fn families(&self) -> Vec<(&'static str, f64)> {
        self.buckets.iter().map(|b| (b.family, b.limit)).collect()
    }

    fn need(family: &str, input_tokens: f64, demand: &Demand) -> f64 {
        match family {
            "input-tokens" => input_tokens,
            "output-tokens" => demand.output_tokens,
            _ => 1.0,
        }
    }

    /// Whether a call with `prefix` admitted at `t` reads it from the cache.
    fn readable(&self, prefix: Option<Prefix>, t: f64) -> Cached {
        match prefix.map(|p| self.cache.get(&p.id)) {
            None => Cached::No,
            Some(Some(e)) if e.readable_from <= t && t < e.used_at + CACHE_TTL_MS => Cached::Read,
            Some(_) => Cached::Written,
        }
    }

    /// A call arrives at `t`: charged and accepted, or refused with the
    /// time until every bucket has room. `first_token_ms` after its
    /// admission, the prefix it writes to the cache becomes readable.
    pub fn receive(&mut self, demand: &Demand, t: f64, ours: bool, first_token_ms: f64) -> Result<Cached, f64> {
        let cached = self.readable(demand.prefix, t);
        let input_tokens = match (cached, demand.prefix) {
            (Cached::Read, Some(p)) => demand.input_tokens - p.tokens,
            _ => demand.input_tokens,
        };
        let wait = self.buckets.iter().map(|b| b.wait_for(Self::need(b.family, input_tokens, demand), t)).fold(0.0, f64::max);
        if wait > 0.0 {
            return Err(wait);
        }
        let mut amounts = [0.0; 3];
        for (i, b) in self.buckets.iter_mut().enumerate() {
            amounts[i] = Self::need(b.family, input_tokens, demand);
            b.charge(amounts[i], t);
        }
        if let Some(p) = demand.prefix {
            let readable_from = t + first_token_ms;
            let entry = self.cache.entry(p.id).or_insert(CacheEntry { readable_from, used_at: t });
            if cached == Cached::Written && t >= entry.used_at + CACHE_TTL_MS {
                // Expired: written anew.
                entry.readable_from = readable_from;
            }
            entry.readable_from = entry.readable_from.min(readable_from);
            entry.used_at = t;
        }
        if ours {
            self.accepted_ours.iter_mut().zip(amounts).for_each(|(total, a)| *total += a);
            match cached {
                Cached::Read => self.cache_reads += 1,
                Cached::Written => self.cache_writes += 1,
                Cached::No => {}
            }
        } else {
            self.background_log.push((t, amounts));
        }
        Ok(cached)
    }

    /// A call of ours admitted with `max_tokens` has been written at `t`,
    /// `written` tokens of it: the rest goes back to the output bucket.
    pub fn give_back(&mut self, max_tokens: f64, written: f64, t: f64) {
        let unused = (max_tokens - written).max(0.0);
        if unused <= 0.0 {
            return;
        }
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if b.family == "output-tokens" {
                b.charge(-unused, t);
                b.level = b.level.min(b.limit);
                self.accepted_ours[i] -= unused;
            }
        }
    }

    /// The response headers of an answer generated at `t`.
    pub fn headers(&self, t: f64, retry_after_ms: Option<f64>) -> Vec<(String, String)> {
        let mut out = vec![("date".to_string(), imf_fixdate(t))];
        if let Some(ms) = retry_after_ms {
            out.push(("retry-after".to_string(), format!("{}", (ms / 1000.0).ceil().max(1.0))));
        }
        match self.style {
            _ if self.quiet => {}
            Style::Anthropic { .. } => {
                let fields = |family: &str, b: &ServerBucket| {
                    let level = b.level_at(t).max(0.0);
                    let remaining = if b.family == "requests" { level.floor() } else { (level / 1000.0).round() * 1000.0 };
                    let reset = (b.reset_at(t) / 1000.0).ceil() * 1000.0;
                    [("limit", format!("{}", b.limit)), ("remaining", format!("{remaining}")), ("reset", rfc3339(reset))]
                        .map(|(field, value)| (format!("anthropic-ratelimit-{family}-{field}"), value))
                };
                for b in &self.buckets {
                    out.extend(fields(b.family, b));
                }
                // `tokens-*`: the most restrictive token limit in effect.
                let tightest = self
                    .buckets
                    .iter()
                    .filter(|b| b.family != "requests")
                    .min_by(|a, b| (a.level_at(t) / a.limit).total_cmp(&(b.level_at(t) / b.limit)));
                if let Some(b) = tightest {
                    out.extend(fields("tokens", b));
                }
            }
            Style::GitHub { .. } => {
                for b in &self.buckets {
                    let remaining = b.level_at(t).max(0.0).floor();
                    out.extend([
                        ("x-ratelimit-limit".to_string(), format!("{}", b.limit)),
                        ("x-ratelimit-remaining".to_string(), format!("{remaining}")),
                        ("x-ratelimit-used".to_string(), format!("{}", b.limit - remaining)),
                        ("x-ratelimit-reset".to_string(), format!("{}", (b.reset_at(t) / 1000.0).ceil())),
                        ("x-ratelimit-resource".to_string(), "core".to_string()),
                    ]);
                }
            }
        }
        out
    }
}

/// The civil date of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), and the weekday (0 = Monday).
fn civil(ms: f64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let seconds = (ms / 1000.0).floor() as i64;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 3).rem_euclid(7) as usize;
    (year, month, day, (of_day / 3600) as u32, (of_day / 60 % 60) as u32, (of_day % 60) as u32, weekday)
}

/// `2026-05-18T22:01:00Z`, in whole seconds.
pub fn rfc3339(ms: f64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `Mon, 18 May 2026 22:00:00 GMT`, the seconds truncated as servers do.
pub fn imf_fixdate(ms: f64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let (y, mo, d, h, mi, s, wd) = civil(ms);
    format!("{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT", WEEKDAYS[wd], MONTHS[(mo - 1) as usize])
}
