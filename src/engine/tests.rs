//! The engine with `now` as an input: pauses and their events, retries and
//! backoff, the body check, aborts and deadlines, lease spares, and falling
//! back from a coordinator and recovering.

use super::*;
use crate::budget::Limits;
use crate::headers::parse;

const T0: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z

fn spec(key: &str) -> CallSpec {
    CallSpec { key: key.into(), cost: Cost::ONE_REQUEST, guessed: 0.0, priority: 0, retries: true, breakpoints: Vec::new() }
}

fn engine(settings: Settings) -> Engine {
    let mut e = Engine::new(settings);
    e.seed(7);
    e
}

/// Known limits: no probe, and room for every call of a test.
fn with_limits() -> Settings {
    let limits = Limits { requests_per_minute: Some(1_000.0), ..Limits::default() };
    Settings { schedule: Config { limits: Some(limits), ..Config::default() }, ..Settings::default() }
}

fn heard(status: u16, headers: &[(&str, &str)], now: f64) -> Answer {
    let observation = parse(headers.iter().copied(), now);
    Answer::Heard { status, observation, fields: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect() }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

/// Nothing left behind: no call, no ticket, no request for grants, nothing
/// waiting or in flight in the scheduler.
fn assert_clean(e: &Engine) {
    assert_eq!(e.calls.len(), 0, "calls left: {:?}", e.calls.keys().collect::<Vec<_>>());
    assert!(e.by_ticket.is_empty(), "tickets left: {:?}", e.by_ticket);
    assert!(e.link.as_ref().is_none_or(|link| link.asks_pending() == 0), "requests for grants left");
    assert_eq!((e.scheduler.queued(), e.scheduler.in_flight()), (0, 0));
}

#[test]
fn a_call_that_fits_is_sent_at_once_and_returns_its_answer() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(200, &[], T0 + 10.0), T0 + 10.0);
    assert_eq!(e.step(id, T0 + 10.0), Step::Return);
    assert_eq!(kinds(&e.take_events()), ["queued", "dispatched", "response"]);
    assert_eq!(e.calls(), 0);
    assert_eq!(e.scheduler().in_flight(), 0);
}

#[test]
fn what_an_answer_s_usage_teaches_lets_a_waiting_call_go_at_once() {
    let limits = Limits { input_tokens_per_minute: Some(6_000.0), ..Limits::default() };
    let mut e = engine(Settings { schedule: Config { limits: Some(limits), ..Config::default() }, ..Settings::default() });
    let call = |input: f64| CallSpec { cost: Cost::new(1.0, input, 0.0, None), ..spec("api") };
    let first = e.enqueue(call(3_000.0), T0).unwrap();
    assert_eq!(e.step(first, T0), Step::Send { attempt: 1 });
    // 3,000 tokens left: the next call of 4,000 waits for the refill.
    let second = e.enqueue(call(4_000.0), T0).unwrap();
    assert!(matches!(e.step(second, T0), Step::Wait { .. }), "{:?}", e.step(second, T0));
    e.take_woken();
    // Answers say the server charges half of every estimate: the waiting
    // call now costs 2,000 and goes, with no timer needed to notice.
    for _ in 0..40 {
        e.usage("api", 4_000.0, 2_000.0, T0 + 1.0);
    }
    assert!(e.take_woken().contains(&second));
    assert_eq!(e.step(second, T0 + 1.0), Step::Send { attempt: 1 });
}

#[test]
fn a_429_pauses_its_partition_with_events_at_the_moments_the_pause_begins_and_ends() {
    let mut e = engine(with_limits());
    let first = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(first, T0), Step::Send { attempt: 1 });
    e.take_events();
    let second = e.enqueue(spec("api"), T0 + 5.0).unwrap();
    assert_eq!(e.step(second, T0 + 5.0), Step::Send { attempt: 1 });
    e.answered(first, heard(429, &[("retry-after", "2")], T0 + 100.0), T0 + 100.0);
    let events = e.take_events();
    let pauses: Vec<&Event> = events.iter().filter(|e| e.kind() == "pause").collect();
    assert_eq!(pauses, [&Event::Pause { partition: "api".into(), until_ms: T0 + 2_100.0 }], "{events:?}");
    // The first call retries after the server's wait, then joins the queue
    // behind the pause; a new call waits for the pause too.
    assert_eq!(e.step(first, T0 + 100.0), Step::Wait { until: T0 + 2_100.0 });
    let third = e.enqueue(spec("api"), T0 + 200.0).unwrap();
    assert_eq!(e.step(third, T0 + 200.0), Step::Wait { until: T0 + 2_100.0 }, "the head sleeps until the pause ends");
    assert_eq!(e.next_tick(), Some(T0 + 2_100.0));
    e.tick(T0 + 2_099.0);
    assert!(!kinds(&e.take_events()).contains(&"resume"));
    e.tick(T0 + 2_100.0);
    let events = e.take_events();
    assert_eq!(events.iter().filter(|e| e.kind() == "resume").count(), 1, "{events:?}");
    assert_eq!(e.next_tick(), None);
    assert!(e.take_woken().contains(&third));
    assert_eq!(e.step(third, T0 + 2_100.0), Step::Send { attempt: 1 });
    assert_eq!(e.step(first, T0 + 2_100.0), Step::Send { attempt: 2 }, "its retry queued again at the pause's end");
    e.answered(second, heard(200, &[], T0 + 2_200.0), T0 + 2_200.0);
    assert_eq!(e.step(second, T0 + 2_200.0), Step::Return);
}

#[test]
fn a_pause_with_nobody_waiting_still_ends_on_time() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(429, &[("retry-after", "120"), ("x-should-retry", "false")], T0), T0);
    assert_eq!(e.step(id, T0), Step::Return, "the server said not to retry");
    e.take_events();
    assert_eq!(e.next_tick(), Some(T0 + 120_000.0));
    e.tick(T0 + 120_000.0);
    assert_eq!(kinds(&e.take_events()), ["resume"]);
}

#[test]
fn a_pause_longer_than_max_retry_after_refuses_the_next_call_at_once() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(429, &[("retry-after", "604800")], T0), T0);
    assert_eq!(e.step(id, T0), Step::Return, "a week is not slept");
    let refusal = e.enqueue(spec("api"), T0 + 1.0).unwrap_err();
    assert_eq!(refusal, Refusal::RateLimited { retry_after_ms: 604_799_999.0 });
    let answer = rate_limited_answer(&refusal).unwrap();
    assert_eq!(answer.status, 429);
    assert!(answer.headers.contains(&("retry-after", "604800".to_string())), "{:?}", answer.headers);
    assert!(answer.headers.contains(&("x-should-retry", "false".to_string())));
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(kinds(&e.take_events()).last(), Some(&"rejected"));
    // Another partition is not concerned.
    assert!(e.enqueue(spec("other"), T0 + 1.0).is_ok());
}

#[test]
fn retries_back_off_exponentially_then_return_after_max_retries() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    let mut now = T0;
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        assert_eq!(e.step(id, now), Step::Send { attempt });
        e.answered(id, Answer::NoAnswer, now);
        match e.step(id, now) {
            Step::Wait { until } => {
                delays.push(until - now);
                now = until;
            }
            Step::Return => break,
            step => panic!("unexpected {step:?}"),
        }
    }
    // The SDKs' backoff: 500 ms then 1 s, less up to a quarter of jitter.
    assert_eq!(delays.len(), 2, "maxRetries is 2: {delays:?}");
    assert!((375.0..=500.0).contains(&delays[0]) && (750.0..=1_000.0).contains(&delays[1]), "{delays:?}");
    let retries: Vec<Event> = e.take_events().into_iter().filter(|e| e.kind() == "retry").collect();
    assert_eq!(retries.len(), 2);
    assert!(matches!(&retries[1], Event::Retry { attempt: 3, status: None, .. }), "{retries:?}");
    assert_eq!(e.snapshot(now).counters.retried, 2);
    assert_eq!(e.calls(), 0);
}

#[test]
fn a_call_that_cannot_be_sent_twice_is_never_retried() {
    let mut e = engine(with_limits());
    let id = e.enqueue(CallSpec { retries: false, ..spec("api") }, T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(503, &[], T0), T0);
    assert_eq!(e.step(id, T0), Step::Return);
}

#[test]
fn a_429_without_a_time_has_its_body_read_and_a_spend_limit_is_returned() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(429, &[], T0), T0);
    assert_eq!(e.step(id, T0), Step::ReadBody { bytes: crate::retry::SPEND_LIMIT_READ_BYTES, ms: crate::retry::SPEND_LIMIT_READ_MS });
    e.body_read(id, r#"{"error":{"type":"insufficient_quota"}}"#);
    assert_eq!(e.step(id, T0), Step::Return);
    // Another body: retried after the partition's backoff.
    let id = e.enqueue(spec("b"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(429, &[], T0), T0);
    assert!(matches!(e.step(id, T0), Step::ReadBody { .. }));
    e.body_read(id, "");
    assert!(matches!(e.step(id, T0), Step::Wait { .. }));
}

#[test]
fn an_abort_while_waiting_gives_the_slot_to_the_next_call() {
    let mut e = engine(Settings { schedule: Config { max_concurrent: 1, ..with_limits().schedule }, ..Settings::default() });
    let a = e.enqueue(spec("api"), T0).unwrap();
    let b = e.enqueue(spec("api"), T0).unwrap();
    let c = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(a, T0), Step::Send { attempt: 1 });
    assert!(matches!(e.step(b, T0), Step::Wait { .. }));
    e.abort(b, T0 + 1.0);
    e.answered(a, heard(200, &[], T0 + 2.0), T0 + 2.0);
    assert!(e.take_woken().contains(&c));
    assert_eq!(e.step(c, T0 + 2.0), Step::Send { attempt: 1 });
    assert_eq!(e.step(b, T0 + 2.0), Step::Return, "an aborted call is forgotten");
}

#[test]
fn only_the_call_the_next_time_concerns_waits_with_a_time_the_others_until_woken() {
    // 60 requests a minute, all spent by the first 60 calls: the next refill
    // (1 s later) concerns the head of the queue alone.
    let limits = Limits { requests_per_minute: Some(60.0), ..Limits::default() };
    let mut e = engine(Settings { schedule: Config { limits: Some(limits), max_concurrent: 1_000, ..Config::default() }, ..Settings::default() });
    for _ in 0..60 {
        let id = e.enqueue(spec("api"), T0).unwrap();
        assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
        e.answered(id, heard(200, &[], T0), T0);
        assert_eq!(e.step(id, T0), Step::Return);
    }
    let head = e.enqueue(spec("api"), T0).unwrap();
    let next = e.enqueue(spec("api"), T0).unwrap();
    let Step::Wait { until } = e.step(head, T0) else { panic!("the head waits") };
    assert!(until.is_finite() && until > T0 && until <= T0 + 1_000.0, "the head wakes at the refill: {}", until - T0);
    assert_eq!(e.step(next, T0), Step::Wait { until: f64::INFINITY }, "the next one waits to be woken");
    // Waking the head on time lets it go and makes the next one the holder.
    e.take_woken();
    assert_eq!(e.step(head, until), Step::Send { attempt: 1 });
    assert!(e.take_woken().contains(&next), "the new holder of the next time is woken");
    let Step::Wait { until: later } = e.step(next, until) else { panic!("the next one waits") };
    assert!(later.is_finite() && later > until, "now with a time: {}", later - T0);
}

#[test]
fn a_deadline_refuses_a_waiting_call_when_it_passes() {
    let settings = Settings { max_wait_ms: Some(1_000.0), ..with_limits() };
    let mut e = engine(Settings { schedule: Config { max_concurrent: 1, ..settings.schedule.clone() }, ..settings });
    let a = e.enqueue(spec("api"), T0).unwrap();
    let b = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(a, T0), Step::Send { attempt: 1 });
    assert_eq!(e.step(b, T0), Step::Wait { until: T0 + 1_000.0 }, "it wakes at its deadline");
    assert_eq!(e.step(b, T0 + 1_000.0), Step::Refuse(Refusal::QueueTimeout { waited_ms: 1_000.0 }));
}

#[test]
fn an_unreported_answer_charges_the_estimate_without_growing_the_window() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(529, &[], T0), T0);
    assert_eq!(e.step(id, T0), Step::Wait { until: T0 + e.take_events().iter().find_map(retry_delay).unwrap() });
    let window = |e: &Engine| e.snapshot(T0).partitions[0].max_in_flight;
    assert_eq!(window(&e), 1, "halved from the one in flight");
    for _ in 0..3 {
        let id = e.enqueue(CallSpec { retries: false, ..spec("api") }, T0 + 60_000.0).unwrap();
        assert_eq!(e.step(id, T0 + 60_000.0), Step::Send { attempt: 1 });
        e.answered(id, Answer::Unreported, T0 + 60_001.0);
        assert_eq!(e.step(id, T0 + 60_001.0), Step::Return);
    }
    assert_eq!(window(&e), 1, "an unreported call is no success");
}

fn retry_delay(event: &Event) -> Option<f64> {
    match event {
        Event::Retry { delay_ms, .. } => Some(*delay_ms),
        _ => None,
    }
}

fn coordinated() -> Engine {
    engine(Settings { coordination: Some(Coordination::default()), ..with_limits() })
}

fn ask_of(step: Step) -> Ask {
    match step {
        Step::Ask(ask) => ask,
        step => panic!("expected an ask, got {step:?}"),
    }
}

#[test]
fn spare_grants_of_a_lease_serve_the_next_calls_and_expire_unused() {
    let mut e = coordinated();
    let a = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(a, T0));
    assert_eq!((ask.count, ask.lease_ms), (4, 1_000.0));
    assert!(matches!(e.step(a, T0 + 1.0), Step::Wait { .. }), "waits for the answer");
    e.take_woken();
    e.coordinator_answered(ask.id, Grants::Granted(vec![10, 11, 12, 13]), T0 + 5.0);
    assert_eq!(e.take_woken(), [a]);
    assert_eq!(e.step(a, T0 + 5.0), Step::Send { attempt: 1 });
    // The next call takes a spare grant without asking.
    let b = e.enqueue(spec("api"), T0 + 10.0).unwrap();
    assert_eq!(e.step(b, T0 + 10.0), Step::Send { attempt: 1 });
    assert_eq!(e.take_tells(), [Tell::Sent(vec![11])]);
    e.answered(b, heard(200, &[("x-ratelimit-remaining", "5")], T0 + 20.0), T0 + 20.0);
    let tells = e.take_tells();
    assert!(matches!(&tells[..], [Tell::Complete { grant: 11, status: Some(200), fields: Some(f) }] if f.len() == 1), "{tells:?}");
    // At the lease's end the unused spares go back, with no call to carry
    // them: time alone does it (the caller ticks at `next_tick`).
    assert_eq!(e.next_tick(), Some(T0 + 1_005.0));
    e.tick(T0 + 1_005.0);
    assert_eq!(e.take_tells(), [Tell::Release(vec![12, 13])]);
    assert_eq!(e.next_tick(), None);
    // The next call asks again.
    let c = e.enqueue(spec("api"), T0 + 1_006.0).unwrap();
    assert!(matches!(e.step(c, T0 + 1_006.0), Step::Ask(_)));
    assert!(e.take_tells().is_empty());
}

#[test]
fn a_request_for_grants_answered_after_its_call_gave_up_is_given_back() {
    let mut e = coordinated();
    let a = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(a, T0));
    e.abort(a, T0 + 1.0);
    assert_eq!(e.scheduler().in_flight(), 0);
    e.coordinator_answered(ask.id, Grants::Granted(vec![1, 2]), T0 + 5.0);
    assert_eq!(e.take_tells(), [Tell::Release(vec![1, 2])]);
}

#[test]
fn a_call_waiting_for_its_grant_times_out_at_its_deadline() {
    let mut e = engine(Settings { coordination: Some(Coordination::default()), max_wait_ms: Some(500.0), ..with_limits() });
    let a = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(a, T0));
    assert_eq!(e.step(a, T0 + 1.0), Step::Wait { until: T0 + 500.0 });
    assert_eq!(e.step(a, T0 + 500.0), Step::Refuse(Refusal::QueueTimeout { waited_ms: 500.0 }));
    e.coordinator_answered(ask.id, Grants::Granted(vec![7]), T0 + 600.0);
    assert_eq!(e.take_tells(), [Tell::Release(vec![7])]);
}

#[test]
fn a_refusal_of_the_coordinator_settles_the_call() {
    let mut e = coordinated();
    let a = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(a, T0));
    let refusal = Refusal::CostExceedsLimit { dimension: "requests".into(), cost: 1.0, limit: 0.0 };
    e.coordinator_answered(ask.id, Grants::Refused(refusal.clone()), T0 + 5.0);
    assert_eq!(e.step(a, T0 + 5.0), Step::Refuse(refusal));
    assert_eq!(e.scheduler().in_flight(), 0);
}

#[test]
fn failed_requests_are_made_again_then_the_local_budget_takes_over_until_the_coordinator_answers_again() {
    let mut e = coordinated();
    let a = e.enqueue(spec("api"), T0).unwrap();
    let mut now = T0;
    let mut asked_at = Vec::new();
    loop {
        match e.step(a, now) {
            Step::Ask(ask) => {
                asked_at.push(now - T0);
                e.coordinator_answered(ask.id, Grants::Failed, now + 2.0);
                now += 2.0;
            }
            Step::Wait { until } => now = until,
            Step::Send { attempt: 1 } => break,
            step => panic!("unexpected {step:?}"),
        }
    }
    assert_eq!(asked_at, [0.0, 52.0, 254.0, 756.0], "asked four times, 50, 200 and 500 ms apart");
    let events = e.take_events();
    assert!(events.contains(&Event::Fallback { partition: "api".into(), retry_in_ms: 5_000.0 }), "{events:?}");
    // While down, calls go on the local budget without asking.
    let b = e.enqueue(spec("api"), now + 100.0).unwrap();
    assert_eq!(e.step(b, now + 100.0), Step::Send { attempt: 1 });
    assert!(e.take_tells().is_empty());
    e.take_events();
    // Once the retry time has passed the coordinator is asked again.
    let later = now + 5_000.0;
    let c = e.enqueue(spec("api"), later).unwrap();
    let ask = ask_of(e.step(c, later));
    e.coordinator_answered(ask.id, Grants::Granted(vec![3]), later + 5.0);
    assert_eq!(e.step(c, later + 5.0), Step::Send { attempt: 1 });
    assert_eq!(kinds(&e.take_events()), ["queued", "coordinated", "dispatched"]);
    e.answered(c, heard(200, &[], later + 10.0), later + 10.0);
    assert!(matches!(&e.take_tells()[..], [Tell::Complete { grant: 3, .. }]));
}

#[test]
fn events_serialize_with_their_documented_names() {
    let event = Event::Retry { partition: "p".into(), attempt: 2, delay_ms: 500.0, status: None };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json, serde_json::json!({ "type": "retry", "partition": "p", "attempt": 2, "delayMs": 500.0, "status": null }));
    let pause = serde_json::to_value(Event::Pause { partition: "p".into(), until_ms: 1.0 }).unwrap();
    assert_eq!(pause["untilMs"], 1.0);
    assert_eq!(pause["type"], "pause");
}

#[test]
fn an_aborted_call_that_holds_a_retryable_answer_is_dropped_without_a_retry() {
    let mut e = engine(with_limits());
    let id = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(id, T0), Step::Send { attempt: 1 });
    e.answered(id, heard(503, &[], T0), T0);
    e.take_events();
    assert!(!e.give_up(id, T0), "a 503 would be retried: the abort wins");
    assert!(!kinds(&e.take_events()).contains(&"retry"));
    assert_eq!(e.snapshot(T0).counters.retried, 0);
    assert_clean(&e);
    // An answer that would be returned anyway is handed back; so is the
    // error of an attempt the abort cut short.
    // (Another partition: the 503 paused this one.)
    let ok = e.enqueue(spec("b"), T0).unwrap();
    assert_eq!(e.step(ok, T0), Step::Send { attempt: 1 });
    e.answered(ok, heard(200, &[], T0), T0);
    assert!(e.give_up(ok, T0));
    let cut = e.enqueue(spec("c"), T0).unwrap();
    assert_eq!(e.step(cut, T0), Step::Send { attempt: 1 });
    e.answered(cut, Answer::NoAnswer, T0);
    assert!(e.give_up(cut, T0));
    assert_clean(&e);
}

#[test]
fn an_abort_in_any_phase_leaves_nothing_behind() {
    // Waiting in the queue.
    let mut e = engine(Settings { schedule: Config { max_concurrent: 1, ..with_limits().schedule }, ..Settings::default() });
    let a = e.enqueue(spec("api"), T0).unwrap();
    let b = e.enqueue(spec("api"), T0).unwrap();
    assert_eq!(e.step(a, T0), Step::Send { attempt: 1 });
    assert!(matches!(e.step(b, T0), Step::Wait { .. }));
    e.abort(b, T0);
    // Backing off before a retry.
    e.answered(a, Answer::NoAnswer, T0);
    assert!(matches!(e.step(a, T0), Step::Wait { .. }));
    assert!(!e.give_up(a, T0 + 1.0));
    assert_clean(&e);
    assert_eq!(e.snapshot(T0).counters.cancelled, 1, "the waiting call");

    // With a coordinator: asking, waiting to ask again, and holding a spare grant.
    let mut e = coordinated();
    let asking = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(asking, T0));
    e.abort(asking, T0);
    e.coordinator_answered(ask.id, Grants::Granted(vec![1, 2, 3]), T0 + 1.0);
    assert_eq!(e.take_tells(), [Tell::Release(vec![1, 2, 3])]);
    let again = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(again, T0));
    e.coordinator_answered(ask.id, Grants::Failed, T0 + 1.0);
    assert!(matches!(e.step(again, T0 + 1.0), Step::Wait { .. }), "waits to ask again");
    e.abort(again, T0 + 2.0);
    assert_clean(&e);
    let first = e.enqueue(spec("api"), T0).unwrap();
    let ask = ask_of(e.step(first, T0));
    e.coordinator_answered(ask.id, Grants::Granted(vec![7, 8]), T0 + 1.0);
    assert_eq!(e.step(first, T0 + 1.0), Step::Send { attempt: 1 });
    let spare = e.enqueue(spec("api"), T0 + 2.0).unwrap();
    e.take_tells();
    // Told to send on the spare grant, then given up before it went.
    assert_eq!(e.step(spare, T0 + 2.0), Step::Send { attempt: 1 });
    e.abort(spare, T0 + 2.0);
    assert_eq!(e.take_tells(), [Tell::Sent(vec![8]), Tell::Release(vec![8])]);
    e.answered(first, heard(200, &[], T0 + 3.0), T0 + 3.0);
    assert_eq!(e.step(first, T0 + 3.0), Step::Return);
    assert_clean(&e);
}

#[test]
fn a_request_that_failed_is_not_made_again_once_another_call_has_fallen_back() {
    let mut e = coordinated();
    let a = e.enqueue(spec("api"), T0).unwrap();
    let b = e.enqueue(spec("api"), T0).unwrap();
    let ask_a = ask_of(e.step(a, T0));
    let ask_b = ask_of(e.step(b, T0));
    // b's request fails once; a's fails to the end and falls back.
    e.coordinator_answered(ask_b.id, Grants::Failed, T0 + 1.0);
    let mut now = T0 + 1.0;
    let mut ask = ask_a;
    for _ in 0..ASK_PAUSES_MS.len() {
        e.coordinator_answered(ask.id, Grants::Failed, now);
        match e.step(a, now) {
            Step::Wait { until } => {
                now = until;
                ask = ask_of(e.step(a, now));
            }
            Step::Send { .. } => break,
            step => panic!("unexpected {step:?}"),
        }
    }
    assert!(kinds(&e.take_events()).contains(&"fallback"));
    // b does not ask a coordinator known to be down: the local budget rules.
    assert_eq!(e.step(b, now + 100.0), Step::Send { attempt: 1 });
}

#[test]
fn a_callers_own_report_reads_as_an_answer() {
    let heard = |status| matches!(Answer::reported(status, None, false), Answer::Heard { .. });
    assert!(heard(Some(429)), "a status alone is an answer");
    assert_eq!(Answer::reported(None, None, false), Answer::Unreported);
    assert_eq!(Answer::reported(None, None, true), Answer::NoAnswer);
    let with_headers = Answer::reported(None, Some((Observation::default(), vec![])), true);
    assert!(matches!(with_headers, Answer::Heard { status: 200, .. }), "headers without a status: 200, even if the work then failed");
}

mod prompt_cache {
    use super::*;
    use crate::estimate::cache::TTL_MS;
    use crate::estimate::Breakpoint;

    const SYSTEM: u64 = 42;

    /// A call of 3,000 input tokens whose first `prefix` are marked for caching.
    fn cached(prefix: f64) -> CallSpec {
        let breakpoints = vec![Breakpoint { hash: SYSTEM, tokens: prefix, ttl_ms: TTL_MS }];
        CallSpec { cost: Cost::new(1.0, 3_000.0, 100.0, None), breakpoints, ..spec("llm") }
    }

    /// One call at a time, input tokens ample.
    fn settings(reads_count: bool) -> Settings {
        let limits = Limits { requests_per_minute: Some(100_000.0), input_tokens_per_minute: Some(100_000_000.0), ..Limits::default() };
        let schedule = Config { limits: Some(limits), max_concurrent: 1, ..Config::default() };
        Settings { schedule, cache_reads_count: reads_count, ..Settings::default() }
    }

    /// The input tokens a call is charged in the scheduler.
    fn charged(e: &Engine, id: CallId) -> f64 {
        let ticket = match e.calls.get(&id).expect("a live call").phase {
            Phase::Queued { ticket, .. } | Phase::InFlight { ticket, .. } | Phase::Granted { ticket } => ticket,
            ref phase => panic!("not in the scheduler: {phase:?}"),
        };
        e.scheduler.cost(ticket).expect("known").input_tokens
    }

    /// Send `id` and answer it with `status` at `now`.
    fn answer(e: &mut Engine, id: CallId, status: u16, now: f64) {
        assert_eq!(e.step(id, now), Step::Send { attempt: 1 });
        e.answered(id, heard(status, &[], now), now);
        assert_eq!(e.step(id, now), Step::Return);
    }

    #[test]
    fn the_first_call_writes_and_pays_and_calls_queued_behind_it_are_charged_anew_when_its_answer_comes() {
        let mut e = engine(settings(false));
        let first = e.enqueue(cached(2_000.0), T0).unwrap();
        let waiting = e.enqueue(cached(2_000.0), T0).unwrap();
        let other_partition = e.enqueue(CallSpec { key: "other".into(), ..cached(2_000.0) }, T0).unwrap();
        assert_eq!((charged(&e, first), charged(&e, waiting)), (3_000.0, 3_000.0), "nothing is warm yet");
        answer(&mut e, first, 200, T0 + 1_000.0);
        assert_eq!(charged(&e, waiting), 1_000.0, "its 2,000-token prefix is a cache read now");
        assert_eq!(charged(&e, other_partition), 3_000.0, "a cache is per partition (per model)");
        // A call made later, within the time to live, is charged less from the start.
        let later = e.enqueue(cached(2_000.0), T0 + 2_000.0).unwrap();
        assert_eq!(charged(&e, later), 1_000.0);
        // After the time to live, with no use in between, it is cold again.
        let cold = e.enqueue(cached(2_000.0), T0 + 1_000.0 + TTL_MS + 1.0).unwrap();
        assert_eq!(charged(&e, cold), 3_000.0);
    }

    #[test]
    fn each_use_renews_a_prefix_and_only_successes_warm_it() {
        let mut e = engine(settings(false));
        let refused = e.enqueue(CallSpec { retries: false, ..cached(2_000.0) }, T0).unwrap();
        answer(&mut e, refused, 400, T0 + 10.0);
        let after = e.enqueue(cached(2_000.0), T0 + 20.0).unwrap();
        assert_eq!(charged(&e, after), 3_000.0, "a 400 wrote nothing");
        let mut e = engine(settings(false));
        let first = e.enqueue(cached(2_000.0), T0).unwrap();
        answer(&mut e, first, 200, T0);
        let second = e.enqueue(cached(2_000.0), T0 + TTL_MS - 1.0).unwrap();
        answer(&mut e, second, 200, T0 + TTL_MS - 1.0);
        let third = e.enqueue(cached(2_000.0), T0 + TTL_MS + 1_000.0).unwrap();
        assert_eq!(charged(&e, third), 1_000.0, "renewed by the second call");
    }

    #[test]
    fn short_prefixes_prefixes_the_server_did_not_cache_and_counted_reads_are_never_taken_off() {
        for (reads_count, prefix, cold) in [(false, MIN_CACHED_TOKENS - 1.0, false), (true, 2_000.0, false), (false, 2_000.0, true)] {
            let mut e = engine(settings(reads_count));
            let first = e.enqueue(cached(prefix), T0).unwrap();
            answer(&mut e, first, 200, T0);
            if cold {
                let breakpoints = cached(prefix).breakpoints;
                e.cache_usage("llm", &breakpoints, 0.0, 0.0, T0);
                // A later success does not warm it again.
                let again = e.enqueue(cached(prefix), T0).unwrap();
                answer(&mut e, again, 200, T0);
            }
            let next = e.enqueue(cached(prefix), T0 + 1.0).unwrap();
            assert_eq!(charged(&e, next), 3_000.0, "reads count {reads_count}, prefix {prefix}, cold {cold}");
            assert!(e.prompt_cache.calls().count() <= 1, "only live calls are kept");
        }
    }

    #[test]
    fn the_prefixes_kept_are_bounded_and_ended_calls_forgotten() {
        let mut e = engine(settings(false));
        for i in 0..(MAX_PREFIXES as u64 + 500) {
            let breakpoints = vec![Breakpoint { hash: i, tokens: 2_000.0, ttl_ms: TTL_MS }];
            let now = T0 + i as f64 * 100.0;
            let id = e.enqueue(CallSpec { breakpoints, ..cached(0.0) }, now).unwrap();
            answer(&mut e, id, 200, now);
        }
        assert!(e.prompt_cache.prefixes() <= MAX_PREFIXES, "{}", e.prompt_cache.prefixes());
        assert_eq!(e.prompt_cache.calls().count(), 0);
        assert_clean(&e);
        // A prefix found cold stays cold while warm ones come and go.
        let mut e = engine(settings(false));
        e.cache_usage("llm", &cached(2_000.0).breakpoints, 0.0, 0.0, T0);
        for i in 0..(MAX_PREFIXES as u64 + 500) {
            let breakpoints = vec![Breakpoint { hash: 1_000 + i, tokens: 2_000.0, ttl_ms: TTL_MS }];
            let now = T0 + i as f64 * 100.0;
            let id = e.enqueue(CallSpec { breakpoints, ..cached(0.0) }, now).unwrap();
            answer(&mut e, id, 200, now);
        }
        let later = T0 + 200_000.0;
        let first = e.enqueue(cached(2_000.0), later).unwrap();
        answer(&mut e, first, 200, later);
        let next = e.enqueue(cached(2_000.0), later + 1.0).unwrap();
        assert_eq!(charged(&e, next), 3_000.0, "still cold");
    }

    #[test]
    fn a_prefix_the_server_did_not_cache_charges_the_calls_queued_at_a_discount_in_full_again() {
        let mut e = engine(settings(false));
        let first = e.enqueue(cached(2_000.0), T0).unwrap();
        answer(&mut e, first, 200, T0 + 1_000.0);
        // One call in flight holds the only slot; the next waits at a discount.
        let busy = e.enqueue(cached(2_000.0), T0 + 1_000.0).unwrap();
        assert_eq!(e.step(busy, T0 + 1_000.0), Step::Send { attempt: 1 });
        let waiting = e.enqueue(cached(2_000.0), T0 + 1_000.0).unwrap();
        assert_eq!(charged(&e, waiting), 1_000.0);
        // The first answer's usage shows no cache read or write.
        e.cache_usage("llm", &cached(2_000.0).breakpoints, 0.0, 0.0, T0 + 1_001.0);
        assert_eq!(charged(&e, waiting), 3_000.0);
    }

    #[test]
    fn a_spare_grant_serves_only_a_call_of_the_cost_it_was_granted_at() {
        let mut settings = Settings { coordination: Some(Coordination::default()), ..settings(false) };
        settings.schedule.max_concurrent = 8;
        let mut e = engine(settings);
        // Warm the prefix through the coordinator.
        let first = e.enqueue(cached(2_000.0), T0).unwrap();
        let ask = ask_of(e.step(first, T0));
        e.coordinator_answered(ask.id, Grants::Granted(vec![1]), T0 + 1.0);
        assert_eq!(e.step(first, T0 + 1.0), Step::Send { attempt: 1 });
        e.answered(first, heard(200, &[], T0 + 2.0), T0 + 2.0);
        assert_eq!(e.step(first, T0 + 2.0), Step::Return);
        // A call that reads the prefix asks at its discounted cost; its spares are of that cost.
        let discounted = e.enqueue(cached(2_000.0), T0 + 3.0).unwrap();
        let ask = ask_of(e.step(discounted, T0 + 3.0));
        assert_eq!(ask.cost.input_tokens, 1_000.0);
        e.coordinator_answered(ask.id, Grants::Granted(vec![2, 3]), T0 + 4.0);
        assert_eq!(e.step(discounted, T0 + 4.0), Step::Send { attempt: 1 });
        e.take_tells();
        // The same estimate with another prompt prefix (charged in full) asks for its own.
        let other = CallSpec { breakpoints: vec![Breakpoint { hash: SYSTEM + 1, tokens: 2_000.0, ttl_ms: TTL_MS }], ..cached(2_000.0) };
        let full = e.enqueue(other, T0 + 5.0).unwrap();
        assert_eq!(charged(&e, full), 3_000.0);
        let step = e.step(full, T0 + 5.0);
        assert!(matches!(step, Step::Ask(_)), "a spare granted at 1,000 tokens does not cover 3,000: {step:?} {:?}", e.take_tells());
        // One at the discounted cost takes the spare.
        let cheap = e.enqueue(cached(2_000.0), T0 + 6.0).unwrap();
        assert_eq!(e.step(cheap, T0 + 6.0), Step::Send { attempt: 1 });
        assert_eq!(e.take_tells(), [Tell::Sent(vec![3])]);
    }
}
