//! Load vs the tree shrinking, and vs a subtree being replaced.
//!
//! `load_vs_shrink` checks the shrinking rules of DESIGN.md. The tree
//! holds an item at index 1 and a value at index 20: a top node at shift 4
//! with two leaf nodes. A writer erases 20, which empties its leaf (the
//! leaf is unlinked, its slots turned to retry entries, and it goes to the
//! epoch collector), and then the top holds only slot 0, so the tree
//! shrinks: the head moves to the leaf of index 1 and the old top gets a
//! retry entry in every slot (slot 0 is the one that matters here) before
//! it is handed to the collector. A reader still inside the old top must
//! meet either the old child or the retry entry, restart, and find the
//! item at index 1: always, never an empty slot, never the retry entry
//! itself. The item it holds stays alive while it is pinned (checked
//! through the drop counts), and is dropped exactly once at the end.
//!
//! `load_vs_store_order_over_subtree` checks the rule for freeing a
//! detached subtree: a `store_order` of order 8 over the same tree replaces
//! the whole top-level subtree (two levels of nodes) with one entry in a
//! new top node. A reader at index 1 sees the old item or the new value,
//! never nothing: a reader inside the detached subtree meets retry entries
//! and walks again.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags};
use xradix_loom_tests::*;

#[test]
fn load_vs_shrink() {
    model("load_vs_shrink", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, drops.item(0)).unwrap();
        xa.store(20, Entry::Value(20)).unwrap();

        let r = reader(&collector, &xa, |xa, g| load(xa, 1, g));
        let w = writer(&xa, |xa| {
            assert_eq!(xa.erase(20), Some(Entry::Value(20)));
        });
        w.join().unwrap();
        assert_eq!(
            r.join().unwrap(),
            Seen::Item(0),
            "index 1 lost while the tree shrank"
        );
        xa.check_invariants();
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}

#[test]
fn load_vs_store_order_over_subtree() {
    model("load_vs_store_order_over_subtree", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, drops.item(0)).unwrap();
        xa.store(20, Entry::Value(20)).unwrap();

        let r = reader(&collector, &xa, |xa, g| load(xa, 1, g));
        let w = writer(&xa, |xa| {
            xa.store_order(0, 8, Entry::Value(7)).unwrap();
        });
        w.join().unwrap();
        let one = r.join().unwrap();
        assert!(
            matches!(one, Seen::Item(0) | Seen::Value(7)),
            "index 1 read {one:?} while its subtree was replaced"
        );
        xa.check_invariants();
        assert_eq!(xa.len(), 1);
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}
