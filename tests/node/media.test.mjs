// Images and PDFs through the official SDKs with `fetch: throttler.fetch`:
// each call is costed as the provider charges (by the image's size, by the
// PDF's pages), within 10 % of the documented rule, and sent, never refused
// as too big. The files are real (tests/fixtures, made by real encoders);
// the mock API charges them by the same documented rules, written apart
// (mock/media.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { Throttler } from "headroom";
import { startMockApi } from "../../mock/api.mjs";
import { anthropicImageTokens, openaiImageTokens } from "../../mock/media.mjs";

const fixture = (name) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const IMAGES = [
  ["png-200x200.png", "image/png", 200, 200],
  ["png-1000x1000.png", "image/png", 1000, 1000],
  ["png-3000x2000.png", "image/png", 3000, 2000],
  ["jpeg-1092x1092.jpg", "image/jpeg", 1092, 1092],
  ["jpeg-4032x3024.jpg", "image/jpeg", 4032, 3024],
  ["gif-640x480.gif", "image/gif", 640, 480],
  ["webp-lossy-1920x1080.webp", "image/webp", 1920, 1080],
  ["webp-lossless-512x512.webp", "image/webp", 512, 512],
  ["webp-extended-2000x3000.webp", "image/webp", 2000, 3000],
];
const MAX_TOKENS = 100;

/**
 * Send one call through `send(throttler)` with the static limits of
 * Anthropic's Build tier (80,000 tokens a minute), and read what headroom
 * reserved for its input: the tokens the snapshot shows missing while the
 * call is on its way, less its `max_tokens`.
 */
async function reservedInput(api, send) {
  let reserved = null;
  const throttler = new Throttler({
    limits: "anthropic-build",
    fetch: (input, init) => {
      const tokens = throttler.snapshot().partitions[0].dimensions.find((d) => d.name === "tokens");
      reserved ??= tokens.limit - tokens.remaining - MAX_TOKENS;
      return fetch(input, init);
    },
  });
  const refused = [];
  throttler.on("rejected", (e) => refused.push(e.code));
  const answer = await send(throttler);
  assert.deepEqual(refused, [], "no call was refused");
  return { reserved, answer };
}

test("images of every format and size go through the Anthropic SDK, costed by their size as Anthropic charges", async () => {
  const api = await startMockApi({ latencyMs: 5 });
  try {
    const call = (content, model) => (throttler) =>
      new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 }).messages.create({
        model, max_tokens: MAX_TOKENS, messages: [{ role: "user", content }],
      });
    for (const model of ["claude-sonnet-4-6", "claude-opus-4-7"]) {
      const question = { type: "text", text: "What is in this picture?" };
      const { reserved: text } = await reservedInput(api, call([question], model));
      for (const [name, mediaType, width, height] of IMAGES) {
        const image = { type: "image", source: { type: "base64", media_type: mediaType, data: fixture(name).toString("base64") } };
        const { reserved, answer } = await reservedInput(api, call([image, question], model));
        const rule = anthropicImageTokens(width, height, model);
        const estimated = reserved - text;
        assert.ok(Math.abs(estimated - rule) <= rule * 0.1, `${name} on ${model}: ${estimated} against ${rule}`);
        assert.equal(answer.type, "message", `${name} was sent and answered`);
      }
    }
    assert.equal(api.stats().refused, 0);
  } finally {
    await api.close();
  }
});

test("a 1.1 MB photo and a PDF with Build-tier limits are sent, where their base64 as text would be 400,000 tokens", async () => {
  const api = await startMockApi({ latencyMs: 5 });
  try {
    // A real PNG header (1000 × 1000) and then 1.1 MB of its data.
    const photo = Buffer.concat([fixture("png-1000x1000.png"), Buffer.alloc(1_100_000, 0x5a)]);
    const pdf = fixture("pdf-3-pages.pdf");
    const content = [
      { type: "image", source: { type: "base64", media_type: "image/png", data: photo.toString("base64") } },
      { type: "document", source: { type: "base64", media_type: "application/pdf", data: pdf.toString("base64") } },
      { type: "text", text: "Compare the photo with the report." },
    ];
    const { reserved, answer } = await reservedInput(api, (throttler) =>
      new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 }).messages.create({
        model: "claude-sonnet-4-6", max_tokens: MAX_TOKENS, messages: [{ role: "user", content }],
      }),
    );
    // The photo by its size, the PDF's 3 pages at 3,000 text tokens and one
    // page image each (Anthropic's PDF guide), the question's few tokens.
    const rule = anthropicImageTokens(1000, 1000) + 3 * (3000 + 1600);
    assert.ok(reserved >= rule && reserved <= rule * 1.1, `${reserved} against ${rule}`);
    assert.equal(answer.type, "message");
    assert.equal(answer.usage.input_tokens >= rule, true, "the mock charged the same parts");
  } finally {
    await api.close();
  }
});

test("image and file parts go through the OpenAI SDK, costed by tiles and detail", async () => {
  const api = await startMockApi({ dialect: "openai", latencyMs: 5 });
  try {
    const call = (content) => (throttler) =>
      new OpenAI({ apiKey: "sk-test", baseURL: `${api.url}/v1`, fetch: throttler.fetch, maxRetries: 0 }).chat.completions.create({
        model: "gpt-4o", max_completion_tokens: MAX_TOKENS, messages: [{ role: "user", content }],
      });
    const question = { type: "text", text: "What is in this picture?" };
    const { reserved: text } = await reservedInput(api, call([question]));
    for (const [name, mediaType, width, height] of IMAGES) {
      for (const detail of ["high", "low", "auto"]) {
        const url = `data:${mediaType};base64,${fixture(name).toString("base64")}`;
        const part = { type: "image_url", image_url: { url, detail } };
        const { reserved, answer } = await reservedInput(api, call([part, question]));
        const rule = openaiImageTokens(width, height, detail);
        const estimated = reserved - text;
        assert.ok(Math.abs(estimated - rule) <= rule * 0.1, `${name} at ${detail}: ${estimated} against ${rule}`);
        assert.equal(answer.choices[0].message.content, "ok");
      }
    }
    const pdf = { type: "file", file: { filename: "report.pdf", file_data: `data:application/pdf;base64,${fixture("pdf-3-pages.pdf").toString("base64")}` } };
    const { reserved, answer } = await reservedInput(api, call([pdf, question]));
    const rule = 3 * (3000 + openaiImageTokens(768, 2048, "high"));
    assert.ok(Math.abs(reserved - text - rule) <= rule * 0.1, `PDF: ${reserved - text} against ${rule}`);
    assert.equal(answer.choices[0].message.content, "ok");
    assert.equal(api.stats().refused, 0);
  } finally {
    await api.close();
  }
});

test("an image by link is a guess that never makes a call unsendable, even over a small limit", async () => {
  // A limit of 1,000 tokens a minute, under the 1,600 an image by link is
  // guessed at: the call waits for a full bucket and goes.
  const sent = [];
  const throttler = new Throttler({
    limits: { tokensPerMinute: 1000, requestsPerMinute: 100 },
    fetch: async (input, init) => {
      sent.push(JSON.parse(init.body).messages[0].content[0].source.url);
      return new Response("{}");
    },
  });
  const content = [{ type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } }, { type: "text", text: "?" }];
  const body = JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content }] });
  const res = await throttler.fetch("https://api.anthropic.com/v1/messages", { method: "POST", body });
  assert.equal(res.status, 200);
  assert.deepEqual(sent, ["https://example.com/cat.jpg"]);
  // Counted text over the limit is still refused, with the numbers.
  const long = JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 2000, messages: [{ role: "user", content: "hi" }] });
  await assert.rejects(throttler.fetch("https://api.anthropic.com/v1/messages", { method: "POST", body: long }), { code: "COST_EXCEEDS_LIMIT" });
});
