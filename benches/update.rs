//! Question: what does a write cost in xradix — a store into an empty tree
//! (fill), an overwrite, an erase, an insert — with value entries and with
//! items (`Arc`), against BTreeMap, crossbeam SkipMap, scc::TreeIndex and
//! congee?
//!
//! Fill: dense keys in order and sparse keys in random order, n = 1e5 and
//! 1e6 (dense). Overwrite, erase and insert: n = 1e5 keys in random order.
//! xradix uses the plain API (the lock taken per call) and, as
//! `xradix/locked`, one `lock()` held for the batch. Times are per
//! operation; building and dropping the structures is not timed.
//!
//! Bulk builds (in the fill groups): `xradix/try_extend` stores the keys
//! with `XArray::try_extend` (ascending runs fill whole bottom nodes and
//! link each once; other orders fall back to stores), `xradix/collect`
//! collects them into a new `XArray<(), u32>` (`FromIterator`, the same
//! path; u64 is not a `SmallValue`).
//!
//! `drop/dense_seq/1000000` and `clear/dense_seq/1000000`: the time to drop
//! a tree of 1e6 dense value entries (built untimed with a store loop),
//! and to `clear` one, per entry, against dropping a `BTreeMap` of the same
//! keys. `cargo bench --bench memory` prints the bytes they give back.
//!
//! Defaults: 10 samples, 0.3 s warm-up, 2 s measurement per bench;
//! criterion's `--sample-size`, `--warm-up-time` and `--measurement-time`
//! override them.

#![allow(missing_docs)] // criterion_main! makes an undocumented `pub fn main`
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{dense, shuffled, sparse, Congee, Map, Scc, Xa};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;
use xradix::{Entry, XArray};

type XaItems = XArray<u64, u64>;
type XaU32 = XArray<(), u32>;
type G<'a> = BenchmarkGroup<'a, WallTime>;

/// Times `op` over every key of `keys` on a structure made fresh (untimed)
/// by `make` for each iteration; the structure is dropped untimed.
fn each<S>(
    g: &mut G<'_>,
    name: &str,
    keys: &[u64],
    make: impl Fn() -> S,
    op: impl Fn(&mut S, &[u64]),
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut s = make();
                let t = Instant::now();
                op(&mut s, keys);
                total += t.elapsed();
                black_box(&s);
                drop(s);
            }
            total
        })
    });
}

fn group<'a>(c: &'a mut Criterion, name: &str, n: usize) -> G<'a> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(n as u64));
    g
}

fn fill(c: &mut Criterion) {
    let sets = [
        ("fill/dense_seq/100000", dense(100_000)),
        ("fill/dense_seq/1000000", dense(1_000_000)),
        ("fill/sparse_rand/100000", shuffled(&sparse(100_000))),
    ];
    for (name, keys) in &sets {
        let mut g = group(c, name, keys.len());
        each(&mut g, "xradix", keys, Xa::new, |xa, ks| {
            for &k in ks {
                xa.store(k, Entry::Value(k)).unwrap();
            }
        });
        each(&mut g, "xradix/locked", keys, Xa::new, |xa, ks| {
            let l = xa.lock();
            for &k in ks {
                l.store(k, Entry::Value(k)).unwrap();
            }
        });
        each(&mut g, "xradix/try_extend", keys, Xa::new, |xa, ks| {
            xa.try_extend(ks.iter().map(|&k| (k, Entry::Value(k))))
                .unwrap();
        });
        each(
            &mut g,
            "xradix/collect",
            keys,
            || None,
            |xa: &mut Option<XaU32>, ks| {
                *xa = Some(ks.iter().map(|&k| (k, Entry::Value(k as u32))).collect());
            },
        );
        each(
            &mut g,
            "BTreeMap",
            keys,
            BTreeMap::<u64, u64>::new,
            |m, ks| {
                for &k in ks {
                    m.insert(k, k);
                }
            },
        );
        each(
            &mut g,
            "SkipMap",
            keys,
            SkipMap::<u64, u64>::new,
            |m, ks| {
                for &k in ks {
                    m.insert(k, k);
                }
            },
        );
        each(&mut g, "scc::TreeIndex", keys, Scc::new, |m, ks| {
            for &k in ks {
                let _ = m.insert(k, k);
            }
        });
        each(&mut g, "congee", keys, Congee::default, |m, ks| {
            let guard = m.pin();
            for &k in ks {
                m.insert(k as usize, k as usize, &guard).unwrap();
            }
        });
        each(&mut g, "items/xradix", keys, XaItems::new, |xa, ks| {
            for &k in ks {
                xa.store(k, Entry::Item(Arc::new(k))).unwrap();
            }
        });
        each(
            &mut g,
            "items/BTreeMap",
            keys,
            BTreeMap::<u64, Arc<u64>>::new,
            |m, ks| {
                for &k in ks {
                    m.insert(k, Arc::new(k));
                }
            },
        );
        g.finish();
    }
}

fn modify(c: &mut Criterion) {
    let n = 100_000;
    let keys = dense(n);
    let rand = shuffled(&keys);

    // Overwrite: every key of a full map, in random order.
    let mut g = group(c, "overwrite/dense_rand/100000", n);
    let xa = Xa::build(&keys);
    g.bench_function("xradix", |b| {
        b.iter(|| {
            for &k in &rand {
                xa.store(k, Entry::Value(k + 1)).unwrap();
            }
        })
    });
    drop(xa);
    let xi = XaItems::new();
    for &k in &keys {
        xi.store(k, Entry::Item(Arc::new(k))).unwrap();
    }
    g.bench_function("items/xradix", |b| {
        b.iter(|| {
            for &k in &rand {
                black_box(xi.store(k, Entry::Item(Arc::new(k))).unwrap());
            }
        })
    });
    drop(xi);
    let mut bt = BTreeMap::<u64, u64>::build(&keys);
    g.bench_function("BTreeMap", |b| {
        b.iter(|| {
            for &k in &rand {
                bt.insert(k, k + 1);
            }
        })
    });
    drop(bt);
    let sk = SkipMap::<u64, u64>::build(&keys);
    g.bench_function("SkipMap", |b| {
        b.iter(|| {
            for &k in &rand {
                sk.insert(k, k + 1);
            }
        })
    });
    drop(sk);
    let cg = Congee::build(&keys);
    g.bench_function("congee", |b| {
        b.iter(|| {
            let guard = cg.pin();
            for &k in &rand {
                cg.insert(k as usize, k as usize + 1, &guard).unwrap();
            }
        })
    });
    drop(cg);
    g.finish();

    // Erase: every key of a full map, in random order.
    let mut g = group(c, "erase/dense_rand/100000", n);
    each(
        &mut g,
        "xradix",
        &rand,
        || Xa::build(&keys),
        |xa, ks| {
            for &k in ks {
                xa.erase(k);
            }
        },
    );
    each(
        &mut g,
        "xradix/locked",
        &rand,
        || Xa::build(&keys),
        |xa, ks| {
            let l = xa.lock();
            for &k in ks {
                l.erase(k);
            }
        },
    );
    each(
        &mut g,
        "BTreeMap",
        &rand,
        || BTreeMap::<u64, u64>::build(&keys),
        |m, ks| {
            for &k in ks {
                m.remove(&k);
            }
        },
    );
    each(
        &mut g,
        "SkipMap",
        &rand,
        || SkipMap::<u64, u64>::build(&keys),
        |m, ks| {
            for &k in ks {
                m.remove(&k);
            }
        },
    );
    each(
        &mut g,
        "scc::TreeIndex",
        &rand,
        || Scc::build(&keys),
        |m, ks| {
            for &k in ks {
                m.remove(&k);
            }
        },
    );
    each(
        &mut g,
        "congee",
        &rand,
        || Congee::build(&keys),
        |m, ks| {
            let guard = m.pin();
            for &k in ks {
                m.remove(&(k as usize), &guard);
            }
        },
    );
    g.finish();

    // Insert (fails on an occupied index): into an empty map, random order.
    let mut g = group(c, "insert/dense_rand/100000", n);
    each(&mut g, "xradix", &rand, Xa::new, |xa, ks| {
        for &k in ks {
            xa.insert(k, Entry::Value(k)).unwrap();
        }
    });
    each(&mut g, "items/xradix", &rand, XaItems::new, |xa, ks| {
        for &k in ks {
            xa.insert(k, Entry::Item(Arc::new(k))).unwrap();
        }
    });
    each(
        &mut g,
        "BTreeMap",
        &rand,
        BTreeMap::<u64, u64>::new,
        |m, ks| {
            for &k in ks {
                m.entry(k).or_insert(k);
            }
        },
    );
    each(
        &mut g,
        "items/BTreeMap",
        &rand,
        BTreeMap::<u64, Arc<u64>>::new,
        |m, ks| {
            for &k in ks {
                m.entry(k).or_insert_with(|| Arc::new(k));
            }
        },
    );
    each(&mut g, "scc::TreeIndex", &rand, Scc::new, |m, ks| {
        for &k in ks {
            m.insert(k, k).unwrap();
        }
    });
    g.finish();
}

/// Times `release` (dropping or clearing) a structure built untimed by
/// `make` for each iteration.
fn release<S>(g: &mut G<'_>, name: &str, make: impl Fn() -> S, release: impl Fn(S)) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let s = make();
                let t = Instant::now();
                release(s);
                total += t.elapsed();
            }
            total
        })
    });
}

fn give_back(c: &mut Criterion) {
    let n = 1_000_000;
    let keys = dense(n);
    let mut g = group(c, "drop/dense_seq/1000000", n);
    release(&mut g, "xradix", || Xa::build(&keys), drop);
    release(
        &mut g,
        "BTreeMap",
        || BTreeMap::<u64, u64>::build(&keys),
        drop,
    );
    g.finish();
    let mut g = group(c, "clear/dense_seq/1000000", n);
    release(&mut g, "xradix", || Xa::build(&keys), |xa| xa.clear());
    release(
        &mut g,
        "BTreeMap",
        || BTreeMap::<u64, u64>::build(&keys),
        |mut m| m.clear(),
    );
    g.finish();
}

criterion_group! {
    name = benches;
    // Defaults only: `configure_from_args` (called by the macro) lets
    // criterion's command-line flags override them.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = fill, modify, give_back
}
criterion_main!(benches);
