//! The tests of the JSON reader: what it keeps, what it refuses, and that it
//! reads payloads by search and bodies in chunks.

use super::super::source::Counting;
use super::*;

fn read(text: &str) -> Option<Value> {
    parse(&text)
}

#[test]
fn reads_an_object_with_short_texts_numbers_and_weights() {
    let value = read(r#" {"model":"claude","max_tokens":1024,"messages":[{"role":"user","content":"héllo"}],"input":null,"unknown":1} "#).unwrap();
    assert_eq!(value.get("model").and_then(Value::as_str), Some("claude"));
    assert_eq!(value.get("max_tokens").and_then(Value::as_number), Some(1024.0));
    let Some(Value::Array(messages)) = value.get("messages") else { panic!("messages") };
    let Some(Value::Str(content)) = messages[0].get("content") else { panic!("content") };
    // "héllo": 4 letters, 1 other.
    assert!((content.tokens - (4.0 * 0.27 + 0.6)).abs() < 1e-9, "{}", content.tokens);
    assert_eq!(value.get("input"), Some(&Value::Null));
    let Value::Object(fields) = &value else { panic!() };
    assert_eq!(fields.last().map(|(k, _)| *k), Some(None), "an unknown key is kept as None");
    assert_eq!(content.text, None, "text is kept only for the keys that need it");
}

#[test]
fn escapes_count_as_the_characters_they_stand_for() {
    let value = read(r#"{"type":"a\n\u00e9\ud83d\ude00\"","model":"\udc00x","\u0063ontent":"k"}"#).unwrap();
    let Some(Value::Str(s)) = value.get("type") else { panic!() };
    assert_eq!(s.text.as_deref(), Some("a\né😀\""));
    assert!(!s.plain);
    // a, newline, é, the emoji (one pair), quote.
    assert!((s.tokens - (0.27 + 0.5 + 0.6 + 0.6 + 0.5)).abs() < 1e-9);
    assert_eq!(value.get("model").and_then(Value::as_str), Some("\u{fffd}x"));
    assert!(value.get("content").is_some(), "an escaped key reads as the key it stands for");
}

#[test]
fn anything_but_one_valid_object_is_refused() {
    for text in [
        "",
        "[1]",
        "{",
        "{}x",
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":tru}"#,
        "{\"a\":\"\u{1}\"}",
        r#"{"a":"\q"}"#,
        r#"{"a" 1}"#,
        r#"{"a":1,}"#,
        "name=value",
        r#"{"data":"abc"#,
    ] {
        assert_eq!(read(text), None, "{text:?}");
    }
    assert_eq!(read("{}"), Some(Value::Object(vec![])));
    assert!(read(r#"{"n":-1.5e+3,"m":0,"f":false}"#).is_some());
}

#[test]
fn nesting_beyond_the_limit_is_refused_without_recursing_further() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(read(&deep), None);
    let fine = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
    assert!(read(&fine).is_some());
}

#[test]
fn a_long_payload_string_is_found_by_search_and_only_its_head_kept() {
    let data = "QUJD".repeat(1000);
    let body = format!(r#"{{"data":"{data}","type":"ok"}}"#);
    let value = read(&body).unwrap();
    let Some(Value::Str(s)) = value.get("data") else { panic!() };
    assert!(s.payload && s.plain);
    assert_eq!(s.tokens, 0.0);
    assert_eq!(s.text.as_deref(), Some(&data[..HEAD_UNITS]));
    assert_eq!(&body[s.span.clone()], data);
    assert_eq!(value.get("type").and_then(Value::as_str), Some("ok"));
    // The same text under another key is read and weighed.
    let body = format!(r#"{{"content":"{data}"}}"#);
    let value = read(&body).unwrap();
    let Some(Value::Str(s)) = value.get("content") else { panic!() };
    assert!(!s.payload && s.tokens > 1000.0);
}

#[test]
fn a_payload_with_escapes_is_read_in_order_keeping_its_head() {
    let data = "QU\\/D".repeat(200);
    let body = format!(r#"{{"data":"{data}","max_tokens":1}}"#);
    let value = read(&body).unwrap();
    let Some(Value::Str(s)) = value.get("data") else { panic!() };
    assert!(s.payload && !s.plain);
    assert_eq!(s.tokens, 0.0);
    assert!(s.text.as_deref().unwrap().starts_with("QU/DQU/D"));
    assert_eq!(value.get("max_tokens").and_then(Value::as_number), Some(1.0));
    // Weighed afterwards from its position, as the characters it holds.
    let expected = {
        let mut w = TextWeight::default();
        "QU/D".repeat(200).chars().for_each(|c| w.add(c));
        w.tokens()
    };
    assert!((weigh_span(&body.as_str(), &s.span) - expected).abs() < 1e-9);
}

#[test]
fn chunks_split_anywhere_read_the_same_and_payloads_are_not_read() {
    let data = "iVBORw0KGgo".repeat(100_000);
    let body = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"text","text":"Привет, мир! 速率 \u00e9 {{}}"}},{{"source":{{"data":"{data}"}}}}]}}],"n":-12.5e-1,"t":true}}"#
    );
    let whole = read(&body).unwrap();
    for chunk in [1, 2, 3, 7, 64] {
        let source = Counting::new(&body, chunk);
        assert_eq!(parse(&source).as_ref(), Some(&whole), "chunks of {chunk}");
        assert!(source.handed.get() < 2_000, "read {} of {} bytes", source.handed.get(), body.len());
    }
}
