//! The life of a call, from the moment it is made to its last answer, as
//! one sans-IO state machine.
//!
//! The [`Engine`] owns every decision of a call's life and performs no I/O:
//! it is given calls, answers, coordinator replies and the time, and says
//! what to do next. The JS layer carries its words out (sleep, send, ask
//! the coordinator, read a body, settle the call) and reports back; the
//! simulation (`src/schedule/simulation/`, compiled only for tests and with
//! the `simulation` feature) drives the same engine on a
//! virtual clock, so the proofs run the code that ships.
//!
//! A call's life:
//! 1. [`Engine::enqueue`]: it joins its partition's queue in the
//!    [`Scheduler`], or is refused at once.
//! 2. [`Engine::step`] says what its caller does next: [`Step::Wait`] until a
//!    time (or until [`Engine::take_woken`] names it), [`Step::Ask`] the
//!    coordinator for a grant, [`Step::Send`] it, [`Step::ReadBody`] of a
//!    refused answer, [`Step::Return`] the last answer or [`Step::Refuse`].
//! 3. [`Engine::answered`]: how an attempt ended. The next step decides a
//!    retry ([`crate::retry::decide`], with backoff and `maxRetries`): the
//!    call waits out the delay, then queues again like a new call.
//!
//! Every input may change other calls too: after each, the caller takes the
//! calls to wake ([`Engine::take_woken`]), the events to emit
//! ([`Engine::take_events`]) and the messages for the coordinator
//! ([`Engine::take_tells`]). [`Engine::next_tick`] names when the passage of
//! time alone will produce an event (a pause ending) with no call waiting.
//!
//! # Waiting
//!
//! Only the call that the scheduler's next time concerns
//! ([`Scheduler::next_wake`]), a call with a deadline, a call in a backoff,
//! and with a coordinator a call that asks again later or waits for the
//! end of a fallback are given a time to wake at; the others wait with
//! `until = ∞`, and are named by [`Engine::take_woken`] by any change that
//! lets them go (the holder of the next time is named when that time moves
//! earlier). A runtime that needs each waiting request to keep a timer of
//! its own (Cloudflare Workers) wakes such a call at an interval of its
//! choosing: stepping it again changes nothing.
//!
//! # Pauses
//!
//! A 429 (or an overload answer) pauses its partition. The engine announces
//! the pause when the answer that caused it is reported, and its end at the
//! moment it ends: the call at the head of a paused queue sleeps until the
//! end, and with none waiting [`Engine::next_tick`] names it. A pause longer
//! than `maxRetryAfterMs`, or past a call's deadline, is not waited out: the
//! call is refused with [`Refusal::RateLimited`] at once.
//!
//! # A shared budget
//!
//! With a coordinator ([`Coordination`]), a call the local scheduler lets go
//! takes a spare grant of an earlier lease or asks the coordinator for one
//! (see [`crate::coordinate`]); a failed request is made again after
//! [`ASK_PAUSES_MS`], then the throttler falls back to its local budget at
//! `share` of each limit, and asks again `retry_ms` later.

mod answer;
mod handover;
mod io;
mod link;
mod prompt_cache;
mod step;
#[cfg(test)]
mod tests;

pub use answer::{rate_limited_answer, SynthesizedAnswer};
pub use io::{Answer, Ask, AskId, CallId, CallSpec, Event, Grants, Step, Tell};
pub use link::{Coordination, ASK_PAUSES_MS};
pub use prompt_cache::{MAX_PREFIXES, MIN_CACHED_TOKENS};

use crate::budget::Cost;
use crate::headers::Observation;
use crate::ids::IdMap;
use crate::retry::{self, Attempt, Decision, RetryPolicy};
use crate::schedule::{Completion, Config, Refusal, Scheduler, Snapshot, Ticket};
use crate::small_map::SmallMap;
use link::Linked;
use prompt_cache::PromptCache;

/// Everything an engine is made with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    pub schedule: Config,
    pub retry: RetryPolicy,
    /// A call still waiting this long after it joined the queue is refused
    /// (`maxWaitMs`); each attempt waits anew.
    pub max_wait_ms: Option<f64>,
    /// The coordinator that keeps the budget, when there is one.
    pub coordination: Option<Coordination>,
    /// Prompt-cache reads count against input tokens like any input
    /// (`cacheReadsCount`): a warm prefix is not taken off a call's cost.
    pub cache_reads_count: bool,
}

/// Where a call is in its life.
#[derive(Debug)]
enum Phase {
    /// In its partition's queue; last told to sleep until `sleeps_until`.
    Queued { ticket: Ticket, sleeps_until: f64 },
    /// Let go by the scheduler; the next step clears it or asks for a grant.
    Granted { ticket: Ticket },
    /// Waiting for the coordinator's answer to `ask`; `tries` failed before.
    Asking { ticket: Ticket, ask: AskId, tries: usize },
    /// The last request for grants failed: ask again at `at`.
    AskAgain { ticket: Ticket, tries: usize, at: f64 },
    /// Granted by the coordinator (or a spare grant): send at the next step.
    Cleared { ticket: Ticket, grant: Option<u64> },
    /// Sent, not yet answered.
    InFlight { ticket: Ticket, grant: Option<u64> },
    /// Answered; whether to retry is decided at the next step.
    Answered(Box<Outcome>),
    /// Will queue again at `until`.
    Backoff { until: f64 },
    /// Refused; settled at the next step.
    Refused(Refusal),
}

/// How an attempt ended, as far as the retry decision needs it.
#[derive(Debug)]
enum Outcome {
    Heard { status: u16, observation: Observation, spend_limit_reached: Option<bool> },
    Unreported,
    NoAnswer,
}

impl Outcome {
    /// The attempt as [`retry::decide`] weighs it; `None` for a call that
    /// ended unreported (it is never retried).
    fn attempt(&self) -> Option<Attempt<'_>> {
        match self {
            Outcome::Heard { status, observation, spend_limit_reached } => {
                Some(Attempt::Answered { status: *status, observation, spend_limit_reached: spend_limit_reached.unwrap_or(false) })
            }
            Outcome::NoAnswer => Some(Attempt::NetworkError),
            Outcome::Unreported => None,
        }
    }
}

#[derive(Debug)]
struct Call {
    key: String,
    cost: Cost,
    guessed: f32,
    priority: i32,
    retries_allowed: bool,
    /// Retries made so far.
    retries: u32,
    /// When the current attempt joined the queue.
    since: f64,
    deadline: Option<f64>,
    phase: Phase,
}

/// The life of every call of one throttler (or of a coordinator).
#[derive(Debug)]
pub struct Engine {
    scheduler: Scheduler,
    retry: RetryPolicy,
    max_wait_ms: Option<f64>,
    calls: IdMap<CallId, Call>,
    /// The call of each ticket in the scheduler (a call gets a new ticket
    /// each time it queues).
    by_ticket: IdMap<Ticket, CallId>,
    next_call: CallId,
    link: Option<Linked>,
    /// Pauses announced and not yet over, by partition.
    pauses: SmallMap<String, f64>,
    events: Vec<Event>,
    woken: Vec<CallId>,
    tells: Vec<Tell>,
    seeded: bool,
    prompt_cache: PromptCache,
    /// Whether anyone reads the events of every call (`queued`,
    /// `dispatched`, `response`); the others are always produced.
    listening: bool,
}

impl Engine {
    pub fn new(settings: Settings) -> Engine {
        let mut schedule = settings.schedule;
        // With a coordinator the budget is kept there (see crate::coordinate).
        schedule.local_budget = settings.coordination.is_none();
        // A pause is waited out no longer than a retry-after would be.
        schedule.max_pause_wait_ms = settings.retry.max_retry_after_ms;
        Engine {
            scheduler: Scheduler::new(schedule),
            prompt_cache: PromptCache::new(settings.cache_reads_count),
            retry: settings.retry,
            max_wait_ms: settings.max_wait_ms,
            calls: IdMap::default(),
            by_ticket: IdMap::default(),
            next_call: 0,
            link: settings.coordination.map(Linked::new),
            pauses: SmallMap::new(),
            events: Vec::new(),
            woken: Vec::new(),
            tells: Vec::new(),
            seeded: false,
            listening: true,
        }
    }

    /// Whether [`Engine::seed`] is still to be given (the JS layer seeds at
    /// the first call: Workers refuse random numbers at module scope).
    pub fn wants_seed(&self) -> bool {
        !self.seeded
    }

    /// Seed the jitter of backoffs, so that clients sharing an API do not
    /// retry in step.
    pub fn seed(&mut self, seed: u64) {
        self.seeded = true;
        self.scheduler.reseed(seed);
    }

    /// Queue a call; refused at once when it can never fit, the queue is
    /// full, or its partition is paused for longer than it would wait.
    pub fn enqueue(&mut self, spec: CallSpec, now: f64) -> Result<CallId, Refusal> {
        let id = self.next_call;
        let mut call = Call {
            key: spec.key,
            cost: spec.cost,
            guessed: spec.guessed as f32,
            priority: spec.priority,
            retries_allowed: spec.retries,
            retries: 0,
            since: now,
            deadline: None,
            phase: Phase::Backoff { until: now },
        };
        self.prompt_cache.track(id, spec.breakpoints);
        if let Err(refusal) = self.queue(&mut call, id, now) {
            self.prompt_cache.forget(id);
            self.events.push(Event::Rejected { partition: call.key, code: refusal.code() });
            return Err(refusal);
        }
        self.next_call += 1;
        self.calls.insert(id, call);
        // A call that may go now is let go now.
        self.pump(now);
        Ok(id)
    }

    /// Put a call (new, or back from a backoff) in its partition's queue.
    fn queue(&mut self, call: &mut Call, id: CallId, now: f64) -> Result<(), Refusal> {
        let deadline = self.max_wait_ms.map(|ms| now + ms);
        let guessed = f64::from(call.guessed);
        let cost = self.prompt_cache.charged(&call.key, id, call.cost, guessed, now);
        let ticket = self.scheduler.enqueue_until(&call.key, cost, guessed, call.priority, deadline, now)?;
        self.by_ticket.insert(ticket, id);
        call.since = now;
        call.deadline = deadline;
        call.phase = Phase::Queued { ticket, sleeps_until: f64::INFINITY };
        if self.listening {
            self.events.push(Event::Queued { partition: call.key.clone(), queued: self.scheduler.queued() });
        }
        Ok(())
    }

    /// How an attempt the engine said to send ended. What follows (a retry,
    /// or the end) is decided at the next [`Engine::step`].
    pub fn answered(&mut self, id: CallId, answer: Answer, now: f64) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let Phase::InFlight { ticket, grant } = call.phase else { return };
        self.by_ticket.remove(&ticket);
        let (status, fields, outcome) = match answer {
            Answer::Heard { status, observation, fields } => {
                (Some(status), Some(fields), Outcome::Heard { status, observation, spend_limit_reached: None })
            }
            Answer::Unreported => (Some(200), None, Outcome::Unreported),
            Answer::NoAnswer => (None, None, Outcome::NoAnswer),
        };
        if let Some(grant) = grant {
            self.tells.push(Tell::Complete { grant, status, fields });
        }
        let completion = match &outcome {
            Outcome::Heard { status, observation, .. } => Completion::Heard { status: *status, observation: Some(observation) },
            Outcome::Unreported => Completion::Unreported,
            Outcome::NoAnswer => Completion::NoAnswer,
        };
        self.scheduler.finish(ticket, completion, now);
        if let (Outcome::Heard { status, .. }, true) = (&outcome, self.listening) {
            let status = *status;
            self.events.push(Event::Response { partition: call.key.clone(), status, attempt: call.retries + 1 });
        }
        let key = call.key.clone();
        let succeeded = matches!(outcome, Outcome::Heard { status: 200..=299, .. });
        call.phase = Phase::Answered(Box::new(outcome));
        if succeeded && self.prompt_cache.answered(&key, id, now) {
            self.charge_anew(&key, now);
        }
        self.announce_pause(&key, now);
        self.pump(now);
    }

    /// The text of a refused answer's body, as [`Step::ReadBody`] asked
    /// (empty when it could not be read).
    pub fn body_read(&mut self, id: CallId, text: &str) {
        if let Some(Call { phase: Phase::Answered(outcome), .. }) = self.calls.get_mut(&id) {
            if let Outcome::Heard { spend_limit_reached, .. } = outcome.as_mut() {
                *spend_limit_reached = Some(crate::retry::says_spend_limit(text));
            }
        }
    }

    /// The caller gave up on a call (its signal aborted): it leaves the
    /// queue, gives back what it holds, and is forgotten. A call that was
    /// sent is reported with [`Engine::answered`] first; one told to send
    /// and given up before it went is given back as never sent.
    pub fn abort(&mut self, id: CallId, now: f64) {
        let Some(call) = self.end(id) else { return };
        match call.phase {
            Phase::Queued { ticket, .. } | Phase::Granted { ticket } | Phase::AskAgain { ticket, .. } => self.cancel(ticket),
            Phase::Asking { ticket, ask, .. } => {
                self.cancel(ticket);
                if let Some(link) = &mut self.link {
                    link.abandon(ask);
                }
            }
            // Told to send and given up before it was sent.
            Phase::Cleared { ticket, grant } | Phase::InFlight { ticket, grant } => {
                self.cancel(ticket);
                self.tells.extend(grant.map(|g| Tell::Release(vec![g])));
            }
            Phase::Answered(_) | Phase::Backoff { .. } | Phase::Refused(_) => {}
        }
        self.pump(now);
    }

    /// The caller gave up on a call (its signal aborted). It leaves the
    /// engine as [`Engine::abort`] says, with no retry, no event and no
    /// count of one. Returns true when the caller should still hand back
    /// the answer it holds: one that would be returned anyway, or the error
    /// of an attempt that ended without an answer (the abort's own).
    pub fn give_up(&mut self, id: CallId, now: f64) -> bool {
        let Some(Call { phase: Phase::Answered(outcome), retries, retries_allowed, .. }) = self.calls.get(&id) else {
            self.abort(id, now);
            return false;
        };
        let keep = match outcome.attempt() {
            None | Some(Attempt::NetworkError) => true,
            Some(attempt) => retry::decide(&self.retry, attempt, *retries, *retries_allowed, 0.0) == Decision::Return,
        };
        self.end(id);
        keep
    }

    /// A call leaves the engine for good.
    fn end(&mut self, id: CallId) -> Option<Call> {
        self.prompt_cache.forget(id);
        self.calls.remove(&id)
    }

    /// A prefix of `key` turned warm: the calls queued with breakpoints
    /// there are charged anew (see [`prompt_cache`]).
    fn charge_anew(&mut self, key: &str, now: f64) {
        let ids: Vec<CallId> = self.prompt_cache.calls().collect();
        for id in ids {
            let Some(call) = self.calls.get(&id) else { continue };
            if let (true, Phase::Queued { ticket, .. }) = (call.key == key, &call.phase) {
                let guessed = f64::from(call.guessed);
                let cost = self.prompt_cache.charged(key, id, call.cost, guessed, now);
                self.scheduler.reprice(*ticket, cost, guessed);
            }
        }
    }

    /// An answer's `usage` for a call with these breakpoints said how much
    /// of its prompt the cache read and wrote: neither means the server
    /// does not cache these prefixes (see [`prompt_cache`]).
    pub fn cache_usage(&mut self, key: &str, breakpoints: &[crate::estimate::Breakpoint], read: f64, written: f64, now: f64) {
        if read == 0.0 && written == 0.0 && self.prompt_cache.cold(key, breakpoints, now) {
            // The calls queued at a discount are charged in full again.
            self.charge_anew(key, now);
            self.pump(now);
        }
    }

    /// Whether a call is still in the engine.
    pub fn knows(&self, id: CallId) -> bool {
        self.calls.contains_key(&id)
    }

    fn cancel(&mut self, ticket: Ticket) {
        self.by_ticket.remove(&ticket);
        self.scheduler.cancel(ticket);
    }

    /// [`Engine::cancel`] for a call refused after the scheduler let it go.
    fn refuse(&mut self, ticket: Ticket) {
        self.by_ticket.remove(&ticket);
        self.scheduler.refuse(ticket);
    }

    /// What an answer said the server charged for a call's input tokens,
    /// against the estimate it was queued with (see
    /// [`crate::schedule::Scheduler::learn_input`]). The calls waiting are
    /// charged at the new scale at once: one may go sooner, or later.
    pub fn usage(&mut self, key: &str, estimated_input: f64, charged_input: f64, now: f64) {
        self.scheduler.learn_input(key, estimated_input, charged_input);
        self.pump(now);
    }

    /// Headers seen outside a call, for a partition.
    pub fn observe(&mut self, key: &str, observation: &Observation, now: f64) {
        self.scheduler.observe(key, observation, now);
        self.pump(now);
    }

    /// Let the passage of time act: calls that may go, deadlines, pauses
    /// that end.
    pub fn tick(&mut self, now: f64) {
        self.pump(now);
    }

    /// When time alone next changes something with no call waiting for it:
    /// the end of an announced pause, or of a fallback.
    pub fn next_tick(&self) -> Option<f64> {
        let fallback = self.link.as_ref().and_then(|link| link.fallback_until);
        // A spare grant no call used goes back to the coordinator when its lease ends.
        let spare = self.link.as_ref().and_then(|link| link.pool.next_expiry());
        self.pauses.values().copied().chain(fallback).chain(spare).reduce(f64::min)
    }

    /// Calls whose next step may have changed: each should [`Engine::step`].
    pub fn take_woken(&mut self) -> Vec<CallId> {
        std::mem::take(&mut self.woken)
    }

    /// Whether the events of every call (`queued`, `dispatched`,
    /// `response`) are wanted: without a listener they are not made.
    pub fn listen(&mut self, listening: bool) {
        self.listening = listening;
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_tells(&mut self) -> Vec<Tell> {
        std::mem::take(&mut self.tells)
    }

    /// True when anything waits to be taken.
    pub fn has_output(&self) -> bool {
        !(self.woken.is_empty() && self.events.is_empty() && self.tells.is_empty())
    }

    pub fn snapshot(&self, now: f64) -> Snapshot {
        self.scheduler.snapshot(now)
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The scheduler, for a coordinator's book of grants ([`crate::coordinate::Grants`]);
    /// call [`Engine::tick`] after changing it.
    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    /// Calls the engine knows (waiting, asking, in flight or backing off).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Announce a pause of `key` that began or grew.
    fn announce_pause(&mut self, key: &str, now: f64) {
        // A pause that ended is announced as over before a new one begins.
        self.end_pauses(now);
        let Some(until) = self.scheduler.paused_until(key, now) else { return };
        if self.pauses.insert(key.to_string(), until) != Some(until) {
            self.events.push(Event::Pause { partition: key.to_string(), until_ms: until });
        }
    }

    /// Let the scheduler decide what it can now; wake the calls it decided
    /// and the call its next time concerns; announce pauses that ended.
    fn pump(&mut self, now: f64) {
        self.end_fallback(now);
        if let Some(link) = &mut self.link {
            let expired = link.pool.expired(now);
            if !expired.is_empty() {
                self.tells.push(Tell::Release(expired));
            }
        }
        let poll = self.scheduler.poll(now);
        for ticket in poll.granted {
            let Some(id) = self.by_ticket.get(&ticket).copied() else { continue };
            if let Some(call) = self.calls.get_mut(&id) {
                call.phase = Phase::Granted { ticket };
                self.woken.push(id);
            }
        }
        for (ticket, refusal) in poll.refused {
            let Some(id) = self.by_ticket.remove(&ticket) else { continue };
            if let Some(call) = self.calls.get_mut(&id) {
                self.events.push(Event::Rejected { partition: call.key.clone(), code: refusal.code() });
                call.phase = Phase::Refused(refusal);
                self.woken.push(id);
            }
        }
        if let Some((ticket, at)) = self.scheduler.next_wake(now) {
            let holder = self.by_ticket.get(&ticket).copied();
            if let Some(Call { phase: Phase::Queued { sleeps_until, .. }, .. }) = holder.and_then(|id| self.calls.get(&id)) {
                if *sleeps_until > at {
                    self.woken.extend(holder);
                }
            }
        }
        self.end_pauses(now);
    }

    /// Announce the end of every pause that is over at `now`.
    fn end_pauses(&mut self, now: f64) {
        let events = &mut self.events;
        self.pauses.retain(|key, until| {
            let over = *until <= now;
            if over {
                events.push(Event::Resume { partition: key.clone() });
            }
            !over
        });
    }
}
