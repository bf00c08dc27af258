//! Prints the figures of the simulation's scenarios (the shipped engine
//! against a simulated API, see `headroom::schedule::simulation`) and a scale
//! benchmark of the scheduler: `cargo run --release --features simulation --example simulate`.

use headroom::budget::Cost;
use headroom::schedule::simulation::real::{self, Real, Spread};
use headroom::schedule::simulation::scenarios::{self, Figures};
use headroom::schedule::{Config, Scheduler, Ticket};
use std::time::Instant;

fn seconds(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

fn row(f: &Figures) {
    let ratio = f
        .theoretical_ms
        .map_or("—".into(), |t| format!("{} (min {}, {:+.2}%)", seconds(f.limit_bound_ms), seconds(t), (f.limit_bound_ms / t - 1.0) * 100.0));
    let goodput = f.goodput_of_left.map_or("—".into(), |g| format!("{:.1}%", g * 100.0));
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        f.name,
        f.calls,
        f.answered,
        f.rate_limited,
        f.rate_limited_after_first_answer,
        f.overloaded,
        f.retries,
        f.gave_up,
        f.fallbacks,
        if f.theoretical_ms.is_some() { ratio } else { seconds(f.limit_bound_ms) },
        goodput,
        seconds(f.max_wait_ms),
        f.backfilled,
    );
}

fn spread_row(s: &Spread, single: &Figures) {
    let [low, median, high] = s.times_minimum;
    let meets = low.is_finite() && high <= real::TARGET_TIMES_MINIMUM && s.worst_per_thousand <= real::TARGET_PER_THOUSAND;
    println!(
        "| {} | {} | {}/{} | {:.3} / {:.3} / {:.3} | {} ({:.1} per 1,000; worst run {}) | {} / {} | {} (min {} + latency {}) | {} |",
        s.name,
        s.seeds.end - s.seeds.start,
        s.answered,
        s.calls,
        low,
        median,
        high,
        s.rate_limited_after_first_answer,
        s.per_thousand(),
        s.worst_run,
        s.cache_reads,
        s.cache_writes,
        seconds(single.answered_ms),
        seconds(single.theoretical_ms.unwrap_or(f64::NAN)),
        seconds(single.mean_latency_ms),
        if meets { "yes" } else { "no" },
    );
}

/// Operations timed together, and how many times: each figure is the
/// best of `ROUNDS` batches of `BATCH` operations, so every size is timed
/// over the same number of operations.
const BATCH: usize = 100;
const ROUNDS: usize = 200;
const T0: f64 = 1_779_141_600_000.0;

/// A scheduler with `n` calls waiting in one partition, past its probe so
/// that every poll may dispatch one.
fn waiting(n: usize) -> (Scheduler, Vec<Ticket>) {
    let mut s = Scheduler::new(Config { max_concurrent: 1, ..Config::default() });
    let first = enqueue(&mut s);
    s.poll(T0);
    s.complete(first, Some(200), None, T0);
    let tickets = (0..n).map(|_| enqueue(&mut s)).collect();
    (s, tickets)
}

fn enqueue(s: &mut Scheduler) -> Ticket {
    s.enqueue("p", Cost::ONE_REQUEST, 0, T0).expect("no limit is known")
}

/// The best time per operation of `ROUNDS` batches of `timed`; `restore`
/// brings the scheduler back to `n` waiters between batches, untimed.
fn best<S>(state: &mut S, mut timed: impl FnMut(&mut S), mut restore: impl FnMut(&mut S)) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            timed(state);
            let ns = start.elapsed().as_nanos() as f64 / BATCH as f64;
            restore(state);
            ns
        })
        .fold(f64::MAX, f64::min)
}

/// Nanoseconds per operation with `n` calls waiting in one partition:
/// enqueue one more; dispatch the head (poll, then complete it); cancel a
/// recent waiter (every second one of the newest); cancel a waiter drawn
/// at random from all of them.
fn per_operation(n: usize) -> [f64; 4] {
    let (s, _) = waiting(n);
    let enqueue_ns = best(
        &mut (s, Vec::with_capacity(BATCH)),
        |(s, added)| added.extend((0..BATCH).map(|_| enqueue(s))),
        |(s, added)| added.drain(..).for_each(|t| assert!(s.cancel(t))),
    );
    let (s, _) = waiting(n);
    let dispatch_ns = best(
        &mut (s, ()),
        |(s, _)| {
            for _ in 0..BATCH {
                let granted = s.poll(T0).granted;
                granted.iter().for_each(|t| s.complete(*t, Some(200), None, T0));
            }
        },
        |(s, _)| {
            (0..BATCH).for_each(|_| {
                enqueue(s);
            })
        },
    );
    let (mut s, _) = waiting(n);
    let newest: Vec<Ticket> = (0..2 * BATCH).map(|_| enqueue(&mut s)).collect();
    let recent_ns = best(
        &mut (s, newest),
        |(s, newest)| newest.iter().step_by(2).for_each(|t| assert!(s.cancel(*t))),
        |(s, newest)| {
            newest.iter().skip(1).step_by(2).for_each(|t| assert!(s.cancel(*t)));
            newest.clear();
            newest.extend((0..2 * BATCH).map(|_| enqueue(s)));
        },
    );
    let (s, all) = waiting(n);
    let mut state = (s, all, Vec::with_capacity(BATCH), Random(n as u64));
    let pick = |(_, all, picked, random): &mut (Scheduler, Vec<Ticket>, Vec<Ticket>, Random)| {
        picked.clear();
        picked.extend((0..BATCH).map(|_| all.swap_remove(random.below(all.len()))));
    };
    pick(&mut state);
    let random_ns = best(
        &mut state,
        |(s, _, picked, _)| picked.iter().for_each(|t| assert!(s.cancel(*t))),
        |state| {
            let added: Vec<Ticket> = (0..BATCH).map(|_| enqueue(&mut state.0)).collect();
            state.1.extend(added);
            pick(state);
        },
    );
    [enqueue_ns, dispatch_ns, recent_ns, random_ns]
}

/// A small generator (SplitMix64) for the random picks.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

fn main() {
    println!(
        "| scenario | calls | answered | 429s | 429s after first answer | 529s | retries | gave up | fallbacks | time to last accepted call \
         | goodput of what is left | longest wait | backfilled |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    row(&scenarios::burst().0);
    row(&scenarios::shared().0);
    row(&scenarios::unknown_limits().0);
    row(&scenarios::window().0);
    row(&scenarios::huge_among_small(32).0);
    row(&scenarios::huge_among_small(0).0);
    let (aborts, aborted) = scenarios::aborts();
    row(&aborts);
    let (storm, stormed) = scenarios::storm();
    row(&storm);
    let (outage, outaged) = scenarios::coordinator_outage(0.25);
    row(&outage);
    let (half, halved) = scenarios::coordinator_outage(0.5);
    row(&half);
    println!("\naborted {} waiters; budget back to full when idle: {}", aborts.aborted, scenarios::budget_returns_to_full(&aborted));
    let pauses = scenarios::pauses(&stormed);
    println!(
        "429 storm: {} pauses announced, {} resumed on time, {} sent while paused; {} answered, {} gave up after {} retries",
        pauses.announced,
        pauses.resumed,
        pauses.sent_while_paused,
        storm.answered,
        storm.gave_up,
        scenarios::STORM_RETRIES,
    );
    for (name, outcome) in [("share 0.25", &outaged), ("share 0.5", &halved)] {
        let [during, recovering, after] = scenarios::rate_limited_around_outage(outcome);
        let book = outcome.book.as_ref();
        let back: Vec<String> = scenarios::back_to_coordinator_ms(outcome).iter().map(|ms| ms.map_or("never".into(), seconds)).collect();
        println!(
            "coordinator out ({name}): 429s during the outage {during}, in the {} s after it {recovering}, later {after}; \
             {} messages lost; at most {} grants outstanding, {} at the end; each isolate asked it again {} after it was back",
            scenarios::RECOVERY_MS / 1000.0,
            outcome.lost_tells,
            outcome.most_grants,
            book.map_or(0, |b| b.outstanding()),
            back.join(", "),
        );
    }

    println!(
        "\nUnder real conditions: bursts of {} calls at 5x the limit over seeds {}..{}; the time until the last answer \
         over its minimum (limit-bound, of what the server charged, plus the mean latency); target <= {} and <= {} 429 per 1,000 calls.\n",
        real::CALLS,
        real::SEEDS.start,
        real::SEEDS.end - 1,
        real::TARGET_TIMES_MINIMUM,
        real::TARGET_PER_THOUSAND,
    );
    println!(
        "| scenario | seeds | answered | x minimum (min / median / max) | 429s after first answer | cache reads / writes \
         | seed 1: last answer (minimum) | meets the target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for which in Real::ALL {
        spread_row(&real::spread(which, real::SEEDS), &real::real(which, real::SEEDS.start).0);
    }

    println!("\n| waiters in one partition | enqueue | dispatch (poll + complete) | cancel a recent waiter | cancel a random waiter |");
    println!("|---|---|---|---|---|");
    // Each size three times, taking turns, and the best of the three: noise
    // from other work on the machine then weighs on neither size alone.
    let sizes = [1_000, 100_000];
    let mut figures = [[f64::MAX; 4]; 2];
    for _ in 0..3 {
        for (size, best) in sizes.iter().zip(&mut figures) {
            let measured = per_operation(*size);
            best.iter_mut().zip(measured).for_each(|(b, m)| *b = b.min(m));
        }
    }
    for (n, [enqueue, dispatch, recent, random]) in sizes.iter().zip(figures) {
        println!("| {n} | {enqueue:.0} ns | {dispatch:.0} ns | {recent:.0} ns | {random:.0} ns |");
    }
}
