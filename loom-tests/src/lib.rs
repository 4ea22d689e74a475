//! loom models of xradix's concurrent paths.
//!
//! The models live in `tests/`, one file per concurrent path; this library
//! holds what they share. Everything is compiled only with
//! `--cfg xradix_loom --cfg crossbeam_loom` (see the README and
//! `.ci/loom.sh`); a normal `cargo test --workspace` builds an empty crate.
//!
//! Under `xradix_loom` the tree uses 16-slot nodes, so indices below 16 need
//! one level and indices below 256 two. Each model builds a fresh
//! [`Collector`] and a tree on it, so that the epoch machinery (pinning,
//! deferred frees, epoch advances) is modelled by loom together with the
//! tree's own atomics.

#![cfg_attr(not(xradix_loom), allow(unused))]

#[cfg(xradix_loom)]
pub use support::*;

#[cfg(xradix_loom)]
mod support {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use xradix::{Collector, Entry, EntryRef, Flags, Guard, XArray};

    /// The tree type of every model: items carry an id and report their
    /// drop; values are plain `u64`.
    pub type Tree = XArray<Item, u64>;

    /// Runs `f` under `loom::model` with the bounds from the environment
    /// (`LOOM_MAX_PREEMPTIONS`, default 2 here; `LOOM_MAX_BRANCHES`, default
    /// 20 000 here because every write registers and pins an epoch handle),
    /// and reports the number of executions explored and the time taken on
    /// stdout and, when `XRADIX_LOOM_REPORT` names a file, in that file.
    pub fn model<F>(name: &str, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        model_bounded(name, usize::MAX, f)
    }

    /// [`model`] with the preemption bound at most `preemptions`: for a
    /// model whose bug needs one preemption (a reader stopped between two
    /// calls while a writer runs several operations), where the general
    /// bound would explore millions of schedules that add nothing.
    pub fn model_bounded<F>(name: &str, preemptions: usize, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        let mut builder = loom::model::Builder::new();
        if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
            builder.preemption_bound = Some(2);
        }
        builder.preemption_bound = builder.preemption_bound.map(|b| b.min(preemptions));
        if std::env::var_os("LOOM_MAX_BRANCHES").is_none() {
            builder.max_branches = 20_000;
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let start = Instant::now();
        builder.check(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let _report = ReportOnPanic(n);
            f();
        });
        let line = format!(
            "loom model {name}: {} executions in {:.2} s (preemption bound {:?})",
            runs.load(Ordering::Relaxed),
            start.elapsed().as_secs_f64(),
            builder.preemption_bound,
        );
        println!("{line}");
        if let Some(path) = std::env::var_os("XRADIX_LOOM_REPORT") {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    /// Names the execution that failed, for reproducing it.
    struct ReportOnPanic(usize);

    impl Drop for ReportOnPanic {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("loom: execution {} of the model failed", self.0);
            }
        }
    }

    /// A fresh collector and an empty tree freeing through it.
    pub fn new_tree(flags: Flags) -> (Collector, Arc<Tree>) {
        let collector = Collector::new();
        let xa = Arc::new(XArray::with_collector(collector.clone(), flags));
        (collector, xa)
    }

    /// Per-item drop counts, shared by the items of one execution. Plain
    /// (not loom) atomics: they observe the model, they are not part of it,
    /// and loom runs one thread at a time, so they always hold the latest
    /// count.
    #[derive(Default)]
    pub struct Drops {
        counts: [AtomicUsize; 8],
    }

    impl Drops {
        pub fn new() -> Arc<Drops> {
            Arc::new(Drops::default())
        }

        /// How often item `id` was dropped.
        pub fn count(&self, id: usize) -> usize {
            self.counts[id].load(Ordering::SeqCst)
        }

        /// A new item with `id`.
        pub fn item(self: &Arc<Self>, id: usize) -> Entry<Item, u64> {
            Entry::Item(Arc::new(Item {
                id,
                canary: CANARY,
                drops: self.clone(),
            }))
        }
    }

    const CANARY: u64 = 0x5EED_F00D_CAFE_D00D;

    /// An item that knows its id and counts its drop.
    pub struct Item {
        pub id: usize,
        canary: u64,
        drops: Arc<Drops>,
    }

    impl std::fmt::Debug for Item {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Item({})", self.id)
        }
    }

    impl PartialEq for Item {
        fn eq(&self, other: &Item) -> bool {
            self.id == other.id
        }
    }

    impl Drop for Item {
        fn drop(&mut self) {
            assert_eq!(self.canary, CANARY, "dropping a corrupted item");
            self.canary = 0;
            let before = self.drops.counts[self.id].fetch_add(1, Ordering::SeqCst);
            assert_eq!(before, 0, "item {} dropped twice", self.id);
        }
    }

    /// What a reader saw at an index, checked for garbage: an item must be
    /// intact and not yet dropped (the caller still holds the guard it was
    /// loaded under).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Seen {
        None,
        Item(usize),
        Value(u64),
    }

    /// Turns what a load returned into [`Seen`], checking an item's
    /// integrity while `_guard` keeps it alive.
    pub fn seen(e: Option<EntryRef<'_, Item, u64>>, _guard: &Guard) -> Seen {
        match e {
            None => Seen::None,
            Some(EntryRef::Value(v)) => Seen::Value(v),
            Some(EntryRef::Item(item)) => {
                assert_eq!(item.canary, CANARY, "reader saw a corrupted or freed item");
                assert_eq!(
                    item.drops.count(item.id),
                    0,
                    "reader holds item {} that was already dropped",
                    item.id
                );
                Seen::Item(item.id)
            }
        }
    }

    /// Loads `index` and checks what it holds (see [`seen`]).
    pub fn load(xa: &Tree, index: u64, guard: &Guard) -> Seen {
        seen(xa.load(index, guard), guard)
    }

    /// Spawns a loom thread that registers with `collector`, pins, and
    /// runs `f` with the tree and the guard.
    pub fn reader<R, F>(collector: &Collector, xa: &Arc<Tree>, f: F) -> loom::thread::JoinHandle<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tree, &Guard) -> R + Send + 'static,
    {
        let collector = collector.clone();
        let xa = xa.clone();
        loom::thread::spawn(move || {
            let handle = collector.register();
            let guard = handle.pin();
            f(&xa, &guard)
        })
    }

    /// Spawns a loom thread that runs `f` with the tree (writers pin
    /// internally).
    pub fn writer<R, F>(xa: &Arc<Tree>, f: F) -> loom::thread::JoinHandle<R>
    where
        R: Send + 'static,
        F: FnOnce(&Tree) -> R + Send + 'static,
    {
        let xa = xa.clone();
        loom::thread::spawn(move || f(&xa))
    }
}
