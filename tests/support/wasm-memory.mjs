// The wasm linear memory of the instance the package makes, for the leak
// test. Imported before "headroom", it wraps WebAssembly.Instance so the
// first instance's memory is kept; the package itself exposes none. Linear
// memory only grows, so its size is an exact measure of what the Rust side
// holds at its peak, where the process's RSS moves by 15 % with no leak.
const Instance = WebAssembly.Instance;
let memory;
WebAssembly.Instance = function (module, imports) {
  const instance = new Instance(module, imports);
  memory ??= instance.exports.memory;
  return instance;
};
WebAssembly.Instance.prototype = Instance.prototype;

/** Bytes of the package's wasm memory; throws if no instance was made. */
export function wasmMemoryBytes() {
  if (!(memory instanceof WebAssembly.Memory)) throw new Error("no wasm instance was made after tests/support/wasm-memory.mjs was imported");
  return memory.buffer.byteLength;
}
