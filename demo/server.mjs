// The dashboard's server: www/ and the installed headroom package on
// 127.0.0.1, and the mock API behind the same origin, so the page reads every
// rate-limit header without CORS.
//
//   GET  /                  www/index.html (and the rest of www/)
//   GET  /headroom/<file>   the installed package (browser.js, dist/*.wasm, …)
//   POST /demo/mock         restarts the mock API: { options, burst? } → { config,
//                           stats, minimumMs } (the theoretical minimum time
//                           for `burst`, a list of request bodies)
//   GET  /demo/mock         the current mock's config and stats()
//   *    /v1/*              proxied to the current mock API
//
//   import { startDemoServer } from "./demo/server.mjs";
//   const server = await startDemoServer({ port: 0 });  // → { url, close() }
//
// Or from a shell: node demo/server.mjs [--port 8790] (stops on Ctrl-C);
// `npm run demo` serves it after its terminal burst.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { countInputTokens, startMockApi, theoreticalMinimumMs } from "../mock/api.mjs";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};
// Per connection, not per message: never copied from the mock's answer.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding"]);

/** The folder holding the package as `root` would import it. */
function packageDirectory(root) {
  const require = createRequire(join(root, "package.json"));
  return dirname(require.resolve("headroom/package.json"));
}

/** `relative` inside `dir`, or null when it would step outside. */
function inside(dir, relative) {
  const path = normalize(join(dir, relative));
  return path === dir || path.startsWith(dir + sep) ? path : null;
}

async function sendFile(res, path) {
  try {
    const body = await readFile(path);
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(body);
  } catch {
    sendJson(res, 404, { error: "not found" });
  }
}

function sendJson(res, status, value) {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(value));
}

async function readJson(req) {
  let raw = "";
  for await (const chunk of req) raw += chunk;
  return raw ? JSON.parse(raw) : {};
}

/**
 * Starts the server. `root` holds www/ and resolves the `headroom` package
 * (the repository, or the test's consumer project); `mock` is the first mock
 * API's options, replaced by each POST /demo/mock.
 */
export async function startDemoServer({ root = fileURLToPath(new URL("..", import.meta.url)), port = 0, mock = {} } = {}) {
  const www = join(root, "www");
  const headroom = packageDirectory(root);
  const upstream = new http.Agent({ keepAlive: true });
  let api = await startMockApi(mock);

  const proxy = (req, res) => {
    const target = new URL(req.url, api.url);
    const forward = http.request(target, { method: req.method, headers: req.headers, agent: upstream }, (answer) => {
      const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !HOP_BY_HOP.has(name)));
      res.writeHead(answer.statusCode, headers);
      answer.pipe(res);
    });
    forward.on("error", (error) => {
      if (!res.headersSent) sendJson(res, 502, { error: `the mock API did not answer: ${error.message}` });
      else res.destroy();
    });
    req.pipe(forward);
  };

  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, "http://localhost");
    try {
      if (pathname.startsWith("/v1/")) return proxy(req, res);
      if (pathname === "/demo/mock" && req.method === "POST") {
        const { options = {}, burst } = await readJson(req);
        const previous = api;
        api = await startMockApi({ ...mock, ...options });
        await previous.close();
        const minimumMs = burst && theoreticalMinimumMs(burst.map((body) => ({ input_tokens: countInputTokens(body), output_tokens: body.max_tokens ?? 0 })), api.config);
        return sendJson(res, 200, { config: api.config, stats: api.stats(), minimumMs });
      }
      if (pathname === "/demo/mock") return sendJson(res, 200, { config: api.config, stats: api.stats() });
      const relative = decodeURIComponent(pathname);
      const path = relative.startsWith("/headroom/")
        ? inside(headroom, relative.slice("/headroom/".length))
        : inside(www, relative === "/" ? "index.html" : relative);
      if (path) return sendFile(res, path);
      sendJson(res, 404, { error: "not found" });
    } catch (error) {
      sendJson(res, 400, { error: String(error.message ?? error) });
    }
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      upstream.destroy();
      await api.close();
    },
  };
}

/**
 * Serves the dashboard on `port` (a free one if it is taken), prints its
 * address, and keeps serving until Ctrl-C; then exits with `process.exitCode`.
 */
export async function serveUntilInterrupted(port = 8790) {
  const server = await startDemoServer({ port }).catch((error) => {
    if (error.code === "EADDRINUSE") return startDemoServer({ port: 0 });
    throw error;
  });
  console.log(`\nWatch a burst live in a browser: ${server.url}/  (Ctrl-C stops)`);
  process.once("SIGINT", async () => {
    await server.close();
    process.exit();
  });
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--port");
  await serveUntilInterrupted(i > 0 ? Number(process.argv[i + 1]) : undefined);
}
