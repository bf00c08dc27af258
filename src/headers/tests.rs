use super::time::{parse_go_duration, parse_http_date, parse_rfc3339};
use super::*;

const NOW: f64 = 1_779_141_600_000.0; // 2026-05-18T22:00:00Z

#[test]
fn rfc3339_reads_utc_offsets_and_fractions() {
    assert_eq!(parse_rfc3339("2026-05-18T22:00:00Z"), Some(NOW));
    assert_eq!(parse_rfc3339("2026-05-18T22:00:00.250Z"), Some(NOW + 250.0));
    assert_eq!(parse_rfc3339("2026-05-19T00:00:00+02:00"), Some(NOW));
    assert_eq!(parse_rfc3339("2026-05-18T21:00:00-01:00"), Some(NOW));
    assert_eq!(parse_rfc3339("2026-02-30T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("2026-05-18T22:00:00"), None);
}

#[test]
fn go_durations_in_every_form_go_prints() {
    assert_eq!(parse_go_duration("1s"), Some(1000.0));
    assert_eq!(parse_go_duration("6m0s"), Some(360_000.0));
    assert_eq!(parse_go_duration("1h2m3.5s"), Some(3_723_500.0));
    assert_eq!(parse_go_duration("20ms"), Some(20.0));
    assert_eq!(parse_go_duration("1.5ms"), Some(1.5));
    assert_eq!(parse_go_duration("500µs"), Some(0.5));
    assert_eq!(parse_go_duration("500us"), Some(0.5));
    assert_eq!(parse_go_duration("0s"), Some(0.0));
    assert_eq!(parse_go_duration("-1s"), None);
    assert_eq!(parse_go_duration("5 parsecs"), None);
}

#[test]
fn imf_fixdate_from_rfc_9110() {
    assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000.0));
    assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
}

#[test]
fn seed_page_headers_with_iso_resets_are_read() {
    // The x-ratelimit-* set from the rate_limit_error page this project grew from.
    let headers = [
        ("x-ratelimit-limit-requests", "1000"),
        ("x-ratelimit-remaining-requests", "247"),
        ("x-ratelimit-limit-tokens", "80000"),
        ("x-ratelimit-remaining-tokens", "12450"),
        ("x-ratelimit-reset-requests", "2026-05-18T22:01:00Z"),
        ("x-ratelimit-reset-tokens", "2026-05-18T22:00:45Z"),
        ("retry-after", "23"),
    ];
    let obs = parse(headers, NOW);
    let requests = obs.dimension("requests").unwrap();
    assert_eq!(requests.limit, Some(1000.0));
    assert_eq!(requests.remaining, Some(247.0));
    assert_eq!(requests.reset_at_ms, Some(NOW + 60_000.0));
    assert_eq!(requests.refill, Refill::Continuous);
    let tokens = obs.dimension("tokens").unwrap();
    assert_eq!(tokens.remaining, Some(12_450.0));
    assert_eq!(tokens.reset_at_ms, Some(NOW + 45_000.0));
    assert_eq!(obs.retry_after_ms, Some(23_000.0));
}

#[test]
fn anthropic_headers_with_a_skewed_server_clock_land_on_the_local_clock() {
    // The server's clock is one hour ahead of ours.
    let headers = [
        ("Date", "Mon, 18 May 2026 23:00:00 GMT"),
        ("anthropic-ratelimit-tokens-limit", "80000"),
        ("anthropic-ratelimit-tokens-remaining", "0"),
        ("anthropic-ratelimit-tokens-reset", "2026-05-18T23:00:30Z"),
    ];
    let obs = parse(headers, NOW);
    assert_eq!(obs.skew_ms, Some(3_600_000.0));
    let tokens = obs.dimension("tokens").unwrap();
    assert_eq!(tokens.reset_at_ms, Some(NOW + 30_000.0));
    assert_eq!(tokens.source, Source::Anthropic);
}

#[test]
fn names_are_case_insensitive_and_values_trimmed() {
    let obs = parse([("X-RateLimit-Remaining-Requests", "  7 "), ("X-Should-Retry", "false")], NOW);
    assert_eq!(obs.dimension("requests").unwrap().remaining, Some(7.0));
    assert_eq!(obs.should_retry, Some(false));
}

#[test]
fn malformed_fields_are_skipped_and_the_rest_still_counts() {
    let obs = parse(
        [
            ("anthropic-ratelimit-requests-limit", "lots"),
            ("anthropic-ratelimit-requests-remaining", "-4"),
            ("anthropic-ratelimit-tokens-limit", "1e400"),
            ("anthropic-ratelimit-tokens-remaining", "NaN"),
            ("anthropic-ratelimit-input-tokens-limit", "40000"),
            ("anthropic-ratelimit-input-tokens-remaining", "39000"),
            ("anthropic-ratelimit-input-tokens-reset", "9999-99-99"),
            ("retry-after", "soon"),
        ],
        NOW,
    );
    assert_eq!(obs.dimensions.len(), 1);
    let input = obs.dimension("input_tokens").unwrap();
    assert_eq!((input.limit, input.remaining, input.reset_at_ms), (Some(40_000.0), Some(39_000.0), None));
    assert_eq!(obs.retry_after_ms, None);
}

#[test]
fn retry_after_ms_takes_precedence_over_retry_after() {
    let obs = parse([("retry-after", "23"), ("retry-after-ms", "1500")], NOW);
    assert_eq!(obs.retry_after_ms, Some(1500.0));
}

#[test]
fn retry_after_as_http_date_is_measured_against_the_server_date() {
    let obs = parse([("date", "Mon, 18 May 2026 23:00:00 GMT"), ("retry-after", "Mon, 18 May 2026 23:00:10 GMT")], NOW);
    assert_eq!(obs.retry_after_ms, Some(10_000.0));
}

#[test]
fn a_reset_years_away_is_dropped() {
    let obs = parse([("x-ratelimit-remaining-tokens", "5"), ("x-ratelimit-reset-tokens", "2000000h")], NOW);
    assert_eq!(obs.dimension("tokens").unwrap().reset_at_ms, None);
}

#[test]
fn a_date_that_reads_behind_only_by_its_whole_seconds_is_not_a_skew() {
    // The server is in sync: its Date was stamped 1.7 s before we read it,
    // truncated to the second. Resets stay where the server put them.
    let headers = [
        ("date", "Mon, 18 May 2026 21:59:58 GMT"),
        ("anthropic-ratelimit-requests-limit", "10"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2026-05-18T22:00:00.300Z"),
    ];
    let obs = parse(headers, NOW - 300.0);
    assert_eq!(obs.skew_ms, Some(-1_700.0), "skewMs reports the raw reading");
    assert_eq!(obs.dimension("requests").unwrap().reset_at_ms, Some(NOW + 300.0));
}

#[test]
fn a_date_further_behind_than_its_resolution_is_corrected() {
    let headers = [
        ("date", "Mon, 18 May 2026 21:59:55 GMT"),
        ("anthropic-ratelimit-requests-limit", "10"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2026-05-18T22:00:00Z"),
    ];
    let obs = parse(headers, NOW);
    assert_eq!(obs.skew_ms, Some(-5_000.0));
    assert_eq!(obs.dimension("requests").unwrap().reset_at_ms, Some(NOW + 5_000.0));
}

#[test]
fn only_rate_limit_fields_are_passed_on() {
    use super::is_rate_limit_field;
    for name in [
        "anthropic-ratelimit-requests-limit",
        "X-RateLimit-Remaining",
        "RateLimit-Policy",
        "ratelimit",
        "x-rate-limit-reset",
        "Retry-After",
        "retry-after-ms",
        "x-should-retry",
        "Date",
        " date ",
    ] {
        assert!(is_rate_limit_field(name), "{name}");
    }
    for name in ["set-cookie", "authorization", "x-api-key", "request-id", "x-request-id", "content-type", "dates", "retry"] {
        assert!(!is_rate_limit_field(name), "{name}");
    }
}
