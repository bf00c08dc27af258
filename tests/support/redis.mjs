// Real Redis for the Redis coordinator's tests and benchmark: a
// `redis-server` per test on a free loopback port (no persistence), the two
// clients the coordinator is tested with, and throttlers in child processes
// (tests/support/redis-sender.mjs) that send their share of a burst; and a
// stand-in for Redis in memory, for what a real server cannot be made to do.
import { spawn, fork } from "node:child_process";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `redis-server` on `port` (default: a free one) as a child in the
 * foreground; resolves once it accepts connections. `kill()` ends it at
 * once (SIGKILL, its data lost), `restart()` starts it again on the same
 * port, `stop()` ends it for good.
 */
export async function startRedis(port) {
  port ??= await freePort();
  let child = null;
  // However the test process ends, its servers end with it.
  const orphaned = () => child?.kill("SIGKILL");
  process.once("exit", orphaned);
  const launch = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    const exited = new Promise((_, reject) => child.once("exit", (code) => reject(new Error(`redis-server exited (${code}) before accepting connections`))));
    exited.catch(() => {});
    for (let tries = 0; ; tries++) {
      if (await accepts(port)) return;
      if (tries > 100) throw new Error(`redis-server did not listen on port ${port}`);
      await Promise.race([new Promise((r) => setTimeout(r, 50)), exited]);
    }
  };
  const end = async (signal) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await gone;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end("SIGKILL"),
    restart: launch,
    stop: async () => {
      process.off("exit", orphaned);
      await end("SIGTERM");
    },
  };
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/**
 * A client of the kind named ("node-redis" or "ioredis") for the server on
 * `port`, its errors (a server going away) silenced; `connected` resolves
 * when it first connects (never, for a port nothing listens on), `close()`
 * ends it.
 */
export async function redisClient(kind, port) {
  if (kind === "node-redis") {
    const { createClient } = await import("redis");
    const client = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: () => 100 } });
    client.on("error", () => {});
    const connected = client.connect();
    connected.catch(() => {});
    return { client, connected, close: () => client.destroy?.() ?? client.disconnect() };
  }
  if (kind === "ioredis") {
    const { default: Redis } = await import("ioredis");
    const client = new Redis({ host: "127.0.0.1", port, retryStrategy: () => 100 });
    client.on("error", () => {});
    const connected = new Promise((resolve) => client.once("ready", resolve));
    return { client, connected, close: () => client.disconnect() };
  }
  throw new Error(`no Redis client named ${kind}`);
}

export const CLIENTS = ["node-redis", "ioredis"];

/** The grants a budget's state in Redis holds (see pkg/redis.js for its hash). */
export async function storedGrants(client, name) {
  const state = typeof client.hGet === "function" ? await client.hGet(`headroom:${name}`, "s") : await client.hget(`headroom:${name}`, "s");
  return JSON.parse(state).grants.grants;
}

/**
 * Forks one sender per entry of `shares` (each the list of call ids it
 * sends) with `setup` (see redis-sender.mjs), waits until all are ready,
 * starts them at once and resolves with what each reported. Each child is
 * killed if the test ends first.
 */
export async function runSenders(shares, setup, { signal } = {}) {
  const children = shares.map(() => fork(join(here, "redis-sender.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  const stopAll = () => children.forEach((c) => c.exitCode === null && c.kill("SIGKILL"));
  signal?.addEventListener("abort", stopAll);
  try {
    const next = (child, type) => new Promise((resolve, reject) => {
      child.on("message", (m) => m.type === type && resolve(m));
      child.once("exit", (code) => reject(new Error(`a sender exited (${code}) before it said ${type}`)));
    });
    const ready = children.map((child, i) => {
      child.send({ type: "setup", setup, ids: shares[i] });
      return next(child, "ready");
    });
    await Promise.all(ready);
    const done = children.map((child) => next(child, "done"));
    const started = Date.now();
    children.forEach((child) => child.send({ type: "go" }));
    const reports = await Promise.all(done);
    return { reports, ms: Date.now() - started };
  } finally {
    stopAll();
  }
}

/** A stand-in for Redis in memory that runs the coordinator's script's compare-and-set by hand; `hold` keeps answers back. */
export function handRedis() {
  const hash = new Map();
  const redis = {
    hash,
    hold: null,
    async eval(_script, _keys, [expected, version, state]) {
      const v = hash.get("v") ?? "";
      const answer = v !== expected ? [0, v, hash.get("s") ?? ""] : [1];
      if (v === expected && state) hash.set("v", version).set("s", state);
      return redis.hold ?? answer;
    },
  };
  return redis;
}
