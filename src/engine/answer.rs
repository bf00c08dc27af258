//! What a `fetch` call refused as [`Refusal::RateLimited`] settles with: the
//! 429 it would have met, so that an SDK sees its usual rate-limit error.

use crate::schedule::Refusal;

/// An answer made up by the throttler, as plain data for a `Response`.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesizedAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The 429 for a call refused as rate-limited, with the wait the server
/// asked for (`retry-after` in whole seconds, `retry-after-ms` exactly) and
/// `x-should-retry: false`, which keeps an SDK from retrying it at once.
/// `None` for any other refusal.
pub fn rate_limited_answer(refusal: &Refusal) -> Option<SynthesizedAnswer> {
    let Refusal::RateLimited { retry_after_ms } = refusal else { return None };
    let wait_ms = retry_after_ms.ceil().max(0.0);
    let body = format!(r#"{{"type":"error","error":{{"type":"rate_limit_error","message":{}}}}}"#, json_string(&refusal.to_string()));
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("retry-after", format!("{}", (wait_ms / 1000.0).ceil() as u64)),
        ("retry-after-ms", format!("{}", wait_ms as u64)),
        ("x-should-retry", "false".to_string()),
    ];
    Some(SynthesizedAnswer { status: 429, headers, body })
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
