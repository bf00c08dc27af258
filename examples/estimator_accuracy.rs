//! Measures the input-token estimate of `headroom::estimate` against real
//! token counts in scripts/estimator-corpus.json (written offline by
//! scripts/estimator-accuracy.mjs): `cargo run --example estimator_accuracy`.
//! Then images and PDFs (tests/fixtures): the estimate against each
//! provider's documented rule, and against what weighing their base64 as
//! text, as headroom did before, made of them.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use headroom::engine::{Engine, Settings};
use headroom::estimate::{anthropic_tokens, estimate, openai_tokens, Detail};
use headroom::headers::Observation;
use serde_json::Value;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/estimator-corpus.json");
    let rows: Vec<Value> = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    println!("| text | estimate | cl100k | Claude | error vs Claude | calibrated, after 1 / 8 answers (prompts of 10 such texts) |");
    println!("|---|---|---|---|---|---|");
    let mut errors = Vec::new();
    for row in &rows {
        let (Some(name), Some(text), Some(cl100k), Some(claude)) =
            (row["name"].as_str(), row["text"].as_str(), row["cl100k"].as_f64(), row["claude"].as_f64())
        else {
            continue;
        };
        let body = serde_json::json!({ "prompt": text }).to_string();
        let estimated = estimate(Some(&body)).cost.input_tokens;
        let error = estimated / claude - 1.0;
        errors.push(error);
        // A prompt of ten such texts (estimates under 100 tokens teach nothing).
        let [one, eight] = calibrated(estimated * 10.0, claude * 10.0).map(|scaled| (scaled / (claude * 10.0) - 1.0) * 100.0);
        println!("| {name} | {estimated} | {cl100k} | {claude} | {:+.0}% | {one:+.0}% / {eight:+.0}% |", error * 100.0);
    }
    let mean_abs = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len().max(1) as f64;
    let worst = errors.iter().copied().fold(0.0_f64, |w, e| if e.abs() > w.abs() { e } else { w });
    let high = errors.iter().filter(|e| **e >= 0.0).count();
    println!("\nmean |error| {:.0}%, worst {:+.0}%, errs high on {high} of {}", mean_abs * 100.0, worst * 100.0, errors.len());
    media();
}

/// The estimate of the same prompt once its partition's calibration has
/// read the usage of 1 and of 8 answers of such prompts (each saying the
/// server charged `charged`): the engine that ships learns it.
fn calibrated(estimated: f64, charged: f64) -> [f64; 2] {
    let mut engine = Engine::new(Settings::default());
    engine.observe("p", &Observation::default(), 0.0);
    let mut scales = [0.0; 2];
    for n in 1..=8 {
        engine.usage("p", estimated, charged, 0.0);
        let scale = engine.snapshot(0.0).partitions[0].input_scale;
        match n {
            1 => scales[0] = scale,
            8 => scales[1] = scale,
            _ => {}
        }
    }
    scales.map(|scale| estimated * scale)
}

/// What one content part adds to a call's input tokens, and how much of it
/// is guessed: the call against the same call with the part's payload empty.
fn part(call: impl Fn(&str) -> String, payload: &str) -> (f64, f64) {
    let with = estimate(Some(&call(payload)));
    let without = estimate(Some(&call("")));
    (with.cost.input_tokens - (without.cost.input_tokens - without.guessed_input_tokens), with.guessed_input_tokens)
}

fn media() {
    let images: [(&str, u32, u32); 9] = [
        ("png-200x200.png", 200, 200),
        ("png-1000x1000.png", 1000, 1000),
        ("png-3000x2000.png", 3000, 2000),
        ("jpeg-1092x1092.jpg", 1092, 1092),
        ("jpeg-4032x3024.jpg", 4032, 3024),
        ("gif-640x480.gif", 640, 480),
        ("webp-lossy-1920x1080.webp", 1920, 1080),
        ("webp-lossless-512x512.webp", 512, 512),
        ("webp-extended-2000x3000.webp", 2000, 3000),
    ];
    let read = |name: &str| std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_default();
    let anthropic = |data: &str| {
        format!(
            r#"{{"model":"claude-sonnet-4-6","messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}]}}]}}"#
        )
    };
    let openai = |data: &str| {
        format!(
            r#"{{"model":"gpt-4o","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"data:image/png;base64,{data}"}}}}]}}]}}"#
        )
    };
    println!("\n| image | base64 as text (before) | Anthropic: estimate | rule | OpenAI high: estimate | rule |");
    println!("|---|---|---|---|---|---|");
    for (name, width, height) in images {
        let data = STANDARD.encode(read(name));
        let as_text = estimate(Some(&format!(r#"{{"prompt":"{data}"}}"#))).cost.input_tokens;
        let (a, _) = part(anthropic, &data);
        let (o, _) = part(openai, &data);
        let (ra, ro) = (anthropic_tokens(width, height, Some("claude-sonnet-4-6")), openai_tokens(width, height, Detail::High, Some("gpt-4o")));
        println!("| {width} × {height} ({name}) | {as_text} | {a} | {ra} | {o} | {ro} |");
    }
    let pdf = STANDARD.encode(read("pdf-3-pages.pdf"));
    let document = |data: &str| {
        format!(
            r#"{{"model":"claude-sonnet-4-6","messages":[{{"role":"user","content":[{{"type":"document","source":{{"type":"base64","media_type":"application/pdf","data":"{data}"}}}}]}}]}}"#
        )
    };
    let as_text = estimate(Some(&format!(r#"{{"prompt":"{pdf}"}}"#))).cost.input_tokens;
    let (d, guessed) = part(document, &pdf);
    println!("\nPDF of 3 pages: base64 as text {as_text}; estimate {d} ({guessed} guessed); the PDF guide's range 3 × (1,500 to 3,000 + a page image of at most 1,600) = 9,300 to 13,800");
}
