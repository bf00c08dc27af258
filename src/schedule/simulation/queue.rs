//! The event queue of a run: what happens at each moment of the virtual
//! clock ([`Due`]), taken earliest first, and in the order scheduled among
//! events of the same moment.

use super::api::Demand;
use crate::engine::{Ask, AskId, CallId, Grants, Tell};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What happens at a moment of the virtual clock.
#[derive(Debug)]
pub(super) enum Due {
    Arrive(usize),
    /// A call's timer: step it.
    Wake(usize),
    /// An isolate's timer at [`Engine::next_tick`](crate::engine::Engine::next_tick).
    Tick(usize),
    Abort(usize),
    Receive(usize),
    /// The server has written a call's answer.
    Answer {
        call: usize,
        status: u16,
        report: Report,
    },
    Deliver {
        call: usize,
        status: u16,
        headers: Vec<(String, String)>,
    },
    BackgroundCall(Demand),
    /// A request for grants reaches the coordinator.
    AskArrives {
        isolate: usize,
        ask: Ask,
    },
    /// The coordinator's answer reaches an isolate.
    AskAnswered {
        isolate: usize,
        ask: AskId,
        grants: Grants,
    },
    TellArrives(Tell),
    /// A request's timer at the coordinator.
    BookWake(CallId),
    /// The coordinator's timer at
    /// [`Engine::next_tick`](crate::engine::Engine::next_tick), and its
    /// alarm for expiring grants.
    BookTick,
    BookExpire,
    OutageBegins,
    OutageEnds,
}

/// The rate-limit headers of an answer the server has written.
#[derive(Debug)]
pub(super) enum Report {
    /// Computed now, sent with the answer.
    Now,
    /// Computed at admission, sent with the answer.
    Ready(Vec<(String, String)>),
    /// Sent at the first token, before the body.
    Sent,
}

struct Queued {
    at: f64,
    order: u64,
    due: Due,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Earliest first in a max-heap; ties in the order scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.order.cmp(&self.order))
    }
}

/// The events to come, earliest first.
#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Queued>,
    /// Events scheduled so far: the order of the next.
    order: u64,
}

impl Queue {
    /// Schedule `due` at `at`, after every event already scheduled then.
    pub(super) fn push(&mut self, at: f64, due: Due) {
        self.order += 1;
        self.heap.push(Queued { at, order: self.order, due });
    }

    /// The time of the next event.
    pub(super) fn next_at(&self) -> Option<f64> {
        self.heap.peek().map(|q| q.at)
    }

    /// Take the next event, and its time.
    pub(super) fn pop(&mut self) -> Option<(f64, Due)> {
        self.heap.pop().map(|Queued { at, due, .. }| (at, due))
    }
}
