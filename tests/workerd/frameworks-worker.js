// The AI SDK and LangChain.js in a Worker, as users write one: a
// module-scope Throttler whose `fetch` every client of every request in this
// isolate shares, with the libraries' own retries off.
import { generateText, streamText } from "ai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { ChatAnthropic } from "@langchain/anthropic";
import { Throttler } from "headroom";

const throttler = new Throttler();

const clients = new Map();

/** The clients for one API URL, made once per isolate. */
function clientsFor(apiUrl) {
  if (!clients.has(apiUrl)) {
    const anthropic = createAnthropic({ baseURL: `${apiUrl}/v1`, apiKey: "sk-ant-test", fetch: throttler.fetch });
    const chat = new ChatAnthropic({
      model: "claude-test", apiKey: "sk-ant-test", anthropicApiUrl: apiUrl, maxTokens: 64, maxRetries: 0,
      clientOptions: { fetch: throttler.fetch },
    });
    clients.set(apiUrl, { anthropic, chat });
  }
  return clients.get(apiUrl);
}

const CALLS = {
  async "ai-generate"({ anthropic }, prompt) {
    const { text } = await generateText({ model: anthropic("claude-test"), prompt, maxOutputTokens: 64, maxRetries: 0 });
    return text;
  },
  async "ai-stream"({ anthropic }, prompt) {
    const errors = [];
    const result = streamText({ model: anthropic("claude-test"), prompt, maxOutputTokens: 64, maxRetries: 0, onError: ({ error }) => errors.push(error) });
    let text = "";
    for await (const delta of result.textStream) text += delta;
    if (errors.length) throw errors[0];
    return text;
  },
  async "langchain-invoke"({ chat }, prompt) {
    return (await chat.invoke(prompt)).text;
  },
  async "langchain-stream"({ chat }, prompt) {
    let text = "";
    for await (const chunk of await chat.stream(prompt)) text += chunk.text;
    return text;
  },
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/snapshot") return Response.json(throttler.snapshot());
    const call = CALLS[url.pathname.slice(1)];
    if (!call) return new Response("not found", { status: 404 });
    try {
      const text = await call(clientsFor(env.API_URL), url.searchParams.get("prompt") ?? "hi");
      return Response.json({ ok: true, text });
    } catch (error) {
      return Response.json({ ok: false, error: `${error?.name}: ${error?.message}` });
    }
  },
};
