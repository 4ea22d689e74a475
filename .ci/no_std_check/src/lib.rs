//! Uses xradix from a `#![no_std]` crate with a caller-supplied collector,
//! as a kernel or firmware would.
#![no_std]

extern crate alloc;

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
