#!/usr/bin/env bash
# Runs the loom models of loom-tests/ (what each checks: the comment at the
# top of each loom-tests/tests/*.rs), in three passes:
#
# 1. every model, normal build: all must pass. That includes
#    multi_order_reads (issue 10: reads through a sibling vs erase + store
#    at the canonical slot, get_order vs a sibling run being written, an
#    iterator's restart), which were written to fail on the read paths
#    before the fix of issue 10;
# 2. the build with `--cfg xradix_loom_broken`, which weakens the head store
#    that publishes a grown tree (GROW_PUBLISH in src/cursor/write.rs) to
#    Relaxed: loom must fail the broken_grow_publish model there, and the
#    script checks that it failed for that reason; likewise the build with
#    `--cfg xradix_loom_broken_convert`, which weakens the store that
#    publishes a converted compact leaf (CONVERT_PUBLISH in
#    src/node/compact.rs): loom must fail both models of
#    broken_convert_publish there (an insert-below rebuild, and a shrink);
#    Shrink conversions (an erase rebuilding a bottom node smaller) happen
#    only in models whose tree was made with `Flags::LOOM_SHRINK` (those of
#    compact.rs and the shrink model of broken_convert_publish): in the
#    others, which erase for other reasons, a shrink multiplied the
#    schedules by up to 3000 (166 to 444,854 executions for one model);
# 3. every model again built with AddressSanitizer (nightly only; skipped
#    with a clear line where there is no nightly, or with LOOM_ASAN=0).
#    loom does not see plain memory, so a node or item freed while a
#    reader can still reach it (instead of through the epoch collector)
#    shows up only there, as a heap-use-after-free in the reader. ASan makes
#    loom about 15 times slower, so this pass uses a preemption bound of 1
#    (LOOM_ASAN_PREEMPTIONS), which is enough for a reader preempted inside
#    a node that a writer then frees.
#
# Bounds: LOOM_MAX_PREEMPTIONS=2 (loom's preemption bound) and
# LOOM_MAX_BRANCHES=20000 (the longest schedule of one execution; the epoch
# machinery is chatty). Each model prints "loom model NAME: N executions in
# T s"; the lines are collected in target/loom/report*.txt. Two test
# binaries run at a time. Budget: about 15 minutes on 2 cores (14.5 measured
# on 2026-12-01, most of it compact and reclaim under ASan), builds
# included.
set -euo pipefail
cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export LOOM_MAX_BRANCHES="${LOOM_MAX_BRANCHES:-20000}"
export CARGO_TERM_COLOR=never
jobs="${LOOM_JOBS:-2}"
start=$(date +%s)

out=target/loom
mkdir -p "$out/logs"

# The test binaries a `cargo test --no-run` build log names.
binaries() {
  # "Executable tests/grow.rs (target/loom/release/deps/grow-0123abcd)"
  sed -n 's/^ *Executable tests\/[^ ]* (\(.*\))$/\1/p' "$1"
}

# run_bin PASS BINARY: runs one model file, its output in a log.
run_bin() {
  local pass=$1 bin=$2 name log t0
  name=$(basename "$bin" | sed 's/-[0-9a-f]*$//')
  log="$LOGS/$pass-$name.txt"
  t0=$(date +%s)
  if "$bin" --nocapture --test-threads=1 >"$log" 2>&1; then
    echo "loom ($pass): $name passed ($(($(date +%s) - t0)) s)"
  else
    echo "loom ($pass): $name FAILED ($(($(date +%s) - t0)) s); its output:"
    tail -n 60 "$log"
    return 1
  fi
}
export -f run_bin
export LOGS="$out/logs"

# run_pass PASS BUILD_LOG REPORT [SKIP]: every binary of the build, $jobs at
# a time, except those whose name matches the regex SKIP.
run_pass() {
  local pass=$1 bins
  bins=$(binaries "$2" | grep -Ev "/(${4:-^$})-[0-9a-f]+$" || true)
  [ -n "$bins" ] || { echo "loom: no model binaries in $2"; cat "$2"; exit 1; }
  : >"$3"
  echo "loom ($pass): running $(echo "$bins" | wc -l) model files, $jobs at a time"
  if ! echo "$bins" | XRADIX_LOOM_REPORT="$3" xargs -P "$jobs" -I{} bash -c 'run_bin "$1" "$2"' _ "$pass" {}; then
    echo "loom ($pass): FAILED"
    exit 1
  fi
  echo "loom ($pass): $(wc -l <"$3") models passed:"
  sort "$3" | sed 's/^/  /'
}

# --- 1. every model, normal build --------------------------------------------
echo "loom: building the models (--cfg xradix_loom --cfg crossbeam_loom)"
RUSTFLAGS="--cfg xradix_loom --cfg crossbeam_loom" \
  cargo test -p xradix-loom-tests --release --target-dir "$out" --tests --no-run 2>"$LOGS/build.txt" ||
  { cat "$LOGS/build.txt"; exit 1; }
run_pass normal "$LOGS/build.txt" "$PWD/$out/report.txt"

# --- 2. the broken orderings must be caught ----------------------------------
# Builds the models with one publishing store weakened to Relaxed (`cfg`)
# and runs the model file written to catch it (`test`). That file passes
# only if loom failed its model, by a causality violation or the model's
# own "lost" assertion, and it prints XRADIX_LOOM_BROKEN_CAUGHT then.
must_catch() {
  local cfg=$1 test=$2 what=$3 log
  echo "loom: building with --cfg $cfg ($what is Relaxed)"
  RUSTFLAGS="--cfg xradix_loom --cfg crossbeam_loom --cfg $cfg" \
    cargo test -p xradix-loom-tests --release --target-dir "$out-$cfg" --test "$test" --no-run \
    2>"$LOGS/build-$cfg.txt" || { cat "$LOGS/build-$cfg.txt"; exit 1; }
  log="$LOGS/broken-$test.txt"
  if XRADIX_LOOM_REPORT=/dev/null "$(binaries "$LOGS/build-$cfg.txt")" --nocapture --test-threads=1 \
    >"$log" 2>&1 &&
    grep -Eq '^test result: ok\. [1-9][0-9]* passed; 0 failed' "$log" &&
    grep -q 'XRADIX_LOOM_BROKEN_CAUGHT' "$log"; then
    echo "loom (broken): the Relaxed $what was caught, as it must be:"
    sed -n 's/^XRADIX_LOOM_BROKEN_CAUGHT: /  /p' "$log"
  else
    echo "loom (broken): FAILED: the deliberately broken $what was not caught; output:"
    tail -n 60 "$log"
    exit 1
  fi
}
must_catch xradix_loom_broken broken_grow_publish GROW_PUBLISH
must_catch xradix_loom_broken_convert broken_convert_publish CONVERT_PUBLISH

# --- 3. every model again under AddressSanitizer -----------------------------
host=$(rustc +nightly -vV 2>/dev/null | sed -n 's/^host: //p' || true)
if [ "${LOOM_ASAN:-1}" = 0 ]; then
  echo "loom (asan): SKIPPED: LOOM_ASAN=0"
elif [ -z "$host" ]; then
  echo "loom (asan): SKIPPED: no nightly toolchain here (-Zsanitizer=address needs one)"
else
  echo "loom: building the models with -Zsanitizer=address ($host)"
  RUSTFLAGS="-Zsanitizer=address --cfg xradix_loom --cfg crossbeam_loom" \
    cargo +nightly test -p xradix-loom-tests --release --target "$host" --target-dir "$out-asan" --tests --no-run \
    2>"$LOGS/build-asan.txt" || { cat "$LOGS/build-asan.txt"; exit 1; }
  # Leak checking is off: loom keeps its own bookkeeping to the end.
  # cursor_stale is left out here: it checks what a cursor step answers
  # (a logic rule, which the normal pass checks), and its emptied-and-
  # regrown trees ran over 8 minutes under ASan; the memory side of a
  # reader inside a node that left the tree is what load_vs_shrink,
  # reclaim and the compact models check here.
  ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    LOOM_MAX_PREEMPTIONS="${LOOM_ASAN_PREEMPTIONS:-1}" run_pass asan "$LOGS/build-asan.txt" "$PWD/$out/report-asan.txt" cursor_stale
fi

echo "loom: all green in $(($(date +%s) - start)) s"
