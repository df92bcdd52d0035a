"""Flips bits of a plan file one at a time and runs sp-run on each copy.

Usage: flip_bits.py PLAN PAYLOAD_BITS SP-RUN-ARGS...

Flips every bit of the 28-byte header and PAYLOAD_BITS bits spread evenly over
the message; the copy sits beside PLAN, so it finds PLAN's sidecar. Each run
must be refused: exit code 1 and exactly one line on stderr, naming the copy.
Prints the count, or each run that was not refused, and exits 1 then.
"""
import os
import subprocess
import sys

plan, payload_bits, run_args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
data = open(plan, "rb").read()
header_bits = 28 * 8
step = max(1, (len(data) * 8 - header_bits) // payload_bits)
bits = list(range(header_bits)) + list(range(header_bits, len(data) * 8, step))
copy = os.path.join(os.path.dirname(plan), "flipped.spplan")
failures = 0
for bit in bits:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with open(copy, "wb") as f:
        f.write(flipped)
    run = subprocess.run(["sp-run", copy] + run_args, capture_output=True, text=True)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if run.returncode != 1 or len(lines) != 1 or copy not in lines[0]:
        failures += 1
        print(f"bit {bit}: exit {run.returncode}, stderr {lines!r}")
print(f"{len(bits) - failures} of {len(bits)} flipped plans refused")
sys.exit(1 if failures else 0)
