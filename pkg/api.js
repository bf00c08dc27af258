// The public surface, the same in every runtime. Nothing here runs wasm at
// import time, so it may be evaluated before a loader has attached it.
export { Throttler, parseRateLimitHeaders } from "./dist/headroom_bg.js";
export { HeadroomError } from "./errors.js";
