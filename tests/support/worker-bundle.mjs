// Bundles a Worker the way wrangler does: "headroom" is resolved with the
// "workerd" condition, and `.wasm` imports stay imports of compiled modules,
// copied next to the bundle. Used by the workerd suite and the benchmark.
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as esbuild from "esbuild";

/** Bundle `entry` into `outdir` (a new temporary folder by default); returns `outdir`. */
export async function bundleWorker(entry, { outdir = mkdtempSync(join(tmpdir(), "headroom-worker-")), nodePaths = [] } = {}) {
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
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    nodePaths,
    outfile: join(outdir, "worker.js"),
    plugins: [wasmModules],
    logLevel: "error",
  });
  return outdir;
}

/** Bundle `entry` and start it in workerd through Miniflare, with `bindings`; ready to dispatch. */
export async function startWorker(entry, bindings) {
  const { Miniflare } = await import("miniflare");
  const outdir = await bundleWorker(entry);
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(outdir, "worker.js"),
    modulesRoot: outdir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-06-01",
    bindings,
    cf: false,
  });
  await mf.ready;
  return mf;
}
