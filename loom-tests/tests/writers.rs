//! Two writers and a reader.
//!
//! Checks that the writer lock serialises writers (under loom's model of
//! the lock) while a lock-free reader runs. The tree holds an item at
//! index 1 and values at 3 and 4 in a one-level tree (three entries, so
//! that the erase below leaves the leaf Full: with one, it would shrink to
//! a compact node, a conversion the models of compact.rs are about). One
//! writer stores at index 2 (same leaf) and then erases it; the other
//! stores at index 20, growing the tree by a level. Whatever order the
//! writers take the lock in, the reader always finds index 1, sees index 2
//! as nothing or the stored value, and index 20 as nothing or its value;
//! afterwards the tree holds exactly {1, 3, 4, 20} and its invariants
//! (counts, summaries, shape) hold.
#![cfg(xradix_loom)]

use xradix::{Entry, Flags};
use xradix_loom_tests::*;

#[test]
fn two_writers_and_a_reader() {
    model("two_writers_and_a_reader", || {
        let drops = Drops::new();
        let (collector, xa) = new_tree(Flags::empty());
        xa.store(1, drops.item(0)).unwrap();
        xa.store(3, Entry::Value(3)).unwrap();
        xa.store(4, Entry::Value(4)).unwrap();

        let r = reader(&collector, &xa, |xa, g| {
            [load(xa, 2, g), load(xa, 1, g), load(xa, 20, g)]
        });
        let w1 = writer(&xa, |xa| {
            xa.store(2, Entry::Value(2)).unwrap();
            xa.erase(2);
        });
        let w2 = writer(&xa, |xa| {
            xa.store(20, Entry::Value(20)).unwrap();
        });
        w1.join().unwrap();
        w2.join().unwrap();
        let [two, one, twenty] = r.join().unwrap();

        assert_eq!(one, Seen::Item(0), "index 1 lost while two writers worked");
        assert!(
            matches!(two, Seen::None | Seen::Value(2)),
            "index 2: {two:?}"
        );
        assert!(
            matches!(twenty, Seen::None | Seen::Value(20)),
            "index 20: {twenty:?}"
        );
        xa.check_invariants();
        {
            let handle = collector.register();
            let g = handle.pin();
            let all: Vec<u64> = xa.iter(&g).map(|(i, _)| i).collect();
            assert_eq!(all, [1, 3, 4, 20]);
        }
        drop(xa);
        drop(collector);
        assert_eq!(drops.count(0), 1);
    });
}
