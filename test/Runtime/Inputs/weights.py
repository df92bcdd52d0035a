"""Writes the raw sidecar bytes of the hand-written plans in this folder."""
import struct
import sys

kind, path = sys.argv[1], sys.argv[2]
with open(path, "wb") as out:
    if kind == "affine":
        # w = [[1, 2], [3, 4], [5, 6]], b = [0.5, -0.5]
        out.write(struct.pack("<8f", 1, 2, 3, 4, 5, 6, 0.5, -0.5))
    elif kind == "embedding":
        # the table [5, 2]: row r is [10 r, 10 r + 1]; then the i64 constant 1
        out.write(struct.pack("<10f", *[10 * r + c for r in range(5) for c in range(2)]))
        out.write(struct.pack("<q", 1))
    else:
        sys.exit(f"unknown plan '{kind}'")
