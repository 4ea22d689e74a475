//! Items are dropped only after the readers that could see them are gone,
//! and exactly once.
//!
//! The tree holds item 0 at index 1. A writer replaces it with item 1,
//! erases item 1, and then flushes its epoch handle a few times, which
//! advances the epoch and runs deferred drops whenever no pinned reader
//! holds the epoch back. A reader pinned across two loads of index 1
//! checks that every item it loaded is intact and not yet dropped at the
//! end of its critical section (so an item freed under a pinned reader
//! fails the model). After the threads join and the tree and collector are
//! gone, each item has been dropped exactly once (a second drop panics in
//! `Item::drop`).
//!
//! The model also counts the executions in which item 0 was dropped
//! before the end, while the threads still ran, and requires that there
//! are some: otherwise the model would prove nothing about reclamation.
#![cfg(xradix_loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use xradix::Flags;
use xradix_loom_tests::*;

static EARLY_DROPS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn items_dropped_after_readers_exactly_once() {
    EARLY_DROPS.store(0, Ordering::SeqCst);
    model("items_dropped_after_readers_exactly_once", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, drops.item(0)).unwrap();

        let r = reader(&collector, &xa, |xa, g| {
            let first = xa.load(1, g);
            let second = xa.load(1, g);
            // Both are checked at the end of the critical section.
            [seen(first, g), seen(second, g)]
        });
        let item1 = drops.item(1);
        let c = collector.clone();
        let d = drops.clone();
        let w = writer(&xa, move |xa| {
            drop(xa.store(1, item1).unwrap());
            drop(xa.erase(1));
            let handle = c.register();
            for _ in 0..2 {
                handle.pin().flush();
            }
            if d.count(0) == 1 {
                EARLY_DROPS.fetch_add(1, Ordering::SeqCst);
            }
        });
        w.join().unwrap();
        let seen = r.join().unwrap();
        for s in seen {
            assert!(
                matches!(s, Seen::Item(0) | Seen::Item(1) | Seen::None),
                "reader saw {s:?}"
            );
        }
        drop(xa);
        drop(collector);
        assert_eq!(
            (drops.count(0), drops.count(1)),
            (1, 1),
            "items not dropped exactly once"
        );
    });
    let early = EARLY_DROPS.load(Ordering::SeqCst);
    println!("items_dropped_after_readers_exactly_once: item 0 reclaimed while the threads ran in {early} executions");
    assert!(
        early > 0,
        "no execution reclaimed an item while the reader ran: the model proves nothing"
    );
}
