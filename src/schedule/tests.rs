use super::*;
use crate::budget::{Cost, Limits};
use crate::headers::{parse, Observation};

const T0: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z

fn iso(ms: f64) -> String {
    // Seconds after T0 as an RFC 3339 time (enough for these tests).
    let s = ((ms - T0) / 1000.0) as u64;
    format!("2026-05-18T22:{:02}:{:02}Z", s / 60, s % 60)
}

/// Headers reporting requests and tokens: `(limit, remaining, reset_at)`
/// each, in the `x-ratelimit-*` names with RFC 3339 resets (exact counts).
fn reported(requests: (u64, u64, f64), tokens: (u64, u64, f64), now: f64) -> Observation {
    let values = [
        ("x-ratelimit-limit-requests", requests.0.to_string()),
        ("x-ratelimit-remaining-requests", requests.1.to_string()),
        ("x-ratelimit-reset-requests", iso(requests.2)),
        ("x-ratelimit-limit-tokens", tokens.0.to_string()),
        ("x-ratelimit-remaining-tokens", tokens.1.to_string()),
        ("x-ratelimit-reset-tokens", iso(tokens.2)),
    ];
    parse(values.iter().map(|(n, v)| (*n, v.as_str())), now)
}

fn tokens(n: f64) -> Cost {
    Cost::new(1.0, n, 0.0, None)
}

fn open_scheduler(max_concurrent: u32) -> Scheduler {
    Scheduler::new(Config { max_concurrent, ..Config::default() })
}

#[test]
fn calls_in_flight_never_exceed_max_concurrent() {
    let mut s = open_scheduler(3);
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![first]);
    s.complete(first, Some(200), None, T0);
    for _ in 0..10 {
        s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    }
    assert_eq!(s.poll(T0).granted.len(), 3);
    assert_eq!(s.in_flight(), 3);
    assert!(s.poll(T0).granted.is_empty());
    assert_eq!(s.next_wake(T0), None, "a full house waits for a completion, not a time");
}

#[test]
fn before_the_first_response_only_the_probe_is_in_flight() {
    let mut s = Scheduler::new(Config { max_concurrent: 10, probe_concurrency: 2, ..Config::default() });
    let tickets: Vec<_> = (0..5).map(|_| s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, tickets[..2]);
    assert!(s.poll(T0).granted.is_empty());
    s.complete(tickets[0], Some(200), None, T0 + 100.0);
    assert_eq!(s.poll(T0 + 100.0).granted, tickets[2..], "the first response opens the partition");
}

#[test]
fn a_probe_of_several_calls_holds_at_most_probe_tokens_beyond_its_first() {
    assert_eq!(Config::default().probe_concurrency, 4);
    let sized = |input: f64, output: f64| Cost::new(1.0, input, output, None);
    // Small calls: the probe is four calls.
    let mut s = open_scheduler(10);
    let small: Vec<_> = (0..6).map(|_| s.enqueue("p", sized(1_000.0, 500.0), 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, small[..4]);
    // Calls of 3,000 tokens each (input plus output): two together hold
    // 6,000, a third would bring them to 9,000, over PROBE_TOKENS.
    let mut s = open_scheduler(10);
    let mid: Vec<_> = (0..4).map(|_| s.enqueue("q", sized(2_000.0, 1_000.0), 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, mid[..2]);
    const { assert!(3.0 * 3_000.0 > PROBE_TOKENS && 2.0 * 3_000.0 <= PROBE_TOKENS) };
    // The first call goes whatever its size, alone; the first response
    // ends the probe.
    let mut s = open_scheduler(10);
    let big = s.enqueue("r", sized(30_000.0, 4_000.0), 0, T0).unwrap();
    let after = s.enqueue("r", sized(100.0, 10.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![big]);
    assert!(s.poll(T0 + 1_000.0).granted.is_empty());
    s.complete(big, Some(200), None, T0 + 2_000.0);
    assert_eq!(s.poll(T0 + 2_000.0).granted, vec![after]);
}

/// A GitHub-style window of 10 requests that turns over a minute after
/// T0: counts are exact and nothing refills within a test.
fn window(left: u32, now: f64) -> Observation {
    let (left, reset) = (left.to_string(), ((T0 + 60_000.0) / 1000.0).to_string());
    parse([("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", left.as_str()), ("x-ratelimit-reset", reset.as_str())], now)
}

fn requests_left(s: &Scheduler, now: f64) -> f64 {
    s.snapshot(now).partitions[0].dimensions.iter().find(|d| d.name == "requests").map(|d| d.remaining).expect("a requests dimension")
}

#[test]
fn the_first_calls_past_the_probe_stay_reserved_until_their_own_answers() {
    // Limits known: no probe, the first two calls go together.
    let limits = Limits { requests_per_minute: Some(10.0), ..Limits::default() };
    let mut s = Scheduler::new(Config { max_concurrent: 10, limits: Some(limits), ..Config::default() });
    let (a, b) = (s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap(), s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap());
    assert_eq!(s.poll(T0).granted, vec![a, b]);
    let c = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 500.0).unwrap();
    assert_eq!(s.poll(T0 + 500.0).granted, vec![c]);
    // b is slow to reach the server; c's report counts a and c. Sent
    // 500 ms after a and b, it covers neither: only their own reports do.
    s.complete(c, Some(200), Some(&window(8, T0 + 1_000.0)), T0 + 1_000.0);
    assert_eq!(requests_left(&s, T0 + 1_000.0), 6.0);
    s.complete(a, Some(200), Some(&window(9, T0 + 1_100.0)), T0 + 1_100.0);
    s.complete(b, Some(200), Some(&window(7, T0 + 1_500.0)), T0 + 1_500.0);
    assert_eq!(requests_left(&s, T0 + 1_500.0), 7.0);
    // Later calls are covered by the reports of calls sent after them.
    let d = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 2_000.0).unwrap();
    assert_eq!(s.poll(T0 + 2_000.0).granted, vec![d]);
    let e = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 2_500.0).unwrap();
    assert_eq!(s.poll(T0 + 2_500.0).granted, vec![e]);
    s.complete(e, Some(200), Some(&window(5, T0 + 3_000.0)), T0 + 3_000.0);
    assert_eq!(requests_left(&s, T0 + 3_000.0), 5.0, "d is counted by e's report");
}

#[test]
fn a_probes_calls_stay_reserved_until_their_own_answers() {
    let left = requests_left;
    let mut s = open_scheduler(10);
    let (a, b) = (s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap(), s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap());
    assert_eq!(s.poll(T0).granted, vec![a, b], "the probe");
    // b is slow to reach the server: a's answer counts a alone.
    s.complete(a, Some(200), Some(&window(9, T0 + 500.0)), T0 + 500.0);
    let c = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 500.0).unwrap();
    assert_eq!(s.poll(T0 + 500.0).granted, vec![c]);
    assert_eq!(left(&s, T0 + 500.0), 7.0);
    // c, sent well after b, is answered before b reached the server. Its
    // report covers the calls sent before it, but not b: only b's own
    // answer covers a probe's call.
    s.complete(c, Some(200), Some(&window(8, T0 + 1_000.0)), T0 + 1_000.0);
    assert_eq!(left(&s, T0 + 1_000.0), 7.0, "b stays reserved");
    s.complete(b, Some(200), Some(&window(7, T0 + 1_500.0)), T0 + 1_500.0);
    assert_eq!(left(&s, T0 + 1_500.0), 7.0);
}

#[test]
fn a_call_waits_for_the_reset_when_remaining_is_zero() {
    let mut s = open_scheduler(10);
    let first = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    s.poll(T0);
    // Tokens are spent; they are full again 30 s from now.
    let obs = reported((50, 49, T0 + 1200.0), (1000, 0, T0 + 30_000.0), T0);
    s.complete(first, Some(200), Some(&obs), T0);
    let next = s.enqueue("p", tokens(500.0), 0, T0).unwrap();
    assert!(s.poll(T0).granted.is_empty());
    // Continuous refill: 1000 tokens per 30 s, so 500 after 15 s.
    assert_eq!(s.next_wake(T0), Some((next, T0 + 15_000.0)));
    assert!(s.poll(T0 + 14_999.0).granted.is_empty());
    assert_eq!(s.poll(T0 + 15_000.0).granted, vec![next]);
}

#[test]
fn reservations_of_later_calls_still_in_flight_are_subtracted_from_what_a_response_reports() {
    let mut s = open_scheduler(10);
    let a = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    s.poll(T0);
    s.complete(a, Some(200), Some(&reported((100, 99, T0 + 600.0), (1000, 900, T0 + 6000.0), T0)), T0);
    // b and c are dispatched; b's response reports 600 left (it counted b
    // but not c, which was sent after it).
    let b = s.enqueue("p", tokens(300.0), 0, T0).unwrap();
    let c = s.enqueue("p", tokens(300.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![b, c]);
    s.complete(b, Some(200), Some(&reported((100, 98, T0 + 1200.0), (1000, 600, T0 + 24_000.0), T0)), T0);
    let tokens_view = |s: &Scheduler| s.snapshot(T0).partitions[0].dimensions.iter().find(|d| d.name == "tokens").unwrap().remaining;
    assert_eq!(tokens_view(&s), 300.0, "600 reported, less c's 300 that the server has not counted");
    // c's response covers c: its reservation goes, the report is the truth.
    s.complete(c, Some(200), Some(&reported((100, 97, T0 + 1800.0), (1000, 300, T0 + 42_000.0), T0)), T0);
    assert_eq!(tokens_view(&s), 300.0);
}

#[test]
fn a_stale_response_does_not_move_the_level_back() {
    let mut s = open_scheduler(10);
    let opener = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    s.poll(T0);
    s.complete(opener, Some(200), None, T0);
    let older = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    let newer = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![older, newer]);
    let answered = T0 + 100.0;
    s.complete(newer, Some(200), Some(&reported((10, 7, T0 + 18_000.0), (1000, 500, T0 + 30_000.0), answered)), answered);
    // The older call answers late with an older, higher figure.
    s.complete(older, Some(200), Some(&reported((10, 8, T0 + 12_000.0), (1000, 900, T0 + 6_000.0), answered)), answered);
    let view = s.snapshot(T0);
    let tokens = view.partitions[0].dimensions.iter().find(|d| d.name == "tokens").unwrap();
    assert_eq!(tokens.remaining, 500.0);
}

#[test]
fn a_call_larger_than_a_known_limit_is_refused_with_the_numbers() {
    let mut s = Scheduler::new(Config { limits: Limits::preset("anthropic-free"), ..Config::default() });
    let refusal = s.enqueue("p", tokens(30_000.0), 0, T0).unwrap_err();
    assert_eq!(refusal, Refusal::CostExceedsLimit { dimension: "tokens".into(), cost: 30_000.0, limit: 25_000.0 });
    assert_eq!(refusal.code(), "COST_EXCEEDS_LIMIT");
    let message = refusal.to_string();
    assert!(message.contains("30000 tokens") && message.contains("25000"), "{message}");
}

#[test]
fn a_call_over_a_limit_only_by_a_guess_waits_for_a_full_bucket_and_goes() {
    let mut s = Scheduler::new(Config { limits: Limits::preset("anthropic-free"), ..Config::default() });
    // 20,000 tokens counted and 12,000 guessed (say, a PDF's pages): over
    // the 25,000 only by the guess, so sendable.
    let with_guess = |s: &mut Scheduler, counted: f64| s.enqueue_until("p", Cost::new(1.0, counted + 12_000.0, 0.0, None), 12_000.0, 0, None, T0);
    let half = s.enqueue("p", tokens(12_500.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![half]);
    let big = with_guess(&mut s, 20_000.0).unwrap();
    // Not while half the bucket is spent, and not refused either.
    s.complete(half, Some(200), None, T0 + 1.0);
    let poll = s.poll(T0 + 1.0);
    assert!(poll.granted.is_empty() && poll.refused.is_empty());
    // Once the bucket has refilled to the whole limit, it goes.
    assert_eq!(s.poll(T0 + 60_000.0).granted, vec![big]);
    // Counted beyond the limit, a guess on top changes nothing: refused.
    let refusal = with_guess(&mut s, 26_000.0).unwrap_err();
    assert!(matches!(refusal, Refusal::CostExceedsLimit { .. }), "{refusal:?}");
    // The same cost with nothing guessed is refused too.
    let counted = s.enqueue("p", Cost::new(1.0, 32_000.0, 0.0, None), 0, T0).unwrap_err();
    assert!(matches!(counted, Refusal::CostExceedsLimit { .. }), "{counted:?}");
}

#[test]
fn a_queued_call_is_refused_when_a_response_reveals_a_smaller_limit() {
    let mut s = Scheduler::new(Config { max_concurrent: 10, probe_concurrency: 1, ..Config::default() });
    let probe = s.enqueue("p", tokens(10.0), 0, T0).unwrap();
    let big = s.enqueue("p", tokens(5_000.0), 0, T0).unwrap();
    s.poll(T0);
    s.complete(probe, Some(200), Some(&reported((5, 4, T0 + 12_000.0), (1000, 990, T0 + 600.0), T0)), T0);
    let poll = s.poll(T0);
    assert_eq!(poll.refused.len(), 1);
    assert_eq!(poll.refused[0].0, big);
    assert_eq!(s.queued(), 0);
}

#[test]
fn a_429_pauses_the_whole_partition_until_retry_after() {
    let mut s = open_scheduler(10);
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let obs = parse([("retry-after", "23")], T0);
    s.complete(first, Some(429), Some(&obs), T0);
    let waiting: Vec<_> = (0..3).map(|_| s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    let other = s.enqueue("q", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![other], "another partition is not paused");
    assert_eq!(s.next_wake(T0), Some((waiting[0], T0 + 23_000.0)));
    assert_eq!(s.poll(T0 + 23_000.0).granted, waiting);
    assert_eq!(s.snapshot(T0).counters.rate_limited, 1);
}

#[test]
fn a_429_without_retry_after_backs_off_and_doubles() {
    let mut s = open_scheduler(10);
    for (i, expected) in [1_000.0, 2_000.0, 4_000.0].into_iter().enumerate() {
        let now = T0 + i as f64 * 100_000.0;
        let t = s.enqueue("p", Cost::ONE_REQUEST, 0, now).unwrap();
        assert_eq!(s.poll(now).granted, vec![t]);
        s.complete(t, Some(429), None, now);
        let next = s.enqueue("p", Cost::ONE_REQUEST, 0, now).unwrap();
        assert_eq!(s.next_wake(now), Some((next, now + expected)));
        assert!(s.cancel(next));
    }
}

#[test]
fn higher_priority_goes_first_then_arrival_order() {
    let mut s = open_scheduler(1);
    let opener = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let low = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    let high_a = s.enqueue("p", Cost::ONE_REQUEST, 5, T0).unwrap();
    let high_b = s.enqueue("p", Cost::ONE_REQUEST, 5, T0).unwrap();
    let mut order = vec![];
    let mut previous = opener;
    for _ in 0..3 {
        s.complete(previous, Some(200), None, T0);
        previous = s.poll(T0).granted[0];
        order.push(previous);
    }
    assert_eq!(order, vec![high_a, high_b, low]);
}

#[test]
fn cancelling_frees_the_place_and_the_reservation() {
    let mut s = Scheduler::new(Config { max_concurrent: 1, limits: Limits::preset("anthropic-free"), ..Config::default() });
    let sent = s.enqueue("p", tokens(20_000.0), 0, T0).unwrap();
    let waiting = s.enqueue("p", tokens(20_000.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![sent]);
    assert!(s.cancel(waiting));
    assert_eq!(s.queued(), 0);
    assert!(!s.cancel(waiting), "a second cancel is a no-op");
    // The dispatched call was never sent: its 20,000 tokens come back at once.
    assert!(s.cancel(sent));
    let again = s.enqueue("p", tokens(25_000.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![again]);
}

#[test]
fn a_response_without_headers_charges_the_estimate_locally() {
    let mut s = Scheduler::new(Config { limits: Limits::preset("anthropic-free"), ..Config::default() });
    let a = s.enqueue("p", tokens(20_000.0), 0, T0).unwrap();
    s.poll(T0);
    s.complete(a, Some(200), None, T0);
    let b = s.enqueue("p", tokens(20_000.0), 0, T0).unwrap();
    assert!(s.poll(T0).granted.is_empty());
    // 25,000 a minute: 5,000 were left, 15,000 more take 36 s.
    assert_eq!(s.next_wake(T0), Some((b, T0 + 36_000.0)));
}

#[test]
fn window_limits_are_not_interpolated() {
    let mut s = open_scheduler(10);
    let a = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let reset_epoch = ((T0 + 600_000.0) / 1000.0).to_string();
    let obs = parse([("x-ratelimit-limit", "60"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset_epoch.as_str())], T0);
    s.complete(a, Some(200), Some(&obs), T0);
    let b = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert!(s.poll(T0 + 599_999.0).granted.is_empty(), "no call before the window resets");
    assert_eq!(s.next_wake(T0), Some((b, T0 + 600_000.0)));
    assert_eq!(s.poll(T0 + 600_000.0).granted, vec![b]);
}

#[test]
fn a_rounded_token_count_is_taken_at_the_lowest_figure_it_can_stand_for() {
    // Anthropic reports 1,000 tokens left, rounded to the nearest thousand:
    // as few as 500 may remain, so a 600-token call waits.
    let mut s = open_scheduler(10);
    let first = s.enqueue("p", tokens(10.0), 0, T0).unwrap();
    s.poll(T0);
    let obs = parse(
        [
            ("anthropic-ratelimit-tokens-limit", "60000"),
            ("anthropic-ratelimit-tokens-remaining", "1000"),
            ("anthropic-ratelimit-tokens-reset", "2026-05-18T22:00:59Z"),
        ],
        T0,
    );
    s.complete(first, Some(200), Some(&obs), T0);
    let small = s.enqueue("p", tokens(500.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![small]);
    let large = s.enqueue("p", tokens(600.0), 0, T0).unwrap();
    assert!(s.poll(T0).granted.is_empty(), "600 may be more than is left");
    assert!(s.next_wake(T0).is_some_and(|(t, at)| t == large && at > T0));
}

#[test]
fn a_call_beyond_max_queue_is_refused_and_a_place_frees_when_one_leaves() {
    let mut s = Scheduler::new(Config { max_queue: 2, probe_concurrency: 1, ..Config::default() });
    let sent = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let a = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    let probe = s.enqueue("q", Cost::ONE_REQUEST, 0, T0).unwrap();
    // q's call goes out as its partition's probe; p holds one waiter, so
    // there is room for exactly one more.
    assert_eq!(s.poll(T0).granted, vec![probe]);
    let b = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    let refusal = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap_err();
    assert_eq!(refusal, Refusal::QueueFull { max_queue: 2 });
    assert_eq!(refusal.code(), "QUEUE_FULL");
    assert!(refusal.to_string().contains("2 calls are already waiting"));
    assert!(s.cancel(b));
    assert!(s.enqueue("p", Cost::ONE_REQUEST, 0, T0).is_ok());
    let _ = (sent, a);
}

#[test]
fn with_max_queue_zero_a_call_goes_at_once_or_is_refused() {
    let mut s = Scheduler::new(Config { max_queue: 0, max_concurrent: 2, limits: Limits::preset("anthropic-free"), ..Config::default() });
    // Room now: the calls go, as many as there are slots.
    let first = s.enqueue("p", tokens(10_000.0), 0, T0).unwrap();
    let second = s.enqueue("q", tokens(100.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![first, second]);
    // No slot free: refused at once, nothing waits.
    let refusal = s.enqueue("p", tokens(100.0), 0, T0).unwrap_err();
    assert_eq!(refusal, Refusal::QueueFull { max_queue: 0 });
    assert!(refusal.to_string().contains("maxQueue is 0"), "{refusal}");
    assert_eq!(s.queued(), 0);
    // A slot free but not the budget (20,000 of 25,000 tokens out): refused too.
    s.complete(second, Some(200), None, T0);
    assert_eq!(s.enqueue("p", tokens(20_000.0), 0, T0).unwrap_err(), Refusal::QueueFull { max_queue: 0 });
    // What fits in the budget left goes.
    let small = s.enqueue("p", tokens(1_000.0), 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![small]);
    let _ = first;
}

#[test]
fn a_pause_longer_than_a_call_would_wait_refuses_it_at_once_and_a_short_one_is_waited_out() {
    let mut s = Scheduler::new(Config { max_pause_wait_ms: 60_000.0, ..Config::default() });
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![first]);
    let waiting = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    // A 429 asking for a week: the waiting call is refused at the next poll,
    // and a new one at once, each with the wait the server asked for.
    s.complete(first, Some(429), Some(&parse([("retry-after", "604800")], T0)), T0);
    let poll = s.poll(T0);
    assert_eq!(poll.refused, vec![(waiting, Refusal::RateLimited { retry_after_ms: 604_800_000.0 })]);
    let refusal = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 1_000.0).unwrap_err();
    assert_eq!(refusal, Refusal::RateLimited { retry_after_ms: 604_799_000.0 });
    assert_eq!(refusal.code(), "RATE_LIMITED");
    assert_eq!(refusal.numbers(), vec![("retryAfterMs", 604_799_000.0)]);
    assert!(refusal.to_string().contains("604799000 ms"), "{refusal}");
    // Other partitions are not paused.
    assert!(s.enqueue("q", Cost::ONE_REQUEST, 0, T0).is_ok());
    // Once the pause is over, calls go again.
    let later = s.enqueue("p", Cost::ONE_REQUEST, 0, T0 + 604_800_001.0).unwrap();
    assert!(s.poll(T0 + 604_800_001.0).granted.contains(&later));

    // A pause of 30 s is waited out, unless the call's deadline comes first.
    let mut s = Scheduler::new(Config { max_pause_wait_ms: 60_000.0, ..Config::default() });
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    s.complete(first, Some(429), Some(&parse([("retry-after", "30")], T0)), T0);
    let patient = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    let hurried = s.enqueue_until("p", Cost::ONE_REQUEST, 0.0, 0, Some(T0 + 10_000.0), T0).unwrap_err();
    assert_eq!(hurried, Refusal::RateLimited { retry_after_ms: 30_000.0 });
    assert!(s.poll(T0 + 29_000.0).granted.is_empty());
    assert_eq!(s.poll(T0 + 30_000.0).granted, vec![patient]);
}

#[test]
fn a_call_still_waiting_at_its_deadline_is_refused_with_the_time_it_waited() {
    let mut s = Scheduler::new(Config { max_concurrent: 10, probe_concurrency: 1, ..Config::default() });
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let patient = s.enqueue_until("p", Cost::ONE_REQUEST, 0.0, 0, None, T0).unwrap();
    let hurried = s.enqueue_until("p", Cost::ONE_REQUEST, 0.0, 0, Some(T0 + 500.0), T0).unwrap();
    assert!(s.poll(T0 + 499.0).refused.is_empty());
    let poll = s.poll(T0 + 500.0);
    assert_eq!(poll.refused, vec![(hurried, Refusal::QueueTimeout { waited_ms: 500.0 })]);
    assert_eq!(s.queued(), 1);
    // The probe's answer lets the patient call go; nothing else expires.
    s.complete(first, Some(200), None, T0 + 600.0);
    let poll = s.poll(T0 + 600.0);
    assert_eq!(poll.granted, vec![patient]);
    assert!(poll.refused.is_empty());
}

#[test]
fn a_dispatched_call_is_not_timed_out_later() {
    let mut s = open_scheduler(10);
    let t = s.enqueue_until("p", Cost::ONE_REQUEST, 0.0, 0, Some(T0 + 100.0), T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![t]);
    assert!(s.poll(T0 + 1_000.0).refused.is_empty());
    assert_eq!(s.in_flight(), 1);
}

fn requests(n: f64, tokens: f64) -> Cost {
    Cost::new(n, tokens, 0.0, None)
}

#[test]
fn a_small_call_backfills_past_a_head_waiting_for_a_window_reset_when_the_head_still_fits_after_it() {
    let mut s = open_scheduler(10);
    let a = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    let reset_epoch = ((T0 + 60_000.0) / 1000.0).to_string();
    let obs = parse([("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", "2"), ("x-ratelimit-reset", reset_epoch.as_str())], T0);
    s.complete(a, Some(200), Some(&obs), T0);
    let head = s.enqueue("api", requests(3.0, 0.0), 0, T0).unwrap();
    let small = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    let low = s.enqueue("api", Cost::ONE_REQUEST, -1, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![small], "the reset refills the window whatever the small call spends");
    assert_eq!(s.snapshot(T0).counters.backfilled, 1);
    assert_eq!(s.poll(T0 + 60_000.0).granted, vec![head, low], "a lower priority never passes");
}

#[test]
fn in_a_continuous_bucket_only_calls_that_spare_the_awaited_dimension_pass_the_head() {
    let mut s = open_scheduler(10);
    let first = s.enqueue("p", tokens(100.0), 0, T0).unwrap();
    s.poll(T0);
    s.complete(first, Some(200), Some(&reported((50, 40, T0 + 12_000.0), (1000, 100, T0 + 54_000.0), T0)), T0);
    let head = s.enqueue("p", tokens(500.0), 0, T0).unwrap();
    let uses_tokens = s.enqueue("p", tokens(50.0), 0, T0).unwrap();
    let spares_tokens = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![spares_tokens], "50 tokens now would delay the head");
    assert!(s.is_waiting(head) && s.is_waiting(uses_tokens));
}

#[test]
fn an_overload_halves_the_partition_concurrency_once_per_episode_and_successes_raise_it_again() {
    let mut s = open_scheduler(8);
    let opener = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    s.complete(opener, Some(200), None, T0);
    let sent: Vec<_> = (0..8).map(|_| s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted.len(), 8);
    s.complete(sent[0], Some(529), None, T0);
    s.complete(sent[1], Some(503), None, T0);
    let view = s.snapshot(T0);
    assert_eq!(view.partitions[0].max_in_flight, 4, "halved once for the episode");
    assert_eq!(view.counters.overloaded, 2);
    let paused = view.partitions[0].paused_until_ms.unwrap();
    assert!((T0 + 500.0..=T0 + 1_000.0).contains(&paused), "a jittered pause of half to all of 1 s: {}", paused - T0);
    for t in &sent[2..] {
        s.complete(*t, Some(200), None, T0);
    }
    assert!(s.snapshot(T0).partitions[0].max_in_flight >= 5, "six successes add about one and a half");
}

#[test]
fn the_counters_sum_waiting_time_and_count_retries() {
    let mut s = open_scheduler(1);
    let a = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    let b = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    s.complete(a, Some(200), None, T0 + 250.0);
    assert_eq!(s.poll(T0 + 250.0).granted, vec![b]);
    s.note_retry();
    let counters = s.snapshot(T0).counters;
    assert_eq!((counters.total_wait_ms, counters.retried), (250.0, 1));
    let json = serde_json::to_string(&counters).unwrap();
    assert!(json.contains("\"totalWaitMs\":250") && json.contains("\"retried\":1"), "{json}");
}

#[test]
fn numbers_in_messages_read_as_a_person_writes_them() {
    use super::refusal::number;
    let cases = [(30_000.0, "30000"), (0.0, "0"), (-0.0, "0"), (1.5, "1.5"), (2.25, "2.25"), (0.004, "0"), (-3.1, "-3.1")];
    for (x, text) in cases {
        assert_eq!(number(x), text, "{x}");
    }
    assert_eq!(number(1e300).len(), 20, "beyond exact integers, the digits of the largest u64");
    assert_eq!(number(f64::NAN), "NaN");
    assert_eq!(number(f64::INFINITY), "Infinity");
}

#[test]
fn cancelled_waiters_are_skipped_and_swept_in_order() {
    let mut s = open_scheduler(1);
    let first = s.enqueue("p", Cost::ONE_REQUEST, 0, T0).unwrap();
    s.poll(T0);
    s.complete(first, Some(200), None, T0);
    s.enqueue("q", Cost::ONE_REQUEST, 0, T0).unwrap();
    let tickets: Vec<_> = (0..40).map(|i| s.enqueue_until("p", Cost::ONE_REQUEST, 0.0, i % 3, Some(T0 + 1e6), T0).unwrap()).collect();
    // Cancel all but every fifth, from the middle outwards, past several sweeps.
    let mut cancelled: Vec<_> = tickets.iter().copied().filter(|t| t % 5 != 0).collect();
    cancelled.sort_by_key(|t| (*t as i64 - 20).abs());
    for t in &cancelled {
        assert!(s.cancel(*t));
        s.check_invariants().unwrap();
        assert!(!s.cancel(*t));
    }
    let kept: Vec<_> = tickets.iter().copied().filter(|t| t % 5 == 0).collect();
    assert_eq!(s.snapshot(T0).partitions.iter().map(|p| p.queued).collect::<Vec<_>>(), [kept.len(), 1]);
    let mut order = kept.clone();
    order.sort_by_key(|t| (-((t - tickets[0]) as i64 % 3), *t));
    let mut granted: Vec<Ticket> = Vec::new();
    while s.queued() > 1 {
        let poll = s.poll(T0);
        assert_eq!(poll.granted.len(), 1);
        granted.extend(poll.granted.iter().filter(|t| kept.contains(t)));
        poll.granted.iter().for_each(|t| s.complete(*t, Some(200), None, T0));
        s.check_invariants().unwrap();
    }
    assert_eq!(granted, order);
}

#[test]
fn answers_that_say_their_usage_calibrate_the_next_estimates_of_their_partition() {
    let mut s = Scheduler::new(Config { max_concurrent: 100, ..Config::default() });
    let estimate = Cost::new(1.0, 1_000.0, 10.0, None);
    s.enqueue("p", estimate, 0, T0).unwrap();
    let scale = |s: &Scheduler| s.snapshot(T0).partitions[0].input_scale;
    assert_eq!(scale(&s), 1.0);
    // The server charges a third more than estimated, answer after answer.
    for _ in 0..20 {
        s.learn_input("p", 1_000.0, 1_333.0);
    }
    assert!((scale(&s) - 1.333).abs() < 0.01, "{}", scale(&s));
    // Too small to teach anything, or not a number: nothing changes.
    s.learn_input("p", 10.0, 1_000.0);
    s.learn_input("p", 1_000.0, f64::NAN);
    assert!((scale(&s) - 1.333).abs() < 0.01);
    // A far-off answer (state the server keeps, say) teaches nothing.
    s.learn_input("p", 1_000.0, 100_000.0);
    assert!((scale(&s) - 1.333).abs() < 0.01);
}

#[test]
fn what_answers_teach_calibrates_the_calls_already_waiting_until_each_is_dispatched() {
    // A burst queued behind the first call, before any answer: then the
    // answers say the server charges twice the estimate (or nothing is
    // learnt), and the first answer shows 10,000 tokens left.
    let burst = |learn: bool| {
        let mut s = open_scheduler(100);
        let opener = s.enqueue("p", tokens(1_000.0), 0, T0).unwrap();
        assert_eq!(s.poll(T0).granted, vec![opener]);
        let waiting: Vec<Ticket> = (0..10).map(|_| s.enqueue("p", tokens(1_000.0), 0, T0).unwrap()).collect();
        if learn {
            for _ in 0..20 {
                s.learn_input("p", 1_000.0, 2_000.0);
            }
        }
        let obs = reported((100, 99, T0 + 60_000.0), (20_000, 10_000, T0 + 60_000.0), T0 + 1.0);
        s.complete(opener, Some(200), Some(&obs), T0 + 1.0);
        let granted = s.poll(T0 + 1.0).granted;
        s.check_invariants().unwrap();
        (s, waiting, granted)
    };
    let (_, _, as_estimated) = burst(false);
    let (mut s, waiting, calibrated) = burst(true);
    assert!(as_estimated.len() >= 8, "{as_estimated:?}");
    assert!((4..=5).contains(&calibrated.len()), "each waiting call now costs about 2,000 tokens: {calibrated:?}");
    let cost_of = |s: &Scheduler, t: Ticket| s.cost(t).unwrap().input_tokens;
    assert!((cost_of(&s, calibrated[0]) - 2_000.0).abs() < 20.0, "{}", cost_of(&s, calibrated[0]));
    // Once the server charges as estimated again, the calls still waiting
    // cost their estimate; a dispatched call keeps what it was charged at.
    for _ in 0..40 {
        s.learn_input("p", 1_000.0, 1_000.0);
    }
    let still_waiting = *waiting.last().unwrap();
    assert!(!calibrated.contains(&still_waiting));
    assert!((cost_of(&s, still_waiting) - 1_000.0).abs() < 20.0, "{}", cost_of(&s, still_waiting));
    assert!((cost_of(&s, calibrated[0]) - 2_000.0).abs() < 20.0, "{}", cost_of(&s, calibrated[0]));
}

#[test]
fn a_call_put_back_in_the_queue_is_calibrated_afresh_not_twice() {
    let mut s = Scheduler::new(Config { max_concurrent: 100, local_budget: false, ..Config::default() });
    s.enqueue("p", tokens(1_000.0), 0, T0).unwrap();
    for _ in 0..40 {
        s.learn_input("p", 1_000.0, 2_000.0);
    }
    let call = s.enqueue("p", tokens(1_000.0), 0, T0).unwrap();
    assert!(s.poll(T0).granted.contains(&call));
    let cost_of = |s: &Scheduler| s.cost(call).unwrap().input_tokens;
    assert!((cost_of(&s) - 2_000.0).abs() < 20.0, "{}", cost_of(&s));
    // Granted while the budget was kept elsewhere, then put back to wait
    // for the local one: still what the server would charge, not 4,000.
    s.set_budget(true, 1.0);
    assert!(s.requeue(call));
    assert!((cost_of(&s) - 2_000.0).abs() < 20.0, "{}", cost_of(&s));
    s.check_invariants().unwrap();
}

#[test]
fn a_calibrated_estimate_never_makes_a_call_too_large_to_send() {
    let mut s = open_scheduler(10);
    let opener = s.enqueue("p", tokens(10.0), 0, T0).unwrap();
    s.poll(T0);
    // A limit of 1,000 tokens; estimates have run at half what was charged.
    let obs = reported((50, 49, T0 + 1_200.0), (1_000, 1_000, T0), T0);
    s.complete(opener, Some(200), Some(&obs), T0);
    for _ in 0..20 {
        s.learn_input("p", 1_000.0, 2_000.0);
    }
    // 800 estimated is 1,600 calibrated, over the limit by its calibration
    // alone: it waits for a full bucket and goes, it is not refused.
    let call = s.enqueue("p", tokens(800.0), 0, T0 + 1.0).unwrap();
    assert_eq!(s.poll(T0 + 1.0).granted, vec![call]);
    // 1,200 counted is over the limit whatever the scale.
    assert!(matches!(s.enqueue("p", tokens(1_200.0), 0, T0 + 2.0), Err(Refusal::CostExceedsLimit { .. })));
}

mod eviction {
    use super::*;
    use crate::schedule::evict::{MAX_LEARNED, MIN_SWEEP};

    /// One call in partition `key` at `now`, answered with `observation`.
    fn use_once(s: &mut Scheduler, key: &str, observation: Option<&Observation>, now: f64) {
        let ticket = s.enqueue(key, Cost::ONE_REQUEST, 0, now).unwrap();
        assert_eq!(s.poll(now).granted, [ticket], "{key}");
        s.complete(ticket, Some(200), observation, now);
    }

    /// What a partition knows of its requests: its limit, if it has a bucket.
    fn requests_limit(s: &Scheduler, key: &str, now: f64) -> Option<f64> {
        let snapshot = s.snapshot(now);
        let p = snapshot.partitions.iter().find(|p| p.key == key)?;
        p.dimensions.iter().find(|d| d.name == "requests").map(|d| d.limit)
    }

    #[test]
    fn idle_partitions_whose_buckets_are_full_go_and_the_live_ones_stay() {
        let mut s = open_scheduler(8);
        // Every tenth key learns a limit of 50 requests a minute.
        for i in 0..5_000 {
            let seen = (i % 10 == 0).then(|| reported((50, 49, T0 + 60_000.0), (10_000, 9_000, T0 + 60_000.0), T0));
            use_once(&mut s, &format!("customer-{i}"), seen.as_ref(), T0);
        }
        // Two keys still busy: one in flight, one waiting behind a paused bucket.
        let busy = s.enqueue("busy", Cost::ONE_REQUEST, 0, T0).unwrap();
        assert_eq!(s.poll(T0).granted, [busy]);
        s.observe("paced", &reported((1, 0, T0 + 3_000_000.0), (10_000, 9_000, T0 + 60_000.0), T0), T0);
        s.enqueue("paced", Cost::ONE_REQUEST, 0, T0).unwrap();
        // One of them learnt that the server charges half its estimates.
        for _ in 0..40 {
            s.learn_input("customer-20", 1_000.0, 500.0);
        }
        // Not yet full, nothing goes; a minute later every bucket is full again.
        s.evict_idle(T0 + 1_000.0);
        assert_eq!(s.partitions(), 500 + 2, "those with nothing to refill went (some already as keys came)");
        let later = T0 + 120_000.0;
        s.evict_idle(later);
        let listed: Vec<String> = s.snapshot(later).partitions.into_iter().map(|p| p.key).collect();
        assert_eq!(listed, ["busy", "paced"], "only live partitions are listed");
        assert_eq!(s.learned(), 500, "the keys that learnt a limit are kept, the others not");
        s.check_invariants().unwrap();
        // A returning key knows its limit at once: no probe, the same bucket.
        assert_eq!(requests_limit(&s, "customer-10", later), None);
        let again = s.enqueue("customer-10", Cost::ONE_REQUEST, 0, later).unwrap();
        assert_eq!(requests_limit(&s, "customer-10", later), Some(50.0));
        assert_eq!(s.poll(later).granted, [again]);
        assert_eq!(s.learned(), 499);
        // And one that learnt its calibration applies it to its first call back.
        let scaled = s.enqueue("customer-20", tokens(1_000.0), 0, later).unwrap();
        assert!((s.cost(scaled).unwrap().input_tokens - 500.0).abs() < 1.0, "{:?}", s.cost(scaled));
        s.check_invariants().unwrap();
    }

    #[test]
    fn many_keys_used_once_keep_the_partitions_bounded_and_the_learning_bounded() {
        let mut s = open_scheduler(8);
        let mut most = 0;
        for i in 0..20_000u32 {
            // One key a second, each learning a limit: a minute on, it is full.
            let now = T0 + f64::from(i) * 1_000.0;
            let seen = reported((50, 49, now + 60_000.0), (10_000, 9_000, now + 60_000.0), now);
            use_once(&mut s, &format!("customer-{i}"), Some(&seen), now);
            most = most.max(s.partitions());
        }
        assert!(most <= 2 * MIN_SWEEP, "at most {most} partitions at once");
        assert!(s.learned() <= MAX_LEARNED, "{}", s.learned());
        assert!(s.learned() > MAX_LEARNED / 2, "{}", s.learned());
        s.check_invariants().unwrap();
    }
}
