//! Question: do xradix's lock-free readers keep their speed while a writer
//! works — reader throughput alone vs with one writer erasing and storing
//! random keys — and how does that compare with `RwLock<BTreeMap>` under
//! the same writer, and with crossbeam SkipMap, scc::TreeIndex and congee?
//!
//! n = 1e6 dense keys; readers load random keys (ANCHORS.md's shuffle).
//! Threads: `XRADIX_BENCH_THREADS` in total (default 2): one writer and
//! the rest readers; "alone" runs the same readers with no writer.
//! Lock-free readers pin once per 64 reads; the `RwLock` reader takes the
//! read lock per read. criterion's time is per read per reader; its
//! throughput line is all readers together.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::time::Duration;

use common::{dense, run, shuffled, ConcurrentMap, Congee, Locked, Scc, Xa};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;

const N: usize = 1_000_000;
fn threads() -> usize {
    std::env::var("XRADIX_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
        .max(2)
}

fn one<M: ConcurrentMap>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    keys: &[u64],
    rand: &[u64],
    readers: usize,
) {
    let m = M::build(keys);
    for (name, writer) in [("alone", false), ("with_writer", true)] {
        g.bench_function(format!("{name}/{}", M::NAME), |b| {
            b.iter_custom(|iters| run(&m, rand, readers, writer, iters).wall)
        });
    }
}

fn concurrent(c: &mut Criterion) {
    let t = threads();
    let readers = t - 1;
    let keys = dense(N);
    let rand = shuffled(&keys);
    let mut g = c.benchmark_group(format!("concurrent/{readers}r1w/{N}"));
    g.throughput(Throughput::Elements(readers as u64));
    one::<Xa>(&mut g, &keys, &rand, readers);
    one::<Locked>(&mut g, &keys, &rand, readers);
    one::<SkipMap<u64, u64>>(&mut g, &keys, &rand, readers);
    one::<Scc>(&mut g, &keys, &rand, readers);
    one::<Congee>(&mut g, &keys, &rand, readers);
    g.finish();
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = concurrent
}
criterion_main!(benches);
