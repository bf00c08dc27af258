// Counts the tokens of a small committed corpus with two offline tokenizers
// (js-tiktoken's cl100k_base and @anthropic-ai/tokenizer, both shipping their
// ranks in the package) and writes scripts/estimator-corpus.json. The Rust
// example `estimator_accuracy` then measures src/estimate.rs against it:
//   node scripts/estimator-accuracy.mjs && cargo run --example estimator_accuracy
import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";
import { countTokens } from "@anthropic-ai/tokenizer";
import { writeFileSync } from "node:fs";

const code = `fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!("{:?}", xs);\n}\n`;
const corpus = [
  ["english prose", "The quick brown fox jumps over the lazy dog. Rate limits protect an API from overload, and a good client waits for budget before it sends a request rather than after it has been refused."],
  ["english question", "Can you summarise the main arguments of the attached report in three bullet points, and say which one you find weakest?"],
  ["rust code", code.repeat(3)],
  ["javascript code", "export async function retry(fn, n = 3) {\n  for (let i = 0; i < n; i++) {\n    try { return await fn(); } catch (e) { if (i === n - 1) throw e; }\n  }\n}\n".repeat(2)],
  ["json", JSON.stringify({ users: [{ id: 1, name: "Ada", roles: ["admin", "dev"] }, { id: 2, name: "Linus", roles: ["dev"] }], total: 2, next: null })],
  ["german", "Die Begrenzung der Anfragen schützt den Dienst vor Überlastung; ein guter Client wartet, bevor er sendet."],
  ["japanese", "レート制限はAPIを過負荷から守ります。良いクライアントは送信する前に予算を待ちます。"],
  ["chinese", "速率限制保护接口免受过载。好的客户端在发送请求之前等待预算。"],
  ["russian", "Ограничение скорости защищает API от перегрузки; хороший клиент ждёт бюджета перед отправкой."],
  ["numbers", "3.14159 2.71828 1.41421 1.73205 0.57721 1.61803 4.66920 2.50290 0.91596 1.20205"],
];
const enc = new Tiktoken(cl100k);
const rows = corpus.map(([name, text]) => ({ name, text, cl100k: enc.encode(text).length, claude: countTokens(text) }));
writeFileSync(new URL("./estimator-corpus.json", import.meta.url), JSON.stringify(rows, null, 1) + "\n");
for (const r of rows) console.log(`${r.name}: ${r.text.length} chars, cl100k ${r.cl100k}, claude ${r.claude}`);
