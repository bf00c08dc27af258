//! Reading a saved state back from plain data (what [`Saved`] serializes to:
//! objects, arrays, numbers, strings, booleans and nulls), through any
//! store's view of it: a JS value in the wasm build, a JSON value in tests.
//!
//! Written out rather than derived: a derived reader (serde's `Deserialize`
//! through `serde-wasm-bindgen`) weighed about a twentieth of the `.wasm`
//! for the one place that reads. It follows the written shape exactly (the
//! field names of the `Serialize` derives, camelCase; an enum as an object
//! with one key) and reads nothing more: anything else, a field missing or
//! of another kind, and the state is not read (see [`Saved::check`]).

use super::{Grant, Saved, SavedGrants};
use crate::budget::{BucketRefill, Cost, SavedBucket};
use crate::schedule::{SavedDimension, SavedPartition};

/// A view of one plain value.
pub trait Plain: Sized {
    /// The field `name` of an object (`None`: not an object, or no such field).
    fn field(&self, name: &str) -> Option<Self>;
    fn number(&self) -> Option<f64>;
    fn text(&self) -> Option<String>;
    fn boolean(&self) -> Option<bool>;
    /// The items of an array.
    fn items(&self) -> Option<Vec<Self>>;
    fn is_null(&self) -> bool;
}

impl Saved {
    /// The state `value` holds, if it has the shape this build writes.
    pub fn read(value: &impl Plain) -> Option<Saved> {
        let version = whole(&value.field("version")?)?;
        let partitions = list(value, "partitions", partition)?;
        let grants = value.field("grants")?;
        let grants = SavedGrants { next_id: whole(&grants.field("nextId")?)?, grants: list(&grants, "grants", grant)? };
        Some(Saved { version: u32::try_from(version).ok()?, partitions, grants })
    }
}

fn number(v: &impl Plain, name: &str) -> Option<f64> {
    v.field(name)?.number()
}

/// A whole number from 0, exact as a float.
fn whole(v: &impl Plain) -> Option<u64> {
    let n = v.number()?;
    (n >= 0.0 && n.fract() == 0.0 && n < 9_007_199_254_740_992.0).then_some(n as u64)
}

/// `None` for a field absent or null, as serde reads an `Option`.
fn optional_number(v: &impl Plain, name: &str) -> Option<Option<f64>> {
    match v.field(name) {
        None => Some(None),
        Some(field) if field.is_null() => Some(None),
        Some(field) => field.number().map(Some),
    }
}

fn list<P: Plain, T>(v: &P, name: &str, read: impl Fn(&P) -> Option<T>) -> Option<Vec<T>> {
    v.field(name)?.items()?.iter().map(read).collect()
}

fn partition(v: &impl Plain) -> Option<SavedPartition> {
    Some(SavedPartition {
        key: v.field("key")?.text()?,
        buckets: list(v, "buckets", |d| Some(SavedDimension { name: d.field("name")?.text()?, bucket: bucket(&d.field("bucket")?)? }))?,
        answered: v.field("answered")?.boolean()?,
        paused_until_ms: optional_number(v, "pausedUntilMs")?,
        window: number(v, "window")?,
    })
}

/// A saved bucket (also for the bucket tests).
pub(crate) fn bucket(v: &impl Plain) -> Option<SavedBucket> {
    let refill = v.field("refill")?;
    let refill = match (refill.field("continuous"), refill.field("window")) {
        (Some(c), None) => BucketRefill::Continuous { per_ms: number(&c, "perMs")? },
        (None, Some(w)) => BucketRefill::Window { reset_at_ms: optional_number(&w, "resetAtMs")?, window_ms: number(&w, "windowMs")? },
        _ => return None,
    };
    Some(SavedBucket {
        limit: number(v, "limit")?,
        level: number(v, "level")?,
        at_ms: number(v, "atMs")?,
        refill,
        observed_at_ms: number(v, "observedAtMs")?,
        unseen_per_ms: number(v, "unseenPerMs")?,
        shadow: number(v, "shadow")?,
        shadow_at_ms: number(v, "shadowAtMs")?,
    })
}

fn grant(v: &impl Plain) -> Option<Grant> {
    let c = v.field("cost")?;
    let cost = Cost {
        requests: number(&c, "requests")?,
        input_tokens: number(&c, "inputTokens")?,
        output_tokens: number(&c, "outputTokens")?,
        tokens: number(&c, "tokens")?,
    };
    Some(Grant {
        id: whole(&v.field("id")?)?,
        key: v.field("key")?.text()?,
        cost,
        sent: v.field("sent")?.boolean()?,
        expires_at_ms: number(v, "expiresAtMs")?,
        ticket: 0,
    })
}

#[cfg(test)]
impl Plain for serde_json::Value {
    fn field(&self, name: &str) -> Option<Self> {
        self.as_object()?.get(name).cloned()
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn text(&self) -> Option<String> {
        self.as_str().map(String::from)
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
    fn is_null(&self) -> bool {
        serde_json::Value::is_null(self)
    }
}
