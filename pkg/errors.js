// The error class headroom rejects with. It lives in JS because a Rust type
// cannot extend Error. Each loader hands it to the wasm core once at start-up
// and re-exports it, so `instanceof HeadroomError` holds in every runtime.
export class HeadroomError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "HeadroomError";
    this.code = code;
    if (details) Object.assign(this, details);
  }
}
