//! Question: how fast is a point read (`load`) in xradix, against the
//! ordered maps a user would pick instead (BTreeMap, crossbeam SkipMap,
//! scc::TreeIndex, congee), for hits and misses, in key order and in random
//! order, on dense keys (0..n) and sparse ones (n keys uniform in
//! [0, 2^26))?
//!
//! n = 1e3, 1e5, 1e6; 1e7 too with `XRADIX_BENCH_LONG=1`. Random order is
//! the Fisher–Yates shuffle of ANCHORS.md (xorshift64 13/7/17, seed
//! 0x9E3779B97F4A7C15). Values map each key to itself; xradix stores value
//! entries. Lock-free structures pin one guard per timed batch (a reader
//! pins once per batch). Times are per lookup.
//!
//! `load_many/dense/{n}`: the same random hits on xradix as a loop of
//! `load` (`load_loop`), through `XArray::load_many` (`load_many`), and the
//! floor, a flat `Vec<u64>` read in the same order (`flat_array`); n = 1e6,
//! and 1e7 with `XRADIX_BENCH_LONG=1`.
//!
//! Defaults: 20 samples, 0.3 s warm-up, 1 s measurement per bench;
//! criterion's `--sample-size`, `--warm-up-time` and `--measurement-time`
//! override them.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{dense, flat_lookups, load_many_sum, misses, shuffled, sparse, Congee, Map, Scc, Xa};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;

fn sizes() -> Vec<usize> {
    let mut v = vec![1_000, 100_000, 1_000_000];
    if std::env::var("XRADIX_BENCH_LONG").is_ok_and(|v| v == "1") {
        v.push(10_000_000);
    }
    v
}

fn one<M: Map>(
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    m: &M,
    sets: &[(&str, &[u64])],
) {
    for (name, keys) in sets {
        let mut pos = 0;
        g.bench_function(format!("{name}/{}", M::NAME), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                m.lookups(keys, &mut pos, iters);
                t.elapsed()
            })
        });
    }
}

fn lookup(c: &mut Criterion) {
    for n in sizes() {
        for (kind, keys) in [("dense", dense(n)), ("sparse", sparse(n))] {
            let miss = misses(&keys, kind == "sparse");
            let hit_rand = shuffled(&keys);
            let miss_rand = shuffled(&miss);
            let sets: [(&str, &[u64]); 4] = [
                ("hit_seq", &keys),
                ("hit_rand", &hit_rand),
                ("miss_seq", &miss),
                ("miss_rand", &miss_rand),
            ];
            let mut g = c.benchmark_group(format!("lookup/{kind}/{n}"));
            g.throughput(Throughput::Elements(1));
            // One structure alive at a time keeps the cache and memory
            // conditions equal.
            one(&mut g, &Xa::build(&keys), &sets);
            one(&mut g, &BTreeMap::<u64, u64>::build(&keys), &sets);
            one(&mut g, &SkipMap::<u64, u64>::build(&keys), &sets);
            one(&mut g, &Scc::build(&keys), &sets);
            one(&mut g, &Congee::build(&keys), &sets);
            g.finish();
        }
    }
}

/// Batched lookups against a loop of `load` and the flat-array floor.
fn load_many(c: &mut Criterion) {
    let mut ns = vec![1_000_000];
    if sizes().contains(&10_000_000) {
        ns.push(10_000_000);
    }
    for n in ns {
        let keys = dense(n);
        let rand = shuffled(&keys);
        let mut g = c.benchmark_group(format!("load_many/dense/{n}"));
        g.throughput(Throughput::Elements(1));
        {
            let xa = Xa::build(&keys);
            let mut pos = 0;
            g.bench_function("hit_rand/load_loop", |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    xa.lookups(&rand, &mut pos, iters);
                    t.elapsed()
                })
            });
            g.bench_function("hit_rand/load_many", |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    load_many_sum(&xa, &rand, &mut pos, iters);
                    t.elapsed()
                })
            });
        }
        let flat = keys.clone();
        let mut pos = 0;
        g.bench_function("hit_rand/flat_array", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                flat_lookups(&flat, &rand, &mut pos, iters);
                t.elapsed()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = lookup, load_many
}
criterion_main!(benches);
