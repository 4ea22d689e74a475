//! A cursor keeps the nodes of its path from one call to the next: its
//! `next()` reads the neighbouring slot of the same bottom node. These
//! models check that a step never reports a hole that a writer filled
//! *before the step began*, however the node it kept left the tree.
//!
//! - `next_in_leaf_after_leaf_deleted`: a Full leaf (16..=31 in the
//!   16-slot loom build, Full because it holds an order-1 entry at 16..=17)
//!   holding 18 too, beside the leaf of index 0; the reader's cursor is on
//!   18, so its next step is the leaf fast path (`step_in_leaf`). The
//!   writer erases both entries (the leaf empties and is deleted, and the
//!   top, left holding only slot 0, is lowered), stores 19 (the tree grows
//!   again, with a new leaf), then raises a flag. The reader reads the
//!   flag, then steps to 19: if the flag was up, the store finished before
//!   the step began, so the step must see it.
//! - `next_by_path_after_tree_emptied`: the order-1 entry alone, the
//!   cursor on 17, inside it, so the next step reads slot 18 through the
//!   kept path (`step_slow`). The writer's erase empties the whole tree
//!   (the leaf and the top are deleted, the head becomes null) before it
//!   stores 18 in a new tree.
//!
//! Before the fix (a Full node left the tree with its holes still holes)
//! both models failed: the step read the hole of the deleted leaf and
//! returned `None` with the flag up. The bug needs one preemption (the
//! reader stopped between its two calls), so the models run with a bound
//! of 1, which keeps them to seconds.
#![cfg(xradix_loom)]

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::Arc;
use xradix::{Entry, Flags, Guard};
use xradix_loom_tests::*;

/// The reader's side: a cursor at `at`, one step (which may already see
/// the writer's erase: `first` lists what it may return), the flag, then
/// the step to `at + 1`.
fn step_twice(xa: &Tree, g: &Guard, at: u64, first: Seen, flag: &AtomicBool) -> (bool, Seen) {
    let mut c = xa.cursor(at, g);
    let seen_at = seen(c.next(), g);
    assert!(
        seen_at == Seen::None || seen_at == first,
        "{at}: {seen_at:?}"
    );
    let was_done = flag.load(SeqCst);
    let next = seen(c.next(), g);
    assert_eq!(c.index(), at + 1);
    (was_done, next)
}

fn check(was_done: bool, next: Seen, stored: Seen) {
    if was_done {
        assert_eq!(next, stored, "a step after the store saw {next:?}");
    } else {
        assert!(next == Seen::None || next == stored, "step saw {next:?}");
    }
}

#[test]
fn next_in_leaf_after_leaf_deleted() {
    model_bounded("cursor_next_in_leaf_after_leaf_deleted", 1, || {
        let (collector, xa) = new_tree(Flags::empty());
        // Index 0 keeps a second leaf, so the tree has a top above 16..=31.
        xa.store(0, Entry::Value(1)).unwrap();
        xa.store_order(16, 1, Entry::Value(16)).unwrap();
        xa.store(18, Entry::Value(18)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let r = reader(&collector, &xa, move |xa, g| {
            step_twice(xa, g, 18, Seen::Value(18), &flag)
        });
        let w = writer(&xa, move |xa| {
            xa.erase(16);
            xa.erase(18);
            xa.store(19, Entry::Value(19)).unwrap();
            done.store(true, SeqCst);
        });
        w.join().unwrap();
        let (was_done, next) = r.join().unwrap();
        check(was_done, next, Seen::Value(19));
        xa.check_invariants();
    });
}

#[test]
fn next_by_path_after_tree_emptied() {
    model_bounded("cursor_next_by_path_after_tree_emptied", 1, || {
        let (collector, xa) = new_tree(Flags::empty());
        xa.store_order(16, 1, Entry::Value(16)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let r = reader(&collector, &xa, move |xa, g| {
            step_twice(xa, g, 17, Seen::Value(16), &flag)
        });
        let w = writer(&xa, move |xa| {
            xa.erase(16);
            xa.store(18, Entry::Value(18)).unwrap();
            done.store(true, SeqCst);
        });
        w.join().unwrap();
        let (was_done, next) = r.join().unwrap();
        check(was_done, next, Seen::Value(18));
        xa.check_invariants();
    });
}
