//! Measures the input-token estimate of `headroom::estimate` against real
//! token counts in scripts/estimator-corpus.json (written offline by
//! scripts/estimator-accuracy.mjs): `cargo run --example estimator_accuracy`.

use headroom::estimate::estimate;
use serde_json::Value;

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/estimator-corpus.json");
    let rows: Vec<Value> = std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    println!("| text | estimate | cl100k | Claude | error vs Claude |");
    println!("|---|---|---|---|---|");
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
        println!("| {name} | {estimated} | {cl100k} | {claude} | {:+.0}% |", error * 100.0);
    }
    let mean_abs = errors.iter().map(|e| e.abs()).sum::<f64>() / errors.len().max(1) as f64;
    let worst = errors.iter().copied().fold(0.0_f64, |w, e| if e.abs() > w.abs() { e } else { w });
    let high = errors.iter().filter(|e| **e >= 0.0).count();
    println!("\nmean |error| {:.0}%, worst {:+.0}%, errs high on {high} of {}", mean_abs * 100.0, worst * 100.0, errors.len());
}
