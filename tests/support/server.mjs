// A tiny loopback server for tests that need exact control of each answer.
// `handler(req, body)` returns { status, headers, body } (or a promise of it).
// Every request is logged with its arrival time; close() stops the server.
import http from "node:http";

export async function startServer(handler) {
  const log = [];
  let inFlight = 0;
  let peakInFlight = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", async () => {
      const entry = { at: Date.now(), method: req.method, url: req.url, headers: req.headers, body };
      log.push(entry);
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      try {
        const answer = await handler(entry, log.length - 1);
        res.writeHead(answer.status ?? 200, answer.headers ?? {});
        res.end(answer.body ?? "");
      } catch (error) {
        res.writeHead(500);
        res.end(String(error));
      } finally {
        inFlight--;
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    peakInFlight: () => peakInFlight,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A server whose every answer is a 429 whose body starts and never ends
 * (headers sent, body held open). close() drops the held connections.
 */
export async function startEndless429() {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    res.writeHead(429, { "content-type": "application/json" });
    res.write('{"type":"error","error":{"type":"rate_limit_error","message":"slow down');
  });
  server.on("connection", (socket) => sockets.add(socket));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
