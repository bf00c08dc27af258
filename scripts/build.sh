#!/usr/bin/env bash
# Builds the npm package in pkg/: the wasm core, the wasm-bindgen glue of the
# bundler target in pkg/dist/, and the .wasm optimised by wasm-opt.
# Skips the work when pkg/dist is newer than every source file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

out=pkg/dist
wasm=target/wasm32-unknown-unknown/release/headroom.wasm
if [ -f "$out/headroom_bg.wasm" ] && [ -z "$(find src Cargo.toml Cargo.lock .cargo scripts/build.sh -newer "$out/headroom_bg.wasm" -print -quit)" ]; then
  echo "build: pkg/dist is up to date" >&2
  exit 0
fi

cargo build --lib --release --target wasm32-unknown-unknown
rm -rf "$out"
wasm-bindgen --target bundler --out-dir "$out" --out-name headroom --no-typescript "$wasm"
# The features Rust enables for wasm32 by default; every runtime we target has them.
# --converge repeats the passes while the module still shrinks.
wasm-opt -Oz --converge --enable-bulk-memory --enable-reference-types --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --strip-debug --strip-producers \
  "$out/headroom_bg.wasm" -o "$out/headroom_bg.wasm"
printf 'build: %s is %s bytes (%s gzipped)\n' "$out/headroom_bg.wasm" \
  "$(wc -c < "$out/headroom_bg.wasm")" "$(gzip -9 -c "$out/headroom_bg.wasm" | wc -c)" >&2
