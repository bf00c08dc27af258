// Adds up the passed and failed counts of every suite's log in a folder and
// prints "N passed, N failed". A suite that exited non-zero without any
// failed test counted (it crashed, or failed to build) counts as one failure.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dir, ...failedSuites] = process.argv.slice(2);
const patterns = [
  // cargo test and wasm-bindgen-test-runner
  /test result: \w+\. (\d+) passed; (\d+) failed/g,
  // node --test (spec reporter)
  /^ℹ pass (\d+)$[\s\S]*?^ℹ fail (\d+)$/gm,
  // deno test
  /^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/gm,
];
let passed = 0;
let failed = 0;
const rows = [];
for (const file of readdirSync(dir).filter((f) => f.endsWith(".log")).sort()) {
  const name = file.slice(0, -4);
  const text = readFileSync(join(dir, file), "utf8").replace(/\x1b\[[0-9;]*m/g, "");
  let p = 0;
  let f = 0;
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      p += Number(match[1]);
      f += Number(match[2]);
    }
  }
  if (failedSuites.includes(name) && f === 0) f = 1;
  rows.push(`  ${name.padEnd(12)} ${String(p).padStart(5)} passed ${String(f).padStart(4)} failed`);
  passed += p;
  failed += f;
}
console.log(`\nsuites:\n${rows.join("\n")}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
