//! The history checker's writer operations (tests/history.rs): each
//! one applied to the tree (or a `Locked` handle) by `apply_tree!`, and to
//! the shared model by `apply_model`, which says what the tree must
//! return and, replayed after a run, gives the states readers are checked
//! against (`history::Versions`).

#![allow(dead_code)]
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc)]

use xradix::{Entry, Error, Mark};

use crate::model::{bit, MVal, Model, E};

#[derive(Clone, Debug)]
pub enum Op {
    Store(u64, E),
    Insert(u64, E),
    Erase(u64),
    Cmpxchg(u64, Option<E>, Option<E>),
    Reserve(u64),
    Release(u64),
    StoreOrder(u64, u32, E),
    StoreRange(u64, u64, E),
    Split(u64, u32),
    SetMark(u64, Mark),
    ClearMark(u64, Mark),
    TagRange(u64, u64, Mark, Mark),
    Clear,
}

/// What an operation returned, as far as the writers compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// The previous entry's id (a reservation or a hole: None).
    Prev(Option<u64>),
    /// Ok, or the error was `Busy`.
    Busy(bool),
    Count(usize),
    /// Whatever it returned is fine.
    Any,
}

pub fn prev_of(e: Option<E>) -> Out {
    Out::Prev(e.as_ref().map(|e| match e {
        Entry::Value(v) => v << 1,
        Entry::Item(x) => (**x << 1) | 1,
    }))
}

fn prev_m(v: Option<MVal>) -> Out {
    Out::Prev(
        v.filter(|v| !matches!(v, MVal::Reserved))
            .map(|v| crate::history::id_of_val(&v)),
    )
}

pub fn busy_of(r: Result<(), Error>) -> Out {
    match r {
        Ok(()) => Out::Busy(false),
        Err(Error::Busy { .. }) => Out::Busy(true),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Applies `op` to a tree or a `Locked` handle (the same method names);
/// returns what the call returned.
macro_rules! apply_tree {
    ($t:expr, $op:expr) => {{
        use crate::history_ops::{busy_of, prev_of, Op, Out};
        let t = $t;
        match $op.clone() {
            Op::Store(i, e) => prev_of(t.store(i, e).unwrap()),
            Op::Insert(i, e) => busy_of(t.insert(i, e)),
            Op::Erase(i) => prev_of(t.erase(i)),
            Op::Cmpxchg(i, old, new) => prev_of(t.cmpxchg(i, old.as_ref(), new).unwrap()),
            Op::Reserve(i) => {
                t.reserve(i).unwrap();
                Out::Any
            }
            Op::Release(i) => {
                t.release(i);
                Out::Any
            }
            Op::StoreOrder(i, o, e) => prev_of(t.store_order(i, o, e).unwrap()),
            Op::StoreRange(f, l, e) => {
                t.store_range(f, l, e).unwrap();
                Out::Any
            }
            Op::Split(i, o) => {
                let _ = t.split(i, o);
                Out::Any
            }
            Op::SetMark(i, m) => {
                t.set_mark(i, m);
                Out::Any
            }
            Op::ClearMark(i, m) => {
                t.clear_mark(i, m);
                Out::Any
            }
            Op::TagRange(lo, hi, from, to) => Out::Count(t.tag_range(lo..=hi, from, to)),
            Op::Clear => {
                t.clear();
                Out::Any
            }
        }
    }};
}

/// Applies `op` to the model; returns what the tree must return.
pub fn apply_model(m: &mut Model, op: &Op) -> Out {
    match op {
        Op::Store(i, e) => prev_m(m.store(*i, MVal::of(e))),
        Op::Insert(i, e) => {
            if m.covering(*i).is_some() {
                Out::Busy(true)
            } else {
                m.store(*i, MVal::of(e));
                Out::Busy(false)
            }
        }
        Op::Erase(i) => prev_m(m.erase(*i)),
        Op::Cmpxchg(i, old, new) => {
            let cur = m.at(*i).map(|e| e.val.clone());
            if crate::model::owned_matches(old.as_ref(), cur.as_ref()) {
                match new {
                    Some(e) => m.store(*i, MVal::of(e)),
                    None => m.erase(*i),
                };
            }
            prev_m(cur)
        }
        Op::Reserve(i) => {
            if m.covering(*i).is_none() {
                m.store(*i, MVal::Reserved);
            }
            Out::Any
        }
        Op::Release(i) => {
            if m.is_reserved(*i) {
                m.erase(*i);
            }
            Out::Any
        }
        Op::StoreOrder(i, o, e) => {
            let (replaced, inside) = m.store_order(*i, *o, MVal::of(e));
            if inside || replaced.len() <= 1 {
                prev_m(replaced.into_iter().next())
            } else {
                Out::Any
            }
        }
        Op::StoreRange(f, l, e) => {
            m.store_range(*f, *l, MVal::of(e));
            Out::Any
        }
        Op::Split(i, to) => {
            if let Some(f) = m.covering(*i) {
                let e = &m.map[&f];
                if !matches!(e.val, MVal::Reserved) && e.order > *to {
                    m.split(f, *to);
                }
            }
            Out::Any
        }
        Op::SetMark(i, mk) => {
            // The tree keeps no marks on a reservation.
            if !m.is_reserved(*i) {
                m.set_marks(*i, bit(*mk), true);
            }
            Out::Any
        }
        Op::ClearMark(i, mk) => {
            m.set_marks(*i, bit(*mk), false);
            Out::Any
        }
        Op::TagRange(lo, hi, from, to) => Out::Count(m.tag_range(*lo, *hi, bit(*from), bit(*to))),
        Op::Clear => {
            m.clear();
            Out::Any
        }
    }
}
