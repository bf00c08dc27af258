// Import headroom in a bench's child process, keeping the WebAssembly
// instance its loader creates, so that the wasm memory's size can be read.
export async function importHeadroom() {
  let instance;
  const Instance = WebAssembly.Instance;
  WebAssembly.Instance = function (...args) {
    instance = new Instance(...args);
    return instance;
  };
  try {
    const headroom = await import("headroom");
    return { ...headroom, wasmBytes: () => instance.exports.memory.buffer.byteLength };
  } finally {
    WebAssembly.Instance = Instance;
  }
}
