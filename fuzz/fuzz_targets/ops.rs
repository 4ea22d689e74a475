//! Fuzz target `ops`: a sequence of operations on one tree, each checked
//! against the `BTreeMap` model of tests/common/model.rs (the one the model
//! test and the history checker use), which knows multi-order entries
//! (API.md):
//!
//! - a `store` (or `cmpxchg`, `alloc`) inside a multi-order entry replaces
//!   the whole entry and keeps its order and marks; `erase` removes it whole;
//! - `store_order` replaces everything in its range, the new entry getting
//!   the union of their marks, and returns the first displaced entry in
//!   index order; inside a larger entry it acts as `store`;
//! - `store_range` is the sequence of aligned `store_order`s;
//! - `split` gives every piece the entry and its marks;
//! - reservations read as nothing, occupy their index (len, insert, alloc);
//! - iterators yield each entry once, at `max(first index, range start)`,
//!   from both ends.
//!
//! After every operation the target compares the indices it touched (load,
//! get, get_order, get_mark), `len`, and runs `check_invariants()`; at the
//! end (and on `CheckAll`) it compares everything. Indices come from a few
//! small regions placed across node boundaries at every level, so that
//! operations collide and trees grow and shrink. `Churn` fills one bottom
//! node and erases it back in one operation, so that short inputs reach
//! every conversion of the compact bottom nodes, both ways. Input is
//! decoded with `arbitrary`; `cargo fuzz fmt ops FILE` prints the decoded
//! sequence. With `XRADIX_FUZZ_CONVERSIONS` set, each input prints the
//! tree's conversion counts (`.ci/fuzz-replay.sh` sums them).
#![no_main]

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use xradix::{
    Collector, Entry, Error, Flags, Guard, InvalidInput, LocalHandle, Mark, XArray, CHUNK_SHIFT,
};

type E = Entry<u64, u64>;
type Xa = XArray<u64, u64>;

// ---------------------------------------------------------------------------
// The decoded input.

/// Indices: a few regions of 80 indices each, straddling node boundaries
/// at one, two, three and four levels, and the ends of the index space.
const REGIONS: [u64; 8] = [
    0,
    0,
    40,
    4096 - 40,
    (1 << 18) - 40,
    (1 << 32) - 40,
    1 << 52,
    u64::MAX - 79,
];

#[derive(Arbitrary, Clone, Copy)]
struct Idx(u8, u8);

impl Idx {
    fn get(self) -> u64 {
        REGIONS[(self.0 % 8) as usize] + (self.1 % 80) as u64
    }
}

impl std::fmt::Debug for Idx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// An entry to store: a small value (so that equal values collide), an
/// item from a pool of six (with twins: equal contents, different `Arc`s),
/// or a value too wide for a slot.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ent {
    Value(u8),
    Item(u8),
    TooWide(u8),
}

/// A range of indices; `kind` picks the shape (bounded, half-open,
/// unbounded, empty or reversed).
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Range {
    lo: Idx,
    len: u16,
    kind: u8,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Store(Idx, Ent),
    Insert(Idx, Ent),
    Erase(Idx),
    /// `old`: 0 → None, 1 → the entry there now, else `Some(old_ent)`.
    Cmpxchg {
        at: Idx,
        old: u8,
        old_ent: Ent,
        new: Option<Ent>,
    },
    Reserve(Idx),
    Release(Idx),
    StoreOrder {
        at: Idx,
        order: u8,
        ent: Ent,
        bad: u8,
    },
    StoreRange {
        first: Idx,
        len: u16,
        ent: Ent,
        reversed: bool,
    },
    Split {
        at: Idx,
        to: u8,
    },
    SetMark(Idx, u8),
    ClearMark(Idx, u8),
    TagRange(Range, u8, u8),
    Alloc {
        ent: Ent,
        lo: Idx,
        len: u8,
        kind: u8,
    },
    Clear,
    /// `range` or `iter_marked`; each bit of `ends` takes the next entry
    /// from the front (0) or the back (1).
    Iter {
        range: Range,
        mark: Option<u8>,
        ends: u32,
    },
    CursorNext(Idx, u8),
    CursorPrev(Idx, u8),
    CursorNextMarked {
        at: Idx,
        mark: u8,
        max: Option<Idx>,
        steps: u8,
    },
    CursorFind {
        at: Idx,
        max: Option<Idx>,
        steps: u8,
    },
    /// Writes through a `CursorMut` under one lock acquisition.
    CursorMut {
        at: Idx,
        steps: Vec<MutStep>,
    },
    CheckAll,
    /// Stores `n` entries into one bottom node's block, then erases all but
    /// `keep` of them, so that the node grows and shrinks through every
    /// class in one step (docs/sparse-nodes.md); see `Run::churn`.
    Churn {
        block: u8,
        n: u8,
        keep: u8,
        first: u8,
        stride: u8,
        order: u8,
        ent: Ent,
        mark: Option<u8>,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum MutStep {
    Next,
    Store(Ent),
    Erase,
    SetMark(u8),
    ClearMark(u8),
    Pause,
}

#[derive(Arbitrary, Debug)]
struct Input {
    flags: u8,
    ops: Vec<Op>,
}

// ---------------------------------------------------------------------------
// The model: the one the model test and the history checker use.

#[path = "../../tests/common/model.rs"]
mod model;

use model::{bit, mask, owned_matches, ref_matches, MVal, Model};

// ---------------------------------------------------------------------------
// One run.

struct Run {
    xa: Xa,
    /// The run's epoch handle: the tree has a collector of its own, so that
    /// everything it retired is freed when the run ends and any leak is a
    /// real one (LeakSanitizer).
    handle: LocalHandle,
    model: Model,
    alloc: Option<Flags>,
    pool: Vec<Arc<u64>>,
    /// `CheckAll` operations done (at most four count).
    full_checks: u32,
}

impl Run {
    fn pin(&self) -> Guard {
        self.handle.pin()
    }

    /// The marks a user may use: an allocating tree keeps mark 0.
    fn marks(&self) -> &'static [Mark] {
        if self.alloc.is_some() {
            &[Mark::TOWRITE, Mark::MARK_2]
        } else {
            &Mark::ALL
        }
    }

    fn mark(&self, m: u8) -> Mark {
        let ms = self.marks();
        ms[m as usize % ms.len()]
    }

    /// The entry to store, and whether it is too wide to store.
    fn entry(&self, e: Ent) -> (E, bool) {
        match e {
            Ent::Value(v) => (Entry::Value((v % 8) as u64), false),
            Ent::Item(k) => (
                Entry::Item(self.pool[k as usize % self.pool.len()].clone()),
                false,
            ),
            Ent::TooWide(v) => (Entry::Value(1 << 62 | v as u64), true),
        }
    }

    /// `(start, end)` bounds for the tree and the inclusive range for the
    /// model (None: empty).
    fn range(r: Range) -> ((Bound<u64>, Bound<u64>), Option<(u64, u64)>) {
        let lo = r.lo.get();
        let hi = lo.saturating_add((r.len % 400) as u64);
        let b = match r.kind % 8 {
            0 => (Bound::Unbounded, Bound::Unbounded),
            1 => (Bound::Included(lo), Bound::Unbounded),
            2 => (Bound::Unbounded, Bound::Included(hi)),
            3 => (Bound::Included(lo), Bound::Excluded(hi)),
            4 => (Bound::Excluded(lo), Bound::Included(hi)),
            5 => (Bound::Included(hi), Bound::Included(lo)), // reversed unless equal
            _ => (Bound::Included(lo), Bound::Included(hi)),
        };
        let start = match b.0 {
            Bound::Included(s) => Some(s),
            Bound::Excluded(s) => s.checked_add(1),
            Bound::Unbounded => Some(0),
        };
        let end = match b.1 {
            Bound::Included(e) => Some(e),
            Bound::Excluded(e) => e.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let inclusive = match (start, end) {
            (Some(s), Some(e)) if s <= e => Some((s, e)),
            _ => None,
        };
        (b, inclusive)
    }

    fn too_wide(err: Error) -> bool {
        matches!(
            err,
            Error::Invalid {
                reason: InvalidInput::ValueTooWide { .. }
            }
        )
    }

    // -------------------------------------------------------------------
    // Comparisons.

    /// Compares index `i`: the lock-free `load`, and order and marks under
    /// the lock (`Locked`'s readers need no epoch registration, which keeps
    /// the target fast); with `full`, also the pinning `get`, `get_order`
    /// and `get_mark` of `XArray`.
    fn check_index(&self, i: u64, full: bool) {
        let g = self.pin();
        let want = self.model.at(i);
        let got = self.xa.load(i, &g);
        assert!(
            ref_matches(got, want.map(|e| &e.val)),
            "load({i}) = {got:?}, model {want:?}"
        );
        let reserved = want.is_some_and(|e| matches!(e.val, MVal::Reserved));
        let order = want.map_or(0, |e| e.order);
        {
            let l = self.xa.lock();
            assert_eq!(
                l.get_order(i),
                order,
                "Locked::get_order({i}), model {want:?}"
            );
            // Marks on a reservation: not settled.
            for &m in self.marks().iter().filter(|_| !reserved) {
                let on = want.is_some_and(|e| e.marks & bit(m) != 0);
                assert_eq!(
                    l.get_mark(i, m),
                    on,
                    "Locked::get_mark({i}, {m:?}), model {want:?}"
                );
            }
        }
        if full {
            let owned = self.xa.get(i);
            assert!(
                owned_matches(owned.as_ref(), want.map(|e| &e.val)),
                "get({i}) = {owned:?}, model {want:?}"
            );
            assert_eq!(
                self.xa.get_order(i),
                order,
                "get_order({i}), model {want:?}"
            );
            for &m in self.marks().iter().filter(|_| !reserved) {
                let on = want.is_some_and(|e| e.marks & bit(m) != 0);
                assert_eq!(
                    self.xa.get_mark(i, m),
                    on,
                    "get_mark({i}, {m:?}), model {want:?}"
                );
            }
        }
    }

    fn check_step(&mut self) {
        let t = std::mem::take(&mut self.model.touched);
        // The operation's own index first, fully; then the rest.
        if let Some(&first) = t.first() {
            self.check_index(first, true);
        }
        let mut rest = t;
        rest.sort_unstable();
        rest.dedup();
        for i in rest {
            self.check_index(i, false);
        }
        assert_eq!(self.xa.len(), self.model.map.len(), "len");
        assert_eq!(self.xa.is_empty(), self.model.map.is_empty(), "is_empty");
        self.xa.check_invariants();
    }

    fn check_all(&self) {
        let g = self.pin();
        let want = self.model.expect_iter(0, u64::MAX, None);
        let got: Vec<_> = self.xa.iter(&g).collect();
        assert_eq!(
            got.len(),
            want.len(),
            "iter(): {:?} vs model {want:?}",
            got.iter().map(|p| p.0).collect::<Vec<_>>()
        );
        for ((gi, ge), (wi, we)) in got.iter().zip(&want) {
            assert_eq!(gi, wi, "iter() index");
            assert!(
                ref_matches(Some(*ge), Some(we)),
                "iter() at {gi}: {ge:?} vs {we:?}"
            );
        }
        // Every entry's ends, or a sample of them in a big tree.
        let n = self.model.map.len();
        let stride = n / 64 + 1;
        for (k, (&f, e)) in self.model.map.iter().enumerate() {
            if k % stride == 0 || k + 1 == n {
                self.check_index(f, k < 4);
                self.check_index(e.last(f), false);
            }
        }
        for &m in self.marks() {
            let want: Vec<u64> = self
                .model
                .expect_iter(0, u64::MAX, Some(bit(m)))
                .into_iter()
                .map(|p| p.0)
                .collect();
            let got: Vec<u64> = self.xa.iter_marked(.., m, &g).map(|(i, _)| i).collect();
            assert_eq!(got, want, "iter_marked({m:?})");
            // A reservation never carries a mark here, so has_mark is exact.
            assert_eq!(self.xa.has_mark(m), !want.is_empty(), "has_mark({m:?})");
        }
        assert_eq!(self.xa.len(), self.model.map.len(), "len");
        self.xa.check_invariants();
    }

    // -------------------------------------------------------------------
    // Operations.

    fn op(&mut self, op: &Op) {
        match *op {
            Op::Store(at, ent) => {
                let i = at.get();
                let (e, wide) = self.entry(ent);
                let got = self.xa.store(i, e.clone());
                if wide {
                    assert!(Self::too_wide(got.unwrap_err()));
                    self.model.touch(i);
                } else {
                    let got = got.unwrap();
                    let want = self.model.store(i, MVal::of(&e));
                    assert!(
                        owned_matches(got.as_ref(), want.as_ref()),
                        "store returned {got:?}, model {want:?}"
                    );
                }
            }
            Op::Insert(at, ent) => {
                let i = at.get();
                let (e, wide) = self.entry(ent);
                let got = self.xa.insert(i, e.clone());
                if wide {
                    assert!(Self::too_wide(got.unwrap_err()));
                    self.model.touch(i);
                } else if self.model.covering(i).is_some() {
                    assert_eq!(got, Err(Error::Busy { index: i }));
                    self.model.touch(i);
                } else {
                    got.unwrap();
                    self.model.store(i, MVal::of(&e));
                }
            }
            Op::Erase(at) => {
                let i = at.get();
                let got = self.xa.erase(i);
                let want = self.model.erase(i);
                assert!(
                    owned_matches(got.as_ref(), want.as_ref()),
                    "erase returned {got:?}, model {want:?}"
                );
            }
            Op::Cmpxchg {
                at,
                old,
                old_ent,
                new,
            } => {
                let i = at.get();
                let cur = self.model.at(i).map(|e| e.val.clone());
                let old = match old % 3 {
                    0 => None,
                    1 => match &cur {
                        Some(MVal::Value(v)) => Some(Entry::Value(*v)),
                        Some(MVal::Item(a)) => Some(Entry::Item(a.clone())),
                        _ => None,
                    },
                    _ => Some(self.entry(old_ent).0),
                };
                let new = new.map(|n| self.entry(n));
                let wide = new.as_ref().is_some_and(|n| n.1);
                let new = new.map(|n| n.0);
                if matches!(cur, Some(MVal::Reserved)) && old.is_none() && new.is_none() {
                    return; // whether None -> None drops a reservation: not settled
                }
                let got = self.xa.cmpxchg(i, old.as_ref(), new.clone());
                self.model.touch(i);
                if wide {
                    assert!(Self::too_wide(got.unwrap_err()));
                    return;
                }
                let got = got.unwrap();
                assert!(
                    owned_matches(got.as_ref(), cur.as_ref()),
                    "cmpxchg returned {got:?}, model {cur:?}"
                );
                if owned_matches(old.as_ref(), cur.as_ref()) {
                    match new {
                        Some(e) => {
                            self.model.store(i, MVal::of(&e));
                        }
                        None => {
                            self.model.erase(i);
                        }
                    }
                }
            }
            Op::Reserve(at) => {
                let i = at.get();
                self.xa.reserve(i).unwrap();
                if self.model.covering(i).is_none() {
                    self.model.store(i, MVal::Reserved);
                }
                self.model.touch(i);
            }
            Op::Release(at) => {
                let i = at.get();
                self.xa.release(i);
                if matches!(self.model.at(i).map(|e| &e.val), Some(MVal::Reserved)) {
                    self.model.erase(i);
                }
                self.model.touch(i);
            }
            Op::StoreOrder {
                at,
                order,
                ent,
                bad,
            } => {
                let order = match order {
                    0..=159 => (order % 8) as u32,
                    160..=239 => (order % 14) as u32,
                    _ => (order % 64) as u32,
                };
                let raw = at.get();
                let (e, wide) = self.entry(ent);
                match bad % 32 {
                    0 => {
                        let order = 64 + (bad / 32) as u32;
                        let got = self.xa.store_order(raw & !mask(order.min(63)), order, e);
                        assert_eq!(
                            got.unwrap_err(),
                            Error::Invalid {
                                reason: InvalidInput::Order { order }
                            }
                        );
                    }
                    1 if order > 0 => {
                        let i = (raw & !mask(order)) | 1 << (bad as u32 / 32 % order);
                        let got = self.xa.store_order(i, order, e);
                        assert_eq!(
                            got.unwrap_err(),
                            Error::Invalid {
                                reason: InvalidInput::Misaligned { index: i, order }
                            }
                        );
                        self.model.touch(i);
                    }
                    _ => {
                        let i = raw & !mask(order);
                        let got = self.xa.store_order(i, order, e.clone());
                        if wide {
                            assert!(Self::too_wide(got.unwrap_err()));
                            self.model.touch(i);
                            return;
                        }
                        let got = got.unwrap();
                        let want = self
                            .model
                            .store_order(i, order, MVal::of(&e))
                            .0
                            .into_iter()
                            .next();
                        assert!(
                            owned_matches(got.as_ref(), want.as_ref()),
                            "store_order returned {got:?}, model {want:?}"
                        );
                    }
                }
            }
            Op::StoreRange {
                first,
                len,
                ent,
                reversed,
            } => {
                let first = first.get();
                let (e, wide) = self.entry(ent);
                if reversed {
                    if first == 0 {
                        return;
                    }
                    let last = first - 1 - (len as u64 % first.min(10));
                    let got = self.xa.store_range(first, last, e);
                    assert_eq!(
                        got.unwrap_err(),
                        Error::Invalid {
                            reason: InvalidInput::Range { first, last }
                        }
                    );
                    return;
                }
                let last = first.saturating_add(if len % 16 == 0 {
                    len as u64
                } else {
                    (len % 48) as u64
                });
                let got = self.xa.store_range(first, last, e.clone());
                if wide {
                    assert!(Self::too_wide(got.unwrap_err()));
                    self.model.touch(first);
                    return;
                }
                got.unwrap();
                self.model.store_range(first, last, MVal::of(&e));
            }
            Op::Split { at, to } => {
                let i = at.get();
                let cur = self
                    .model
                    .covering(i)
                    .map(|f| (f, self.model.map[&f].clone()));
                self.model.touch(i);
                let Some((f, e)) = cur else {
                    let to = (to % 8) as u32;
                    self.xa.split(i, to).unwrap();
                    return;
                };
                let from = e.order;
                let to = match to {
                    250..=255 => 64 + (to - 250) as u32,
                    235..=249 => from + (to % 3) as u32,
                    _ if from == 0 => (to % 3) as u32,
                    // At most 2^6 pieces: big splits make every later check slow.
                    _ => from - 1 - (to as u32 % from.min(6)),
                };
                let got = self.xa.split(i, to);
                if matches!(e.val, MVal::Reserved) {
                    // Splitting a reservation: not settled; it must change nothing.
                    assert!(
                        got.is_ok() || matches!(got, Err(Error::Invalid { .. })),
                        "{got:?}"
                    );
                    return;
                }
                if to >= 64 {
                    assert_eq!(
                        got.unwrap_err(),
                        Error::Invalid {
                            reason: InvalidInput::Order { order: to }
                        }
                    );
                } else if to >= from {
                    assert!(
                        matches!(
                            got,
                            Err(Error::Invalid {
                                reason: InvalidInput::SplitOrder { .. }
                            })
                        ),
                        "split of order {from} to {to}: {got:?}"
                    );
                } else {
                    match got {
                        Ok(()) => self.model.split(f, to),
                        Err(Error::Invalid {
                            reason: InvalidInput::SplitTooLarge { .. },
                        }) if from > 2 * CHUNK_SHIFT + 1 => {}
                        Err(err) => panic!("split of order {from} at {f} to {to} failed: {err:?}"),
                    }
                }
            }
            Op::SetMark(at, m) | Op::ClearMark(at, m) => {
                let i = at.get();
                if matches!(self.model.at(i).map(|e| &e.val), Some(MVal::Reserved)) {
                    return; // marks on a reservation: not settled
                }
                let m = self.mark(m);
                let on = matches!(op, Op::SetMark(..));
                if on {
                    self.xa.set_mark(i, m);
                } else {
                    self.xa.clear_mark(i, m);
                }
                self.model.set_marks(i, bit(m), on);
            }
            Op::TagRange(r, from, to) => {
                let (from, to) = (self.mark(from), self.mark(to));
                let (b, inclusive) = Self::range(r);
                let got = self.xa.tag_range(b, from, to);
                let want = match inclusive {
                    Some((lo, hi)) => self.model.tag_range(lo, hi, bit(from), bit(to)),
                    None => 0,
                };
                assert_eq!(got, want, "tag_range({b:?}, {from:?}, {to:?}) count");
            }
            Op::Alloc { ent, lo, len, kind } => {
                let (e, wide) = self.entry(ent);
                let Some(flags) = self.alloc else {
                    let got = self.xa.alloc(e, 0..=10);
                    assert_eq!(
                        got.unwrap_err(),
                        Error::Invalid {
                            reason: InvalidInput::NotAllocating
                        }
                    );
                    return;
                };
                let lo = lo.get();
                let (lo, hi) = match kind % 8 {
                    0 => (0, u64::MAX),
                    1 => (0, len as u64),
                    2 if lo < u64::MAX => (lo + 1, lo), // empty
                    _ => (lo, lo.saturating_add(len as u64 % 100)),
                };
                let got = self.xa.alloc(e.clone(), lo..=hi);
                if lo > hi {
                    assert!(
                        matches!(got, Err(Error::Invalid { .. })),
                        "alloc in {lo}..={hi}: {got:?}"
                    );
                    return;
                }
                let start = if flags == Flags::ALLOC1 {
                    lo.max(1)
                } else {
                    lo
                };
                match self.model.lowest_free(start, hi) {
                    None => assert!(
                        matches!(got, Err(Error::Full { .. })),
                        "alloc in {lo}..={hi}: {got:?}"
                    ),
                    Some(_) if wide => assert!(Self::too_wide(got.unwrap_err())),
                    Some(want) => {
                        assert_eq!(got, Ok(want), "alloc in {lo}..={hi}");
                        self.model.store(want, MVal::of(&e));
                    }
                }
            }
            Op::Clear => {
                self.xa.clear();
                self.model.map.clear();
            }
            Op::Iter { range, mark, ends } => {
                let mark = mark.map(|m| self.mark(m));
                let (b, inclusive) = Self::range(range);
                let mut want: VecDeque<(u64, MVal)> = match inclusive {
                    Some((lo, hi)) => self.model.expect_iter(lo, hi, mark.map(bit)).into(),
                    None => VecDeque::new(),
                };
                let g = self.pin();
                let mut it = match mark {
                    None => self.xa.range(b, &g),
                    Some(m) => self.xa.iter_marked(b, m, &g),
                };
                for k in 0.. {
                    let back = k < 32 && ends >> k & 1 == 1;
                    let (got, w) = if back {
                        (it.next_back(), want.pop_back())
                    } else {
                        (it.next(), want.pop_front())
                    };
                    match (got, &w) {
                        (None, None) => break,
                        (Some((gi, ge)), Some((wi, we))) => {
                            assert_eq!(
                                gi,
                                *wi,
                                "iteration #{k} ({}) over {b:?} mark {mark:?}",
                                if back { "back" } else { "front" }
                            );
                            assert!(
                                ref_matches(Some(ge), Some(we)),
                                "iteration at {gi}: {ge:?} vs {we:?}"
                            );
                        }
                        _ => panic!(
                            "iteration #{k} ({}) over {b:?} mark {mark:?}: got {:?}, model {:?}",
                            if back { "back" } else { "front" },
                            got.map(|p| p.0),
                            w.map(|p| p.0)
                        ),
                    }
                }
                assert!(
                    it.next().is_none() && it.next_back().is_none(),
                    "iterator not fused"
                );
            }
            Op::CursorNext(at, steps) | Op::CursorPrev(at, steps) => {
                let back = matches!(op, Op::CursorPrev(..));
                let mut idx = at.get();
                let g = self.pin();
                let mut c = self.xa.cursor(idx, &g);
                for s in 0..(steps % 40) as u32 + 1 {
                    if s > 0 {
                        idx = if back {
                            idx.wrapping_sub(1)
                        } else {
                            idx.wrapping_add(1)
                        };
                    }
                    let want = self.model.at(idx);
                    let got = if back { c.prev() } else { c.next() };
                    assert!(
                        ref_matches(got, want.map(|e| &e.val)),
                        "cursor at {idx}: {got:?} vs {want:?}"
                    );
                    assert_eq!(c.index(), idx, "cursor index after step {s}");
                    assert_eq!(
                        c.order(),
                        want.map_or(0, |e| e.order),
                        "cursor order at {idx}"
                    );
                }
            }
            Op::CursorNextMarked {
                at,
                mark,
                max,
                steps,
            } => {
                let m = self.mark(mark);
                self.cursor_scan(at.get(), max, steps, Some(m));
            }
            Op::CursorFind { at, max, steps } => {
                self.cursor_scan(at.get(), max, steps, None);
            }
            Op::CursorMut { at, ref steps } => self.cursor_mut(at.get(), steps),
            Op::CheckAll => {
                if self.full_checks < 4 {
                    self.full_checks += 1;
                    self.check_all();
                }
            }
            Op::Churn {
                block,
                n,
                keep,
                first,
                stride,
                order,
                ent,
                mark,
            } => self.churn(block, n, keep, first, stride, order, ent, mark),
        }
    }

    /// `Op::Churn`: the bottom node's block holding the middle of region
    /// `block` (the region's first index plus 40, rounded down to a node:
    /// it holds that region's middle, and a tree of that block alone has
    /// the bottom node on top). Offsets `first + k * stride` for `k` in
    /// `0..n` (`stride` made odd: distinct offsets, ascending for stride 1,
    /// descending for `SLOTS - 1`, scattered else; so stores append, or
    /// land below the highest offset and rebuild). `n` is capped at a
    /// node's slots. Stores go in that order (a mark on every other one
    /// when `mark` is set); then the entries `keep..n` are erased, in
    /// reverse when bit 0 of `order` is set, each by one of the erasing
    /// calls (`erase`, `cmpxchg` to nothing, a `CursorMut` erase) picked by
    /// `order >> 1`. The node's invariants and the written index are
    /// checked after every store and erase.
    #[allow(clippy::too_many_arguments)]
    fn churn(
        &mut self,
        block: u8,
        n: u8,
        keep: u8,
        first: u8,
        stride: u8,
        order: u8,
        ent: Ent,
        mark: Option<u8>,
    ) {
        let slots = 1u64 << CHUNK_SHIFT;
        let base = (REGIONS[(block % 8) as usize] + 40) & !(slots - 1);
        let n = (n as u64).min(slots);
        let keep = (keep as u64).min(n);
        let stride = stride as u64 | 1;
        let at = |k: u64| base + ((first as u64 + k * stride) & (slots - 1));
        let (e, wide) = self.entry(ent);
        for k in 0..n {
            let i = at(k);
            let got = self.xa.store(i, e.clone());
            if wide {
                assert!(Self::too_wide(got.unwrap_err()));
                return;
            }
            let want = self.model.store(i, MVal::of(&e));
            assert!(
                owned_matches(got.unwrap().as_ref(), want.as_ref()),
                "churn store({i})"
            );
            if let Some(m) = mark.filter(|_| k % 2 == 0) {
                let m = self.mark(m);
                self.xa.set_mark(i, m);
                self.model.set_marks(i, bit(m), true);
            }
            self.check_index(i, false);
            self.xa.check_invariants();
        }
        let mut gone: Vec<u64> = (keep..n).collect();
        if order & 1 == 1 {
            gone.reverse();
        }
        for k in gone {
            let i = at(k);
            let cur = self.model.at(i).map(|e| e.val.clone());
            let got = match (order >> 1) % 3 {
                0 => self.xa.erase(i),
                1 => self.xa.lock().cursor_mut(i).erase(),
                _ => {
                    let old = cur.as_ref().and_then(MVal::to_entry);
                    if cur.is_some() && old.is_none() {
                        // A reservation: cmpxchg(None -> None) is unsettled.
                        self.xa.erase(i)
                    } else {
                        let got = self.xa.cmpxchg(i, old.as_ref(), None).unwrap();
                        assert!(owned_matches(got.as_ref(), cur.as_ref()));
                        self.model.erase(i);
                        self.check_index(i, false);
                        self.xa.check_invariants();
                        continue;
                    }
                }
            };
            let want = self.model.erase(i);
            assert!(
                owned_matches(got.as_ref(), want.as_ref()),
                "churn erase({i}) returned {got:?}, model {want:?}"
            );
            self.check_index(i, false);
            self.xa.check_invariants();
        }
    }

    /// `next_marked` (or `find`) from `start` up to `max`, `steps` times.
    fn cursor_scan(&self, start: u64, max: Option<Idx>, steps: u8, mark: Option<Mark>) {
        let max = max.map_or(u64::MAX, Idx::get);
        let steps = (steps % 24) as usize + 1;
        let want: Vec<u64> = self
            .model
            .overlapping(start, max)
            .into_iter()
            .filter(|f| {
                let e = &self.model.map[f];
                !matches!(e.val, MVal::Reserved) && mark.is_none_or(|m| e.marks & bit(m) != 0)
            })
            .take(steps)
            .collect();
        let g = self.pin();
        let mut c = self.xa.cursor(start, &g);
        for (k, &f) in want.iter().enumerate() {
            let e = &self.model.map[&f];
            let got = match mark {
                Some(m) => c.next_marked(m, max),
                None => c.find(max),
            };
            assert!(
                ref_matches(got, Some(&e.val)),
                "{mark:?} scan #{k} from {start}: {got:?}, model entry at {f}: {e:?}"
            );
            let lo = f.max(start);
            assert!(
                (lo..=e.last(f)).contains(&c.index()),
                "{mark:?} scan #{k} left the cursor at {}, entry {f}..={}",
                c.index(),
                e.last(f)
            );
        }
        if want.len() < steps {
            let got = match mark {
                Some(m) => c.next_marked(m, max),
                None => c.find(max),
            };
            assert!(
                got.is_none(),
                "{mark:?} scan from {start} to {max} past the last: found {got:?} at {}",
                c.index()
            );
        }
    }

    /// A writing walk through one `CursorMut`: the model follows each step.
    fn cursor_mut(&mut self, start: u64, steps: &[MutStep]) {
        let locked = self.xa.lock();
        let mut c = locked.cursor_mut(start);
        let mut idx = start;
        let mut started = false;
        for &s in steps.iter().take(16) {
            match s {
                MutStep::Next => {
                    if started {
                        idx = idx.wrapping_add(1);
                    }
                    started = true;
                    let want = self.model.at(idx).map(|e| e.val.clone());
                    let got = c.next();
                    assert!(
                        ref_matches(got, want.as_ref()),
                        "cursor_mut next at {idx}: {got:?} vs {want:?}"
                    );
                    assert_eq!(c.index(), idx);
                    self.model.touch(idx);
                }
                MutStep::Store(ent) => {
                    let (e, wide) = self.entry(ent);
                    let got = c.store(e.clone());
                    if wide {
                        assert!(Self::too_wide(got.unwrap_err()));
                    } else {
                        let got = got.unwrap();
                        let want = self.model.store(idx, MVal::of(&e));
                        assert!(
                            owned_matches(got.as_ref(), want.as_ref()),
                            "cursor store at {idx}: {got:?} vs {want:?}"
                        );
                    }
                }
                MutStep::Erase => {
                    let got = c.erase();
                    let want = self.model.erase(idx);
                    assert!(
                        owned_matches(got.as_ref(), want.as_ref()),
                        "cursor erase at {idx}: {got:?} vs {want:?}"
                    );
                }
                MutStep::SetMark(m) | MutStep::ClearMark(m) => {
                    if matches!(self.model.at(idx).map(|e| &e.val), Some(MVal::Reserved)) {
                        continue;
                    }
                    let m = self.mark(m);
                    let on = matches!(s, MutStep::SetMark(_));
                    if on {
                        c.set_mark(m);
                    } else {
                        c.clear_mark(m);
                    }
                    self.model.set_marks(idx, bit(m), on);
                }
                MutStep::Pause => {
                    if !started {
                        continue;
                    }
                    // Just past the entry under the cursor (past a whole
                    // multi-order entry); the next `next` looks there first.
                    c.pause();
                    let end = match self.model.covering(idx) {
                        Some(f) => self.model.map[&f].last(f),
                        None => idx,
                    };
                    if end == u64::MAX {
                        return; // the walk is over
                    }
                    idx = end + 1;
                    started = false;
                    assert_eq!(c.index(), idx, "pause");
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let alloc = match input.flags % 4 {
        1 => Some(Flags::ALLOC),
        2 => Some(Flags::ALLOC1),
        _ => None,
    };
    let collector = Collector::new();
    let handle = collector.register();
    let xa = Xa::with_collector(collector, alloc.unwrap_or(Flags::empty()));
    // Twins: equal contents, different identity.
    let pool = [1u64, 1, 2, 2, 3, 4].iter().map(|&x| Arc::new(x)).collect();
    let mut run = Run {
        xa,
        handle,
        model: Model::default(),
        alloc,
        pool,
        full_checks: 0,
    };
    for op in input.ops.iter().take(32) {
        run.op(op);
        run.check_step();
    }
    run.check_all();
    if report_conversions() {
        // One line per input, summed by .ci/fuzz-replay.sh to show that the
        // corpus reaches every conversion of the compact bottom nodes.
        eprintln!("XRADIX_CONVERSIONS {:?}", run.xa.conversion_stats());
    }
});

/// Whether `XRADIX_FUZZ_CONVERSIONS` is set: each input then reports the
/// tree's `conversion_stats` on stderr.
fn report_conversions() -> bool {
    static REPORT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *REPORT.get_or_init(|| std::env::var_os("XRADIX_FUZZ_CONVERSIONS").is_some())
}
