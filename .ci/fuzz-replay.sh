#!/usr/bin/env bash
# Replays the committed seed corpus (fuzz/corpus/ops) through the `ops`
# fuzz target once per input: no fuzzing, just a regression check that
# fails on any crash (a model mismatch, a broken invariant, a panic, or an
# AddressSanitizer report). Twice: with the crate's 64-slot nodes, and with
# `--cfg xradix_small_nodes` (16-slot nodes, deeper trees for the same
# indices), the two builds the corpus was fuzzed with.
#
# Each input also reports the tree's conversions of compact bottom nodes
# (XRADIX_FUZZ_CONVERSIONS); the sums are printed, and every conversion,
# growing and shrinking, must have happened at least once in each build:
# the corpus holds seeds that force each one (the `churn-*` seeds, made by
# fuzz/seeds.py).
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing);
# without nightly it prints a line saying it skipped, and exits 0.
#
# Long fuzzing is not for CI; locally, for example:
#   cd fuzz && cargo +nightly fuzz run ops -s none -- -max_total_time=600
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export CARGO_TERM_COLOR=never

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-replay: SKIPPED: no nightly toolchain here (cargo-fuzz needs one)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-replay: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

n=$(find corpus/ops -type f | wc -l)
[ "$n" -gt 0 ] || { echo "fuzz-replay: the corpus fuzz/corpus/ops is empty"; exit 1; }

replay() {
  local what=$1
  shift
  echo "fuzz-replay: $n inputs, $what"
  # -runs=0: execute each input once, mutate nothing; cargo fuzz exits
  # non-zero on the first crash and prints the input and the panic.
  if ! "$@" -- -runs=0 >target/replay.log 2>&1; then
    cat target/replay.log
    echo "fuzz-replay: FAILED ($what)"
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' target/replay.log | tail -n 1 | sed 's/^/  /'
  local sums
  sums=$(sed -n 's/^XRADIX_CONVERSIONS \[\(.*\)\]$/\1/p' target/replay.log |
    awk -F', ' '{ for (i = 1; i <= NF; i++) s[i] += $i; if (NF > n) n = NF }
      END { for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), s[i] }')
  echo "  conversions [insert-below grow grow-to-Full to-Full-for-siblings shrink Full-to-compact]: $sums"
  if [ -z "$sums" ] || [ "$(echo "$sums" | wc -w)" -ne 6 ] || echo " $sums " | grep -q ' 0 '; then
    echo "fuzz-replay: FAILED ($what): the corpus no longer reaches every conversion"
    exit 1
  fi
}
export XRADIX_FUZZ_CONVERSIONS=1

mkdir -p target
replay "64-slot nodes, AddressSanitizer" \
  cargo +nightly fuzz run ops corpus/ops
replay "16-slot nodes, AddressSanitizer" \
  env RUSTFLAGS="--cfg xradix_small_nodes" cargo +nightly fuzz run ops --target-dir target/small-nodes-asan corpus/ops
echo "fuzz-replay: ok"
