//! One dimension's budget as a function of time.

use crate::headers::{Dimension, Refill};
use serde::Serialize;

/// How a bucket's level comes back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BucketRefill {
    /// Linear refill up to the limit at `per_ms` units per millisecond.
    Continuous { per_ms: f64 },
    /// Constant until `reset_at_ms`, then back to the limit; the next reset
    /// is `window_ms` later (the server's `w`, else the default window), so a
    /// window bucket always names a time and never blocks for good.
    Window { reset_at_ms: Option<f64>, window_ms: f64 },
}

/// A dimension's budget: a limit, a level known at a moment, a refill rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    pub limit: f64,
    /// What remained at `at_ms`, as the server counts. Negative means the
    /// local estimate overdrew it; refill pays the debt back first.
    level: f64,
    at_ms: f64,
    pub refill: BucketRefill,
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
        Bucket { limit, level: limit, at_ms: now_ms, refill: BucketRefill::Continuous { per_ms: limit / window_ms } }
    }

    /// A bucket from what a response reported. `previous` keeps what the new
    /// report leaves out (a limit, a rate) from the last one.
    pub fn from_observation(dim: &Dimension, previous: Option<&Bucket>, now_ms: f64, default_window_ms: f64) -> Option<Bucket> {
        let limit = dim.limit.or(previous.map(|b| b.limit)).or(dim.remaining)?;
        // A rounded count may be up to half the rounding above the truth:
        // count on the lowest figure it can stand for.
        let margin = dim.remaining_rounding.map_or(0.0, |r| r / 2.0);
        let remaining = dim.remaining.map(|r| (r - margin).max(0.0).min(limit)).or(previous.map(|b| b.level_at(now_ms)))?;
        let refill = match dim.refill {
            Refill::Continuous => {
                // The rate follows from the report: the deficit is made good by
                // the reset (Anthropic: "fully replenished"; OpenAI: "resets to
                // its initial state"). When it cannot be derived (no reset, or
                // nothing spent), keep the last rate or assume the window.
                let derived = dim
                    .reset_at_ms
                    .filter(|reset| *reset > now_ms && remaining < limit)
                    .map(|reset| (limit - remaining) / (reset - now_ms));
                let kept = previous.and_then(|b| match b.refill {
                    BucketRefill::Continuous { per_ms } if b.limit == limit => Some(per_ms),
                    _ => None,
                });
                let per_ms = derived.or(kept).unwrap_or(limit / default_window_ms);
                BucketRefill::Continuous { per_ms: if per_ms.is_finite() && per_ms > 0.0 { per_ms } else { limit / default_window_ms } }
            }
            Refill::Window => BucketRefill::Window {
                // No reset given: assume the window turns over one window from now.
                reset_at_ms: Some(dim.reset_at_ms.unwrap_or(now_ms + default_window_ms)),
                window_ms: dim.window_ms.filter(|w| w.is_finite() && *w > 0.0).unwrap_or(default_window_ms),
            },
        };
        (limit.is_finite() && limit > 0.0).then_some(Bucket { limit, level: remaining, at_ms: now_ms, refill })
    }

    /// The level at `now_ms` (never above the limit).
    pub fn level_at(&self, now_ms: f64) -> f64 {
        let elapsed = (now_ms - self.at_ms).max(0.0);
        match self.refill {
            BucketRefill::Continuous { per_ms } => (self.level + per_ms * elapsed).min(self.limit),
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
                let from = self.at_ms.min(now_ms);
                let at = from + (amount - self.level) / per_ms;
                Some(at.max(now_ms))
            }
            BucketRefill::Window { reset_at_ms, .. } => reset_at_ms.map(|r| r.max(now_ms)),
        }
    }

    /// Charge `amount` at `now_ms` (local consumption the server never
    /// reported on).
    pub fn take(&mut self, amount: f64, now_ms: f64) {
        self.settle(now_ms);
        self.level -= amount;
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
                Some(if level >= self.limit { now_ms } else { now_ms + (self.limit - level) / per_ms })
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

