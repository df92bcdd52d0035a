#!/usr/bin/env python3
"""Replays a fuzzer's kept regression inputs, then fuzzes for a bounded time.

Usage: run_fuzzer.py FUZZER SECONDS SEEDS_DIR REGRESSIONS_DIR

Each file in REGRESSIONS_DIR (inputs that once crashed the target, kept after
the fix) runs once; then the fuzzer starts from SEEDS_DIR's files, writing the
inputs it finds to a temporary corpus, for SECONDS seconds. A crash, leak,
timeout or out-of-memory leaves its input in a kept folder, which this prints:
copy it to REGRESSIONS_DIR once fixed. Exits with the fuzzer's status.
"""
import os
import subprocess
import sys
import tempfile

fuzzer, seconds, seeds, regressions = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
limits = ["-rss_limit_mb=2048", "-timeout=20"]
kept = sorted(os.path.join(regressions, name) for name in os.listdir(regressions)
              if not name.startswith(".")) if os.path.isdir(regressions) else []
if kept:
    replay = subprocess.run([fuzzer] + limits + kept)
    if replay.returncode != 0:
        print(f"FAIL: a regression input in {regressions} fails again")
        sys.exit(1)
print(f"{len(kept)} regression inputs pass")
findings = tempfile.mkdtemp(prefix="sp-fuzz-findings-")
with tempfile.TemporaryDirectory(prefix="sp-fuzz-corpus-") as corpus:
    run = subprocess.run([fuzzer] + limits + [f"-max_total_time={seconds}",
                          f"-artifact_prefix={findings}/", "-print_final_stats=1",
                          corpus, seeds])
if run.returncode != 0:
    print(f"FAIL: the fuzzer found an input that fails; it is in {findings}")
    sys.exit(1)
os.rmdir(findings)
print(f"no failure in {seconds} s of fuzzing")
