// The official SDKs with `fetch: throttler.fetch`: the hand-off users make.
// Both talk to the loopback mock, which answers in the shapes they parse.
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { Throttler } from "headroom";
import { startMockApi } from "../../mock/api.mjs";
import { startServer } from "../support/server.mjs";

const anthropicAnswer = JSON.stringify({
  id: "msg_1", type: "message", role: "assistant", model: "m", content: [{ type: "text", text: "ok" }],
  stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 },
});

test("the Anthropic SDK sends through throttler.fetch and parses the answers, within the limits", async () => {
  // 8 requests refilled over 1 s; 16 calls are twice the limit.
  const api = await startMockApi({ limits: { requestsPerMinute: 8 }, windowMs: 1000, latencyMs: 5 });
  try {
    const throttler = new Throttler({ maxConcurrent: 3 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 });
    const messages = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        client.messages.create({ model: "claude-test", max_tokens: 64, messages: [{ role: "user", content: `call ${i}` }] }),
      ),
    );
    assert.equal(messages.length, 16);
    assert.ok(messages.every((m) => m.type === "message" && m.content[0].text === "ok"));
    assert.ok(api.stats().peakInFlight <= 3);
    assert.equal(api.stats().refused, 0, "no call ran into a 429");
    const [partition] = throttler.snapshot().partitions;
    assert.equal(partition.key, `${api.url} claude-test`);
    assert.ok(partition.dimensions.some((d) => d.name === "input_tokens" && d.limit === 80_000));
  } finally {
    await api.close();
  }
});

test("the answers the Anthropic SDK parses calibrate the estimate with their usage", async () => {
  const api = await startMockApi({ limits: { requestsPerMinute: 1000 }, latencyMs: 1 });
  try {
    const throttler = new Throttler();
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 });
    const content = "Summarise the following notes in one line. ".repeat(60);
    for (let i = 0; i < 5; i++) await client.messages.create({ model: "claude-test", max_tokens: 16, messages: [{ role: "user", content }] });
    const [partition] = throttler.snapshot().partitions;
    // The mock counts tokens its own way: the scale moves towards its count.
    assert.notEqual(partition.inputScale, 1);
    assert.ok(partition.inputScale > 0.5 && partition.inputScale < 2, `${partition.inputScale}`);
  } finally {
    await api.close();
  }
});

test("an Anthropic stream reaches the SDK as it is sent, not buffered", async () => {
  let release;
  const held = new Promise((resolve) => (release = resolve));
  // The server holds the stream after its first text until the test has seen it:
  // a throttler that buffered the body would never let the test see it.
  const api = await startMockApi({ latencyMs: 5, holdStream: held });
  try {
    const throttler = new Throttler();
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 });
    const stream = await client.messages.create({ model: "m", max_tokens: 16, stream: true, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    for await (const event of stream) {
      if (event.type === "content_block_delta") {
        text += event.delta.text;
        release();
      }
    }
    assert.equal(text, "ok");
  } finally {
    await api.close();
  }
});

test("the OpenAI SDK, plain and streaming, reads x-ratelimit headers through throttler.fetch", async () => {
  let release;
  const held = new Promise((resolve) => (release = resolve));
  const api = await startMockApi({ dialect: "openai", latencyMs: 5, holdStream: held });
  try {
    const throttler = new Throttler();
    const client = new OpenAI({ apiKey: "sk-test", baseURL: `${api.url}/v1`, fetch: throttler.fetch, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: "gpt-test", max_completion_tokens: 20, messages: [{ role: "user", content: "hi" }] });
    assert.equal(completion.choices[0].message.content, "ok");
    const stream = await client.chat.completions.create({ model: "gpt-test", max_completion_tokens: 20, stream: true, messages: [{ role: "user", content: "hi" }] });
    let text = "";
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (text) release();
    }
    assert.equal(text, "ok");
    const [partition] = throttler.snapshot().partitions;
    assert.equal(partition.key, `${api.url} gpt-test`);
    assert.deepEqual(partition.dimensions.map((d) => d.name).sort(), ["requests", "tokens"]);
  } finally {
    await api.close();
  }
});

test("with the SDK's retries off, an overloaded call is retried by the throttler alone", async () => {
  const server = await startServer((_, i) =>
    i < 2
      ? { status: 529, headers: { "retry-after-ms": "1", "content-type": "application/json" }, body: '{"type":"error","error":{"type":"overloaded_error"}}' }
      : { headers: { "content-type": "application/json" }, body: anthropicAnswer },
  );
  try {
    const throttler = new Throttler({ maxRetries: 2 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: server.url, fetch: throttler.fetch, maxRetries: 0 });
    const message = await client.messages.create({ model: "m", max_tokens: 8, messages: [{ role: "user", content: "hi" }] });
    assert.equal(message.content[0].text, "ok");
    assert.equal(server.log.length, 3, "1 try + 2 retries, not multiplied by the SDK's");
    assert.equal(throttler.snapshot().counters.retried, 2);
  } finally {
    await server.close();
  }
});

test("time spent queued counts against the SDK's timeout; acquiring first keeps it out", async () => {
  const server = await startServer(async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { headers: { "content-type": "application/json" }, body: anthropicAnswer };
  });
  try {
    const throttler = new Throttler({ maxConcurrent: 1 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: server.url, fetch: throttler.fetch, maxRetries: 0, timeout: 400 });
    const body = { model: "m", max_tokens: 8, messages: [{ role: "user", content: "hi" }] };
    // Two calls, one slot: the second waits 300 ms, then needs 300 ms more.
    const results = await Promise.allSettled([client.messages.create(body), client.messages.create(body)]);
    assert.equal(results[0].status, "fulfilled");
    assert.ok(results[1].reason instanceof Anthropic.APIConnectionTimeoutError, String(results[1].reason));

    // The way around: wait for budget outside the SDK, then call it with a plain fetch.
    const direct = new Anthropic({ apiKey: "sk-ant-test", baseURL: server.url, maxRetries: 0, timeout: 400 });
    const viaPermit = async () => {
      const permit = await throttler.acquire({ key: `${server.url} m` });
      try {
        const { data, response } = await direct.messages.create(body).withResponse();
        permit.release(response.headers, response.status);
        return data;
      } catch (error) {
        permit.release();
        throw error;
      }
    };
    const messages = await Promise.all([viaPermit(), viaPermit()]);
    assert.deepEqual(messages.map((m) => m.content[0].text), ["ok", "ok"]);
  } finally {
    await server.close();
  }
});

test("after a 429 asking for a week, the Anthropic SDK's next call raises its RateLimitError at once, and nothing is sent", async () => {
  const server = await startServer(() => ({
    status: 429,
    headers: { "retry-after": "604800", "content-type": "application/json" },
    body: JSON.stringify({ type: "error", error: { type: "rate_limit_error", message: "Number of request tokens has exceeded your per-minute rate limit" } }),
  }));
  try {
    const throttler = new Throttler();
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: server.url, fetch: throttler.fetch, maxRetries: 0 });
    const call = () => client.messages.create({ model: "claude-test", max_tokens: 16, messages: [{ role: "user", content: "hi" }] });
    for (let i = 0; i < 2; i++) {
      const error = await call().catch((e) => e);
      assert.ok(error instanceof Anthropic.RateLimitError, String(error));
      assert.equal(error.status, 429);
      assert.ok(Number(error.headers.get("retry-after")) > 604_000);
    }
    assert.equal(server.log.length, 1, "only the first call reached the server");
  } finally {
    await server.close();
  }
});
