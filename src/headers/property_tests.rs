//! The parser's promises, checked over a million generated responses.
//!
//! Half the cases are arbitrary: header names drawn from every dialect or
//! made up, values stitched from the fragments that each format is made of
//! (numbers at every edge, dates, durations, structured-field syntax) and
//! random characters. The other half start from real header sets and mutate
//! them: characters replaced, inserted and deleted, values truncated,
//! swapped or moved to another name, headers repeated or dropped, names
//! recased. Every Observation must keep the invariants in [`check`]. A
//! small fixed-seed generator makes each run the same, so a failure names
//! its case and can be replayed.

use super::vector_tests;
use super::*;

/// Cases per test; [`SEEDS`] tests run in parallel, one million in all.
const CASES_PER_SEED: u64 = 250_000;
const SEEDS: [u64; 4] = [0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03, 0x8CB9_2BA7_2F3D_8DD7, 0x2545_F491_4F6C_DD1D];

const NOW: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z

/// SplitMix64: tiny, fast, and good enough to spread cases evenly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

const NAMES: &[&str] = &[
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "anthropic-priority-input-tokens-limit",
    "anthropic-priority-output-tokens-remaining",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-used",
    "x-ratelimit-resource",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "x-rate-limit-reset",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "date",
    "content-type",
];

const FRAGMENTS: &[&str] = &[
    "0",
    "1",
    "7",
    "59",
    "60",
    "100",
    "4999",
    "1.5",
    ".",
    "..",
    "-1",
    "-0",
    "+5",
    "1e400",
    "1e9",
    "NaN",
    "inf",
    "999999999999999",
    "1000000000000000",
    "99999999999999999999",
    "1659645535",
    "1779145230000",
    "99999999999",
    "1000000000",
    "2026-05-18T22:01:00Z",
    "2026-05-18T22:01:00.123456789+02:00",
    "9999-12-31T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "2026-02-29T00:00:00Z",
    "Mon, 18 May 2026 23:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "1s",
    "6m0s",
    "1h2m3.5s",
    "500µs",
    "500μs",
    "20ms",
    "0s",
    "2000000h",
    "\"burst\"",
    "\"daily\"",
    "\"\"",
    "burst",
    ";q=",
    ";r=",
    ";t=",
    ";w=",
    ";q=100",
    ";r=50",
    ";t=30",
    ";w=60",
    ";qu=\"content-bytes\"",
    ";pk=:cHsdsRa894==:",
    ";pk=:",
    ",",
    ", ",
    "(",
    ")",
    "(\"a\" 1)",
    "\"",
    ":",
    "=",
    ";",
    " ",
    "\t",
    "?1",
    "?0",
    "@1659645535",
    "%\"x\"",
    "*",
    "true",
    "false",
    "TRUE",
    "GMT",
    "\u{0}",
    "\u{7f}",
    "µ",
    "μ",
    "é",
    "🙂",
    "\u{FEFF}",
    "\\",
];

/// Real header sets from the documented vectors, the starting points of
/// the mutated cases.
const SEED_SETS: &[&[(&str, &str)]] = &[
    &vector_tests::OPENAI_GUIDE_SAMPLE,
    &vector_tests::ANTHROPIC_REALISTIC_EXAMPLE,
    &vector_tests::GITHUB_EXAMPLE,
    &[
        ("RateLimit-Policy", "\"hour\";q=1000;w=3600, \"day\";q=5000;w=86400"),
        ("RateLimit", "\"day\";r=100;t=36000"),
        ("RateLimit-Policy", "\"peruser\";q=65535;qu=\"content-bytes\";w=10;pk=:sdfjLJUOUH==:"),
    ],
    &[("Date", "Mon, 05 Aug 2019 09:27:00 GMT"), ("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT"), ("RateLimit", "\"default\";r=0;t=5")],
    &[
        ("RateLimit-Limit", "10, 10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400"),
        ("RateLimit-Remaining", "1"),
        ("RateLimit-Reset", "7"),
        ("RateLimit-Policy", "10;w=1, 50;w=60"),
    ],
    &[("retry-after-ms", "1500"), ("retry-after", "23"), ("x-should-retry", "true")],
];

fn random_char(rng: &mut Rng) -> char {
    match rng.below(4) {
        0 => char::from(rng.below(128) as u8),
        1 => char::from_u32(rng.below(0x800) as u32).unwrap_or('?'),
        2 => char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{FFFD}'),
        _ => char::from(b"0123456789;=,\":. -"[rng.below(18)]),
    }
}

fn random_value(rng: &mut Rng) -> String {
    let mut value = String::new();
    for _ in 0..rng.below(6) + 1 {
        if rng.one_in(5) {
            value.push(random_char(rng));
        } else {
            value.push_str(rng.pick(FRAGMENTS));
        }
    }
    value
}

fn random_name(rng: &mut Rng) -> String {
    if rng.one_in(4) {
        (0..rng.below(12)).map(|_| random_char(rng)).collect()
    } else {
        rng.pick(NAMES).to_string()
    }
}

/// A char boundary in `s`, uniformly among them.
fn boundary(rng: &mut Rng, s: &str) -> usize {
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    boundaries[rng.below(boundaries.len())]
}

fn mutate(rng: &mut Rng, headers: &mut Vec<(String, String)>) {
    if headers.is_empty() {
        headers.push((random_name(rng), random_value(rng)));
        return;
    }
    let i = rng.below(headers.len());
    let j = rng.below(headers.len());
    match rng.below(10) {
        0 => headers[i].1 = random_value(rng),
        1 => {
            let at = boundary(rng, &headers[i].1);
            let insert = if rng.one_in(2) { random_char(rng).to_string() } else { rng.pick(FRAGMENTS).to_string() };
            headers[i].1.insert_str(at, &insert);
        }
        2 => {
            let a = boundary(rng, &headers[i].1);
            let b = boundary(rng, &headers[i].1);
            headers[i].1.replace_range(a.min(b)..a.max(b), "");
        }
        3 => {
            let at = boundary(rng, &headers[i].1);
            headers[i].1.truncate(at);
        }
        4 => {
            let duplicate = headers[i].clone();
            headers.push(duplicate);
        }
        5 => {
            headers.remove(i);
        }
        6 => headers[i].0 = headers[i].0.to_ascii_uppercase(),
        7 => {
            let value = headers[j].1.clone();
            headers[i].1 = value;
        }
        8 => headers[i].0 = random_name(rng),
        _ => {
            let at = boundary(rng, &headers[i].1);
            if let Some(c) = headers[i].1[at..].chars().next() {
                headers[i].1.replace_range(at..at + c.len_utf8(), &random_char(rng).to_string());
            }
        }
    }
}

fn random_now(rng: &mut Rng) -> f64 {
    match rng.below(16) {
        0 => 0.0,
        1 => -1e12,
        2 => 1e300,
        3 => f64::NAN,
        4 => f64::INFINITY,
        5 => 1_659_643_671_000.0,
        _ => NOW + (rng.below(200_000_000) as f64 - 100_000_000.0),
    }
}

fn random_case(rng: &mut Rng) -> Vec<(String, String)> {
    if rng.one_in(2) {
        (0..rng.below(10)).map(|_| (random_name(rng), random_value(rng))).collect()
    } else {
        let seed = SEED_SETS[rng.below(SEED_SETS.len())];
        let mut headers: Vec<(String, String)> = seed.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        for _ in 0..rng.below(6) + 1 {
            mutate(rng, &mut headers);
        }
        headers
    }
}

/// The invariants every Observation keeps, whatever came in.
fn check(obs: &Observation, now_ms: f64) -> Result<(), String> {
    let now = if now_ms.is_finite() { now_ms } else { 0.0 };
    let count_ok = |n: Option<f64>| n.is_none_or(|n| n.is_finite() && (0.0..=MAX_COUNT).contains(&n));
    for d in &obs.dimensions {
        if d.name.is_empty() {
            return Err("a dimension has no name".into());
        }
        if !count_ok(d.limit) || !count_ok(d.remaining) {
            return Err(format!("count out of range in {d:?}"));
        }
        if let (Some(limit), Some(remaining)) = (d.limit, d.remaining) {
            if remaining > limit {
                return Err(format!("remaining above limit in {d:?}"));
            }
        }
        if let Some(reset) = d.reset_at_ms {
            if !reset.is_finite() || reset < now || reset - now > MAX_RESET_MS {
                return Err(format!("reset out of range in {d:?}"));
            }
        }
        if let Some(window) = d.window_ms {
            if !window.is_finite() || window <= 0.0 || window > MAX_WINDOW_MS {
                return Err(format!("window out of range in {d:?}"));
            }
        }
    }
    if let Some(delay) = obs.retry_after_ms {
        if !delay.is_finite() || !(0.0..=MAX_RESET_MS).contains(&delay) {
            return Err(format!("retry delay out of range: {delay}"));
        }
    }
    if obs.skew_ms.is_some_and(|skew| !skew.is_finite()) {
        return Err(format!("skew not finite: {:?}", obs.skew_ms));
    }
    Ok(())
}

fn run(seed: u64) {
    let mut rng = Rng(seed);
    for case in 0..CASES_PER_SEED {
        let headers = random_case(&mut rng);
        let now_ms = random_now(&mut rng);
        let obs = parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())), now_ms);
        if let Err(broken) = check(&obs, now_ms) {
            panic!("seed {seed:#x} case {case}: {broken}\nheaders: {headers:?}\nnow_ms: {now_ms}");
        }
    }
}

#[test]
fn a_million_generated_responses_keep_every_invariant_part_1() {
    run(SEEDS[0]);
}

#[test]
fn a_million_generated_responses_keep_every_invariant_part_2() {
    run(SEEDS[1]);
}

#[test]
fn a_million_generated_responses_keep_every_invariant_part_3() {
    run(SEEDS[2]);
}

#[test]
fn a_million_generated_responses_keep_every_invariant_part_4() {
    run(SEEDS[3]);
}

#[test]
fn the_generated_cases_add_up_to_a_million() {
    assert!(CASES_PER_SEED * SEEDS.len() as u64 >= 1_000_000);
}
