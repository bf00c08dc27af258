use super::*;
use crate::budget::REORDER_MS;
use crate::headers::{parse, Observation};
use crate::schedule::Config;

const T0: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z
const LEASE_MS: f64 = 1_000.0;

/// A GitHub-style window of 10 requests that turns over a minute after T0:
/// the reported count is exact and nothing refills within a test.
fn window(remaining: u32, now: f64) -> Observation {
    let reset = ((T0 + 60_000.0) / 1000.0).to_string();
    let remaining = remaining.to_string();
    parse([("x-ratelimit-limit", "10"), ("x-ratelimit-remaining", remaining.as_str()), ("x-ratelimit-reset", reset.as_str())], now)
}

fn remaining(s: &Scheduler, now: f64) -> f64 {
    let snapshot = s.snapshot(now);
    snapshot.partitions[0].dimensions.iter().find(|d| d.name == "requests").map(|d| d.remaining).expect("a requests dimension")
}

/// A coordinator that has seen the window full, with `n` calls granted.
fn granted(n: usize) -> (Scheduler, Grants, Vec<Ticket>) {
    let mut s = Scheduler::new(Config::default());
    s.observe("api", &window(10, T0), T0);
    let tickets: Vec<Ticket> = (0..n).map(|_| s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, tickets);
    (s, Grants::new(REPORT_TIMEOUT_MS), tickets)
}

#[test]
fn a_spare_grant_is_not_covered_by_a_response_to_a_later_call_until_it_is_sent() {
    let (mut s, mut grants, t) = granted(3);
    let a = grants.issue(&mut s, t[0], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    let spare = grants.issue(&mut s, t[1], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0);
    let c = grants.issue(&mut s, t[2], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    assert_eq!(remaining(&s, T0), 7.0);
    // The server has counted a and c, not the spare grant, which was granted
    // before c but has not been sent. a was sent with c, so c's answer does
    // not cover it either: it may have reached the server after c.
    let ticket = grants.take(c).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(8, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&s, T0 + 10.0), 6.0, "the spare grant stays reserved, and so does a");
    // Sent now: a response to a call sent before it does not cover it...
    grants.sent(&mut s, spare, T0 + 20.0);
    // (a reached the server first: it shows one request more than c's.)
    let ticket = grants.take(a).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(9, T0 + 30.0)), T0 + 30.0);
    assert_eq!(remaining(&s, T0 + 30.0), 7.0);
    // ...its own response does.
    let ticket = grants.take(spare).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(7, T0 + 40.0)), T0 + 40.0);
    assert_eq!(remaining(&s, T0 + 40.0), 7.0);
    assert_eq!(s.in_flight(), 0);
    assert!(grants.is_empty());
}

#[test]
fn a_held_grant_whose_own_answer_shows_it_counted_gives_back_its_reservation() {
    let (mut s, mut grants, t) = granted(2);
    let spare = grants.issue(&mut s, t[0], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0);
    let c = grants.issue(&mut s, t[1], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    // The server counted the spare grant's call, then c.
    let ticket = grants.take(c).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(8, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&s, T0 + 10.0), 7.0);
    // Its own answer shows one request more left than c's: in a window,
    // where nothing refills, that proves c's report counted it, whenever
    // it was sent. Its reservation goes back, nothing is charged.
    let ticket = grants.take(spare).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(9, T0 + 20.0)), T0 + 20.0);
    assert_eq!(remaining(&s, T0 + 20.0), 8.0, "not charged twice");
}

#[test]
fn a_coordinator_holds_every_grant_until_its_own_answer() {
    // Grants go to other isolates, each sent after its own round trip: the
    // server may count them in any order.
    let mut s = Scheduler::new(Config { hold_until_answered: true, ..Config::default() });
    s.observe("api", &window(10, T0), T0);
    let a = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    let b = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![a, b]);
    // b reached the server first; a is still on its way.
    s.complete(b, Some(200), Some(&window(9, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&s, T0 + 10.0), 8.0, "a is still reserved");
    s.complete(a, Some(200), Some(&window(8, T0 + 20.0)), T0 + 20.0);
    assert_eq!(remaining(&s, T0 + 20.0), 8.0);
}

#[test]
fn a_spare_grant_never_sent_expires_free_and_a_sent_one_unreported_is_charged() {
    let (mut s, mut grants, t) = granted(2);
    grants.issue(&mut s, t[0], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0);
    grants.issue(&mut s, t[1], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    let spare_ends = T0 + LEASE_MS + SENT_GRACE_MS;
    assert_eq!(grants.next_expiry(), Some(spare_ends));
    assert_eq!(grants.expire(&mut s, spare_ends - 1.0), 0);
    assert_eq!(grants.expire(&mut s, spare_ends), 1);
    assert_eq!(remaining(&s, spare_ends), 9.0, "the spare grant gave its request back");
    // The window turns over long before the report timeout; look with a
    // shorter one.
    let mut early = Grants::new(1_000.0);
    let (mut s2, _, t2) = granted(1);
    early.issue(&mut s2, t2[0], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    assert_eq!(early.expire(&mut s2, T0 + 1_000.0), 1);
    assert_eq!(remaining(&s2, T0 + 1_000.0), 9.0, "charged at its estimate, not released");
    assert_eq!(s2.in_flight(), 0);
}

#[test]
fn saved_buckets_and_grants_come_back_in_a_fresh_scheduler() {
    let (mut s, mut grants, t) = granted(2);
    let sent = grants.issue(&mut s, t[0], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    let spare = grants.issue(&mut s, t[1], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0);
    let buckets = s.save(T0);
    let saved = grants.saved();

    let mut fresh = Scheduler::new(Config::default());
    fresh.restore(buckets, T0 + 5.0);
    let mut back = Grants::restore(grants.report_timeout_ms(), saved, &mut fresh, T0 + 5.0);
    assert_eq!(remaining(&fresh, T0 + 5.0), 8.0, "both grants still count");
    assert_eq!(fresh.in_flight(), 2);
    // A new grant does not reuse an old id.
    let later = T0 + 5.0 + REORDER_MS;
    let next = fresh.enqueue("api", Cost::ONE_REQUEST, 0, later).unwrap();
    fresh.poll(later);
    let id = back.issue(&mut fresh, next, "api", Cost::ONE_REQUEST, true, LEASE_MS, later);
    assert!(id > sent && id > spare);
    // The spare grant is still held: a later call's response does not cover
    // it (it does cover the grant sent before the restart).
    let ticket = back.take(id).unwrap().ticket;
    fresh.complete(ticket, Some(200), Some(&window(7, later + 10.0)), later + 10.0);
    assert_eq!(remaining(&fresh, later + 10.0), 6.0);
    // Old reports find their grants.
    for old in [sent, spare] {
        let ticket = back.take(old).expect("a grant made before the restart").ticket;
        fresh.complete(ticket, Some(200), None, later + 20.0);
    }
    assert_eq!(fresh.in_flight(), 0);
    assert!(back.is_empty());
}

#[test]
fn the_lease_pool_hands_out_covering_grants_until_they_expire() {
    let mut pool = LeasePool::default();
    let big = Cost::new(1.0, 100.0, 50.0, None);
    pool.put("a", &[1, 2], big, T0 + 1_000.0);
    pool.put("b", &[3], Cost::ONE_REQUEST, T0 + 500.0);
    assert_eq!(pool.take("a", &Cost::new(1.0, 200.0, 0.0, None), T0), None, "a grant too small for the call");
    assert_eq!(pool.take("a", &Cost::new(1.0, 80.0, 50.0, None), T0), Some(1));
    assert_eq!(pool.take("c", &Cost::ONE_REQUEST, T0), None);
    assert_eq!(pool.take("b", &Cost::ONE_REQUEST, T0 + 500.0), None, "past its use-by time");
    assert_eq!(pool.expired(T0 + 500.0), vec![3]);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.drain(), vec![2]);
    assert!(pool.is_empty());
}

#[test]
fn the_link_falls_back_for_retry_ms_and_says_when_it_is_back() {
    let mut link = Link::new(5_000.0);
    assert!(link.up(T0));
    assert!(!link.succeeded(), "no fallback to end");
    assert_eq!(link.failed(T0), Some(T0 + 5_000.0));
    assert_eq!(link.failed(T0 + 1.0), None, "already falling back");
    assert!(link.down(T0 + 4_999.0));
    assert!(link.up(T0 + 5_000.0));
    assert!(link.succeeded());
    assert!(link.up(T0));
}

#[test]
fn without_the_local_budget_only_concurrency_and_order_hold_calls() {
    let mut s = Scheduler::new(Config { max_concurrent: 4, local_budget: false, ..Config::default() });
    s.observe("api", &window(0, T0), T0);
    let tickets: Vec<Ticket> = (0..6).map(|_| s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, tickets[..4], "an empty window does not hold them");
    // A cost above the limit is still refused.
    let huge = Cost::new(11.0, 0.0, 0.0, None);
    assert!(s.enqueue("api", huge, 0, T0).is_err());
    // With the local budget and half of each limit, five of ten go.
    let mut s = Scheduler::new(Config::default());
    s.set_budget(true, 0.5);
    s.observe("api", &window(10, T0), T0);
    let tickets: Vec<Ticket> = (0..8).map(|_| s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted, tickets[..5], "half of 10 left for the others");
}

#[test]
fn a_requeued_call_gives_back_its_reservation_and_keeps_its_place() {
    let mut s = Scheduler::new(Config { local_budget: false, ..Config::default() });
    s.observe("api", &window(1, T0), T0);
    let first = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    let second = s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap();
    assert_eq!(s.poll(T0).granted, vec![first, second]);
    // The coordinator is gone: back to the local budget, which has room for one.
    s.set_budget(true, 1.0);
    assert!(s.requeue(second) && s.requeue(first));
    assert!(!s.requeue(first), "already waiting");
    assert_eq!((s.in_flight(), s.queued()), (0, 2));
    assert_eq!(s.poll(T0).granted, vec![first], "first in line again, and alone in the budget");
}

/// Headers of a continuous budget of 60,000 tokens a minute (and 100
/// requests), `left` tokens remaining and full again when that refill says.
fn continuous(left: u32, requests_left: u32, now: f64) -> Observation {
    let at = |deficit: f64| {
        let s = ((now - T0 + deficit) / 1000.0).round() as u64;
        format!("2026-05-18T22:{:02}:{:02}Z", s / 60, s % 60)
    };
    let values = [
        ("x-ratelimit-limit-tokens", "60000".to_string()),
        ("x-ratelimit-remaining-tokens", left.to_string()),
        ("x-ratelimit-reset-tokens", at(60_000.0 - f64::from(left))),
        ("x-ratelimit-limit-requests", "100".to_string()),
        ("x-ratelimit-remaining-requests", requests_left.to_string()),
        ("x-ratelimit-reset-requests", at(600.0 * f64::from(100 - requests_left))),
    ];
    parse(values.iter().map(|(n, v)| (*n, v.as_str())), now)
}

fn coordinator_config() -> Config {
    Config { hold_until_answered: true, ..Config::default() }
}

/// A coordinator that knows two partitions: "api" (a window, paused by a
/// 429) and "llm" (continuous buckets, its concurrency halved by a 503),
/// with a sent and a spare grant outstanding in each.
fn busy() -> (Scheduler, Grants, [GrantId; 4]) {
    let mut s = Scheduler::new(coordinator_config());
    let mut grants = Grants::new(REPORT_TIMEOUT_MS);
    s.observe("api", &window(10, T0), T0);
    s.observe("llm", &continuous(42_000, 90, T0), T0);
    let llm = Cost::new(1.0, 2_000.0, 0.0, None);
    let api: Vec<Ticket> = (0..3).map(|_| s.enqueue("api", Cost::ONE_REQUEST, 0, T0).unwrap()).collect();
    let llm_calls: Vec<Ticket> = (0..3).map(|_| s.enqueue("llm", llm, 0, T0).unwrap()).collect();
    assert_eq!(s.poll(T0).granted.len(), 6);
    s.complete(api[2], Some(429), Some(&parse([("retry-after", "30")], T0 + 100.0)), T0 + 100.0);
    s.complete(llm_calls[2], Some(503), None, T0 + 100.0);
    let ids = [
        grants.issue(&mut s, api[0], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0),
        grants.issue(&mut s, api[1], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0),
        grants.issue(&mut s, llm_calls[0], "llm", llm, true, LEASE_MS, T0),
        grants.issue(&mut s, llm_calls[1], "llm", llm, false, LEASE_MS, T0),
    ];
    (s, grants, ids)
}

/// The same events for a coordinator and what it saved, as seen from
/// outside: each step's partitions, calls granted, and next wake-up.
fn drive(s: &mut Scheduler, grants: &mut Grants, ids: [GrantId; 4]) -> Vec<String> {
    let mut trace = Vec::new();
    let mut note = |s: &mut Scheduler, now: f64, granted: usize| {
        let partitions = serde_json::to_string(&s.snapshot(now).partitions).unwrap();
        trace.push(format!("{now}: granted {granted}, wake {:?}, {partitions}", s.next_wake(now).map(|(_, at)| at)));
    };
    let t = T0 + 2_000.0;
    grants.sent(s, ids[3], t);
    let sent = grants.take(ids[0]).unwrap().ticket;
    s.complete(sent, Some(200), Some(&window(7, t)), t);
    note(s, t, 0);
    for _ in 0..4 {
        s.enqueue("api", Cost::ONE_REQUEST, 0, t).unwrap();
        s.enqueue("llm", Cost::new(1.0, 5_000.0, 0.0, None), 0, t).unwrap();
    }
    let granted = s.poll(t).granted.len();
    note(s, t, granted);
    let t = T0 + 31_000.0;
    let granted = s.poll(t).granted.len();
    note(s, t, granted);
    for id in [ids[2], ids[3]] {
        let ticket = grants.take(id).unwrap().ticket;
        s.complete(ticket, Some(200), Some(&continuous(30_000, 85, t)), t);
    }
    let granted = s.poll(t).granted.len();
    note(s, t, granted);
    let t = T0 + REPORT_TIMEOUT_MS + 60_000.0;
    let expired = grants.expire(s, t);
    let granted = s.poll(t).granted.len();
    note(s, t, granted + 100 * expired);
    trace
}

#[test]
fn a_saved_state_read_back_from_json_restores_a_coordinator_that_behaves_the_same() {
    let (mut s, mut grants, ids) = busy();
    let now = T0 + 1_000.0;
    let saved = Saved::new(&s, &grants, now);
    assert_eq!(saved.version, SAVED_VERSION);
    let json = serde_json::to_string(&saved).unwrap();
    let back = Saved::read(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).expect("read back");
    // Equal but for the grants' tickets, which are not saved.
    assert_eq!(back.partitions, saved.partitions, "{json}");
    assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&saved).unwrap());
    let back = back.check().expect("a state of this version");

    let mut fresh = Scheduler::new(coordinator_config());
    let mut restored = back.restore(&mut fresh, REPORT_TIMEOUT_MS, now);
    assert_eq!(fresh.snapshot(now).partitions, s.snapshot(now).partitions);
    assert_eq!(serde_json::to_value(restored.saved()).unwrap(), serde_json::to_value(grants.saved()).unwrap());
    let paused = fresh.snapshot(now).partitions.iter().map(|p| (p.key.clone(), p.paused_until_ms.is_some(), p.max_in_flight)).collect::<Vec<_>>();
    assert_eq!(paused, [("api".to_string(), true, 32), ("llm".to_string(), true, 1)], "the pause and the halved window are kept");

    assert_eq!(drive(&mut fresh, &mut restored, ids), drive(&mut s, &mut grants, ids));
}

#[test]
fn a_saved_state_is_plain_json_with_named_fields() {
    let (s, grants, _) = busy();
    let saved = serde_json::to_value(Saved::new(&s, &grants, T0 + 1_000.0)).unwrap();
    assert_eq!(saved["version"], 1);
    let api = &saved["partitions"][0];
    assert_eq!((api["key"].as_str(), api["answered"].as_bool()), (Some("api"), Some(true)));
    let bucket = &api["buckets"][0];
    assert_eq!(bucket["name"], "requests");
    assert_eq!(bucket["bucket"]["limit"], 10.0);
    assert!(bucket["bucket"]["refill"]["window"]["windowMs"].is_number(), "{bucket}");
    let llm = &saved["partitions"][1]["buckets"];
    let names: Vec<&str> = llm.as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["requests", "tokens"], "in the order of the names");
    assert!(llm[1]["bucket"]["refill"]["continuous"]["perMs"].is_number(), "{llm}");
    let grant = &saved["grants"]["grants"][0];
    assert_eq!(grant["cost"]["inputTokens"], 0.0);
    assert!(grant.get("ticket").is_none(), "a ticket is not saved");
    assert_eq!(saved["grants"]["nextId"], 5);
}

#[test]
fn a_saved_state_of_another_version_is_dropped() {
    let (s, grants, _) = busy();
    let mut saved = Saved::new(&s, &grants, T0);
    saved.version = SAVED_VERSION + 1;
    let json = serde_json::to_value(&saved).unwrap();
    assert_eq!(Saved::read(&json).expect("read").check(), None);
    saved.version = 0;
    assert_eq!(saved.check(), None);
}

#[test]
fn a_saved_state_that_is_not_one_is_refused_without_a_panic() {
    let (s, grants, _) = busy();
    let good = serde_json::to_value(Saved::new(&s, &grants, T0 + 1_000.0)).unwrap();
    let altered = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut value = good.clone();
        change(&mut value);
        Saved::read(&value).and_then(Saved::check)
    };
    assert!(altered(&|_| {}).is_some());
    // A pause absent or null is none, as written for a partition not paused.
    assert!(altered(&|v| drop(v["partitions"][0].as_object_mut().unwrap().remove("pausedUntilMs"))).is_some());
    assert!(altered(&|v| v["partitions"][0]["pausedUntilMs"] = serde_json::json!(null)).is_some());
    let refused: [&dyn Fn(&mut serde_json::Value); 13] = [
        // Saved before states had a version, or by something else.
        &|v| drop(v.as_object_mut().unwrap().remove("version")),
        &|v| *v = serde_json::json!(null),
        &|v| *v = serde_json::json!({ "version": 1 }),
        &|v| drop(v["grants"].as_object_mut().unwrap().remove("nextId")),
        &|v| drop(v["partitions"][0]["buckets"][0]["bucket"].as_object_mut().unwrap().remove("shadow")),
        &|v| v["partitions"][0]["window"] = serde_json::json!("wide"),
        // The positional buckets of before: [name, [ten numbers]].
        &|v| v["partitions"][0]["buckets"] = serde_json::json!([["requests", [10, 9, 0, 1, 0, 60000, 0, 0, 9, 0]]]),
        &|v| v["grants"]["grants"][0]["id"] = serde_json::json!(-1),
        &|v| v["grants"]["grants"][0]["cost"]["tokens"] = serde_json::json!(-5),
        &|v| v["grants"]["grants"][0]["id"] = serde_json::json!(1.5),
        &|v| v["partitions"][0]["buckets"][0]["bucket"]["refill"] = serde_json::json!({ "continuous": { "perMs": 1 }, "window": { "windowMs": 1 } }),
        &|v| v["partitions"][0]["buckets"][0]["bucket"]["refill"] = serde_json::json!({ "hourly": {} }),
        &|v| v["version"] = serde_json::json!(4_294_967_296.0),
    ];
    for (i, change) in refused.iter().enumerate() {
        assert_eq!(altered(*change), None, "change {i}");
    }
}

#[test]
fn a_saved_bucket_that_is_not_sane_is_dropped_alone() {
    let (s, grants, _) = busy();
    let mut saved = serde_json::to_value(Saved::new(&s, &grants, T0 + 1_000.0)).unwrap();
    // JSON has no NaN: a negative limit, and an endless window.
    saved["partitions"][1]["buckets"][0]["bucket"]["limit"] = serde_json::json!(-100);
    saved["partitions"][0]["buckets"][0]["bucket"]["refill"]["window"]["windowMs"] = serde_json::json!(0);
    let back = Saved::read(&saved).expect("read").check().expect("the rest is sane");
    let mut fresh = Scheduler::new(coordinator_config());
    back.restore(&mut fresh, REPORT_TIMEOUT_MS, T0 + 1_000.0);
    let snapshot = fresh.snapshot(T0 + 1_000.0);
    let names = |i: usize| snapshot.partitions[i].dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>();
    assert_eq!((names(0), names(1)), (vec![], vec!["tokens"]));
    // The same with a NaN, which only a saved state made in memory can hold.
    let mut saved = Saved::new(&s, &grants, T0 + 1_000.0);
    saved.partitions[1].buckets[1].bucket.limit = f64::NAN;
    let mut fresh = Scheduler::new(coordinator_config());
    saved.check().unwrap().restore(&mut fresh, REPORT_TIMEOUT_MS, T0 + 1_000.0);
    let names: Vec<String> = fresh.snapshot(T0 + 1_000.0).partitions[1].dimensions.iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["requests"]);
}

mod book {
    use super::*;
    use crate::engine::{Settings, Step};
    use crate::schedule::Refusal;

    fn book_with_window(remaining: u32) -> Book {
        let mut book = Book::new(Settings::default(), None, T0);
        book.engine().observe("api", &window(remaining, T0), T0);
        book
    }

    fn request(count: u32) -> Request {
        Request { key: "api".into(), cost: Cost::ONE_REQUEST, guessed: 0.0, count, lease_ms: LEASE_MS }
    }

    /// Make a request and step it until it may go; its grants.
    fn granted(book: &mut Book, count: u32, now: f64) -> Vec<GrantId> {
        let call = book.request(request(count), now).unwrap();
        assert_eq!(book.engine().step(call, now), Step::Send { attempt: 1 });
        book.grant(call, now)
    }

    #[test]
    fn spare_grants_are_made_only_as_far_as_they_fit_at_that_moment_and_count_nothing_as_cancelled() {
        let mut book = book_with_window(3);
        let ids = granted(&mut book, 5, T0);
        assert_eq!(ids.len(), 3, "three fit; nothing is queued for the other two");
        assert_eq!(ids, [ids[0], ids[0] + 1, ids[0] + 2]);
        let counters = book.engine_ref().snapshot(T0).counters;
        assert_eq!((counters.dispatched, counters.cancelled, counters.refused), (3, 0, 0));
        assert_eq!(book.engine_ref().scheduler().queued(), 0);
        assert_eq!(book.outstanding(), 3);
        // The next request waits: none is left.
        let waiting = book.request(request(1), T0).unwrap();
        assert!(matches!(book.engine().step(waiting, T0), Step::Wait { .. }));
    }

    #[test]
    fn spares_never_pass_a_request_that_waits() {
        let mut book = book_with_window(3);
        let first = granted(&mut book, 1, T0);
        assert_eq!(first.len(), 1);
        book.complete(first[0], Some(200), Some(&window(2, T0 + 1.0)), T0 + 1.0);
        // Two left: a request for five waits for the window to turn.
        let big = Request { cost: Cost::new(5.0, 0.0, 0.0, None), ..request(1) };
        let waiting = book.request(big, T0 + 2.0).unwrap();
        assert!(matches!(book.engine().step(waiting, T0 + 2.0), Step::Wait { .. }));
        // A small request passes it (it fits before the reset), but takes no spares.
        let small = granted(&mut book, 5, T0 + 2.0);
        assert_eq!(small.len(), 1, "no spare grant ahead of a waiting request: {small:?}");
        assert_eq!(book.engine_ref().scheduler().queued(), 1);
    }

    #[test]
    fn an_expired_grant_is_charged_without_counting_as_a_success() {
        let mut book = book_with_window(10);
        // A 529 halves the window first, so that a success would show.
        let overloaded = granted(&mut book, 1, T0);
        book.complete(overloaded[0], Some(529), Some(&window(10, T0)), T0);
        let halved = book.engine_ref().snapshot(T0).partitions[0].max_in_flight;
        assert!(halved < Config::default().max_concurrent);
        // After the overload's pause (at most its first base, 1 s).
        let ids = granted(&mut book, 1, T0 + 2_000.0);
        assert_eq!(ids.len(), 1);
        let later = T0 + 2_000.0 + REPORT_TIMEOUT_MS;
        assert_eq!(book.expire(later), None);
        assert_eq!(book.outstanding(), 0);
        assert_eq!(book.engine_ref().scheduler().in_flight(), 0);
        assert_eq!(remaining(book.engine_ref().scheduler(), later), 9.0, "charged at its estimate");
        assert_eq!(book.engine_ref().snapshot(later).partitions[0].max_in_flight, halved, "no success grew it");
    }

    #[test]
    fn a_refusal_crosses_to_another_isolate_and_back_unchanged() {
        let refusals = [
            Refusal::CostExceedsLimit { dimension: "inputTokens".into(), cost: 5.0, limit: 2.0 },
            Refusal::QueueFull { max_queue: 7 },
            Refusal::QueueTimeout { waited_ms: 1_500.0 },
            Refusal::RateLimited { retry_after_ms: 60_000.0 },
        ];
        for refusal in refusals {
            let numbers = refusal.numbers();
            let back = Refusal::from_parts(refusal.code(), refusal.dimension().map(String::from), |name| {
                numbers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            });
            assert_eq!(back, Some(refusal));
        }
        assert_eq!(Refusal::from_parts("SOMETHING_ELSE", None, |_| Some(1.0)), None);
        assert_eq!(Refusal::from_parts("QUEUE_TIMEOUT", None, |_| None), None, "a number missing");
    }

    #[test]
    fn a_request_refused_while_it_waited_is_forgotten_by_the_book() {
        let settings = Settings { max_wait_ms: Some(1_000.0), ..Settings::default() };
        let mut book = Book::new(settings, None, T0);
        book.engine().observe("api", &window(0, T0), T0);
        // Nothing left until the window turns a minute later: it times out.
        let call = book.request(request(1), T0).unwrap();
        assert!(matches!(book.engine().step(call, T0), Step::Wait { .. }));
        assert!(matches!(book.engine().step(call, T0 + 1_000.0), Step::Refuse(Refusal::QueueTimeout { .. })));
        assert_eq!(book.requests(), 1, "until its caller says so");
        book.forget(call, T0 + 1_000.0);
        assert_eq!(book.requests(), 0);
        assert_eq!(book.engine_ref().calls(), 0);
    }

    /// A book saved and taken back, as each process sharing a state in a
    /// store does for every change.
    fn reopened(book: &Book, now: f64) -> Book {
        let saved = book.save(now).check().expect("a state this build reads");
        Book::new(Settings::default(), Some(saved), now)
    }

    #[test]
    fn an_attempt_grants_what_fits_and_otherwise_says_when_to_try_again_without_queueing() {
        let mut book = book_with_window(3);
        let Attempt::Granted(ids) = book.attempt(request(2), false, T0) else { panic!("two fit") };
        assert_eq!(ids.len(), 2);
        // Another process takes the state: one is left for it, then none.
        let mut other = reopened(&book, T0 + 1.0);
        assert!(matches!(other.attempt(request(1), false, T0 + 1.0), Attempt::Granted(ref g) if g.len() == 1 && g[0] > ids[1]));
        let Attempt::Wait { until } = other.attempt(request(1), false, T0 + 2.0) else { panic!("nothing is left") };
        assert!(until > T0 + 2.0 && until <= T0 + 2.0 + RETRY_ATTEMPT_MS, "{until}");
        assert_eq!((other.requests(), other.engine_ref().calls(), other.engine_ref().scheduler().queued()), (0, 0, 0), "nothing waits in the book");
        // The first process's call is answered through the shared state: its
        // report (none left) frees nothing, and the window turns at T0 + 60 s.
        let mut third = reopened(&other, T0 + 3.0);
        third.complete(ids[0], Some(200), Some(&window(0, T0 + 3.0)), T0 + 3.0);
        assert_eq!(third.outstanding(), 2);
        assert!(matches!(third.attempt(request(1), false, T0 + 4.0), Attempt::Wait { .. }));
        assert!(matches!(third.attempt(request(1), false, T0 + 60_001.0), Attempt::Granted(_)));
    }

    #[test]
    fn an_attempt_is_refused_when_it_can_never_go() {
        let mut book = book_with_window(3);
        let big = Request { cost: Cost::new(11.0, 0.0, 0.0, None), ..request(1) };
        assert!(matches!(book.attempt(big, false, T0), Attempt::Refused(Refusal::CostExceedsLimit { .. })));
        assert_eq!(book.requests(), 0);
    }

    #[test]
    fn a_book_made_afresh_after_its_state_was_lost_never_reuses_an_id_still_in_flight() {
        let mut lost = book_with_window(10);
        let Attempt::Granted(old) = lost.attempt(request(5), false, T0) else { panic!() };
        // The store restarts a millisecond later: the state is gone.
        let mut fresh = Book::new(Settings::default(), None, T0 + 1.0);
        let Attempt::Granted(new) = fresh.attempt(request(5), false, T0 + 1.0) else { panic!() };
        assert!(new.iter().all(|id| !old.contains(id)), "{old:?} {new:?}");
        // A report of an old grant is not taken for a new one.
        fresh.complete(old[0], Some(200), None, T0 + 2.0);
        assert_eq!(fresh.outstanding(), new.len());
        assert!(new.iter().all(|id| (*id as f64) < 9_007_199_254_740_992.0), "ids stay exact as JS numbers");
    }

    #[test]
    fn a_request_tried_again_after_a_wait_takes_no_spares() {
        let mut book = book_with_window(10);
        let Attempt::Granted(first) = book.attempt(request(4), false, T0) else { panic!() };
        assert_eq!(first.len(), 4, "spares when it goes at once");
        let Attempt::Granted(again) = book.attempt(request(4), true, T0 + 1.0) else { panic!() };
        assert_eq!(again.len(), 1, "its own grant alone after a wait");
    }
}
