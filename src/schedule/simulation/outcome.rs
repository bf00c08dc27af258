//! What a run did: its [`Outcome`], and the log of its events ([`Record`]).

use super::api::SimulatedApi;
use super::workload::Call;
use crate::coordinate::Book;
use crate::engine::{Engine, Event};
use crate::schedule::Scheduler;

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub calls: Vec<Call>,
    pub api: SimulatedApi,
    /// The engine of each isolate (one without a coordinator).
    pub engines: Vec<Engine>,
    /// The coordinator's book, when there is one.
    pub book: Option<Book>,
    /// Our 429s, in all and after the first answer reached the client.
    pub rate_limited: u32,
    pub rate_limited_after_first_answer: u32,
    /// Our 529s.
    pub overloaded: u32,
    /// When the server refused each of our calls with a 429.
    pub rate_limited_at: Vec<f64>,
    /// Calls sent while an observed window was spent, before its reset.
    pub sent_into_spent_window: u32,
    /// Messages to the coordinator lost while it could not be reached.
    pub lost_tells: u32,
    /// The most grants outstanding at the coordinator at any moment.
    pub most_grants: usize,
    /// Every event of every isolate and every attempt sent, in order.
    pub log: Vec<Record>,
    /// The time of the last event.
    pub end_ms: f64,
}

impl Outcome {
    /// The scheduler of the first (with one client, the only) isolate.
    pub fn scheduler(&self) -> &Scheduler {
        self.engines[0].scheduler()
    }
}

/// One line of the log of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub at: f64,
    pub isolate: usize,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// An engine's event.
    Event(Event),
    /// The driver sent attempt `attempt` of call `call` (as [`Step::Send`](crate::engine::Step::Send) said).
    Sent { call: usize, attempt: u32 },
    /// The driver asked the coordinator for grants for call `call` (as [`Step::Ask`](crate::engine::Step::Ask) said).
    Asked { call: usize },
}
