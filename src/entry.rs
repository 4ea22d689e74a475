//! What a slot holds: the tagged slot word, and the entries users see.
//!
//! A slot is one pointer-sized word. Its two low bits say what it holds,
//! as in the kernel:
//!
//! ```text
//!   ...xxxx00   an item: the pointer of an Arc<T> (null: the slot is empty)
//!   ...xxxxx1   a value entry: payload << 1 | 1
//!   ...xxxx10   an internal entry: payload << 2 | 2, one of
//!                 0..=63     a sibling: "see slot n of this node"
//!                 256        retry: this node left the tree, walk again
//!                 257        zero: a reserved index, read as empty
//!                 > 4096     a node pointer (nodes are 8-byte aligned)
//! ```
//!
//! Words are raw pointers, not integers, so that item and node pointers
//! keep their provenance (the code runs under miri's strict provenance);
//! value and internal entries are made with `without_provenance` and never
//! dereferenced.

use alloc::sync::Arc;
use core::fmt;
use core::ptr;

use crate::node::Node;
use crate::value::Value;

/// An owned entry: what [`get`](crate::XArray::get) returns and what
/// [`store`](crate::XArray::store) takes.
///
/// Items are reference counted: the tree keeps one reference per slot and
/// hands out clones, so an `Entry::Item` stays valid whatever the tree does
/// next. Equality compares contents; [`cmpxchg`](crate::XArray::cmpxchg)
/// compares items by identity instead ([`Entry::same`]).
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, XArray};
///
/// let xa: XArray<String> = XArray::new();
/// xa.store(1, Entry::Item(Arc::new("one".to_string()))).unwrap();
/// xa.store(2, Entry::Value(2)).unwrap();
/// assert_eq!(xa.get(1), Some(Entry::Item(Arc::new("one".to_string()))));
/// assert_eq!(xa.get(2), Some(Entry::Value(2)));
/// ```
pub enum Entry<T, V = u64> {
    /// A shared item.
    Item(Arc<T>),
    /// A value entry, stored in the slot itself.
    Value(V),
}

/// A borrowed entry, valid while the [`Guard`](crate::Guard) it was loaded
/// under is alive: what [`load`](crate::XArray::load) and the iterators
/// return. No reference count is touched on this path.
///
/// ```
/// use xradix::{pin, Entry, EntryRef, XArray};
///
/// let xa: XArray<&'static str> = XArray::new();
/// xa.store(0, Entry::Item("zero".into())).unwrap();
/// let guard = pin();
/// match xa.load(0, &guard) {
///     Some(EntryRef::Item(s)) => assert_eq!(*s, "zero"),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub enum EntryRef<'g, T, V = u64> {
    /// A shared item, borrowed for the guard's lifetime.
    Item(&'g T),
    /// A value entry.
    Value(V),
}

impl<T, V: Copy> Entry<T, V> {
    /// The value, if this is a value entry.
    ///
    /// ```
    /// use xradix::Entry;
    /// assert_eq!(Entry::<(), u64>::Value(3).value(), Some(3));
    /// ```
    pub fn value(&self) -> Option<V> {
        match self {
            Entry::Value(v) => Some(*v),
            Entry::Item(_) => None,
        }
    }

    /// The item, if this is an item entry.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use xradix::Entry;
    /// let e: Entry<u32> = Entry::Item(Arc::new(5));
    /// assert_eq!(e.item().map(|a| **a), Some(5));
    /// ```
    pub fn item(&self) -> Option<&Arc<T>> {
        match self {
            Entry::Item(a) => Some(a),
            Entry::Value(_) => None,
        }
    }

    /// Whether two entries are the same for
    /// [`cmpxchg`](crate::XArray::cmpxchg): items by `Arc` identity, values
    /// by their raw payload.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use xradix::Entry;
    /// let a = Arc::new(1u8);
    /// let e: Entry<u8> = Entry::Item(a.clone());
    /// assert!(e.same(&Entry::Item(a)));
    /// assert!(!e.same(&Entry::Item(Arc::new(1))));
    /// ```
    pub fn same(&self, other: &Entry<T, V>) -> bool
    where
        V: Value,
    {
        match (self, other) {
            (Entry::Item(a), Entry::Item(b)) => Arc::ptr_eq(a, b),
            (Entry::Value(a), Entry::Value(b)) => a.into_raw() == b.into_raw(),
            _ => false,
        }
    }

    /// Borrows this entry as an [`EntryRef`].
    ///
    /// ```
    /// use xradix::{Entry, EntryRef};
    /// let e: Entry<()> = Entry::Value(9);
    /// assert!(matches!(e.as_ref(), EntryRef::Value(9)));
    /// ```
    pub fn as_ref(&self) -> EntryRef<'_, T, V> {
        match self {
            Entry::Item(a) => EntryRef::Item(a),
            Entry::Value(v) => EntryRef::Value(*v),
        }
    }
}

impl<'g, T, V: Copy> EntryRef<'g, T, V> {
    /// The value, if this is a value entry.
    ///
    /// ```
    /// use xradix::EntryRef;
    /// assert_eq!(EntryRef::<(), u64>::Value(3).value(), Some(3));
    /// ```
    pub fn value(&self) -> Option<V> {
        match self {
            EntryRef::Value(v) => Some(*v),
            EntryRef::Item(_) => None,
        }
    }

    /// The item, if this is an item entry.
    ///
    /// ```
    /// use xradix::EntryRef;
    /// assert_eq!(EntryRef::<u8, u64>::Item(&4).item(), Some(&4));
    /// ```
    pub fn item(&self) -> Option<&'g T> {
        match self {
            EntryRef::Item(t) => Some(t),
            EntryRef::Value(_) => None,
        }
    }
}

impl<T, V: Clone> Clone for Entry<T, V> {
    fn clone(&self) -> Self {
        match self {
            Entry::Item(a) => Entry::Item(Arc::clone(a)),
            Entry::Value(v) => Entry::Value(v.clone()),
        }
    }
}

impl<T, V: Copy> Clone for EntryRef<'_, T, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, V: Copy> Copy for EntryRef<'_, T, V> {}

impl<T: PartialEq, V: PartialEq> PartialEq for Entry<T, V> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Entry::Item(a), Entry::Item(b)) => a == b,
            (Entry::Value(a), Entry::Value(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Eq, V: Eq> Eq for Entry<T, V> {}

impl<T: PartialEq, V: PartialEq> PartialEq for EntryRef<'_, T, V> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EntryRef::Item(a), EntryRef::Item(b)) => a == b,
            (EntryRef::Value(a), EntryRef::Value(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Eq, V: Eq> Eq for EntryRef<'_, T, V> {}

impl<T: fmt::Debug, V: fmt::Debug> fmt::Debug for Entry<T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Item(a) => f.debug_tuple("Item").field(a).finish(),
            Entry::Value(v) => f.debug_tuple("Value").field(v).finish(),
        }
    }
}

impl<T: fmt::Debug, V: fmt::Debug> fmt::Debug for EntryRef<'_, T, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryRef::Item(a) => f.debug_tuple("Item").field(a).finish(),
            EntryRef::Value(v) => f.debug_tuple("Value").field(v).finish(),
        }
    }
}

impl<T, V> From<Arc<T>> for Entry<T, V> {
    fn from(item: Arc<T>) -> Self {
        Entry::Item(item)
    }
}

// ---------------------------------------------------------------------------
// The raw slot word.

/// A slot's content, as loaded. Copying a `Word` copies the bits only: it
/// neither owns nor borrows what it points to.
pub(crate) type Word = *mut ();

/// The empty slot.
pub(crate) const NULL: Word = ptr::null_mut();

const INTERNAL: usize = 2;
const RETRY_PAYLOAD: usize = 256;
const ZERO_PAYLOAD: usize = 257;
/// Internal payloads at or below this are never node addresses.
const MAX_SMALL_INTERNAL: usize = 4096;

#[inline]
const fn internal(payload: usize) -> Word {
    ptr::without_provenance_mut(payload << 2 | INTERNAL)
}

/// The retry entry: left in slot 0 of a node that has left the tree.
pub(crate) const RETRY: Word = internal(RETRY_PAYLOAD);
/// The zero entry: a reserved index.
pub(crate) const ZERO: Word = internal(ZERO_PAYLOAD);

/// A sibling entry pointing at slot `canonical` of the same node.
#[inline]
pub(crate) const fn sibling(canonical: usize) -> Word {
    internal(canonical)
}

#[inline]
pub(crate) fn is_internal(w: Word) -> bool {
    w.addr() & 3 == INTERNAL
}

#[inline]
pub(crate) fn is_value(w: Word) -> bool {
    w.addr() & 1 == 1
}

/// An item pointer: low bits clear and not null.
#[inline]
pub(crate) fn is_item(w: Word) -> bool {
    w.addr() & 3 == 0 && !w.is_null()
}

#[inline]
pub(crate) fn is_node(w: Word) -> bool {
    is_internal(w) && w.addr() > MAX_SMALL_INTERNAL
}

/// The canonical slot a sibling entry points at, if `w` is one.
#[inline]
pub(crate) fn as_sibling(w: Word) -> Option<usize> {
    if is_internal(w) && w.addr() < (crate::node::SLOTS << 2) {
        Some(w.addr() >> 2)
    } else {
        None
    }
}

#[inline]
pub(crate) fn is_sibling(w: Word) -> bool {
    as_sibling(w).is_some()
}

/// A leaf entry a user stored (an item, a value or a reservation): what a
/// canonical slot holds, as opposed to nothing, a node, a sibling or retry.
#[inline]
pub(crate) fn is_leaf(w: Word) -> bool {
    !w.is_null() && (!is_internal(w) || w == ZERO)
}

#[inline]
pub(crate) fn node_word(node: *const Node) -> Word {
    node.cast_mut().cast::<()>().map_addr(|a| a | INTERNAL)
}

/// The node a node word points at. Only meaningful when `is_node(w)`.
#[inline]
pub(crate) fn as_node(w: Word) -> *const Node {
    w.map_addr(|a| a & !3).cast::<Node>().cast_const()
}

#[inline]
pub(crate) fn value_word(raw: u64) -> Word {
    // `raw` was checked to fit `max_value_bits()` < usize::BITS - 1.
    ptr::without_provenance_mut((raw as usize) << 1 | 1)
}

#[inline]
pub(crate) fn word_value(w: Word) -> u64 {
    (w.addr() >> 1) as u64
}

/// Turns an owned entry into a slot word, moving its `Arc` reference into
/// the word. The payload of a value must already be checked.
pub(crate) fn into_word<T, V: Value>(entry: Entry<T, V>) -> Result<Word, crate::Error> {
    match entry {
        Entry::Value(v) => Ok(value_word(crate::value::checked_raw(v)?)),
        Entry::Item(a) => {
            let p = Arc::into_raw(a).cast_mut().cast::<()>();
            if p.addr() & 3 != 0 {
                // SAFETY: `p` came from `Arc::into_raw` just above and was
                // not used since; rebuilding the Arc drops that reference.
                drop(unsafe { Arc::from_raw(p.cast::<T>().cast_const()) });
                return Err(crate::Error::invalid(crate::error::InvalidInput::Unaligned));
            }
            Ok(p)
        }
    }
}

/// Borrows a leaf word as an [`EntryRef`]; `None` for empty and reserved.
///
/// # Safety
/// `w` was loaded from a slot of a tree of `T` while `'g`'s guard was
/// pinned, so an item it points at is not freed before the guard is
/// dropped.
#[inline]
pub(crate) unsafe fn word_ref<'g, T, V: Value>(w: Word) -> Option<EntryRef<'g, T, V>> {
    if is_value(w) {
        Some(EntryRef::Value(V::from_raw(word_value(w))))
    } else if is_item(w) {
        // SAFETY: by the caller's contract the item behind `w` outlives 'g.
        Some(EntryRef::Item(unsafe { &*w.cast::<T>().cast_const() }))
    } else {
        None
    }
}

/// A new owned [`Entry`] for a leaf word, taking a fresh `Arc` reference
/// for items; `None` for empty and reserved.
///
/// # Safety
/// As for [`word_ref`]: the item behind `w` is alive.
#[inline]
pub(crate) unsafe fn word_clone<T, V: Value>(w: Word) -> Option<Entry<T, V>> {
    if is_value(w) {
        Some(Entry::Value(V::from_raw(word_value(w))))
    } else if is_item(w) {
        let p = w.cast::<T>().cast_const();
        // SAFETY: `p` came from `Arc::into_raw` and the tree still holds
        // that reference (the caller's contract); adding one and rebuilding
        // an Arc from it gives the caller its own reference.
        unsafe {
            Arc::increment_strong_count(p);
            Some(Entry::Item(Arc::from_raw(p)))
        }
    } else {
        None
    }
}

/// Takes back the tree's reference of a leaf word as an owned entry.
///
/// # Safety
/// The tree's reference behind `w` is handed over: no slot keeps it, and no
/// reader can still reach `w` (or the caller defers the drop past them).
#[inline]
pub(crate) unsafe fn word_into_entry<T, V: Value>(w: Word) -> Option<Entry<T, V>> {
    if is_value(w) {
        Some(Entry::Value(V::from_raw(word_value(w))))
    } else if is_item(w) {
        // SAFETY: the caller hands over the reference `into_word` created.
        Some(Entry::Item(unsafe {
            Arc::from_raw(w.cast::<T>().cast_const())
        }))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_do_not_overlap() {
        let node = Node::alloc(0);
        let words = [
            (NULL, "null"),
            (RETRY, "retry"),
            (ZERO, "zero"),
            (sibling(0), "sibling 0"),
            (sibling(crate::node::SLOTS - 1), "last sibling"),
            (value_word(0), "value 0"),
            (
                value_word((1 << crate::value::max_value_bits()) - 1),
                "widest value",
            ),
            (node_word(node), "node"),
        ];
        for (w, name) in words {
            let kinds = [
                is_item(w),
                is_value(w),
                is_node(w),
                is_sibling(w),
                w == RETRY || w == ZERO,
                w.is_null(),
            ];
            assert_eq!(
                kinds.iter().filter(|&&k| k).count(),
                1,
                "{name} has one kind"
            );
        }
        assert_eq!(as_node(node_word(node)), node.cast_const());
        // SAFETY: made above, never shared.
        unsafe { Node::free(node) };
    }

    #[test]
    fn values_round_trip_at_the_edges() {
        for raw in [
            0,
            1,
            2,
            0x1234_5678,
            (1 << crate::value::max_value_bits()) - 1,
        ] {
            assert_eq!(word_value(value_word(raw)), raw);
        }
    }

    #[test]
    fn items_round_trip_through_words() {
        let item = Arc::new(0xabcd_u16);
        let w = into_word::<u16, u64>(Entry::Item(item.clone())).unwrap();
        assert!(is_item(w) && is_leaf(w));
        assert_eq!(Arc::strong_count(&item), 2);
        // SAFETY: `w` holds the reference `into_word` took.
        let back = unsafe { word_into_entry::<u16, u64>(w) }.unwrap();
        assert!(back.same(&Entry::Item(item.clone())));
        drop(back);
        assert_eq!(Arc::strong_count(&item), 1);
    }
}
