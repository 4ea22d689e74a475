//! Concurrent `alloc`.
//!
//! Checks that two threads calling `alloc` on a `Flags::ALLOC` tree get
//! distinct indices: the free-slot search and the store happen under one
//! lock acquisition. Index 0 is taken beforehand, so the two allocations
//! must be 1 and 2 in some order, and the free-tracking mark (mark 0) must
//! agree with the slots afterwards (`check_invariants`).
#![cfg(xradix_loom)]

use xradix::{Entry, Flags};
use xradix_loom_tests::*;

#[test]
fn two_threads_alloc_distinct_indices() {
    model("two_threads_alloc_distinct_indices", || {
        let (_collector, xa) = new_tree(Flags::ALLOC);
        assert_eq!(xa.alloc(Entry::Value(0), 0..=15).unwrap(), 0);

        let a = writer(&xa, |xa| xa.alloc(Entry::Value(1), 0..=15).unwrap());
        let b = writer(&xa, |xa| xa.alloc(Entry::Value(2), 0..=15).unwrap());
        let (a, b) = (a.join().unwrap(), b.join().unwrap());

        let mut got = [a, b];
        got.sort();
        assert_eq!(got, [1, 2], "alloc handed out {a} and {b}");
        assert_eq!(xa.get(a), Some(Entry::Value(1)));
        assert_eq!(xa.get(b), Some(Entry::Value(2)));
        xa.check_invariants();
    });
}
