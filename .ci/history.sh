#!/usr/bin/env bash
# The history checker's long run (tests/history.rs): lock-free readers
# against serialised writers, every observation checked against the states
# the tree went through. `.ci/test` runs a bounded version of the same test
# in debug builds; this one runs each scenario for XRADIX_HISTORY_SECS
# seconds (default 45) in release builds, where the reads race often
# enough to catch rare interleavings, with 64-slot and with 16-slot nodes.
# One scenario at a time (--test-threads=1): the readers and writers of
# one scenario already fill two cores.
#
# On a violation it prints the counterexample (index, what was seen, the
# window, the index's states in it, the writer's operations around it)
# and the seed, and exits non-zero. Each scenario prints a summary line of
# its counts (writer operations, observations checked per kind,
# iterations, steps).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
secs=${XRADIX_HISTORY_SECS:-45}

echo "history: release, 64-slot nodes, ${secs} s per scenario"
XRADIX_HISTORY_SECS=$secs cargo test --release --test history -- --nocapture --test-threads=1

echo "history: release, 16-slot nodes, ${secs} s per scenario"
RUSTFLAGS="--cfg xradix_small_nodes" XRADIX_HISTORY_SECS=$secs \
  cargo test --release --test history --target-dir target/small-nodes -- --nocapture --test-threads=1
echo "history: ok"
