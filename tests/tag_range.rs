//! `tag_range` works a node at a time with bitmaps; these checks hold it to
//! the per-entry definition: exactly the entries that meet the range and
//! carry `from` (multi-order entries that begin before the range included)
//! gain `to` and are counted, and nothing else changes.

use xradix::{pin, Entry, Flags, Mark, XArray};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn marked(xa: &XArray, mark: Mark) -> Vec<u64> {
    let guard = pin();
    xa.iter_marked(.., mark, &guard).map(|(i, _)| i).collect()
}

#[test]
fn tag_range_matches_the_per_entry_definition() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let rounds = if cfg!(miri) { 4 } else { 300 };
    for round in 0..rounds {
        let space = [100, 5000, 1 << 24][round % 3];
        let xa: XArray = XArray::new();
        for _ in 0..rng.below(80) {
            let index = rng.below(space);
            if rng.below(4) == 0 {
                let order = rng.below(13) as u32;
                let base = index & !((1u64 << order) - 1);
                xa.store_order(base, order, Entry::Value(1)).unwrap();
            } else if rng.below(8) == 0 {
                xa.reserve(index).unwrap();
            } else {
                xa.store(index, Entry::Value(2)).unwrap();
            }
            if rng.below(2) == 0 {
                xa.set_mark(rng.below(space), Mark::DIRTY);
            }
            if rng.below(5) == 0 {
                xa.set_mark(rng.below(space), Mark::TOWRITE);
            }
        }
        let a = rng.below(space + 3);
        let b = rng.below(space + 3);
        let (lo, hi) = (a.min(b), a.max(b));
        let guard = pin();
        // The definition: entries meeting lo..=hi that carry DIRTY.
        let expect: Vec<u64> = xa
            .iter_marked(lo..=hi, Mark::DIRTY, &guard)
            .map(|(i, _)| i)
            .collect();
        let towrite_before = marked(&xa, Mark::TOWRITE);
        let dirty_before = marked(&xa, Mark::DIRTY);
        let n = xa.tag_range(lo..=hi, Mark::DIRTY, Mark::TOWRITE);
        xa.check_invariants();
        assert_eq!(n, expect.len(), "round {round}: count over {lo}..={hi}");
        for &i in &expect {
            assert!(
                xa.get_mark(i, Mark::TOWRITE),
                "round {round}: {i} not tagged"
            );
        }
        // Nothing else gained TOWRITE, and DIRTY is untouched.
        let mut want: Vec<u64> = towrite_before
            .iter()
            .copied()
            .chain(expect.iter().copied())
            .collect();
        want.sort();
        want.dedup();
        let mut got: Vec<u64> = marked(&xa, Mark::TOWRITE);
        // An entry tagged at the range start is listed by the full walk at
        // its first index: compare by the entries' first indices.
        let first = |i: u64| i & !((1u64 << xa.get_order(i)) - 1);
        want = want.into_iter().map(first).collect();
        want.sort();
        want.dedup();
        got.sort();
        assert_eq!(got, want, "round {round}: TOWRITE set over {lo}..={hi}");
        assert_eq!(
            marked(&xa, Mark::DIRTY),
            dirty_before,
            "round {round}: DIRTY changed"
        );
    }
}

#[test]
fn tag_range_counts_a_multi_order_entry_that_begins_before_the_range() {
    let xa: XArray = XArray::new();
    xa.store_order(0, 12, Entry::Value(1)).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    assert_eq!(xa.tag_range(3000..3001, Mark::DIRTY, Mark::TOWRITE), 1);
    assert!(xa.get_mark(4095, Mark::TOWRITE));
}

#[test]
fn tag_range_on_the_head_entry_and_on_empty_trees() {
    let xa: XArray = XArray::new();
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 0);
    xa.store(0, Entry::Value(1)).unwrap();
    xa.set_mark(0, Mark::DIRTY);
    assert_eq!(xa.tag_range(1.., Mark::DIRTY, Mark::TOWRITE), 0);
    assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 1);
    assert!(xa.get_mark(0, Mark::TOWRITE));
    xa.check_invariants();
}

#[test]
fn tag_range_in_an_allocating_tree_leaves_the_free_mark_alone() {
    let ids: XArray = XArray::with_flags(Flags::ALLOC);
    for _ in 0..10 {
        ids.alloc(Entry::Value(1), 0..=100).unwrap();
    }
    ids.set_mark(3, Mark::TOWRITE);
    // Mark 0 is the free mark here: it tags nothing and is never set.
    assert_eq!(ids.tag_range(.., Mark::DIRTY, Mark::MARK_2), 0);
    assert_eq!(ids.tag_range(.., Mark::TOWRITE, Mark::DIRTY), 1);
    ids.check_invariants();
    assert_eq!(ids.alloc(Entry::Value(1), 0..=100).unwrap(), 10);
}

#[test]
fn set_mark_on_a_reservation_does_nothing() {
    let xa: XArray = XArray::new();
    xa.reserve(5).unwrap();
    xa.set_mark(5, Mark::DIRTY);
    assert!(!xa.get_mark(5, Mark::DIRTY));
    assert!(!xa.has_mark(Mark::DIRTY));
    xa.check_invariants();
}

#[test]
fn a_writing_cursor_walks_again_after_another_cursor_changed_the_tree() {
    let xa: XArray = XArray::new();
    for i in 0..200 {
        xa.store(i, Entry::Value(i)).unwrap();
        xa.set_mark(i, Mark::DIRTY);
    }
    {
        let locked = xa.lock();
        let mut a = locked.cursor_mut(64);
        assert!(a.next_marked(Mark::DIRTY, u64::MAX).is_some());
        // Empty the node under `a` from elsewhere under the same lock.
        for i in 64..128 {
            locked.erase(i);
        }
        a.set_mark(Mark::TOWRITE);
        a.clear_mark(Mark::DIRTY);
        // Another cursor's store in the same place is seen too.
        let mut b = locked.cursor_mut(64);
        b.store(Entry::Value(1)).unwrap();
        a.set_mark(Mark::MARK_2);
    }
    xa.check_invariants();
    assert!(!xa.has_mark(Mark::TOWRITE));
    assert!(xa.get_mark(64, Mark::MARK_2));
    assert_eq!(xa.len(), 137);
}
