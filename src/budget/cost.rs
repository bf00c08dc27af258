//! What a call costs, and the static limits a user may give up front.

use serde::Serialize;

/// The cost of one call, per kind of quantity an API limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    pub requests: f64,
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// Combined tokens; input + output unless the caller said otherwise.
    pub tokens: f64,
}

impl Cost {
    /// One request and no tokens.
    pub const ONE_REQUEST: Cost = Cost { requests: 1.0, input_tokens: 0.0, output_tokens: 0.0, tokens: 0.0 };

    /// A cost from its parts; `tokens` defaults to input + output.
    pub fn new(requests: f64, input_tokens: f64, output_tokens: f64, tokens: Option<f64>) -> Cost {
        let (input_tokens, output_tokens) = (clean(input_tokens), clean(output_tokens));
        Cost { requests: clean(requests), input_tokens, output_tokens, tokens: clean(tokens.unwrap_or(input_tokens + output_tokens)) }
    }

    /// The same cost with every amount a number from 0 to [`MAX_AMOUNT`]
    /// (NaN and negatives are 0), so that sums of reservations stay finite.
    pub fn cleaned(&self) -> Cost {
        Cost {
            requests: clean(self.requests),
            input_tokens: clean(self.input_tokens),
            output_tokens: clean(self.output_tokens),
            tokens: clean(self.tokens),
        }
    }

    /// How much of a dimension this call uses. Requests count against any
    /// dimension that is not a kind of token, which is what IETF policies and
    /// the generic `X-RateLimit-*` fields count by default. Priority-tier
    /// token dimensions are reported but not gated on: they limit a separate
    /// pool whose use the request does not choose.
    pub fn for_dimension(&self, name: &str) -> f64 {
        match name {
            "requests" => self.requests,
            "tokens" => self.tokens,
            "input_tokens" => self.input_tokens,
            "output_tokens" => self.output_tokens,
            "priority_input_tokens" | "priority_output_tokens" => 0.0,
            _ => self.requests,
        }
    }

    pub(crate) fn add(&mut self, other: &Cost) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.tokens += other.tokens;
    }

    pub(crate) fn subtract(&mut self, other: &Cost) {
        // Sums of many floats drift; never let a rounding error go negative.
        self.requests = (self.requests - other.requests).max(0.0);
        self.input_tokens = (self.input_tokens - other.input_tokens).max(0.0);
        self.output_tokens = (self.output_tokens - other.output_tokens).max(0.0);
        self.tokens = (self.tokens - other.tokens).max(0.0);
    }
}

/// The most of anything one call can cost: far above any real limit (so
/// such a call is refused as too large wherever a limit is known), and small
/// enough that a million of them still sum to a finite number.
pub const MAX_AMOUNT: f64 = 1e15;

fn clean(x: f64) -> f64 {
    if x > 0.0 {
        x.min(MAX_AMOUNT)
    } else {
        0.0
    }
}

/// Limits known before any response: each is "so many per minute", refilled
/// continuously, as Anthropic and OpenAI document theirs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub requests_per_minute: Option<f64>,
    pub tokens_per_minute: Option<f64>,
    pub input_tokens_per_minute: Option<f64>,
    pub output_tokens_per_minute: Option<f64>,
}

impl Limits {
    /// The tiers from the rate-limit page this project started from
    /// (Claude Sonnet, per model). They are examples: check your own limits
    /// in your provider's console before relying on them.
    pub fn preset(name: &str) -> Option<Limits> {
        let (requests, tokens) = match name {
            "anthropic-free" => (5.0, 25_000.0),
            "anthropic-build" => (1_000.0, 80_000.0),
            "anthropic-build-plus" => (2_000.0, 160_000.0),
            _ => return None,
        };
        Some(Limits { requests_per_minute: Some(requests), tokens_per_minute: Some(tokens), ..Limits::default() })
    }

    /// The names [`Limits::preset`] accepts.
    pub const PRESETS: [&'static str; 3] = ["anthropic-free", "anthropic-build", "anthropic-build-plus"];

    pub(crate) fn per_minute(&self) -> impl Iterator<Item = (&'static str, f64)> {
        [
            ("requests", self.requests_per_minute),
            ("tokens", self.tokens_per_minute),
            ("input_tokens", self.input_tokens_per_minute),
            ("output_tokens", self.output_tokens_per_minute),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
    }
}
