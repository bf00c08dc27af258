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
const ANTHROPIC_ROUTES = ["ai-generate", "ai-stream", "langchain-invoke", "langchain-stream"];
const OPENAI_ROUTES = ["ai-openai-generate", "ai-openai-stream", "langchain-openai-invoke", "langchain-openai-stream"];
const CALLS = 24;

let api;
let openai;
let mf;
const answers = [];
const openaiAnswers = [];

before(async () => {
  // 6 requests refilled over 1.5 s (as workerd.test.mjs): 24 concurrent
  // calls are four times the limit.
  const limits = { requestsPerMinute: 6 };
  const mock = { limits, windowMs: 1500, latencyMs: 30 };
  api = await startMockApi({ ...mock, onAnswer: (answer) => answers.push(answer) });
  openai = await startMockApi({ ...mock, dialect: "openai", onAnswer: (answer) => openaiAnswers.push(answer) });
  mf = await startWorker(join(here, "frameworks-worker.js"), { API_URL: api.url, OPENAI_URL: openai.url }, { libraries: true });
});

after(async () => {
  await mf?.dispose();
  await api?.close();
  await openai?.close();
});

/** `CALLS` requests at once, spread over `routes`; each result with its route. */
function burst(routes) {
  return Promise.all(
    Array.from({ length: CALLS }, async (_, i) => {
      const route = routes[i % routes.length];
      const result = await (await mf.dispatchFetch(`http://worker/${route}?prompt=call+${i}`)).json();
      return { route, ...result };
    }),
  );
}

function assertNo429AfterTheFirstAnswer(answers) {
  const first = answers.findIndex((a) => a.status === 200);
  assert.ok(first >= 0, "the mock answered");
  const late = answers.slice(first).filter((a) => a.status === 429);
  assert.equal(late.length, 0, `${late.length} 429(s) after the first answer`);
  assert.equal(answers.filter((a) => a.status === 200).length, CALLS, "each call was answered once");
}

test("the AI SDK and LangChain in a Worker share one budget through a burst, with no 429 after the first answer", async () => {
  const results = await burst(ANTHROPIC_ROUTES);
  for (const result of results) assert.deepEqual(result, { route: result.route, ok: true, text: "ok" });
  assertNo429AfterTheFirstAnswer(answers);

  const snapshot = await (await mf.dispatchFetch("http://worker/snapshot")).json();
  assert.equal(snapshot.counters.dispatched, CALLS, "every call went through the module-scope throttler");
  assert.deepEqual(snapshot.partitions.map((p) => p.key), [`${api.url} claude-test`], "one budget for every library");
  const requests = snapshot.partitions[0].dimensions.find((d) => d.name === "requests");
  assert.equal(requests.limit, 6, "the headers were read");
});

test("the AI SDK's createOpenAI and LangChain's ChatOpenAI in a Worker go through a burst, with no 429 after the first answer", async () => {
  const results = await burst(OPENAI_ROUTES);
  for (const result of results) assert.deepEqual(result, { route: result.route, ok: true, text: "ok" });
  assertNo429AfterTheFirstAnswer(openaiAnswers);
  const snapshot = await (await mf.dispatchFetch("http://worker/snapshot")).json();
  const partition = snapshot.partitions.find((p) => p.key === `${openai.url} gpt-test`);
  assert.deepEqual(partition.dimensions.map((d) => d.name).sort(), ["requests", "tokens"], "the OpenAI headers were read");
});
