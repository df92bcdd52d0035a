#!/usr/bin/env python3
"""Forward logits of sp-run against ONNX Runtime on the project's models.

Usage: forward_ort_test.py TOOLS_DIR [--keep DIR]

Generates GPT-2-style and Llama-style variants with models/gpt2.py and
models/llama.py (mask and rotary styles, GELU forms, decomposed layer norm,
grouped-query attention, static and dynamic shapes, external weights),
compiles each as an inference plan (`sp-compile MODEL --input-shape
input_ids=2x32 -o PLAN`), runs it with `sp-run PLAN --input input_ids=IDS.npy
--dump DIR` and compares the dumped logits with onnxruntime's on the same
input: the relative error (norm of the difference over the norm of ORT's
logits) must be at most 1e-4.

Prints `PASS name (error)` or `FAIL name: reason` per model; exits 1 on any
failure.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "models")
BATCH, SEQ = 2, 32
TOLERANCE = 1e-4
# Larger weights than the default make the nonlinearities matter.
COMMON = ["--init-std", "0.2", "--vocab", "96", "--max-positions", "64"]
VARIANTS = {
    "gpt2": ["gpt2.py", "--layers", "2", "--hidden", "32", "--heads", "4"],
    "gpt2-erf-decomposed": ["gpt2.py", "--gelu", "erf", "--layer-norm", "decomposed",
                            "--mask", "folded"],
    "gpt2-static-compare": ["gpt2.py", "--batch", "2", "--sequence", "32",
                            "--mask-style", "compare", "--untied-lm-head"],
    "gpt2-external": ["gpt2.py", "--external-data"],
    "llama": ["llama.py", "--layers", "2", "--hidden", "32", "--heads", "4",
              "--kv-heads", "2"],
    "llama-folded-rope": ["llama.py", "--rope", "folded", "--mask", "folded",
                          "--rms-norm", "div"],
    "llama-mul-rope-window": ["llama.py", "--rope", "mul", "--sliding-window", "8",
                              "--heads", "4", "--kv-heads", "1"],
    "llama-static-opset18": ["llama.py", "--batch", "2", "--sequence", "32", "--opset", "18"],
}


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def run_one(tools, name, generator_args, workdir):
    import onnxruntime as ort

    model = os.path.join(workdir, name + ".onnx")
    script, *args = generator_args
    generated = subprocess.run([sys.executable, os.path.join(MODELS, script), "-o", model]
                               + COMMON + args, capture_output=True, text=True)
    if generated.returncode != 0:
        return f"generator failed: {first_line(generated.stderr)}"

    plan = os.path.join(workdir, name + ".spplan")
    compiled = subprocess.run([os.path.join(tools, "sp-compile"), model,
                               f"--input-shape=input_ids={BATCH}x{SEQ}", "-o", plan],
                              capture_output=True, text=True, timeout=300)
    if compiled.returncode != 0:
        return f"sp-compile exited {compiled.returncode}: {first_line(compiled.stderr)}"

    ids = np.random.default_rng(7).integers(0, 96, size=(BATCH, SEQ), dtype=np.int64)
    ids_file = os.path.join(workdir, name + ".ids.npy")
    np.save(ids_file, ids)
    dump = os.path.join(workdir, name + ".dump")
    ran = subprocess.run([os.path.join(tools, "sp-run"), plan, "--input",
                          f"input_ids={ids_file}", "--dump", dump],
                         capture_output=True, text=True, timeout=300)
    if ran.returncode != 0:
        return f"sp-run exited {ran.returncode}: {first_line(ran.stderr)}"
    ours = np.load(os.path.join(dump, "logits.npy"))

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (reference,) = session.run(["logits"], {"input_ids": ids})
    if ours.shape != reference.shape:
        return f"logits of shape {ours.shape}, ONNX Runtime's {reference.shape}"
    error = np.linalg.norm(ours.astype(np.float64) - reference) / np.linalg.norm(reference)
    if not error <= TOLERANCE:
        return f"logits differ from ONNX Runtime's by {error:.3g} relative"
    return error


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--keep", help="keep models, plans and dumps in DIR")
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        for name, generator_args in VARIANTS.items():
            try:
                result = run_one(args.tools, name, generator_args, workdir)
            except Exception as error:  # one failing model must not hide the rest
                result = f"{type(error).__name__}: {first_line(str(error))}"
            if isinstance(result, str):
                failures += 1
                print(f"FAIL {name}: {result}", flush=True)
            else:
                print(f"PASS {name} ({result:.1e})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
