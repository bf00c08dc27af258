//! The JS layer through its Rust-visible exports, run by wasm-bindgen-test in
//! Node (`wasm-pack test --node`) and in a headless browser
//! (`WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome`). The
//! suite names no environment of its own, so the runner defaults to Node and
//! a browser run without that variable skips it.
//!
//! These tests see the bare wasm, without the package's loaders: they check
//! what the exports convert and how the `fetch` they hand out waits, with a
//! fake `fetch` written in JS so no network is involved. Each test keeps its
//! bookkeeping in globals of its own, because all of them may share one page.
#![cfg(target_arch = "wasm32")]

use headroom::js::{parse_rate_limit_headers, Coordinator, Throttler};
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

const URL: &str = "https://api.example.test/v1/messages";

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in entries {
        Reflect::set(&object, &JsValue::from_str(key), value).unwrap();
    }
    object.into()
}

/// `value.a.b.c`, with array indices written as numbers.
fn path(value: &JsValue, keys: &[&str]) -> JsValue {
    keys.iter().fold(value.clone(), |at, key| {
        let key = key.parse::<u32>().map_or_else(|_| JsValue::from_str(key), JsValue::from);
        Reflect::get(&at, &key).unwrap()
    })
}

fn global(name: &str) -> JsValue {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).unwrap()
}

fn set_global(name: &str, value: &JsValue) {
    Reflect::set(&js_sys::global(), &JsValue::from_str(name), value).unwrap();
}

fn message(error: &JsValue) -> String {
    path(error, &["message"]).as_string().unwrap_or_default()
}

fn throttler(options: &[(&str, JsValue)]) -> Throttler {
    match Throttler::new(object(options)) {
        Ok(throttler) => throttler,
        Err(error) => panic!("the options were refused: {}", message(&error)),
    }
}

fn options_error(options: &[(&str, JsValue)]) -> JsValue {
    match Throttler::new(object(options)) {
        Ok(_) => panic!("the options were accepted"),
        Err(error) => error,
    }
}

/// Call the throttler's `fetch` as a JS caller would: unbound, one argument.
fn fetch(throttler: &Throttler) -> Promise {
    throttler.fetch().call1(&JsValue::UNDEFINED, &JsValue::from_str(URL)).unwrap().unchecked_into()
}

async fn settle(promise: Promise) -> JsValue {
    match JsFuture::from(promise).await {
        Ok(value) => value,
        Err(error) => panic!("the promise rejected: {}", message(&error)),
    }
}

#[wasm_bindgen_test]
fn parse_rate_limit_headers_reads_anthropic_headers_from_a_plain_object() {
    // 1_700_000_000_000 ms is 2023-11-14T22:13:20Z; the reset is 30 s later.
    let now_ms = 1_700_000_000_000.0;
    let headers = object(&[
        ("anthropic-ratelimit-requests-limit", "50".into()),
        ("anthropic-ratelimit-requests-remaining", "49".into()),
        ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:50Z".into()),
    ]);

    let observation = parse_rate_limit_headers(headers, Some(now_ms)).unwrap();

    assert_eq!(path(&observation, &["dimensions", "length"]), 1);
    let dimension = path(&observation, &["dimensions", "0"]);
    assert_eq!(path(&dimension, &["name"]), "requests");
    assert_eq!(path(&dimension, &["limit"]), 50);
    assert_eq!(path(&dimension, &["remaining"]), 49);
    assert_eq!(path(&dimension, &["resetAtMs"]), now_ms + 30_000.0);
    assert_eq!(path(&dimension, &["refill"]), "continuous");
    assert_eq!(path(&dimension, &["source"]), "anthropic");
}

#[wasm_bindgen_test]
fn parse_rate_limit_headers_given_a_number_throws_a_type_error_naming_headers() {
    let error = parse_rate_limit_headers(JsValue::from_f64(5.0), Some(0.0)).unwrap_err();

    assert!(error.is_instance_of::<js_sys::TypeError>(), "not a TypeError: {error:?}");
    assert!(message(&error).contains("`headers`"), "{}", message(&error));
}

#[wasm_bindgen_test]
fn an_unknown_option_is_a_type_error_naming_the_key() {
    let error = options_error(&[("maxConcurent", 3.into())]);

    assert!(error.is_instance_of::<js_sys::TypeError>(), "not a TypeError: {error:?}");
    assert!(message(&error).contains("unknown option `maxConcurent`"), "{}", message(&error));
}

#[wasm_bindgen_test]
fn a_max_concurrent_of_zero_is_a_type_error_naming_the_option() {
    let error = options_error(&[("maxConcurrent", 0.into())]);

    assert!(error.is_instance_of::<js_sys::TypeError>(), "not a TypeError: {error:?}");
    assert!(message(&error).contains("`maxConcurrent`"), "{}", message(&error));
    assert!(message(&error).contains("got `0` (number)"), "{}", message(&error));
}

#[wasm_bindgen_test]
async fn calls_in_flight_reach_max_concurrent_and_never_pass_it() {
    set_global("__headroomConcurrencyInFlight", &0.into());
    set_global("__headroomConcurrencyPeak", &0.into());
    // Answers after 20 ms with a budget far from empty, counting the calls
    // that are between their start and their answer.
    let fake_fetch = Function::new_with_args(
        "input, init",
        r#"
        globalThis.__headroomConcurrencyInFlight += 1;
        globalThis.__headroomConcurrencyPeak =
            Math.max(globalThis.__headroomConcurrencyPeak, globalThis.__headroomConcurrencyInFlight);
        return new Promise((resolve) => setTimeout(() => {
            globalThis.__headroomConcurrencyInFlight -= 1;
            resolve(new Response("ok", { headers: {
                "x-ratelimit-limit-requests": "10000",
                "x-ratelimit-remaining-requests": "9999",
                "x-ratelimit-reset-requests": "6ms",
            } }));
        }, 20));
        "#,
    );
    let throttler = throttler(&[("maxConcurrent", 3.into()), ("fetch", fake_fetch.into())]);

    let calls: Array = (0..10).map(|_| fetch(&throttler)).collect();
    let responses: Array = settle(Promise::all(&calls)).await.unchecked_into();

    assert_eq!(responses.length(), 10);
    for response in responses.iter() {
        assert_eq!(path(&response, &["status"]), 200);
    }
    assert_eq!(global("__headroomConcurrencyPeak"), 3, "the cap is reached and never passed");
    assert_eq!(global("__headroomConcurrencyInFlight"), 0);
}

/// `run` without the package's loaders goes its own way (no runner was
/// registered): the work gets `report` alone and starts in a later
/// microtask; what it returns or throws is what the call's promise
/// settles with; a report's headers teach the budget.
#[wasm_bindgen_test]
async fn run_without_a_loader_passes_on_the_work_s_value_and_its_error_and_reads_its_report() {
    let throttler = throttler(&[("maxConcurrent", 2.into())]);
    let work = Function::new_with_args(
        "report",
        r#"
        globalThis.__headroomRunArguments = arguments.length;
        report({ "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "7", "x-ratelimit-reset-requests": "1s" }, 200);
        return 42;
        "#,
    );
    let promise = throttler.run(work.into(), JsValue::UNDEFINED).unwrap();
    assert_eq!(global("__headroomRunArguments"), JsValue::UNDEFINED, "the work starts in a later microtask");
    assert_eq!(settle(promise).await, 42);
    assert_eq!(global("__headroomRunArguments"), 1, "the work is given `report` alone");
    let requests = path(&throttler.snapshot().unwrap(), &["partitions", "0", "dimensions", "0"]);
    assert_eq!(path(&requests, &["name"]), "requests");
    assert_eq!(path(&requests, &["limit"]), 100, "the report taught the budget");
    let remaining = path(&requests, &["remaining"]).as_f64().unwrap();
    assert!((7.0..8.0).contains(&remaining), "what the report left, refilled a little since: {remaining}");

    let failing = Function::new_with_args("", "throw new RangeError('the work failed');");
    let error = match JsFuture::from(throttler.run(failing.into(), JsValue::UNDEFINED).unwrap()).await {
        Ok(value) => panic!("the call resolved with {value:?}"),
        Err(error) => error,
    };
    assert!(error.is_instance_of::<js_sys::RangeError>(), "the work's own error");
    assert_eq!(message(&error), "the work failed");
}

/// Two calls, one after the other, to a fake `fetch` that reports a budget of
/// one request with none left until 300 ms from its answer. Returns the
/// throttler, the `Date.now()` of each call as the fake saw it, and the time
/// the first response reached the caller.
async fn two_calls_against_an_exhausted_budget(calls_global: &str) -> (Throttler, Vec<f64>, f64) {
    set_global(calls_global, &Array::new());
    let fake_fetch = Function::new_with_args(
        "input, init",
        &format!(
            r#"
            globalThis.{calls_global}.push(Date.now());
            return Promise.resolve(new Response("ok", {{ headers: {{
                "x-ratelimit-limit-requests": "1",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "300ms",
            }} }}));
            "#
        ),
    );
    let throttler = throttler(&[("fetch", fake_fetch.into())]);

    settle(fetch(&throttler)).await;
    let first_answered_at = js_sys::Date::now();
    settle(fetch(&throttler)).await;

    let calls: Array = global(calls_global).unchecked_into();
    let calls = calls.iter().map(|at| at.as_f64().unwrap()).collect();
    (throttler, calls, first_answered_at)
}

#[wasm_bindgen_test]
async fn a_call_waits_while_the_remaining_budget_is_zero_and_goes_at_the_reset() {
    let (_throttler, calls, first_answered_at) = two_calls_against_an_exhausted_budget("__headroomResetCalls").await;

    assert_eq!(calls.len(), 2);
    // The reset is 300 ms after the throttler read the first answer, which is
    // no later than `first_answered_at`; 10 ms allow for whole-millisecond
    // clocks and timers.
    let waited = calls[1] - first_answered_at;
    assert!(waited >= 290.0, "the second call went {waited} ms after the first answer");
}

#[wasm_bindgen_test]
async fn snapshot_counts_the_dispatched_calls_and_shows_the_budget_the_headers_reported() {
    let (throttler, calls, _) = two_calls_against_an_exhausted_budget("__headroomSnapshotCalls").await;
    assert_eq!(calls.len(), 2);

    let snapshot = throttler.snapshot().unwrap();

    assert_eq!(path(&snapshot, &["counters", "dispatched"]), 2);
    assert_eq!(path(&snapshot, &["inFlight"]), 0);
    assert_eq!(path(&snapshot, &["queued"]), 0);
    let partitions: Array = path(&snapshot, &["partitions"]).unchecked_into();
    assert_eq!(partitions.length(), 1);
    let dimensions: Array = path(&partitions.get(0), &["dimensions"]).unchecked_into();
    let requests = dimensions.iter().find(|d| path(d, &["name"]) == "requests").expect("a `requests` dimension in the partition");
    assert_eq!(path(&requests, &["limit"]), 1);
}

/// A coordinator's state survives a restart, and a state it cannot read
/// starts it afresh instead of failing it for good.
#[wasm_bindgen_test]
async fn a_coordinator_carries_its_grants_across_a_restart_and_drops_a_state_it_cannot_read() {
    // A probe of one call, so that before any answer one grant goes.
    let first = Coordinator::new(object(&[("probeConcurrency", JsValue::from(1))]), JsValue::NULL).unwrap();
    let cost = object(&[("requests", JsValue::from(1))]);
    let answer = JsFuture::from(first.acquire("api".into(), cost, Some(3), Some(1_000.0)).unwrap()).await.unwrap();
    // Before any answer only the probe goes: one grant, no spare ones.
    assert_eq!(Array::from(&path(&answer, &["grants"])).length(), 1);
    let saved = first.save().unwrap();

    let restarted = Coordinator::new(JsValue::UNDEFINED, saved).unwrap();
    let snapshot = restarted.snapshot().unwrap();
    assert_eq!(path(&snapshot, &["grants"]), JsValue::from(1), "the grant is still outstanding");
    assert_eq!(path(&snapshot, &["inFlight"]), JsValue::from(1));
    let id = path(&answer, &["grants", "0"]).as_f64().unwrap();
    // Its report (with the limits of an Anthropic-style answer) finds it.
    let fields: Array = [("anthropic-ratelimit-requests-limit", "50"), ("anthropic-ratelimit-requests-remaining", "49")]
        .iter()
        .map(|(n, v)| JsValue::from(Array::of2(&JsValue::from_str(n), &JsValue::from_str(v))))
        .collect();
    restarted.complete(id, Some(200.0), fields.into(), None).unwrap();
    assert_eq!(path(&restarted.snapshot().unwrap(), &["inFlight"]), JsValue::from(0), "its report found it");
    // The limit it learnt survives the next restart too.
    let again = Coordinator::new(JsValue::UNDEFINED, restarted.save().unwrap()).unwrap();
    let dimensions: Array = path(&again.snapshot().unwrap(), &["partitions", "0", "dimensions"]).unchecked_into();
    let requests = dimensions.iter().find(|d| path(d, &["name"]) == "requests").expect("the requests bucket was kept");
    assert_eq!(path(&requests, &["limit"]), 50);

    for unreadable in [JsValue::from_str("garbage"), object(&[("partitions", JsValue::from(7))])] {
        let fresh = Coordinator::new(JsValue::UNDEFINED, unreadable).unwrap();
        assert_eq!(path(&fresh.snapshot().unwrap(), &["grants"]), JsValue::from(0));
    }
}

#[wasm_bindgen_test]
async fn a_body_read_in_place_from_a_js_string_costs_what_the_same_text_costs_in_rust() {
    // Non-ASCII text across many of the reader's chunks (CJK characters and
    // emoji, two UTF-16 units each), then an image whose base64 is found by
    // search, then a plain-text document weighed from its position.
    let prose = "速率限制 rate limits 😀 Привет! ".repeat(2_000);
    let png = "iVBORw0KGgoAAAANSUhEUgAAA+gAAAPoCAYAAAA";
    let image = format!("{png}{}", "A".repeat(400_000));
    let body = format!(
        r#"{{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{{"role":"user","content":[{{"type":"text","text":"{prose}"}},{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{image}"}}}},{{"type":"document","source":{{"type":"text","media_type":"text/plain","data":"{prose}"}}}}]}}]}}"#
    );
    let expected = headroom::estimate::estimate(Some(&body)).cost;
    assert!(expected.input_tokens > 40_000.0 && expected.input_tokens < 100_000.0, "{expected:?}");
    // The fake fetch reads the throttler's snapshot the moment the call is sent.
    let fake_fetch = Function::new_with_args(
        "input, init",
        r#"
        globalThis.__headroomReadInPlace = globalThis.__headroomReadInPlaceThrottler.snapshot();
        return Promise.resolve(new Response("{}"));
        "#,
    );
    let limits = object(&[("tokensPerMinute", 200_000.into())]);
    let throttler: JsValue = throttler(&[("fetch", fake_fetch.into()), ("limits", limits)]).into();
    set_global("__headroomReadInPlaceThrottler", &throttler);
    let fetch: Function = path(&throttler, &["fetch"]).unchecked_into();
    let init = object(&[("method", "POST".into()), ("body", JsValue::from_str(&body))]);
    settle(fetch.call2(&JsValue::UNDEFINED, &JsValue::from_str(URL), &init).unwrap().unchecked_into()).await;
    let tokens = path(&global("__headroomReadInPlace"), &["partitions", "0", "dimensions", "0"]);
    assert_eq!(path(&tokens, &["name"]), "tokens");
    let reserved = path(&tokens, &["limit"]).as_f64().unwrap() - path(&tokens, &["remaining"]).as_f64().unwrap();
    // 200,000 a minute refill 3.3 tokens a millisecond: a few between the
    // reservation and the snapshot.
    assert!((reserved - expected.tokens).abs() <= 20.0, "reserved {reserved}, the estimate of the same text {}", expected.tokens);
}
