// Deno (2.1 and later) imports a .wasm as a module and links its imports
// itself, so no file permission is needed. Deno instantiates it as the
// module graph loads; we attach its exports here.
import * as wasm from "./dist/headroom_bg.wasm";
import { attach } from "./init.js";

attach({ exports: wasm });

export * from "./api.js";
