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

#[test]
fn scratch_alloc_marks() {
    let xa: XArray = XArray::with_flags(Flags::ALLOC);
    for _ in 0..3 {
        xa.alloc(Entry::Value(1), 0..=100).unwrap();
    }
    xa.set_mark(1, Mark::DIRTY);
    eprintln!("get_mark {}", xa.get_mark(1, Mark::DIRTY));
    eprintln!("get_mark hole {}", xa.get_mark(50, Mark::DIRTY));
    eprintln!("locked get_mark {}", xa.lock().get_mark(1, Mark::DIRTY));
    eprintln!("has_mark {}", xa.has_mark(Mark::DIRTY));
    eprintln!(
        "iter_marked {}",
        xa.pin().iter_marked(.., Mark::DIRTY).count()
    );
    xa.set_mark(1, Mark::TOWRITE);
    eprintln!("tag {}", xa.tag_range(.., Mark::TOWRITE, Mark::DIRTY));
    eprintln!(
        "tag from dirty {}",
        xa.tag_range(.., Mark::DIRTY, Mark::MARK_2)
    );
    xa.clear_mark(1, Mark::DIRTY);
    xa.check_invariants();
    let one: XArray = XArray::with_flags(Flags::ALLOC);
    one.alloc(Entry::Value(1), 0..=100).unwrap();
    eprintln!(
        "single get_mark {} has {}",
        one.get_mark(0, Mark::DIRTY),
        one.has_mark(Mark::DIRTY)
    );
}
