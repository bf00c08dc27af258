//! Prints the figures of the scheduler's simulation scenarios and a scale
//! benchmark: `cargo run --release --example simulate`.

use headroom::budget::Cost;
use headroom::schedule::simulation::scenarios::{self, Figures};
use headroom::schedule::{Config, Scheduler};
use std::time::Instant;

fn seconds(ms: f64) -> String {
    format!("{:.1} s", ms / 1000.0)
}

fn row(f: &Figures) {
    let ratio = f.theoretical_ms.map_or("—".into(), |t| format!("{} (min {}, {:+.2}%)", seconds(f.limit_bound_ms), seconds(t), (f.limit_bound_ms / t - 1.0) * 100.0));
    let goodput = f.goodput_of_left.map_or("—".into(), |g| format!("{:.1}%", g * 100.0));
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        f.name,
        f.calls,
        f.rate_limited,
        f.rate_limited_after_first_answer,
        if f.theoretical_ms.is_some() { ratio } else { seconds(f.limit_bound_ms) },
        goodput,
        seconds(f.max_wait_ms),
        f.backfilled,
    );
}

/// Nanoseconds per enqueue, dispatch (poll + complete) and cancel with `n`
/// waiters in one partition.
fn per_operation(n: usize) -> (f64, f64, f64) {
    let t0 = 1_779_141_600_000.0;
    let config = Config { max_concurrent: 1, ..Config::default() };
    let mut s = Scheduler::new(config);
    let start = Instant::now();
    let tickets: Vec<_> = (0..n).filter_map(|_| s.enqueue("p", Cost::ONE_REQUEST, 0, t0).ok()).collect();
    let enqueue = start.elapsed().as_nanos() as f64 / n as f64;
    // Open the probe so every poll may dispatch.
    let opened = s.poll(t0).granted;
    opened.iter().for_each(|t| s.complete(*t, Some(200), None, t0));
    let rounds = 1_000.min(n / 4);
    let start = Instant::now();
    for _ in 0..rounds {
        let granted = s.poll(t0).granted;
        granted.iter().for_each(|t| s.complete(*t, Some(200), None, t0));
    }
    let dispatch = start.elapsed().as_nanos() as f64 / rounds.max(1) as f64;
    let start = Instant::now();
    let mut cancelled = 0;
    for t in tickets.iter().rev().step_by(2).take(rounds) {
        cancelled += usize::from(s.cancel(*t));
    }
    let cancel = start.elapsed().as_nanos() as f64 / cancelled.max(1) as f64;
    (enqueue, dispatch, cancel)
}

fn main() {
    println!("| scenario | calls | 429s | 429s after first answer | time to last accepted call | goodput of what is left | longest wait | backfilled |");
    println!("|---|---|---|---|---|---|---|---|");
    row(&scenarios::burst().0);
    row(&scenarios::shared().0);
    row(&scenarios::unknown_limits().0);
    row(&scenarios::window().0);
    row(&scenarios::huge_among_small(32).0);
    row(&scenarios::huge_among_small(0).0);
    let (aborts, outcome) = scenarios::aborts();
    row(&aborts);
    println!("\naborted {} waiters; budget back to full when idle: {}", aborts.aborted, scenarios::budget_returns_to_full(&outcome));

    println!("\n| waiters in one partition | enqueue | dispatch (poll + complete) | cancel |");
    println!("|---|---|---|---|");
    for n in [1_000, 100_000] {
        // Best of three, to keep noise from other work out of the figure.
        let best = (0..3).map(|_| per_operation(n)).fold((f64::MAX, f64::MAX, f64::MAX), |a, b| (a.0.min(b.0), a.1.min(b.1), a.2.min(b.2)));
        println!("| {n} | {:.0} ns | {:.0} ns | {:.0} ns |", best.0, best.1, best.2);
    }
}
