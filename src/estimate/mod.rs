//! What a request will cost, and which partition it belongs to, from its body.
//!
//! The estimate only has to be good enough to reserve budget before the
//! server answers: the response headers replace it (see [`crate::budget`]).
//! It errs high, because an over-estimate costs a little idle budget until
//! the headers correct it, while an under-estimate can send a call into a 429.
//!
//! - requests: 1 per call;
//! - input tokens: every string under `messages`, `system`, `tools`,
//!   `prompt` and `input` (where Anthropic and OpenAI request bodies put
//!   text), weighed character by character ([`TextWeight`]), rounded up,
//!   plus [`TOKENS_PER_MESSAGE`] for each message's framing; images and
//!   documents as each provider charges them ([`content`]), never their
//!   base64 as text;
//! - output tokens: `max_tokens`, else `max_output_tokens`, else
//!   `max_completion_tokens` (Anthropic, OpenAI Responses, OpenAI Chat);
//! - tokens: input + output.
//!
//! A body that is not JSON, or has none of these fields, costs one request.
//! The body is read through a [`Source`], which hands out text in chunks and
//! finds the end of a long payload by search, so that reading a body takes
//! time in proportion to its text, not to its images.
//!
//! Why weigh characters by kind: tokenizers spend a token on about four
//! letters of English but on every one or two digits or punctuation marks,
//! and on about every CJK character. A single characters-per-token ratio
//! (3.5 here before) erred +42 % on English and −68 % on Japanese. Measured
//! now (scripts/estimator-accuracy.mjs counts a small committed corpus with
//! the Claude and cl100k tokenizers; `cargo run --example estimator_accuracy`
//! compares): see the table in the README. The headers correct every
//! estimate at the next response.

pub mod cache;
mod content;
mod image;
mod json;
mod payload;
mod pdf;
mod source;
#[cfg(test)]
mod tests;
pub mod usage;

pub use cache::Breakpoint;
use cache::PrefixHash;
pub use content::{DOCUMENT_GUESS_PAGES, PDF_PAGE_TEXT_TOKENS};
pub use image::{anthropic_tokens, openai_tokens, Detail};
pub use source::Source;

use crate::budget::Cost;
use json::Value;

/// The tokens a text is likely to take, from the kinds of its characters.
/// Weights, fitted on the corpus above and rounded up: an ASCII letter 0.27
/// (English words run about four letters a token), a digit or an ASCII
/// punctuation mark 0.5, whitespace 0.5 except a single space before a word
/// or number (tokenizers fold it into the next token), a CJK character 1.0,
/// any other character 0.6 (Cyrillic, accented letters, emoji).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextWeight {
    tokens: f64,
    /// A single space just read, free if a word or number follows.
    pending_space: bool,
}

impl TextWeight {
    pub fn add(&mut self, ch: char) {
        if std::mem::take(&mut self.pending_space) && !ch.is_alphanumeric() {
            self.tokens += 0.5;
        }
        self.tokens += match ch {
            ' ' => {
                self.pending_space = true;
                0.0
            }
            'a'..='z' | 'A'..='Z' => 0.27,
            _ if ch.is_ascii_digit() || ch.is_ascii_punctuation() || ch.is_whitespace() => 0.5,
            '\u{3000}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}' => 1.0,
            _ => 0.6,
        };
    }

    /// The weight of everything added (a trailing space counts).
    pub fn tokens(&self) -> f64 {
        self.tokens + if self.pending_space { 0.5 } else { 0.0 }
    }
}

/// Tokens added per message for role markers and framing.
pub const TOKENS_PER_MESSAGE: f64 = 4.0;

const OUTPUT_FIELDS: [&str; 3] = ["max_tokens", "max_output_tokens", "max_completion_tokens"];

/// The estimate for one request body.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub cost: Cost,
    /// The part of the cost's input tokens that is a guess, not a count: an
    /// image by link or file id, a document's pages. A guess never makes a
    /// call unsendable (see [`crate::budget::Budget::admission`]); the
    /// headers of the answer correct it.
    pub guessed_input_tokens: f64,
    /// The body's `model`, which Anthropic and OpenAI limit separately.
    pub model: Option<String>,
    /// The prefixes marked for prompt caching, shortest first (none for a
    /// body without `cache_control`): see [`cache`].
    pub breakpoints: Vec<Breakpoint>,
}

/// Estimate the cost of a request with this body (`None`: no body).
pub fn estimate(body: Option<&str>) -> Estimate {
    estimate_from(body.as_ref().map(|body| body as &dyn Source))
}

/// The fields that make a prompt's cacheable prefix, in the order Anthropic
/// reads them.
const CACHED_FIELDS: [&str; 3] = ["tools", "system", "messages"];

/// [`estimate`] of a body read through a [`Source`].
pub fn estimate_from(body: Option<&dyn Source>) -> Estimate {
    let Some((source, root)) = body.and_then(|source| Some((source, json::parse(source)?))) else {
        return Estimate { cost: Cost::ONE_REQUEST, guessed_input_tokens: 0.0, model: None, breakpoints: Vec::new() };
    };
    let model = root.get("model").and_then(Value::as_str);
    let mut walk = Walk {
        source,
        tally: content::Tally::new(source, model),
        messages: 0,
        // A cache is per model: the model is the first thing a prefix's hash reads.
        hash: CACHED_FIELDS.iter().any(|name| root.get(name).is_some_and(cache::marked)).then(|| PrefixHash::of_model(model)),
        breakpoints: Vec::new(),
    };
    // In the cache's order: the totals do not depend on it, the prefixes do.
    for name in CACHED_FIELDS.iter().chain(&["prompt", "input"]) {
        let Some(value) = root.get(name) else { continue };
        match (value, *name) {
            (Value::Array(items), "messages") => items.iter().for_each(|message| walk.message(message)),
            (Value::Array(items), "tools" | "system") => items.iter().for_each(|block| walk.block(block)),
            (Value::Array(items), "input") => {
                walk.messages += items.len();
                walk.tally.add(value);
            }
            _ => walk.block(value),
        }
    }
    let guessed = walk.tally.guessed.ceil();
    let input = walk.tokens();
    let output = OUTPUT_FIELDS.iter().find_map(|name| root.get(name)?.as_number()).unwrap_or(0.0);
    let cost = Cost::new(1.0, input, output, None);
    Estimate { cost, guessed_input_tokens: guessed, model: model.map(str::to_string), breakpoints: walk.breakpoints }
}

/// A body's prompt read in order: its tally, and when it is marked for
/// caching, the running hash of its prefix and the breakpoints met.
struct Walk<'a> {
    source: &'a dyn Source,
    tally: content::Tally<'a>,
    messages: usize,
    hash: Option<PrefixHash>,
    breakpoints: Vec<Breakpoint>,
}

impl Walk<'_> {
    /// The input tokens read so far.
    fn tokens(&self) -> f64 {
        let t = &self.tally;
        t.text.ceil() + self.messages as f64 * TOKENS_PER_MESSAGE + t.counted.ceil() + t.guessed.ceil()
    }

    /// A tool, a system block, a message's content block (or a string).
    fn block(&mut self, block: &Value) {
        self.tally.add(block);
        let Some(hash) = &mut self.hash else { return };
        hash.add(self.source, block);
        let hash = hash.value();
        if let Some(breakpoint) = cache::breakpoint_of(block, hash, self.tokens()) {
            self.breakpoints.push(breakpoint);
        }
    }

    /// A message: its framing, its fields, and its content block by block.
    fn message(&mut self, message: &Value) {
        self.messages += 1;
        let Value::Object(fields) = message else { return self.block(message) };
        for (key, field) in fields {
            if let (Some("content"), Value::Array(blocks)) = (key, field) {
                blocks.iter().for_each(|block| self.block(block));
            } else {
                if let Some(hash) = &mut self.hash {
                    hash.name(key.unwrap_or("?"));
                }
                self.block(field);
            }
        }
    }
}

/// How calls are grouped into partitions that share one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    /// URL origin plus the body's `model` (the default: Anthropic and OpenAI
    /// limit each model separately).
    OriginAndModel,
    /// URL origin only.
    Origin,
    /// One budget for everything.
    None,
}

/// The partition key of a call.
pub fn partition_key(by: PartitionBy, origin: &str, model: Option<&str>) -> String {
    match (by, model) {
        (PartitionBy::None, _) => String::new(),
        (PartitionBy::Origin, _) | (PartitionBy::OriginAndModel, None) => origin.to_string(),
        (PartitionBy::OriginAndModel, Some(model)) => format!("{origin} {model}"),
    }
}
