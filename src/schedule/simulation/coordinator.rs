//! The coordinator of a run with several isolates ([`Coordinated`]): one
//! [`Book`] that their engines share over a simulated RPC, one way
//! `rpc_ms`, which may be unreachable for a while. An engine's requests for
//! grants ([`Ask`]) and its reports ([`Tell`]) travel to it; the book's
//! answers ([`Grants`]) travel back.

use super::driver::Driver;
use super::queue::Due;
use super::workload::T0;
use crate::coordinate::{Book, Request};
use crate::engine::{Ask, AskId, CallId, Coordination, Grants, Settings, Step, Tell};
use crate::headers::parse;
use crate::retry::RetryPolicy;
use crate::schedule::Config;
use std::collections::HashMap;

/// Several isolates of one client (an engine each) sharing one
/// coordinator's [`Book`] over a simulated RPC.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinated {
    pub isolates: usize,
    pub coordination: Coordination,
    /// The coordinator's own settings (its limits, `maxConcurrent`).
    pub book: Config,
    /// One way, an isolate to the coordinator or back.
    pub rpc_ms: f64,
    /// The coordinator cannot be reached from and until these times (ms
    /// after [`T0`]). A request for grants that arrives then fails after
    /// the RPC latency; requests waiting at the coordinator when it drops
    /// out fail (and are forgotten there); messages that arrive then are
    /// lost. Its book (budget and grants) is kept, as a restart restores it.
    pub outage: Option<(f64, f64)>,
}

pub(super) struct Coordinator {
    pub(super) book: Book,
    rpc_ms: f64,
    down: bool,
    /// Requests waiting in the book: the isolate and request each answers.
    waiting: HashMap<CallId, (usize, AskId)>,
    wake_at: HashMap<CallId, f64>,
    tick_at: Option<f64>,
    expire_at: Option<f64>,
    /// Messages on their way, either way.
    in_transit: usize,
}

impl Coordinator {
    pub(super) fn new(coordinated: &Coordinated, retry: RetryPolicy) -> Coordinator {
        let settings = Settings { schedule: coordinated.book.clone(), retry, max_wait_ms: None, coordination: None, cache_reads_count: false };
        Coordinator {
            book: Book::new(settings, None, T0),
            rpc_ms: coordinated.rpc_ms,
            down: false,
            waiting: HashMap::new(),
            wake_at: HashMap::new(),
            tick_at: None,
            expire_at: None,
            in_transit: 0,
        }
    }
}

impl Driver {
    /// Ask the coordinator for grants, one RPC latency away.
    pub(super) fn ask(&mut self, isolate: usize, ask: Ask, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit += 1;
        let rpc = coordinator.rpc_ms;
        self.at(now + rpc, Due::AskArrives { isolate, ask });
    }

    /// The coordinator answers a request, one RPC latency later.
    fn reply(&mut self, isolate: usize, ask: AskId, grants: Grants, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit += 1;
        let rpc = coordinator.rpc_ms;
        self.at(now + rpc, Due::AskAnswered { isolate, ask, grants });
    }

    /// Step a request at the coordinator, as its `acquire` does.
    fn step_book(&mut self, call: CallId, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        let Some(&(isolate, ask)) = coordinator.waiting.get(&call) else { return };
        match coordinator.book.engine().step(call, now) {
            Step::Wait { until } => {
                if until.is_finite() && coordinator.wake_at.get(&call).is_none_or(|w| until < *w) {
                    coordinator.wake_at.insert(call, until);
                    self.at(until, Due::BookWake(call));
                }
            }
            Step::Send { .. } => {
                let grants = coordinator.book.grant(call, now);
                coordinator.waiting.remove(&call);
                coordinator.wake_at.remove(&call);
                self.reply(isolate, ask, Grants::Granted(grants), now);
            }
            Step::Refuse(refusal) => {
                coordinator.waiting.remove(&call);
                coordinator.wake_at.remove(&call);
                // As the Coordinator class does: the book forgets it.
                coordinator.book.forget(call, now);
                self.reply(isolate, ask, Grants::Refused(refusal), now);
            }
            step => panic!("a request for grants at {now} stepped to {step:?}"),
        }
    }

    /// Carry an isolate's messages to the coordinator, one RPC latency later.
    pub(super) fn tell(&mut self, tells: Vec<Tell>, now: f64) {
        if let Some(coordinator) = &mut self.coordinator {
            let rpc = coordinator.rpc_ms;
            coordinator.in_transit += tells.len();
            for tell in tells {
                self.at(now + rpc, Due::TellArrives(tell));
            }
        }
    }

    /// Step the requests the coordinator's engine woke: whether there were any.
    pub(super) fn step_book_woken(&mut self, now: f64) -> bool {
        let Some(coordinator) = &mut self.coordinator else { return false };
        let woken = coordinator.book.engine().take_woken();
        let stepped = !woken.is_empty();
        for call in woken {
            self.step_book(call, now);
        }
        stepped
    }

    /// Set the coordinator's timers, for its engine's next tick and its next
    /// grant to expire.
    pub(super) fn set_book_timers(&mut self, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.book.engine().take_events();
        let tick = coordinator.book.engine().next_tick().filter(|at| coordinator.tick_at.is_none_or(|t| *at < t || t < now));
        let expiry = coordinator.book.next_expiry().filter(|at| coordinator.expire_at.is_none_or(|t| *at < t || t < now));
        self.most_grants = self.most_grants.max(coordinator.book.outstanding());
        if let Some(at) = tick {
            coordinator.tick_at = Some(at);
        }
        if let Some(at) = expiry {
            coordinator.expire_at = Some(at);
        }
        if let Some(at) = tick {
            self.at(at, Due::BookTick);
        }
        if let Some(at) = expiry {
            self.at(at, Due::BookExpire);
        }
    }

    /// A request for grants reaches the coordinator.
    pub(super) fn ask_arrives(&mut self, isolate: usize, ask: Ask, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit -= 1;
        if coordinator.down {
            self.reply(isolate, ask.id, Grants::Failed, now);
            return;
        }
        let request = Request { key: ask.key, cost: ask.cost, guessed: ask.guessed, count: ask.count, lease_ms: ask.lease_ms };
        match coordinator.book.request(request, now) {
            Ok(call) => {
                coordinator.waiting.insert(call, (isolate, ask.id));
                self.step_book(call, now);
            }
            Err(refusal) => self.reply(isolate, ask.id, Grants::Refused(refusal), now),
        }
    }

    /// The coordinator's answer reaches an isolate.
    pub(super) fn ask_answered(&mut self, isolate: usize, ask: AskId, grants: Grants, now: f64) {
        if let Some(coordinator) = &mut self.coordinator {
            coordinator.in_transit -= 1;
        }
        self.isolates[isolate].engine.coordinator_answered(ask, grants, now);
        self.drain(isolate, now);
    }

    /// An isolate's message reaches the coordinator, or is lost.
    pub(super) fn tell_arrives(&mut self, tell: Tell, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.in_transit -= 1;
        if coordinator.down {
            self.lost_tells += 1;
            return;
        }
        let book = &mut coordinator.book;
        match tell {
            Tell::Sent(ids) => book.sent(&ids, now),
            Tell::Complete { grant, status, fields } => {
                let observation = fields.map(|f| parse(f.iter().map(|(n, v)| (n.as_str(), v.as_str())), now));
                book.complete(grant, status, observation.as_ref(), now);
            }
            Tell::Release(ids) => book.release(&ids, now),
        }
    }

    /// A request's timer at the coordinator.
    pub(super) fn book_wake(&mut self, call: CallId, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        if coordinator.wake_at.get(&call) == Some(&now) {
            coordinator.wake_at.remove(&call);
        }
        self.step_book(call, now);
    }

    /// The coordinator's timer for its engine's next tick.
    pub(super) fn book_tick(&mut self, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        if coordinator.tick_at.is_some_and(|t| t <= now) {
            coordinator.tick_at = None;
        }
        coordinator.book.engine().tick(now);
    }

    /// The coordinator's alarm for expiring grants.
    pub(super) fn book_expire(&mut self, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        if coordinator.expire_at.is_some_and(|t| t <= now) {
            coordinator.expire_at = None;
        }
        coordinator.book.expire(now);
    }

    /// The coordinator can no longer be reached.
    pub(super) fn outage_begins(&mut self, now: f64) {
        let Some(coordinator) = &mut self.coordinator else { return };
        coordinator.down = true;
        // The requests waiting there fail with their connections.
        let mut waiting: Vec<(CallId, (usize, AskId))> = coordinator.waiting.drain().collect();
        waiting.sort_unstable_by_key(|(call, _)| *call);
        for (call, _) in &waiting {
            coordinator.book.forget(*call, now);
            coordinator.wake_at.remove(call);
        }
        for (_, (isolate, ask)) in waiting {
            self.reply(isolate, ask, Grants::Failed, now);
        }
    }

    /// The coordinator can be reached again.
    pub(super) fn outage_ends(&mut self) {
        if let Some(coordinator) = &mut self.coordinator {
            coordinator.down = false;
        }
    }

    /// Whether the coordinator still has work: grants outstanding, or
    /// messages on their way.
    pub(super) fn coordinator_busy(&self) -> bool {
        self.coordinator.as_ref().is_some_and(|c| c.in_transit > 0 || c.book.outstanding() > 0)
    }
}
