//! The pattern the crate docs give for a tree with its own collector (the
//! `no_std` way), run here so that `.ci/miri.sh` checks it: handles come
//! from the tree and are dropped before it, the only order crossbeam-epoch
//! survives (crossbeam-rs/crossbeam#545: a `LocalHandle` that outlives the
//! collector's owner frees the collector from inside its own `&self`).

use xradix::{Collector, Entry, Flags, Mark, XArray};

#[test]
fn a_tree_with_its_own_collector_read_through_its_handles() {
    let xa: XArray<String, u32> = XArray::with_collector(Collector::new(), Flags::empty());
    for i in 0..100u32 {
        xa.store(u64::from(i) * 7, Entry::Value(i)).unwrap();
    }
    xa.store(1, Entry::Item(std::sync::Arc::new("one".into())))
        .unwrap();
    xa.set_mark(14, Mark::DIRTY);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let handle = xa.handle();
                for _ in 0..3 {
                    let guard = handle.pin();
                    assert_eq!(xa.load(14, &guard).and_then(|e| e.value()), Some(2));
                    assert_eq!(xa.iter_marked(.., Mark::DIRTY, &guard).count(), 1);
                }
            });
        }
        for i in 60..100u32 {
            xa.erase(u64::from(i) * 7);
        }
        xa.store(1, Entry::Value(1)).unwrap();
    });
    let handle = xa.handle();
    let guard = handle.pin();
    assert_eq!(xa.iter(&guard).count(), 61);
    drop(guard);
    drop(handle);
    drop(xa);
}
