// Browsers and anything else with fetch: stream the .wasm next to this file.
// Top-level await: importers wait until it is ready.
import { attach, imports } from "./init.js";

const url = new URL("./dist/headroom_bg.wasm", import.meta.url);
async function instantiate() {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`headroom: could not load ${url}: HTTP ${response.status}`);
  try {
    return (await WebAssembly.instantiateStreaming(response.clone(), imports)).instance;
  } catch {
    // Served without `Content-Type: application/wasm`: compile from bytes.
    return (await WebAssembly.instantiate(await response.arrayBuffer(), imports)).instance;
  }
}
attach(await instantiate());

export * from "./api.js";
