// The README's TypeScript examples (every ```ts block) type-check with
// `tsc --strict --noEmit` against the installed package's declarations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Names the examples use without defining them, as an application would have them.
const prelude = `
declare const key: string;
declare const messages: Array<{ role: "user" | "assistant"; content: string }>;
declare const prompts: string[];
declare const prompt: string;
`;

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
// Under the project's ignored .tmp/, so "headroom" resolves from the
// node_modules above it (the consumer project's, in CI).
const dir = fileURLToPath(new URL("../../.tmp/readme-examples/", import.meta.url));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
examples.forEach((code, i) => writeFileSync(join(dir, `example-${i + 1}.ts`), `${prelude}\n${code}\nexport {};\n`));
writeFileSync(
  join(dir, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2022", "DOM", "DOM.Iterable"], types: [], skipLibCheck: true },
    include: ["*.ts"],
  }),
);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
let diagnostics = "";
try {
  execFileSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
} catch (error) {
  diagnostics = String(error.stdout) + String(error.stderr);
}

test("the README has TypeScript examples to check", () => {
  assert.ok(examples.length >= 4, `found ${examples.length}`);
});

examples.forEach((code, i) => {
  test(`README example ${i + 1} type-checks under --strict (${code.split("\n")[0].slice(0, 60)})`, () => {
    const mine = diagnostics.split("\n").filter((line) => line.includes(`example-${i + 1}.ts`));
    assert.deepEqual(mine, []);
  });
});
