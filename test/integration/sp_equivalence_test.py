#!/usr/bin/env python3
"""Sequence parallelism computes what one rank computes.

Usage: sp_equivalence_test.py TOOLS_DIR [--steps K] [--ranks N ...] [--strategies S ...]

For a GPT-2 style model and a Llama-style one with grouped-query attention
(4 query heads, 2 key/value heads: ulysses on 4 ranks repeats them), each
compiled for batch 2 x sequence 32 with `sp-compile --sp N --sp-strategy S`
for N in {2, 4} and S in {allgather, ulysses, ring}, and the hybrid of
Ulysses and the ring (S = hybridU: `--sp-ulysses-degree U`, for 1 < U < N:
all-to-all inside groups of U ranks, the ring across them), run with
`mpirun --oversubscribe -np N sp-run`:

- one SGD step gives the one-rank plan's loss, logits, every parameter
  gradient and every updated parameter within 1e-5 relative in float32
  (per tensor: |x - ref| <= 1e-5 * (|ref| + max|ref|)), for these models and
  for two whose attention has a bias (BIAS_MODELS);
- a K-step AdamW loss curve on synthetic:copy (default 200 steps) agrees
  step by step within 1e-4 as sp-run prints it (4 decimals), and the last
  step's loss within 1e-4 relative. The learning rate is sp-compile's
  default, 1e-3: at 3e-3 the Llama-style model's curve on this noise-like
  data is chaotic, and the one-rank plan disagrees with itself by 0.1 after
  200 steps when run with 1 or 2 OpenMP threads.

These plans are scheduled (sp-compile's default: collectives started early
and waited for late); the --report timeline must show no synchronous
collective left. The one SGD step is also compiled with --no-overlap, every
collective synchronous where sharding put it, which must give the one-rank
results within 1e-5 too, and the scheduled ones bit for bit: overlap
changes when a collective runs, never what it computes.

Ranks run with OMP_NUM_THREADS=1: OpenMP threads that spin while their
rank waits in MPI starve the other ranks when they outnumber the cores.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "models")

MODEL_ARGS = {
    "gpt2": ["--layers", "2", "--hidden", "64", "--heads", "4", "--dropout", "0"],
    "llama": ["--layers", "2", "--hidden", "64", "--heads", "4", "--kv-heads", "2"],
}
# One step only, of attention with a bias:
# - GPT-2 with HF's padding mask as an input (left padding in one row, right
#   in the other): the mask's cumsum (position ids) and the bias built from it
#   need the whole sequence, and ring attention falls back to allgather,
#   since the bias hides padded queries from every key;
# - Llama with a sliding window of 8 (Mistral): a constant bias, which ring
#   attention slices per block.
BIAS_MODELS = {
    "padded": ("gpt2.py", ["--layers", "1", "--hidden", "64", "--heads", "4", "--dropout", "0",
                           "--attention-mask", "--mask", "folded", "--batch", "2",
                           "--sequence", "32"]),
    "window": ("llama.py", ["--layers", "1", "--hidden", "64", "--heads", "4", "--kv-heads", "2",
                            "--sliding-window", "8"]),
}


def strategy_flags(strategy, ranks):
    """sp-compile's flags for `strategy` on `ranks` ranks: `--sp-strategy=S`, or
    for hybridU `--sp-ulysses-degree U`; None where the hybrid's groups would
    be one rank or every rank (the ring, or Ulysses)."""
    if strategy.startswith("hybrid"):
        degree = int(strategy[len("hybrid"):])
        if not 1 < degree < ranks or ranks % degree:
            return None
        return ["--sp", str(ranks), "--sp-ulysses-degree", str(degree)]
    return ["--sp", str(ranks), f"--sp-strategy={strategy}"]


def report_bytes(report, what):
    """The byte count of `sp-compile --report`'s line `what` ("peak activations", "total",
    ...), or None when the report has no such line."""
    found = re.search(rf"^  {what} +(\d+) ", report, re.M)
    return int(found.group(1)) if found else None


def make_mask_an_input(path):
    """Replaces the generated all-ones attention mask by a graph input."""
    import onnx
    from onnx import TensorProto, helper
    model = onnx.load(path)
    ones = next(node for node in model.graph.node if node.op_type == "ConstantOfShape")
    model.graph.node.remove(ones)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == ones.output[0]:
                node.input[i] = "attention_mask"
    model.graph.input.append(
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [2, 32]))
    onnx.save(model, path)
SHAPE = "input_ids=2x32"
STEP_TOLERANCE = 1e-5
CURVE_TOLERANCE = 1e-4


def rank_environment():
    """The environment ranks run in: one OpenMP thread each (see above), and
    mpirun allowed to start as root, as in containers."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return env


def on_ranks(command, ranks):
    """`command` under mpirun on `ranks` ranks, passing OMP_NUM_THREADS on;
    `command` itself for one rank."""
    if ranks == 1:
        return command
    return ["mpirun", "--oversubscribe", "-x", "OMP_NUM_THREADS", "-np", str(ranks)] + command


def run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(command)}: {result.stderr.strip()}")
    return result.stdout


def losses(output):
    return [float(m.group(1)) for m in re.finditer(r"^step \d+/\d+\s+loss (\S+)", output, re.M)]


def load_dump(folder):
    tensors = {}
    for root, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".npy"):
                path = os.path.join(root, name)
                tensors[os.path.relpath(path, folder)] = np.load(path)
    return tensors


def compare_dumps(reference, candidate, what, exact=False):
    if set(reference) != set(candidate):
        missing = sorted(set(reference) ^ set(candidate))
        return [f"{what}: dumps differ in names: {missing[:5]}"], 0.0
    problems, worst = [], 0.0
    for name, ref in sorted(reference.items()):
        got = candidate[name]
        if ref.shape != got.shape or ref.dtype != got.dtype:
            problems.append(f"{what}: {name} is {got.dtype}{list(got.shape)}, "
                            f"expected {ref.dtype}{list(ref.shape)}")
            continue
        if exact:
            if not np.array_equal(ref, got, equal_nan=True):
                differing = int(np.sum(ref != got))
                problems.append(f"{what}: {name} differs in {differing} of {ref.size} elements "
                                "(expected bit-identical)")
            continue
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        scale = np.abs(ref64) + np.max(np.abs(ref64), initial=0.0)
        error = np.abs(got64 - ref64)
        ratio = float(np.max(error / np.maximum(scale, 1e-30), initial=0.0))
        worst = max(worst, ratio)
        if not np.all(error <= STEP_TOLERANCE * scale):
            problems.append(f"{what}: {name} differs by {ratio:.2e} relative")
    return problems, worst


def check_bias_model(model, work, args, sp_compile, sp_run, env):
    generator, generator_args = BIAS_MODELS[model]
    onnx_path = os.path.join(work, f"{model}.onnx")
    run([sys.executable, os.path.join(MODELS, generator), "-o", onnx_path] + generator_args)
    inputs = []
    if model == "padded":
        make_mask_an_input(onnx_path)
        mask = np.ones((2, 32), np.int64)
        mask[0, :5] = 0
        mask[1, 20:] = 0
        mask_path = os.path.join(work, "mask.npy")
        np.save(mask_path, mask)
        inputs = ["--input", f"attention_mask={mask_path}"]
    failures = []

    def step(name, ranks, extra):
        plan = os.path.join(work, f"{name}.spplan")
        run([sp_compile, onnx_path, "--train", "--input-shape", SHAPE, "--optimizer", "sgd",
             "--lr", "0.1", "-o", plan] + extra)
        dump = os.path.join(work, f"{name}-step")
        run(on_ranks([sp_run, plan, "--data", "synthetic:copy", "--dump", dump] + inputs, ranks),
            env)
        return load_dump(dump)

    reference = step(f"{model}-1", 1, [])
    for ranks in args.ranks:
        for strategy in args.strategies:
            flags = strategy_flags(strategy, ranks)
            if flags is None:
                continue
            name = f"{model}-{strategy}-{ranks}"
            problems, worst = compare_dumps(reference, step(name, ranks, flags), name)
            failures += problems
            print(f"{name}: step worst {worst:.1e} relative")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tools")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--strategies", nargs="+",
                        default=["allgather", "ulysses", "ring", "hybrid2"])
    args = parser.parse_args()
    sp_compile = os.path.join(args.tools, "sp-compile")
    sp_run = os.path.join(args.tools, "sp-run")
    env = rank_environment()
    failures = []
    started = time.time()
    with tempfile.TemporaryDirectory() as work:
        for model, model_args in MODEL_ARGS.items():
            onnx = os.path.join(work, f"{model}.onnx")
            run([sys.executable, os.path.join(MODELS, f"{model}.py"), "-o", onnx] + model_args)

            def compile_step(name, extra):
                """The one-step SGD plan and sp-compile's --report."""
                step_plan = os.path.join(work, f"{name}.sgd.spplan")
                report = run([sp_compile, onnx, "--train", "--input-shape", SHAPE, "--optimizer",
                              "sgd", "--lr", "0.1", "--report", "-o", step_plan] + extra)
                return step_plan, report

            def compile_plan(name, extra):
                step_plan, report = compile_step(name, extra)
                curve_plan = os.path.join(work, f"{name}.adamw.spplan")
                run([sp_compile, onnx, "--train", "--input-shape", SHAPE, "-o", curve_plan] + extra)
                return step_plan, curve_plan, report

            def execute(plan, ranks, steps, dump):
                return run(on_ranks([sp_run, plan, "--data", "synthetic:copy", "--steps",
                                     str(steps), "--dump", dump], ranks), env)

            base_step, base_curve, _ = compile_plan(f"{model}-1", [])
            base_step_dump = os.path.join(work, f"{model}-1-step")
            execute(base_step, 1, 1, base_step_dump)
            reference = load_dump(base_step_dump)
            base_curve_dump = os.path.join(work, f"{model}-1-curve")
            reference_curve = losses(execute(base_curve, 1, args.steps, base_curve_dump))
            reference_last = float(np.load(os.path.join(base_curve_dump, "loss.npy")))

            for ranks in args.ranks:
                for strategy in args.strategies:
                    sharding = strategy_flags(strategy, ranks)
                    if sharding is None:
                        continue
                    name = f"{model}-{strategy}-{ranks}"
                    step_plan, curve_plan, report = compile_plan(name, sharding)
                    if "(sync)" in report or "communication hidden" not in report:
                        failures.append(f"{name}: the schedule left synchronous collectives")
                    step_dump = os.path.join(work, f"{name}-step")
                    execute(step_plan, ranks, 1, step_dump)
                    scheduled = load_dump(step_dump)
                    problems, worst = compare_dumps(reference, scheduled, name)
                    failures += problems

                    sync_plan, _ = compile_step(f"{name}-sync", sharding + ["--no-overlap"])
                    sync_dump = os.path.join(work, f"{name}-sync-step")
                    execute(sync_plan, ranks, 1, sync_dump)
                    synchronous = load_dump(sync_dump)
                    failures += compare_dumps(reference, synchronous, f"{name} --no-overlap")[0]
                    # Scheduling moves when collectives run, never what
                    # they compute: the same bits with and without overlap.
                    failures += compare_dumps(synchronous, scheduled,
                                              f"{name} scheduled against --no-overlap",
                                              exact=True)[0]

                    curve_dump = os.path.join(work, f"{name}-curve")
                    curve = losses(execute(curve_plan, ranks, args.steps, curve_dump))
                    last = float(np.load(os.path.join(curve_dump, "loss.npy")))
                    gap = max((abs(a - b) for a, b in zip(curve, reference_curve)), default=0)
                    if len(curve) != len(reference_curve) or gap > CURVE_TOLERANCE + 1e-9:
                        failures.append(f"{name}: loss curve differs by {gap:.1e} "
                                        f"({len(curve)} of {len(reference_curve)} steps)")
                    if abs(last - reference_last) > CURVE_TOLERANCE * abs(reference_last):
                        failures.append(f"{name}: last loss {last:.7f}, one rank "
                                        f"{reference_last:.7f}")
                    print(f"{name}: step worst {worst:.1e} relative, {args.steps}-step curve "
                          f"gap {gap:.1e}, last loss {last:.6f} vs {reference_last:.6f}")
        for model in BIAS_MODELS:
            failures += check_bias_model(model, work, args, sp_compile, sp_run, env)
    print(f"{time.time() - started:.1f} s")
    if failures:
        sys.exit("FAIL:\n  " + "\n  ".join(failures))
    print("PASS")


if __name__ == "__main__":
    main()
