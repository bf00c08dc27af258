//! The constructor's options: read once, validated once, with messages that
//! name the option, what was given and what is allowed. Defaults live in the
//! core's [`Settings::default`]; this file only translates.

use super::convert::{describe, get, prop, type_error};
use crate::budget::Limits;
use crate::coordinate::MAX_LEASE;
use crate::engine::{Coordination, Settings};
use crate::estimate::PartitionBy;
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

const KNOWN: [&str; 19] = [
    "maxConcurrent",
    "maxRetries",
    "maxQueue",
    "maxWaitMs",
    "maxRetryAfterMs",
    "probeConcurrency",
    "limits",
    "partitionBy",
    "estimate",
    "fetch",
    "onEvent",
    "meter",
    "coordinator",
    "coordinatorName",
    "leaseSize",
    "leaseMs",
    "fallbackShare",
    "fallbackRetryMs",
    "cacheReadsCount",
];
const COORDINATION: [&str; 5] = ["coordinatorName", "leaseSize", "leaseMs", "fallbackShare", "fallbackRetryMs"];
const LIMIT_KEYS: [&str; 4] = ["requestsPerMinute", "tokensPerMinute", "inputTokensPerMinute", "outputTokensPerMinute"];
const PARTITION_MODES: [&str; 3] = ["origin-and-model", "origin", "none"];

/// How calls are grouped into partitions: a built-in mode or the caller's
/// function `(input, init) => string`.
pub(crate) enum Partitioning {
    Mode(PartitionBy),
    Function(Function),
}

pub(crate) struct Options {
    /// Everything the core decides with: the scheduler's config, retries,
    /// `maxWaitMs`, and the coordination settings when a coordinator is given.
    pub settings: Settings,
    pub fetch: Option<Function>,
    pub partition_by: Partitioning,
    pub estimate: Option<Function>,
    pub on_event: Option<Function>,
    /// An OpenTelemetry `Meter` to record metrics with.
    pub meter: Option<JsValue>,
    pub coordinator: Option<Binding>,
}

/// The coordinator a throttler asks.
pub(crate) enum Binding {
    /// A Durable Object namespace binding (an object with `idFromName` and
    /// `get`) and the name of the object (one budget per name).
    Namespace { namespace: JsValue, name: String },
    /// An object with the methods of a coordinator (`acquire`, `sent`,
    /// `complete`, `release`), such as `redisCoordinator` makes.
    Direct(JsValue),
}

fn expected(option: &str, allowed: &str, got: &JsValue) -> JsValue {
    type_error(format!("expected `{option}` to be {allowed}, got {}", describe(got)))
}

pub(crate) fn read(value: &JsValue) -> Result<Options, JsValue> {
    let mut options = Options {
        settings: Settings::default(),
        fetch: None,
        partition_by: Partitioning::Mode(PartitionBy::OriginAndModel),
        estimate: None,
        on_event: None,
        meter: None,
        coordinator: None,
    };
    if value.is_undefined() || value.is_null() {
        return Ok(options);
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(type_error(format!("expected the options to be an object, got {}", describe(value))));
    }
    check_keys(value, &KNOWN, || "option".into())?;
    let config = &mut options.settings.schedule;
    if let Some(n) = count(value, "maxConcurrent", true)? {
        config.max_concurrent = n;
    }
    if let Some(n) = count(value, "probeConcurrency", true)? {
        config.probe_concurrency = n;
    }
    if let Some(n) = whole_or_infinity(value, "maxQueue")? {
        config.max_queue = if n == u32::MAX { usize::MAX } else { n as usize };
    }
    let retry = &mut options.settings.retry;
    if let Some(n) = whole(value, "maxRetries")? {
        retry.max_retries = n;
    }
    if let Some(ms) = milliseconds(value, "maxRetryAfterMs")? {
        retry.max_retry_after_ms = ms;
    }
    if let Some(ms) = milliseconds(value, "maxWaitMs")? {
        options.settings.max_wait_ms = Some(ms);
    }
    let reads_count = get(value, "cacheReadsCount");
    if !reads_count.is_undefined() {
        options.settings.cache_reads_count = reads_count.as_bool().ok_or_else(|| expected("cacheReadsCount", "a boolean", &reads_count))?;
    }
    let config = &mut options.settings.schedule;
    let limits = get(value, "limits");
    if !limits.is_undefined() {
        config.limits = Some(read_limits(&limits)?);
    }
    let partition_by = get(value, "partitionBy");
    if !partition_by.is_undefined() {
        options.partition_by = match partition_by.as_string().as_deref() {
            Some("origin-and-model") => Partitioning::Mode(PartitionBy::OriginAndModel),
            Some("origin") => Partitioning::Mode(PartitionBy::Origin),
            Some("none") => Partitioning::Mode(PartitionBy::None),
            _ => match partition_by.dyn_ref::<Function>() {
                Some(f) => Partitioning::Function(f.clone()),
                None => return Err(expected("partitionBy", &format!("{} or a function", one_of(&PARTITION_MODES)), &partition_by)),
            },
        };
    }
    options.fetch = function(value, "fetch")?;
    options.estimate = function(value, "estimate")?;
    options.on_event = function(value, "onEvent")?;
    let meter = get(value, "meter");
    if !meter.is_undefined() {
        if !meter.is_object() {
            return Err(expected("meter", "an OpenTelemetry Meter", &meter));
        }
        options.meter = Some(meter);
    }
    if let Some((binding, coordination)) = read_coordination(value)? {
        options.coordinator = Some(binding);
        options.settings.coordination = Some(coordination);
    }
    Ok(options)
}

fn read_coordination(value: &JsValue) -> Result<Option<(Binding, Coordination)>, JsValue> {
    let namespace = get(value, "coordinator");
    if namespace.is_undefined() {
        if let Some(option) = COORDINATION.iter().find(|o| !get(value, o).is_undefined()) {
            return Err(type_error(format!("`{option}` applies only with `coordinator`, which was not given")));
        }
        return Ok(None);
    }
    let name = get(value, "coordinatorName");
    let binding = if ["acquire", "sent", "complete", "release"].iter().all(|m| get(&namespace, m).is_function()) {
        if !name.is_undefined() {
            return Err(type_error("`coordinatorName` applies only to a Durable Object binding; this coordinator was named when it was made".into()));
        }
        Binding::Direct(namespace)
    } else if ["idFromName", "get"].iter().all(|m| get(&namespace, m).is_function()) {
        let name = match name.is_undefined() {
            true => "headroom".to_string(),
            false => name.as_string().filter(|n| !n.is_empty()).ok_or_else(|| expected("coordinatorName", "a non-empty string", &name))?,
        };
        Binding::Namespace { namespace, name }
    } else {
        let allowed = "a Durable Object namespace binding (with `idFromName` and `get`), such as env.HEADROOM, or a coordinator such as `redisCoordinator(client)` makes";
        return Err(expected("coordinator", allowed, &namespace));
    };
    let mut c = Coordination::default();
    match count(value, "leaseSize", false)? {
        Some(n) if n > MAX_LEASE => return Err(expected("leaseSize", &format!("a whole number from 1 to {MAX_LEASE}"), &get(value, "leaseSize"))),
        Some(n) => c.lease_size = n,
        None => {}
    }
    if let Some(ms) = milliseconds(value, "leaseMs")? {
        c.lease_ms = ms;
    }
    let share = get(value, "fallbackShare");
    if !share.is_undefined() {
        c.share =
            share.as_f64().filter(|s| *s > 0.0 && *s <= 1.0).ok_or_else(|| expected("fallbackShare", "a number above 0 and at most 1", &share))?;
    }
    if let Some(ms) = milliseconds(value, "fallbackRetryMs")? {
        c.retry_ms = ms;
    }
    Ok(Some((binding, c)))
}

fn function(value: &JsValue, option: &str) -> Result<Option<Function>, JsValue> {
    let raw = get(value, option);
    if raw.is_undefined() {
        return Ok(None);
    }
    raw.clone().dyn_into::<Function>().map(Some).map_err(|_| expected(option, "a function", &raw))
}

/// A whole number from 0 and up.
fn whole(value: &JsValue, option: &str) -> Result<Option<u32>, JsValue> {
    let raw = get(value, option);
    match raw.as_f64() {
        _ if raw.is_undefined() => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= f64::from(u32::MAX) => Ok(Some(n as u32)),
        _ => Err(expected(option, "a whole number from 0 and up", &raw)),
    }
}

/// A duration in milliseconds: a finite number from 0 and up.
fn milliseconds(value: &JsValue, option: &str) -> Result<Option<f64>, JsValue> {
    let raw = get(value, option);
    match raw.as_f64() {
        _ if raw.is_undefined() => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(expected(option, "a finite number of milliseconds from 0 and up", &raw)),
    }
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("one of {}", quoted.join(", "))
}

/// `what` names the keys in the message, made only when one is unknown.
fn check_keys(value: &JsValue, known: &[&str], what: impl FnOnce() -> String) -> Result<(), JsValue> {
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(type_error(format!("unknown {} `{key}`; expected one of {}", what(), known.join(", "))));
        }
    }
    Ok(())
}

/// A whole number from 1 and up; `Infinity` means no cap when allowed.
fn count(value: &JsValue, option: &str, infinity_allowed: bool) -> Result<Option<u32>, JsValue> {
    let raw = get(value, option);
    if raw.is_undefined() {
        return Ok(None);
    }
    let allowed = if infinity_allowed { "a whole number from 1 and up, or Infinity" } else { "a whole number from 1 and up" };
    match raw.as_f64() {
        Some(n) if n == f64::INFINITY && infinity_allowed => Ok(Some(u32::MAX)),
        Some(n) if n.is_finite() && n >= 1.0 && n.fract() == 0.0 => Ok(Some(n.min(f64::from(u32::MAX)) as u32)),
        _ => Err(expected(option, allowed, &raw)),
    }
}

/// A whole number from 0, or `Infinity` (as `u32::MAX`).
fn whole_or_infinity(value: &JsValue, option: &str) -> Result<Option<u32>, JsValue> {
    let raw = get(value, option);
    match raw.as_f64() {
        _ if raw.is_undefined() => Ok(None),
        Some(n) if n == f64::INFINITY => Ok(Some(u32::MAX)),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Ok(Some(n.min(f64::from(u32::MAX)) as u32)),
        _ => Err(expected(option, "a whole number from 0 and up, or Infinity", &raw)),
    }
}

fn read_limits(limits: &JsValue) -> Result<Limits, JsValue> {
    if let Some(name) = limits.as_string() {
        return Limits::preset(&name).ok_or_else(|| type_error(format!("unknown `limits` preset \"{name}\"; expected {}", one_of(&Limits::PRESETS))));
    }
    if !limits.is_object() {
        return Err(expected("limits", &format!("a preset name ({}) or an object", one_of(&Limits::PRESETS)), limits));
    }
    check_keys(limits, &LIMIT_KEYS, || "key in `limits`".into())?;
    let rate = |key: &str| -> Result<Option<f64>, JsValue> {
        let raw = get(limits, key);
        match raw.as_f64() {
            _ if raw.is_undefined() => Ok(None),
            Some(n) if n.is_finite() && n > 0.0 => Ok(Some(n)),
            _ => Err(expected(&format!("limits.{key}"), "a finite number above 0", &raw)),
        }
    };
    Ok(Limits {
        requests_per_minute: rate(LIMIT_KEYS[0])?,
        tokens_per_minute: rate(LIMIT_KEYS[1])?,
        input_tokens_per_minute: rate(LIMIT_KEYS[2])?,
        output_tokens_per_minute: rate(LIMIT_KEYS[3])?,
    })
}

const CALL_KEYS: [&str; 4] = ["cost", "key", "priority", "signal"];
const COST_KEYS: [&str; 5] = ["requests", "tokens", "inputTokens", "outputTokens", "guessedInputTokens"];

/// The options of one `run` or `acquire` call.
pub(crate) struct CallOptions {
    pub cost: crate::budget::Cost,
    /// Input tokens of `cost` that are a guess (`guessedInputTokens`).
    pub guessed: f64,
    pub key: String,
    pub priority: i32,
    pub signal: Option<web_sys::AbortSignal>,
}

/// The partition of `run`, `acquire` and `observe` calls that name none.
pub(crate) const DEFAULT_KEY: &str = "default";

pub(crate) fn read_call(value: &JsValue, method: &str) -> Result<CallOptions, JsValue> {
    let mut call = CallOptions { cost: crate::budget::Cost::ONE_REQUEST, guessed: 0.0, key: DEFAULT_KEY.into(), priority: 0, signal: None };
    if value.is_undefined() || value.is_null() {
        return Ok(call);
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(type_error(format!("expected the options of `{method}` to be an object, got {}", describe(value))));
    }
    check_keys(value, &CALL_KEYS, || format!("option of `{method}`"))?;
    let cost = prop(value, "cost");
    if !cost.is_undefined() {
        (call.cost, call.guessed) = read_cost(&cost, "cost")?;
    }
    let key = prop(value, "key");
    if !key.is_undefined() {
        call.key = key.as_string().ok_or_else(|| expected("key", "a string", &key))?;
    }
    let priority = prop(value, "priority");
    if !priority.is_undefined() {
        call.priority = match priority.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() <= 1_000_000.0 => n as i32,
            _ => return Err(expected("priority", "a whole number from -1000000 to 1000000", &priority)),
        };
    }
    call.signal = read_signal(&prop(value, "signal"), "signal")?;
    Ok(call)
}

/// An AbortSignal, or nothing when `undefined` or `null`.
pub(crate) fn read_signal(raw: &JsValue, option: &str) -> Result<Option<web_sys::AbortSignal>, JsValue> {
    if raw.is_undefined() || raw.is_null() {
        return Ok(None);
    }
    raw.clone().dyn_into::<web_sys::AbortSignal>().map(Some).map_err(|_| expected(option, "an AbortSignal", raw))
}

/// A cost object `{ requests?, tokens?, inputTokens?, outputTokens? }`;
/// `requests` defaults to 1 and `tokens` to input + output.
/// A cost object, and how many of its input tokens it says are guessed.
pub(crate) fn read_cost(value: &JsValue, what: &str) -> Result<(crate::budget::Cost, f64), JsValue> {
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(expected(what, "an object such as { tokens: 1200 }", value));
    }
    check_keys(value, &COST_KEYS, || format!("key in `{what}`"))?;
    let amount = |key: &'static str| -> Result<Option<f64>, JsValue> {
        let raw = prop(value, key);
        match raw.as_f64() {
            _ if raw.is_undefined() => Ok(None),
            Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(expected(&format!("{what}.{key}"), "a finite number from 0 and up", &raw)),
        }
    };
    let cost = crate::budget::Cost::new(
        amount("requests")?.unwrap_or(1.0),
        amount("inputTokens")?.unwrap_or(0.0),
        amount("outputTokens")?.unwrap_or(0.0),
        amount("tokens")?,
    );
    Ok((cost, amount("guessedInputTokens")?.unwrap_or(0.0)))
}
