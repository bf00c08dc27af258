// Garbage collection for tests that check what is collected. The collector
// must be exposed when the process starts (`node --expose-gc --test`, as
// scripts/test.sh runs the Node suite): turning the flag on at run time
// with v8.setFlagsFromString is undefined behaviour in V8, and was seen to
// crash its deoptimizer.

/** Collect `rounds` times, waiting `waitMs` after each so finalizers run. */
export async function collectGarbage(rounds = 3, waitMs = 5) {
  if (typeof globalThis.gc !== "function") throw new Error("this test needs the garbage collector: run node with --expose-gc");
  for (let i = 0; i < rounds; i++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}
