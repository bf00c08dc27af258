//! The coordinator itself: one [`Engine`] for every isolate's requests for
//! grants, and the book of [`Grants`] made. The `Coordinator` class of the
//! JS layer and the simulation both drive it.

use super::{GrantId, Grants, Saved, REPORT_TIMEOUT_MS};
use crate::budget::Cost;
use crate::engine::{CallId, CallSpec, Engine, Settings, Step};
use crate::float::clamp;
use crate::headers::Observation;
use crate::ids::IdMap;
use crate::schedule::{Completion, Refusal};

/// The most grants one request asks for (`leaseSize`).
pub const MAX_LEASE: u32 = 64;

/// How long a request that [`Book::attempt`] could not grant waits before it
/// is tried again when nothing in the book says when it may go (it waits for
/// calls in flight to end, and their reports reach another copy of the book).
pub const RETRY_ATTEMPT_MS: f64 = 100.0;

/// What [`Book::attempt`] decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Attempt {
    /// Granted: the first id is the call's, the others spare.
    Granted(Vec<GrantId>),
    /// Nothing granted; try again at `until` (nothing was queued).
    Wait { until: f64 },
    /// It can never go.
    Refused(Refusal),
}

/// A coordinator's whole state.
#[derive(Debug)]
pub struct Book {
    engine: Engine,
    grants: Grants,
    /// Requests waiting in the engine, by call.
    requests: IdMap<CallId, Request>,
}

/// A request for up to `count` grants of `cost` in partition `key`, the
/// spare ones usable for `lease_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub key: String,
    pub cost: Cost,
    /// Input tokens of `cost` that are a guess.
    pub guessed: f64,
    pub count: u32,
    pub lease_ms: f64,
}

impl Book {
    /// A coordinator with `settings` (its limits, `maxConcurrent`, `maxQueue`;
    /// it has no coordinator of its own), carrying on from `saved` when
    /// given (see [`Saved::check`]).
    pub fn new(mut settings: Settings, saved: Option<Saved>, now: f64) -> Book {
        settings.coordination = None;
        // Its grants are sent by other isolates, in an order it cannot see.
        settings.schedule.hold_until_answered = true;
        let mut engine = Engine::new(settings);
        let grants = match saved {
            Some(saved) => saved.restore(engine.scheduler_mut(), REPORT_TIMEOUT_MS, now),
            None => Grants::new(REPORT_TIMEOUT_MS).first_id(fresh_id(now)),
        };
        Book { engine, grants, requests: IdMap::default() }
    }

    /// The engine its requests wait in: step a request until it says
    /// [`crate::engine::Step::Send`], then [`Book::grant`].
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn engine_ref(&self) -> &Engine {
        &self.engine
    }

    /// A request for grants joins the queue (its count is taken from 1 to
    /// [`MAX_LEASE`]).
    pub fn request(&mut self, request: Request, now: f64) -> Result<CallId, Refusal> {
        let spec =
            CallSpec { key: request.key.clone(), cost: request.cost, guessed: request.guessed, priority: 0, retries: false, breakpoints: Vec::new() };
        let call = self.engine.enqueue(spec, now)?;
        self.requests.insert(call, Request { count: request.count.clamp(1, MAX_LEASE), ..request });
        Ok(call)
    }

    /// The request `call` was told to go: its grant, and up to `count − 1`
    /// spare ones that fit at this same moment (nothing else is queued for
    /// them). Empty for a request not waiting to go.
    pub fn grant(&mut self, call: CallId, now: f64) -> Vec<GrantId> {
        let Some(request) = self.requests.remove(&call) else { return Vec::new() };
        let Some(first) = self.engine.hand_over(call) else { return Vec::new() };
        let Request { key, cost, guessed, count, lease_ms } = request;
        let mut granted = vec![self.grants.issue(self.engine.scheduler_mut(), first, &key, cost, true, lease_ms, now)];
        for _ in 1..count {
            let Some(ticket) = self.engine.grant_now(&key, cost, guessed, now) else { break };
            granted.push(self.grants.issue(self.engine.scheduler_mut(), ticket, &key, cost, false, lease_ms, now));
        }
        granted
    }

    /// A request that does not wait in this book: granted at once when it
    /// may go, else told when to try again. For a book kept where no request
    /// can wait (a state shared in Redis, made afresh by whichever process
    /// holds it): queue order between requests is then not kept.
    ///
    /// A request tried `again` after it was told to wait gets no spare
    /// grants: the budget is the limit's, and what refilled while it waited
    /// would sit in one process's lease (spares serve only calls of the same
    /// cost) while the others wait for it.
    pub fn attempt(&mut self, request: Request, again: bool, now: f64) -> Attempt {
        let request = Request { count: if again { 1 } else { request.count }, ..request };
        self.expire(now);
        let call = match self.request(request, now) {
            Ok(call) => call,
            Err(refusal) => return Attempt::Refused(refusal),
        };
        match self.engine.step(call, now) {
            Step::Send { .. } => Attempt::Granted(self.grant(call, now)),
            step => {
                self.forget(call, now);
                match step {
                    Step::Refuse(refusal) => Attempt::Refused(refusal),
                    Step::Wait { until } => Attempt::Wait { until: clamp(until, now, now + RETRY_ATTEMPT_MS) },
                    _ => Attempt::Wait { until: now + RETRY_ATTEMPT_MS },
                }
            }
        }
    }

    /// A request that ended without a grant (refused, or its caller gone).
    pub fn forget(&mut self, call: CallId, now: f64) {
        self.requests.remove(&call);
        self.engine.abort(call, now);
    }

    /// Spare grants are being used now.
    pub fn sent(&mut self, ids: &[GrantId], now: f64) {
        for &id in ids {
            self.grants.sent(self.engine.scheduler_mut(), id, now);
        }
    }

    /// The answer to a granted call: its status (`None`: no answer came) and
    /// what its headers said (`None`: the call ended unreported, and its
    /// estimate is charged).
    pub fn complete(&mut self, id: GrantId, status: Option<u16>, observation: Option<&Observation>, now: f64) {
        let Some(grant) = self.grants.take(id) else { return };
        let completion = match (status, observation) {
            (None, _) => Completion::NoAnswer,
            (Some(_), None) => Completion::Unreported,
            (Some(status), observation) => Completion::Heard { status, observation },
        };
        self.engine.complete_ticket(grant.ticket, &grant.key, completion, now);
    }

    /// Grants never used: nothing is charged.
    pub fn release(&mut self, ids: &[GrantId], now: f64) {
        for &id in ids {
            if let Some(grant) = self.grants.take(id) {
                self.engine.scheduler_mut().cancel(grant.ticket);
            }
        }
        self.engine.tick(now);
    }

    /// Settle the grants whose time is up (see [`Grants::expire`]); the next
    /// expiry, if any grant is outstanding.
    pub fn expire(&mut self, now: f64) -> Option<f64> {
        if self.grants.expire(self.engine.scheduler_mut(), now) > 0 {
            self.engine.tick(now);
        }
        self.grants.next_expiry()
    }

    pub fn next_expiry(&self) -> Option<f64> {
        self.grants.next_expiry()
    }

    /// Requests waiting in the engine for their grants.
    pub fn requests(&self) -> usize {
        self.requests.len()
    }

    /// Grants made and not yet reported.
    pub fn outstanding(&self) -> usize {
        self.grants.len()
    }

    /// What to save after a change.
    pub fn save(&self, now: f64) -> Saved {
        Saved::new(self.engine.scheduler(), &self.grants, now)
    }
}

/// The first grant id of a book made without a saved state: the millisecond
/// it starts at, times a thousand. A book whose state was lost (a store
/// restarted) then never hands out again an id that a report still in
/// flight names, unless the lost one made a thousand grants per millisecond
/// it lived. It stays below 2^53, as ids cross into JS as numbers.
fn fresh_id(now: f64) -> GrantId {
    if now.is_finite() && now > 0.0 {
        (now.min(8.0e12) as GrantId) * 1000 + 1
    } else {
        1
    }
}
