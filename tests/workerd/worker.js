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
    const response = await throttler.fetch(`${env.API_URL}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: url.searchParams.get("n") ?? "" }] }),
    });
    const body = await response.json();
    return Response.json({ status: response.status, id: body.id });
  },
};
