//! What a coordinator saves after every change, and takes back when it is
//! made afresh (see "Restarts" in the docs of [`crate::coordinate`]).

use super::{Grants, SavedGrants};
use crate::schedule::{SavedPartition, Scheduler};
use serde::Serialize;

/// The version of [`Saved`] this build writes and reads. Raise it when the
/// saved shape or its meaning changes: a state of another version is
/// dropped (the budget starts afresh and learns again from the next
/// answers) rather than misread.
pub const SAVED_VERSION: u32 = 1;

/// Everything a coordinator saves: its partitions' buckets and its
/// outstanding grants. Plain data both ways (objects, arrays, numbers,
/// strings, booleans and nulls), so any storage keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// [`SAVED_VERSION`] when this build saved it.
    pub version: u32,
    pub partitions: Vec<SavedPartition>,
    pub grants: SavedGrants,
}

impl Saved {
    /// What `scheduler` and `grants` know at `now_ms`, to save.
    pub fn new(scheduler: &Scheduler, grants: &Grants, now_ms: f64) -> Saved {
        Saved { version: SAVED_VERSION, partitions: scheduler.save(now_ms), grants: grants.saved() }
    }

    /// The state, when this build can take it back: `None` for a state of
    /// another version, or with a grant whose cost is not amounts from 0 up
    /// (altered, or saved by something else). A bucket whose numbers are
    /// not sane does not drop the state: [`Scheduler::restore`] drops it alone.
    pub fn check(mut self) -> Option<Saved> {
        if self.version != SAVED_VERSION {
            return None;
        }
        for grant in &mut self.grants.grants {
            let c = grant.cost;
            if ![c.requests, c.input_tokens, c.output_tokens, c.tokens].iter().all(|x| x.is_finite() && *x >= 0.0) {
                return None;
            }
            grant.cost = c.cleaned();
        }
        Some(self)
    }

    /// Take the state back into a scheduler made afresh, before any call is
    /// queued: the partitions' buckets, and every outstanding grant in
    /// flight again with its old id (see [`Grants::restore`]).
    pub fn restore(self, scheduler: &mut Scheduler, report_timeout_ms: f64, now_ms: f64) -> Grants {
        scheduler.restore(self.partitions, now_ms);
        Grants::restore(report_timeout_ms, self.grants, scheduler, now_ms)
    }
}
