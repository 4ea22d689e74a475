#!/usr/bin/env bash
# miri over the unit tests, the model test and the stress test (sizes are
# reduced under cfg(miri) in those tests), with strict provenance: slot
# words are tagged pointers, and miri checks that every pointer we rebuild
# from a word keeps the provenance of the allocation it points into.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  if ! rustup component add --toolchain nightly miri rust-src >/dev/null 2>&1; then
    echo "SKIPPED miri: the nightly toolchain's miri component cannot be installed on this machine"
    exit 0
  fi
fi
# Our own tagged-pointer code (the unit tests of src/, which do not touch
# crossbeam-epoch) runs under strict provenance: every pointer rebuilt
# from a slot word must keep the provenance of its allocation.
MIRIFLAGS="-Zmiri-strict-provenance" cargo +nightly miri test --lib

# The tree as a whole goes through crossbeam-epoch, which casts integers
# to pointers (no strict provenance possible there) and trips Stacked
# Borrows in its own list code; Tree Borrows with permissive provenance is
# the model it passes under. Its collector also leaves garbage at exit by
# design, so the leak check is off (the drop-counting tests check our own
# frees).
export MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks"
tests=()
for t in model stress api multi_order; do
  [ -f "tests/$t.rs" ] && tests+=(--test "$t")
done
cargo +nightly miri test "${tests[@]}"
cargo +nightly miri run --example basic
