#!/usr/bin/env python3
"""The C embedding API end to end: compile a tiny GPT-2 training plan with
sp-compile, train it with the example C host (runtime/examples/embed_host.c),
and check that the host and sp-run agree.

Usage: embed_host_test.py TOOLS_DIR [--keep DIR]

The host feeds one fixed batch every step (a 32-bit LCG, reproduced here), so
the loss must fall; sp-run fed the same batch through --input must print the
same losses (its 4 decimals, the host's rounded alike) and dump the host's last
loss bit for bit (the host prints it with 17 digits, enough to round-trip). Prints PASS or FAIL lines and exits 1 on any failure.
"""

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "models")
BATCH, SEQUENCE, VOCAB, STEPS = 2, 16, 64, 6


def run(command):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()] or ["(no message)"]
        raise RuntimeError(f"{os.path.basename(command[0])} exited {proc.returncode}: {lines[-1]}")
    return proc.stdout


def host_tokens():
    """The batch embed_host.c feeds: state = state * 1664525 + 1013904223."""
    state, ids = 12345, []
    for _ in range(BATCH * SEQUENCE):
        state = (state * 1664525 + 1013904223) % 2**32
        ids.append((state >> 8) % VOCAB)
    return np.array(ids, dtype=np.int64).reshape(BATCH, SEQUENCE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tools")
    parser.add_argument("--keep", help="keep the files in this folder")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="sp-embed-host-")
    os.makedirs(work, exist_ok=True)
    tool = lambda name: os.path.join(os.path.abspath(args.tools), name)
    model = os.path.join(work, "gpt2.onnx")
    plan = os.path.join(work, "gpt2.spplan")
    failures = 0

    def check(name, condition, detail=""):
        nonlocal failures
        print(("PASS " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))
        failures += not condition

    try:
        run([sys.executable, os.path.join(MODELS, "gpt2.py"), "-o", model, "--layers", "1",
             "--hidden", "32", "--heads", "2", "--vocab", str(VOCAB), "--max-positions",
             str(SEQUENCE), "--batch", str(BATCH), "--sequence", str(SEQUENCE), "--dropout", "0"])
        run([tool("sp-compile"), model, "--emit=plan", "--train", "--optimizer=adamw",
             "--lr", "0.01", "-o", plan])
        host = run([tool("sp-embed-host"), plan, str(STEPS)])
    except RuntimeError as error:
        print(f"FAIL setup: {error}")
        return 1

    host_losses = [float(x) for x in re.findall(r"^step \d+ loss (\S+)$", host, re.M)]
    check("host runs every step", len(host_losses) == STEPS, host)
    check("host losses are finite", all(math.isfinite(x) for x in host_losses), host_losses)
    check("host loss falls on a repeated batch",
          len(host_losses) == STEPS and host_losses[-1] < host_losses[0], host_losses)
    check("host starts near log(vocab)",
          bool(host_losses) and abs(host_losses[0] - math.log(VOCAB)) < 0.5, host_losses)

    tokens = os.path.join(work, "tokens.npy")
    np.save(tokens, host_tokens())
    try:
        dump = os.path.join(work, "dump")
        out = run([tool("sp-run"), plan, "--input", f"input_ids={tokens}", "--steps", str(STEPS),
                   "--dump", dump])
    except RuntimeError as error:
        print(f"FAIL sp-run: {error}")
        return 1
    run_losses = re.findall(r"^step \d+/\d+  loss (\S+)", out, re.M)
    host_rounded = [f"{x:.4f}" for x in host_losses]
    check("sp-run prints the host's losses", run_losses == host_rounded,
          f"sp-run {run_losses}, host {host_rounded}")
    last_loss = np.load(os.path.join(dump, "loss.npy"))
    check("sp-run's last loss is the host's, bit for bit",
          bool(host_losses) and float(last_loss) == host_losses[-1],
          f"sp-run {float(last_loss)!r} ({last_loss.dtype}), host {host_losses[-1:]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
