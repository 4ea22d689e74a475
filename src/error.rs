//! The one error type of the crate.

use core::fmt;

/// Why an operation was refused. Every variant names the input at fault.
///
/// ```
/// use xradix::{Entry, Error, XArray};
///
/// let xa: XArray = XArray::new();
/// xa.insert(5, Entry::Value(1)).unwrap();
/// let err = xa.insert(5, Entry::Value(2)).unwrap_err();
/// assert!(matches!(err, Error::Busy { index: 5 }));
/// assert_eq!(err.to_string(), "index 5 is already occupied or reserved");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The index is occupied (or reserved) and the operation needs it empty.
    Busy {
        /// The index that was in use.
        index: u64,
    },
    /// An argument is out of its domain; `reason` says which and why.
    Invalid {
        /// The argument at fault.
        reason: InvalidInput,
    },
    /// No free index is left in the limit given to
    /// [`alloc`](crate::XArray::alloc).
    Full {
        /// First index of the limit.
        start: u64,
        /// Last index of the limit (inclusive).
        end: u64,
    },
}

/// The argument behind an [`Error::Invalid`].
///
/// ```
/// use xradix::{Entry, Error, InvalidInput, XArray};
/// let xa: XArray = XArray::new();
/// let err = xa.store_order(100, 9, Entry::Value(1)).unwrap_err();
/// assert_eq!(err, Error::Invalid { reason: InvalidInput::Misaligned { index: 100, order: 9 } });
/// assert_eq!(err.to_string(), "index 100 is not aligned to order 9 (a multiple of 2^9)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidInput {
    /// An order of 64 or more: no entry can cover more than 2^63 indices.
    Order {
        /// The order given.
        order: u32,
    },
    /// The index is not a multiple of 2^order.
    Misaligned {
        /// The index given.
        index: u64,
        /// The order given.
        order: u32,
    },
    /// A value entry's payload does not fit in its `Value::BITS` (or the
    /// 62 bits a slot can carry).
    ValueTooWide {
        /// The payload that `Value::into_raw` produced.
        raw: u64,
        /// How many bits it had to fit in.
        bits: u32,
    },
    /// `split` to an order that is not smaller than the entry's own.
    SplitOrder {
        /// The index whose entry was to be split.
        index: u64,
        /// The entry's order.
        from: u32,
        /// The order asked for.
        to: u32,
    },
    /// `split` would need more new nodes than the tree will allocate in one
    /// call (split in steps, or split a smaller part).
    SplitTooLarge {
        /// The entry's order.
        from: u32,
        /// The order asked for.
        to: u32,
        /// How many nodes the split would allocate.
        nodes: u64,
    },
    /// A range whose first index lies after its last.
    Range {
        /// The first index given.
        first: u64,
        /// The last index given.
        last: u64,
    },
    /// `alloc` on a tree made without `Flags::ALLOC` or `Flags::ALLOC1`.
    NotAllocating,
    /// An item pointer whose low bits are not free (`Arc` never produces
    /// one; kept so that no input can corrupt a slot).
    Unaligned,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Busy { index } => write!(f, "index {index} is already occupied or reserved"),
            Error::Full { start, end } => write!(f, "no free index left in {start}..={end}"),
            Error::Invalid { reason } => fmt::Display::fmt(&reason, f),
        }
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InvalidInput::Order { order } => write!(f, "order {order} is too large (at most 63)"),
            InvalidInput::Misaligned { index, order } => {
                write!(f, "index {index} is not aligned to order {order} (a multiple of 2^{order})")
            }
            InvalidInput::ValueTooWide { raw, bits } => {
                write!(f, "value {raw:#x} does not fit in {bits} bits")
            }
            InvalidInput::SplitOrder { index, from, to } => write!(
                f,
                "cannot split the order-{from} entry at index {index} to order {to}: the new order must be smaller"
            ),
            InvalidInput::SplitTooLarge { from, to, nodes } => write!(
                f,
                "splitting an order-{from} entry to order {to} would allocate {nodes} nodes; split in smaller steps"
            ),
            InvalidInput::Range { first, last } => {
                write!(f, "range {first}..={last} is reversed (first > last)")
            }
            InvalidInput::NotAllocating => {
                f.write_str("alloc needs a tree made with Flags::ALLOC or Flags::ALLOC1")
            }
            InvalidInput::Unaligned => f.write_str("item pointer is not 4-byte aligned"),
        }
    }
}

impl core::error::Error for Error {}

impl Error {
    pub(crate) const fn invalid(reason: InvalidInput) -> Error {
        Error::Invalid { reason }
    }
}
