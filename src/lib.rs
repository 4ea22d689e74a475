//! A concurrent radix tree in the style of the Linux kernel's XArray.
//!
//! `xradix` maps `u64` indices to entries: shared items (`Arc<T>`) or
//! small typed values stored in the slot itself. It is built for the jobs
//! the kernel's XArray does for the page cache: lock-free reads, three
//! marks per entry (DIRTY, TOWRITE and one free) summarised up the tree so
//! that "visit every dirty entry" costs time in the number of dirty
//! entries, multi-order entries (one 2 MiB entry covering 512 pages), and
//! value entries that cost no allocation.
//!
//! ```
//! use std::sync::Arc;
//! use xradix::{pin, Entry, EntryRef, Mark, XArray};
//!
//! let xa: XArray<String, u64> = XArray::new();
//! xa.store(5, Entry::Value(7)).unwrap();
//! xa.store(6, Entry::Item(Arc::new("six".into()))).unwrap();
//! let g = pin();
//! assert!(matches!(xa.load(5, &g), Some(EntryRef::Value(7))));
//! xa.set_mark(5, Mark::DIRTY);
//! assert_eq!(xa.tag_range(.., Mark::DIRTY, Mark::TOWRITE), 1);
//! let dirty: Vec<u64> = xa.iter_marked(.., Mark::TOWRITE, &g).map(|(i, _)| i).collect();
//! assert_eq!(dirty, [5]);
//! xa.store_order(512, 9, Entry::Value(1)).unwrap();
//! assert_eq!(xa.get_order(700), 9);
//! xa.split(512, 0).unwrap();
//! assert_eq!(xa.get_order(700), 0);
//! ```
//!
//! Items collect into a tree, and [`xa.pin()`](XArray::pin) reads without
//! passing a guard:
//!
//! ```
//! use std::sync::Arc;
//! use xradix::{Mark, XArray};
//!
//! let pages: XArray<String> = (0..4u64).map(|i| (i, Arc::new(format!("page {i}")))).collect();
//! pages.set_mark(2, Mark::DIRTY);
//! let p = pages.pin();
//! assert_eq!(p.load(1).and_then(|e| e.item()).map(String::as_str), Some("page 1"));
//! for (i, page) in &p {
//!     println!("{i}: {:?}", page.item());
//! }
//! assert_eq!(p.iter_marked(.., Mark::DIRTY).map(|(i, _)| i).collect::<Vec<_>>(), [2]);
//! ```
//!
//! # Guards and what readers see
//!
//! Reads take a [`Guard`] from [`pin`] (crossbeam-epoch): while it lives,
//! nothing a read returned is freed, so [`load`](XArray::load) hands out
//! plain references with no reference count touched. Hold a guard for a
//! batch of reads, not for ever: nothing unlinked while it lives can be
//! freed. [`XArray::pin`] holds the tree and a guard together
//! ([`Pinned`]), so that reads need no guard argument; the guard-passing
//! forms stay for reading several trees under one guard.
//!
//! Readers never block and never write shared memory. While writers work,
//! a reader sees only states the tree was in:
//!
//! - [`load(i)`](XArray::load) and [`get(i)`](XArray::get) return `None`
//!   or an entry that *covered* `i` at some moment during the call: one
//!   stored at `i`, or a multi-order entry whose range holds `i`. Never an
//!   entry that was only ever stored at other indices, even while a
//!   multi-order entry around `i` is erased and its first index reused;
//! - [`get_order(i)`](XArray::get_order) returns the order of an entry
//!   that covered `i` at some moment during the call (0 for a hole), never
//!   the length of a sibling run half written;
//! - inside a multi-order entry being split, every index shows the old
//!   entry or a piece of it (the same entry), never `None`;
//! - iterators yield strictly increasing indices (strictly decreasing from
//!   the back), all inside their range; each entry yielded covered its
//!   index at some moment during that step; an entry present for the
//!   whole iteration is yielded exactly once, and one stored or erased
//!   meanwhile may or may not be;
//! - **marks may be stale**: `get_mark`, `has_mark` and the marked
//!   iterators report marks as they were at some moment during the call,
//!   and a mark set together with a store may become visible before or
//!   after the entry. Decide under the lock ([`XArray::lock`]) when a mark
//!   must be exact, as a file system's writeback does.
//!
//! How: a reader that lands on a sibling slot of a multi-order entry reads
//! the sibling, the entry it points at and (for `get_order`) the run's
//! length inside one check of the node's change count, a sequence lock that
//! writers hold odd only while they rewrite sibling runs. Plain slots cost
//! one load, as before.
//!
//! Writers take the tree's lock for the call, or hold it across many
//! changes with [`Locked`] and [`CursorMut`]. A writing cursor never acts
//! on a walk made before a change through its own `Locked` handle: it walks
//! again. No user code runs in the middle of a change: a writer pins (which
//! may run deferred item drops) before its first store, and a panic in an
//! item's `Drop` is raised at a pin, with the tree whole.
//!
//! # When is my item dropped?
//!
//! A tree holds one reference (one `Arc` count) to each item stored in it.
//! When the item leaves the tree ([`erase`](XArray::erase), a
//! [`store`](XArray::store) over it, [`clear`](XArray::clear), dropping
//! the tree), the caller gets the item back as a new `Arc` where the
//! method returns one, but **the tree's own reference is dropped later**:
//! a reader pinned at that moment may still be using a `&T` it loaded, so
//! the drop is handed to the epoch collector and runs once no guard pinned
//! before the change is left. Until then `Arc::strong_count` counts the
//! tree's reference, and if it was the last one, the item's `Drop` has
//! not run.
//!
//! The collector runs deferred drops when threads pin (and when they
//! exit). To wait for them, call [`XArray::flush`]: it pushes the
//! collector until every item the tree let go of has been dropped, and
//! returns 0 then; a guard still pinned somewhere (a [`Pinned`] on this
//! thread included) holds the drops back, and `flush` then returns how many
//! are still waiting instead of waiting for ever. Its documentation says
//! exactly what it can and cannot reach.
//!
//! ```
//! use std::sync::Arc;
//! use xradix::{Entry, XArray};
//!
//! let folio = Arc::new(vec![0u8; 4096]);
//! let xa: XArray<Vec<u8>> = XArray::new();
//! for i in 0..4 {
//!     xa.store(i, Entry::Item(folio.clone())).unwrap();
//! }
//! for i in 0..4 {
//!     xa.erase(i);
//! }
//! // The four references the tree held may not all be dropped yet.
//! assert_eq!(xa.flush(), 0);
//! assert_eq!(Arc::strong_count(&folio), 1);
//! ```
//!
//! An item's `Drop` therefore runs on whichever thread the collector runs
//! it: often a later writer or reader of any tree. With `std`, a panic in
//! it does not unwind through the collector (that would lose the other
//! drops of the batch): it is caught and raised again by the next xradix
//! call on that thread that pins — a write, [`get`](XArray::get), [`pin`],
//! [`XArray::pin`], [`XArray::flush`] — before that call changes anything
//! (or, for [`XArray::clear`], which pushes the collector after its change,
//! once the tree is unlocked), so the tree stays whole.
//!
//! # Multi-order entries
//!
//! [`store_order`](XArray::store_order) stores one entry for 2^order
//! aligned indices; a load anywhere in the range returns it, marks set on
//! any index apply to all of it, iterators yield it once. **A plain
//! `store` or `erase` at any index of a multi-order entry acts on the
//! whole entry**, as in the kernel. To change part of one — a hole punched
//! inside a dirty 2 MiB mapping — [`split`](XArray::split) it first: the
//! pieces keep the entry and its marks, and only the punched ones are then
//! erased.
//!
//! # Value entries
//!
//! A [`Value`] is a type of at most 62 bits stored in the slot itself
//! (the kernel's `xa_mk_value`), such as a block number with flags.
//! Integers (signed ones as two's complement) and `bool` implement it; a
//! value too wide for its [`Value::BITS`] (a `u64` of 2^62 or more, an
//! `i64` outside ±2^61) is refused with [`Error::Invalid`], never
//! truncated.
//!
//! # Writing, and the lock
//!
//! Every write method of [`XArray`] takes the tree's lock for the call.
//! [`XArray::lock`] holds it across many changes and returns a [`Locked`]
//! handle with the same write methods; while it is alive, write through
//! the handle. The lock is not reentrant: a write through the tree itself
//! (`xa.set_mark(..)` instead of `locked.set_mark(..)`) on the thread that
//! holds the lock would wait for itself, so with `std` it panics at once,
//! naming the call and pointing at the handle. (Without `std`, the spin
//! lock cannot tell which thread holds it, and the same mistake spins.)
//!
//! # ID allocation
//!
//! A tree made with [`Flags::ALLOC`] or [`Flags::ALLOC1`] tracks its free
//! indices (in mark 0) so that [`alloc`](XArray::alloc) returns the lowest
//! free index in O(height).
//!
//! # Features
//!
//! - `std` (default): [`pin`], [`XArray::new`], a parking mutex as the
//!   writer lock. Without it the crate is `#![no_std]` + `alloc`, the lock
//!   is a spin lock, and trees are made with [`XArray::with_collector`].
//! - `serde` (off): `Serialize` for [`XArray`] and [`Locked`] as a
//!   sequence of records in index order (index, order, entry, marks), and
//!   `Deserialize`, which rebuilds the tree with `store_order` and
//!   `set_mark`, refusing invalid records with an error. Works without
//!   `std`.
//!
//! # Serialisation
//!
//! With the `serde` feature a tree serialises as a sequence of records,
//! one per entry in index order (a multi-order entry once, at its first
//! index):
//!
//! | field   | type                                     | meaning                                   |
//! |---------|------------------------------------------|-------------------------------------------|
//! | `index` | `u64`                                    | the entry's first index                   |
//! | `order` | `u32`                                    | the entry covers 2^order indices          |
//! | `entry` | enum `Item(T)`, `Value(u64)`, `Reserved` | an item, a value's raw payload ([`Value::into_raw`]), or a reservation |
//! | `marks` | `u8`                                     | bit m: mark m (1 DIRTY, 2 TOWRITE, 4 MARK_2) |
//!
//! In JSON: `[{"index":5,"order":0,"entry":{"Value":7},"marks":1}]`;
//! `order` and `marks` may be left out when 0.
//!
//! The tree's flags and collector are not part of it: they belong to the
//! program that makes the tree. `Deserialize` builds a tree with
//! [`XArray::new`]; to rebuild into a tree of your making (an allocating
//! tree, a `no_std` tree with its own collector) use the `DeserializeSeed`
//! implemented for `&XArray`. The free-slot mark of an allocating tree is
//! bookkeeping, not a user mark, and is not written.
//!
//! Serialising takes the tree's lock for the whole walk, so the records are
//! an exact snapshot; writers wait meanwhile. On a thread that holds the
//! lock, serialise the [`Locked`] handle instead of the tree.
//!
//! Deserialising rebuilds with [`store_order`](Locked::store_order),
//! [`reserve`](Locked::reserve) and [`set_mark`](Locked::set_mark), one
//! record at a time as they are parsed. Invalid input is a deserialisation
//! error, never a panic: an order of 64 or more, a misaligned index, a
//! value payload that does not fit `V` (wider than [`Value::BITS`], or not
//! given back unchanged by `from_raw` + `into_raw`), a multi-order
//! reservation, a mark byte above 7, or records out of index order or
//! overlapping.
//!
//! # Without std
//!
//! With `default-features = false, features = ["alloc"]` the crate is
//! `#![no_std]`: there is no global collector and no [`pin`], so the caller
//! supplies the epoch [`Collector`] when making a tree and pins guards from
//! a [`Handle`] the tree hands out ([`XArray::handle`], one per thread that
//! reads). The rest of the API is the same; `alloc` must be available. This
//! example uses only what a `no_std` build has (the crate is checked for
//! `x86_64-unknown-none` in CI, and this pattern runs under miri):
//!
//! ```
//! use xradix::{Collector, Entry, Flags, Mark, XArray};
//!
//! let xa: XArray<(), u32> = XArray::with_collector(Collector::new(), Flags::empty());
//! for i in 0..100u32 {
//!     xa.store(u64::from(i) * 7, Entry::Value(i)).unwrap();
//! }
//! xa.set_mark(14, Mark::DIRTY);
//!
//! // One handle per reading thread. It borrows the tree, so it and its
//! // guards are dropped before the tree is.
//! let handle = xa.handle();
//! let guard = handle.pin();
//! assert_eq!(xa.load(14, &guard).and_then(|e| e.value()), Some(2));
//! assert_eq!(xa.iter_marked(.., Mark::DIRTY, &guard).count(), 1);
//! ```
//!
//! Why the tree hands out the handles: the tree owns its collector, and
//! a [`LocalHandle`] registered straight with the collector that outlived
//! the tree would free the collector from inside crossbeam-epoch's own
//! bookkeeping when dropped, which is undefined behaviour
//! (crossbeam-rs/crossbeam#545, open in 0.9.18). A guard from another
//! collector would not protect this tree's nodes: reads check and panic on
//! such a guard, a programming error.
//!
//! # Minimum Rust version
//!
//! 1.84 (strict-provenance pointer APIs).

#![no_std]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod cursor;
mod entry;
mod error;
mod impls;
mod iter;
mod mark;
mod node;
mod pinned;
#[cfg(feature = "serde")]
mod serde;
mod sync;
mod value;
mod xarray;

pub use cursor::{Cursor, CursorMut};
pub use entry::{Entry, EntryRef};
pub use error::{Error, InvalidInput};
pub use impls::SmallValue;
pub use iter::{Iter, LoadMany};
pub use mark::Mark;
#[doc(hidden)]
pub use node::CHUNK_SHIFT;
pub use pinned::Pinned;
#[cfg(feature = "std")]
pub use sync::pin;
pub use sync::{Collector, Guard, Handle, HandleGuard, LocalHandle};
pub use value::{max_value_bits, Value, MAX_VALUE_BITS};
pub use xarray::{Flags, Locked, XArray};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
