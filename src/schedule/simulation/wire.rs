//! A call's trip to the simulated API and back: sent after an uplink delay,
//! charged or refused at the server (or turned away by an overload), and
//! answered after processing and a downlink delay. Its headers are parsed
//! by [`crate::headers::parse`] from strings and reported with
//! [`Engine::answered`](crate::engine::Engine::answered) when they reach
//! the client. Whether and when a refused call is sent again (the server's
//! `retry-after`, backoff, `maxRetries`), and the pause of its partition,
//! are the engine's decisions.
//!
//! When the server computes an admitted call's headers, and when they
//! leave it, is a setup's choice ([`Reported`]): as it answers (the kind
//! case, no lag), or at admission and sent either with the answer (not
//! streamed) or at the first token (streamed, the body following). When
//! the whole answer is written, the output it did not use goes back to the
//! server's output bucket.
//!
//! Another client's background calls reach the same server, unseen by ours.

use super::api::Demand;
use super::driver::Driver;
use super::outcome::{Record, What};
use super::queue::{Due, Report};
use super::workload::T0;
use crate::engine::Answer;
use crate::headers::{parse, Refill};

/// When the server computes an admitted call's rate-limit headers, and
/// when they leave it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Reported {
    /// As it answers, sent with the answer: they are never older than the
    /// answer's downlink (kinder than a real server).
    #[default]
    AtAnswer,
    /// At admission (the limits in effect when the call was counted), sent
    /// with the answer once it is written: a non-streamed answer. Its
    /// `Date` is the answer's own (RFC 9110 §6.6.1: when the message was
    /// made), as with each of these.
    AtAdmission,
    /// At admission, sent at once after the time to first token, the body
    /// following: a streamed answer. The engine hears of the call (and
    /// returns it) when the headers arrive.
    Streamed,
}

impl Driver {
    /// Send attempt `attempt` of a call: it reaches the server after its
    /// uplink delay.
    pub(super) fn send(&mut self, call: usize, attempt: u32, now: f64) {
        if now < self.spent_until {
            self.sent_into_spent_window += 1;
        }
        let isolate = self.calls[call].isolate;
        self.log.push(Record { at: now, isolate, what: What::Sent { call, attempt } });
        self.track[call].in_flight = true;
        let c = &mut self.calls[call];
        c.first_dispatch.get_or_insert(now);
        c.sends += 1;
        c.retries = attempt - 1;
        let uplink = c.uplink_ms;
        self.at(now + uplink, Due::Receive(call));
    }

    /// A call reaches the server.
    pub(super) fn receive(&mut self, call: usize, now: f64) {
        let c = &self.calls[call];
        let (demand, processing, first_token) = (c.demand, c.processing_ms, c.first_token_ms);
        let overloaded = self.overload.is_some_and(|o| {
            let (from, until) = o.during;
            (T0 + from..T0 + until).contains(&now) && self.processing >= o.capacity
        });
        if overloaded {
            // Turned away before any work: nothing is charged.
            let headers = self.api.headers(now + 5.0, None);
            self.at(now + 5.0, Due::Deliver { call, status: 529, headers });
            return;
        }
        match self.api.receive(&demand, now, true, first_token) {
            Ok(_) => {
                self.calls[call].accepted_at = Some(now);
                self.processing += 1;
                let report = match self.reported {
                    Reported::AtAnswer => Report::Now,
                    Reported::AtAdmission => Report::Ready(self.api.headers(now, None)),
                    Reported::Streamed => {
                        let headers = dated(self.api.headers(now, None), now + first_token);
                        let downlink = self.calls[call].downlink_ms;
                        self.at(now + first_token + downlink, Due::Deliver { call, status: 200, headers });
                        Report::Sent
                    }
                };
                self.at(now + processing, Due::Answer { call, status: 200, report });
            }
            Err(wait) => {
                self.rate_limited_at.push(now);
                let headers = self.api.headers(now + 5.0, Some(wait));
                self.at(now + 5.0, Due::Deliver { call, status: 429, headers });
            }
        }
    }

    /// The server has written a call's whole answer: the output it did not
    /// write goes back, and the answer leaves (with its headers, unless they
    /// left at the first token).
    pub(super) fn answer(&mut self, call: usize, status: u16, report: Report, now: f64) {
        self.processing -= 1;
        let c = &mut self.calls[call];
        let (max_tokens, downlink) = (c.demand.output_tokens, c.downlink_ms);
        let written = c.written_tokens.unwrap_or(max_tokens);
        c.completed_at = Some(now + downlink);
        self.api.give_back(max_tokens, written, now);
        let headers = match report {
            // The headers describe the server as it answers.
            Report::Now => self.api.headers(now, None),
            Report::Ready(headers) => dated(headers, now),
            Report::Sent => return,
        };
        self.at(now + downlink, Due::Deliver { call, status, headers });
    }

    /// A call's answer reaches the client.
    pub(super) fn deliver(&mut self, call: usize, status: u16, headers: Vec<(String, String)>, now: f64) {
        let observation = parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now);
        for d in observation.dimensions.iter().filter(|d| d.refill == Refill::Window && d.remaining == Some(0.0)) {
            self.spent_until = self.spent_until.max(d.reset_at_ms.unwrap_or(now));
        }
        match status {
            429 => {
                self.rate_limited += 1;
                if self.answered {
                    self.rate_limited_after_first_answer += 1;
                }
                self.calls[call].rate_limited += 1;
            }
            529 => {
                self.overloaded += 1;
                self.calls[call].overloaded += 1;
            }
            _ => {}
        }
        self.answered = true;
        let isolate = self.calls[call].isolate;
        let track = &mut self.track[call];
        track.in_flight = false;
        track.status = Some(status);
        let Some(id) = track.id else { return };
        self.isolates[isolate].engine.answered(id, Answer::Heard { status, observation, fields: headers }, now);
        if status == 200 {
            // The answer's usage (the whole prompt, cache reads too, which
            // the client reads as its estimate's error), read from its body
            // after its headers, as the caller's `json()` reads it.
            let (estimated, used) = (self.estimated_input(call), self.calls[call].demand.input_tokens);
            self.isolates[isolate].engine.usage(super::workload::PARTITION, estimated, used, now);
        }
        self.drain(isolate, now);
        self.step(call, now);
    }

    /// A call of the other client reaches the server.
    pub(super) fn background_call(&mut self, demand: Demand, now: f64) {
        if let Err(wait) = self.api.receive(&demand, now, false, 0.0) {
            // The other client retries after the server's retry-after.
            let again = now + (wait / 1000.0).ceil().max(1.0) * 1000.0;
            self.at(again, Due::BackgroundCall(demand));
        }
    }
}

/// Headers counted earlier, sent at `t`: their `Date` says `t`.
fn dated(mut headers: Vec<(String, String)>, t: f64) -> Vec<(String, String)> {
    for (_, value) in headers.iter_mut().filter(|(name, _)| name == "date") {
        *value = super::api::imf_fixdate(t);
    }
    headers
}
