//! Memory comes back at once: dropping a tree frees its nodes before
//! `drop` returns (nobody can reach them), and `clear` on a tree no reader
//! is in frees them before it returns, where one deferred free per node
//! used to leave most of a large tree waiting for thousands of later pins.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;

use xradix::{Entry, XArray};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const N: u64 = if cfg!(miri) { 2_000 } else { 300_000 };

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn within_one_percent(before: isize, after: isize, peak: isize) {
    let grown = (after - before).abs();
    assert!(
        grown * 100 <= (peak - before),
        "live bytes {after} vs {before} before the tree ({grown} left of {} the tree took)",
        peak - before
    );
}

static DROPS: AtomicUsize = AtomicUsize::new(0);
struct Counted;
impl Drop for Counted {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn dropped_and_cleared_trees_give_their_memory_back_at_once() {
    // Warm what a thread allocates once (its epoch handle, the lock's
    // record of its owner), so that it is not counted against the trees.
    drop(xradix::pin());
    {
        let warm: XArray = XArray::new();
        warm.store(1, Entry::Value(1)).unwrap();
        warm.clear();
    }

    // Drop: a tree of values frees everything, no pin needed.
    let before = live();
    let xa: XArray = XArray::new();
    for i in 0..N {
        xa.store(i * 3, Entry::Value(i)).unwrap();
    }
    let peak = live();
    drop(xa);
    assert_eq!(live(), before, "a dropped tree of values frees all it took");
    let _ = peak;

    // Clear with no reader pinned: back before `clear` returns.
    let before = live();
    let xa: XArray = XArray::new();
    for i in 0..N {
        xa.store(i, Entry::Value(i)).unwrap();
    }
    let peak = live();
    xa.clear();
    within_one_percent(before, live(), peak);
    drop(xa);

    // Items: nodes freed at once on drop, items after the collector runs
    // (a reader may still hold one); a clear drops them before returning.
    let xa: XArray<Counted> = XArray::new();
    for i in 0..N / 10 {
        xa.store(i, Entry::Item(Arc::new(Counted))).unwrap();
    }
    xa.clear();
    assert_eq!(DROPS.load(Ordering::Relaxed) as u64, N / 10);
}
