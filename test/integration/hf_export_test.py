#!/usr/bin/env python3
"""Imports torch.onnx exports of Hugging Face causal LMs with sp-compile.

Usage: hf_export_test.py TOOLS_DIR [--families gpt2,...] [--exporter dynamo|torchscript|both]
                         [--attn eager,sdpa] [--keep DIR]

Exports GPT-2, Llama, Qwen2, GPT-NeoX, Falcon and BLOOM (tiny random-weight
configs) with utils/export_hf_models.py, then for each export runs
`sp-compile MODEL --emit=mlir` and parses the result with `sp-opt`. Dynamic
exports are imported twice: as they are, and with their inputs bound by
`--input-shape` (batch 2, sequence 16); static and bound imports must leave no
`graph.shape` or `graph.range` op behind, since every shape is then known.

Prints `PASS name` or `FAIL name: reason` per import and exits 1 on any
failure. Prints `SKIP: torch not installed` and exits 77 (ctest's skip) when torch or
transformers cannot be imported.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORTER = os.path.join(HERE, "..", "..", "utils", "export_hf_models.py")
BOUND_SHAPE = "2x16"
# Ops that compute shapes or positions; with every dim known they must fold.
SHAPE_OPS = ("graph.shape", "graph.range")


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def import_one(tools, path, extra_args):
    """Returns (True, printed module) or (False, reason)."""
    compile_cmd = [os.path.join(tools, "sp-compile"), path, "--emit=mlir"] + extra_args
    try:
        compiled = subprocess.run(compile_cmd, capture_output=True, text=True,
                                  timeout=300)
    except subprocess.TimeoutExpired:
        return False, "sp-compile timed out"
    if compiled.returncode != 0:
        return False, (f"sp-compile exited {compiled.returncode}: "
                f"{first_line(compiled.stderr)}")
    if not compiled.stdout.strip():
        return False, "sp-compile printed no module"
    try:
        parsed = subprocess.run([os.path.join(tools, "sp-opt"), "-"],
                                input=compiled.stdout, capture_output=True,
                                text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False, "sp-opt timed out"
    if parsed.returncode != 0:
        return False, f"sp-opt cannot parse the output: {first_line(parsed.stderr)}"
    return True, compiled.stdout


def leftover_shape_ops(mlir):
    counts = {}
    for op in SHAPE_OPS:
        n = len(re.findall(r"\b" + re.escape(op) + r"\b", mlir))
        if n:
            counts[op] = n
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools", help="folder holding sp-compile and sp-opt")
    parser.add_argument("--families", default=None)
    parser.add_argument("--exporter", default="both",
                        choices=["dynamo", "torchscript", "both"])
    parser.add_argument("--attn", default=None)
    parser.add_argument("--keep", default=None,
                        help="export into this folder and keep it")
    args = parser.parse_args()

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        print("SKIP: torch not installed")
        return 77  # ctest's SKIP_RETURN_CODE: a skip is not a pass
    for tool in ("sp-compile", "sp-opt"):
        if not os.access(os.path.join(args.tools, tool), os.X_OK):
            print(f"FAIL setup: {tool} not found in {args.tools}")
            return 1

    with tempfile.TemporaryDirectory(prefix="sp-hf-") as scratch:
        outdir = args.keep or scratch
        export_cmd = [sys.executable, EXPORTER, outdir, "--exporter", args.exporter]
        if args.families:
            export_cmd += ["--families", args.families]
        if args.attn:
            export_cmd += ["--attn", args.attn]
        exported = subprocess.run(export_cmd, capture_output=True, text=True)
        failures = 0
        models = []
        for line in exported.stdout.splitlines():
            if line.startswith("WROTE "):
                _, name, path, inputs = line.split()[:4]
                models.append((name, path, inputs.split("=", 1)[1].split(",")))
            elif line.startswith("EXPORT-FAILED "):
                print("FAIL " + line[len("EXPORT-FAILED "):], flush=True)
                failures += 1
        if exported.returncode not in (0, 1) or not models:
            print(f"FAIL export: {' '.join(export_cmd)} exited "
                  f"{exported.returncode}: {first_line(exported.stderr)}")
            return 1

        for name, path, inputs in models:
            runs = [(name, [])]
            if name.endswith("-dynamic"):
                bind = []
                for input_name in ("input_ids", "attention_mask"):
                    if input_name in inputs:
                        bind += ["--input-shape", f"{input_name}={BOUND_SHAPE}"]
                runs.append((name + "@" + BOUND_SHAPE, bind))
            for label, extra in runs:
                ok, result = import_one(args.tools, path, extra)
                if not ok:
                    print(f"FAIL {label}: {result}", flush=True)
                    failures += 1
                    continue
                fully_static = not name.endswith("-dynamic") or extra
                leftovers = leftover_shape_ops(result) if fully_static else {}
                if leftovers:
                    what = ", ".join(f"{n} x {op}" for op, n in leftovers.items())
                    print(f"FAIL {label}: shapes are static but {what} did not fold",
                          flush=True)
                    failures += 1
                    continue
                print(f"PASS {label}", flush=True)
        print(f"{len(models)} exports, {failures} failures")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
