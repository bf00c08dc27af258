//! One dimension's budget as a function of time.

use crate::float::clamp;
use crate::headers::{Dimension, Refill};
use serde::Serialize;

/// How a bucket's level comes back. Saved with its bucket ([`SavedBucket`]):
/// `{ "continuous": { "perMs": … } }` or `{ "window": { "resetAtMs": …, "windowMs": … } }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum BucketRefill {
    /// Linear refill up to the limit at `per_ms` units per millisecond.
    Continuous { per_ms: f64 },
    /// Constant until `reset_at_ms`, then back to the limit; the next reset
    /// is `window_ms` later (the server's `w`, else the default window), so a
    /// window bucket always names a time and never blocks for good.
    Window { reset_at_ms: Option<f64>, window_ms: f64 },
}

/// A dimension's budget: a limit, a level known at a moment, a refill rule.
/// [`Bucket::saved`] saves it whole, so a coordinator can carry on later.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub limit: f64,
    /// What remained at `at_ms`, as the server counts. Negative means the
    /// local estimate overdrew it; refill pays the debt back first.
    level: f64,
    at_ms: f64,
    pub refill: BucketRefill,
    /// When the server last reported this bucket.
    observed_at_ms: f64,
    /// Use the server saw that no call of ours explains (another client on
    /// the same key), per ms, learned across reports; continuous refill is
    /// counted net of it.
    unseen_per_ms: f64,
    /// The level as the server would count it if only our calls used it:
    /// the report, refilled at the server's rate up to the limit, less each
    /// call of ours as it is sent; as of `shadow_at_ms`. The next report's
    /// shortfall from it is others' use (see [`Bucket::learn_unseen`]).
    shadow: f64,
    shadow_at_ms: f64,
}

/// A bucket as saved by [`Bucket::saved`], every field by name; read back
/// by [`Bucket::restore`], which drops a bucket whose numbers are not sane.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedBucket {
    pub limit: f64,
    /// What remained at `at_ms` (negative: overdrawn by local charges).
    pub level: f64,
    pub at_ms: f64,
    pub refill: BucketRefill,
    /// When the server last reported the bucket.
    pub observed_at_ms: f64,
    /// Others' use per ms, as learned (see [`Bucket::learn_unseen`]).
    pub unseen_per_ms: f64,
    /// The level if only our calls used it, as of `shadow_at_ms`.
    pub shadow: f64,
    pub shadow_at_ms: f64,
}

/// The plain view of a bucket for snapshots.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketView {
    pub name: String,
    pub limit: f64,
    pub remaining: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_at_ms: Option<f64>,
    pub refill: Refill,
}

impl Bucket {
    /// A full bucket of `limit` that refills continuously over `window_ms`.
    pub fn full_continuous(limit: f64, window_ms: f64, now_ms: f64) -> Bucket {
        Bucket {
            limit,
            level: limit,
            at_ms: now_ms,
            refill: BucketRefill::Continuous { per_ms: limit / window_ms },
            observed_at_ms: now_ms,
            unseen_per_ms: 0.0,
            shadow: limit,
            shadow_at_ms: now_ms,
        }
    }

    /// A bucket from what a response reported. `previous` keeps what the new
    /// report leaves out (a limit, a rate) from the last one.
    ///
    /// The report describes the bucket at some moment between `sent_at_ms`
    /// (when its call was sent) and `now_ms`: a server may count a call's
    /// headers when it admits it, a whole answer before they arrive. Its
    /// reset says when the bucket is full, whenever it was counted, so the
    /// rate a report implies is counted from the call's sending: a report
    /// dated on its arrival would read the refill of the answer's whole
    /// time as a faster rate, and each next report's shortfall from that
    /// rate as another client's use (see [`Bucket::learn_unseen`]).
    ///
    /// Its count is the level now, though the bucket may have refilled
    /// since. At the documented rate the reset would give the level now
    /// whatever the report's age, but another client's use during the
    /// answer is in neither: the refill left uncounted is the margin for
    /// it. (Read from the reset, with answers of 5 to 15 s and another
    /// client taking 30 % of the limit, the simulation met 7 to 20 429s
    /// per 1,000 calls; at the count, none.)
    pub fn from_observation(dim: &Dimension, previous: Option<&Bucket>, sent_at_ms: f64, now_ms: f64, default_window_ms: f64) -> Option<Bucket> {
        let sent_at_ms = sent_at_ms.min(now_ms);
        let limit = dim.limit.or(previous.map(|b| b.limit)).or(dim.remaining)?;
        // A rounded count may be up to half the rounding above the truth:
        // count on the lowest figure it can stand for.
        let margin = dim.remaining_rounding.map_or(0.0, |r| r / 2.0);
        let remaining = dim.remaining.map(|r| (r - margin).max(0.0).min(limit)).or(previous.map(|b| b.level_at(now_ms)))?;
        let refill = match dim.refill {
            Refill::Continuous => {
                let nominal = limit / default_window_ms;
                let kept = previous.and_then(|b| match b.refill {
                    BucketRefill::Continuous { per_ms } if b.limit == limit => Some(per_ms),
                    _ => None,
                });
                let per_ms = match (dim.reset_at_ms.filter(|reset| *reset > now_ms), dim.remaining) {
                    (Some(reset), Some(reported)) if reported < limit => {
                        let rounding = dim.remaining_rounding.unwrap_or(0.0);
                        let (low, high) = rate_bounds(limit, reported, rounding, reset - now_ms, reset - sent_at_ms);
                        // The documented "per minute" rate when the report is
                        // consistent with it (it is exact, the report is not),
                        // else the last rate if still consistent, else the
                        // report's own figure: the smallest deficit its rounded
                        // count can stand for, over the time from the call's
                        // sending to the reset, the rate of a report counted as
                        // its call was sent (the bucket is then full at the
                        // reset; later, for a report counted afterwards). So
                        // read, a rate is not above the server's unless the
                        // reset was sent earlier than the truth: one above
                        // would read each next report's shortfall from it as
                        // another client's use, and hold back a reserve for it
                        // (read from the largest deficit, with counts rounded
                        // to thousands and a minute of 10 s: rates up to 6 %
                        // high, and up to a second of refill held back to the
                        // end of a burst).
                        [nominal, kept.unwrap_or(f64::NAN)]
                            .into_iter()
                            .find(|rate| (low..=high).contains(rate))
                            .unwrap_or(smallest_deficit(limit, reported, rounding) / (reset - sent_at_ms))
                    }
                    _ => kept.unwrap_or(nominal),
                };
                // No bucket refills slower than full in the longest reset the
                // parser believes: a rate read from a tiny deficit would
                // otherwise leave a later local debt unpaid for ages.
                let slowest = limit / crate::headers::MAX_RESET_MS;
                BucketRefill::Continuous { per_ms: if per_ms.is_finite() && per_ms > 0.0 { per_ms.max(slowest) } else { nominal } }
            }
            Refill::Window => BucketRefill::Window {
                // No reset given: assume the window turns over one window from now.
                // The parser bounds resets; an endless one would block for good.
                reset_at_ms: Some(dim.reset_at_ms.filter(|r| r.is_finite()).unwrap_or(now_ms + default_window_ms)),
                window_ms: dim.window_ms.filter(|w| w.is_finite() && *w > 0.0).unwrap_or(default_window_ms),
            },
        };
        let bucket = Bucket {
            limit,
            level: remaining,
            at_ms: now_ms,
            refill,
            observed_at_ms: now_ms,
            unseen_per_ms: 0.0,
            shadow: remaining,
            shadow_at_ms: now_ms,
        };
        (limit.is_finite() && limit > 0.0).then_some(bucket)
    }

    /// The bucket whole, as plain data, for [`Bucket::restore`].
    pub fn saved(&self) -> SavedBucket {
        SavedBucket {
            limit: self.limit,
            level: self.level,
            at_ms: self.at_ms,
            refill: self.refill,
            observed_at_ms: self.observed_at_ms,
            unseen_per_ms: self.unseen_per_ms,
            shadow: self.shadow,
            shadow_at_ms: self.shadow_at_ms,
        }
    }

    /// The bucket [`Bucket::saved`] gave, or `None` for numbers no bucket
    /// gives (a saved state that was altered or is from elsewhere).
    pub fn restore(saved: &SavedBucket) -> Option<Bucket> {
        let SavedBucket { limit, level, at_ms, refill, observed_at_ms, unseen_per_ms, shadow, shadow_at_ms } = *saved;
        let finite = [limit, level, at_ms, observed_at_ms, unseen_per_ms, shadow, shadow_at_ms].iter().all(|x| x.is_finite());
        // NaN counts as not above 0.
        if !finite || limit.is_nan() || limit <= 0.0 {
            return None;
        }
        let refill = match refill {
            BucketRefill::Continuous { per_ms } if per_ms.is_finite() && per_ms > 0.0 => BucketRefill::Continuous { per_ms },
            BucketRefill::Window { reset_at_ms, window_ms } if window_ms.is_finite() && window_ms > 0.0 => {
                BucketRefill::Window { reset_at_ms: reset_at_ms.filter(|r| r.is_finite()), window_ms }
            }
            _ => return None,
        };
        let (level, shadow) = (clamp(level, -limit, limit), clamp(shadow, -limit, limit));
        Some(Bucket { limit, level, at_ms, refill, observed_at_ms, unseen_per_ms, shadow, shadow_at_ms })
    }

    /// The refill left for us: the server's rate less what others use,
    /// never below a tenth of it (a wrong guess must not stop the bucket).
    fn net(&self, per_ms: f64) -> f64 {
        (per_ms - self.unseen_per_ms.max(0.0)).max(per_ms / 10.0)
    }

    /// Learn from a new report what others use: the shadow of `previous`
    /// (the last report less our calls sent since, refilled at the server's
    /// rate) is what the server should report now; this bucket holds what
    /// it did. The shortfall per ms is folded into an average over about
    /// [`UNSEEN_HORIZON_MS`]. The reported counts are rounded, so one
    /// shortfall is noisy; the average is not, and it is kept signed so
    /// that noise does not bias it upwards.
    ///
    /// Our calls are taken as counted once sent. A call still on the wire
    /// when the server answered is counted by the next report instead, an
    /// error the next shortfall takes back. Counting instead the calls a
    /// report covers (those sent up to the call it answers) would misplace
    /// every call the server counted while that call was processed, tens of
    /// seconds of calls for a long answer: each would read as others' use
    /// at one report and as its opposite at a later one.
    pub fn learn_unseen(&mut self, previous: &Bucket, now_ms: f64) {
        let (BucketRefill::Continuous { .. }, BucketRefill::Continuous { per_ms }) = (previous.refill, self.refill) else {
            return;
        };
        let elapsed = now_ms - previous.observed_at_ms;
        let predicted = previous.shadow_at(now_ms);
        if previous.limit != self.limit || elapsed.is_nan() || elapsed <= 0.0 || !predicted.is_finite() {
            self.unseen_per_ms = previous.unseen_per_ms;
            return;
        }
        let sample = (predicted - self.level) / elapsed;
        let keep = (-elapsed / UNSEEN_HORIZON_MS).exp();
        let average = previous.unseen_per_ms * keep + sample * (1.0 - keep);
        self.unseen_per_ms = clamp(average, -per_ms, per_ms);
    }

    /// The shadow level at `now_ms`: refilled at the server's full rate.
    fn shadow_at(&self, now_ms: f64) -> f64 {
        match self.refill {
            BucketRefill::Continuous { per_ms } => (self.shadow + per_ms * (now_ms - self.shadow_at_ms).max(0.0)).min(self.limit),
            BucketRefill::Window { .. } => self.shadow,
        }
    }

    /// A call of ours costing `amount` was sent at `now_ms`.
    pub fn note_sent(&mut self, amount: f64, now_ms: f64) {
        if now_ms > self.shadow_at_ms {
            self.shadow = self.shadow_at(now_ms);
            self.shadow_at_ms = now_ms;
        }
        self.shadow -= amount;
    }

    /// A call of ours costing `amount` came back uncounted (refused, or
    /// never sent after all).
    pub fn note_unsent(&mut self, amount: f64) {
        self.shadow += amount;
    }

    /// What to keep in hand against others' use between two reports: their
    /// average use over [`UNSEEN_RESERVE_MS`]. Another client spends in
    /// lumps (whole calls) that a report shows only afterwards; without this
    /// margin every lump larger than the rounding would cost us a 429. It
    /// is a level held back, not a rate, so it costs no throughput.
    pub fn unseen_reserve(&self) -> f64 {
        (self.unseen_per_ms.max(0.0) * UNSEEN_RESERVE_MS).min(self.limit / 4.0)
    }

    /// The level at `now_ms` (never above the limit).
    pub fn level_at(&self, now_ms: f64) -> f64 {
        let elapsed = (now_ms - self.at_ms).max(0.0);
        match self.refill {
            BucketRefill::Continuous { per_ms } => (self.level + self.net(per_ms) * elapsed).min(self.limit),
            BucketRefill::Window { reset_at_ms: Some(reset), .. } if now_ms >= reset => self.limit,
            BucketRefill::Window { .. } => self.level.min(self.limit),
        }
    }

    /// The earliest time at or after `now_ms` when the level reaches `amount`,
    /// or `None` when refill alone never gets there (more than the limit, or a
    /// window whose reset is unknown).
    pub fn time_to_reach(&self, amount: f64, now_ms: f64) -> Option<f64> {
        if self.level_at(now_ms) >= amount {
            return Some(now_ms);
        }
        if amount > self.limit {
            return None;
        }
        match self.refill {
            BucketRefill::Continuous { per_ms } => {
                // Refill counts from `at_ms`, as in `level_at`, even when the
                // clock has gone back before it: an earlier answer would be
                // a wake-up at which the level is still short, again and again.
                let at = self.at_ms + (amount - self.level) / self.net(per_ms);
                // A rate too small to get there in any time this float can say.
                at.is_finite().then(|| at.max(now_ms))
            }
            BucketRefill::Window { reset_at_ms, .. } => reset_at_ms.map(|r| r.max(now_ms)),
        }
    }

    /// Charge `amount` at `now_ms` (local consumption the server never
    /// reported on). The debt is bounded by one limit's worth: estimates
    /// charged for calls the server never reported on must not hold the
    /// bucket empty longer than two windows.
    pub fn take(&mut self, amount: f64, now_ms: f64) {
        self.settle(now_ms);
        self.level = (self.level - amount).max(-self.limit);
    }

    /// Fold the refill up to `now_ms` into the level, rolling a passed
    /// window over to the next one.
    fn settle(&mut self, now_ms: f64) {
        if now_ms <= self.at_ms {
            return;
        }
        self.level = self.level_at(now_ms);
        if let BucketRefill::Window { reset_at_ms: Some(reset), window_ms } = &mut self.refill {
            if now_ms >= *reset {
                let passed = ((now_ms - *reset) / *window_ms).floor() + 1.0;
                *reset += passed * *window_ms;
            }
        }
        self.at_ms = now_ms;
    }

    /// When this bucket is next back to full, if known.
    pub fn reset_at(&self, now_ms: f64) -> Option<f64> {
        match self.refill {
            BucketRefill::Continuous { per_ms } => {
                let level = self.level_at(now_ms);
                Some(if level >= self.limit { now_ms } else { now_ms + (self.limit - level) / self.net(per_ms) })
            }
            BucketRefill::Window { reset_at_ms, .. } => reset_at_ms.filter(|r| *r > now_ms),
        }
    }

    pub(crate) fn view(&self, name: &str, reserved: f64, now_ms: f64) -> BucketView {
        BucketView {
            name: name.to_string(),
            limit: self.limit,
            remaining: (self.level_at(now_ms) - reserved).max(0.0),
            reset_at_ms: self.reset_at(now_ms),
            refill: match self.refill {
                BucketRefill::Continuous { .. } => Refill::Continuous,
                BucketRefill::Window { .. } => Refill::Window,
            },
        }
    }
}

/// How far a reset time may be off: RFC 3339 resets and epoch seconds are
/// sent in whole seconds, and the response spends time in transit.
pub const RESET_RESOLUTION_MS: f64 = 1_000.0;

/// The lowest and highest refill rates a continuous report can stand for.
///
/// The server says the bucket is full `until_reset_ms` from now, having
/// `reported` left of `limit` at a moment between the call's sending
/// (`since_sent_ms` before the reset) and now. Both figures are rounded:
/// the count by `rounding` (half of it either way), the reset by
/// [`RESET_RESOLUTION_MS`]. With a small deficit, a reset a second away or
/// a report an answer old, the rate they imply is loose by tens of
/// percent, which is why a consistent nominal rate wins.
fn rate_bounds(limit: f64, reported: f64, rounding: f64, until_reset_ms: f64, since_sent_ms: f64) -> (f64, f64) {
    let deficit_low = smallest_deficit(limit, reported, rounding);
    let deficit_high = limit - reported + rounding / 2.0;
    let time_low = (until_reset_ms - RESET_RESOLUTION_MS).max(0.0);
    let time_high = since_sent_ms.max(until_reset_ms) + RESET_RESOLUTION_MS;
    let high = if time_low > 0.0 { deficit_high / time_low } else { f64::INFINITY };
    (deficit_low / time_high, high)
}

/// The least a bucket of `limit` can lack when `reported` is left, counted
/// to `rounding` (half of it either way).
fn smallest_deficit(limit: f64, reported: f64, rounding: f64) -> f64 {
    (limit - reported - rounding / 2.0).max(0.0)
}

/// How far back the estimate of others' use looks: long enough to average
/// the rounding of many reports, short enough to follow a neighbour who
/// starts or stops within a minute.
pub const UNSEEN_HORIZON_MS: f64 = 30_000.0;

/// How much of others' average use is held back: twenty seconds of it
/// covers the lumps of a neighbour's calls between our reports.
pub const UNSEEN_RESERVE_MS: f64 = 20_000.0;

#[cfg(test)]
#[path = "bucket_tests.rs"]
mod tests;
