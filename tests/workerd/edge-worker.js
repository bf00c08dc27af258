// A Worker that calls the API through a module-scope Throttler. With a
// HEADROOM binding the budget is shared through the coordinator; without
// one it is this isolate's own.
import { Throttler } from "headroom";

let throttler;
const seen = [];

function throttlerFor(env) {
  throttler ??= new Throttler({
    maxRetries: 6,
    ...(env.HEADROOM ? { coordinator: env.HEADROOM, leaseSize: Number(env.LEASE_SIZE ?? 4), fallbackRetryMs: 60_000 } : {}),
    onEvent: (event) => {
      if (event.type === "fallback" || event.type === "coordinated") seen.push(event);
    },
  });
  return throttler;
}

async function call(env, label) {
  const started = Date.now();
  const response = await throttlerFor(env).fetch(`${env.API_URL}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", max_tokens: 10, messages: [{ role: "user", content: label }] }),
  });
  await response.text();
  return { status: response.status, ms: Date.now() - started };
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/burst") {
      const n = Number(url.searchParams.get("n"));
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: n }, (_, i) => call(env, `call ${i}`)));
      return Response.json({ statuses: results.map((r) => r.status), ms: Date.now() - started });
    }
    if (url.pathname === "/sequential") {
      const n = Number(url.searchParams.get("n"));
      const started = Date.now();
      for (let i = 0; i < n; i++) await call(env, `call ${i}`);
      return Response.json({ ms: Date.now() - started });
    }
    if (url.pathname === "/restart") {
      const stub = env.HEADROOM.get(env.HEADROOM.idFromName("headroom"));
      const error = await stub.restart().then(() => null, (e) => String(e));
      return Response.json({ error });
    }
    if (url.pathname === "/coordinator") {
      const stub = env.HEADROOM.get(env.HEADROOM.idFromName("headroom"));
      return Response.json(await stub.snapshot());
    }
    if (url.pathname === "/events") return Response.json(seen);
    if (url.pathname === "/snapshot") return Response.json(throttlerFor(env).snapshot());
    return new Response("not found", { status: 404 });
  },
};
