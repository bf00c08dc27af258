// Cloudflare Workers: a .wasm import is a compiled WebAssembly.Module
// (Workers cannot compile wasm from bytes). Instantiating runs no timer and
// draws no random number, so it is allowed at module top level.
import wasmModule from "./dist/headroom_bg.wasm";
import { attach, imports } from "./init.js";

attach(new WebAssembly.Instance(wasmModule, imports));

export * from "./api.js";
