//! The budget of one partition: a bucket per dimension, and the reservations
//! of calls the server has not counted yet.
//!
//! # The model
//!
//! A bucket's *level* is what the server would say remains, as of a moment we
//! know (`at_ms`), and a refill rule says how it changes with time
//! ([`Bucket`]). A call's [`Cost`] is *reserved* when it is dispatched. What a
//! new call may use is
//!
//! ```text
//! available(now) = level(now) − Σ cost of uncounted reservations
//! ```
//!
//! When a response arrives, its headers are the truth as of the moment the
//! server admitted its call. Calls sent well before that one (at least
//! [`REORDER_MS`] earlier) reached the server before it and have been
//! counted, so their reservations are dropped with the call's own; the level
//! is replaced by the reported `remaining`. Calls sent after it, or so close
//! to it that they may have reached the server after it (a new connection's
//! handshakes against a pooled one), may not be counted yet, so their
//! reservations stay subtracted until a report covers them or their own
//! answer comes.
//!
//! Reports come back in any order. Each is placed against the newest one
//! applied, in the order the server admitted their calls:
//! - a call sent after the applied report came back was admitted after it;
//! - the requests each shows left can prove it: each admission takes one
//!   request, and between two admissions (each somewhere between its call's
//!   sending and its answer) the bucket refills at most its rate times the
//!   widest gap those times allow; a report showing more left than that
//!   margin came earlier, fewer came later, however the trips went;
//! - short of a proof, calls sent [`REORDER_MS`] or more apart were
//!   admitted in the order they were sent;
//! - closer than that, fewer requests left means later, as long as refill
//!   between them is under one request; a tie tells nothing.
//!
//! A later report is applied. An earlier one only drops its own call's
//! reservation: the report applied counted it. One that cannot be placed
//! charges its call's cost to the level: subtracted twice for a while, if
//! the applied report did count it, never not at all.
//!
//! Why this neither double-counts nor under-counts:
//! - a call is subtracted by its reservation until a report that covers it
//!   is applied, then by the server's `remaining`; where it is unknown
//!   whether the server's figure includes it, it is subtracted from both
//!   (the error is on the safe side, and lasts until the next report);
//! - a call is never forgotten: a reservation leaves only through a report
//!   that covers it, through its own report placed earlier than the one
//!   applied (which counted it), by being charged to the level as local
//!   consumption (its response carried no headers, or could not be placed),
//!   or by its release (never sent, or refused);
//! - a report older than the one applied is not applied, so the level never
//!   moves back to an earlier truth.
//!
//! The approximation is [`REORDER_MS`]: a call whose trip to the server
//! took that much longer than that of a call sent after it is taken as
//! counted by that call's report, unless the requests left show otherwise.
//!
//! An applied response that does not report a dimension we keep (a static limit,
//! or a field the server left out) charges the reservations it drops to that
//! dimension as local consumption, so the drop forgets nothing there either.
//! A refused call (429) is released before its response is applied: the
//! server counted nothing for it.
//!
//! # Held reservations
//!
//! The rule above takes a call as sent when it is dispatched, which holds
//! only when one client sends each call as it is dispatched.
//! A coordinator ([`crate::coordinate`]) grants calls that other isolates
//! send after a round trip of their own, and spare grants of a lease are
//! sent later still. Their reservations are *held*: no response covers them
//! but their own. Their own answer covers them like any other when it is
//! placed later than the one applied; otherwise that one may not have
//! counted them (a held call's send time is known only from news that
//! comes after it), so their cost is charged to the level instead. A held call
//! can thus be subtracted twice for a while (by the level and its
//! reservation, between the server counting it and its answer arriving),
//! never not at all: the error is on the safe side, and lasts one latency.
//! A coordinator's scheduler holds every grant
//! (`Config::hold_until_answered`); a throttler on its own holds none.
//!
//! # What others use
//!
//! Another client on the same key spends budget we never see dispatched.
//! Each fresh report shows it as a shortfall from a *shadow* level: the last
//! report, refilled at the server's full rate, less each call of ours as it
//! is sent (a call comes back into it if it is refused or never sent). The
//! shadow counts our calls when they reach the server, as the server does,
//! not when a response covers them: an answer that took 30 s covers calls
//! the server counted long before. The bucket averages the shortfall per ms
//! over about 30 s (signed, so the rounding of reports does not bias it),
//! refills net of it, and holds back 20 s of it as a margin against the
//! lumps in which the other client spends. A margin is a level, not a rate,
//! so it costs no throughput in the long run.
//!
//! # Reading the reports
//!
//! Rounded counts are taken at the lowest figure they can stand for. A
//! report may have been counted at any moment between its call's sending
//! and its arrival (a server may count when it admits the call, a whole
//! answer earlier). The rate of a continuous bucket is the documented
//! per-window rate (`limit / default_window`) whenever the report is
//! consistent with it within its rounding (counts to the thousand, resets
//! to the second) and its age, else the rate the report implies counted
//! from its call's sending (see [`Bucket::from_observation`]). A reset a
//! second away or a small deficit implies a rate loose by tens of percent,
//! so the exact nominal rate wins whenever it fits. Anthropic's `tokens-*`
//! fields repeat the most restrictive of the input and output limits and
//! are not gated on when those are reported beside them.

mod bucket;
mod cost;
mod ledger;

pub use bucket::{Bucket, BucketRefill, BucketView, SavedBucket};
pub use cost::{Cost, Limits};
pub use ledger::{Admission, Budget, REORDER_MS};
