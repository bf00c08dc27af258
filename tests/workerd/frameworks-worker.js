// The AI SDK and LangChain.js in a Worker, as users write one: a
// module-scope Throttler whose `fetch` every client of every request in this
// isolate shares, with the libraries' own retries off.
import { generateText, streamText } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatAnthropic } from "@langchain/anthropic";
import { ChatOpenAI } from "@langchain/openai";
import { Throttler } from "headroom";

const throttler = new Throttler();

const clients = new Map();

/** The clients for the two APIs, made once per isolate. */
function clientsFor(env) {
  const key = `${env.API_URL} ${env.OPENAI_URL}`;
  if (!clients.has(key)) {
    const anthropic = createAnthropic({ baseURL: `${env.API_URL}/v1`, apiKey: "sk-ant-test", fetch: throttler.fetch })("claude-test");
    const chat = new ChatAnthropic({
      model: "claude-test", apiKey: "sk-ant-test", anthropicApiUrl: env.API_URL, maxTokens: 64, maxRetries: 0,
      clientOptions: { fetch: throttler.fetch },
    });
    const openai = createOpenAI({ baseURL: `${env.OPENAI_URL}/v1`, apiKey: "sk-test", fetch: throttler.fetch }).chat("gpt-test");
    const chatOpenAI = new ChatOpenAI({
      model: "gpt-test", apiKey: "sk-test", maxTokens: 64, maxRetries: 0,
      configuration: { baseURL: `${env.OPENAI_URL}/v1`, fetch: throttler.fetch },
    });
    clients.set(key, { anthropic, chat, openai, chatOpenAI });
  }
  return clients.get(key);
}

/** The text of an AI SDK stream; an error it reported is thrown. */
async function streamed(model, prompt) {
  const errors = [];
  const result = streamText({ model, prompt, maxOutputTokens: 64, maxRetries: 0, onError: ({ error }) => errors.push(error) });
  let text = "";
  for await (const delta of result.textStream) text += delta;
  if (errors.length) throw errors[0];
  return text;
}

/** The text of a LangChain stream. */
async function chunks(chat, prompt) {
  let text = "";
  for await (const chunk of await chat.stream(prompt)) text += chunk.text;
  return text;
}

const generated = async (model, prompt) => (await generateText({ model, prompt, maxOutputTokens: 64, maxRetries: 0 })).text;

const CALLS = {
  "ai-generate": ({ anthropic }, prompt) => generated(anthropic, prompt),
  "ai-stream": ({ anthropic }, prompt) => streamed(anthropic, prompt),
  "ai-openai-generate": ({ openai }, prompt) => generated(openai, prompt),
  "ai-openai-stream": ({ openai }, prompt) => streamed(openai, prompt),
  "langchain-invoke": async ({ chat }, prompt) => (await chat.invoke(prompt)).text,
  "langchain-stream": ({ chat }, prompt) => chunks(chat, prompt),
  "langchain-openai-invoke": async ({ chatOpenAI }, prompt) => (await chatOpenAI.invoke(prompt)).text,
  "langchain-openai-stream": ({ chatOpenAI }, prompt) => chunks(chatOpenAI, prompt),
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/snapshot") return Response.json(throttler.snapshot());
    const call = CALLS[url.pathname.slice(1)];
    if (!call) return new Response("not found", { status: 404 });
    try {
      const text = await call(clientsFor(env), url.searchParams.get("prompt") ?? "hi");
      return Response.json({ ok: true, text });
    } catch (error) {
      return Response.json({ ok: false, error: `${error?.name}: ${error?.message}` });
    }
  },
};
