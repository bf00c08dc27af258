//! The tests of [`Bucket`](super::Bucket): what it learns of others' use, and
//! its saved state.

use crate::budget::{Budget, Cost};
use crate::headers::{Dimension, Observation, Refill, Source};

const T0: f64 = 1_779_141_600_000.0;
const LIMIT: f64 = 60_000.0;

/// A report of input tokens, `LIMIT` a minute (1 per ms), `level` left.
fn report(level: f64, now: f64) -> Observation {
    let dimension = Dimension {
        name: "input_tokens".into(),
        limit: Some(LIMIT),
        remaining: Some(level),
        reset_at_ms: Some(now + (LIMIT - level)),
        window_ms: None,
        remaining_rounding: None,
        refill: Refill::Continuous,
        source: Source::Anthropic,
    };
    Observation { dimensions: vec![dimension], ..Observation::default() }
}

/// 400 s of our calls (400 tokens every 500 ms, answered after 0.3 to
/// 30 s, in whatever order that makes) against a server that another
/// client drains at `others_per_ms`. Returns what is held back for
/// others' use at the end.
fn learned_reserve(others_per_ms: f64) -> f64 {
    let mut budget = Budget::default();
    // The server's level, counted when a call arrives (as it is sent).
    let (mut level, mut level_at) = (50_000.0, T0);
    let mut server = |now: f64, spend: f64| {
        level = (level + (1.0 - others_per_ms) * (now - level_at)).min(LIMIT) - spend;
        level_at = now;
        level
    };
    budget.observe(&report(server(T0, 0.0), T0), T0, 60_000.0);
    let mut answers: Vec<(f64, u64)> = Vec::new();
    let mut latency = 7_919.0;
    for sequence in 0..800u64 {
        let sent = T0 + 500.0 * sequence as f64;
        // Answers due before this call is sent, oldest first.
        answers.sort_by(|a, b| b.0.total_cmp(&a.0));
        while answers.last().is_some_and(|(at, _)| *at <= sent) {
            let (at, answered) = answers.pop().unwrap();
            budget.reconcile(answered, Some(&report(server(at, 0.0), at)), at, 60_000.0);
        }
        budget.reserve(sequence, Cost::new(1.0, 400.0, 0.0, None), sent);
        server(sent, 400.0);
        latency = (latency * 7.3 + 1_301.0) % 29_700.0;
        answers.push((sent + 300.0 + latency, sequence));
    }
    budget.bucket("input_tokens").unwrap().unseen_reserve()
}

#[test]
fn another_clients_steady_use_is_learned_in_full_while_answers_overtake_each_other() {
    let reserve = learned_reserve(0.3);
    let expected = 0.3 * super::UNSEEN_RESERVE_MS;
    assert!((reserve - expected).abs() < 0.05 * expected, "held back {reserve}, expected {expected}");
}

#[test]
fn our_own_calls_in_flight_do_not_pass_for_anothers_use() {
    let reserve = learned_reserve(0.0);
    assert!(reserve < 0.01 * super::UNSEEN_RESERVE_MS, "held back {reserve}");
}

/// A server whose minute is 10 s (8,000 input tokens, 0.8 a ms: not the
/// default window's rate) counts each call's headers as it admits the call
/// and sends them with the answer, 2 s later. Our calls spend what refills
/// (400 tokens every 500 ms), so the server stays at 4,000 left, full 5 s
/// after each report. Returns what is held back for others' use at the end.
/// `observed_first`: the budget saw the bucket as it was before the first
/// call (at its true rate), else the first answer's report is all it has.
/// `rounding`: the server rounds the counts it sends to this (the reset
/// stays exact).
fn reserve_learned_from_reports_an_answer_old(observed_first: bool, rounding: Option<f64>) -> f64 {
    const LIMIT: f64 = 8_000.0;
    const PER_MS: f64 = 0.8;
    const LATENCY: f64 = 2_000.0;
    let report = |level: f64, made: f64| Observation {
        dimensions: vec![Dimension {
            name: "input_tokens".into(),
            limit: Some(LIMIT),
            remaining: Some(rounding.map_or(level, |r| (level / r).round() * r)),
            reset_at_ms: Some(made + (LIMIT - level) / PER_MS),
            window_ms: None,
            remaining_rounding: rounding,
            refill: Refill::Continuous,
            source: Source::Anthropic,
        }],
        ..Observation::default()
    };
    let mut budget = Budget::default();
    if observed_first {
        budget.observe(&report(4_400.0, T0), T0, 60_000.0);
    }
    let mut answers: std::collections::VecDeque<(f64, u64, Observation)> = std::collections::VecDeque::new();
    for sequence in 1..=240u64 {
        let sent = T0 + 500.0 * sequence as f64;
        while answers.front().is_some_and(|(at, _, _)| *at <= sent) {
            let (at, answered, headers) = answers.pop_front().unwrap();
            budget.reconcile(answered, Some(&headers), at, 60_000.0);
        }
        budget.reserve(sequence, Cost::new(1.0, 400.0, 0.0, None), sent);
        // Admitted as it is sent: 4,400 refilled since the last, less 400.
        answers.push_back((sent + LATENCY, sequence, report(4_000.0, sent)));
    }
    budget.bucket("input_tokens").unwrap().unseen_reserve()
}

#[test]
fn reports_an_answer_old_are_not_read_as_a_faster_refill_and_anothers_use() {
    // Dated on their arrival, the reports would say the bucket fills its
    // 4,000 missing in 3 s (1.33 a ms): each next report, 0.53 a ms short
    // of that, would read as another client's use, and a quarter of the
    // limit would be held back for it.
    // Without a first reading at the true rate, the first report's own
    // rate is the one kept.
    for observed_first in [true, false] {
        let reserve = reserve_learned_from_reports_an_answer_old(observed_first, None);
        assert!(reserve < 0.01 * 0.8 * super::UNSEEN_RESERVE_MS, "observed first: {observed_first}; held back {reserve}");
    }
}

#[test]
fn a_rate_read_from_rounded_counts_is_never_above_the_servers() {
    // The counts are rounded to thousands: 4,000 left may be 3,500 to
    // 4,500. Read from the lowest level (a deficit of 4,500 refilled in
    // the 5 s to the reset), the rate would be 0.9 a ms, and each report's
    // shortfall from it (0.1 a ms) another client's use, 2,000 tokens held
    // back for good. Read from the highest (3,500 in 5 s), it is 0.7: the
    // reports make up the difference, and nothing is held back.
    for observed_first in [true, false] {
        let reserve = reserve_learned_from_reports_an_answer_old(observed_first, Some(1_000.0));
        assert!(reserve < 0.01 * 0.8 * super::UNSEEN_RESERVE_MS, "observed first: {observed_first}; held back {reserve}");
    }
}

#[test]
fn a_saved_bucket_comes_back_equal_through_json() {
    let mut continuous = super::Bucket::full_continuous(LIMIT, 60_000.0, T0);
    continuous.take(1_500.0, T0 + 10.0);
    continuous.note_sent(400.0, T0 + 20.0);
    let mut budget = Budget::default();
    budget.observe(&report(30_000.0, T0), T0, 60_000.0);
    let window = super::Bucket {
        refill: super::BucketRefill::Window { reset_at_ms: None, window_ms: 60_000.0 },
        ..budget.bucket("input_tokens").unwrap().clone()
    };
    for bucket in [continuous, window, budget.bucket("input_tokens").unwrap().clone()] {
        let json = serde_json::to_string(&bucket.saved()).unwrap();
        let saved = crate::coordinate::plain_bucket(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).expect("read back");
        assert_eq!(super::Bucket::restore(&saved), Some(bucket), "{json}");
    }
}

#[test]
fn a_saved_bucket_whose_numbers_are_not_sane_is_dropped() {
    let saved = super::Bucket::full_continuous(LIMIT, 60_000.0, T0).saved();
    let window = super::BucketRefill::Window { reset_at_ms: Some(T0), window_ms: 60_000.0 };
    let insane = [
        super::SavedBucket { limit: f64::NAN, ..saved },
        super::SavedBucket { limit: -1.0, ..saved },
        super::SavedBucket { limit: 0.0, ..saved },
        super::SavedBucket { limit: f64::INFINITY, ..saved },
        super::SavedBucket { level: f64::NAN, ..saved },
        super::SavedBucket { at_ms: f64::INFINITY, ..saved },
        super::SavedBucket { unseen_per_ms: f64::NAN, ..saved },
        super::SavedBucket { shadow_at_ms: f64::NEG_INFINITY, ..saved },
        super::SavedBucket { refill: super::BucketRefill::Continuous { per_ms: 0.0 }, ..saved },
        super::SavedBucket { refill: super::BucketRefill::Continuous { per_ms: f64::NAN }, ..saved },
        super::SavedBucket { refill: super::BucketRefill::Window { reset_at_ms: None, window_ms: -5.0 }, ..saved },
        super::SavedBucket { refill: super::BucketRefill::Window { reset_at_ms: None, window_ms: f64::INFINITY }, ..saved },
    ];
    for bucket in insane {
        assert_eq!(super::Bucket::restore(&bucket), None, "{bucket:?}");
    }
    // Sane but out of range: the levels are clamped, an endless reset is unknown.
    let over = super::Bucket::restore(&super::SavedBucket { level: 2.0 * LIMIT, shadow: -2.0 * LIMIT, refill: window, ..saved }).unwrap();
    assert_eq!((over.level_at(T0 - 1.0), over.saved().shadow), (LIMIT, -LIMIT));
    let endless = super::SavedBucket { refill: super::BucketRefill::Window { reset_at_ms: Some(f64::INFINITY), window_ms: 1.0 }, ..saved };
    assert_eq!(super::Bucket::restore(&endless).unwrap().refill, super::BucketRefill::Window { reset_at_ms: None, window_ms: 1.0 });
}
