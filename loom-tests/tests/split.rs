//! Load across a multi-order entry vs `split`.
//!
//! Checks the split rules of DESIGN.md: at every index of the entry a
//! reader sees the old entry or one of its pieces (the same item), never
//! nothing, never a sibling or node entry, never a freed item.
//!
//! `load_vs_split_into_new_nodes`: an order-5 item covers 0..=31, one
//! canonical slot and one sibling slot in the top node (shift 4). It is
//! split to order 0, which replaces both slots by complete new leaf nodes
//! (sibling slot first, canonical slot last). The reader loads index 20
//! (through the sibling slot, and then possibly the canonical slot after
//! it became a node, which makes it walk again) and index 3 (the canonical
//! slot).
//!
//! `load_vs_split_in_place`: an order-3 item covers 8..=15 in a leaf node
//! (one canonical slot, seven siblings). It is split to order 1, which
//! writes the pieces' canonical slots over siblings in place. The reader
//! loads 13 and 10, whose siblings are rewritten.
#![cfg(xradix_loom)]

use xradix::{Flags, Mark};
use xradix_loom_tests::*;

#[test]
fn load_vs_split_into_new_nodes() {
    model("load_vs_split_into_new_nodes", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store_order(0, 5, drops.item(0)).unwrap();
        xa.set_mark(0, Mark::DIRTY);

        let r = reader(&collector, &xa, |xa, g| [load(xa, 20, g), load(xa, 3, g)]);
        let w = writer(&xa, |xa| xa.split(0, 0).unwrap());
        w.join().unwrap();
        assert_eq!(
            r.join().unwrap(),
            [Seen::Item(0); 2],
            "a split entry read as something else"
        );

        assert_eq!(xa.len(), 32);
        assert_eq!(xa.get_order(20), 0);
        assert!(
            xa.get_mark(31, Mark::DIRTY),
            "a piece lost the entry's mark"
        );
        xa.check_invariants();
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}

#[test]
fn load_vs_split_in_place() {
    model("load_vs_split_in_place", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store_order(8, 3, drops.item(0)).unwrap();
        xa.set_mark(8, Mark::DIRTY);

        let r = reader(&collector, &xa, |xa, g| [load(xa, 13, g), load(xa, 10, g)]);
        let w = writer(&xa, |xa| xa.split(8, 1).unwrap());
        w.join().unwrap();
        assert_eq!(
            r.join().unwrap(),
            [Seen::Item(0); 2],
            "a split entry read as something else"
        );

        assert_eq!(xa.len(), 4);
        assert_eq!(xa.get_order(13), 1);
        assert!(
            xa.get_mark(14, Mark::DIRTY),
            "a piece lost the entry's mark"
        );
        xa.check_invariants();
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}
