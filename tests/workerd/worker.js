// A Worker as users write one: a module-scope Throttler shared by every
// request this isolate serves at once.
import { Throttler, HeadroomError } from "headroom";

const throttler = new Throttler({ maxConcurrent: 2 });

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/snapshot") return Response.json(throttler.snapshot());
    if (url.pathname === "/refused") {
      const strict = new Throttler({ limits: { tokensPerMinute: 10 } });
      try {
        await strict.fetch(`${env.API_URL}/v1/messages`, { method: "POST", body: JSON.stringify({ max_tokens: 50 }) });
        return Response.json({ refused: false });
      } catch (error) {
        return Response.json({ refused: error instanceof HeadroomError, code: error.code });
      }
    }
    if (url.pathname === "/week" || url.pathname === "/endless") {
      // Two calls to a server that asks for a week's wait, or one whose
      // 429's body never ends: each settles, and says how.
      const traps = new Throttler({ maxRetries: url.pathname === "/week" ? 2 : 1 });
      const target = url.searchParams.get("url");
      const answers = [];
      for (let i = 0; i < (url.pathname === "/week" ? 2 : 1); i++) {
        const response = await traps.fetch(target, { method: "POST", body: "{}" });
        answers.push({ status: response.status, retryAfter: response.headers.get("retry-after") });
        await response.body?.cancel();
      }
      return Response.json({ answers, retried: traps.snapshot().counters.retried });
    }
    if (url.pathname === "/bad-input") {
      const errors = [];
      for (const input of [123, undefined]) {
        try {
          await throttler.fetch(input);
          errors.push(null);
        } catch (error) {
          errors.push({ name: error.name, typeError: error instanceof TypeError, message: error.message });
        }
      }
      return Response.json(errors);
    }
    if (url.pathname === "/image") {
      // A Build-tier budget and a photo whose base64 alone is 1.5 million
      // characters: sent, costed by its size.
      const strict = new Throttler({ limits: "anthropic-build" });
      const png = Uint8Array.from(atob(url.searchParams.get("png")), (c) => c.charCodeAt(0));
      const photo = new Uint8Array(1_100_000);
      photo.set(png);
      let data = "";
      for (let i = 0; i < photo.length; i += 30_000) data += btoa(String.fromCharCode(...photo.subarray(i, i + 30_000)));
      const content = [{ type: "image", source: { type: "base64", media_type: "image/png", data } }, { type: "text", text: "What is this?" }];
      const response = await strict.fetch(`${env.API_URL}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content }] }),
      });
      return Response.json({ status: response.status });
    }
    const response = await throttler.fetch(`${env.API_URL}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: url.searchParams.get("n") ?? "" }] }),
    });
    const body = await response.json();
    return Response.json({ status: response.status, id: body.id });
  },
};
