//! The constructor's options: read once, validated once, with messages that
//! name the option, what was given and what is allowed. Defaults live in the
//! core's [`Config::default`]; this file only translates.

use super::convert::{describe, get};
use crate::budget::Limits;
use crate::estimate::PartitionBy;
use crate::schedule::Config;
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

const KNOWN: [&str; 5] = ["maxConcurrent", "probeConcurrency", "limits", "partitionBy", "fetch"];
const LIMIT_KEYS: [&str; 4] = ["requestsPerMinute", "tokensPerMinute", "inputTokensPerMinute", "outputTokensPerMinute"];
const PARTITION_MODES: [&str; 3] = ["origin-and-model", "origin", "none"];

pub(crate) struct Options {
    pub config: Config,
    pub fetch: Option<Function>,
    pub partition_by: PartitionBy,
}

fn type_error(message: String) -> JsValue {
    js_sys::TypeError::new(&format!("headroom: {message}")).into()
}

fn expected(option: &str, allowed: &str, got: &JsValue) -> JsValue {
    type_error(format!("expected `{option}` to be {allowed}, got {}", describe(got)))
}

pub(crate) fn read(value: &JsValue) -> Result<Options, JsValue> {
    let mut options = Options { config: Config::default(), fetch: None, partition_by: PartitionBy::OriginAndModel };
    if value.is_undefined() || value.is_null() {
        return Ok(options);
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err(type_error(format!("expected the options to be an object, got {}", describe(value))));
    }
    check_keys(value, &KNOWN, "option")?;
    let config = &mut options.config;
    if let Some(n) = count(value, "maxConcurrent", true)? {
        config.max_concurrent = n;
    }
    if let Some(n) = count(value, "probeConcurrency", true)? {
        config.probe_concurrency = n;
    }
    let limits = get(value, "limits");
    if !limits.is_undefined() {
        config.limits = Some(read_limits(&limits)?);
    }
    let partition_by = get(value, "partitionBy");
    if !partition_by.is_undefined() {
        options.partition_by = match partition_by.as_string().as_deref() {
            Some("origin-and-model") => PartitionBy::OriginAndModel,
            Some("origin") => PartitionBy::Origin,
            Some("none") => PartitionBy::None,
            _ => return Err(expected("partitionBy", &one_of(&PARTITION_MODES), &partition_by)),
        };
    }
    let fetch = get(value, "fetch");
    if !fetch.is_undefined() {
        options.fetch = Some(fetch.clone().dyn_into::<Function>().map_err(|_| expected("fetch", "a function", &fetch))?);
    }
    Ok(options)
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!("one of {}", quoted.join(", "))
}

fn check_keys(value: &JsValue, known: &[&str], what: &str) -> Result<(), JsValue> {
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(type_error(format!("unknown {what} `{key}`; expected one of {}", known.join(", "))));
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

fn read_limits(limits: &JsValue) -> Result<Limits, JsValue> {
    if let Some(name) = limits.as_string() {
        return Limits::preset(&name).ok_or_else(|| {
            type_error(format!("unknown `limits` preset \"{name}\"; expected {}", one_of(&Limits::PRESETS)))
        });
    }
    if !limits.is_object() {
        return Err(expected("limits", &format!("a preset name ({}) or an object", one_of(&Limits::PRESETS)), limits));
    }
    check_keys(limits, &LIMIT_KEYS, "key in `limits`")?;
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
