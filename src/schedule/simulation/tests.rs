//! The scenarios of the proof, asserted with the numbers of issue 4.

use super::scenarios::{self, HUGE, PROBE};

#[test]
fn a_burst_at_five_times_the_limit_finishes_within_three_percent_of_the_minimum_without_429s() {
    let (figures, _) = scenarios::burst();
    assert_eq!(figures.answered, 2_000, "{figures:?}");
    assert_eq!(figures.rate_limited_after_first_answer, 0, "{figures:?}");
    let minimum = figures.theoretical_ms.unwrap_or(f64::NAN);
    assert!(figures.limit_bound_ms <= minimum * 1.03, "{figures:?}");
}

#[test]
fn with_another_client_taking_thirty_percent_unseen_429s_stay_rare_and_goodput_near_what_is_left() {
    let (figures, _) = scenarios::shared();
    assert_eq!(figures.answered, 2_000, "{figures:?}");
    // No more than 1 per 1,000 calls.
    assert!(figures.rate_limited <= 2, "{figures:?}");
    assert!(figures.goodput_of_left.is_some_and(|g| g >= 0.95), "{figures:?}");
}

#[test]
fn with_unknown_limits_429s_are_bounded_by_the_probe() {
    let (figures, _) = scenarios::unknown_limits();
    assert_eq!(figures.answered, figures.calls, "{figures:?}");
    assert!(figures.rate_limited <= PROBE, "{figures:?}");
}

#[test]
fn with_window_limits_no_call_is_sent_before_the_reset_once_remaining_is_zero() {
    let (figures, _) = scenarios::window();
    assert_eq!(figures.answered, figures.calls, "{figures:?}");
    assert_eq!(figures.sent_into_spent_window, 0, "{figures:?}");
    assert_eq!(figures.rate_limited_after_first_answer, 0, "{figures:?}");
    // 300 calls, 100 a window: the last window opens at two minutes.
    assert!(figures.limit_bound_ms < 121_000.0, "{figures:?}");
}

#[test]
fn a_huge_call_among_small_ones_completes_and_backfill_delays_no_small_call() {
    let (with, with_outcome) = scenarios::huge_among_small(32);
    let (without, without_outcome) = scenarios::huge_among_small(0);
    assert_eq!(with.answered, with.calls, "{with:?}");
    assert!(with_outcome.calls[HUGE].answered_at.is_some());
    assert_eq!(without.answered, without.calls, "{without:?}");
    let wait = |c: &super::run::Call| c.first_dispatch.map(|d| d - c.arrive_at);
    for (i, (a, b)) in with_outcome.calls.iter().zip(&without_outcome.calls).enumerate().filter(|(i, _)| *i != HUGE) {
        assert!(wait(a) <= wait(b), "call {i} waited {:?} with backfill, {:?} without", wait(a), wait(b));
    }
}

#[test]
fn aborted_waiters_leave_every_other_call_to_complete_and_the_budget_to_refill() {
    let (figures, outcome) = scenarios::aborts();
    assert!(figures.aborted > 0, "{figures:?}");
    assert_eq!(figures.answered + figures.aborted, figures.calls, "{figures:?}");
    assert_eq!(figures.rate_limited_after_first_answer, 0, "{figures:?}");
    assert!(scenarios::budget_returns_to_full(&outcome));
}
