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
/// # Implemented for
///
/// - `u8`, `u16`, `u32`, `u64`, `usize`: the number itself; `BITS` is the
///   type's width, at most 62, so a `u64` or `usize` of 2^62 or more is
///   refused.
/// - `i8`, `i16`, `i32`, `i64`, `isize`: the number's **two's complement
///   in `BITS` bits** (8, 16, 32, and 62 for `i64` and 64-bit `isize`), so
///   `-1i8` is stored as `0xff`. An `i64` or `isize` outside
///   `-2^61 ..= 2^61 - 1` does not fit and is refused with
///   [`Error::Invalid`](crate::Error::Invalid), never truncated (the
///   error's `raw` is then the number's 64-bit two's complement, with bit
///   63 set for a positive one).
///   Why two's complement and not an order-preserving (offset) encoding:
///   the tree never orders values, while a payload is what
///   [`into_raw`](Value::into_raw) and the `serde` records show, and here
///   a non-negative number has the same payload as in the unsigned type of
///   its width (a field can move from `u32` to `i32` and keep its data),
///   `-1` reads as all ones, and the payload is the same on every target.
/// - `bool`: 0 or 1.
///
/// On 32-bit targets a slot carries 30 bits ([`max_value_bits`]): there a
/// `u32` of 2^30 or more and every negative `i32`, `i64` or `isize` are
/// refused, while `u8`, `u16`, `i8`, `i16` and `bool` always fit.
///
/// An unannotated integer literal is an `i32` unless something else fixes
/// the type: a tree whose type names `V` (the default `XArray` has
/// `V = u64`) makes `Entry::Value(1)` a `u64`; with nothing to say
/// otherwise, the literal is an `i32`, which is a `Value` too.
///
/// ```
/// use std::sync::Arc;
/// use xradix::{Entry, XArray};
///
/// let xa: XArray = XArray::new(); // V = u64, the default
/// xa.store(1, Entry::Value(1)).unwrap(); // 1u64
/// assert_eq!(xa.get(1), Some(Entry::Value(1u64)));
///
/// let names = XArray::new(); // T and V left to inference
/// names.store(1, Entry::Item(Arc::new("one"))).unwrap();
/// names.store(2, Entry::Value(-2)).unwrap(); // nothing fixes V: i32
/// assert_eq!(names.get(2).and_then(|e| e.value()), Some(-2i32));
/// ```
///
/// Signed values at their limits:
///
/// ```
/// use xradix::{Entry, Error, Value, XArray};
///
/// assert_eq!((-1i8).into_raw(), 0xff);
/// assert_eq!(i8::from_raw(0x80), i8::MIN);
/// assert_eq!(5i32.into_raw(), 5u32.into_raw());
///
/// let xa: XArray<(), i64> = XArray::new();
/// xa.store(0, Entry::Value(-(1 << 61))).unwrap(); // the smallest that fits
/// xa.store(1, Entry::Value((1 << 61) - 1)).unwrap(); // the largest
/// assert_eq!(xa.get(0), Some(Entry::Value(-(1 << 61))));
/// let err = xa.store(2, Entry::Value(1 << 61)).unwrap_err();
/// assert!(matches!(err, Error::Invalid { .. }));
/// assert!(xa.store(2, Entry::Value(i64::MIN)).is_err());
/// assert_eq!(xa.get(2), None); // refused, not truncated
/// ```
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

/// The payload of a signed integer: its two's complement in `bits` bits
/// when it fits them (`-2^(bits-1) ..= 2^(bits-1) - 1`), else a word with
/// bit 63 set, which no slot carries, so that the store refuses it with
/// [`Error::Invalid`](crate::Error::Invalid) instead of truncating it.
#[inline]
const fn signed_into_raw(v: i64, bits: u32) -> u64 {
    let half = 1i64 << (bits - 1);
    if -half <= v && v < half {
        // The cast keeps the two's complement bits; the mask keeps `bits`
        // of them (the ones above are copies of the sign).
        (v as u64) & (u64::MAX >> (64 - bits))
    } else {
        // Negative: bit 63 is already set. Positive: set it.
        (v as u64) | 1 << 63
    }
}

/// The signed integer whose payload [`signed_into_raw`] made: `raw`'s low
/// `bits` bits, sign-extended from bit `bits - 1`.
#[inline]
const fn signed_from_raw(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

macro_rules! signed_value {
    ($($t:ty),*) => {$(
        /// Stored as its two's complement in [`BITS`](Value::BITS) bits
        /// (see the note on signed integers at [`Value`]).
        impl Value for $t {
            const BITS: u32 = if <$t>::BITS < MAX_VALUE_BITS { <$t>::BITS } else { MAX_VALUE_BITS };
            #[inline]
            fn into_raw(self) -> u64 {
                signed_into_raw(self as i64, <Self as Value>::BITS)
            }
            #[inline]
            fn from_raw(raw: u64) -> Self {
                // Only payloads produced by `into_raw` reach here: they
                // sign-extend to a value of the type, so the cast cannot
                // lose bits.
                signed_from_raw(raw, <Self as Value>::BITS) as $t
            }
        }
    )*};
}

signed_value!(i8, i16, i32, i64, isize);

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
