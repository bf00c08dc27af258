// The chaos storm inside a Worker: one module-scope storm (one Throttler)
// serves slices of calls from several concurrent requests, as a busy
// isolate would. /summary and /fresh report on it afterwards.
import { Throttler, HeadroomError } from "headroom";
import { makeStorm } from "../support/storm.mjs";

let storm;

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    storm ??= makeStorm({ Throttler, HeadroomError, url: env.API_URL, seed: Number(env.SEED) });
    if (url.pathname === "/storm") {
      const started = Date.now();
      await storm.run(Number(url.searchParams.get("from")), Number(url.searchParams.get("to")), 50);
      return Response.json({ ms: Date.now() - started });
    }
    if (url.pathname === "/summary") return Response.json(storm.summary());
    if (url.pathname === "/fresh") return Response.json(await storm.fresh());
    return new Response("not found", { status: 404 });
  },
};
