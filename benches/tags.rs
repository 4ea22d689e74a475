//! Question: how fast does xradix find the entries carrying a mark — the
//! dirty pages of a file — and run the writeback loop, against a full scan
//! with a mark check and against the honest alternative, a BTreeMap with a
//! BTreeSet of dirty keys kept beside it?
//!
//! n = 1e6 dense value entries; 0.1 %, 1 %, 10 % and 100 % of them DIRTY,
//! placed at random or clustered in runs of 16. Times are per marked entry.
//!
//! - `iter_marked`: `xa.iter_marked(.., DIRTY)`; `scan+get_mark`: `xa.iter()`
//!   filtered by `xa.get_mark(i, DIRTY)`; `btreeset+get`: walk the set and
//!   look each key up in the map (same output: key and value);
//!   `btreeset_keys`: walk the set alone (a lower bound for the
//!   alternative, which then lacks the values).
//! - `tag_range`: `tag_range(.., DIRTY, TOWRITE)` vs rebuilding the set
//!   (`towrite = dirty.iter().collect()`), the snapshot it stands for.
//!   What is timed is the call alone; between calls TOWRITE is cleared,
//!   untimed, by a `cursor_mut` walk of the TOWRITE entries, so each timed
//!   call finds the nodes holding marks in the cache as that walk left them
//!   (warm: the definition `examples/bench_report.rs` and the kxa harness
//!   use too; the marks are fresh each call). Per marked entry: at 1 %,
//!   10,000 DIRTY entries of the 1e6 (`marked_keys`, the first 1 % of the
//!   random order of ANCHORS.md when at random).
//! - `writeback`: tag_range, then under one `lock()` a `cursor_mut(0)`
//!   walk of `next_marked(TOWRITE)` clearing TOWRITE and DIRTY on each,
//!   vs rebuilding the set and walking it, removing each key from the dirty
//!   set and reading its value.
//!
//! Defaults: 10 samples, 0.3 s warm-up, 2 s measurement per bench;
//! criterion's `--sample-size`, `--warm-up-time` and `--measurement-time`
//! override them.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{dense, marked_keys, Map, Xa};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xradix::{pin, Mark};

const N: usize = 1_000_000;

fn set_marks(xa: &Xa, keys: &[u64], mark: Mark) {
    let l = xa.lock();
    for &k in keys {
        l.set_mark(k, mark);
    }
}

/// The writeback loop: returns how many entries it cleaned.
fn writeback(xa: &Xa) -> u64 {
    xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE);
    let l = xa.lock();
    let mut c = l.cursor_mut(0);
    let mut sum = 0u64;
    while let Some(e) = c.next_marked(Mark::TOWRITE, u64::MAX) {
        sum = sum.wrapping_add(e.value().unwrap_or(0));
        c.clear_mark(Mark::TOWRITE);
        c.clear_mark(Mark::DIRTY);
    }
    black_box(sum)
}

fn writeback_set(map: &BTreeMap<u64, u64>, dirty: &mut BTreeSet<u64>) -> u64 {
    let towrite: BTreeSet<u64> = dirty.iter().copied().collect();
    let mut sum = 0u64;
    for k in &towrite {
        sum = sum.wrapping_add(map.get(k).copied().unwrap_or(0));
        dirty.remove(k);
    }
    black_box(sum)
}

fn tags(c: &mut Criterion) {
    let keys = dense(N);
    let map = BTreeMap::<u64, u64>::build(&keys);
    for clustered in [false, true] {
        for pct in [0.1, 1.0, 10.0, 100.0] {
            let marked = marked_keys(N, pct, clustered);
            let k = marked.len() as u64;
            let layout = if clustered { "clustered" } else { "random" };
            let xa = Xa::build(&keys);
            set_marks(&xa, &marked, Mark::DIRTY);
            let dirty: BTreeSet<u64> = marked.iter().copied().collect();

            let mut g = c.benchmark_group(format!("tags/{layout}/{pct}pct"));
            g.throughput(Throughput::Elements(k));
            g.bench_function("iter_marked/xradix", |b| {
                b.iter(|| {
                    let guard = pin();
                    xa.iter_marked(.., Mark::DIRTY, &guard)
                        .fold(0u64, |a, (_, e)| a.wrapping_add(e.value().unwrap_or(0)))
                })
            });
            g.bench_function("scan+get_mark/xradix", |b| {
                b.iter(|| {
                    let guard = pin();
                    xa.iter(&guard)
                        .filter(|&(i, _)| xa.get_mark(i, Mark::DIRTY))
                        .fold(0u64, |a, (_, e)| a.wrapping_add(e.value().unwrap_or(0)))
                })
            });
            g.bench_function("btreeset+get", |b| {
                b.iter(|| {
                    dirty.iter().fold(0u64, |a, k| {
                        a.wrapping_add(map.get(k).copied().unwrap_or(0))
                    })
                })
            });
            g.bench_function("btreeset_keys", |b| {
                b.iter(|| dirty.iter().fold(0u64, |a, k| a.wrapping_add(*k)))
            });

            g.bench_function("tag_range/xradix", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        black_box(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE));
                        total += t.elapsed();
                        let l = xa.lock();
                        let mut c = l.cursor_mut(0);
                        while c.next_marked(Mark::TOWRITE, u64::MAX).is_some() {
                            c.clear_mark(Mark::TOWRITE);
                        }
                    }
                    total
                })
            });
            g.bench_function("tag_range/btreeset_rebuild", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let towrite: BTreeSet<u64> = dirty.iter().copied().collect();
                        total += t.elapsed();
                        black_box(&towrite);
                        drop(towrite);
                    }
                    total
                })
            });
            g.bench_function("writeback/xradix", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let cleaned = writeback(&xa);
                        total += t.elapsed();
                        black_box(cleaned);
                        set_marks(&xa, &marked, Mark::DIRTY);
                    }
                    total
                })
            });
            g.bench_function("writeback/btreeset", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut d = dirty.clone();
                        let t = Instant::now();
                        black_box(writeback_set(&map, &mut d));
                        total += t.elapsed();
                        drop(d);
                    }
                    total
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = tags
}
criterion_main!(benches);
