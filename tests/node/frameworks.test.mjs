// The Vercel AI SDK and LangChain.js with headroom as their `fetch`, the
// hand-off users of those libraries make: a burst well over the limit goes
// through every one of them with no 429 once the first answer has shown
// the limits, and headroom's estimate reads the bodies they send (content
// as arrays of blocks, system prompts, tool definitions) as well as it
// reads the official SDKs'. Everything runs against the loopback mock API.
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { generateText, jsonSchema, streamText, tool } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatAnthropic } from "@langchain/anthropic";
import { ChatOpenAI } from "@langchain/openai";
import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { Throttler } from "headroom";
import { countInputTokens, startMockApi } from "../../mock/api.mjs";

const ANTHROPIC_KEY = "sk-ant-test";
const OPENAI_KEY = "sk-test";
const MAX_TOKENS = 64;

/** Every text of an AI SDK stream; an error the stream reported is thrown. */
async function streamedText(result, errors) {
  let text = "";
  for await (const delta of result.textStream) text += delta;
  if (errors.length) throw errors[0];
  return text;
}

/** Every text of a LangChain stream. */
async function chunksText(stream) {
  let text = "";
  for await (const chunk of stream) text += chunk.text;
  return text;
}

// Each way a user calls a model through these libraries, given the mock's
// URL, headroom's `fetch` and a prompt; each resolves with the answer's text.
const aiAnthropic = (url, fetch) => createAnthropic({ baseURL: `${url}/v1`, apiKey: ANTHROPIC_KEY, fetch })("claude-test");
const aiOpenAI = (url, fetch) => createOpenAI({ baseURL: `${url}/v1`, apiKey: OPENAI_KEY, fetch }).chat("gpt-test");
const chatAnthropic = (url, fetch) =>
  new ChatAnthropic({ model: "claude-test", apiKey: ANTHROPIC_KEY, anthropicApiUrl: url, maxTokens: MAX_TOKENS, maxRetries: 0, clientOptions: { fetch } });
const chatOpenAI = (url, fetch) =>
  new ChatOpenAI({ model: "gpt-test", apiKey: OPENAI_KEY, maxTokens: MAX_TOKENS, maxRetries: 0, configuration: { baseURL: `${url}/v1`, fetch } });

const COMBINATIONS = [
  ["the AI SDK's generateText through createAnthropic", "anthropic", async (url, fetch, prompt) =>
    (await generateText({ model: aiAnthropic(url, fetch), prompt, maxOutputTokens: MAX_TOKENS, maxRetries: 0 })).text],
  ["the AI SDK's streamText through createAnthropic", "anthropic", (url, fetch, prompt) => {
    const errors = [];
    const result = streamText({ model: aiAnthropic(url, fetch), prompt, maxOutputTokens: MAX_TOKENS, maxRetries: 0, onError: ({ error }) => errors.push(error) });
    return streamedText(result, errors);
  }],
  ["the AI SDK's generateText through createOpenAI", "openai", async (url, fetch, prompt) =>
    (await generateText({ model: aiOpenAI(url, fetch), prompt, maxOutputTokens: MAX_TOKENS, maxRetries: 0 })).text],
  ["the AI SDK's streamText through createOpenAI", "openai", (url, fetch, prompt) => {
    const errors = [];
    const result = streamText({ model: aiOpenAI(url, fetch), prompt, maxOutputTokens: MAX_TOKENS, maxRetries: 0, onError: ({ error }) => errors.push(error) });
    return streamedText(result, errors);
  }],
  ["LangChain's ChatAnthropic.invoke", "anthropic", async (url, fetch, prompt) => (await chatAnthropic(url, fetch).invoke(prompt)).text],
  ["LangChain's ChatAnthropic.stream", "anthropic", async (url, fetch, prompt) => chunksText(await chatAnthropic(url, fetch).stream(prompt))],
  ["LangChain's ChatOpenAI.invoke", "openai", async (url, fetch, prompt) => (await chatOpenAI(url, fetch).invoke(prompt)).text],
  ["LangChain's ChatOpenAI.stream", "openai", async (url, fetch, prompt) => chunksText(await chatOpenAI(url, fetch).stream(prompt))],
];

const CALLS = 24;

for (const [name, dialect, call] of COMBINATIONS) {
  test(`${name} answers a burst of three times the limit, with no 429 after the first answer`, async () => {
    const answers = [];
    // 8 requests refilled over 1 s: 24 calls at once are three times the limit.
    const api = await startMockApi({
      dialect, limits: { requestsPerMinute: 8 }, windowMs: 1000, latencyMs: 5, onAnswer: (answer) => answers.push(answer),
    });
    try {
      const throttler = new Throttler();
      const texts = await Promise.all(Array.from({ length: CALLS }, (_, i) => call(api.url, throttler.fetch, `call ${i}`)));
      assert.deepEqual(texts, Array(CALLS).fill("ok"), "every call got the mock's answer");
      assert.equal(throttler.snapshot().counters.dispatched, CALLS, "every call went through headroom");
      const first = answers.findIndex((a) => a.status === 200);
      assert.ok(first >= 0, "the mock answered");
      const late = answers.slice(first).filter((a) => a.status === 429);
      assert.equal(late.length, 0, `${late.length} 429(s) after the first answer`);
      assert.equal(answers.filter((a) => a.status === 200).length, CALLS, "each call was answered once");
    } finally {
      await api.close();
    }
  });
}

// One conversation: a system prompt, a user message, one tool.
const SYSTEM = "You are a travel assistant. Answer in two sentences at most, say which sources you used, and ask before you book anything on the traveller's behalf.";
const USER = "What will the weather be like in Lisbon next Tuesday, and should I pack an umbrella for a long walk along the river in the afternoon?";
const TOOL = {
  name: "get_weather",
  description: "Get the forecast for a city on a given day: the temperature range, the chance of rain and the wind speed.",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string", description: "The name of the city, for example Lisbon." },
      day: { type: "string", description: "The day as an ISO 8601 date, for example 2026-06-02." },
      unit: { type: "string", enum: ["celsius", "fahrenheit"], description: "The unit of the temperatures." },
    },
    required: ["city", "day"],
  },
};

// Each library's call for the conversation, or a part of it: `system` and
// `tool` say whether the system prompt and the tool are in it.
const SENDERS = {
  anthropic: {
    "the Anthropic SDK": (url, fetch, { system, tool: withTool }) =>
      new Anthropic({ apiKey: ANTHROPIC_KEY, baseURL: url, fetch, maxRetries: 0 }).messages.create({
        model: "claude-test", max_tokens: MAX_TOKENS, messages: [{ role: "user", content: USER }],
        ...(system && { system: SYSTEM }),
        ...(withTool && { tools: [{ name: TOOL.name, description: TOOL.description, input_schema: TOOL.parameters }] }),
      }),
    "the AI SDK (createAnthropic)": (url, fetch, options) => aiGenerate(aiAnthropic(url, fetch), options),
    "LangChain (ChatAnthropic)": (url, fetch, options) => langchainInvoke(chatAnthropic(url, fetch), options),
  },
  openai: {
    "the OpenAI SDK": (url, fetch, { system, tool: withTool }) =>
      new OpenAI({ apiKey: OPENAI_KEY, baseURL: `${url}/v1`, fetch, maxRetries: 0 }).chat.completions.create({
        model: "gpt-test", max_tokens: MAX_TOKENS,
        messages: [...(system ? [{ role: "system", content: SYSTEM }] : []), { role: "user", content: USER }],
        ...(withTool && { tools: [{ type: "function", function: TOOL }] }),
      }),
    "the AI SDK (createOpenAI)": (url, fetch, options) => aiGenerate(aiOpenAI(url, fetch), options),
    "LangChain (ChatOpenAI)": (url, fetch, options) => langchainInvoke(chatOpenAI(url, fetch), options),
  },
};

function aiGenerate(model, { system, tool: withTool }) {
  return generateText({
    model, prompt: USER, maxOutputTokens: MAX_TOKENS, maxRetries: 0,
    ...(system && { system: SYSTEM }),
    ...(withTool && { tools: { [TOOL.name]: tool({ description: TOOL.description, inputSchema: jsonSchema(TOOL.parameters) }) } }),
  });
}

function langchainInvoke(chat, { system, tool: withTool }) {
  const model = withTool ? chat.bindTools([{ type: "function", function: TOOL }]) : chat;
  return model.invoke([...(system ? [new SystemMessage(SYSTEM)] : []), new HumanMessage(USER)]);
}

/**
 * Send one call through `send` with the static limits of Anthropic's Build
 * tier, and read the JSON body the library sent and what headroom reserved
 * for its input: the tokens the snapshot shows missing as the call is sent,
 * less the output tokens the body asks for.
 */
async function estimateOf(api, send, options) {
  let sent = null;
  const throttler = new Throttler({
    limits: "anthropic-build",
    fetch: (input, init) => {
      if (!sent) {
        assert.equal(typeof init?.body, "string", "the library sent its body as a string");
        const body = JSON.parse(init.body);
        const tokens = throttler.snapshot().partitions[0].dimensions.find((d) => d.name === "tokens");
        const output = body.max_tokens ?? body.max_output_tokens ?? body.max_completion_tokens ?? 0;
        sent = { body, reserved: tokens.limit - tokens.remaining - output };
      }
      return fetch(input, init);
    },
  });
  await send(api.url, throttler.fetch, options);
  assert.ok(sent, "the call went through headroom");
  return { ...sent, counted: countInputTokens(sent.body), error: sent.reserved / countInputTokens(sent.body) - 1 };
}

const signed = (x, digits) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(digits)}`;
const percent = (x) => `${signed(x, 1)} %`;

for (const [dialect, senders] of Object.entries(SENDERS)) {
  const [official, ...frameworks] = Object.keys(senders);
  test(`the estimate reads the AI SDK's and LangChain's ${dialect === "anthropic" ? "Anthropic" : "OpenAI"} bodies within 10 points of ${official}'s`, async (t) => {
    const api = await startMockApi({ dialect, latencyMs: 5 });
    try {
      const results = {};
      for (const [name, send] of Object.entries(senders)) {
        const userOnly = await estimateOf(api, send, { system: false, tool: false });
        const withSystem = await estimateOf(api, send, { system: true, tool: false });
        const full = await estimateOf(api, send, { system: true, tool: true });
        results[name] = full;
        t.diagnostic(`${name}: estimate ${full.reserved}, mock count ${full.counted}, error ${percent(full.error)}`);

        // The parts are in the body, and the estimate counts each: it grows
        // by at least half of what the mock counts for the part.
        const text = JSON.stringify(full.body);
        assert.ok(text.includes(SYSTEM) && text.includes(TOOL.description) && text.includes(USER), `${name} sent the whole conversation`);
        for (const [part, before, after] of [["the system prompt", userOnly, withSystem], ["the tool", withSystem, full]]) {
          const grew = after.reserved - before.reserved;
          const counted = after.counted - before.counted;
          assert.ok(counted > 0, `${name}: the mock counts ${part}`);
          assert.ok(grew >= counted / 2, `${name}: ${part} added ${grew} to the estimate, the mock counts ${counted}`);
        }
      }
      for (const name of frameworks) {
        const gap = results[name].error - results[official].error;
        t.diagnostic(`${name} against ${official}: ${signed(gap, 2)} points`);
        assert.ok(Math.abs(gap) <= 0.1, `${name}: error ${percent(results[name].error)}, ${official}'s ${percent(results[official].error)}`);
      }
      assert.equal(api.stats().refused, 0);
    } finally {
      await api.close();
    }
  });
}
