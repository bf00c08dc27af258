//! [`Engine::step`]: what a call does next, and the decisions taken there.

use super::io::{Ask, CallId, Event, Step, Tell};
use super::{Call, Engine, Outcome, Phase};
use crate::retry::{self, Attempt, Decision};
use crate::schedule::Refusal;

impl Engine {
    /// What the caller of call `id` does next, at `now`. A call the engine
    /// no longer knows (settled, or aborted) returns [`Step::Return`].
    pub fn step(&mut self, id: CallId, now: f64) -> Step {
        // What time alone changes concerns waiting calls (and, through the
        // coordinator's link, leases and the fallback): a call let go, in
        // flight or answered, without a coordinator, needs no look at the
        // queue; every input that changes it (an enqueue, an answer, an
        // abort, a tick) looked already.
        let settled = self.link.is_none()
            && self.calls.get(&id).is_some_and(|call| matches!(call.phase, Phase::Granted { .. } | Phase::InFlight { .. } | Phase::Answered(_)));
        if !settled {
            self.pump(now);
        }
        loop {
            let Some(call) = self.calls.get_mut(&id) else { return Step::Return };
            let expired = call.deadline.is_some_and(|d| d <= now);
            match call.phase {
                Phase::Queued { ticket, .. } => {
                    let holds_alarm = self.scheduler.next_wake(now).filter(|(holder, _)| *holder == ticket);
                    // A fallback's end lets waiting calls go and ask the coordinator.
                    let fallback_ends = self.link.as_ref().and_then(|link| link.fallback_until).unwrap_or(f64::INFINITY);
                    let until = holds_alarm.map_or(f64::INFINITY, |(_, at)| at).min(call.deadline.unwrap_or(f64::INFINITY)).min(fallback_ends);
                    call.phase = Phase::Queued { ticket, sleeps_until: until };
                    return Step::Wait { until };
                }
                Phase::Granted { ticket } => {
                    if let Some(step) = self.clear(id, ticket, now) {
                        return step;
                    }
                }
                Phase::Asking { ticket, ask, .. } if expired => {
                    self.refuse(ticket);
                    if let Some(link) = &mut self.link {
                        link.abandon(ask);
                    }
                    self.time_out(id, now);
                }
                Phase::AskAgain { ticket, .. } if expired => {
                    self.refuse(ticket);
                    self.time_out(id, now);
                }
                Phase::Asking { .. } => return Step::Wait { until: call.deadline.unwrap_or(f64::INFINITY) },
                // The coordinator is known to be down (another call fell
                // back meanwhile): back to the queue, under the local budget.
                Phase::AskAgain { ticket, .. } if self.link.as_ref().is_some_and(|link| !link.up(now)) => {
                    self.scheduler.requeue(ticket);
                    call.phase = Phase::Queued { ticket, sleeps_until: f64::INFINITY };
                    self.pump(now);
                }
                Phase::AskAgain { ticket, tries, at } if at <= now => return self.ask(id, ticket, tries),
                Phase::AskAgain { at, .. } => return Step::Wait { until: at.min(call.deadline.unwrap_or(f64::INFINITY)) },
                Phase::Cleared { ticket, grant } => {
                    call.phase = Phase::InFlight { ticket, grant };
                    let waited_ms = (now - call.since).max(0.0).round();
                    if self.listening {
                        self.events.push(Event::Dispatched { partition: call.key.clone(), attempt: call.retries + 1, waited_ms });
                    }
                    return Step::Send { attempt: call.retries + 1 };
                }
                // Asked again while in flight: nothing to do until it is answered.
                Phase::InFlight { .. } => return Step::Wait { until: f64::INFINITY },
                Phase::Answered(_) => {
                    if let Some(step) = self.decide(id, now) {
                        return step;
                    }
                }
                Phase::Backoff { until } if until > now => return Step::Wait { until },
                Phase::Backoff { .. } => {
                    let mut call = self.calls.remove(&id).expect("found above");
                    let queued = self.queue(&mut call, id, now);
                    if let Err(refusal) = queued {
                        self.events.push(Event::Rejected { partition: call.key.clone(), code: refusal.code() });
                        call.phase = Phase::Refused(refusal);
                    }
                    self.calls.insert(id, call);
                    self.pump(now);
                }
                Phase::Refused(_) => {
                    let Some(Call { phase: Phase::Refused(refusal), .. }) = self.end(id) else { unreachable!("matched above") };
                    return Step::Refuse(refusal);
                }
            }
        }
    }

    /// A call the scheduler let go: with a coordinator, a spare grant or a
    /// request for one; otherwise (or while the coordinator cannot be
    /// reached) it is cleared to go. `None`: step again.
    fn clear(&mut self, id: CallId, ticket: u64, now: f64) -> Option<Step> {
        let call = self.calls.get_mut(&id)?;
        let Some(link) = self.link.as_mut().filter(|link| link.up(now)) else {
            call.phase = Phase::Cleared { ticket, grant: None };
            return None;
        };
        // Compared as the coordinator reserved it: the cost as dispatched.
        let cost = self.scheduler.cost(ticket).unwrap_or(call.cost);
        match link.pool.take(&call.key, &cost, now) {
            Some(grant) => {
                self.tells.push(Tell::Sent(vec![grant]));
                call.phase = Phase::Cleared { ticket, grant: Some(grant) };
                None
            }
            None => Some(self.ask(id, ticket, 0)),
        }
    }

    /// Ask the coordinator for the grant of a call let go as `ticket`.
    fn ask(&mut self, id: CallId, ticket: u64, tries: usize) -> Step {
        let (Some(call), Some(link)) = (self.calls.get_mut(&id), self.link.as_mut()) else { return Step::Return };
        let ask = link.ask(id);
        call.phase = Phase::Asking { ticket, ask, tries };
        // The cost as dispatched (calibrated then), and its guess.
        let guessed = self.scheduler.guessed(ticket);
        let cost = self.scheduler.cost(ticket).unwrap_or(call.cost);
        Step::Ask(Ask { id: ask, key: call.key.clone(), cost, guessed, count: link.settings.lease_size, lease_ms: link.settings.lease_ms })
    }

    fn time_out(&mut self, id: CallId, now: f64) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        let refusal = Refusal::QueueTimeout { waited_ms: now - call.since };
        self.events.push(Event::Rejected { partition: call.key.clone(), code: refusal.code() });
        call.phase = Phase::Refused(refusal);
    }

    /// After an answer: read its body first if the decision needs it, then
    /// retry after a delay or return. `None`: step again.
    fn decide(&mut self, id: CallId, now: f64) -> Option<Step> {
        let call = self.calls.get_mut(&id)?;
        let Phase::Answered(outcome) = &call.phase else { return None };
        if let Outcome::Heard { status, observation, spend_limit_reached: None } = outcome.as_ref() {
            if retry::needs_body(&self.retry, *status, observation, call.retries, call.retries_allowed) {
                return Some(Step::ReadBody { bytes: retry::SPEND_LIMIT_READ_BYTES, ms: retry::SPEND_LIMIT_READ_MS });
            }
        }
        let Some(attempt) = outcome.attempt() else {
            self.end(id);
            return Some(Step::Return);
        };
        let status = match attempt {
            Attempt::Answered { status, .. } => Some(status),
            Attempt::NetworkError => None,
        };
        let jitter = self.scheduler.jitter();
        match retry::decide(&self.retry, attempt, call.retries, call.retries_allowed, jitter) {
            Decision::Return => {
                self.end(id);
                Some(Step::Return)
            }
            Decision::RetryAfter(delay_ms) => {
                call.retries += 1;
                self.scheduler.note_retry();
                let delay_ms = delay_ms.round();
                self.events.push(Event::Retry { partition: call.key.clone(), attempt: call.retries + 1, delay_ms, status });
                call.phase = Phase::Backoff { until: now + delay_ms };
                None
            }
        }
    }
}
