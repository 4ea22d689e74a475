//! Question: what does a multi-order entry save on reads — a load anywhere
//! in 1,000 order-9 entries (2 MiB mappings of 512 pages each) against a
//! load from the 512,000 order-0 entries covering the same indices — and
//! how do BTreeMap alternatives compare (512,000 keys, or 1,000 extents
//! found with `range(..=i).next_back()`)?
//!
//! Loads hit every index of `0..512_000`, in key order and in random order
//! (ANCHORS.md's shuffle). Times are per load.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{cycle, dense, shuffled, Map, Xa};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xradix::Entry;

const EXTENTS: u64 = 1_000;
const ORDER: u32 = 9;
const N: usize = (EXTENTS as usize) << ORDER;

fn multi_order(c: &mut Criterion) {
    let keys = dense(N);
    let rand = shuffled(&keys);
    let big = Xa::new();
    for e in 0..EXTENTS {
        big.store_order(e << ORDER, ORDER, Entry::Value(e)).unwrap();
    }
    let small = Xa::build(&keys);
    let extents: BTreeMap<u64, (u64, u64)> = (0..EXTENTS)
        .map(|e| (e << ORDER, (1 << ORDER, e)))
        .collect();
    let pages = BTreeMap::<u64, u64>::build(&keys);

    let mut g = c.benchmark_group("multi_order/512000");
    g.throughput(Throughput::Elements(1));
    for (order, ks) in [("seq", &keys), ("rand", &rand)] {
        let mut pos = 0;
        g.bench_function(format!("{order}/xradix_order9"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                big.lookups(ks, &mut pos, iters);
                t.elapsed()
            })
        });
        g.bench_function(format!("{order}/xradix_order0"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                small.lookups(ks, &mut pos, iters);
                t.elapsed()
            })
        });
        g.bench_function(format!("{order}/BTreeMap_extents"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                cycle(ks, &mut pos, iters, |k| {
                    match extents.range(..=k).next_back() {
                        Some((&start, &(len, v))) if k - start < len => v,
                        _ => 0,
                    }
                });
                t.elapsed()
            })
        });
        g.bench_function(format!("{order}/BTreeMap_order0"), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                pages.lookups(ks, &mut pos, iters);
                t.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = multi_order
}
criterion_main!(benches);
