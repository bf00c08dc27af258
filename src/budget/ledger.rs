//! A partition's buckets and the reservations of calls in flight.

use super::bucket::{Bucket, BucketRefill, BucketView, RESET_RESOLUTION_MS};
use super::cost::{Cost, Limits};
use crate::float::clamp;
use crate::headers::{Dimension, Observation, Source};
use crate::ids::IdMap;
use crate::small_map::SmallMap;

/// Whether a cost fits now, later, or never.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Every known dimension has room now.
    Now,
    /// Refill makes room at this time (epoch ms), if nothing else changes.
    At(f64),
    /// Refill alone cannot make room: reservations of calls in flight must
    /// come back first (a response, or their release).
    AfterInFlight,
    /// More than the dimension's limit: it can never be admitted.
    Never { dimension: String, cost: f64, limit: f64 },
}

/// How far apart in time two calls may be sent and still reach the server
/// in either order: the spread of their trips there (a new connection's
/// handshakes against a pooled one). A report covers the calls sent at
/// least this long before its own; two reports of calls sent closer than
/// this are put in the server's order by the requests they show left.
pub const REORDER_MS: f64 = 50.0;

/// A dispatched call's reservation: its cost, and when it was sent.
#[derive(Clone, Copy, Debug)]
struct Reservation {
    cost: Cost,
    sent_at_ms: f64,
    /// Covered only by its call's own report (see [`Budget::keep`]).
    own_report_only: bool,
}

/// The report whose levels the buckets hold: when its call was sent, and
/// how many requests it showed left (the server's clock among calls sent
/// together: each call it admits takes one).
#[derive(Clone, Copy, Debug)]
struct Applied {
    sent_at_ms: f64,
    received_at_ms: f64,
    requests_left: Option<f64>,
    /// When the requests bucket the report showed is full again (for a
    /// window, when that window ends).
    requests_reset_at_ms: Option<f64>,
}

/// Where a report stands against the one applied, in the server's order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    /// Its call was admitted after the applied one's: its levels are newer.
    Later,
    /// Admitted before, as the reports' counts prove: the applied report
    /// counted it, however late it was sent.
    Counted,
    /// Admitted before, as the sending order says: the applied report
    /// counted it, unless it was sent later than dispatched (a held call).
    Earlier,
    /// Sent too close to the applied one to tell.
    Unknown,
}

/// The buckets of one partition and its uncounted reservations.
#[derive(Clone, Debug, Default)]
pub struct Budget {
    buckets: SmallMap<String, Bucket>,
    /// Reservations by dispatch sequence that no observation has covered yet.
    uncounted: IdMap<u64, Reservation>,
    /// Their sum, kept so admission is O(dimensions), not O(calls in flight).
    reserved: Cost,
    /// The newest report applied, in the server's order.
    applied: Option<Applied>,
    /// Reservations that only the call's own response covers: calls whose
    /// sending may come later than their dispatch (a coordinator's grants,
    /// sent by other isolates after a round trip, or spare grants of a
    /// lease). [`Budget::sent`] moves one to the sequence of its sending.
    held: IdMap<u64, Reservation>,
}

impl Budget {
    /// A budget that knows `limits` before any response, each full at `now_ms`.
    pub fn with_limits(limits: &Limits, now_ms: f64) -> Budget {
        let mut budget = Budget::default();
        for (name, per_minute) in limits.per_minute() {
            budget.buckets.insert(name.to_string(), Bucket::full_continuous(per_minute, 60_000.0, now_ms));
        }
        budget
    }

    /// True when any dimension is known (from limits or a response).
    pub fn knows_limits(&self) -> bool {
        !self.buckets.is_empty()
    }

    /// The bucket of a dimension, if known.
    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.get(name)
    }

    /// Whether `cost` fits at `now_ms`, and if not, when it could.
    /// `guessed` of its input tokens are a guess, not a count (an image by
    /// link, a document's pages): a cost over a limit only by its guess is
    /// not [`Admission::Never`] but waits for a full bucket.
    pub fn admission(&self, cost: &Cost, guessed: f64, now_ms: f64) -> Admission {
        self.admission_with_share(cost, guessed, now_ms, 1.0)
    }

    /// [`Budget::admission`] using only `share` of each limit: the rest
    /// (`(1 − share) × limit`) is left in the bucket for others.
    pub fn admission_with_share(&self, cost: &Cost, guessed: f64, now_ms: f64, share: f64) -> Admission {
        let share = if share.is_finite() { clamp(share, 0.01, 1.0) } else { 1.0 };
        let left_for_others = 1.0 - share;
        let mut at = now_ms;
        let mut after_in_flight = false;
        for (name, bucket) in self.buckets.iter() {
            let need = cost.for_dimension(name);
            if need <= 0.0 {
                continue;
            }
            // Only input tokens (and the tokens they are part of) are guessed.
            let counted = if matches!(name.as_str(), "input_tokens" | "tokens") { need - guessed } else { need };
            if counted > bucket.limit {
                return Admission::Never { dimension: name.clone(), cost: need, limit: bucket.limit };
            }
            // Over the limit only by a guess: it goes when the bucket is full.
            let need = need.min(bucket.limit);
            let reserved = self.reserved.for_dimension(name);
            let wanted = (need + bucket.unseen_reserve()).min(bucket.limit) + reserved;
            let sharing = (need + bucket.unseen_reserve() + left_for_others * bucket.limit).min(bucket.limit) + reserved;
            // A share of a limit so large that no float time reaches it is
            // no share at all: it must not hold the call for good.
            match bucket.time_to_reach(sharing, now_ms).or_else(|| (sharing <= bucket.limit).then(|| bucket.time_to_reach(wanted, now_ms)).flatten())
            {
                Some(t) => at = at.max(t),
                None => after_in_flight = true,
            }
        }
        match () {
            _ if after_in_flight => Admission::AfterInFlight,
            _ if at <= now_ms => Admission::Now,
            _ => Admission::At(at),
        }
    }

    /// Hold `cost` for the call dispatched as `sequence` at `now_ms`.
    pub fn reserve(&mut self, sequence: u64, cost: Cost, now_ms: f64) {
        self.reserved.add(&cost);
        for (name, bucket) in self.buckets.iter_mut() {
            bucket.note_sent(cost.for_dimension(name), now_ms);
        }
        self.uncounted.insert(sequence, Reservation { cost, sent_at_ms: now_ms, own_report_only: false });
    }

    /// The call dispatched as `sequence` may reach the server long after
    /// calls sent later (sent on a new connection as its process is
    /// busiest): no report but its own covers it. Its own is placed as any
    /// call's, by when it was sent where the counts prove nothing, and so
    /// given back uncharged when placed before the applied one, though it
    /// may have arrived after: charging those (as [`Budget::hold`] does)
    /// cost bursts with answers of seconds up to 8 % of their time.
    pub fn keep(&mut self, sequence: u64) {
        if let Some(r) = self.uncounted.get_mut(&sequence) {
            r.own_report_only = true;
        }
    }

    /// The call dispatched as `sequence` may be sent later than calls
    /// dispatched after it: keep its reservation until its own answer.
    pub fn hold(&mut self, sequence: u64) {
        if let Some(cost) = self.uncounted.remove(&sequence) {
            self.held.insert(sequence, cost);
        }
    }

    /// A held call (see [`Budget::hold`]) was sent, as we learn at `now_ms`
    /// and number `now_sequence`. The news comes after the sending (a
    /// message on its way, at most [`REORDER_MS`] by this count), and
    /// reports are placed by send times no later than the truth, so it is
    /// taken as sent that much earlier, and never before its dispatch.
    /// Returns false, changing nothing, when no call is held as `sequence`.
    pub fn sent(&mut self, sequence: u64, now_sequence: u64, now_ms: f64) -> bool {
        let Some(held) = self.held.remove(&sequence) else { return false };
        let sent_at_ms = (now_ms - REORDER_MS).max(held.sent_at_ms);
        self.held.insert(now_sequence, Reservation { sent_at_ms, ..held });
        true
    }

    /// The buckets by name, to be saved and given back to [`Budget::from_buckets`].
    pub fn buckets(&self) -> impl Iterator<Item = (&String, &Bucket)> {
        self.buckets.iter()
    }

    /// A budget with these buckets and nothing reserved.
    pub fn from_buckets(buckets: impl IntoIterator<Item = (String, Bucket)>) -> Budget {
        Budget { buckets: buckets.into_iter().collect(), ..Budget::default() }
    }

    /// A response arrived for the call dispatched as `sequence`.
    ///
    /// With rate-limit dimensions in `observation`, and when its call was
    /// admitted after the call of the report applied last (see
    /// [`Budget::order`]), the reported levels replace ours; the call's own
    /// reservation and those of calls sent at least [`REORDER_MS`] before it
    /// are dropped (the server has counted those calls). A report admitted
    /// before the applied one only drops its own call's reservation (the
    /// applied report counted it); one that cannot be placed charges it as
    /// local consumption. Without rate-limit dimensions, the call's own
    /// reservation is charged to the buckets as local consumption.
    pub fn reconcile(&mut self, sequence: u64, observation: Option<&Observation>, now_ms: f64, default_window_ms: f64) {
        self.answered(sequence, false, observation, now_ms, default_window_ms);
    }

    /// The call dispatched as `sequence` was refused (a 429): the server
    /// counted nothing for it, so its reservation goes back as in
    /// [`Budget::release`], and its headers are placed and applied as
    /// [`Budget::reconcile`] does.
    pub fn refused(&mut self, sequence: u64, observation: Option<&Observation>, now_ms: f64, default_window_ms: f64) {
        self.answered(sequence, true, observation, now_ms, default_window_ms);
    }

    fn answered(&mut self, sequence: u64, refused: bool, observation: Option<&Observation>, now_ms: f64, default_window_ms: f64) {
        // A held call's own answer covers it like any call's; but when that
        // answer is placed before the applied one only by when it was sent,
        // that one may not have counted it (it was held because its sending
        // could come late), so it is charged.
        let held = self.held.remove(&sequence).map(|held| self.uncounted.insert(sequence, held)).is_some();
        // No reservation left: a report applied earlier covered the call,
        // and that report's call was sent well after it; nothing to learn.
        let Some(sent_at_ms) = self.uncounted.get(&sequence).map(|r| r.sent_at_ms) else { return };
        if refused {
            self.release(sequence);
        }
        let Some(observation) = observation.filter(|o| !o.dimensions.is_empty()) else {
            if let Some(cost) = self.drop_reservation(sequence) {
                self.charge(&cost, &[], now_ms);
            }
            return;
        };
        let (requests_left, requests_reset_at_ms) = requests(observation);
        let report = Applied { sent_at_ms, received_at_ms: now_ms, requests_left, requests_reset_at_ms };
        match self.order(&report, refused, default_window_ms) {
            Order::Later => self.apply_report(Some(sequence), report, observation, now_ms, default_window_ms),
            order => {
                let counted = matches!(order, Order::Counted) || (matches!(order, Order::Earlier) && !held);
                if let Some(cost) = self.drop_reservation(sequence).filter(|_| !counted) {
                    self.charge(&cost, &[], now_ms);
                }
            }
        }
    }

    /// Where `report` stands against the report applied last.
    ///
    /// A call sent once the applied report had come back was admitted
    /// after that report's call. Otherwise the requests each report shows
    /// left can prove the order whatever the calls' trips took. Between
    /// reports of one window they prove it alone (nothing refills within
    /// it). In a continuously refilled bucket a call is admitted somewhere
    /// between its sending and its answer, so two
    /// admissions are at most `w` apart (the wider of the two spans from
    /// one call's sending to the other's answer), and the bucket refills at
    /// most `rate × w` between them, while each admission takes one
    /// request. A report showing more than that many more left than the
    /// applied one came earlier; one showing more than that many fewer came
    /// later.
    ///
    /// Short of a proof, calls sent [`REORDER_MS`] or more apart reach the
    /// server in the order they were sent. Closer than that, the one
    /// showing fewer requests left came later; that holds while refill
    /// between their admissions is less than one request (so the requests
    /// bucket must refill slower than one per their gap and
    /// [`REORDER_MS`]), and a tie tells nothing.
    fn order(&self, report: &Applied, refused: bool, default_window_ms: f64) -> Order {
        let Some(applied) = self.applied else { return Order::Later };
        // Sent once the applied report was back: admitted after its call.
        if report.sent_at_ms >= applied.received_at_ms {
            return Order::Later;
        }
        // The fastest the requests bucket can refill: its rate as read from
        // reports (which a late report's reset can understate), or its
        // limit over the shortest window any bucket shows (the dimensions
        // of one API share their window, and a large deficit reads it
        // well), whichever is faster.
        let shortest_window_ms = self
            .buckets
            .values()
            .filter_map(|b| match b.refill {
                BucketRefill::Continuous { per_ms } if per_ms > 0.0 => Some(b.limit / per_ms),
                _ => None,
            })
            .fold(default_window_ms, f64::min);
        let refill = self.buckets.get("requests").map(|b| match b.refill {
            BucketRefill::Continuous { per_ms } => BucketRefill::Continuous { per_ms: per_ms.max(b.limit / shortest_window_ms) },
            window => window,
        });
        // Within one window every admission takes a request and none comes
        // back: a report showing fewer left was made later, and one showing
        // as many or more was made before the applied one or counts nothing
        // the applied one did not (a report made at the answer, as most
        // servers make theirs, counts every call admitted before it), so
        // the applied one counted its call, whenever that was sent.
        // Only reports of one window, by their resets, are placed so: a reset
        // given as seconds from now is counted from the answer's arrival,
        // so resets of one window can differ by an answer's time, and those
        // are left to the rules below. A refused call takes no request: its
        // report showing as many left as the applied one is the later.
        if let (Some(BucketRefill::Window { .. }), Some(left), Some(before), Some(reset), Some(applied_reset)) =
            (refill, report.requests_left, applied.requests_left, report.requests_reset_at_ms, applied.requests_reset_at_ms)
        {
            if (reset - applied_reset).abs() <= RESET_RESOLUTION_MS {
                return if left < before || (refused && left == before) { Order::Later } else { Order::Counted };
            }
        }
        if let (Some(BucketRefill::Continuous { per_ms }), Some(left), Some(before)) = (refill, report.requests_left, applied.requests_left) {
            let w = (report.received_at_ms - applied.sent_at_ms).max(applied.received_at_ms - report.sent_at_ms);
            let drift = per_ms * w.max(0.0);
            // Strictly: a refused call's report shows the bucket without
            // taking a request, which leaves no margin at equality.
            if left > before + drift {
                return Order::Counted;
            }
            if left < before - drift {
                return Order::Later;
            }
        }
        let gap = report.sent_at_ms - applied.sent_at_ms;
        if gap.abs() >= REORDER_MS {
            return if gap > 0.0 { Order::Later } else { Order::Earlier };
        }
        let per_ms = match refill {
            Some(BucketRefill::Continuous { per_ms }) => per_ms,
            // A window refills only at its reset: a report of a later
            // window is later, and within one window nothing refills. A
            // reset is known to a second (a relative one is counted from
            // the answer's arrival), so resets closer than that are one
            // window's.
            Some(BucketRefill::Window { .. }) => match (report.requests_reset_at_ms, applied.requests_reset_at_ms) {
                (Some(reset), Some(applied_reset)) if reset > applied_reset + RESET_RESOLUTION_MS => return Order::Later,
                (Some(reset), Some(applied_reset)) if reset < applied_reset - RESET_RESOLUTION_MS => return Order::Earlier,
                (Some(_), Some(_)) => 0.0,
                _ => return Order::Unknown,
            },
            None => return Order::Unknown,
        };
        match (report.requests_left, applied.requests_left) {
            (Some(left), Some(before)) if per_ms * (gap.abs() + REORDER_MS) < 1.0 => match left.total_cmp(&before) {
                std::cmp::Ordering::Less => Order::Later,
                std::cmp::Ordering::Greater => Order::Earlier,
                std::cmp::Ordering::Equal => Order::Unknown,
            },
            _ => Order::Unknown,
        }
    }

    /// Apply a report as the newest: its levels replace ours, and it covers
    /// its own call (`own`) and every call sent at least [`REORDER_MS`]
    /// before it but those kept for their own reports ([`Budget::keep`]).
    /// Calls sent closer to it stay reserved: the server may have counted
    /// them after it.
    fn apply_report(&mut self, own: Option<u64>, report: Applied, observation: &Observation, now_ms: f64, default_window_ms: f64) {
        let before = report.sent_at_ms - REORDER_MS;
        let covered: Vec<u64> = self
            .uncounted
            .iter()
            .filter(|(sequence, r)| Some(**sequence) == own || (r.sent_at_ms <= before && !r.own_report_only))
            .map(|(sequence, _)| *sequence)
            .collect();
        let mut covered_sum = Cost::default();
        for sequence in covered {
            if let Some(r) = self.uncounted.remove(&sequence) {
                covered_sum.add(&r.cost);
            }
        }
        let reported = self.apply(observation, report.sent_at_ms, now_ms, default_window_ms);
        self.applied = Some(report);
        self.reserved.subtract(&covered_sum);
        self.forget_drift();
        // A dimension this response did not report (a static limit, or one
        // the server left out this time) learns nothing from it: the calls
        // it covers are charged there as local consumption, so they are not
        // forgotten.
        self.charge(&covered_sum, &reported, now_ms);
    }

    /// Charge `cost` as local consumption to every bucket not named in `except`.
    fn charge(&mut self, cost: &Cost, except: &[String], now_ms: f64) {
        for (name, bucket) in self.buckets.iter_mut().filter(|(name, _)| !except.contains(name)) {
            bucket.take(cost.for_dimension(name), now_ms);
        }
    }

    /// The call dispatched as `sequence` never reached the server (it was
    /// cancelled before sending, or the connection failed): give back its
    /// reservation without charging anything.
    pub fn release(&mut self, sequence: u64) {
        let cost = match self.held.remove(&sequence) {
            Some(Reservation { cost, .. }) => {
                self.reserved.subtract(&cost);
                self.forget_drift();
                Some(cost)
            }
            None => self.drop_reservation(sequence),
        };
        if let Some(cost) = cost {
            for (name, bucket) in self.buckets.iter_mut() {
                bucket.note_unsent(cost.for_dimension(name));
            }
        }
    }

    /// Apply headers seen outside a dispatched call (`Throttler.observe`):
    /// they are as new as anything, so they cover every call sent at least
    /// [`REORDER_MS`] ago.
    pub fn observe(&mut self, observation: &Observation, now_ms: f64, default_window_ms: f64) {
        if observation.dimensions.is_empty() {
            return;
        }
        // Headers seen outside a call may be of a call admitted long before
        // now: their requests left prove nothing about the order.
        let report = Applied { sent_at_ms: now_ms, received_at_ms: now_ms, requests_left: None, requests_reset_at_ms: None };
        self.apply_report(None, report, observation, now_ms, default_window_ms);
    }

    /// Replace the buckets the observation reports (made while its call,
    /// sent at `sent_at_ms`, was under way); returns their names. The old
    /// bucket, less what we sent since, is what the report should say: any
    /// shortfall is use by others (see [`Bucket::learn_unseen`]).
    fn apply(&mut self, observation: &Observation, sent_at_ms: f64, now_ms: f64, default_window_ms: f64) -> Vec<String> {
        let mut reported = Vec::new();
        for dim in observation.dimensions.iter().filter(|d| !is_most_restrictive_view(d, observation)) {
            let previous = self.buckets.get(&dim.name);
            if let Some(mut bucket) = Bucket::from_observation(dim, previous, sent_at_ms, now_ms, default_window_ms) {
                if let Some(previous) = previous {
                    bucket.learn_unseen(previous, now_ms);
                }
                self.buckets.insert(dim.name.clone(), bucket);
                reported.push(dim.name.clone());
            }
        }
        reported
    }

    /// Nothing reserved or held, and every bucket full at `now_ms`: the
    /// budget is as it would be made afresh from what it learnt.
    pub fn idle_and_full(&self, now_ms: f64) -> bool {
        self.uncounted.is_empty() && self.held.is_empty() && self.buckets.values().all(|b| b.level_at(now_ms) >= b.limit)
    }

    /// Reservations not yet covered by a response, summed (for tests and views).
    pub fn reserved(&self) -> Cost {
        self.reserved
    }

    fn drop_reservation(&mut self, sequence: u64) -> Option<Cost> {
        let Reservation { cost, .. } = self.uncounted.remove(&sequence)?;
        self.reserved.subtract(&cost);
        self.forget_drift();
        Some(cost)
    }

    /// With no reservation left, their sum is exactly zero: drop what the
    /// float sums drifted by.
    fn forget_drift(&mut self) {
        if self.uncounted.is_empty() && self.held.is_empty() {
            self.reserved = Cost::default();
        }
    }

    /// The earliest reset among dimensions that are exhausted at `now_ms`.
    pub fn exhausted_reset(&self, now_ms: f64) -> Option<f64> {
        self.buckets
            .iter()
            .filter(|(name, b)| b.level_at(now_ms) - self.reserved.for_dimension(name) < 1.0)
            .filter_map(|(_, b)| b.reset_at(now_ms))
            // A reset float time cannot reach is no reset: the backoff serves.
            .filter(|t| *t > now_ms && t.is_finite())
            .reduce(f64::min)
    }

    /// Plain views of every bucket, remaining net of reservations.
    pub fn views(&self, now_ms: f64) -> Vec<BucketView> {
        self.buckets.iter().map(|(name, b)| b.view(name, self.reserved.for_dimension(name), now_ms)).collect()
    }
}

/// The requests a report shows left and when they are full again, where
/// it reports them.
fn requests(observation: &Observation) -> (Option<f64>, Option<f64>) {
    observation.dimension("requests").map_or((None, None), |d| (d.remaining, d.reset_at_ms))
}

/// Anthropic's `anthropic-ratelimit-tokens-*` fields are not a bucket of their
/// own when the input and output token limits are reported beside them: they
/// repeat "the most restrictive limit currently in effect" (Anthropic API
/// docs, "Rate limits" → "Response headers"). Gating input + output against
/// that figure would refuse calls the API accepts, so it is skipped then.
fn is_most_restrictive_view(dim: &Dimension, observation: &Observation) -> bool {
    dim.name == "tokens"
        && dim.source == Source::Anthropic
        && observation.dimensions.iter().any(|d| d.source == Source::Anthropic && (d.name == "input_tokens" || d.name == "output_tokens"))
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
