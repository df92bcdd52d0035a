#!/usr/bin/env python3
"""NaN in a weight reaches the logits with fused attention as without it.

Usage: nan_propagation_test.py TOOLS_DIR

A 2-layer GPT-2-style model (models/gpt2.py) gets one NaN in its first
attention projection: in a query, a key or a value column. Each is compiled with and without
attention fusion (`--fuse=false`) and run by sp-run; ONNX Runtime runs the
model too. The logits' NaN positions must be the same in all three, and the
finite ones agree within 1e-4 (relative norm). Before the fused kernels
carried NaN, one NaN in a projection gave finite, wrong logits with fusion.

Prints `PASS name` or `FAIL name: reason` per case; exits 1 on any failure.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GPT2 = os.path.join(HERE, "..", "..", "models", "gpt2.py")
BATCH, SEQ, HIDDEN = 2, 16, 32
# (row, column) of transformer.h.0.attn.c_attn.weight [hidden, 3 * hidden]:
# columns [0, 32) make queries, [32, 64) keys, [64, 96) values.
CASES = {"query": (3, 5), "key": (7, HIDDEN + 9), "value": (1, 2 * HIDDEN + 30)}


def first_line(text):
    return next((line.strip() for line in text.splitlines() if line.strip()), "(no message)")


def sp_logits(tools, model, ids_file, workdir, fuse):
    plan = os.path.join(workdir, f"fuse-{fuse}.spplan")
    compiled = subprocess.run([os.path.join(tools, "sp-compile"), model,
                               f"--input-shape=input_ids={BATCH}x{SEQ}", f"--fuse={fuse}",
                               "-o", plan], capture_output=True, text=True, timeout=300)
    if compiled.returncode != 0:
        raise RuntimeError(f"sp-compile --fuse={fuse}: {first_line(compiled.stderr)}")
    dump = os.path.join(workdir, f"dump-{fuse}")
    ran = subprocess.run([os.path.join(tools, "sp-run"), plan, "--input",
                          f"input_ids={ids_file}", "--dump", dump],
                         capture_output=True, text=True, timeout=300)
    if ran.returncode != 0:
        raise RuntimeError(f"sp-run --fuse={fuse}: {first_line(ran.stderr)}")
    return np.load(os.path.join(dump, "logits.npy"))


def compare(name, ours, reference):
    """None if the NaN positions match and the rest agree, else why not."""
    if ours.shape != reference.shape:
        return f"{name}: shape {ours.shape}, expected {reference.shape}"
    nan, expected_nan = np.isnan(ours), np.isnan(reference)
    if not np.array_equal(nan, expected_nan):
        return (f"{name}: {int(nan.sum())} NaN logits, expected {int(expected_nan.sum())} "
                f"(first difference at {tuple(np.argwhere(nan != expected_nan)[0])})")
    finite = ~expected_nan
    if finite.any():
        error = np.linalg.norm(ours[finite] - reference[finite]) / np.linalg.norm(reference[finite])
        if not error <= 1e-4:
            return f"{name}: finite logits differ by {error:.3g} relative"
    return None


def run_case(tools, name, position, workdir):
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model_path = os.path.join(workdir, "model.onnx")
    generated = subprocess.run([sys.executable, GPT2, "-o", model_path, "--layers", "2",
                                "--hidden", str(HIDDEN), "--heads", "4", "--init-std", "0.2",
                                "--vocab", "96", "--max-positions", "64"],
                               capture_output=True, text=True)
    if generated.returncode != 0:
        return f"generator failed: {first_line(generated.stderr)}"
    model = onnx.load(model_path)
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == "transformer.h.0.attn.c_attn.weight":
            weight = numpy_helper.to_array(tensor).copy()
            weight[position] = np.nan
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(weight, tensor.name))
    onnx.save(model, model_path)

    ids = np.random.default_rng(3).integers(0, 96, size=(BATCH, SEQ), dtype=np.int64)
    ids_file = os.path.join(workdir, "ids.npy")
    np.save(ids_file, ids)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    (reference,) = session.run(["logits"], {"input_ids": ids})
    fused = sp_logits(tools, model_path, ids_file, workdir, "true")
    unfused = sp_logits(tools, model_path, ids_file, workdir, "false")
    if not np.isnan(reference).any():
        return "the NaN did not reach ONNX Runtime's logits: the case tests nothing"
    return compare("fused vs ONNX Runtime", fused, reference) or \
        compare("--fuse=false vs ONNX Runtime", unfused, reference)


def main():
    tools = sys.argv[1]
    failures = 0
    for name, position in CASES.items():
        with tempfile.TemporaryDirectory() as workdir:
            try:
                problem = run_case(tools, name, position, workdir)
            except Exception as error:  # one failing case must not hide the rest
                problem = f"{type(error).__name__}: {first_line(str(error))}"
        if problem:
            failures += 1
            print(f"FAIL {name}: {problem}", flush=True)
        else:
            print(f"PASS {name}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
