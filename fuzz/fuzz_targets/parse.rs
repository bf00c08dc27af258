//! Feeds arbitrary bytes to the header parser as a response: lines of
//! `name: value`, the last eight bytes (when present) as the local time.
//! The parser must never panic and must keep the invariants that the
//! property tests in src/headers/property_tests.rs check on every run.
#![no_main]

use headroom::headers::{parse, MAX_COUNT, MAX_RESET_MS, MAX_WINDOW_MS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, now_ms) = match data.len().checked_sub(8) {
        Some(split) => {
            let mut clock = [0u8; 8];
            clock.copy_from_slice(&data[split..]);
            (&data[..split], f64::from_le_bytes(clock))
        }
        None => (data, 1_779_141_600_000.0),
    };
    let text = String::from_utf8_lossy(text);
    let headers: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once(':').unwrap_or((line, "")))
        .collect();
    let obs = parse(headers, now_ms);

    let now = if now_ms.is_finite() { now_ms } else { 0.0 };
    let count_ok = |n: Option<f64>| n.is_none_or(|n| n.is_finite() && (0.0..=MAX_COUNT).contains(&n));
    for d in &obs.dimensions {
        assert!(!d.name.is_empty());
        assert!(count_ok(d.limit) && count_ok(d.remaining), "{d:?}");
        if let (Some(limit), Some(remaining)) = (d.limit, d.remaining) {
            assert!(remaining <= limit, "{d:?}");
        }
        if let Some(reset) = d.reset_at_ms {
            assert!(reset.is_finite() && reset >= now && reset - now <= MAX_RESET_MS, "{d:?}");
        }
        if let Some(window) = d.window_ms {
            assert!(window.is_finite() && window > 0.0 && window <= MAX_WINDOW_MS, "{d:?}");
        }
    }
    if let Some(delay) = obs.retry_after_ms {
        assert!(delay.is_finite() && (0.0..=MAX_RESET_MS).contains(&delay));
    }
    assert!(obs.skew_ms.is_none_or(f64::is_finite));
});
