//! Test vectors from each provider's public documentation, each asserting
//! the whole Observation. Where a page gives header names but no values,
//! the vector says so and uses a realistic example instead.

use super::*;

const NOW: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z

fn dimension(
    name: &str,
    limit: Option<f64>,
    remaining: Option<f64>,
    reset_at_ms: Option<f64>,
    window_ms: Option<f64>,
    refill: Refill,
    source: Source,
) -> Dimension {
    Dimension { name: name.to_string(), limit, remaining, reset_at_ms, window_ms, remaining_rounding: None, refill, source }
}

fn only(dimensions: Vec<Dimension>) -> Observation {
    Observation { dimensions, ..Observation::default() }
}

// ---------------------------------------------------------------- OpenAI

pub(super) const OPENAI_GUIDE_SAMPLE: [(&str, &str); 6] = [
    ("x-ratelimit-limit-requests", "60"),
    ("x-ratelimit-limit-tokens", "150000"),
    ("x-ratelimit-remaining-requests", "59"),
    ("x-ratelimit-remaining-tokens", "149984"),
    ("x-ratelimit-reset-requests", "1s"),
    ("x-ratelimit-reset-tokens", "6m0s"),
];

#[test]
fn openai_rate_limit_guide_sample_values() {
    // OpenAI API docs, "Rate limits" guide → "Rate limits in headers": the
    // table's "Sample Value" column.
    let headers = OPENAI_GUIDE_SAMPLE;
    let continuous =
        |name, limit, remaining, reset| dimension(name, Some(limit), Some(remaining), Some(NOW + reset), None, Refill::Continuous, Source::OpenAi);
    assert_eq!(parse(headers, NOW), only(vec![continuous("requests", 60.0, 59.0, 1_000.0), continuous("tokens", 150_000.0, 149_984.0, 360_000.0),]));
}

// ------------------------------------------------------------- Anthropic

pub(super) const ANTHROPIC_REALISTIC_EXAMPLE: [(&str, &str); 17] = [
    ("date", "Mon, 18 May 2026 22:00:00 GMT"),
    ("anthropic-ratelimit-requests-limit", "4000"),
    ("anthropic-ratelimit-requests-remaining", "3999"),
    ("anthropic-ratelimit-requests-reset", "2026-05-18T22:00:00.015Z"),
    ("anthropic-ratelimit-tokens-limit", "480000"),
    ("anthropic-ratelimit-tokens-remaining", "472000"),
    ("anthropic-ratelimit-tokens-reset", "2026-05-18T22:00:01Z"),
    ("anthropic-ratelimit-input-tokens-limit", "400000"),
    ("anthropic-ratelimit-input-tokens-remaining", "393000"),
    ("anthropic-ratelimit-input-tokens-reset", "2026-05-19T00:00:01+02:00"),
    ("anthropic-ratelimit-output-tokens-limit", "80000"),
    ("anthropic-ratelimit-output-tokens-remaining", "79000"),
    ("anthropic-ratelimit-output-tokens-reset", "2026-05-18T22:00:00.75Z"),
    ("anthropic-priority-input-tokens-limit", "100000"),
    ("anthropic-priority-input-tokens-remaining", "100000"),
    ("anthropic-priority-input-tokens-reset", "2026-05-18T22:00:00Z"),
    ("retry-after", "1"),
];

#[test]
fn anthropic_rate_limits_page_headers_with_a_realistic_example() {
    // Anthropic API docs, "Rate limits" → "Response headers" lists these
    // names and says each reset is "provided in RFC 3339 format"; the page
    // gives no sample values, so these are a realistic example, not quoted.
    let headers = ANTHROPIC_REALISTIC_EXAMPLE;
    let continuous =
        |name, limit, remaining, reset| dimension(name, Some(limit), Some(remaining), Some(NOW + reset), None, Refill::Continuous, Source::Anthropic);
    // Token counts are "rounded to the nearest thousand"; request counts are exact.
    let tokens = |name, limit, remaining, reset| Dimension { remaining_rounding: Some(1_000.0), ..continuous(name, limit, remaining, reset) };
    assert_eq!(
        parse(headers, NOW),
        Observation {
            dimensions: vec![
                continuous("requests", 4_000.0, 3_999.0, 15.0),
                tokens("tokens", 480_000.0, 472_000.0, 1_000.0),
                tokens("input_tokens", 400_000.0, 393_000.0, 1_000.0),
                tokens("output_tokens", 80_000.0, 79_000.0, 750.0),
                tokens("priority_input_tokens", 100_000.0, 100_000.0, 0.0),
            ],
            retry_after_ms: Some(1_000.0),
            should_retry: None,
            skew_ms: Some(0.0),
        }
    );
}

// ---------------------------------------------------- IETF, current draft

fn ietf(name: &str, limit: Option<f64>, remaining: Option<f64>, reset: Option<f64>, window: Option<f64>) -> Dimension {
    dimension(name, limit, remaining, reset.map(|t| NOW + t), window, Refill::Window, Source::Ietf)
}

#[test]
fn ietf_draft_section_3_policy_list() {
    // draft-ietf-httpapi-ratelimit-headers-11 §3.
    let headers = [("RateLimit-Policy", r#""burst";q=100;w=60,"daily";q=1000;w=86400"#)];
    assert_eq!(
        parse(headers, NOW),
        only(vec![ietf("burst", Some(100.0), None, None, Some(60_000.0)), ietf("daily", Some(1_000.0), None, None, Some(86_400_000.0)),])
    );
}

#[test]
fn ietf_draft_section_4_service_limit() {
    // draft-11 §4 and §4.2: no policy, so the limit is unknown.
    assert_eq!(parse([("RateLimit", r#""default";r=50;t=30"#)], NOW), only(vec![ietf("default", None, Some(50.0), Some(30_000.0), None)]));
}

#[test]
fn ietf_draft_appendix_b_2_1_window_from_the_policy() {
    // draft-11 Appendix B.2.1, "Throttling window specified via parameter".
    let headers = [("RateLimit", r#""fixedwindow";r=99;t=50"#), ("RateLimit-Policy", r#""fixedwindow";q=100;w=60"#)];
    assert_eq!(parse(headers, NOW), only(vec![ietf("fixedwindow", Some(100.0), Some(99.0), Some(50_000.0), Some(60_000.0))]));
}

#[test]
fn ietf_draft_appendix_b_3_1_multiple_windows() {
    // draft-11 Appendix B.3.1, "Use with multiple windows".
    let headers = [("RateLimit-Policy", r#""hour";q=1000;w=3600, "day";q=5000;w=86400"#), ("RateLimit", r#""day";r=100;t=36000"#)];
    assert_eq!(
        parse(headers, NOW),
        only(vec![
            ietf("hour", Some(1_000.0), None, None, Some(3_600_000.0)),
            ietf("day", Some(5_000.0), Some(100.0), Some(36_000_000.0), Some(86_400_000.0)),
        ])
    );
}

#[test]
fn ietf_draft_appendix_b_1_4_throttled_response_with_retry_after_date() {
    // draft-11 Appendix B.1.4, "Use in throttled responses"; the local clock
    // agrees with the server's Date.
    let now = 1_564_997_220_000.0; // Mon, 05 Aug 2019 09:27:00 GMT
    let headers =
        [("Date", "Mon, 05 Aug 2019 09:27:00 GMT"), ("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT"), ("RateLimit", r#""default";r=0;t=5"#)];
    assert_eq!(
        parse(headers, now),
        Observation {
            dimensions: vec![dimension("default", None, Some(0.0), Some(now + 5_000.0), None, Refill::Window, Source::Ietf)],
            retry_after_ms: Some(5_000.0),
            should_retry: None,
            skew_ms: Some(0.0),
        }
    );
}

#[test]
fn ietf_draft_section_3_2_quota_unit_and_partition_key_are_tolerated() {
    // draft-11 §3.2 and §4.2, with `qu` and `pk` parameters.
    let headers = [
        ("RateLimit-Policy", r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#),
        ("RateLimit", r#""peruser";r=999;pk=:dHJpYWwxMjEzMjM=:"#),
    ];
    assert_eq!(parse(headers, NOW), only(vec![ietf("peruser", Some(65_535.0), Some(999.0), None, Some(10_000.0))]));
}

#[test]
fn ietf_draft_faq_policies_split_over_two_fields() {
    // draft-11 FAQ 8: two RateLimit-Policy fields form one List (RFC 9651
    // §3.1), and unknown parameters such as `burst` are comments.
    let headers = [
        ("RateLimit-Policy", r#""sliding";q=100;w=60;burst=1000"#),
        ("RateLimit-Policy", r#""fixed";q=5000;w=3600;burst=0"#),
        ("RateLimit", r#""sliding";r=50;t=44"#),
    ];
    assert_eq!(
        parse(headers, NOW),
        only(vec![
            ietf("sliding", Some(100.0), Some(50.0), Some(44_000.0), Some(60_000.0)),
            ietf("fixed", Some(5_000.0), None, None, Some(3_600_000.0)),
        ])
    );
}

#[test]
fn ietf_malformed_field_is_ignored_whole_and_the_other_still_counts() {
    // draft-11 §7: "Malformed RateLimit header fields MUST be ignored."
    let headers = [("RateLimit-Policy", r#""burst";q=100;w=60, "daily;q=1000"#), ("RateLimit", r#""burst";r=-3;t=30"#)];
    // The policy field does not parse; `r=-3` is not a count, `t` still is.
    assert_eq!(parse(headers, NOW), only(vec![]));
    let headers = [("RateLimit-Policy", "burst;q=100;w=0"), ("RateLimit", r#""burst";r=50;t=30"#)];
    assert_eq!(parse(headers, NOW), only(vec![ietf("burst", Some(100.0), Some(50.0), Some(30_000.0), None)]));
}

// ----------------------------------------------------- IETF, older drafts

fn legacy(limit: Option<f64>, remaining: Option<f64>, reset: Option<f64>, window: Option<f64>) -> Dimension {
    dimension("requests", limit, remaining, reset.map(|t| NOW + t), window, Refill::Window, Source::IetfLegacy)
}

#[test]
fn ietf_draft_01_section_4_three_fields() {
    // draft-ietf-httpapi-ratelimit-headers-01 §4.
    let headers = [("RateLimit-Limit", "10"), ("RateLimit-Remaining", "1"), ("RateLimit-Reset", "7")];
    assert_eq!(parse(headers, NOW), only(vec![legacy(Some(10.0), Some(1.0), Some(7_000.0), None)]));
}

#[test]
fn ietf_draft_01_section_3_1_limit_with_policies() {
    // draft-01 §3.1: the expiring limit, then its policies; the window is
    // the one whose quota is the expiring limit.
    let headers = [("RateLimit-Limit", "10, 10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400")];
    assert_eq!(parse(headers, NOW), only(vec![legacy(Some(10.0), None, None, Some(1_000.0))]));
}

#[test]
fn ietf_older_draft_policy_field() {
    // drafts -04 to -07, "RateLimit-Policy": `RateLimit-Policy: 100;w=10`
    // with `RateLimit-Limit: 100`, and the multi-policy example.
    let headers = [("RateLimit-Policy", "100;w=10"), ("RateLimit-Limit", "100"), ("RateLimit-Reset", "50")];
    assert_eq!(parse(headers, NOW), only(vec![legacy(Some(100.0), None, Some(50_000.0), Some(10_000.0))]));
    let headers = [("RateLimit-Policy", "10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400"), ("RateLimit-Limit", "50")];
    assert_eq!(parse(headers, NOW), only(vec![legacy(Some(50.0), None, None, Some(60_000.0))]));
}

// ------------------------------------------------- GitHub and X-RateLimit

fn x_ratelimit(limit: Option<f64>, remaining: Option<f64>, reset_at_ms: Option<f64>) -> Dimension {
    dimension("requests", limit, remaining, reset_at_ms, None, Refill::Window, Source::XRateLimit)
}

/// GitHub REST API docs, "Getting started with the REST API" → "About the
/// response code and headers", the curl example's headers.
pub(super) const GITHUB_EXAMPLE: [(&str, &str); 6] = [
    ("date", "Thu, 04 Aug 2022 20:07:51 GMT"),
    ("x-ratelimit-limit", "15000"),
    ("x-ratelimit-remaining", "14996"),
    ("x-ratelimit-reset", "1659645535"),
    ("x-ratelimit-resource", "core"),
    ("x-ratelimit-used", "4"),
];
const GITHUB_DATE_MS: f64 = 1_659_643_671_000.0;

#[test]
fn github_getting_started_example_reads_epoch_seconds() {
    assert_eq!(
        parse(GITHUB_EXAMPLE, GITHUB_DATE_MS),
        Observation {
            dimensions: vec![x_ratelimit(Some(15_000.0), Some(14_996.0), Some(1_659_645_535_000.0))],
            skew_ms: Some(0.0),
            ..Observation::default()
        }
    );
}

#[test]
fn github_example_on_a_local_clock_two_minutes_ahead_is_skew_corrected() {
    let now = GITHUB_DATE_MS + 120_000.0;
    assert_eq!(
        parse(GITHUB_EXAMPLE, now),
        Observation {
            dimensions: vec![x_ratelimit(Some(15_000.0), Some(14_996.0), Some(1_659_645_535_000.0 + 120_000.0))],
            skew_ms: Some(-120_000.0),
            ..Observation::default()
        }
    );
}

#[test]
fn github_rate_limit_page_remaining_follows_from_limit_and_used() {
    // GitHub, "Rate limits for the REST API" → "Checking the status of your
    // rate limit" documents x-ratelimit-used; values here are a realistic
    // unauthenticated example (60 per hour, all used), not quoted.
    let headers = [("x-ratelimit-limit", "60"), ("x-ratelimit-used", "60"), ("x-ratelimit-reset", "1779143400")];
    assert_eq!(parse(headers, NOW), only(vec![x_ratelimit(Some(60.0), Some(0.0), Some(NOW + 1_800_000.0))]));
}

#[test]
fn x_ratelimit_reset_in_every_format_lands_on_the_same_local_time() {
    // The server's clock is one hour ahead; 30 s after its Date is NOW + 30 s here.
    let server_date = "Mon, 18 May 2026 23:00:00 GMT";
    let expected = Some(NOW + 30_000.0);
    for reset in ["30", "1779145230", "1779145230000", "Mon, 18 May 2026 23:00:30 GMT", "2026-05-18T23:00:30Z"] {
        let obs = parse([("Date", server_date), ("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", reset)], NOW);
        assert_eq!(obs.dimensions, vec![x_ratelimit(None, Some(5.0), expected)], "reset {reset}");
    }
}

#[test]
fn x_rate_limit_spelling_is_read_too() {
    // draft-11, "RateLimit header fields currently used on the web".
    let headers = [("X-Rate-Limit-Limit", "100"), ("X-Rate-Limit-Remaining", "80"), ("X-Rate-Limit-Reset", "12")];
    assert_eq!(parse(headers, NOW), only(vec![x_ratelimit(Some(100.0), Some(80.0), Some(NOW + 12_000.0))]));
}

// ------------------------------------------------------------ Retry-After

#[test]
fn mdn_retry_after_delay_seconds() {
    // MDN, "Retry-After" → Examples: `Retry-After: 120`.
    assert_eq!(parse([("Retry-After", "120")], NOW), Observation { retry_after_ms: Some(120_000.0), ..Observation::default() });
}

#[test]
fn mdn_retry_after_http_date() {
    // MDN, "Retry-After" → Examples: `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    // MDN gives no Date; one minute earlier is a realistic one.
    let now = 1_445_412_480_000.0 - 60_000.0;
    let headers = [("Date", "Wed, 21 Oct 2015 07:27:00 GMT"), ("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")];
    assert_eq!(parse(headers, now), Observation { retry_after_ms: Some(60_000.0), skew_ms: Some(0.0), ..Observation::default() });
}

// ---------------------------------------------------- several at once

#[test]
fn every_dialect_in_one_response_is_read() {
    let headers = [
        ("anthropic-ratelimit-requests-remaining", "1"),
        ("x-ratelimit-remaining-tokens", "2"),
        ("RateLimit", r#""burst";r=3"#),
        ("RateLimit-Remaining", "4"),
        ("X-RateLimit-Remaining", "5"),
        ("x-should-retry", "true"),
    ];
    let remaining_only = |name: &str, n, refill, source| dimension(name, None, Some(n), None, None, refill, source);
    assert_eq!(
        parse(headers, NOW),
        Observation {
            dimensions: vec![
                remaining_only("requests", 1.0, Refill::Continuous, Source::Anthropic),
                remaining_only("tokens", 2.0, Refill::Continuous, Source::OpenAi),
                remaining_only("burst", 3.0, Refill::Window, Source::Ietf),
                remaining_only("requests", 4.0, Refill::Window, Source::IetfLegacy),
                remaining_only("requests", 5.0, Refill::Window, Source::XRateLimit),
            ],
            should_retry: Some(true),
            ..Observation::default()
        }
    );
}
