//! Recording and checking concurrent histories, per index, as Porcupine
//! and Jepsen's Knossos do it.
//!
//! ```text
//!   writer (under the gate)          reader (lock-free)
//!   seq = 2k+1                       before = seq
//!   op k+1 on the tree               observation (load, get_order, ...)
//!   seq = 2k+2                       after = seq
//!   log[k] = op
//!
//!   after the run:  log --replay through the model--> per-index versions
//!                   each observation: some state in [before/2, ceil(after/2)]
//!                   must explain it
//! ```
//!
//! Writers are serialised by a gate (a mutex) and number their operations:
//! `seq` is odd while an operation is in flight and `2k` once `k`
//! operations are done. State `k` is the model after the first `k`
//! operations of the log. A reader reads `seq` before and after each
//! observation (`SeqCst` loads; the tree's own loads are acquire loads, so
//! the second read cannot move before them): if it read `b` before and `a`
//! after, the observation was made while the tree was in one of the states
//! `b / 2 ..= (a + 1) / 2` (an operation in flight when the reader started
//! may be done already; one in flight when it finished may have taken
//! effect). The observation is linearizable exactly when one of those
//! states explains it. Checking is per index: the log is replayed through
//! the shared sequential model (`model.rs`), and after each operation the
//! indices in the spans it changed get a new version when their state
//! (entry, order, marks) differs. Each observation then costs a binary
//! search and a short scan.
//!
//! Every operation stores entries that name it (`Value(k)` or an item
//! holding `k`), so an entry a reader returns says which store made it.
//!
//! Iterators are recorded step by step (each `next()` has its own window)
//! and checked for the contract of ../shared/API.md, "What a reader may
//! see": indices inside the range and strictly monotonic; each yielded
//! entry covered the yielded index at some state of its step; an entry
//! present (same entry, order and marks) over the whole iteration is
//! yielded exactly once.
//!
//! Every index any writer can cover is tracked (`slot_of`); an entry seen
//! at an untracked index is a violation.

#![allow(dead_code)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use xradix::{Entry, EntryRef, Guard, Mark, XArray};

use crate::history_ops::{apply_model, Op};
use crate::model::{bit, mask, MVal, Model, E};

pub type Xa = XArray<u64, u64>;

// ---------------------------------------------------------------------------
// The index space: two regions of 256 indices, one at 0 and one straddling
// 2^32 (a boundary at the top levels of the tree). Writers cover only
// these indices: orders up to 8 in region A, 7 in region B, aligned.

pub const REGION_LEN: u64 = 256;
pub const REGION_B: u64 = (1 << 32) - 128;
pub const SLOTS: usize = 2 * REGION_LEN as usize;
pub const REGIONS: [u64; 2] = [0, REGION_B];

pub fn slot_of(i: u64) -> Option<usize> {
    if i < REGION_LEN {
        Some(i as usize)
    } else if i >= REGION_B && i - REGION_B < REGION_LEN {
        Some((REGION_LEN + i - REGION_B) as usize)
    } else {
        None
    }
}

pub fn index_of(slot: usize) -> u64 {
    let s = slot as u64;
    if s < REGION_LEN {
        s
    } else {
        REGION_B + s - REGION_LEN
    }
}

/// The tracked slots whose indices lie in `lo..=hi`.
pub fn slots_in(lo: u64, hi: u64) -> impl Iterator<Item = usize> {
    REGIONS.into_iter().flat_map(move |base| {
        let (a, b) = (lo.max(base), hi.min(base + REGION_LEN - 1));
        // Empty when the range misses the region.
        (a..b.saturating_add(1)).map(|i| slot_of(i).unwrap())
    })
}

// ---------------------------------------------------------------------------
// Entries that name the operation that stored them.

pub fn value_of(k: u64) -> E {
    Entry::Value(k)
}

pub fn item_of(k: u64) -> E {
    Entry::Item(Arc::new(k))
}

/// An entry's id: `k << 1`, plus 1 for an item.
pub fn id_of_ref(e: EntryRef<'_, u64, u64>) -> u64 {
    match e {
        EntryRef::Value(v) => v << 1,
        EntryRef::Item(x) => (*x << 1) | 1,
    }
}

pub fn id_of_val(v: &MVal) -> u64 {
    match v {
        MVal::Value(x) => x << 1,
        MVal::Item(a) => (**a << 1) | 1,
        MVal::Reserved => unreachable!("a reservation has no id"),
    }
}

pub fn show_id(id: u64) -> String {
    if id & 1 == 0 {
        format!("Value({})", id >> 1)
    } else {
        format!("Item({})", id >> 1)
    }
}

// ---------------------------------------------------------------------------
// Per-index versions.

/// The state of one index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Hole,
    Reserved,
    Entry {
        id: u64,
        first: u64,
        order: u32,
        marks: u8,
    },
}

impl Cell {
    pub fn of(m: &Model, i: u64) -> Cell {
        match m.covering(i) {
            None => Cell::Hole,
            Some(f) => {
                let e = &m.map[&f];
                match e.val {
                    MVal::Reserved => Cell::Reserved,
                    ref v => Cell::Entry {
                        id: id_of_val(v),
                        first: f,
                        order: e.order,
                        marks: e.marks,
                    },
                }
            }
        }
    }

    /// What `load` returns here, encoded as in `Obs::res`.
    fn load(self) -> u64 {
        match self {
            Cell::Entry { id, .. } => id + 1,
            _ => 0,
        }
    }

    fn order(self) -> u32 {
        match self {
            Cell::Entry { order, .. } => order,
            _ => 0,
        }
    }

    fn marks(self) -> u8 {
        match self {
            Cell::Entry { marks, .. } => marks,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Cell::Hole => write!(f, "hole"),
            Cell::Reserved => write!(f, "reserved"),
            Cell::Entry {
                id,
                first,
                order,
                marks,
            } => write!(
                f,
                "{} order {order} at {first}..={} marks {marks:#05b}",
                show_id(id),
                first + mask(order)
            ),
        }
    }
}

/// Each tracked index's states: (first state number, cell), ascending.
pub struct Versions {
    slots: Vec<Vec<(u32, Cell)>>,
    /// States replayed (the log's length).
    pub states: u32,
}

impl Versions {
    /// Replays `log` from an empty tree.
    pub fn replay(log: &[Op]) -> Versions {
        let mut v = Versions {
            slots: vec![vec![(0, Cell::Hole)]; SLOTS],
            states: 0,
        };
        let mut m = Model::tracking();
        for (k, op) in log.iter().enumerate() {
            m.changed.clear();
            m.touched.clear();
            apply_model(&mut m, op);
            let state = k as u32 + 1;
            for &(f, l) in &m.changed {
                for s in slots_in(f, l) {
                    let c = Cell::of(&m, index_of(s));
                    let list = &mut v.slots[s];
                    let last = list.last_mut().unwrap();
                    if last.1 != c {
                        if last.0 == state {
                            last.1 = c;
                        } else {
                            list.push((state, c));
                        }
                    }
                }
            }
        }
        v.states = log.len() as u32;
        v
    }

    /// The versions of `slot` in effect at some state in `lo..=hi`.
    pub fn window(&self, slot: usize, lo: u32, hi: u32) -> &[(u32, Cell)] {
        let list = &self.slots[slot];
        let start = list.partition_point(|v| v.0 <= lo) - 1;
        let end = list.partition_point(|v| v.0 <= hi).max(start + 1);
        &list[start..end]
    }

    /// The number of versions kept (for the summary).
    pub fn len(&self) -> usize {
        self.slots.iter().map(Vec::len).sum()
    }
}

/// The states an observation made between reading `before` and `after`
/// from the sequence counter may have seen.
pub fn states(before: u32, after: u32) -> (u32, u32) {
    (before / 2, after.div_ceil(2))
}

// ---------------------------------------------------------------------------
// Observations.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Load,
    Get,
    Order,
    /// `get_mark` of the mark with this bit.
    Mark(u8),
}

impl Kind {
    fn slot(self) -> usize {
        match self {
            Kind::Load => 0,
            Kind::Get => 1,
            Kind::Order => 2,
            Kind::Mark(_) => 3,
        }
    }
}

pub const KIND_NAMES: [&str; 4] = ["load", "get", "get_order", "get_mark"];

/// One point read: `res` is the id + 1 (0: None) for load/get, the order,
/// or 0/1 for a mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Obs {
    pub index: u64,
    pub kind: Kind,
    pub res: u64,
    pub before: u32,
    pub after: u32,
}

/// One step of an iterator.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub index: u64,
    pub id: u64,
    pub before: u32,
    pub after: u32,
}

/// One iteration over `lo..=hi` (forward or reversed, all entries or those
/// with a mark), from before its creation to after its last `next()`.
#[derive(Clone, Debug)]
pub struct IterRec {
    pub lo: u64,
    pub hi: u64,
    pub mark: Option<Mark>,
    pub rev: bool,
    pub before: u32,
    pub after: u32,
    pub steps: Vec<Step>,
}

impl IterRec {
    fn new(
        lo: u64,
        hi: u64,
        mark: Option<Mark>,
        rev: bool,
        before: u32,
        steps: Vec<Step>,
    ) -> IterRec {
        IterRec {
            lo,
            hi,
            mark,
            rev,
            before,
            after: before,
            steps,
        }
    }
}

/// A reader's record.
pub struct Rec {
    pub obs: Vec<Obs>,
    pub iters: Vec<IterRec>,
    /// Observations made, per kind (repeats included).
    pub made: [u64; 4],
    pub cap: usize,
}

fn now(seq: &AtomicU64) -> u32 {
    seq.load(SeqCst) as u32
}

impl Rec {
    pub fn new(cap: usize) -> Rec {
        Rec {
            obs: Vec::with_capacity(cap.min(1 << 16)),
            iters: Vec::new(),
            made: [0; 4],
            cap,
        }
    }

    pub fn full(&self) -> bool {
        self.obs.len() >= self.cap || self.iters.len() >= self.cap / 16
    }

    /// Records an observation; an exact repeat of the last one (same
    /// result, same window) is only counted.
    pub fn push(&mut self, o: Obs) {
        self.made[o.kind.slot()] += 1;
        if self.obs.last() != Some(&o) {
            self.obs.push(o);
        }
    }

    pub fn load(&mut self, seq: &AtomicU64, xa: &Xa, g: &Guard, index: u64) {
        let before = now(seq);
        let res = xa.load(index, g).map_or(0, |e| id_of_ref(e) + 1);
        let after = now(seq);
        self.push(Obs {
            index,
            kind: Kind::Load,
            res,
            before,
            after,
        });
    }

    /// `n` steps of a cursor from `index`, up (`Cursor::next`) or down
    /// (`Cursor::prev`), one index at a time, holes included: each result
    /// is a `load` observation of the index the cursor then reports, whose
    /// window is that one call. (The first call reads `index` itself.)
    pub fn steps(&mut self, seq: &AtomicU64, xa: &Xa, g: &Guard, index: u64, n: u64, up: bool) {
        let mut c = xa.cursor(index, g);
        for _ in 0..n {
            let before = now(seq);
            let e = if up { c.next() } else { c.prev() };
            let res = e.map_or(0, |e| id_of_ref(e) + 1);
            let after = now(seq);
            self.push(Obs {
                index: c.index(),
                kind: Kind::Load,
                res,
                before,
                after,
            });
        }
    }

    /// `load_many` over `indices`: each result is a `load` observation
    /// whose window is the whole call.
    pub fn load_many(&mut self, seq: &AtomicU64, xa: &Xa, g: &Guard, indices: &[u64]) {
        let before = now(seq);
        let res: Vec<u64> = xa
            .load_many(indices.iter().copied(), g)
            .map(|e| e.map_or(0, |e| id_of_ref(e) + 1))
            .collect();
        let after = now(seq);
        for (&index, res) in indices.iter().zip(res) {
            self.push(Obs {
                index,
                kind: Kind::Load,
                res,
                before,
                after,
            });
        }
    }

    pub fn get(&mut self, seq: &AtomicU64, xa: &Xa, index: u64) {
        let before = now(seq);
        let res = xa.get(index).map_or(0, |e| match e {
            Entry::Value(v) => (v << 1) + 1,
            Entry::Item(x) => ((*x << 1) | 1) + 1,
        });
        let after = now(seq);
        self.push(Obs {
            index,
            kind: Kind::Get,
            res,
            before,
            after,
        });
    }

    pub fn order(&mut self, seq: &AtomicU64, xa: &Xa, index: u64) {
        let before = now(seq);
        let res = xa.get_order(index) as u64;
        let after = now(seq);
        self.push(Obs {
            index,
            kind: Kind::Order,
            res,
            before,
            after,
        });
    }

    pub fn mark(&mut self, seq: &AtomicU64, xa: &Xa, index: u64, m: Mark) {
        let before = now(seq);
        let res = xa.get_mark(index, m) as u64;
        let after = now(seq);
        self.push(Obs {
            index,
            kind: Kind::Mark(bit(m)),
            res,
            before,
            after,
        });
    }

    /// Iterates `r` (`range`, or `iter_marked` with a mark; reversed with
    /// `rev`), recording each step.
    pub fn iterate(
        &mut self,
        seq: &AtomicU64,
        xa: &Xa,
        g: &Guard,
        r: RangeInclusive<u64>,
        mark: Option<Mark>,
        rev: bool,
    ) {
        let before = now(seq);
        let (lo, hi) = (*r.start(), *r.end());
        let it = match mark {
            None => xa.range(r, g),
            Some(m) => xa.iter_marked(r, m, g),
        };
        let steps = if rev {
            record_steps(seq, it.rev(), before)
        } else {
            record_steps(seq, it, before)
        };
        self.push_iter(seq, IterRec::new(lo, hi, mark, rev, before, steps));
    }

    /// Records an iteration that has just ended (its window closes now).
    fn push_iter(&mut self, seq: &AtomicU64, mut rec: IterRec) {
        rec.after = now(seq);
        self.iters.push(rec);
    }

    /// A cursor's `find` (or `next_marked`) loop over `r`: the same
    /// promises as `range` (or `iter_marked`) over it, so it is recorded
    /// and checked as that iteration.
    pub fn cursor_find(
        &mut self,
        seq: &AtomicU64,
        xa: &Xa,
        g: &Guard,
        r: RangeInclusive<u64>,
        mark: Option<Mark>,
    ) {
        let before = now(seq);
        let (lo, hi) = (*r.start(), *r.end());
        let mut c = xa.cursor(lo, g);
        let it = core::iter::from_fn(|| {
            let e = match mark {
                None => c.find(hi),
                Some(m) => c.next_marked(m, hi),
            }?;
            Some((c.index(), e))
        });
        let steps = record_steps(seq, it, before);
        self.push_iter(seq, IterRec::new(lo, hi, mark, false, before, steps));
    }
}

/// Drives an iterator, one window per `next()`; the first step's window
/// opens before the iterator was made.
fn record_steps<'g, I>(seq: &AtomicU64, mut it: I, start: u32) -> Vec<Step>
where
    I: Iterator<Item = (u64, EntryRef<'g, u64, u64>)>,
{
    let mut steps = Vec::new();
    let mut before = start;
    // A bound on a walk that goes wrong and never ends.
    while steps.len() <= 2 * SLOTS {
        let Some((index, e)) = it.next() else { break };
        let after = now(seq);
        steps.push(Step {
            index,
            id: id_of_ref(e),
            before,
            after,
        });
        before = now(seq);
    }
    steps
}

// ---------------------------------------------------------------------------
// The check.

/// What a check found.
#[derive(Default)]
pub struct Report {
    /// Distinct point observations checked, per kind.
    pub checked: [u64; 4],
    pub iters: u64,
    pub steps: u64,
    /// Entries present over a whole iteration, checked to be yielded once.
    pub stable: u64,
    /// Violations by kind.
    pub kinds: HashMap<&'static str, u64>,
    /// The first few counterexamples, described.
    pub examples: Vec<String>,
    /// The states of the first counterexample's window.
    pub first_window: Option<(u32, u32)>,
    /// The first counterexample of each kind, and its window.
    pub first_by_kind: HashMap<&'static str, (String, (u32, u32))>,
}

impl Report {
    pub fn violations(&self) -> u64 {
        self.kinds.values().sum()
    }

    fn violation(
        &mut self,
        kind: &'static str,
        window: (u32, u32),
        describe: impl FnOnce() -> String,
    ) {
        *self.kinds.entry(kind).or_default() += 1;
        self.first_window.get_or_insert(window);
        let new_kind = !self.first_by_kind.contains_key(kind);
        if self.examples.len() < 4 || new_kind {
            let d = format!("[{kind}] {}", describe());
            if new_kind {
                self.first_by_kind.insert(kind, (d.clone(), window));
            }
            if self.examples.len() < 4 {
                self.examples.push(d);
            }
        }
    }
}

/// Describes `slot`'s states in `lo..=hi`.
fn show_window(v: &Versions, index: u64, lo: u32, hi: u32) -> String {
    let mut s = String::new();
    match slot_of(index) {
        None => s.push_str("    (index outside the writers' space: never covered)\n"),
        Some(slot) => {
            for (state, c) in v.window(slot, lo, hi) {
                let _ = writeln!(s, "    from state {state}: {c}");
            }
        }
    }
    s
}

fn show_res(kind: Kind, res: u64) -> String {
    match kind {
        Kind::Load | Kind::Get if res == 0 => "None".into(),
        Kind::Load | Kind::Get => show_id(res - 1),
        Kind::Order => res.to_string(),
        Kind::Mark(_) => (res != 0).to_string(),
    }
}

/// Whether a state explains a point observation.
fn explains(c: Cell, kind: Kind, res: u64) -> bool {
    match kind {
        Kind::Load | Kind::Get => c.load() == res,
        Kind::Order => c.order() as u64 == res,
        Kind::Mark(b) => (c.marks() & b != 0) as u64 == res,
    }
}

/// Checks every observation of `recs` against the versions.
pub fn check(v: &Versions, recs: &[Rec]) -> Report {
    let mut r = Report::default();
    for rec in recs {
        for o in &rec.obs {
            check_obs(v, o, &mut r);
        }
        for it in &rec.iters {
            check_iter(v, it, &mut r);
        }
    }
    r
}

pub fn check_obs(v: &Versions, o: &Obs, r: &mut Report) {
    r.checked[o.kind.slot()] += 1;
    let (lo, hi) = states(o.before, o.after);
    let ok = match slot_of(o.index) {
        Some(slot) => v
            .window(slot, lo, hi)
            .iter()
            .any(|&(_, c)| explains(c, o.kind, o.res)),
        None => explains(Cell::Hole, o.kind, o.res),
    };
    if !ok {
        let name = KIND_NAMES[o.kind.slot()];
        r.violation(name, (lo, hi), || {
            let what = match o.kind {
                Kind::Mark(b) => format!("get_mark({}, mark bit {b:#05b})", o.index),
                _ => format!("{name}({})", o.index),
            };
            format!(
                "{what} returned {}, but no state in {lo}..={hi} (seq {}..={}) has that; \
                 the index's states:\n{}",
                show_res(o.kind, o.res),
                o.before,
                o.after,
                show_window(v, o.index, lo, hi)
            )
        });
    }
}

pub fn check_iter(v: &Versions, it: &IterRec, r: &mut Report) {
    r.iters += 1;
    r.steps += it.steps.len() as u64;
    let what = || {
        format!(
            "{}({}..={}{}){}",
            if it.mark.is_some() {
                "iter_marked"
            } else {
                "range"
            },
            it.lo,
            it.hi,
            it.mark.map(|m| format!(", {m:?}")).unwrap_or_default(),
            if it.rev { ".rev()" } else { "" }
        )
    };
    let yielded = || {
        it.steps
            .iter()
            .map(|s| format!("{}:{}", s.index, show_id(s.id)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut prev: Option<u64> = None;
    for (k, s) in it.steps.iter().enumerate() {
        let (lo, hi) = states(s.before, s.after);
        if s.index < it.lo || s.index > it.hi {
            r.violation("iterator left its range", (lo, hi), || {
                format!(
                    "{} step {k} yielded index {} (seq {}..={}); yielded: [{}]",
                    what(),
                    s.index,
                    s.before,
                    s.after,
                    yielded()
                )
            });
        }
        if let Some(p) = prev {
            if (!it.rev && s.index <= p) || (it.rev && s.index >= p) {
                r.violation("iterator not monotonic", (lo, hi), || {
                    format!(
                        "{} step {k} yielded index {} after {p}; yielded: [{}]",
                        what(),
                        s.index,
                        yielded()
                    )
                });
            }
        }
        prev = Some(s.index);
        let covered = slot_of(s.index).is_some_and(|slot| {
            v.window(slot, lo, hi)
                .iter()
                .any(|&(_, c)| matches!(c, Cell::Entry { id, .. } if id == s.id))
        });
        if !covered {
            r.violation("iterator yielded an entry not there", (lo, hi), || {
                format!(
                    "{} step {k} yielded {} at {}, but no state in {lo}..={hi} (seq {}..={}) \
                     has it there; the index's states:\n{}",
                    what(),
                    show_id(s.id),
                    s.index,
                    s.before,
                    s.after,
                    show_window(v, s.index, lo, hi)
                )
            });
        }
    }
    // Entries present over the whole iteration: exactly once each.
    let (lo, hi) = states(it.before, it.after);
    let mut by_id: HashMap<u64, Vec<u64>> = HashMap::new();
    for s in &it.steps {
        by_id.entry(s.id).or_default().push(s.index);
    }
    for slot in slots_in(it.lo, it.hi) {
        let w = v.window(slot, lo, hi);
        let [(_, c)] = w else { continue };
        let Cell::Entry {
            id,
            first,
            order,
            marks,
        } = *c
        else {
            continue;
        };
        if it.mark.is_some_and(|m| marks & bit(m) == 0) {
            continue;
        }
        let p = first.max(it.lo);
        if index_of(slot) != p {
            continue;
        }
        let q = (first + mask(order)).min(it.hi);
        r.stable += 1;
        let n = by_id
            .get(&id)
            .map_or(0, |ix| ix.iter().filter(|&&i| (p..=q).contains(&i)).count());
        if n != 1 {
            r.violation("iterator missed or repeated an entry", (lo, hi), || {
                format!(
                    "{} yielded {} {n} times in {p}..={q}, where it stayed over the whole \
                     iteration (states {lo}..={hi}: {c}); yielded: [{}]",
                    what(),
                    show_id(id),
                    yielded()
                )
            });
        }
    }
}
