//! Load vs the tree growing.
//!
//! Checks the growing rule of DESIGN.md: the new top node's slot 0 points
//! at the old top (with the old root's mark bits copied) before the head is
//! switched to it with a Release store. The tree starts as one leaf node
//! holding a marked item at index 1; a writer stores at index 300, which
//! adds two levels on top (shift 0 -> 4 -> 8) and builds the path down to
//! 300. A reader must find the item at index 1 at every moment, and still
//! find it carrying its mark; index 300 reads as nothing or the new value.
#![cfg(xradix_loom)]

use xradix::{Flags, Mark};
use xradix_loom_tests::*;

#[test]
fn load_vs_grow() {
    model("load_vs_grow", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, drops.item(0)).unwrap();
        xa.set_mark(1, Mark::TOWRITE);

        let r = reader(&collector, &xa, |xa, g| {
            let one = load(xa, 1, g);
            let far = load(xa, 300, g);
            let marked: Vec<u64> = xa
                .iter_marked(.., Mark::TOWRITE, g)
                .map(|(i, _)| i)
                .collect();
            (one, far, marked)
        });
        let w = writer(&xa, |xa| {
            xa.store(300, xradix::Entry::Value(3)).unwrap();
        });
        w.join().unwrap();
        let (one, far, marked) = r.join().unwrap();

        assert_eq!(one, Seen::Item(0), "index 1 lost while the tree grew");
        assert!(
            matches!(far, Seen::None | Seen::Value(3)),
            "index 300: {far:?}"
        );
        assert_eq!(marked, [1], "the mark on index 1 lost while the tree grew");
        xa.check_invariants();
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}
