#!/usr/bin/env python3
"""wal.py COMMAND SEGMENT [ARGS] - damage an inmem log segment the way the CLI tests need.

The frame format is the one docs/FORMAT.md documents: a 40-byte segment header, then records
framed as length u32 . type u8 . payload . CRC-32C u32 (of length, type and payload), ended by a
zero frame. A transaction is one TXN frame (format 2), or BEGIN, WRITE/DELETE records and COMMIT
(format 1, and transactions too big for one frame).

  tear SEG          what a crash in the middle of writing the last transaction leaves: the
                    clean close's CLOSE mark is removed and the last transaction is cut inside its
                    last frame (the rest zeroed). Prints the offset where that transaction begins.
  tamper SEG OLD NEW
                    rewrites the bytes OLD (found inside one TXN or WRITE record) to NEW (same
                    length) and fixes the frame's checksum: a change recovery cannot see, as an
                    attacker or a buggy tool with write access would make it. Prints the frame's
                    offset.
"""
import struct
import sys

BEGIN, WRITE, DELETE, COMMIT, CLOSE, NEXT, TXN = 1, 2, 3, 4, 5, 6, 7


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def frames(img):
    """Yields (offset, type, payload) up to the end mark."""
    off = 40
    while off + 9 <= len(img):
        length, typ = struct.unpack_from("<IB", img, off)
        if length == 0 and typ == 0:
            return
        yield off, typ, bytes(img[off + 5:off + 5 + length])
        off += 9 + length


def tear(path):
    img = bytearray(open(path, "rb").read())
    fr = list(frames(img))
    if fr and fr[-1][1] == CLOSE:
        fr.pop()
    last = max(i for i, f in enumerate(fr) if f[1] in (COMMIT, TXN))
    if fr[last][1] == TXN:
        begin = last
    else:
        begin = max(i for i, f in enumerate(fr[:last]) if f[1] == BEGIN)
    cut = fr[last][0] + 5 + len(fr[last][2]) // 2  # inside the last frame's payload
    img[cut:] = bytes(len(img) - cut)
    open(path, "r+b").write(img)
    print(fr[begin][0])


def tamper(path, old, new):
    old, new = old.encode(), new.encode()
    assert len(old) == len(new), "OLD and NEW must have the same length"
    img = bytearray(open(path, "rb").read())
    for off, typ, payload in frames(img):
        if typ in (WRITE, TXN) and old in payload:
            payload = payload.replace(old, new, 1)
            img[off + 5:off + 5 + len(payload)] = payload
            crc = crc32c(bytes(img[off:off + 5 + len(payload)]))
            struct.pack_into("<I", img, off + 5 + len(payload), crc)
            open(path, "r+b").write(img)
            print(off)
            return
    sys.exit(f"{path}: no WRITE record holds {old!r}")


if __name__ == "__main__":
    cmd, seg = sys.argv[1], sys.argv[2]
    if cmd == "tear":
        tear(seg)
    elif cmd == "tamper":
        tamper(seg, sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
