//! Uses xradix from a `#![no_std]` crate with a caller-supplied collector,
//! as a kernel or firmware would.
#![no_std]

extern crate alloc;

use alloc::sync::Arc;

use xradix::{Collector, Entry, Flags, Mark, XArray};

/// Stores, marks and reads back through the lock-free path.
pub fn exercise() -> usize {
    let xa: XArray<(), u32> = XArray::with_collector(Collector::new(), Flags::empty());
    for i in 0..100u32 {
        let _ = xa.store(u64::from(i) * 7, Entry::Value(i));
    }
    xa.set_mark(14, Mark::DIRTY);
    // The tree hands out the handle: it and its guard are dropped before
    // the tree, the only order crossbeam-epoch survives (crossbeam#545).
    let handle = xa.handle();
    let guard = handle.pin();
    let dirty = xa.iter_marked(.., Mark::DIRTY, &guard).count();
    let found = xa.load(700, &guard).is_none() as usize;
    dirty + found
}

/// Reads through `XArray::pin()`, extends with items and waits for the
/// erased ones to be dropped: the `Pinned` view and `flush` work without
/// `std`.
pub fn pinned_and_flush() -> usize {
    let mut xa: XArray<u32> = XArray::with_collector(Collector::new(), Flags::empty());
    xa.extend((0..10u32).map(|i| (u64::from(i), Arc::new(i))));
    let seen = {
        let p = xa.pin();
        let mut n = 0;
        for (_, e) in &p {
            n += e.item().copied().unwrap_or(0) as usize;
        }
        n + p.load(3).is_some() as usize
    };
    for i in 0..10 {
        let _ = xa.erase(i);
    }
    seen + xa.flush()
}
