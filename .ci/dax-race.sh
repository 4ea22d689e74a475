#!/usr/bin/env bash
# The DAX example's randomized race test, long (examples/dax/tests/race.rs).
# DAX_RACE_SEEDS seeds (default 1000), in release: with no bug switched on
# no fsync may return Ok over a lost store; with each of issue 15's two
# races switched back on, every seed runs and the number that lose a store
# is printed (the test fails if none does). About 0.4 s a seed per test on
# 2 cores; .ci/test runs the same tests bounded, in debug.
set -euo pipefail
cd "$(dirname "$0")/.."
export DAX_RACE_SEEDS="${DAX_RACE_SEEDS:-1000}"
echo "== DAX race test, $DAX_RACE_SEEDS seeds per test"
cargo test --release --example dax tests::race -- --nocapture 2>&1 |
  grep -E '^(race|first|test |thread)|panicked|test result'
