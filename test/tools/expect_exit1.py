#!/usr/bin/env python3
"""Runs a command that must refuse its input the way sp's tools promise to:
exit code exactly 1 (not a crash or a signal) and exactly one line on stderr.
The stderr line is passed on to stdout so that FileCheck can look at it."""
import subprocess
import sys

if len(sys.argv) < 2:
    sys.exit("usage: expect_exit1.py COMMAND [ARGS...]")
try:
    proc = subprocess.run(sys.argv[1:], capture_output=True, timeout=120)
except subprocess.TimeoutExpired:
    sys.exit("expect_exit1: command hung (no exit within 120 s)")
stderr = proc.stderr.decode(errors="replace")
sys.stdout.write(stderr)
if proc.returncode != 1:
    sys.exit(f"expect_exit1: exit code {proc.returncode}, expected 1")
lines = [line for line in stderr.splitlines() if line.strip()]
if len(lines) != 1:
    sys.exit(f"expect_exit1: {len(lines)} lines on stderr, expected exactly 1")
