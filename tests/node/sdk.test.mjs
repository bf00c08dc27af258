// The official SDK with `fetch: throttler.fetch`: the hand-off users make.
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { Throttler } from "headroom";
import { startMockApi } from "../../mock/api.mjs";

test("the Anthropic SDK sends through throttler.fetch and parses the answers", async () => {
  const api = await startMockApi({ limits: { requestsPerMinute: 1200 }, latencyMs: 5 });
  try {
    const throttler = new Throttler({ maxConcurrent: 3 });
    const client = new Anthropic({ apiKey: "sk-ant-test", baseURL: api.url, fetch: throttler.fetch, maxRetries: 0 });
    const messages = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        client.messages.create({ model: "claude-test", max_tokens: 64, messages: [{ role: "user", content: `call ${i}` }] }),
      ),
    );
    assert.equal(messages.length, 12);
    assert.ok(messages.every((m) => m.type === "message" && m.content[0].text === "ok"));
    assert.ok(api.stats().peakInFlight <= 3);
    assert.equal(api.stats().refused, 0);
    const [partition] = throttler.snapshot().partitions;
    assert.equal(partition.key, `${api.url} claude-test`);
    assert.ok(partition.dimensions.some((d) => d.name === "input_tokens" && d.limit === 80_000));
  } finally {
    await api.close();
  }
});
