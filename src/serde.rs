//! `Serialize` and `Deserialize` for [`XArray`] (feature `serde`). The
//! format, and what deserialising refuses, are described in the crate
//! docs' [Serialisation](crate#serialisation) section.

use core::fmt;
use core::marker::PhantomData;

use ::serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use ::serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use ::serde::{Deserialize, Serialize};
use alloc::sync::Arc;

use crate::entry::{self, Entry, EntryRef, ZERO};
use crate::mark::Mark;
use crate::node;
use crate::value::{max_value_bits, Value};
use crate::xarray::{Locked, XArray};

const RECORD: &str = "Record";
const FIELDS: &[&str] = &["index", "order", "entry", "marks"];
const ENTRY: &str = "Entry";
const VARIANTS: &[&str] = &["Item", "Value", "Reserved"];
/// Every mark's bit.
const ALL_MARKS: u8 = 0b111;

// ---------------------------------------------------------------------------
// Serialising.

/// The records of the tree, in index order, as one snapshot: takes the
/// lock for the walk.
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, Mark, XArray};
///
/// let xa: XArray<String> = XArray::new();
/// xa.store(1, Entry::Item(Arc::new("one".into()))).unwrap();
/// xa.store_order(4, 2, Entry::Value(7)).unwrap();
/// xa.set_mark(4, Mark::DIRTY);
/// assert_eq!(
///     serde_json::to_string(&xa).unwrap(),
///     r#"[{"index":1,"order":0,"entry":{"Item":"one"},"marks":0},{"index":4,"order":2,"entry":{"Value":7},"marks":1}]"#
/// );
/// ```
impl<T: Serialize + Send + Sync + 'static, V: Value> Serialize for XArray<T, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock_for("serialising an XArray (serialise its Locked handle instead)")
            .serialize(serializer)
    }
}

/// As for [`XArray`], under a lock already held.
///
/// ```
/// use xradix::{Entry, XArray};
///
/// let xa: XArray = XArray::new();
/// let locked = xa.lock();
/// locked.store(3, Entry::Value(3)).unwrap();
/// let json = serde_json::to_string(&locked).unwrap();
/// assert_eq!(json, r#"[{"index":3,"order":0,"entry":{"Value":3},"marks":0}]"#);
/// ```
impl<T: Serialize + Send + Sync + 'static, V: Value> Serialize for Locked<'_, T, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Exact under the lock: one record per entry or reservation.
        let mut seq = serializer.serialize_seq(Some(self.tree().len()))?;
        self.for_each_record(|r| {
            let entry = if r.word == ZERO {
                EntryOut::Reserved
            } else if entry::is_value(r.word) {
                EntryOut::Value(entry::word_value(r.word))
            } else {
                // SAFETY: a leaf of the tree, which nobody can change or
                // free while we hold the lock.
                match unsafe { entry::word_ref::<T, V>(r.word) } {
                    Some(EntryRef::Item(item)) => EntryOut::Item(item),
                    _ => return Ok(()),
                }
            };
            seq.serialize_element(&RecordOut {
                index: r.index,
                order: r.order,
                entry,
                marks: r.marks,
            })
        })?;
        seq.end()
    }
}

struct RecordOut<'a, T> {
    index: u64,
    order: u32,
    entry: EntryOut<'a, T>,
    marks: u8,
}

enum EntryOut<'a, T> {
    Item(&'a T),
    Value(u64),
    Reserved,
}

impl<T: Serialize> Serialize for RecordOut<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct(RECORD, FIELDS.len())?;
        s.serialize_field("index", &self.index)?;
        s.serialize_field("order", &self.order)?;
        s.serialize_field("entry", &self.entry)?;
        s.serialize_field("marks", &self.marks)?;
        s.end()
    }
}

impl<T: Serialize> Serialize for EntryOut<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EntryOut::Item(item) => {
                serializer.serialize_newtype_variant(ENTRY, 0, VARIANTS[0], item)
            }
            EntryOut::Value(raw) => {
                serializer.serialize_newtype_variant(ENTRY, 1, VARIANTS[1], raw)
            }
            EntryOut::Reserved => serializer.serialize_unit_variant(ENTRY, 2, VARIANTS[2]),
        }
    }
}

// ---------------------------------------------------------------------------
// Deserialising.

/// A tree made with [`XArray::new`] and filled from the records; see the
/// [format](crate#serialisation) for what is refused. Needs `std` (without it,
/// make the tree with [`XArray::with_collector`] and use the
/// [`DeserializeSeed`] for `&XArray`).
///
/// ```
/// use xradix::{Entry, Mark, XArray};
///
/// let json = r#"[{"index":0,"entry":{"Item":"zero"}},{"index":512,"order":9,"entry":{"Value":7},"marks":3}]"#;
/// let xa: XArray<String> = serde_json::from_str(json).unwrap();
/// assert_eq!(xa.get(0).unwrap().item().map(|s| s.as_str()), Some("zero"));
/// assert_eq!(xa.get_order(700), 9);
/// assert!(xa.get_mark(600, Mark::DIRTY) && xa.get_mark(600, Mark::TOWRITE));
///
/// // Invalid records are errors, not panics.
/// assert!(serde_json::from_str::<XArray<String>>(r#"[{"index":5,"order":9,"entry":{"Value":1}}]"#).is_err());
/// assert!(serde_json::from_str::<XArray<(), u8>>(r#"[{"index":5,"entry":{"Value":256}}]"#).is_err());
/// ```
#[cfg(feature = "std")]
impl<'de, T: Deserialize<'de> + Send + Sync + 'static, V: Value> Deserialize<'de> for XArray<T, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let xa = XArray::new();
        DeserializeSeed::deserialize(&xa, deserializer)?;
        Ok(xa)
    }
}

/// Stores the records into this tree, one [`store_order`](XArray::store_order)
/// (or [`reserve`](XArray::reserve)) and its [`set_mark`](XArray::set_mark)s
/// per record, each under the lock. Into an empty tree this rebuilds the
/// serialised one exactly; into a non-empty one each record replaces what
/// its range held, as `store_order` does. On an error the records before
/// the bad one stay stored.
///
/// This is how to rebuild into a tree with flags or a collector of your
/// own:
///
/// ```
/// use serde::de::DeserializeSeed;
/// use xradix::{Entry, Flags, XArray};
///
/// let ids: XArray = XArray::with_flags(Flags::ALLOC1);
/// let mut de = serde_json::Deserializer::from_str(r#"[{"index":1,"entry":{"Value":10}},{"index":2,"entry":"Reserved"}]"#);
/// (&ids).deserialize(&mut de).unwrap();
/// assert_eq!(ids.alloc(Entry::Value(30), 0..=10).unwrap(), 3);
/// ```
impl<'de, T: Deserialize<'de> + Send + Sync + 'static, V: Value> DeserializeSeed<'de>
    for &XArray<T, V>
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(TreeVisitor { xa: self })
    }
}

struct TreeVisitor<'a, T, V: Value> {
    xa: &'a XArray<T, V>,
}

impl<'de, T: Deserialize<'de> + Send + Sync + 'static, V: Value> Visitor<'de>
    for TreeVisitor<'_, T, V>
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of xradix records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The lowest index the next record may start at; `None` once a
        // record reached u64::MAX.
        let mut next = Some(0);
        while let Some(record) = seq.next_element::<RecordIn<T>>()? {
            next = apply(self.xa, record, next)?;
        }
        Ok(())
    }
}

/// Stores one record; returns the lowest index the next one may start at.
fn apply<T: Send + Sync + 'static, V: Value, E: de::Error>(
    xa: &XArray<T, V>,
    record: RecordIn<T>,
    next: Option<u64>,
) -> Result<Option<u64>, E> {
    let RecordIn {
        index,
        order,
        entry,
        marks,
    } = record;
    let at = |e: &dyn fmt::Display| E::custom(format_args!("xradix record at index {index}: {e}"));
    let in_order = matches!(next, Some(min) if index >= min);
    if !in_order {
        return Err(at(&"records must be in index order and must not overlap"));
    }
    if marks & !ALL_MARKS != 0 {
        return Err(at(&format_args!("marks {marks:#x} name a mark above 2")));
    }
    let locked = xa.lock();
    let stored = match entry {
        EntryIn::Item(item) => locked.store_order(index, order, Entry::Item(Arc::new(item))),
        EntryIn::Value(raw) => {
            let value = value_from_raw::<V>(raw).map_err(|e| at(&e))?;
            locked.store_order(index, order, Entry::Value(value))
        }
        EntryIn::Reserved if order != 0 => {
            return Err(at(&"a reservation covers one index (order 0)"))
        }
        EntryIn::Reserved => locked.reserve(index).map(|()| None),
    };
    stored.map_err(|e| at(&e))?;
    for mark in Mark::ALL {
        if marks & mark.bit() != 0 {
            locked.set_mark(index, mark);
        }
    }
    // `store_order` accepted `order` (< 64) and `index` (aligned to it).
    Ok((index | node::low_mask(order)).checked_add(1))
}

/// The value whose payload is `raw`, if `raw` is one that `V` produces.
fn value_from_raw<V: Value>(raw: u64) -> Result<V, &'static dyn fmt::Display> {
    let bits = V::BITS.min(max_value_bits());
    if raw >> bits != 0 {
        return Err(&"the value's payload is wider than its type allows");
    }
    let value = V::from_raw(raw);
    if value.into_raw() != raw {
        return Err(&"the value's payload is not one its type produces");
    }
    Ok(value)
}

struct RecordIn<T> {
    index: u64,
    order: u32,
    entry: EntryIn<T>,
    marks: u8,
}

enum EntryIn<T> {
    Item(T),
    Value(u64),
    Reserved,
}

/// A record's field name.
enum Field {
    Index,
    Order,
    Entry,
    Marks,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_identifier(NameVisitor { names: FIELDS })
            .map(|i| match i {
                0 => Field::Index,
                1 => Field::Order,
                2 => Field::Entry,
                _ => Field::Marks,
            })
    }
}

/// An entry's variant name.
struct Variant(usize);

impl<'de> Deserialize<'de> for Variant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_identifier(NameVisitor { names: VARIANTS })
            .map(Variant)
    }
}

/// Finds an identifier (by name or by number) among `names`.
struct NameVisitor {
    names: &'static [&'static str],
}

impl NameVisitor {
    fn unknown<E: de::Error>(&self, name: &str) -> E {
        if self.names == FIELDS {
            E::unknown_field(name, FIELDS)
        } else {
            E::unknown_variant(name, VARIANTS)
        }
    }
}

impl Visitor<'_> for NameVisitor {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of {:?}", self.names)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<usize, E> {
        match usize::try_from(n) {
            Ok(i) if i < self.names.len() => Ok(i),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(n), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<usize, E> {
        self.names
            .iter()
            .position(|&n| n == name)
            .ok_or_else(|| self.unknown(name))
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<usize, E> {
        match core::str::from_utf8(name) {
            Ok(name) => self.visit_str(name),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(name), &self)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RecordIn<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(RECORD, FIELDS, RecordVisitor(PhantomData))
    }
}

struct RecordVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for RecordVisitor<T> {
    type Value = RecordIn<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an xradix record (index, order, entry, marks)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RecordIn<T>, A::Error> {
        let field = |i: usize| <A::Error as de::Error>::invalid_length(i, &"a record of 4 fields");
        let index = seq.next_element()?.ok_or_else(|| field(0))?;
        let order = seq.next_element()?.ok_or_else(|| field(1))?;
        let entry = seq.next_element()?.ok_or_else(|| field(2))?;
        let marks = seq.next_element()?.ok_or_else(|| field(3))?;
        Ok(RecordIn {
            index,
            order,
            entry,
            marks,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RecordIn<T>, A::Error> {
        let (mut index, mut order, mut entry, mut marks) = (None, None, None, None);
        while let Some(key) = map.next_key::<Field>()? {
            let (name, duplicate) = match key {
                Field::Index => ("index", index.replace(map.next_value()?).is_some()),
                Field::Order => ("order", order.replace(map.next_value()?).is_some()),
                Field::Entry => ("entry", entry.replace(map.next_value()?).is_some()),
                Field::Marks => ("marks", marks.replace(map.next_value()?).is_some()),
            };
            if duplicate {
                return Err(de::Error::duplicate_field(name));
            }
        }
        Ok(RecordIn {
            index: index.ok_or_else(|| de::Error::missing_field("index"))?,
            order: order.unwrap_or(0),
            entry: entry.ok_or_else(|| de::Error::missing_field("entry"))?,
            marks: marks.unwrap_or(0),
        })
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for EntryIn<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_enum(ENTRY, VARIANTS, EntryVisitor(PhantomData))
    }
}

struct EntryVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EntryVisitor<T> {
    type Value = EntryIn<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an xradix entry: Item, Value or Reserved")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<EntryIn<T>, A::Error> {
        let (Variant(v), variant) = data.variant()?;
        match v {
            0 => variant.newtype_variant().map(EntryIn::Item),
            1 => variant.newtype_variant().map(EntryIn::Value),
            _ => variant.unit_variant().map(|()| EntryIn::Reserved),
        }
    }
}
