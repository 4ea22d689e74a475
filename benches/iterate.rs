//! Question: how fast does xradix walk its entries in index order — a full
//! iteration, and a range holding 1 % of the key space — against BTreeMap,
//! crossbeam SkipMap, scc::TreeIndex and congee?
//!
//! n = 1e5 and 1e6, dense (0..n) and sparse (n keys uniform in
//! [0, 2^26)). Times are per entry visited. congee has no iterator: its
//! `range` copies into a caller's buffer, which is what is timed.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{dense, sparse, Congee, Map, Scc, Xa, SPARSE_BITS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;
use xradix::pin;

fn iterate(c: &mut Criterion) {
    for n in [100_000usize, 1_000_000] {
        for (kind, keys) in [("dense", dense(n)), ("sparse", sparse(n))] {
            let span = if kind == "dense" {
                n as u64
            } else {
                1 << SPARSE_BITS
            };
            // 1 % of the key space, from the middle.
            let (lo, hi) = (span / 2, span / 2 + span / 100);
            let in_range = keys.iter().filter(|&&k| (lo..hi).contains(&k)).count();
            let mut g = c.benchmark_group(format!("iterate/{kind}/{n}"));
            g.throughput(Throughput::Elements(n as u64));
            {
                let xa = Xa::build(&keys);
                g.bench_function("full/xradix", |b| {
                    b.iter(|| {
                        let guard = pin();
                        xa.iter(&guard)
                            .map(|(_, e)| e.value().unwrap_or(0))
                            .fold(0u64, u64::wrapping_add)
                    })
                });
                g.throughput(Throughput::Elements(in_range as u64));
                g.bench_function("range1pct/xradix", |b| {
                    b.iter(|| {
                        let guard = pin();
                        xa.range(lo..hi, &guard)
                            .map(|(_, e)| e.value().unwrap_or(0))
                            .fold(0u64, u64::wrapping_add)
                    })
                });
            }
            {
                let m = BTreeMap::<u64, u64>::build(&keys);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_function("full/BTreeMap", |b| {
                    b.iter(|| m.values().fold(0u64, |a, v| a.wrapping_add(*v)))
                });
                g.throughput(Throughput::Elements(in_range as u64));
                g.bench_function("range1pct/BTreeMap", |b| {
                    b.iter(|| m.range(lo..hi).fold(0u64, |a, (_, v)| a.wrapping_add(*v)))
                });
            }
            {
                let m = SkipMap::<u64, u64>::build(&keys);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_function("full/SkipMap", |b| {
                    b.iter(|| m.iter().fold(0u64, |a, e| a.wrapping_add(*e.value())))
                });
                g.throughput(Throughput::Elements(in_range as u64));
                g.bench_function("range1pct/SkipMap", |b| {
                    b.iter(|| {
                        m.range(lo..hi)
                            .fold(0u64, |a, e| a.wrapping_add(*e.value()))
                    })
                });
            }
            {
                let m = Scc::build(&keys);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_function("full/scc::TreeIndex", |b| {
                    b.iter(|| {
                        let guard = scc::ebr::Guard::new();
                        m.iter(&guard).fold(0u64, |a, (_, v)| a.wrapping_add(*v))
                    })
                });
                g.throughput(Throughput::Elements(in_range as u64));
                g.bench_function("range1pct/scc::TreeIndex", |b| {
                    b.iter(|| {
                        let guard = scc::ebr::Guard::new();
                        m.range(lo..hi, &guard)
                            .fold(0u64, |a, (_, v)| a.wrapping_add(*v))
                    })
                });
            }
            {
                let m = Congee::build(&keys);
                let mut buf = vec![(0usize, 0usize); n];
                g.throughput(Throughput::Elements(n as u64));
                g.bench_function("full/congee", |b| {
                    b.iter(|| {
                        let guard = m.pin();
                        let got = m.range(&0, &usize::MAX, &mut buf, &guard);
                        buf[..got]
                            .iter()
                            .fold(0u64, |a, (_, v)| a.wrapping_add(*v as u64))
                    })
                });
                g.throughput(Throughput::Elements(in_range as u64));
                g.bench_function("range1pct/congee", |b| {
                    b.iter(|| {
                        let guard = m.pin();
                        let got = m.range(&(lo as usize), &(hi as usize), &mut buf, &guard);
                        buf[..got]
                            .iter()
                            .fold(0u64, |a, (_, v)| a.wrapping_add(*v as u64))
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = iterate
}
criterion_main!(benches);
