// Node: read the .wasm next to this file and instantiate it synchronously.
import { readFileSync } from "node:fs";
import { attach, imports } from "./init.js";

const bytes = readFileSync(new URL("./dist/headroom_bg.wasm", import.meta.url));
attach(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports));

export * from "./api.js";
