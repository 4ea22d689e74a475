//! Threaded stress: writers change the tree while readers load and iterate
//! without a lock. Every value encodes where it was stored, so a reader can
//! tell a value that was never stored at the index it read. Bounded by
//! operation counts, not time; smaller under miri.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use xradix::{pin, Entry, EntryRef, Mark, XArray, CHUNK_SHIFT};

const READERS: usize = 3;

fn scale(normal: u64, miri: u64) -> u64 {
    if cfg!(miri) {
        miri
    } else {
        normal
    }
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// Counts readers in and lets the writer wait for all of them, so that the
/// writes really overlap the reads.
struct Gate(AtomicUsize);

impl Gate {
    fn new() -> Gate {
        Gate(AtomicUsize::new(0))
    }
    fn arrive(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
    fn wait_for(&self, n: usize) {
        while self.0.load(Ordering::Acquire) < n {
            std::thread::yield_now();
        }
    }
}

/// Flushes the default collector until `done()` holds, for up to ten
/// seconds: other tests' threads may hold the epoch back for a while.
fn flush_until(mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    let mut i = 0u64;
    while start.elapsed() < Duration::from_secs(10) {
        if done() {
            return true;
        }
        pin().flush();
        i += 1;
        if i % 64 == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    done()
}

/// An item that knows its code and counts its drops.
#[derive(Debug)]
struct Item {
    code: u64,
    drops: Arc<AtomicUsize>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

type Xa = XArray<Item, u64>;

fn code_of(e: EntryRef<'_, Item, u64>) -> u64 {
    match e {
        EntryRef::Value(x) => x,
        EntryRef::Item(it) => it.code,
    }
}

// ---------------------------------------------------------------------------
// Order-0 entries: store, erase, insert, cmpxchg, cursor walks.

/// The indices the writer uses: dense low ones (the first `STABLE` always
/// hold an entry), a few across a 2^32 boundary and a few at the top.
fn index_list(n_dense: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n_dense).collect();
    v.extend((0..64).map(|k| (1u64 << 32) - 32 + k));
    v.extend((0..32).map(|k| u64::MAX - k));
    v
}

const GENS: u64 = 1000;

#[test]
fn one_writer_stores_and_erases_while_readers_load_and_iterate() {
    let n_dense = scale(2000, 48);
    let stable = n_dense / 10;
    let ops = scale(40_000, 150);
    let list = index_list(n_dense);
    let pos_of: BTreeMap<u64, u64> = list
        .iter()
        .enumerate()
        .map(|(p, &i)| (i, p as u64))
        .collect();
    let drops = Arc::new(AtomicUsize::new(0));
    let created = AtomicUsize::new(0);
    let xa = Xa::new();
    let make = |p: u64, gen: u64, item: bool| -> Entry<Item, u64> {
        let code = p * GENS + gen % GENS;
        if item {
            created.fetch_add(1, Ordering::Relaxed);
            Entry::Item(Arc::new(Item {
                code,
                drops: drops.clone(),
            }))
        } else {
            Entry::Value(code)
        }
    };
    for p in 0..stable {
        xa.store(list[p as usize], make(p, 0, p % 2 == 0)).unwrap();
    }
    let done = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let gate = Gate::new();
    // What the writer stored last at each position (code), for the end.
    let mut last: BTreeMap<u64, u64> = (0..stable).map(|p| (p, p * GENS)).collect();

    std::thread::scope(|s| {
        for r in 0..READERS {
            let (xa, list, pos_of, done, reads, gate) = (&xa, &list, &pos_of, &done, &reads, &gate);
            s.spawn(move || {
                gate.arrive();
                let mut rng = Rng::new(r as u64 + 100);
                let max_iters = scale(2_000_000, 1_000);
                let mut iters = 0u64;
                while iters < max_iters && (iters < 50 || !done.load(Ordering::Acquire)) {
                    iters += 1;
                    let g = pin();
                    let p = rng.below(list.len() as u64);
                    let i = list[p as usize];
                    match xa.load(i, &g) {
                        Some(e) => assert_eq!(
                            code_of(e) / GENS,
                            p,
                            "load({i}) read a code stored elsewhere"
                        ),
                        None => {
                            assert!(p >= stable, "load({i}) of an always-present index saw None")
                        }
                    }
                    if let Some(e) = xa.get(i) {
                        let code = match &e {
                            Entry::Value(x) => *x,
                            Entry::Item(it) => it.code,
                        };
                        assert_eq!(code / GENS, p, "get({i})");
                    }
                    if iters % 64 == 0 {
                        let lo = list[rng.below(list.len() as u64) as usize];
                        let mut prev: Option<u64> = None;
                        for (j, e) in xa.range(lo.., &g) {
                            assert!(j >= lo);
                            assert!(
                                prev.is_none_or(|q| q < j),
                                "range went back: {prev:?} then {j}"
                            );
                            prev = Some(j);
                            let want = pos_of.get(&j).copied();
                            assert_eq!(Some(code_of(e) / GENS), want, "range yielded {j}");
                        }
                    }
                    if iters % 512 == 0 {
                        let mut n = 0u64;
                        for (j, e) in xa.iter(&g) {
                            assert_eq!(Some(code_of(e) / GENS), pos_of.get(&j).copied());
                            n += 1;
                        }
                        assert!(
                            n >= stable,
                            "iter saw {n} entries, fewer than the {stable} always present"
                        );
                    }
                }
                reads.fetch_add(iters as usize, Ordering::Relaxed);
            });
        }

        // The writer.
        gate.wait_for(READERS);
        let mut rng = Rng::new(7);
        for op in 0..ops {
            let p = rng.below(list.len() as u64);
            let i = list[p as usize];
            let item = rng.below(3) == 0;
            match rng.below(20) {
                0..=8 => {
                    xa.store(i, make(p, op, item)).unwrap();
                    last.insert(p, p * GENS + op % GENS);
                }
                9..=13 if p >= stable => {
                    xa.erase(i);
                    last.remove(&p);
                }
                14 | 15 => {
                    if xa.insert(i, make(p, op, item)).is_ok() {
                        assert!(!last.contains_key(&p));
                        last.insert(p, p * GENS + op % GENS);
                    } else {
                        assert!(last.contains_key(&p));
                    }
                }
                16 | 17 => {
                    let cur = xa.get(i);
                    let new = make(p, op, item);
                    let prev = xa.cmpxchg(i, cur.as_ref(), Some(new)).unwrap();
                    assert_eq!(prev.is_some(), cur.is_some());
                    last.insert(p, p * GENS + op % GENS);
                }
                18 => {
                    // A walk under one lock acquisition over dense positions.
                    let start = rng.below(n_dense.saturating_sub(16).max(1));
                    let l = &mut xa.lock();
                    let mut c = l.cursor_mut(list[start as usize]);
                    for k in start..(start + 16).min(n_dense) {
                        let _ = c.next();
                        assert_eq!(c.index(), list[k as usize]);
                        if k % 2 == 0 || k < stable {
                            c.store(make(k, op, false)).unwrap();
                            last.insert(k, k * GENS + op % GENS);
                        } else {
                            c.erase();
                            last.remove(&k);
                        }
                    }
                }
                _ => {
                    xa.set_mark(i, Mark::DIRTY);
                    xa.clear_mark(list[rng.below(list.len() as u64) as usize], Mark::DIRTY);
                }
            }
        }
        done.store(true, Ordering::Release);
    });

    assert!(reads.load(Ordering::Relaxed) > 0);
    xa.check_invariants();
    for (p, &i) in list.iter().enumerate() {
        let p = p as u64;
        let got = xa.get(i).map(|e| match e {
            Entry::Value(x) => x,
            Entry::Item(it) => it.code,
        });
        assert_eq!(got, last.get(&p).copied(), "final state at {i}");
    }
    assert_eq!(xa.len(), last.len());
    drop(xa);
    let want = created.load(Ordering::Relaxed);
    assert!(
        flush_until(|| drops.load(Ordering::Relaxed) == want),
        "{} of {want} items dropped",
        drops.load(Ordering::Relaxed)
    );
}

#[test]
fn two_writers_on_disjoint_indices_while_readers_iterate() {
    let n = scale(3000, 40);
    let ops = scale(20_000, 100);
    let xa: XArray<(), u64> = XArray::new();
    let done = AtomicUsize::new(0);
    let gate = Gate::new();
    let finals: Vec<BTreeMap<u64, u64>> = std::thread::scope(|s| {
        for r in 0..2 {
            let (xa, done, gate) = (&xa, &done, &gate);
            s.spawn(move || {
                gate.arrive();
                let mut rng = Rng::new(r + 50);
                let mut iters = 0u64;
                while iters < scale(1_000_000, 250)
                    && (iters < 20 || done.load(Ordering::Acquire) < 2)
                {
                    iters += 1;
                    let g = pin();
                    let lo = rng.below(n);
                    for (i, e) in xa.range(lo..lo + 100, &g) {
                        let x = e.value().unwrap();
                        assert_eq!(x >> 20, i, "index {i} holds {x:#x}");
                    }
                }
            });
        }
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let (xa, done, gate) = (&xa, &done, &gate);
                s.spawn(move || {
                    gate.wait_for(2);
                    let mut rng = Rng::new(w + 1);
                    let mut mine = BTreeMap::new();
                    for op in 0..ops {
                        // Writer w owns the indices congruent to w mod 2.
                        let i = rng.below(n / 2) * 2 + w;
                        if rng.below(3) == 0 {
                            xa.erase(i);
                            mine.remove(&i);
                        } else {
                            let x = (i << 20) | (op & 0xfffff);
                            xa.store(i, Entry::Value(x)).unwrap();
                            if rng.below(4) == 0 {
                                xa.set_mark(i, Mark::TOWRITE);
                            }
                            mine.insert(i, x);
                        }
                    }
                    done.fetch_add(1, Ordering::Release);
                    mine
                })
            })
            .collect();
        writers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    xa.check_invariants();
    let mut all = BTreeMap::new();
    for m in finals {
        all.extend(m);
    }
    let g = pin();
    let got: Vec<(u64, u64)> = xa.iter(&g).map(|(i, e)| (i, e.value().unwrap())).collect();
    assert_eq!(got, all.into_iter().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// Multi-order entries: store_order, split, marks, iter_marked.

#[test]
fn multi_order_stores_and_splits_while_readers_load_and_walk_marks() {
    // Blocks of 2^B indices; an entry never leaves its block, so a value
    // naming its block is checkable at every index it covers. Even blocks
    // are always fully covered: a reader must never see None there, not
    // even while an entry is split or replaced by a larger one.
    let b = CHUNK_SHIFT + 1;
    let n_blocks = scale(32, 4);
    let ops = scale(12_000, 60);
    let bases: Vec<u64> = (0..n_blocks)
        .map(|k| {
            if k < n_blocks / 2 {
                k << b
            } else {
                (1u64 << 40) + (k << b)
            }
        })
        .collect();
    let block_of = |i: u64| -> Option<u64> {
        bases
            .iter()
            .position(|&base| (base..base + (1 << b)).contains(&i))
            .map(|k| k as u64)
    };
    let xa: XArray<(), u64> = XArray::new();
    for (k, &base) in bases.iter().enumerate() {
        if k % 2 == 0 {
            xa.store_order(base, b, Entry::Value(k as u64 * GENS))
                .unwrap();
        }
    }
    let done = AtomicBool::new(false);
    let gate = Gate::new();
    std::thread::scope(|s| {
        for r in 0..READERS {
            let (xa, bases, done, block_of, gate) = (&xa, &bases, &done, &block_of, &gate);
            s.spawn(move || {
                gate.arrive();
                let mut rng = Rng::new(r as u64 + 900);
                let mut iters = 0u64;
                while iters < scale(1_000_000, 500) && (iters < 50 || !done.load(Ordering::Acquire))
                {
                    iters += 1;
                    let g = pin();
                    let k = rng.below(bases.len() as u64);
                    let i = bases[k as usize] + rng.below(1 << b);
                    match xa.load(i, &g) {
                        Some(e) => {
                            let x = e.value().unwrap();
                            assert_eq!(x / GENS, k, "load({i}) saw a value of another block");
                        }
                        None => {
                            assert!(k % 2 == 1, "load({i}) in an always-covered block saw None")
                        }
                    }
                    assert!(xa.get_order(i) <= b, "get_order({i}) beyond the block");
                    if iters % 32 == 0 {
                        let mut prev: Option<u64> = None;
                        for (j, e) in xa.iter_marked(.., Mark::DIRTY, &g) {
                            assert!(prev.is_none_or(|q| q < j), "iter_marked went back");
                            prev = Some(j);
                            assert_eq!(
                                Some(e.value().unwrap() / GENS),
                                block_of(j),
                                "iter_marked at {j}"
                            );
                        }
                        let mut covered = 0u64;
                        let base = bases[(k & !1) as usize];
                        for (_, e) in xa.range(base..base + (1 << b), &g) {
                            assert_eq!(e.value().unwrap() / GENS, k & !1);
                            covered += 1;
                            assert!(covered <= 1 << b, "range yielded more than the block holds");
                        }
                        assert!(covered >= 1, "an always-covered block yielded nothing");
                    }
                }
            });
        }

        gate.wait_for(READERS);
        let mut rng = Rng::new(3);
        for op in 0..ops {
            let k = rng.below(n_blocks);
            let base = bases[k as usize];
            let order = rng.below(b as u64 + 1) as u32;
            let i = base + (rng.below(1 << b) & !((1u64 << order) - 1));
            let x = k * GENS + op % GENS;
            match rng.below(10) {
                0..=2 => {
                    xa.store_order(i, order, Entry::Value(x)).unwrap();
                }
                3 => {
                    xa.store(i, Entry::Value(x)).unwrap();
                }
                4 | 5 => {
                    let to = rng.below(b as u64) as u32;
                    let _ = xa.split(i, to); // Invalid when `to` is not smaller
                }
                6 if k % 2 == 1 => {
                    xa.erase(i);
                }
                7 => {
                    xa.set_mark(i, Mark::DIRTY);
                }
                8 => {
                    xa.clear_mark(i, Mark::DIRTY);
                }
                _ => {
                    xa.tag_range(base..base + (1 << b), Mark::DIRTY, Mark::TOWRITE);
                }
            }
        }
        done.store(true, Ordering::Release);
    });
    xa.check_invariants();
    for (k, &base) in bases.iter().enumerate() {
        for i in base..base + (1 << b) {
            match xa.get(i) {
                Some(e) => assert_eq!(e.value().unwrap() / GENS, k as u64),
                None => assert!(k % 2 == 1, "always-covered block {k} has a hole at {i}"),
            }
        }
    }
}

#[test]
fn readers_follow_the_tree_growing_and_shrinking() {
    // The writer keeps index 0 and moves a second entry up and down the
    // index space, so the root grows and shrinks under the readers.
    let ops = scale(20_000, 100);
    let xa: XArray<(), u64> = XArray::new();
    xa.store(0, Entry::Value(0)).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    let done = AtomicBool::new(false);
    let gate = Gate::new();
    std::thread::scope(|s| {
        for _ in 0..READERS {
            let (xa, done, gate) = (&xa, &done, &gate);
            s.spawn(move || {
                gate.arrive();
                let mut iters = 0u64;
                while iters < scale(1_000_000, 250) && (iters < 50 || !done.load(Ordering::Acquire))
                {
                    iters += 1;
                    let g = pin();
                    assert_eq!(
                        xa.load(0, &g).and_then(|e| e.value()),
                        Some(0),
                        "lost index 0"
                    );
                    assert!(xa.get_mark(0, Mark::DIRTY), "lost the mark on index 0");
                    let marked: Vec<u64> = xa
                        .iter_marked(.., Mark::DIRTY, &g)
                        .map(|(i, _)| i)
                        .collect();
                    assert_eq!(
                        marked.first(),
                        Some(&0),
                        "iter_marked lost index 0: {marked:?}"
                    );
                    for (i, e) in xa.iter(&g) {
                        assert_eq!(e.value(), Some(i.count_ones() as u64), "index {i}");
                    }
                }
            });
        }
        gate.wait_for(READERS);
        let mut rng = Rng::new(11);
        for _ in 0..ops {
            let shift = rng.below(64);
            let i = (1u64 << shift) | rng.below(1 << shift.min(8));
            xa.store(i, Entry::Value(i.count_ones() as u64)).unwrap();
            if rng.below(2) == 0 {
                xa.set_mark(i, Mark::DIRTY);
            }
            xa.erase(i);
        }
        done.store(true, Ordering::Release);
    });
    xa.check_invariants();
    assert_eq!(xa.len(), 1);
}
