//! The estimate of whole bodies: text, images, documents.

use super::*;

#[test]
fn an_anthropic_messages_body_costs_its_text_and_max_tokens() {
    let body = r#"{"model":"claude-sonnet-4-6","max_tokens":1024,"system":"Be brief.",
        "messages":[{"role":"user","content":"Hello there, how are you today?"}]}"#;
    let e = estimate(Some(body));
    // Letters 7 + 4 + 24 = 35 × 0.27 = 9.45; ".", ",", "?" 3 × 0.5 = 1.5;
    // every space precedes a word, so free: 10.95 → 11, + 4 framing.
    assert_eq!(e.cost.input_tokens, 15.0);
    assert_eq!(e.cost.output_tokens, 1024.0);
    assert_eq!(e.cost.tokens, 1039.0);
    assert_eq!(e.cost.requests, 1.0);
    assert_eq!(e.model.as_deref(), Some("claude-sonnet-4-6"));
}

#[test]
fn characters_are_weighed_by_kind() {
    let weigh = |text: &str| {
        let mut w = TextWeight::default();
        text.chars().for_each(|c| w.add(c));
        w.tokens()
    };
    assert!((weigh("ab cd") - 4.0 * 0.27).abs() < 1e-9, "a space before a word is free");
    assert!((weigh("a  b") - (2.0 * 0.27 + 0.5)).abs() < 1e-9, "in a run of spaces only the last is free");
    assert!((weigh("x = 1;") - (0.27 + 0.5 + 0.5 + 0.5 + 0.5)).abs() < 1e-9, "the space before `=` counts");
    assert_eq!(weigh("速率限制"), 4.0);
    assert!((weigh("Привет") - 3.6).abs() < 1e-9);
    assert!((weigh("end ") - (3.0 * 0.27 + 0.5)).abs() < 1e-9, "a trailing space counts");
}

#[test]
fn openai_output_fields_are_read_in_order() {
    let e = estimate(Some(r#"{"model":"gpt-4o","max_completion_tokens":300,"messages":[]}"#));
    assert_eq!(e.cost.output_tokens, 300.0);
    let e = estimate(Some(r#"{"input":"hi","max_output_tokens":50}"#));
    assert_eq!((e.cost.input_tokens, e.cost.output_tokens), (1.0, 50.0));
}

#[test]
fn a_body_that_is_not_json_costs_one_request() {
    assert_eq!(estimate(Some("name=value")).cost, Cost::ONE_REQUEST);
    assert_eq!(estimate(None).cost, Cost::ONE_REQUEST);
    assert_eq!(estimate(Some("[1,2]")).cost, Cost::ONE_REQUEST);
}

#[test]
fn partition_keys_follow_the_mode() {
    let origin = "https://api.anthropic.com";
    assert_eq!(partition_key(PartitionBy::OriginAndModel, origin, Some("m")), "https://api.anthropic.com m");
    assert_eq!(partition_key(PartitionBy::OriginAndModel, origin, None), origin);
    assert_eq!(partition_key(PartitionBy::Origin, origin, Some("m")), origin);
    assert_eq!(partition_key(PartitionBy::None, origin, Some("m")), "");
}

// Images and documents: real files made by real encoders (see
// scripts/make-fixtures.sh), each with the size its name gives.

use super::source::Counting;
use base64::{engine::general_purpose::STANDARD, Engine};

fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

const FIXTURES: [(&str, &[u8], u32, u32); 10] = [
    ("png-200x200.png", include_bytes!("../../tests/fixtures/png-200x200.png"), 200, 200),
    ("png-1000x1000.png", include_bytes!("../../tests/fixtures/png-1000x1000.png"), 1000, 1000),
    ("png-3000x2000.png", include_bytes!("../../tests/fixtures/png-3000x2000.png"), 3000, 2000),
    ("jpeg-1092x1092.jpg", include_bytes!("../../tests/fixtures/jpeg-1092x1092.jpg"), 1092, 1092),
    ("jpeg-4032x3024.jpg", include_bytes!("../../tests/fixtures/jpeg-4032x3024.jpg"), 4032, 3024),
    ("gif-640x480.gif", include_bytes!("../../tests/fixtures/gif-640x480.gif"), 640, 480),
    ("webp-lossy-1920x1080.webp", include_bytes!("../../tests/fixtures/webp-lossy-1920x1080.webp"), 1920, 1080),
    ("webp-lossless-512x512.webp", include_bytes!("../../tests/fixtures/webp-lossless-512x512.webp"), 512, 512),
    ("webp-extended-2000x3000.webp", include_bytes!("../../tests/fixtures/webp-extended-2000x3000.webp"), 2000, 3000),
    ("png-1000x1000.png (again)", include_bytes!("../../tests/fixtures/png-1000x1000.png"), 1000, 1000),
];
const PDF: &[u8] = include_bytes!("../../tests/fixtures/pdf-3-pages.pdf");
const PDF_OBJECT_STREAMS: &[u8] = include_bytes!("../../tests/fixtures/pdf-3-pages-object-streams.pdf");

const QUESTION: &str = r#"{"type":"text","text":"What is in this picture?"}"#;

fn anthropic_body(model: &str, block: &str) -> String {
    format!(r#"{{"model":"{model}","max_tokens":100,"messages":[{{"role":"user","content":[{block},{QUESTION}]}}]}}"#)
}

fn anthropic_image(bytes: &[u8]) -> String {
    anthropic_image_data(&encode(bytes))
}

fn anthropic_image_data(data: &str) -> String {
    format!(r#"{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}"#)
}

/// What a part adds to a call: the call's input tokens less those of the
/// same call with the part's payload empty (its framing text stays), and
/// the guessed part.
fn part_cost(call: impl Fn(&str) -> String, payload: &str) -> (f64, f64) {
    let with = estimate(Some(&call(payload)));
    let without = estimate(Some(&call("")));
    (with.cost.input_tokens - (without.cost.input_tokens - without.guessed_input_tokens), with.guessed_input_tokens)
}

fn openai_body(model: &str, part: &str) -> String {
    format!(r#"{{"model":"{model}","max_completion_tokens":100,"messages":[{{"role":"user","content":[{part},{QUESTION}]}}]}}"#)
}

/// The same call with the question alone.
fn question_only(model: &str) -> Estimate {
    estimate(Some(&anthropic_body(model, r#"{"type":"text","text":""}"#)))
}

#[test]
fn every_image_format_is_costed_by_its_size_as_anthropic_charges() {
    for model in ["claude-sonnet-4-6", "claude-opus-4-7"] {
        for (name, bytes, w, h) in FIXTURES {
            let data = encode(bytes);
            let (image, guessed) = part_cost(|data| anthropic_body(model, &anthropic_image_data(data)), &data);
            assert_eq!(image, anthropic_tokens(w, h, Some(model)), "{name} on {model}");
            assert_eq!(guessed, 0.0, "{name}: a size read from the file is no guess");
        }
    }
    // Over the scaling limit every model stops at its most.
    let big = |model| part_cost(|data| anthropic_body(model, &anthropic_image_data(data)), &encode(FIXTURES[4].1)).0;
    assert!((1590.0..=1600.0).contains(&big("claude-sonnet-4-6")));
    assert!((4900.0..=5000.0).contains(&big("claude-opus-4-7")));
}

#[test]
fn openai_image_parts_are_costed_by_tiles_and_detail() {
    for (name, bytes, w, h) in FIXTURES {
        let data = encode(bytes);
        for (detail, rule) in [("high", Detail::High), ("low", Detail::Low), ("auto", Detail::High)] {
            let chat = |data: &str| {
                openai_body("gpt-4o", &format!(r#"{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{data}","detail":"{detail}"}}}}"#))
            };
            let responses = |data: &str| {
                openai_body("gpt-4o", &format!(r#"{{"type":"input_image","image_url":"data:image/png;base64,{data}","detail":"{detail}"}}"#))
            };
            for (image, guessed) in [part_cost(chat, &data), part_cost(responses, &data)] {
                assert_eq!(image, openai_tokens(w, h, rule, Some("gpt-4o")), "{name} at {detail}");
                assert_eq!(guessed, 0.0);
            }
        }
    }
}

#[test]
fn an_image_by_link_or_file_id_is_a_guess_at_the_provider_most() {
    let text = question_only("claude-sonnet-4-6").cost.input_tokens;
    for source in [r#"{"type":"url","url":"https://example.com/cat.jpg"}"#, r#"{"type":"file","file_id":"file_011CNha8iCJcU1wXNR6q4V8w"}"#] {
        let e = estimate(Some(&anthropic_body("claude-sonnet-4-6", &format!(r#"{{"type":"image","source":{source}}}"#))));
        assert_eq!(e.guessed_input_tokens, 1600.0, "{source}");
        // The link itself is not weighed as text: only the block's framing is.
        assert!((1600.0..=1604.0).contains(&(e.cost.input_tokens - text)), "{source}: {}", e.cost.input_tokens - text);
    }
    let part = r#"{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}"#;
    let e = estimate(Some(&openai_body("gpt-4o", part)));
    assert_eq!(e.guessed_input_tokens, 85.0 + 8.0 * 170.0);
    // A header that cannot be read is a guess as well.
    let e = estimate(Some(&anthropic_body("claude-sonnet-4-6", &anthropic_image(&[7u8; 3000]))));
    assert_eq!(e.guessed_input_tokens, 1600.0);
}

#[test]
fn a_pdf_is_costed_by_its_counted_pages_as_a_guess() {
    let per_page = PDF_PAGE_TEXT_TOKENS + 1600.0;
    let document = |data: &str| {
        anthropic_body(
            "claude-sonnet-4-6",
            &format!(r#"{{"type":"document","source":{{"type":"base64","media_type":"application/pdf","data":"{data}"}}}}"#),
        )
    };
    assert_eq!(part_cost(document, &encode(PDF)), (3.0 * per_page, 3.0 * per_page), "three pages, read from the page tree");
    // Compressed object streams hide the page tree: guessed from the size.
    assert_eq!(part_cost(document, &encode(PDF_OBJECT_STREAMS)).1, per_page);
    // OpenAI file parts, in Chat Completions and in Responses.
    let openai_page = PDF_PAGE_TEXT_TOKENS + 85.0 + 8.0 * 170.0;
    let chat = |data: &str| {
        openai_body("gpt-4o", &format!(r#"{{"type":"file","file":{{"filename":"a.pdf","file_data":"data:application/pdf;base64,{data}"}}}}"#))
    };
    let responses = |data: &str| {
        openai_body("gpt-4o", &format!(r#"{{"type":"input_file","filename":"a.pdf","file_data":"data:application/pdf;base64,{data}"}}"#))
    };
    assert_eq!(part_cost(chat, &encode(PDF)).1, 3.0 * openai_page);
    assert_eq!(part_cost(responses, &encode(PDF)).1, 3.0 * openai_page);
    // By file id: a documented number of pages.
    let by_id = r#"{"type":"document","source":{"type":"file","file_id":"file_1"}}"#;
    assert_eq!(estimate(Some(&anthropic_body("claude-sonnet-4-6", by_id))).guessed_input_tokens, DOCUMENT_GUESS_PAGES * per_page);
}

#[test]
fn a_plain_text_document_is_weighed_as_text_however_long() {
    let prose = "The quick brown fox jumps over the lazy dog. ".repeat(200);
    let as_document = format!(r#"{{"type":"document","source":{{"type":"text","media_type":"text/plain","data":"{prose}"}}}}"#);
    let as_text = format!(r#"{{"type":"text","text":"{prose}"}}"#);
    let estimated = estimate(Some(&anthropic_body("m", &as_document)));
    let (document, text) = (estimated.cost, estimate(Some(&anthropic_body("m", &as_text))).cost);
    assert_eq!(estimated.guessed_input_tokens, 0.0);
    // The same prose, give or take the few words of each block's framing.
    assert!((document.input_tokens - text.input_tokens).abs() <= 6.0, "{} against {}", document.input_tokens, text.input_tokens);
    assert!(document.input_tokens > 2_000.0);
}

#[test]
fn a_large_payload_is_found_not_read() {
    // 15 MB of image: a real PNG header and then bytes the estimate must not read.
    let mut image = FIXTURES[2].1.to_vec();
    image.resize(15_000_000, 0x5a);
    let body = anthropic_body("claude-sonnet-4-6", &anthropic_image(&image));
    let counting = Counting::new(&body, usize::MAX);
    let e = estimate_from(Some(&counting));
    let without = estimate(Some(&anthropic_body("claude-sonnet-4-6", &anthropic_image_data(""))));
    assert_eq!(e.cost.input_tokens - (without.cost.input_tokens - without.guessed_input_tokens), anthropic_tokens(3000, 2000, None));
    // At most the chunk of text around the payload's start, and its header.
    let bound = 2 * super::json::CHUNK_UNITS + 4_000;
    assert!(counting.handed.get() < bound, "read {} of {} bytes", counting.handed.get(), body.len());
    // The JPEG reader skips its metadata segments by their lengths.
    let mut jpeg = FIXTURES[4].1.to_vec();
    jpeg.resize(jpeg.len() + 10_000_000, 0);
    let body = anthropic_body("claude-sonnet-4-6", &anthropic_image(&jpeg));
    let counting = Counting::new(&body, usize::MAX);
    assert_eq!(estimate_from(Some(&counting)).guessed_input_tokens, 0.0);
    assert!(counting.handed.get() < bound + 4_000, "read {} bytes", counting.handed.get());
}

#[test]
fn base64_outside_any_known_block_is_not_weighed_as_text() {
    let data = encode(&[1u8; 30_000]);
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"input_audio","input_audio":{{"data":"{data}","format":"wav"}}}}]}}]}}"#
    );
    assert!(estimate(Some(&body)).cost.input_tokens < 20.0);
}

mod prompt_cache {
    use super::*;

    /// A body with a cached tool list, a cached system prompt of `system`,
    /// and a question marked too, its fields in `order`.
    fn body(system: &str, question: &str, ttl: &str, messages_first: bool) -> String {
        let tools = r#""tools":[{"name":"a","description":"first tool","input_schema":{"type":"object"}},
            {"name":"b","description":"second tool","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]"#;
        let system = format!(r#""system":[{{"type":"text","text":"{system}","cache_control":{{"type":"ephemeral"{ttl}}}}}]"#);
        let messages = format!(
            r#""messages":[{{"role":"user","content":[{{"type":"text","text":"{question}","cache_control":{{"type":"ephemeral"}}}}]}},
            {{"role":"assistant","content":"Sure."}},{{"role":"user","content":"And then?"}}]"#
        );
        let (first, second) = if messages_first { (&messages, &system) } else { (&system, &messages) };
        format!(r#"{{"model":"claude-sonnet-4-6","max_tokens":100,{first},{tools},{second}}}"#)
    }

    #[test]
    fn each_breakpoint_is_found_in_the_cache_s_order_with_the_tokens_before_it() {
        let system = "You answer questions about rate limits. ".repeat(100);
        let e = estimate(Some(&body(&system, "What is a token bucket?", "", false)));
        let b = &e.breakpoints;
        assert_eq!(b.len(), 3, "tools, system, first message: {b:?}");
        assert!(b[0].tokens > 0.0 && b[0].tokens < b[1].tokens && b[1].tokens < b[2].tokens, "{b:?}");
        // The system prompt alone is 1,000 tokens or so; what follows the last
        // breakpoint (two messages) is not in any prefix.
        assert!(b[1].tokens - b[0].tokens > 900.0, "{b:?}");
        assert!(b[2].tokens < e.cost.input_tokens, "{b:?} {}", e.cost.input_tokens);
        assert!(b.iter().all(|b| b.ttl_ms == cache::TTL_MS));
        let long = estimate(Some(&body(&system, "What is a token bucket?", r#","ttl":"1h""#, false)));
        assert_eq!(long.breakpoints[1].ttl_ms, cache::LONG_TTL_MS);
        assert_eq!(long.breakpoints[2].ttl_ms, cache::TTL_MS);
    }

    #[test]
    fn a_prefix_is_known_by_its_content_whatever_follows_it_or_the_order_of_the_fields() {
        let system = "You answer questions about rate limits. ".repeat(100);
        let a = estimate(Some(&body(&system, "What is a token bucket?", "", false))).breakpoints;
        let b = estimate(Some(&body(&system, "What is a leaky bucket?", "", true))).breakpoints;
        assert_eq!((a[0].hash, a[1].hash), (b[0].hash, b[1].hash), "the same tools and system prompt");
        assert_ne!(a[2].hash, b[2].hash, "another question");
        assert_eq!(a[1].tokens, b[1].tokens);
        let haiku = estimate(Some(&body(&system, "What is a token bucket?", "", false).replace("claude-sonnet-4-6", "claude-haiku-4-5"))).breakpoints;
        assert!(haiku.iter().zip(&a).all(|(h, a)| h.hash != a.hash), "a cache is per model");
        let other = estimate(Some(&body(&system.replace("rate", "token"), "What is a token bucket?", "", false))).breakpoints;
        assert_eq!(other[0].hash, a[0].hash);
        assert_ne!(other[1].hash, a[1].hash, "another system prompt");
        assert_ne!(other[2].hash, a[2].hash, "a prefix holds everything before it");
    }

    #[test]
    fn a_body_without_cache_control_has_no_breakpoints_and_the_same_cost() {
        let system = "You answer questions about rate limits. ".repeat(100);
        let marked = body(&system, "What is a token bucket?", "", false);
        let plain = marked.replace(r#","cache_control":{"type":"ephemeral"}"#, "");
        let (marked, plain) = (estimate(Some(&marked)), estimate(Some(&plain)));
        assert!(plain.breakpoints.is_empty());
        // The marks themselves are a few characters of text each.
        assert!(marked.cost.input_tokens >= plain.cost.input_tokens && marked.cost.input_tokens - plain.cost.input_tokens < 20.0);
        let openai = r#"{"model":"gpt-5","input":[{"role":"user","content":"Hi"}],"max_output_tokens":10}"#;
        assert!(estimate(Some(openai)).breakpoints.is_empty());
    }

    #[test]
    fn a_cached_image_is_weighed_as_an_image_and_known_without_reading_its_payload_twice() {
        let png = encode(include_bytes!("../../tests/fixtures/png-1000x1000.png"));
        let block = |text: &str| {
            format!(
                r#"{{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{{"role":"user","content":[
                {{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{png}"}},"cache_control":{{"type":"ephemeral"}}}},
                {{"type":"text","text":"{text}"}}]}}]}}"#
            )
        };
        let (a, b) = (estimate(Some(&block("Describe it."))), estimate(Some(&block("Count the cats."))));
        assert_eq!(a.breakpoints.len(), 1);
        assert_eq!(a.breakpoints[0].hash, b.breakpoints[0].hash);
        // The image as the estimate weighs it alone, plus the message's framing
        // and the block's few words of text.
        let (image, _) = part_cost(|data| anthropic_body("claude-sonnet-4-6", &anthropic_image_data(data)), &png);
        assert!(image > 1_000.0 && (a.breakpoints[0].tokens - image).abs() < 20.0, "{:?} {image}", a.breakpoints);
    }
}
