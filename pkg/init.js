// Shared by every loader: the imports the .wasm needs, and what to do once
// it is instantiated. The loaders differ only in how they get the module.
import * as glue from "./dist/headroom_bg.js";
import { HeadroomError } from "./errors.js";

export const imports = { "./headroom_bg.js": glue };

const settled = Promise.resolve();

// The runner of a throttler's `run` calls, made once per throttler from its
// hooks: a call that may go starts its work in a microtask of its own, as an
// `async` function's body would after `await`, gives it `report` (bound to
// the call) alone, and hands how it ended back to headroom, which passes the
// value on or throws the error again. In JS, this is one call out of wasm
// per call instead of six.
function makeRunner(report, finished, threw) {
  return (work, id) =>
    settled
      .then(() => work((headers, status) => report(id, headers, status)))
      .then((value) => finished(id, value), (error) => threw(id, error));
}

export function attach(instance) {
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  glue.useErrorClass(HeadroomError);
  glue.useRunner(makeRunner);
}
