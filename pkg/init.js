// Shared by every loader: the imports the .wasm needs, and what to do once
// it is instantiated. The loaders differ only in how they get the module.
import * as glue from "./dist/headroom_bg.js";
import { HeadroomError } from "./errors.js";

export const imports = { "./headroom_bg.js": glue };

export function attach(instance) {
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  glue.useErrorClass(HeadroomError);
}
