//! A self-calibrating estimate: what the server charges for a call's input
//! tokens, per token of its estimate, learnt per partition from answers
//! that say what they used, and applied to every call not yet dispatched:
//! a waiting call keeps its cost as estimated and is calibrated at the
//! partition's scale whenever its cost is read ([`Entry::at_scale`]), so a
//! burst queued before the first answer is calibrated by it too. A
//! dispatched call's cost is fixed at its dispatch.
//!
//! An estimate 25 % low overdraws the budget by a quarter of every call in
//! flight until reports catch up; one 25 % high holds back budget the
//! server would give. Each answer whose usage is known (the `usage` of a
//! JSON answer, or the simulation's server) moves the scale a quarter of
//! the way (in log terms) towards its own ratio, if that is between
//! [`MIN_SCALE`] and [`MAX_SCALE`]. Only the counted part of an estimate is
//! scaled, and what scaling adds counts as guessed: it never makes a call
//! too large to send ([`crate::budget::Budget::admission`]). A scale below
//! 1 lets a call whose estimate is over a limit wait, and go while the
//! scale stays there; should the scale rise again before it goes, it is
//! refused at the head of its queue, as one whose limit shrank.

use super::partition::{Entry, State};
use super::Scheduler;
use crate::budget::Cost;
use crate::float::clamp;

/// The scale stays within these bounds, and an answer whose ratio is past
/// them teaches nothing.
pub const MIN_SCALE: f64 = 0.5;
pub const MAX_SCALE: f64 = 2.0;

/// How far each answer moves the scale towards its own ratio (in log terms).
const WEIGHT: f64 = 0.25;

/// Estimates below this many input tokens teach nothing (the request's
/// framing dominates them).
pub const LEAST_ESTIMATE: f64 = 100.0;

impl Scheduler {
    /// An answer said the server charged `charged` input tokens for a call
    /// of `partition` whose estimate (before scaling) was `estimated`.
    pub fn learn_input(&mut self, partition: &str, estimated: f64, charged: f64) {
        if !(estimated.is_finite() && charged.is_finite() && estimated >= LEAST_ESTIMATE && charged >= 0.0) {
            return;
        }
        let Some(p) = self.partitions.get_mut(partition) else { return };
        let ratio = charged / estimated;
        // A ratio past the bounds is another matter than the estimate's
        // error (state the server keeps, a tool's output counted as input):
        // it teaches nothing.
        if !(MIN_SCALE..=MAX_SCALE).contains(&ratio) {
            return;
        }
        let scale = (p.input_scale.ln() * (1.0 - WEIGHT) + ratio.ln() * WEIGHT).exp();
        p.input_scale = clamp(scale, MIN_SCALE, MAX_SCALE);
    }
}

/// A call's cost as it is queued: its amounts cleaned, its guessed part at
/// most its input tokens; not yet calibrated.
pub(super) fn queued(cost: Cost, guessed: f64) -> (Cost, f64) {
    let cost = cost.cleaned();
    let guessed = if guessed > 0.0 { guessed.min(cost.input_tokens) } else { 0.0 };
    (cost, guessed)
}

impl Entry {
    /// The call's cost and the input tokens of it that are a guess,
    /// calibrated at `scale` (its partition's now) while it waits; at the
    /// scale of its dispatch once dispatched. A call put back in the queue
    /// is calibrated afresh, never twice.
    pub(super) fn at_scale(&self, scale: f64) -> (Cost, f64) {
        let scale = match self.state {
            State::Waiting => scale,
            State::Dispatched { scale, .. } => f64::from(scale),
        };
        scaled(self.cost, f64::from(self.guessed), scale)
    }
}

/// `cost` with the counted part of its input tokens (all but `guessed`)
/// scaled; the guessed part grows by what scaling up adds.
pub(super) fn scaled(mut cost: Cost, guessed: f64, scale: f64) -> (Cost, f64) {
    if scale == 1.0 || !scale.is_finite() {
        return (cost, guessed);
    }
    let counted = (cost.input_tokens - guessed).max(0.0);
    let added = counted * (scale - 1.0);
    cost.input_tokens += added;
    cost.tokens = (cost.tokens + added).max(0.0);
    (cost, guessed + added.max(0.0))
}
