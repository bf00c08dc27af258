//! The scheduler: partitions, their queues, the calls in flight, and every
//! decision about them (see the module docs of [`crate::schedule`]).

use super::calls::Calls;
use super::jitter::Jitter;
use crate::budget::{Admission, Bucket, BucketView, Budget, Cost, Limits};
use crate::headers::Observation;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Identifies one call for its whole life in the scheduler.
pub type Ticket = u64;

/// The scheduler's settings; defaults in [`Config::default`].
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Calls in flight at most, over all partitions.
    pub max_concurrent: u32,
    /// Calls in flight in a partition before its first response.
    pub probe_concurrency: u32,
    /// Calls waiting at most, over all partitions; one more is refused.
    pub max_queue: usize,
    /// Limits known before any response (applied to every partition).
    pub limits: Option<Limits>,
    /// The window assumed where a server names no reset or window length.
    pub default_window_ms: f64,
    /// How many waiters behind a blocked head are considered for backfill
    /// (0 turns backfill off). Bounds the work of one poll.
    pub backfill_scan: usize,
    /// Seed of the generator that jitters overload backoff. Give clients
    /// that share an API different seeds so they do not retry in step.
    pub seed: u64,
    /// Whether admission waits for the local budget. Off while a coordinator
    /// keeps the budget for many schedulers: this one then only orders its
    /// calls and bounds their concurrency (responses still update the local
    /// budget, ready for when the coordinator cannot be reached).
    pub local_budget: bool,
    /// The part of each limit this scheduler may use, in (0, 1]: the rest is
    /// left for others that share the budget and cannot be seen (a
    /// coordinator's clients while it is unreachable).
    pub share: f64,
    /// Hold every call's reservation until its own answer (a coordinator:
    /// its grants are sent by other isolates, each after its own round
    /// trip, so dispatch order is not the order the server counts them in).
    pub hold_until_answered: bool,
    /// The longest pause (a 429's retry-after or reset) a call waits out:
    /// while its partition is paused for longer, a call to it is refused
    /// with [`Refusal::RateLimited`] at once (`maxRetryAfterMs`).
    pub max_pause_wait_ms: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent: 32,
            probe_concurrency: 1,
            max_queue: usize::MAX,
            limits: None,
            default_window_ms: 60_000.0,
            backfill_scan: 32,
            seed: 0x6865_6164_726f_6f6d,
            local_budget: true,
            share: 1.0,
            hold_until_answered: false,
            max_pause_wait_ms: 60_000.0,
        }
    }
}

/// Why a call can never be sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// The call costs more of a dimension than its whole limit.
    CostExceedsLimit { dimension: String, cost: f64, limit: f64 },
    /// `max_queue` calls were already waiting.
    QueueFull { max_queue: usize },
    /// The call waited until its deadline without being admitted.
    QueueTimeout { waited_ms: f64 },
    /// Its partition is paused (a 429) for longer than the call would wait:
    /// `max_pause_wait_ms`, or past its deadline.
    RateLimited { retry_after_ms: f64 },
}

impl Refusal {
    /// The code of [`Refusal::RateLimited`], which `fetch` answers as a 429.
    pub const RATE_LIMITED: &'static str = "RATE_LIMITED";

    /// Every code, as `HeadroomError.code` carries them.
    pub const CODES: [&'static str; 4] = ["COST_EXCEEDS_LIMIT", "QUEUE_FULL", "QUEUE_TIMEOUT", Refusal::RATE_LIMITED];

    /// The property of the dimension a [`Refusal::CostExceedsLimit`] names.
    pub const DIMENSION: &'static str = "dimension";
    /// The property of the wait a [`Refusal::RateLimited`] names.
    pub const RETRY_AFTER_MS: &'static str = "retryAfterMs";

    /// Every property a refusal's details are given as, on a `HeadroomError`
    /// and wherever a refusal crosses to another isolate.
    pub const PROPERTIES: [&'static str; 6] = [Refusal::DIMENSION, "cost", "limit", "maxQueue", "waitedMs", Refusal::RETRY_AFTER_MS];

    /// The machine-readable code, as `HeadroomError.code`.
    pub fn code(&self) -> &'static str {
        let [cost_exceeds_limit, queue_full, queue_timeout, rate_limited] = Refusal::CODES;
        match self {
            Refusal::CostExceedsLimit { .. } => cost_exceeds_limit,
            Refusal::QueueFull { .. } => queue_full,
            Refusal::QueueTimeout { .. } => queue_timeout,
            Refusal::RateLimited { .. } => rate_limited,
        }
    }

    /// Its numbers, by property name (one of [`Refusal::PROPERTIES`]);
    /// the dimension of a [`Refusal::CostExceedsLimit`] is [`Refusal::dimension`].
    pub fn numbers(&self) -> Vec<(&'static str, f64)> {
        let [_, cost, limit, max_queue, waited_ms, retry_after_ms] = Refusal::PROPERTIES;
        match self {
            Refusal::CostExceedsLimit { cost: c, limit: l, .. } => vec![(cost, *c), (limit, *l)],
            Refusal::QueueFull { max_queue: n } => vec![(max_queue, *n as f64)],
            Refusal::QueueTimeout { waited_ms: ms } => vec![(waited_ms, ms.round())],
            Refusal::RateLimited { retry_after_ms: ms } => vec![(retry_after_ms, ms.ceil())],
        }
    }

    /// The dimension a [`Refusal::CostExceedsLimit`] names.
    pub fn dimension(&self) -> Option<&str> {
        match self {
            Refusal::CostExceedsLimit { dimension, .. } => Some(dimension),
            _ => None,
        }
    }
}

/// A number as a person reads it: whole numbers exactly, others to two
/// decimals. Written with integer arithmetic so the wasm build carries no
/// float-formatting code (a sixth of its size before).
pub(crate) fn number(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let hundredths = (x.abs() * 100.0).round();
    if hundredths >= 9e15 {
        // Beyond exact integers: the digits that matter.
        return format!("{}{}", if x < 0.0 { "-" } else { "" }, x.abs().round() as u64);
    }
    let hundredths = hundredths as u64;
    let sign = if x < 0.0 && hundredths > 0 { "-" } else { "" };
    match hundredths % 100 {
        0 => format!("{sign}{}", hundredths / 100),
        fraction if fraction % 10 == 0 => format!("{sign}{}.{}", hundredths / 100, fraction / 10),
        fraction => format!("{sign}{}.{fraction:02}", hundredths / 100),
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::CostExceedsLimit { dimension, cost, limit } => write!(
                f,
                "headroom: this call needs {} {dimension} but the limit is {} {dimension}, \
                 so it can never be sent; make it smaller (for example a lower max_tokens)",
                number(*cost),
                number(*limit)
            ),
            Refusal::QueueFull { max_queue: 0 } => write!(
                f,
                "headroom: this call cannot be sent at once and maxQueue is 0, so no call waits; \
                 it was not queued"
            ),
            Refusal::QueueFull { max_queue } => write!(
                f,
                "headroom: {max_queue} calls are already waiting, the most maxQueue allows; \
                 this call was not queued"
            ),
            Refusal::RateLimited { retry_after_ms } => write!(
                f,
                "headroom: the API asked for a wait of {} ms before the next call here (a 429's \
                 retry-after or reset), longer than this call waits (maxRetryAfterMs, maxWaitMs); \
                 it was not sent",
                number(retry_after_ms.ceil())
            ),
            Refusal::QueueTimeout { waited_ms } => write!(
                f,
                "headroom: this call waited {} ms for budget, the most maxWaitMs allows, \
                 and was not sent",
                number(waited_ms.round())
            ),
        }
    }
}

/// What one [`Scheduler::poll`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Poll {
    /// Calls that go now; their cost is reserved.
    pub granted: Vec<Ticket>,
    /// Calls that can never go; they have left the queue.
    pub refused: Vec<(Ticket, Refusal)>,
}

/// Running totals since the scheduler was made.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Calls sent: granted, less those cancelled before they went out.
    pub dispatched: u64,
    pub completed: u64,
    pub rate_limited: u64,
    pub refused: u64,
    pub cancelled: u64,
    /// Calls the JS layer sent again after a retryable answer ([`Scheduler::note_retry`]).
    pub retried: u64,
    /// 503 and 529 answers (overload), each lowering its partition's concurrency.
    pub overloaded: u64,
    /// Calls dispatched past a head that had to wait (backfill).
    pub backfilled: u64,
    /// Sum over dispatched calls of the time from enqueue to dispatch.
    pub total_wait_ms: f64,
}

/// A partition as plain data.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionView {
    pub key: String,
    pub queued: usize,
    pub in_flight: u32,
    /// Calls this partition may have in flight now: `maxConcurrent` until an
    /// overload halves it, then growing back by one per round of successes.
    pub max_in_flight: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until_ms: Option<f64>,
    pub dimensions: Vec<BucketView>,
}

/// The whole scheduler as plain data.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub queued: usize,
    pub in_flight: u32,
    pub partitions: Vec<PartitionView>,
    pub counters: Counters,
}

/// What a partition knows, saved so that a scheduler made afresh (a
/// coordinator evicted and restarted) can carry on from it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPartition {
    pub key: String,
    /// Each bucket by name, as [`Bucket::to_numbers`].
    pub buckets: Vec<(String, [f64; 10])>,
    pub answered: bool,
    pub paused_until_ms: Option<f64>,
    pub window: f64,
}

#[derive(Debug)]
struct Partition {
    /// Its place in [`Scheduler::keys`], named by its calls' tags.
    index: u32,
    budget: Budget,
    /// Waiting calls: higher priority first, then by ticket (arrival).
    /// A cancelled call is left in place (its entry is gone) and skipped
    /// when met; see [`Partition::stale`].
    queue: BTreeSet<(Reverse<i32>, Ticket)>,
    /// Calls waiting in `queue`.
    waiting: usize,
    /// Items of `queue` whose calls were cancelled. Cancelling thus touches
    /// only the call, not the tree. A cancel that leaves them outnumbering
    /// the waiting calls (by more than [`STALE_SLACK`]) sweeps the queue, so
    /// it holds at most about twice the calls that waited at the last cancel,
    /// and each cancel pays a constant share of a sweep.
    stale: usize,
    in_flight: u32,
    /// A response (of any kind) has come back: the probe is over.
    answered: bool,
    paused_until: f64,
    /// The pause after the next 429 that names no time; doubles each time.
    backoff_ms: f64,
    /// The concurrency window (AIMD): halved by an overload answer, grown
    /// by `1 / window` per success, between 1 and `max_concurrent`.
    window: f64,
    /// The base of the next overload pause; doubles per overload episode.
    overload_backoff_ms: f64,
    /// Calls dispatched from this sequence on were sent after the last
    /// overload: their answers start a new episode or end the old one.
    recovery_sequence: u64,
}

impl Partition {
    /// Calls this partition may have in flight now.
    fn max_in_flight(&self) -> u32 {
        // The window is at least 1 and at most max_concurrent, a u32.
        self.window.floor().max(1.0) as u32
    }
}

#[derive(Debug)]
enum State {
    Waiting,
    Dispatched { sequence: u64 },
}

#[derive(Debug)]
struct Entry {
    /// The key the partition map holds, shared: no string per call.
    partition: Arc<str>,
    cost: Cost,
    /// Input tokens of `cost` that are a guess (an `f32` beside `priority`
    /// costs no space: a guess needs no more precision).
    guessed: f32,
    priority: i32,
    state: State,
    enqueued_at: f64,
    deadline: Option<f64>,
}

/// Stale items a queue, or the deadlines, may hold beyond one per waiting
/// call before a cancel sweeps them (few in tests, so that sweeps happen).
const STALE_SLACK: usize = if cfg!(test) { 2 } else { 64 };

/// A call's tag (see [`Calls`]): its partition's index, whether it waits,
/// and whether it has a deadline, so that a waiting call can be cancelled
/// without reading the call. Never 0, which marks an ended call.
fn tag(partition: u32, waiting: bool, deadline: bool) -> u32 {
    1 | u32::from(waiting) << 1 | u32::from(deadline) << 2 | partition << 3
}

const TAG_WAITING: u32 = 1 << 1;
const TAG_DEADLINE: u32 = 1 << 2;

const FIRST_BACKOFF_MS: f64 = 1_000.0;
const MAX_BACKOFF_MS: f64 = 60_000.0;

/// Decides, for every waiting call, when it may be sent.
#[derive(Debug)]
pub struct Scheduler {
    config: Config,
    partitions: BTreeMap<Arc<str>, Partition>,
    /// The partitions' keys, by index (partitions are never removed).
    keys: Vec<Arc<str>>,
    /// Every call waiting or in flight, found by its ticket in one step.
    entries: Calls<Entry>,
    next_ticket: Ticket,
    next_sequence: u64,
    in_flight: u32,
    queued: usize,
    /// Waiting calls with a deadline, earliest first (deadlines are positive,
    /// finite times, whose bit patterns order as the numbers do). Cancelled
    /// calls are left in place and skipped, as in a partition's queue.
    deadlines: BTreeSet<(u64, Ticket)>,
    /// Items of `deadlines` whose calls were cancelled.
    stale_deadlines: usize,
    counters: Counters,
    jitter: Jitter,
}

impl Scheduler {
    pub fn new(config: Config) -> Scheduler {
        Scheduler {
            jitter: Jitter::new(config.seed),
            config,
            partitions: BTreeMap::new(),
            keys: Vec::new(),
            entries: Calls::new(),
            next_ticket: 0,
            next_sequence: 0,
            in_flight: 0,
            queued: 0,
            deadlines: BTreeSet::new(),
            stale_deadlines: 0,
            counters: Counters::default(),
        }
    }

    /// Seed the jitter generator afresh, so that throttlers sharing an API
    /// do not back off in step. The JS layer calls it at a throttler's first
    /// call: Workers refuse random numbers at module scope, where a
    /// throttler is typically made.
    pub fn reseed(&mut self, seed: u64) {
        self.jitter = Jitter::new(seed);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn partition_mut(&mut self, key: &str, now_ms: f64) -> &mut Partition {
        if !self.partitions.contains_key(key) {
            let budget = match &self.config.limits {
                Some(limits) => Budget::with_limits(limits, now_ms),
                None => Budget::default(),
            };
            // Tags hold the index in 29 bits: far more partitions than memory does.
            let index = u32::try_from(self.keys.len()).ok().filter(|i| *i < 1 << 29).expect("fewer than 2^29 partitions");
            let partition = Partition {
                index,
                budget,
                queue: BTreeSet::new(),
                waiting: 0,
                stale: 0,
                in_flight: 0,
                answered: false,
                paused_until: f64::NEG_INFINITY,
                backoff_ms: FIRST_BACKOFF_MS,
                window: f64::from(self.config.max_concurrent.max(1)),
                overload_backoff_ms: FIRST_BACKOFF_MS,
                recovery_sequence: 0,
            };
            let key: Arc<str> = Arc::from(key);
            self.keys.push(key.clone());
            self.partitions.insert(key, partition);
        }
        self.partitions.get_mut(key).expect("inserted above")
    }

    /// Queue a call. Refused at once if its cost can never fit, or if
    /// `max_queue` calls already wait.
    pub fn enqueue(&mut self, partition: &str, cost: Cost, priority: i32, now_ms: f64) -> Result<Ticket, Refusal> {
        self.enqueue_until(partition, cost, 0.0, priority, None, now_ms)
    }

    /// [`Scheduler::enqueue`] with a deadline: a call still waiting at
    /// `deadline_ms` is refused with [`Refusal::QueueTimeout`] by the next
    /// [`Scheduler::poll`] at or after it. `guessed` of its input tokens
    /// are a guess: they never make it refused as too large (see
    /// [`crate::budget::Budget::admission`]).
    pub fn enqueue_until(
        &mut self,
        partition: &str,
        cost: Cost,
        guessed: f64,
        priority: i32,
        deadline_ms: Option<f64>,
        now_ms: f64,
    ) -> Result<Ticket, Refusal> {
        let ticket = self.next_ticket;
        let cost = cost.cleaned();
        let guessed = if guessed > 0.0 { guessed.min(cost.input_tokens) as f32 } else { 0.0 };
        let full = self.queued >= self.config.max_queue;
        // A full queue refuses only a call that would have to wait in it.
        if full && self.config.max_queue > 0 {
            self.counters.refused += 1;
            return Err(Refusal::QueueFull { max_queue: self.config.max_queue });
        }
        let p = self.partition_mut(partition, now_ms);
        let index = p.index;
        if let Admission::Never { dimension, cost, limit } = p.budget.admission(&cost, f64::from(guessed), now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::CostExceedsLimit { dimension, cost, limit });
        }
        let deadline = deadline_ms.filter(|d| d.is_finite()).map(|d| d.max(0.0));
        if let Some(retry_after_ms) = pause_too_long(&self.partitions[partition], deadline, &self.config, now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::RateLimited { retry_after_ms });
        }
        let key = self.partitions.get_key_value(partition).expect("made above").0.clone();
        let entry = Entry { partition: key, cost, guessed, priority, state: State::Waiting, enqueued_at: now_ms, deadline };
        // `maxQueue: 0`: a call goes at once or not at all.
        if full && !self.goes_at_once(&entry, now_ms) {
            self.counters.refused += 1;
            return Err(Refusal::QueueFull { max_queue: self.config.max_queue });
        }
        let p = self.partitions.get_mut(partition).expect("made above");
        p.queue.insert((Reverse(priority), ticket));
        p.waiting += 1;
        if let Some(at) = deadline {
            self.deadlines.insert((at.to_bits(), ticket));
        }
        self.entries.insert(ticket, tag(index, true, deadline.is_some()), entry);
        self.queued += 1;
        self.next_ticket += 1;
        Ok(ticket)
    }

    /// Whether a call would be dispatched by a poll at `now_ms`, were it
    /// queued: nothing waits ahead of it in its partition, a slot is free,
    /// and its cost fits now.
    fn goes_at_once(&self, entry: &Entry, now_ms: f64) -> bool {
        let Some(p) = self.partitions.get(&entry.partition) else { return false };
        self.in_flight < self.config.max_concurrent && p.waiting == 0 && matches!(head_admission(p, entry, &self.config, now_ms), HeadAdmission::Go)
    }

    /// The input tokens of a call's cost that are a guess (0 for a call not
    /// known).
    pub fn guessed(&self, ticket: Ticket) -> f64 {
        self.entries.get(ticket).map_or(0.0, |entry| f64::from(entry.guessed))
    }

    /// Take a waiting call out of its queue (it was dispatched, refused or
    /// cancelled).
    fn unqueue(&mut self, ticket: Ticket) -> Option<Entry> {
        self.leave_queue(ticket)?;
        self.entries.remove(ticket)
    }

    /// Take a waiting call out of its queue and its deadline, keeping its
    /// entry. False, changing nothing, for a call not waiting.
    fn leave_queue(&mut self, ticket: Ticket) -> Option<()> {
        let entry = self.entries.get(ticket)?;
        if !matches!(entry.state, State::Waiting) {
            return None;
        }
        let p = self.partitions.get_mut(&entry.partition)?;
        p.queue.remove(&(Reverse(entry.priority), ticket));
        p.waiting -= 1;
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at.to_bits(), ticket));
        }
        self.queued -= 1;
        Some(())
    }

    /// Dispatch every call that may go at `now_ms`, refuse those that never can.
    pub fn poll(&mut self, now_ms: f64) -> Poll {
        let mut poll = Poll::default();
        while let Some(&(bits, ticket)) = self.deadlines.first() {
            if f64::from_bits(bits) > now_ms {
                break;
            }
            if let Some(entry) = self.unqueue(ticket) {
                self.counters.refused += 1;
                poll.refused.push((ticket, Refusal::QueueTimeout { waited_ms: now_ms - entry.enqueued_at }));
            } else {
                // Its call was cancelled.
                self.deadlines.pop_first();
                self.stale_deadlines -= 1;
            }
        }
        // Only partitions with waiters have anything to dispatch; the keys are
        // copied because dispatching borrows the scheduler.
        let keys: Vec<Arc<str>> = self.partitions.iter().filter(|(_, p)| p.waiting > 0).map(|(k, _)| k.clone()).collect();
        for key in keys {
            loop {
                if self.in_flight >= self.config.max_concurrent {
                    return poll;
                }
                let Some(ticket) = self.head(&key) else { break };
                let p = &self.partitions[&key];
                let entry = self.entries.get(ticket).expect("queues name waiting calls");
                match head_admission(p, entry, &self.config, now_ms) {
                    HeadAdmission::Go => self.dispatch(&key, ticket, now_ms, &mut poll),
                    HeadAdmission::Never(refusal) => {
                        self.unqueue(ticket);
                        self.counters.refused += 1;
                        poll.refused.push((ticket, refusal));
                    }
                    HeadAdmission::Budget(head_at) => match self.backfill(&key, ticket, head_at, now_ms) {
                        Some((passer, at)) if at <= now_ms => {
                            self.counters.backfilled += 1;
                            self.dispatch(&key, passer, now_ms, &mut poll);
                        }
                        _ => break,
                    },
                    HeadAdmission::At(_) | HeadAdmission::OnEvent => break,
                }
            }
        }
        poll
    }

    /// The first waiting call of a partition, dropping the stale items
    /// before it.
    fn head(&mut self, key: &str) -> Option<Ticket> {
        let p = self.partitions.get_mut(key)?;
        while let Some(&(_, ticket)) = p.queue.first() {
            if self.entries.get(ticket).is_some() {
                return Some(ticket);
            }
            p.queue.pop_first();
            p.stale -= 1;
        }
        None
    }

    /// Move a waiting call to in flight and reserve its cost.
    fn dispatch(&mut self, key: &str, ticket: Ticket, now_ms: f64, poll: &mut Poll) {
        if self.leave_queue(ticket).is_none() {
            return;
        }
        let Some(p) = self.partitions.get_mut(key) else { return };
        self.entries.set_tag(ticket, tag(p.index, false, false));
        let Some(entry) = self.entries.get_mut(ticket) else { return };
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        p.budget.reserve(sequence, entry.cost, now_ms);
        if self.config.hold_until_answered {
            p.budget.hold(sequence);
        }
        p.in_flight += 1;
        self.in_flight += 1;
        self.counters.dispatched += 1;
        self.counters.total_wait_ms += (now_ms - entry.enqueued_at).max(0.0);
        entry.state = State::Dispatched { sequence };
        poll.granted.push(ticket);
    }

    /// The earliest waiter behind a head that waits for budget until
    /// `head_at` which may go before the head without delaying it, and when.
    ///
    /// A candidate of the head's priority, among the next
    /// `backfill_scan`, qualifies at the time `t` its own cost fits when, with
    /// its cost reserved at `t`, the head's cost still fits by `head_at`; and
    /// when, once it is in flight, a slot is still free for the head.
    fn backfill(&self, key: &str, head: Ticket, head_at: f64, now_ms: f64) -> Option<(Ticket, f64)> {
        let p = self.partitions.get(key)?;
        let head_entry = self.entries.get(head)?;
        let slots = p.max_in_flight().min(self.config.max_concurrent);
        if self.config.backfill_scan == 0 || p.in_flight + 1 >= slots || self.in_flight + 1 >= self.config.max_concurrent {
            return None;
        }
        let priority = Reverse(head_entry.priority);
        let behind = p.queue.range((priority, head + 1)..).take_while(|(level, _)| *level == priority);
        let mut best: Option<(Ticket, f64)> = None;
        let behind = behind.filter_map(|&(_, ticket)| Some((ticket, self.entries.get(ticket)?)));
        for (ticket, entry) in behind.take(self.config.backfill_scan) {
            let fits_at = match p.budget.admission_with_share(&entry.cost, f64::from(entry.guessed), now_ms, self.config.share) {
                Admission::Now => now_ms,
                Admission::At(at) => at,
                _ => continue,
            };
            if fits_at > head_at || best.is_some_and(|(_, at)| at <= fits_at) {
                continue;
            }
            let mut both = head_entry.cost;
            both.add(&entry.cost);
            let guessed = f64::from(head_entry.guessed) + f64::from(entry.guessed);
            let head_still_fits = match p.budget.admission_with_share(&both, guessed, fits_at, self.config.share) {
                Admission::Now => true,
                Admission::At(at) => at <= head_at,
                _ => false,
            };
            if head_still_fits {
                best = Some((ticket, fits_at));
                if fits_at <= now_ms {
                    break;
                }
            }
        }
        best
    }

    /// The earliest time at which the passage of time alone lets a waiting
    /// call go, and the call that should hold the timer for it (the head of
    /// that partition, or a call that may pass it by backfill). `None`: only
    /// an event (a response, a release) can change anything, or nothing waits.
    pub fn next_wake(&self, now_ms: f64) -> Option<(Ticket, f64)> {
        if self.in_flight >= self.config.max_concurrent {
            return None;
        }
        let mut best: Option<(Ticket, f64)> = None;
        for (key, p) in &self.partitions {
            // The first item whose call was not cancelled.
            let Some((ticket, entry)) = p.queue.iter().find_map(|&(_, ticket)| Some((ticket, self.entries.get(ticket)?))) else { continue };
            let wake = match head_admission(p, entry, &self.config, now_ms) {
                HeadAdmission::Go => (ticket, now_ms),
                HeadAdmission::At(at) => (ticket, at),
                HeadAdmission::Budget(at) => self.backfill(key, ticket, at, now_ms).filter(|(_, t)| *t < at).unwrap_or((ticket, at)),
                HeadAdmission::OnEvent | HeadAdmission::Never(_) => continue,
            };
            if best.is_none_or(|(_, t)| wake.1 < t) {
                best = Some(wake);
            }
        }
        best
    }

    /// Keep or stop keeping the local budget, and set the share of each
    /// limit it may use (see [`Config::local_budget`] and [`Config::share`]).
    pub fn set_budget(&mut self, local_budget: bool, share: f64) {
        self.config.local_budget = local_budget;
        self.config.share = if share.is_finite() { share.clamp(0.01, 1.0) } else { 1.0 };
    }

    /// A dispatched call will be sent later than now (a spare grant of a
    /// lease): until [`Scheduler::sent`], no response covers its reservation.
    pub fn hold(&mut self, ticket: Ticket) {
        if let Some(Entry { partition, state: State::Dispatched { sequence }, .. }) = self.entries.get(ticket) {
            if let Some(p) = self.partitions.get_mut(partition) {
                p.budget.hold(*sequence);
            }
        }
    }

    /// A held call is being sent now: it takes its place in the dispatch
    /// order as of now.
    pub fn sent(&mut self, ticket: Ticket) {
        let now_sequence = self.next_sequence;
        if let Some(Entry { partition, state: State::Dispatched { sequence }, .. }) = self.entries.get_mut(ticket) {
            let moved = self.partitions.get_mut(&*partition).is_some_and(|p| p.budget.sent(*sequence, now_sequence));
            if moved {
                *sequence = now_sequence;
                self.next_sequence += 1;
            }
        }
    }

    /// Send a granted call back to its place in the queue (its ticket keeps
    /// its order), giving back its reservation: it was granted while the
    /// budget was kept elsewhere and must now wait for the local one.
    /// Returns false, changing nothing, for a call not in flight.
    pub fn requeue(&mut self, ticket: Ticket) -> bool {
        let Some(entry) = self.entries.get_mut(ticket) else { return false };
        let State::Dispatched { sequence } = entry.state else { return false };
        entry.state = State::Waiting;
        let p = self.partitions.get_mut(&entry.partition).expect("entries name existing partitions");
        p.budget.release(sequence);
        p.in_flight -= 1;
        p.queue.insert((Reverse(entry.priority), ticket));
        p.waiting += 1;
        let waiting = tag(p.index, true, entry.deadline.is_some());
        if let Some(at) = entry.deadline {
            self.deadlines.insert((at.to_bits(), ticket));
        }
        self.entries.set_tag(ticket, waiting);
        self.in_flight -= 1;
        self.queued += 1;
        self.counters.dispatched -= 1;
        true
    }

    /// Put back a call that was in flight before this scheduler was made
    /// (granted by a coordinator before it restarted): it is dispatched at
    /// once, whatever the budget, because it may already be at the server.
    pub fn restore_in_flight(&mut self, partition: &str, cost: Cost, now_ms: f64) -> Ticket {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let cost = cost.cleaned();
        let hold = self.config.hold_until_answered;
        let p = self.partition_mut(partition, now_ms);
        let index = p.index;
        p.budget.reserve(sequence, cost, now_ms);
        if hold {
            p.budget.hold(sequence);
        }
        p.in_flight += 1;
        self.in_flight += 1;
        let key = self.partitions.get_key_value(partition).expect("made above").0.clone();
        let state = State::Dispatched { sequence };
        self.entries.insert(
            ticket,
            tag(index, false, false),
            Entry { partition: key, cost, guessed: 0.0, priority: 0, state, enqueued_at: now_ms, deadline: None },
        );
        ticket
    }

    /// What every partition knows (not its calls), to save.
    pub fn save(&self, now_ms: f64) -> Vec<SavedPartition> {
        self.partitions
            .iter()
            .map(|(key, p)| SavedPartition {
                key: key.to_string(),
                buckets: p.budget.buckets().map(|(name, b)| (name.clone(), b.to_numbers())).collect(),
                answered: p.answered,
                paused_until_ms: (p.paused_until > now_ms).then_some(p.paused_until),
                window: p.window,
            })
            .collect()
    }

    /// Take back what [`Scheduler::save`] saved, before any call is queued.
    pub fn restore(&mut self, saved: Vec<SavedPartition>, now_ms: f64) {
        let cap = f64::from(self.config.max_concurrent.max(1));
        for s in saved {
            let p = self.partition_mut(&s.key, now_ms);
            p.budget = Budget::from_buckets(s.buckets.into_iter().filter_map(|(name, n)| Some((name, Bucket::from_numbers(&n)?))));
            p.answered = s.answered;
            p.paused_until = s.paused_until_ms.filter(|t| t.is_finite()).unwrap_or(f64::NEG_INFINITY);
            p.window = if s.window.is_finite() { s.window.clamp(1.0, cap) } else { cap };
        }
    }

    /// The JS layer sent a call again after a retryable answer.
    pub fn note_retry(&mut self) {
        self.counters.retried += 1;
    }

    /// A dispatched call ended. `status` is the HTTP status, or `None` when no
    /// response came (a network error); `observation` what its headers said.
    pub fn complete(&mut self, ticket: Ticket, status: Option<u16>, observation: Option<&Observation>, now_ms: f64) {
        // Only a call in flight completes: a waiting one stays in its queue.
        if !matches!(self.entries.get(ticket), Some(Entry { state: State::Dispatched { .. }, .. })) {
            return;
        }
        let Some(Entry { partition, state: State::Dispatched { sequence }, .. }) = self.entries.remove(ticket) else {
            return;
        };
        let window = self.config.default_window_ms;
        let p = self.partitions.get_mut(&partition).expect("entries name existing partitions");
        p.in_flight -= 1;
        self.in_flight -= 1;
        self.counters.completed += 1;
        let Some(status) = status else {
            p.budget.release(sequence);
            return;
        };
        p.answered = true;
        if status == 429 {
            // The server refused it: it used nothing, whatever the headers say.
            p.budget.release(sequence);
        }
        p.budget.reconcile(sequence, observation, now_ms, window);
        match status {
            429 => {
                self.counters.rate_limited += 1;
                // One pause for the whole partition: the server's retry-after,
                // else the reset of an exhausted dimension, else a backoff that
                // doubles with each 429 that names no time.
                let until = match retry_after(observation) {
                    Some(ms) => now_ms + ms,
                    None => p.budget.exhausted_reset(now_ms).unwrap_or_else(|| {
                        let pause = p.backoff_ms;
                        p.backoff_ms = (p.backoff_ms * 2.0).min(MAX_BACKOFF_MS);
                        now_ms + pause
                    }),
                };
                p.paused_until = p.paused_until.max(until);
            }
            503 | 529 => {
                self.counters.overloaded += 1;
                // One decrease per episode: the answers of calls sent before
                // the last decrease describe the load that caused it.
                if sequence >= p.recovery_sequence {
                    let in_use = f64::from(p.in_flight + 1);
                    p.window = (p.window.min(in_use) / 2.0).max(1.0);
                    p.recovery_sequence = self.next_sequence;
                    let base = p.overload_backoff_ms;
                    p.overload_backoff_ms = (base * 2.0).min(MAX_BACKOFF_MS);
                    // Equal jitter: between half and all of the base, so
                    // clients that failed together do not return together.
                    let pause = retry_after(observation).unwrap_or(base * (0.5 + 0.5 * self.jitter.unit()));
                    p.paused_until = p.paused_until.max(now_ms + pause);
                }
            }
            status if status < 400 => {
                p.backoff_ms = FIRST_BACKOFF_MS;
                let cap = f64::from(self.config.max_concurrent.max(1));
                p.window = (p.window + 1.0 / p.window).min(cap);
                if sequence >= p.recovery_sequence {
                    p.overload_backoff_ms = FIRST_BACKOFF_MS;
                }
            }
            _ => {}
        }
    }

    /// Headers seen outside a dispatched call, for a partition.
    pub fn observe(&mut self, partition: &str, observation: &Observation, now_ms: f64) {
        let window = self.config.default_window_ms;
        let latest = self.next_sequence.checked_sub(1);
        let p = self.partition_mut(partition, now_ms);
        p.budget.observe(observation, latest, now_ms, window);
        if !observation.dimensions.is_empty() {
            p.answered = true;
        }
    }

    /// Remove a call: from the queue if waiting, or give back its reservation
    /// if it was dispatched but never sent. Returns false for unknown tickets.
    pub fn cancel(&mut self, ticket: Ticket) -> bool {
        let Some(tag) = self.entries.tag(ticket) else { return false };
        if tag & TAG_WAITING != 0 {
            self.forget_waiting(ticket, tag);
        } else {
            let Some(Entry { partition, state: State::Dispatched { sequence }, .. }) = self.entries.remove(ticket) else {
                return false;
            };
            let p = self.partitions.get_mut(&partition).expect("entries name existing partitions");
            p.budget.release(sequence);
            p.in_flight -= 1;
            self.in_flight -= 1;
            // It was never sent: `dispatched` counts calls that went out.
            self.counters.dispatched -= 1;
        }
        self.counters.cancelled += 1;
        true
    }

    /// Drop a waiting call, leaving its items in its queue and the
    /// deadlines to be skipped (see [`Partition::stale`]).
    /// Only the call's tag is read: the call itself is dropped later.
    fn forget_waiting(&mut self, ticket: Ticket, tag: u32) {
        if !self.entries.forget(ticket) {
            return;
        }
        self.queued -= 1;
        let p = self.partitions.get_mut(&*self.keys[(tag >> 3) as usize]).expect("tags name existing partitions");
        p.waiting -= 1;
        if p.waiting == 0 {
            p.queue.clear();
            p.stale = 0;
        } else {
            p.stale += 1;
            if p.stale > p.waiting + STALE_SLACK {
                let entries = &self.entries;
                p.queue.retain(|&(_, t)| entries.get(t).is_some());
                p.stale = 0;
            }
        }
        if tag & TAG_DEADLINE != 0 {
            self.stale_deadlines += 1;
            if self.stale_deadlines > self.deadlines.len() - self.stale_deadlines + STALE_SLACK {
                let entries = &self.entries;
                self.deadlines.retain(|&(_, t)| entries.get(t).is_some());
                self.stale_deadlines = 0;
            }
        }
    }

    /// True while the call waits in a queue.
    pub fn is_waiting(&self, ticket: Ticket) -> bool {
        self.entries.tag(ticket).is_some_and(|tag| tag & TAG_WAITING != 0)
    }

    /// Calls waiting, in all partitions.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Calls in flight, in all partitions.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn snapshot(&self, now_ms: f64) -> Snapshot {
        let partitions = self
            .partitions
            .iter()
            .map(|(key, p)| PartitionView {
                key: key.to_string(),
                queued: p.waiting,
                in_flight: p.in_flight,
                max_in_flight: p.max_in_flight().min(self.config.max_concurrent),
                paused_until_ms: (p.paused_until > now_ms).then_some(p.paused_until),
                dimensions: p.budget.views(now_ms),
            })
            .collect();
        Snapshot { queued: self.queued(), in_flight: self.in_flight, partitions, counters: self.counters.clone() }
    }

    /// Every internal count agrees with the entries it counts, and no
    /// reservation is negative or NaN (for the property tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        self.entries.check()?;
        for (ticket, found, e) in self.entries.iter() {
            let index = self.partitions.get(&e.partition).map(|p| p.index);
            let waiting = matches!(e.state, State::Waiting);
            if index.map(|i| tag(i, waiting, waiting && e.deadline.is_some())) != Some(found)
                || index.map(|i| &self.keys[i as usize]) != Some(&e.partition)
            {
                return Err(format!("call {ticket} has tag {found:#x} but waits {waiting} in {}", e.partition));
            }
        }
        let waiting = self.entries.iter().map(|(_, _, e)| e).filter(|e| matches!(e.state, State::Waiting)).count();
        let dispatched = self.entries.len() - waiting;
        let queued: usize = self.partitions.values().map(|p| p.waiting).sum();
        let in_flight: u32 = self.partitions.values().map(|p| p.in_flight).sum();
        if (self.queued, queued) != (waiting, waiting) {
            return Err(format!("queued {} and partitions {queued} but {waiting} entries wait", self.queued));
        }
        if (self.in_flight, in_flight as usize) != (dispatched as u32, dispatched) {
            return Err(format!("in flight {} and partitions {in_flight} but {dispatched} entries dispatched", self.in_flight));
        }
        // Each item of a queue names a call waiting in that partition at that
        // priority, or a cancelled call (no entry), counted as stale; each
        // waiting call is in its queue (the items are distinct, so counting
        // them suffices).
        for (key, p) in &self.partitions {
            let mut live = 0;
            for &(Reverse(priority), t) in &p.queue {
                match self.entries.get(t) {
                    None => {}
                    Some(Entry { partition, priority: q, state: State::Waiting, .. }) if partition == key && *q == priority => live += 1,
                    Some(_) => return Err(format!("queue {key} holds {t}, which does not wait there")),
                }
            }
            let waiting = self.entries.iter().filter(|(_, _, e)| matches!(e.state, State::Waiting) && e.partition == *key).count();
            if (p.waiting, live, p.queue.len() - live) != (waiting, waiting, p.stale) {
                return Err(format!(
                    "partition {key} counts {} waiting and {} stale; its queue holds {live} of {} live, and {waiting} entries wait",
                    p.waiting,
                    p.stale,
                    p.queue.len()
                ));
            }
        }
        // The same for the deadlines.
        let mut live = 0;
        for &(bits, t) in &self.deadlines {
            match self.entries.get(t) {
                None => {}
                Some(Entry { state: State::Waiting, deadline: Some(at), .. }) if at.to_bits() == bits => live += 1,
                Some(_) => return Err("a deadline outlived its waiting call".into()),
            }
        }
        let with_deadline = self.entries.iter().filter(|(_, _, e)| matches!(e.state, State::Waiting) && e.deadline.is_some()).count();
        if (live, self.deadlines.len() - live) != (with_deadline, self.stale_deadlines) {
            return Err(format!(
                "{live} live deadlines and {} stale of {}, but {with_deadline} waiting calls have one",
                self.stale_deadlines,
                self.deadlines.len()
            ));
        }
        for (key, p) in &self.partitions {
            let r = p.budget.reserved();
            if [r.requests, r.input_tokens, r.output_tokens, r.tokens].iter().any(|x| x.is_nan() || *x < 0.0) {
                return Err(format!("partition {key} reserves {r:?}"));
            }
            if p.paused_until.is_nan() || p.window.is_nan() || p.window < 1.0 {
                return Err(format!("partition {key} paused until {} with window {}", p.paused_until, p.window));
            }
        }
        Ok(())
    }
}

/// The server's wait, where it is a usable number of milliseconds (the
/// parser never gives another, but a pause must never be NaN or endless).
fn retry_after(observation: Option<&Observation>) -> Option<f64> {
    observation.and_then(|o| o.retry_after_ms).filter(|ms| ms.is_finite()).map(|ms| ms.max(0.0))
}

enum HeadAdmission {
    Go,
    /// Paused: nothing in the partition goes before this time.
    At(f64),
    /// Its cost fits at this time; calls behind may backfill until then.
    Budget(f64),
    /// Waits for an event: a response or a release, not a time.
    OnEvent,
    Never(Refusal),
}

/// How long a partition stays paused, when that is longer than a call would
/// wait: [`Config::max_pause_wait_ms`], or beyond the call's deadline.
fn pause_too_long(p: &Partition, deadline: Option<f64>, config: &Config, now_ms: f64) -> Option<f64> {
    let wait = p.paused_until - now_ms;
    (wait > 0.0 && (wait > config.max_pause_wait_ms || deadline.is_some_and(|d| p.paused_until > d))).then_some(wait)
}

/// What the head of a partition's queue may do. A call that can never fit
/// is refused when it reaches the head, so a limit that shrinks after it was
/// queued still settles it.
fn head_admission(p: &Partition, head: &Entry, config: &Config, now_ms: f64) -> HeadAdmission {
    let probing = config.local_budget && !p.answered && !p.budget.knows_limits();
    let admission = match p.budget.admission_with_share(&head.cost, f64::from(head.guessed), now_ms, config.share) {
        // The budget is kept elsewhere: only a cost no limit can hold stops here.
        Admission::Now | Admission::At(_) | Admission::AfterInFlight if !config.local_budget => Admission::Now,
        admission => admission,
    };
    if let Some(retry_after_ms) = pause_too_long(p, head.deadline, config, now_ms).filter(|_| !matches!(admission, Admission::Never { .. })) {
        return HeadAdmission::Never(Refusal::RateLimited { retry_after_ms });
    }
    match admission {
        Admission::Never { dimension, cost, limit } => HeadAdmission::Never(Refusal::CostExceedsLimit { dimension, cost, limit }),
        _ if probing && p.in_flight >= config.probe_concurrency => HeadAdmission::OnEvent,
        _ if p.in_flight >= p.max_in_flight() => HeadAdmission::OnEvent,
        _ if p.paused_until > now_ms => HeadAdmission::At(p.paused_until),
        Admission::Now => HeadAdmission::Go,
        Admission::At(at) => HeadAdmission::Budget(at),
        Admission::AfterInFlight if p.in_flight > 0 => HeadAdmission::OnEvent,
        // Nothing in flight will bring news and refill alone cannot make
        // room: only possible when local charges overdrew a bucket. Wait one
        // default window, after which that estimate is stale anyway.
        Admission::AfterInFlight => HeadAdmission::At(now_ms + config.default_window_ms),
    }
}
