// Bundles a Worker the way wrangler does: "headroom" is resolved with the
// "workerd" condition, and `.wasm` imports stay imports of compiled modules,
// copied next to the bundle. Used by the workerd suite and the benchmark.
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as esbuild from "esbuild";

/**
 * Bundle `entry` into `outdir` (a new temporary folder by default); returns `outdir`.
 *
 * `libraries: true` resolves npm libraries written for Node and browsers
 * (the AI SDK, LangChain.js) as wrangler does: esbuild's browser platform,
 * so a package.json `browser` field swaps out Node-only files and a package
 * with only `main` resolves, and a `node:` import that nothing provides is
 * left external (wrangler leaves it and warns), so it fails only if it runs.
 */
export async function bundleWorker(entry, { outdir = mkdtempSync(join(tmpdir(), "headroom-worker-")), nodePaths = [], libraries = false } = {}) {
  const wasmModules = {
    name: "wasm-modules",
    setup(build) {
      build.onResolve({ filter: /\.wasm$/ }, (args) => {
        const source = join(args.resolveDir, args.path);
        copyFileSync(source, join(outdir, basename(source)));
        return { path: `./${basename(source)}`, external: true };
      });
    },
  };
  const nodeBuiltins = {
    name: "node-builtins",
    setup(build) {
      build.onResolve({ filter: /^node:/ }, async ({ path, kind, resolveDir, importer, pluginData }) => {
        if (pluginData?.nodeBuiltin) return undefined;
        const result = await build.resolve(path, { kind, resolveDir, importer, pluginData: { nodeBuiltin: true } });
        return result.errors.length ? { path, external: true } : result;
      });
    },
  };
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: libraries ? "browser" : "neutral",
    conditions: ["workerd", "worker", "browser"],
    // The runtime's own modules (Durable Object base classes and the like).
    external: ["cloudflare:*"],
    nodePaths,
    outfile: join(outdir, "worker.js"),
    plugins: libraries ? [wasmModules, nodeBuiltins] : [wasmModules],
    logLevel: "error",
  });
  return outdir;
}

/** Miniflare's options for the bundle in `outdir`. */
function workerOptions(outdir, { libraries = false } = {}) {
  return {
    // The `node:` imports a libraries bundle leaves external are the runtime's to provide.
    ...(libraries ? { compatibilityFlags: ["nodejs_compat"] } : {}),
    modules: true,
    scriptPath: join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-06-01",
  };
}

/**
 * Bundle `entry` and start it in workerd through Miniflare, with `bindings`;
 * ready to dispatch. `options.libraries` is bundleWorker's.
 */
export async function startWorker(entry, bindings, { libraries = false } = {}) {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({ ...workerOptions(await bundleWorker(entry, { libraries }), { libraries }), bindings, cf: false });
  await mf.ready;
  return mf;
}

/**
 * Start several Workers in one workerd, each its own isolate: `workers` is a
 * list of { name, entry, bindings?, durableObjects? } (Miniflare's options
 * of those names). `mf.getWorker(name)` then dispatches to one of them.
 */
export async function startWorkers(workers) {
  const { Miniflare } = await import("miniflare");
  const bundles = new Map();
  for (const { entry } of workers) if (!bundles.has(entry)) bundles.set(entry, await bundleWorker(entry));
  const mf = new Miniflare({
    cf: false,
    workers: workers.map(({ name, entry, bindings = {}, durableObjects = {} }) => ({
      name,
      ...workerOptions(bundles.get(entry)),
      bindings,
      durableObjects,
    })),
  });
  await mf.ready;
  return mf;
}
