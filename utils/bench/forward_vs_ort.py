#!/usr/bin/env python3
"""Forward latency of sp's runtime against ONNX Runtime on CPU, and training tokens/s.

Usage: utils/bench/forward_vs_ort.py [--build DIR] [--threads N] [--repeats R] [--quick]

For each of the project's model families (models/gpt2.py, models/llama.py) at
a few sizes, compiles an inference plan with sp-compile and times one forward
pass through the runtime's C API (libsp_runtime.so, loaded in this process
with ctypes) and through an onnxruntime InferenceSession on the same ONNX file
and the same input, with the same number of threads (OMP_NUM_THREADS and
OpenBLAS for sp, intra_op_num_threads for ONNX Runtime). The two alternate run
by run, so drift on a shared machine hits both alike; each figure is the
median. Then compiles a training plan (AdamW) of the same model and times
training steps.

Prints one table: model, tokens per forward, sp ms, ORT ms, the ratio sp/ORT
(below 1: sp is faster), training ms per step and tokens/s.
"""

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# name: (generator, generator args, batch, sequence)
MODELS = {
    "gpt2-small": ("gpt2.py", ["--layers", "4", "--hidden", "256", "--heads", "8",
                               "--vocab", "8192", "--max-positions", "1024"], 1, 512),
    "llama-small": ("llama.py", ["--layers", "4", "--hidden", "256", "--heads", "8",
                                 "--kv-heads", "2", "--vocab", "8192",
                                 "--max-positions", "1024"], 1, 512),
    "gpt2-medium": ("gpt2.py", ["--layers", "6", "--hidden", "512", "--heads", "8",
                                "--vocab", "16384", "--max-positions", "1024"], 2, 256),
    "llama-medium": ("llama.py", ["--layers", "6", "--hidden", "512", "--heads", "8",
                                  "--kv-heads", "2", "--vocab", "16384",
                                  "--max-positions", "1024"], 2, 256),
}
QUICK = ("gpt2-small", "llama-small")


class Runtime:
    """The parts of sp_runtime.h the benchmark needs."""

    DTYPE_INT64 = 4

    def __init__(self, library):
        lib = ctypes.CDLL(library)
        lib.sp_last_error.restype = ctypes.c_char_p
        lib.sp_session_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.sp_session_free.argtypes = [ctypes.c_void_p]
        lib.sp_session_set_input.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_size_t]
        lib.sp_session_run_step.argtypes = [ctypes.c_void_p]
        self.lib = lib

    def check(self, status):
        if status != 0:
            raise RuntimeError(self.lib.sp_last_error().decode())

    def load(self, plan):
        session = ctypes.c_void_p()
        self.check(self.lib.sp_session_load(plan.encode(), ctypes.byref(session)))
        return session

    def set_tokens(self, session, name, ids):
        shape = (ctypes.c_int64 * ids.ndim)(*ids.shape)
        self.check(self.lib.sp_session_set_input(
            session, name.encode(), self.DTYPE_INT64, ids.ndim, shape,
            ids.ctypes.data_as(ctypes.c_void_p), ids.nbytes))

    def step(self, session):
        self.check(self.lib.sp_session_run_step(session))


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed: {result.stderr.strip()}")


def timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_model(name, spec, runtime, ort, tools, workdir, threads, repeats):
    script, args, batch, sequence = spec
    model = os.path.join(workdir, name + ".onnx")
    run([sys.executable, os.path.join(ROOT, "models", script), "-o", model] + args)
    shape = f"--input-shape=input_ids={batch}x{sequence}"
    forward_plan = os.path.join(workdir, name + ".spplan")
    train_plan = os.path.join(workdir, name + ".train.spplan")
    run([os.path.join(tools, "sp-compile"), model, shape, "-o", forward_plan])
    run([os.path.join(tools, "sp-compile"), model, shape, "--train", "-o", train_plan])

    vocab = int(args[args.index("--vocab") + 1])
    ids = np.random.default_rng(0).integers(0, vocab, size=(batch, sequence), dtype=np.int64)

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    reference = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    session = runtime.load(forward_plan)
    runtime.set_tokens(session, "input_ids", ids)
    feeds = {"input_ids": ids}

    for _ in range(3):  # warm caches, thread pools and lazy initialization
        runtime.step(session)
        reference.run(None, feeds)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(timed(lambda: runtime.step(session)))
        theirs.append(timed(lambda: reference.run(None, feeds)))
    runtime.lib.sp_session_free(session)

    trainer = runtime.load(train_plan)
    runtime.set_tokens(trainer, "input_ids", ids)
    runtime.step(trainer)
    steps = [timed(lambda: runtime.step(trainer)) for _ in range(max(3, repeats // 3))]
    runtime.lib.sp_session_free(trainer)

    sp_ms = statistics.median(ours) * 1e3
    ort_ms = statistics.median(theirs) * 1e3
    train_ms = statistics.median(steps) * 1e3
    return (name, batch * sequence, sp_ms, ort_ms, sp_ms / ort_ms, train_ms,
            batch * sequence / (train_ms / 1e3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK))
    parser.add_argument("--models", help="comma-separated subset of " + ",".join(MODELS))
    args = parser.parse_args()

    # OpenMP and OpenBLAS read these once, when the library loads.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import onnxruntime as ort

    runtime = Runtime(os.path.join(args.build, "lib", "libsp_runtime.so"))
    tools = os.path.join(args.build, "bin")
    names = (args.models.split(",") if args.models else
             list(QUICK) if args.quick else list(MODELS))
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            rows.append(bench_model(name, MODELS[name], runtime, ort, tools, workdir,
                                    args.threads, args.repeats))
            print(f"  {name}: done", file=sys.stderr, flush=True)

    print(f"threads {args.threads}, median of {args.repeats} forward passes each "
          f"(onnxruntime {ort.__version__})")
    header = ("model", "tokens", "sp ms", "ORT ms", "sp/ORT", "train ms/step", "train tok/s")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, tokens, sp_ms, ort_ms, ratio, train_ms, train_rate in rows:
        print(f"| {name} | {tokens} | {sp_ms:.1f} | {ort_ms:.1f} | {ratio:.2f} | "
              f"{train_ms:.0f} | {train_rate:,.0f} |")


if __name__ == "__main__":
    main()
