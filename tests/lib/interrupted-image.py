#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
interrupted-image.py RANGES AFTER NEW - after a write stopped part-way, check the chip image
page by page: inside the ranges the job said it changed ("0x000000+65536, 0x020000+256") every
byte is the new image's, outside them every byte is still erased (0xFF). Prints "pages-ok" when
that holds and the job changed some but not all of the chip, else what differs.
"""
import sys

PAGE = 256


def main():
    ranges, after_path, new_path = sys.argv[1:4]
    after = open(after_path, "rb").read()
    new = open(new_path, "rb").read()
    changed = bytearray(len(after))
    total = 0
    for r in ranges.split(","):
        addr, length = r.strip().split("+")
        a, n = int(addr, 16), int(length)
        changed[a:a + n] = b"\x01" * n
        total += n
    bad = [i for i in range(0, len(after), PAGE)
           if after[i:i + PAGE] != (new[i:i + PAGE] if changed[i] else b"\xff" * PAGE)]
    if not bad and 0 < total < len(after):
        print("pages-ok")
    else:
        print("bad %d pages, first 0x%x, %d bytes changed" % (len(bad), bad[0] if bad else 0, total))


if __name__ == "__main__":
    main()
