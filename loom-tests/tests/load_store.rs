//! Load vs store and erase at the same index.
//!
//! Checks: a lock-free `load` racing a `store` that replaces the entry and
//! then an `erase` that removes it (which also empties and unlinks the only
//! node) returns, at every moment, the old item, the new item or nothing,
//! in that order: never garbage, never an internal entry, never a freed
//! item, and never an older entry after a newer one. Afterwards each item
//! is dropped exactly once.
#![cfg(xradix_loom)]

use xradix::Flags;
use xradix_loom_tests::*;

#[test]
fn load_vs_store_and_erase_at_the_same_index() {
    model("load_vs_store_and_erase", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(5, drops.item(0)).unwrap();

        let r = reader(&collector, &xa, |xa, g| [load(xa, 5, g), load(xa, 5, g)]);
        let d1 = drops.item(1);
        let w = writer(&xa, move |xa| {
            xa.store(5, d1).unwrap();
            xa.erase(5);
        });
        w.join().unwrap();
        let seen = r.join().unwrap();

        // Each load saw one of the three states, and the second no older
        // state than the first.
        let rank = |s: Seen| match s {
            Seen::Item(0) => 0,
            Seen::Item(1) => 1,
            Seen::None => 2,
            other => panic!("load saw {other:?}"),
        };
        assert!(
            rank(seen[0]) <= rank(seen[1]),
            "loads went back in time: {seen:?}"
        );
        assert!(xa.load(5, &collector.register().pin()).is_none());
        xa.check_invariants();
        drop(xa);
        drop(collector);
        assert_eq!((drops.count(0), drops.count(1)), (1, 1));
    });
}
