//! The API as a user of std, papaya or crossbeam-skiplist expects it
//! (issue 12): collecting items, signed values, pinned views, no silent
//! hang on a same-thread relock, waiting for item drops, marks in an
//! allocating tree.

#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use xradix::{Collector, Entry, Flags, Mark, XArray};

/// An item that counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(drops: &Arc<AtomicUsize>) -> Entry<Counted, u64> {
    Entry::Item(Arc::new(Counted(drops.clone())))
}

#[test]
fn flush_drops_erased_items_of_a_tree_with_its_own_collector() {
    let drops = Arc::new(AtomicUsize::new(0));
    let xa: XArray<Counted> = XArray::with_collector(Collector::new(), Flags::empty());
    for i in 0..200 {
        xa.store(i, counted(&drops)).unwrap();
    }
    for i in 0..100 {
        drop(xa.erase(i));
    }
    assert_eq!(xa.flush(), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 100);
}

#[test]
#[should_panic(expected = "already holds this tree's lock")]
fn set_mark_through_the_tree_while_its_lock_is_held_panics() {
    let xa: XArray = XArray::new();
    xa.store(1, Entry::Value(1)).unwrap();
    let _l = xa.lock();
    xa.set_mark(1, Mark::TOWRITE);
}
