//! The sequential model of the tree's semantics, shared by the model test
//! (tests/model.rs), the fuzz target (fuzz/fuzz_targets/ops.rs, through
//! `#[path]`) and the concurrent history checker (tests/history.rs), so a
//! semantic change is made once.
//!
//! The model keys each entry by its first index and keeps its order and
//! marks, with the kernel's multi-order rules (../shared/API.md):
//!
//! - a `store` inside a multi-order entry replaces the whole entry and keeps
//!   its order and marks; `erase` removes it whole;
//! - `store_order` replaces everything in its aligned range, the new entry
//!   getting the union of their marks; inside a larger entry it acts as a
//!   `store`;
//! - `store_range` is the sequence of aligned `store_order`s;
//! - `split` gives every piece the entry and its marks;
//! - reservations read as nothing and occupy their index;
//! - iterators yield each entry once, at `max(first index, range start)`.
//!
//! Besides the state, the model keeps two optional logs: `touched`, indices
//! a sequential test compares after the operation (the operation's index,
//! its neighbours and the ends of every entry it changed), and `changed`
//! (when `track_changes` is on), the exact index spans whose state
//! (entry, order or marks) an operation may have changed, which the
//! history checker turns into per-index version lists.

#![allow(dead_code)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::BTreeMap;
use std::sync::Arc;

use xradix::{Entry, EntryRef, Mark};

/// The entry type every user of the model stores: items are `Arc<u64>`.
pub type E = Entry<u64, u64>;

/// The mask of an order-`order` entry's offsets.
pub fn mask(order: u32) -> u64 {
    if order >= 64 {
        u64::MAX
    } else {
        (1u64 << order) - 1
    }
}

/// A mark as a bit of `MEnt::marks`.
pub fn bit(m: Mark) -> u8 {
    let k = Mark::ALL.iter().position(|&x| x == m).unwrap();
    1 << k
}

/// What an entry holds.
#[derive(Clone, Debug)]
pub enum MVal {
    Reserved,
    Value(u64),
    Item(Arc<u64>),
}

impl MVal {
    pub fn of(e: &E) -> MVal {
        match e {
            Entry::Value(x) => MVal::Value(*x),
            Entry::Item(a) => MVal::Item(a.clone()),
        }
    }

    /// The entry a `cmpxchg` would pass as `old` (a reservation is `None`).
    pub fn to_entry(&self) -> Option<E> {
        match self {
            MVal::Reserved => None,
            MVal::Value(x) => Some(Entry::Value(*x)),
            MVal::Item(a) => Some(Entry::Item(a.clone())),
        }
    }
}

/// One entry: its contents, order and marks (bits of `bit`).
#[derive(Clone, Debug)]
pub struct MEnt {
    pub val: MVal,
    pub order: u32,
    pub marks: u8,
}

impl MEnt {
    pub fn last(&self, first: u64) -> u64 {
        first + mask(self.order)
    }
}

/// Whether an owned entry the tree returned is the model's (items by
/// identity; a reservation reads as `None`).
pub fn owned_matches(got: Option<&E>, want: Option<&MVal>) -> bool {
    match (got, want) {
        (None, None) | (None, Some(MVal::Reserved)) => true,
        (Some(Entry::Value(a)), Some(MVal::Value(b))) => a == b,
        (Some(Entry::Item(a)), Some(MVal::Item(b))) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// Whether `got`, what a `store_order` over several entries returned, is
/// one of those the model says it replaced (or nothing: the tree returns
/// one of them, which the model does not pin down).
pub fn one_of_replaced(got: Option<&E>, replaced: &[MVal]) -> bool {
    got.is_none() || replaced.iter().any(|r| owned_matches(got, Some(r)))
}

/// Whether a borrowed entry the tree returned is the model's.
pub fn ref_matches(got: Option<EntryRef<'_, u64, u64>>, want: Option<&MVal>) -> bool {
    match (got, want) {
        (None, None) | (None, Some(MVal::Reserved)) => true,
        (Some(EntryRef::Value(a)), Some(MVal::Value(b))) => a == *b,
        (Some(EntryRef::Item(a)), Some(MVal::Item(b))) => std::ptr::eq(a, Arc::as_ptr(b)),
        _ => false,
    }
}

/// The model.
#[derive(Default)]
pub struct Model {
    pub map: BTreeMap<u64, MEnt>,
    /// Indices whose state the next comparison must check.
    pub touched: Vec<u64>,
    /// Whether to log `changed`.
    pub track_changes: bool,
    /// Index spans (first, last) whose state may have changed.
    pub changed: Vec<(u64, u64)>,
}

impl Model {
    /// A model that logs the spans each operation changes.
    pub fn tracking() -> Model {
        Model {
            track_changes: true,
            ..Model::default()
        }
    }

    fn changed(&mut self, first: u64, last: u64) {
        if self.track_changes {
            self.changed.push((first, last));
        }
    }

    /// The first index of the entry covering `i`.
    pub fn covering(&self, i: u64) -> Option<u64> {
        let (&f, e) = self.map.range(..=i).next_back()?;
        (e.last(f) >= i).then_some(f)
    }

    /// The entry covering `i`.
    pub fn at(&self, i: u64) -> Option<&MEnt> {
        self.covering(i).map(|f| &self.map[&f])
    }

    /// Whether `i` holds a reservation.
    pub fn is_reserved(&self, i: u64) -> bool {
        matches!(self.at(i).map(|e| &e.val), Some(MVal::Reserved))
    }

    pub fn touch(&mut self, i: u64) {
        self.touched
            .extend([i, i.wrapping_sub(1), i.wrapping_add(1)]);
    }

    /// Touches the ends and the middle of an entry's range.
    pub fn touch_range(&mut self, first: u64, last: u64) {
        self.touch(first);
        self.touch(last);
        self.touched.push(first + (last - first) / 2);
    }

    /// `store` at `i`: replaces the covering entry whole, keeping its order
    /// and marks, or adds an order-0 entry. Returns what it replaced.
    pub fn store(&mut self, i: u64, val: MVal) -> Option<MVal> {
        self.touch(i);
        if let Some(f) = self.covering(i) {
            let e = self.map.get_mut(&f).unwrap();
            let prev = std::mem::replace(&mut e.val, val);
            let last = e.last(f);
            self.touch_range(f, last);
            self.changed(f, last);
            Some(prev)
        } else {
            self.map.insert(
                i,
                MEnt {
                    val,
                    order: 0,
                    marks: 0,
                },
            );
            self.changed(i, i);
            None
        }
    }

    /// `erase` at `i`: removes the covering entry whole.
    pub fn erase(&mut self, i: u64) -> Option<MVal> {
        self.touch(i);
        let f = self.covering(i)?;
        let e = self.map.remove(&f).unwrap();
        let last = e.last(f);
        self.touch_range(f, last);
        self.changed(f, last);
        Some(e.val)
    }

    /// `store_order` at an aligned `i`: what it replaced (in index order),
    /// and whether it acted as a plain store into a larger entry.
    pub fn store_order(&mut self, i: u64, order: u32, val: MVal) -> (Vec<MVal>, bool) {
        if let Some(f) = self.covering(i) {
            if self.map[&f].order > order {
                let prev = self.store(i, val).unwrap();
                return (vec![prev], true);
            }
        }
        let last = i + mask(order);
        let firsts: Vec<u64> = self.map.range(i..=last).map(|(&f, _)| f).collect();
        let mut marks = 0;
        let mut replaced = Vec::new();
        for f in firsts {
            let e = self.map.remove(&f).unwrap();
            assert!(
                e.last(f) <= last,
                "model: entry {f} sticks out of {i}..={last}"
            );
            marks |= e.marks;
            self.touch_range(f, e.last(f));
            replaced.push(e.val);
        }
        self.map.insert(i, MEnt { val, order, marks });
        self.touch_range(i, last);
        self.changed(i, last);
        (replaced, false)
    }

    /// `store_range(first, last)` (first <= last): the aligned
    /// `store_order`s that cover it, lowest first.
    pub fn store_range(&mut self, first: u64, last: u64, val: MVal) {
        let mut i = first;
        loop {
            let mut order = if i == 0 {
                63
            } else {
                i.trailing_zeros().min(63)
            };
            while i + mask(order) > last {
                order -= 1;
            }
            self.store_order(i, order, val.clone());
            let end = i + mask(order);
            if end >= last {
                break;
            }
            i = end + 1;
        }
    }

    /// Splits the entry at first index `f` into order-`to` pieces.
    pub fn split(&mut self, f: u64, to: u32) {
        let e = self.map.remove(&f).unwrap();
        self.changed(f, e.last(f));
        let n = 1u64 << (e.order - to);
        for p in 0..n {
            let first = f + (p << to);
            self.map.insert(
                first,
                MEnt {
                    val: e.val.clone(),
                    order: to,
                    marks: e.marks,
                },
            );
            if p < 3 || p + 3 >= n {
                self.touch_range(first, first + mask(to));
            }
        }
    }

    /// Sets (`on`) or clears the marks `m` of the entry covering `i`.
    pub fn set_marks(&mut self, i: u64, m: u8, on: bool) {
        self.touch(i);
        if let Some(f) = self.covering(i) {
            let e = self.map.get_mut(&f).unwrap();
            if on {
                e.marks |= m;
            } else {
                e.marks &= !m;
            }
            let last = e.last(f);
            self.touch_range(f, last);
            self.changed(f, last);
        }
    }

    /// `tag_range(lo..=hi, from, to)`: how many entries carry `from` (each
    /// now also carries `to`).
    pub fn tag_range(&mut self, lo: u64, hi: u64, from: u8, to: u8) -> usize {
        let firsts: Vec<u64> = self
            .overlapping(lo, hi)
            .into_iter()
            .filter(|f| self.map[f].marks & from != 0)
            .collect();
        for &f in &firsts {
            self.set_marks(f, to, true);
        }
        firsts.len()
    }

    /// `clear`.
    pub fn clear(&mut self) {
        self.map.clear();
        self.changed(0, u64::MAX);
    }

    /// First indices of the entries overlapping `lo..=hi`.
    pub fn overlapping(&self, lo: u64, hi: u64) -> Vec<u64> {
        let mut out = Vec::new();
        if lo > hi {
            return out;
        }
        if let Some(f) = self.covering(lo) {
            out.push(f);
        }
        for (&f, _) in self.map.range(lo..=hi) {
            if out.last() != Some(&f) {
                out.push(f);
            }
        }
        out
    }

    /// What `range`/`iter_marked` over `lo..=hi` yields: non-reserved
    /// entries, each once, at `max(first, lo)`.
    pub fn expect_iter(&self, lo: u64, hi: u64, mark: Option<u8>) -> Vec<(u64, MVal)> {
        self.overlapping(lo, hi)
            .into_iter()
            .map(|f| (f, &self.map[&f]))
            .filter(|(_, e)| !matches!(e.val, MVal::Reserved))
            .filter(|(_, e)| mark.is_none_or(|m| e.marks & m != 0))
            .map(|(f, e)| (f.max(lo), e.val.clone()))
            .collect()
    }

    /// The lowest index in `lo..=hi` that no entry covers.
    pub fn lowest_free(&self, lo: u64, hi: u64) -> Option<u64> {
        let mut i = lo;
        loop {
            if i > hi {
                return None;
            }
            match self.covering(i) {
                None => return Some(i),
                Some(f) => i = self.map[&f].last(f).checked_add(1)?,
            }
        }
    }
}
