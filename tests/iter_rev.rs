//! Reverse and two-ended iteration agree with forward iteration: the same
//! entries at the same indices, in the opposite order, for every range form,
//! with multi-order entries, reservations and marks in the tree.

use xradix::{pin, Entry, Mark, XArray};

/// xorshift64: a deterministic source of trees and ranges.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_tree(rng: &mut Rng, space: u64) -> XArray {
    let xa: XArray = XArray::new();
    for _ in 0..rng.below(60) {
        let index = rng.below(space);
        match rng.below(6) {
            0 => {
                let order = rng.below(9) as u32;
                let base = index & !((1u64 << order) - 1);
                xa.store_order(base, order, Entry::Value(base)).unwrap();
            }
            1 => xa.reserve(index).unwrap(),
            2 => {
                xa.erase(index);
            }
            _ => {
                xa.store(index, Entry::Value(index)).unwrap();
            }
        }
        if rng.below(3) == 0 {
            xa.set_mark(rng.below(space), Mark::DIRTY);
        }
    }
    if rng.below(4) == 0 {
        xa.store(u64::MAX - rng.below(3), Entry::Value(7)).unwrap();
    }
    xa.check_invariants();
    xa
}

fn indices<'g>(it: impl Iterator<Item = (u64, xradix::EntryRef<'g, (), u64>)>) -> Vec<(u64, u64)> {
    it.map(|(i, e)| (i, e.value().unwrap())).collect()
}

#[test]
fn rev_is_forward_reversed_over_random_trees_and_ranges() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let guard = pin();
    let rounds = if cfg!(miri) { 3 } else { 400 };
    for round in 0..rounds {
        let space = [64, 1000, 1 << 20][round % 3];
        let xa = random_tree(&mut rng, space);
        for _ in 0..8 {
            let a = rng.below(space + 10);
            let b = rng.below(space + 10);
            let (lo, hi) = (a.min(b), a.max(b));
            let mut fwd = indices(xa.range(lo..=hi, &guard));
            let mut back = indices(xa.range(lo..=hi, &guard).rev());
            back.reverse();
            assert_eq!(fwd, back, "round {round}: range {lo}..={hi}");
            fwd = indices(xa.iter_marked(lo..hi, Mark::DIRTY, &guard));
            back = indices(xa.iter_marked(lo..hi, Mark::DIRTY, &guard).rev());
            back.reverse();
            assert_eq!(fwd, back, "round {round}: marked {lo}..{hi}");
        }
        let mut all_fwd = indices(xa.iter(&guard));
        let mut all_back = indices(xa.iter(&guard).rev());
        all_back.reverse();
        assert_eq!(all_fwd, all_back, "round {round}: whole tree");

        // Alternate ends: every entry exactly once, in order from each end.
        let mut it = xa.iter(&guard);
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let f = if rng.below(2) == 0 { it.next() } else { None };
            let b = if f.is_none() { it.next_back() } else { None };
            match (f, b) {
                (Some((i, e)), _) => front.push((i, e.value().unwrap())),
                (None, Some((i, e))) => back.push((i, e.value().unwrap())),
                (None, None) => break,
            }
        }
        back.reverse();
        front.extend(back);
        all_fwd.sort();
        assert_eq!(front, all_fwd, "round {round}: two-ended");
        all_back.clear();
    }
}

#[test]
fn rev_yields_a_multi_order_entry_at_the_range_start() {
    let xa: XArray = XArray::new();
    xa.store_order(0, 6, Entry::Value(1)).unwrap();
    xa.store(100, Entry::Value(2)).unwrap();
    let guard = pin();
    let down: Vec<u64> = xa.range(10..200, &guard).rev().map(|(i, _)| i).collect();
    assert_eq!(down, [100, 10]);
}

#[test]
fn rev_of_empty_and_reversed_ranges_is_empty() {
    let xa: XArray = XArray::new();
    xa.store(5, Entry::Value(5)).unwrap();
    let guard = pin();
    assert_eq!(xa.range(6..6, &guard).rev().count(), 0);
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = xa.range(9..3, &guard).rev().count();
    assert_eq!(reversed, 0);
    assert_eq!(XArray::<()>::new().iter(&guard).rev().count(), 0);
}

#[test]
fn rev_finds_the_entry_at_u64_max_and_at_zero() {
    let xa: XArray = XArray::new();
    xa.store(0, Entry::Value(0)).unwrap();
    xa.store(u64::MAX, Entry::Value(1)).unwrap();
    let guard = pin();
    let down: Vec<u64> = xa.iter(&guard).rev().map(|(i, _)| i).collect();
    assert_eq!(down, [u64::MAX, 0]);
    let single: XArray = XArray::new();
    single.store(0, Entry::Value(3)).unwrap();
    assert_eq!(
        single
            .iter(&guard)
            .rev()
            .map(|(i, _)| i)
            .collect::<Vec<_>>(),
        [0]
    );
}

/// A random two-ended walk of `it`: every entry exactly once, the front's
/// in ascending order, the back's in descending order, and together the
/// forward list.
fn two_ended<'g>(
    rng: &mut Rng,
    mut it: impl DoubleEndedIterator<Item = (u64, xradix::EntryRef<'g, (), u64>)>,
) -> Vec<(u64, u64)> {
    let (mut front, mut back) = (Vec::new(), Vec::new());
    // Runs of steps from one end, so that both ends walk inside the same
    // bottom node on their fast paths before they meet.
    let mut from_front = rng.below(2) == 0;
    let mut run = 0;
    loop {
        if run == 0 {
            from_front = !from_front;
            run = 1 + rng.below(40);
        }
        run -= 1;
        let got = if from_front {
            it.next()
        } else {
            it.next_back()
        };
        let Some((i, e)) = got else {
            // Done from one end means done from both.
            assert!(it.next().is_none() && it.next_back().is_none());
            break;
        };
        let at = (i, e.value().unwrap());
        if from_front {
            front.push(at);
        } else {
            back.push(at);
        }
    }
    back.reverse();
    front.extend(back);
    front
}

#[test]
fn two_ended_iteration_meets_once_over_ranges_marks_and_dense_runs() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let guard = pin();
    let rounds = if cfg!(miri) { 3 } else { 300 };
    for round in 0..rounds {
        let space = [200, 5000, 1 << 20][round % 3];
        let xa = random_tree(&mut rng, space);
        // Dense runs: whole Full bottom nodes, where each end steps by its
        // leaf fast path, with a multi-order entry or a hole inside some.
        for _ in 0..1 + rng.below(3) {
            let start = rng.below(space);
            for i in start..(start + 64 + rng.below(200)).min(space) {
                xa.store(i, Entry::Value(i)).unwrap();
                if rng.below(8) == 0 {
                    xa.set_mark(i, Mark::DIRTY);
                }
            }
            if rng.below(2) == 0 {
                let order = 1 + rng.below(5) as u32;
                let base = (start + rng.below(128)) & !((1u64 << order) - 1);
                xa.store_order(base, order, Entry::Value(base)).unwrap();
            }
            xa.erase(start + rng.below(64));
        }
        xa.check_invariants();
        for _ in 0..6 {
            let a = rng.below(space + 10);
            let b = rng.below(space + 10);
            let (lo, hi) = (a.min(b), a.max(b));
            let want = indices(xa.range(lo..=hi, &guard));
            let got = two_ended(&mut rng, xa.range(lo..=hi, &guard));
            assert_eq!(got, want, "round {round}: range {lo}..={hi}");
            let want = indices(xa.iter_marked(lo..=hi, Mark::DIRTY, &guard));
            let got = two_ended(&mut rng, xa.iter_marked(lo..=hi, Mark::DIRTY, &guard));
            assert_eq!(got, want, "round {round}: marked {lo}..={hi}");
        }
        let want = indices(xa.iter(&guard));
        assert_eq!(
            two_ended(&mut rng, xa.iter(&guard)),
            want,
            "round {round}: all"
        );
    }
}

#[test]
fn two_ended_iteration_at_both_ends_of_the_index_space() {
    let xa: XArray = XArray::new();
    for i in (0..70).chain(u64::MAX - 69..=u64::MAX) {
        xa.store(i, Entry::Value(i % 1000)).unwrap();
    }
    let guard = pin();
    // The front takes everything: `u64::MAX` from the front ends the back.
    let mut it = xa.iter(&guard);
    assert_eq!(it.by_ref().count(), 140);
    assert!(it.next_back().is_none());
    // The back takes everything: index 0 from the back ends the front.
    let mut it = xa.iter(&guard);
    assert_eq!(it.by_ref().rev().count(), 140);
    assert!(it.next().is_none());
    // They meet at the top and at the bottom of the index space.
    let mut it = xa.range(u64::MAX - 3.., &guard);
    assert_eq!(it.next_back().map(|(i, _)| i), Some(u64::MAX));
    assert_eq!(it.next().map(|(i, _)| i), Some(u64::MAX - 3));
    assert_eq!(it.next().map(|(i, _)| i), Some(u64::MAX - 2));
    assert_eq!(it.next_back().map(|(i, _)| i), Some(u64::MAX - 1));
    assert!(it.next().is_none() && it.next_back().is_none());
    let mut it = xa.range(..4, &guard);
    assert_eq!(it.next().map(|(i, _)| i), Some(0));
    assert_eq!(it.next_back().map(|(i, _)| i), Some(3));
    assert_eq!(it.next_back().map(|(i, _)| i), Some(2));
    assert_eq!(it.next().map(|(i, _)| i), Some(1));
    assert!(it.next_back().is_none() && it.next().is_none());
}
