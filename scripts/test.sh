#!/usr/bin/env bash
# The one way to test headroom. Installs what is missing, builds, packs the
# package into a temporary project, runs every suite, and ends with one line:
# "N passed, N failed" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
logs="$PWD/.tmp/logs"
rm -rf "$logs" && mkdir -p "$logs"

bash scripts/setup.sh --browser || { echo "0 passed, 1 failed"; exit 1; }

failed_suites=()
# suite NAME COMMAND...: run one suite, keep its output for the tally.
suite() {
  local name=$1
  shift
  printf '\n=== %s\n' "$name"
  "$@" 2>&1 | tee "$logs/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "$rc" > "$logs/$name.rc"
  [ "$rc" = 0 ] || failed_suites+=("$name")
}

# The code's form: rustfmt (rustfmt.toml) and clippy with warnings denied,
# for the native core and for the wasm32 build with its JS layer and tests.
suite rust-fmt cargo fmt --check
suite rust-clippy bash -c 'cargo clippy --all-targets -- -D warnings && cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings'
suite rust-core cargo test
suite build bash scripts/build.sh
if [ -f pkg/dist/headroom_bg.wasm ] && suite consumer bash scripts/consumer.sh; then
  (
    cd .tmp/consumer || exit 1
    # --expose-gc at start: the leak tests collect garbage (see tests/support/gc.mjs).
    suite node node --expose-gc --test --test-reporter=spec --test-timeout=120000 tests/node/
    suite deno deno test --allow-net=127.0.0.1 tests/deno/
    # The same API suite as in Node, through Deno's node:test (type-checking
    # a .mjs file would need Node's type package, so it is skipped here).
    suite deno-api deno test --no-check --allow-net=127.0.0.1 tests/node/api.test.mjs
    suite workerd node --test --test-reporter=spec --test-timeout=120000 tests/workerd/
    suite chromium node --test --test-reporter=spec --test-timeout=120000 tests/browser/
  )
fi
# The wasm layer itself, through wasm-bindgen-test, in Node and headless Chromium.
suite wasm-node wasm-pack test --node
# The suite defaults to Node; this variable runs the same tests in the browser
# (without it the run skips every test and still exits 0).
WASM_BINDGEN_USE_BROWSER=1 suite wasm-chrome wasm-pack test --headless --chrome
# Subshell suites record their rc files; collect their failures too.
for rc in "$logs"/*.rc; do
  name=$(basename "$rc" .rc)
  [ "$(cat "$rc")" = 0 ] || [[ " ${failed_suites[*]} " == *" $name "* ]] || failed_suites+=("$name")
done

node scripts/tally.mjs "$logs" "${failed_suites[@]}"
