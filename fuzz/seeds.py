#!/usr/bin/env python3
"""Writes the hand-made `churn-*` seeds of fuzz/corpus/ops: inputs that force
every conversion of the compact bottom nodes, growing and shrinking
(docs/sparse-nodes.md), in both the 64-slot and the 16-slot build.

    python3 fuzz/seeds.py fuzz/corpus/ops

Each seed is encoded the way `arbitrary` 1.x decodes `Input` (fuzz_targets/
ops.rs): the flags byte, then per operation a continue byte (odd), the
variant as a little-endian u32 `x` with `(x * variants) >> 32 == index`, and
the fields in order (u8: one byte; bool: bit 0 of a byte; Option: a bool,
then the value; u16/u32: little-endian). `OPS` must list `Op`'s variants in
their order in ops.rs; `cargo fuzz fmt ops FILE` shows what a seed decodes
to, and `.ci/fuzz-replay.sh` checks that the corpus reaches every
conversion. Files are named by their SHA-1, as libFuzzer names its own.
"""
import struct, hashlib, os, sys
OPS = ["Store","Insert","Erase","Cmpxchg","Reserve","Release","StoreOrder","StoreRange","Split",
       "SetMark","ClearMark","TagRange","Alloc","Clear","Iter","CursorNext","CursorPrev",
       "CursorNextMarked","CursorFind","CursorMut","CheckAll","Churn"]
def variant(idx, count):
    x = -(-(idx << 32) // count)
    assert (x * count) >> 32 == idx and x < 2**32
    return struct.pack("<I", x)
def ent(kind, v):  # kind: 0 Value, 1 Item, 2 TooWide
    return variant(kind, 3) + bytes([v])
def idx(r, o): return bytes([r, o])
def opt(v): return b"\x00" if v is None else b"\x01" + bytes([v])
def op(name, body=b""): return b"\x01" + variant(OPS.index(name), len(OPS)) + body
def churn(block, n, keep, first, stride, order, e, mark=None):
    return op("Churn", bytes([block, n, keep, first, stride, order]) + e + opt(mark))
def store(r, o, e): return op("Store", idx(r, o) + e)
def erase(r, o): return op("Erase", idx(r, o))
def store_order(r, o, order, e, bad=2): return op("StoreOrder", idx(r, o) + bytes([order]) + e + bytes([bad]))
def set_mark(r, o, m): return op("SetMark", idx(r, o) + bytes([m]))
def iter_(r, o, ln, kind, mark, ends): return op("Iter", idx(r, o) + struct.pack("<H", ln) + bytes([kind]) + opt(mark) + struct.pack("<I", ends))
def check_all(): return op("CheckAll")
def inp(flags, *ops): return bytes([flags]) + b"".join(ops) + b"\x00"
V = lambda v: ent(0, v); I = lambda v: ent(1, v)
seeds = {
 # grows C1 -> C2 -> C4 -> C8 -> C16 -> Full by appends, then erased
 # ascending: Full -> C16 at 8, C8 at 4, C4 at 2, C2 at 1, deleted at 0
 "churn-grow-then-shrink-every-class": inp(0,
     churn(2, 17, 0, 0, 1, 0, V(3)), check_all()),
 # descending stores (insert-below every time) with marks, erased in
 # reverse through a CursorMut down to 3, then the rest by cmpxchg
 "churn-insert-below-marks-shrink": inp(0,
     churn(3, 18, 3, 63, 255, 3, I(2), 0),
     iter_(3, 0, 200, 6, 0, 0x5555),
     churn(3, 3, 0, 63, 255, 4, V(1)), check_all()),
 # scattered stores; a multi-order entry (into a compact node: to Full for
 # siblings), its erase (Full -> compact), then all erased; first in a
 # tree of one block (the bottom node on top: its head is republished),
 # then two levels down
 "churn-to-full-for-siblings-and-back": inp(0,
     churn(0, 3, 3, 1, 5, 0, V(2), 1),
     store_order(0, 36, 2, V(5)), erase(0, 36),
     store_order(0, 36, 2, V(5)), set_mark(0, 36, 2), check_all(),
     erase(0, 36), check_all(),
     churn(0, 3, 0, 1, 5, 2, V(2)), check_all()),
 "churn-to-full-for-siblings-below": inp(0,
     store(6, 3, V(1)),
     churn(2, 3, 3, 1, 5, 0, V(2), 1),
     store_order(2, 44, 2, V(5)), set_mark(2, 44, 2),
     erase(2, 44), check_all(),
     churn(2, 3, 0, 1, 5, 4, V(2)), check_all()),
 # the top of the index space; partial erases leave tombstones and shrink
 "churn-top-of-index-space": inp(3,
     churn(7, 9, 1, 2, 7, 1, I(4), 2),
     churn(7, 3, 0, 30, 3, 5, V(6)), check_all()),
 # across the Full/C16 threshold and back: 9 entries, erase one (Full ->
 # compact), store it back and erase it again (no conversion)
 "churn-alternate-across-full-threshold": inp(0,
     churn(4, 17, 9, 5, 3, 0, V(7), 1),
     churn(4, 9, 8, 5, 3, 1, V(7)),
     churn(4, 9, 8, 5, 3, 2, V(1)),
     churn(4, 9, 8, 5, 3, 3, V(2)), check_all()),
}
out = sys.argv[1]
for name, data in seeds.items():
    h = hashlib.sha1(data).hexdigest()
    open(os.path.join(out, h), "wb").write(data)
    print(h, name, len(data))
