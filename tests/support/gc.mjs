// The garbage collector, for tests that check what is collected. It must
// be exposed when the process starts (`node --expose-gc --test`, as
// scripts/test.sh runs the Node suite): turning the flag on at run time
// with v8.setFlagsFromString is undefined behaviour in V8, and was seen to
// crash its deoptimizer.
export function collector() {
  if (typeof globalThis.gc !== "function") throw new Error("this test needs the garbage collector: run node with --expose-gc");
  return globalThis.gc;
}
