// The AI SDK and LangChain.js in workerd (through Miniflare), with one
// module-scope Throttler as their `fetch`: frameworks-worker.js is bundled
// as wrangler bundles a Worker that uses npm libraries (see
// worker-bundle.mjs, `libraries`), then serves a burst of concurrent
// requests, each one library call, well over the mock API's limit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startMockApi } from "../../mock/api.mjs";
import { startWorker } from "../support/worker-bundle.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ROUTES = ["ai-generate", "ai-stream", "langchain-invoke", "langchain-stream"];
const CALLS = 24;

let api;
let mf;
const answers = [];

before(async () => {
  // 8 requests refilled over 1 s: 24 concurrent calls are three times the limit.
  api = await startMockApi({ limits: { requestsPerMinute: 8 }, windowMs: 1000, latencyMs: 5, onAnswer: (answer) => answers.push(answer) });
  mf = await startWorker(join(here, "frameworks-worker.js"), { API_URL: api.url }, { libraries: true });
});

after(async () => {
  await mf?.dispose();
  await api?.close();
});

test("the AI SDK and LangChain in a Worker share one budget through a burst, with no 429 after the first answer", async () => {
  const results = await Promise.all(
    Array.from({ length: CALLS }, async (_, i) => {
      const route = ROUTES[i % ROUTES.length];
      const result = await (await mf.dispatchFetch(`http://worker/${route}?prompt=call+${i}`)).json();
      return { route, ...result };
    }),
  );
  for (const result of results) assert.deepEqual(result, { route: result.route, ok: true, text: "ok" });
  const first = answers.findIndex((a) => a.status === 200);
  assert.ok(first >= 0, "the mock answered");
  const late = answers.slice(first).filter((a) => a.status === 429);
  assert.equal(late.length, 0, `${late.length} 429(s) after the first answer`);
  assert.equal(answers.filter((a) => a.status === 200).length, CALLS, "each call was answered once");

  const snapshot = await (await mf.dispatchFetch("http://worker/snapshot")).json();
  assert.equal(snapshot.counters.dispatched, CALLS, "every call went through the module-scope throttler");
  assert.deepEqual(snapshot.partitions.map((p) => p.key), [`${api.url} claude-test`], "one budget for every library");
  const requests = snapshot.partitions[0].dimensions.find((d) => d.name === "requests");
  assert.equal(requests.limit, 8, "the headers were read");
});
