//! Typed value entries: small integers stored in the slot itself.
//!
//! The kernel calls these "exceptional" or value entries (`xa_mk_value`):
//! the slot word's low bit is set and the other bits carry the payload, so a
//! value entry costs no allocation. [`Value`] is the bridge between a Rust
//! type and that payload.

/// The widest payload any value entry may carry, in bits.
///
/// A slot word keeps its low bits for the entry's kind; 62 bits are left
/// for the payload on 64-bit targets (fewer on 32-bit targets, see
/// [`max_value_bits`]).
///
/// ```
/// use xradix::{Entry, XArray, MAX_VALUE_BITS};
/// let xa: XArray = XArray::new();
/// assert!(xa.store(0, Entry::Value((1 << MAX_VALUE_BITS) - 1)).is_ok());
/// assert!(xa.store(0, Entry::Value(1 << MAX_VALUE_BITS)).is_err());
/// ```
pub const MAX_VALUE_BITS: u32 = 62;

/// The widest payload a value entry can carry on this target:
/// [`MAX_VALUE_BITS`] on 64-bit targets, `usize::BITS - 2` on smaller ones.
///
/// ```
/// assert!(xradix::max_value_bits() <= xradix::MAX_VALUE_BITS);
/// ```
pub const fn max_value_bits() -> u32 {
    let word = usize::BITS - 2;
    if word < MAX_VALUE_BITS {
        word
    } else {
        MAX_VALUE_BITS
    }
}

/// A type that can live in a slot as a value entry.
///
/// `into_raw` must produce at most [`Value::BITS`] significant bits and
/// `from_raw(into_raw(v))` must give back `v`. The tree checks the first
/// rule on every store: a raw value that does not fit is refused with
/// [`Error::Invalid`](crate::Error::Invalid), never truncated. `BITS` itself
/// is checked at compile time: a type that claims more than
/// [`MAX_VALUE_BITS`] fails to build as soon as a tree uses it.
///
/// # Examples
///
/// A file system's block number with two flag bits, packed into one value:
///
/// ```
/// use xradix::{Entry, Value, XArray, pin, EntryRef};
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Block { sector: u64, dirty: bool }
///
/// impl Value for Block {
///     const BITS: u32 = 41;
///     fn into_raw(self) -> u64 { self.sector << 1 | self.dirty as u64 }
///     fn from_raw(raw: u64) -> Self { Block { sector: raw >> 1, dirty: raw & 1 == 1 } }
/// }
///
/// let xa: XArray<(), Block> = XArray::new();
/// xa.store(3, Entry::Value(Block { sector: 99, dirty: true })).unwrap();
/// let g = pin();
/// assert!(matches!(xa.load(3, &g), Some(EntryRef::Value(Block { sector: 99, dirty: true }))));
/// // A sector too large for 41 bits is refused, not truncated.
/// assert!(xa.store(4, Entry::Value(Block { sector: 1 << 41, dirty: false })).is_err());
/// ```
pub trait Value: Copy {
    /// How many low bits of [`into_raw`](Value::into_raw) may be set; at
    /// most [`MAX_VALUE_BITS`].
    ///
    /// ```
    /// use xradix::Value;
    /// assert_eq!(<u8 as Value>::BITS, 8);
    /// assert_eq!(<u64 as Value>::BITS, 62);
    /// ```
    const BITS: u32;

    /// The payload to store; must fit in [`BITS`](Value::BITS) bits.
    ///
    /// ```
    /// use xradix::Value;
    /// assert_eq!(true.into_raw(), 1);
    /// assert_eq!(300u16.into_raw(), 300);
    /// ```
    fn into_raw(self) -> u64;

    /// Rebuilds the value from a payload produced by
    /// [`into_raw`](Value::into_raw).
    ///
    /// ```
    /// use xradix::Value;
    /// assert_eq!(u16::from_raw(300u16.into_raw()), 300);
    /// assert!(bool::from_raw(1));
    /// ```
    fn from_raw(raw: u64) -> Self;
}

/// Evaluated once per `Value` type that a tree uses: a `BITS` wider than
/// [`MAX_VALUE_BITS`] stops the build instead of failing at run time.
pub(crate) struct BitsCheck<V>(core::marker::PhantomData<V>);

impl<V: Value> BitsCheck<V> {
    pub(crate) const OK: () = assert!(V::BITS <= MAX_VALUE_BITS, "Value::BITS must be at most 62");
}

/// The payload of `v`, if it fits both `V::BITS` and this target's slot.
#[inline]
pub(crate) fn checked_raw<V: Value>(v: V) -> Result<u64, crate::Error> {
    #[allow(clippy::let_unit_value)]
    let () = BitsCheck::<V>::OK;
    let raw = v.into_raw();
    let bits = if V::BITS < max_value_bits() {
        V::BITS
    } else {
        max_value_bits()
    };
    if bits < 64 && raw >> bits != 0 {
        return Err(crate::Error::Invalid {
            reason: crate::error::InvalidInput::ValueTooWide { raw, bits },
        });
    }
    Ok(raw)
}

macro_rules! unsigned_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            const BITS: u32 = if <$t>::BITS < MAX_VALUE_BITS { <$t>::BITS } else { MAX_VALUE_BITS };
            #[inline]
            fn into_raw(self) -> u64 {
                self as u64
            }
            #[inline]
            fn from_raw(raw: u64) -> Self {
                // Only payloads produced by `into_raw` reach here, and those
                // fit the type, so the cast cannot lose bits.
                raw as $t
            }
        }
    )*};
}

unsigned_value!(u8, u16, u32, u64, usize);

impl Value for bool {
    const BITS: u32 = 1;
    #[inline]
    fn into_raw(self) -> u64 {
        self as u64
    }
    #[inline]
    fn from_raw(raw: u64) -> Self {
        raw != 0
    }
}
