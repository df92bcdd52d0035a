"""Writes raw little-endian token ids: tokens.py OUT WIDTH ID..."""
import struct
import sys

path, width, ids = sys.argv[1], int(sys.argv[2]), [int(i) for i in sys.argv[3:]]
with open(path, "wb") as out:
    out.write(struct.pack("<%d%s" % (len(ids), "H" if width == 2 else "I"), *ids))
