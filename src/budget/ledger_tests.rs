//! The tests of [`Budget`](super::Budget)'s reading of reports that come
//! back out of the order their calls reached the server.

use super::{Budget, REORDER_MS};
use crate::budget::Cost;
use crate::headers::{Dimension, Observation, Refill, Source};

const T0: f64 = 1_779_141_600_000.0;
const WINDOW: f64 = 60_000.0;
/// 50 requests and 30,000 input tokens a minute: a request refills every
/// 1.2 s, so the requests a report shows left order calls sent together.
const REQUESTS: f64 = 50.0;
const INPUT: f64 = 30_000.0;

fn dimension(name: &str, limit: f64, left: f64, now: f64) -> Dimension {
    Dimension {
        name: name.into(),
        limit: Some(limit),
        remaining: Some(left),
        reset_at_ms: Some(now + (limit - left) * WINDOW / limit),
        window_ms: None,
        remaining_rounding: None,
        refill: Refill::Continuous,
        source: Source::Anthropic,
    }
}

/// A report of `requests` and `input` tokens left, as the server counted
/// them when it admitted the call, received at `now`.
fn report(requests: f64, input: f64, now: f64) -> Observation {
    Observation {
        dimensions: vec![dimension("requests", REQUESTS, requests, now), dimension("input_tokens", INPUT, input, now)],
        ..Observation::default()
    }
}

fn call(input: f64) -> Cost {
    Cost::new(1.0, input, 0.0, None)
}

/// Input tokens we may still use at `now`: the level less what is reserved.
fn input_left(budget: &Budget, now: f64) -> f64 {
    budget.views(now).into_iter().find(|v| v.name == "input_tokens").map(|v| v.remaining).expect("an input bucket")
}

/// Requests we may still use at `now`.
fn requests_left(budget: &Budget, now: f64) -> Option<f64> {
    budget.views(now).into_iter().find(|v| v.name == "requests").map(|v| v.remaining)
}

/// A budget that has seen the buckets full, with calls of `inputs` sent
/// together at `at` as sequences 1, 2, ….
fn sent_together(inputs: &[f64], at: f64) -> Budget {
    let mut budget = Budget::default();
    budget.observe(&report(REQUESTS, INPUT, T0), T0, WINDOW);
    for (i, input) in inputs.iter().enumerate() {
        budget.reserve(i as u64 + 1, call(*input), at);
    }
    budget
}

#[test]
fn a_report_does_not_cover_a_call_sent_with_its_own_that_the_server_counted_after_it() {
    let at = T0 + 1_000.0;
    let mut budget = sent_together(&[4_000.0, 6_000.0], at);
    // The second call reached the server first: 49 requests and 24,000
    // tokens left. The first, 4,000 tokens, is still on its way.
    budget.reconcile(2, Some(&report(49.0, 24_000.0, at)), at + 500.0, WINDOW);
    assert_eq!(input_left(&budget, at + 500.0), 20_000.0, "the first call stays reserved");
    // Its own report shows one request fewer: it was counted later, and
    // its levels are the newest.
    budget.reconcile(1, Some(&report(48.0, 20_000.0, at)), at + 500.0, WINDOW);
    assert_eq!(input_left(&budget, at + 500.0), 20_000.0);
    assert_eq!(budget.reserved(), Cost::default());
}

#[test]
fn a_report_of_a_call_counted_before_the_applied_one_only_gives_back_its_reservation() {
    let at = T0 + 1_000.0;
    let mut budget = sent_together(&[4_000.0, 6_000.0], at);
    // The server counted the first call, then the second; the second's
    // report comes back first.
    budget.reconcile(2, Some(&report(48.0, 20_000.0, at)), at + 500.0, WINDOW);
    assert_eq!(input_left(&budget, at + 500.0), 16_000.0);
    // The first's report shows one request more: older, and counted in
    // the levels already applied.
    budget.reconcile(1, Some(&report(49.0, 26_000.0, at)), at + 500.0, WINDOW);
    assert_eq!(input_left(&budget, at + 500.0), 20_000.0, "levels kept, reservation given back, nothing charged");
}

#[test]
fn reports_that_show_as_many_requests_left_are_not_ordered_and_the_later_one_is_charged() {
    let at = T0 + 1_000.0;
    let mut budget = sent_together(&[4_000.0, 6_000.0], at);
    budget.reconcile(2, Some(&report(48.0, 20_000.0, at)), at + 500.0, WINDOW);
    // No order can be read from a tie: the first call may not be counted
    // in the levels applied, so it is charged to them.
    budget.reconcile(1, Some(&report(48.0, 20_000.0, at)), at + 500.0, WINDOW);
    assert_eq!(input_left(&budget, at + 500.0), 16_000.0);
}

/// When the first of two calls is sent, and when the reports of both are back.
const FIRST_SENT: f64 = T0 + 1_000.0;
const ANSWERED: f64 = FIRST_SENT + 5_000.0;

/// A budget that has seen the buckets full, with a call of 4,000 tokens
/// (sequence 1, given to `mark` as it is sent) and one of 6,000 sent
/// 100 ms after it, whose report came back first, 5 s later, when refill
/// could explain a request either way: only the sending orders them.
fn second_answered_first(mark: impl FnOnce(&mut Budget)) -> Budget {
    let mut budget = sent_together(&[4_000.0], FIRST_SENT);
    mark(&mut budget);
    budget.reserve(2, call(6_000.0), FIRST_SENT + 100.0);
    budget.reconcile(2, Some(&report(48.0, 20_000.0, FIRST_SENT + 100.0)), ANSWERED, WINDOW);
    budget
}

/// The first call's own report, of the buckets as it was counted.
fn first_answered(budget: &mut Budget) {
    budget.reconcile(1, Some(&report(49.0, 24_000.0, FIRST_SENT)), ANSWERED, WINDOW);
}

#[test]
fn a_held_call_placed_before_the_applied_report_only_by_its_sending_is_charged() {
    // The first call is held: its sending may come later than its dispatch.
    let answers = |mark: fn(&mut Budget)| {
        let mut budget = second_answered_first(mark);
        first_answered(&mut budget);
        input_left(&budget, ANSWERED)
    };
    let given_back = answers(|_| {});
    assert_eq!(answers(|b| b.hold(1)), given_back - 4_000.0, "a held call is charged, as its report may be older than its sending");
}

#[test]
fn a_kept_call_is_covered_only_by_its_own_report_which_is_placed_as_any_calls() {
    // The first call is kept for its own report: it may reach the server late.
    let mut kept = second_answered_first(|b| b.keep(1));
    let covered = second_answered_first(|_| {});
    assert_eq!(input_left(&kept, ANSWERED), input_left(&covered, ANSWERED) - 4_000.0, "not covered by the second call's report");
    // Its own report is placed before the applied one by its sending, as
    // any call's: its reservation goes back and nothing is charged.
    let before = input_left(&kept, ANSWERED);
    first_answered(&mut kept);
    assert_eq!(input_left(&kept, ANSWERED), before + 4_000.0);
    assert_eq!(kept.reserved(), Cost::default());
}

#[test]
fn a_report_covers_the_calls_sent_reorder_ms_before_its_own() {
    let mut budget = sent_together(&[4_000.0], T0 + 1_000.0);
    let later = T0 + 1_000.0 + REORDER_MS;
    budget.reserve(2, call(6_000.0), later);
    budget.reserve(3, call(5_000.0), later + 1.0);
    budget.reconcile(2, Some(&report(48.0, 20_000.0, later)), later + 500.0, WINDOW);
    assert_eq!(input_left(&budget, later + 500.0), 15_000.0, "the first call is counted; the third, sent after, is not");
    // The first call's own report is older: nothing changes.
    budget.reconcile(1, Some(&report(49.0, 26_000.0, T0 + 1_000.0)), later + 500.0, WINDOW);
    assert_eq!(input_left(&budget, later + 500.0), 15_000.0);
}

#[test]
fn the_requests_left_prove_a_report_older_however_late_its_call_was_sent() {
    // Six calls sent together open connections of their own and reach the
    // server 1.5 s later; a seventh, sent a second after them on a pooled
    // connection, reaches it first.
    let batch = T0 + 1_000.0;
    let mut budget = sent_together(&[2_000.0; 6], batch);
    let pooled = batch + 1_000.0;
    budget.reserve(7, call(1_000.0), pooled);
    // The sixth, counted last, answers first: 43 requests and 17,000
    // tokens left. The others stay reserved.
    let now = batch + 3_000.0;
    budget.reconcile(6, Some(&report(43.0, 17_000.0, batch)), now, WINDOW);
    assert_eq!(input_left(&budget, now), 6_000.0);
    // The seventh's report shows 49 left. Its call was sent a second after
    // the sixth's, yet it cannot have been counted later: between the
    // sixth's sending and this answer (3 s) at most a few requests came
    // back (2.5 at the documented rate, under 4 at the fastest the reports'
    // resets allow), so a later admission would show fewer than 47 left.
    budget.reconcile(7, Some(&report(49.0, 29_000.0, pooled)), now, WINDOW);
    assert_eq!(input_left(&budget, now), 7_000.0, "not applied: the five still on their way stay reserved");
}

#[test]
fn a_refused_calls_report_is_placed_by_when_its_call_was_sent() {
    let at = T0 + 1_000.0;
    let mut budget = sent_together(&[4_000.0, 6_000.0, 3_000.0], at);
    let now = at + 500.0;
    budget.reconcile(2, Some(&report(48.0, 20_000.0, at)), now, WINDOW);
    assert_eq!(input_left(&budget, now), 13_000.0);
    // The first call was refused after the server counted the second and
    // another client's call: it gives its reservation back, and its
    // report, the newest, covers what was sent REORDER_MS before it; the
    // third, sent with it, stays reserved.
    budget.refused(1, Some(&report(47.0, 10_000.0, at)), now, WINDOW);
    assert_eq!(input_left(&budget, now), 7_000.0);
    assert_eq!(budget.reserved(), call(3_000.0));
}

#[test]
fn a_call_sent_after_the_applied_report_came_back_is_later_whatever_it_shows() {
    // One call after another, each answered before the next is sent, each
    // report showing the same figures (a server that rounds, or refill
    // that makes up for each call): each report is the newest.
    let mut budget = sent_together(&[1_000.0], T0 + 1_000.0);
    budget.reconcile(1, Some(&report(40.0, 20_000.0, T0 + 1_000.0)), T0 + 1_010.0, WINDOW);
    budget.reserve(2, call(1_000.0), T0 + 1_011.0);
    budget.reconcile(2, Some(&report(40.0, 20_000.0, T0 + 1_011.0)), T0 + 1_020.0, WINDOW);
    assert_eq!(input_left(&budget, T0 + 1_020.0), 20_000.0, "applied, not charged on top");
}

/// A report of a window of 10 requests a minute, `left` of them left until `reset`.
fn window(left: f64, reset: f64) -> Observation {
    Observation {
        dimensions: vec![Dimension {
            name: "requests".into(),
            limit: Some(10.0),
            remaining: Some(left),
            reset_at_ms: Some(reset),
            window_ms: Some(WINDOW),
            remaining_rounding: None,
            refill: Refill::Window,
            source: Source::XRateLimit,
        }],
        ..Observation::default()
    }
}

/// A budget that has seen a window of 10 requests full, with two calls
/// sent together a second into it as sequences 1 and 2.
fn two_sent_in_a_window() -> Budget {
    let mut budget = Budget::default();
    budget.observe(&window(10.0, T0 + WINDOW), T0, WINDOW);
    budget.reserve(1, Cost::ONE_REQUEST, T0 + 1_000.0);
    budget.reserve(2, Cost::ONE_REQUEST, T0 + 1_000.0);
    budget
}

#[test]
fn in_a_window_a_report_showing_as_many_requests_left_counted_its_call() {
    // Two calls sent together, both admitted before either answer, the
    // reports made at the answer (as most servers make them): both show 8
    // left. The second's reservation goes back without a charge; charged,
    // it would be lost until the reset.
    let mut budget = two_sent_in_a_window();
    let now = T0 + 2_000.0;
    budget.reconcile(1, Some(&window(8.0, T0 + WINDOW)), now, WINDOW);
    assert_eq!(requests_left(&budget, now), Some(7.0), "the second call, sent with the first, stays reserved");
    budget.reconcile(2, Some(&window(8.0, T0 + WINDOW)), now, WINDOW);
    assert_eq!(requests_left(&budget, now), Some(8.0));
    assert_eq!(budget.reserved(), Cost::default());
}

#[test]
fn a_report_of_a_later_window_is_later_though_it_shows_more_requests_left() {
    // Two calls sent together, one counted at the end of a window (1
    // left), the other at the start of the next (9 left).
    let mut budget = two_sent_in_a_window();
    let now = T0 + 2_000.0;
    budget.reconcile(1, Some(&window(1.0, T0 + WINDOW)), now, WINDOW);
    // The next window's report shows more left, yet it is the newer.
    budget.reconcile(2, Some(&window(9.0, T0 + 2.0 * WINDOW)), now, WINDOW);
    assert_eq!(requests_left(&budget, now), Some(9.0));
    assert_eq!(budget.reserved(), Cost::default());
}

#[test]
fn in_a_window_the_counts_place_a_held_calls_report_only_when_the_resets_agree_to_a_second() {
    // Two calls sent together, the second held (its sending may come
    // late); both reports show 8 left, the first applied. Resets a second
    // or less apart are one window's: the counts prove the second counted,
    // and its reservation goes back. A reset given as seconds from an
    // answer's arrival can move by more than that within one window; then
    // only the sending places the report, before the applied one, and a
    // held call so placed is charged.
    let left_after = |second_reset: f64, hold: bool| {
        let mut budget = two_sent_in_a_window();
        if hold {
            budget.hold(2);
        }
        let now = T0 + 3_000.0;
        budget.reconcile(1, Some(&window(8.0, T0 + WINDOW + 1_500.0)), now, WINDOW);
        budget.reconcile(2, Some(&window(8.0, second_reset)), now, WINDOW);
        assert_eq!(budget.reserved(), Cost::default());
        requests_left(&budget, now)
    };
    let one_window = T0 + WINDOW + 1_000.0;
    let apart = T0 + WINDOW;
    assert_eq!(left_after(one_window, true), Some(8.0), "counted by the applied report");
    assert_eq!(left_after(apart, false), Some(8.0), "placed before the applied report: given back");
    assert_eq!(left_after(apart, true), Some(7.0), "held and placed only by its sending: charged");
}
