use super::*;
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
    // before c but has not been sent.
    let ticket = grants.take(c).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(8, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&s, T0 + 10.0), 7.0, "the spare grant stays reserved");
    // Sent now: a response to a call sent before it does not cover it...
    grants.sent(&mut s, spare, T0 + 20.0);
    let ticket = grants.take(a).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(8, T0 + 30.0)), T0 + 30.0);
    assert_eq!(remaining(&s, T0 + 30.0), 7.0);
    // ...its own response does.
    let ticket = grants.take(spare).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(7, T0 + 40.0)), T0 + 40.0);
    assert_eq!(remaining(&s, T0 + 40.0), 7.0);
    assert_eq!(s.in_flight(), 0);
    assert!(grants.is_empty());
}

#[test]
fn a_held_grant_whose_own_answer_is_stale_is_charged() {
    let (mut s, mut grants, t) = granted(2);
    let spare = grants.issue(&mut s, t[0], "api", Cost::ONE_REQUEST, false, LEASE_MS, T0);
    let c = grants.issue(&mut s, t[1], "api", Cost::ONE_REQUEST, true, LEASE_MS, T0);
    let ticket = grants.take(c).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(9, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&s, T0 + 10.0), 8.0);
    // Its own answer is older than c's, which may not have counted it.
    let ticket = grants.take(spare).unwrap().ticket;
    s.complete(ticket, Some(200), Some(&window(8, T0 + 20.0)), T0 + 20.0);
    assert_eq!(remaining(&s, T0 + 20.0), 8.0, "charged, not forgotten");
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
    let next = fresh.enqueue("api", Cost::ONE_REQUEST, 0, T0 + 5.0).unwrap();
    fresh.poll(T0 + 5.0);
    let id = back.issue(&mut fresh, next, "api", Cost::ONE_REQUEST, true, LEASE_MS, T0 + 5.0);
    assert!(id > sent && id > spare);
    // The spare grant is still held: a later call's response does not cover it.
    let ticket = back.take(id).unwrap().ticket;
    fresh.complete(ticket, Some(200), Some(&window(7, T0 + 10.0)), T0 + 10.0);
    assert_eq!(remaining(&fresh, T0 + 10.0), 6.0);
    // Old reports find their grants.
    for old in [sent, spare] {
        let ticket = back.take(old).expect("a grant made before the restart").ticket;
        fresh.complete(ticket, Some(200), None, T0 + 20.0);
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
