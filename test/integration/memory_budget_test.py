#!/usr/bin/env python3
"""--memory-budget: a plan that fits a budget it did not fit before, with the same training.

Usage: memory_budget_test.py TOOLS_DIR [--no-mpi]

For each setting below (the project's GPT-2 generator, models/gpt2.py; with training-mode
dropout on the residual stream and the attention probabilities, whose masks a recomputed
dropout must draw again; that model with attention left unfused (--fuse=false), whose scores
and probabilities can be recomputed; with --micro-batches 2; sequence-parallel over 2 ranks
under mpirun --oversubscribe with the ring and all-gather strategies):

- `sp-compile --report` without a budget gives the step's total T per rank;
- `--memory-budget 1` cannot be met: exit code 1 and one error line, which names the smallest
  step recomputation reaches, M; M must be below T (something was recomputed);
- a budget halfway between M and T, below T, is met, and so is M itself: the report's total and
  its "step with budget" are at most the budget, its "step without budget" is T, and it
  recomputes at least one op;
- three AdamW steps (seed 7, the copy task) of each budgeted plan give the unbudgeted plan's
  loss, gradients, parameters and optimizer state bit for bit (--dump): recomputation runs the
  same kernels on the same inputs.

Bad values (0, negative, garbage, a fraction, an unknown unit) and a budget without --train are
one error line and exit code 1. The one-rank dropout settings must recompute a dropout at M,
and the unfused one the attention's scores product and softmax too (the cpu profile predicts that product,
with its inner dim of 16, to be bound by memory traffic; fused attention draws its probabilities'
dropout inside the kernels). Ranks run with OMP_NUM_THREADS=1.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "models")
sys.path.insert(0, HERE)
from sp_equivalence_test import (compare_dumps, load_dump, on_ranks,  # noqa: E402
                                 rank_environment, report_bytes, run)

GPT2 = ["--layers", "2", "--hidden", "64", "--heads", "4", "--vocab", "64",
        "--max-positions", "64"]
MODEL_ARGS = {
    "gpt2": GPT2,
    "gpt2-dropout": GPT2 + ["--dropout", "0.1", "--dropout-training"],
}
SHAPE = "input_ids=2x64"
# label: (model, sp-compile flags, ranks, input shape)
SETTINGS = {
    "gpt2": ("gpt2", [], 1, SHAPE),
    "gpt2-dropout": ("gpt2-dropout", [], 1, SHAPE),
    "gpt2-dropout-unfused": ("gpt2-dropout", ["--fuse=false"], 1, SHAPE),
    "gpt2-dropout-micro-batches-2": ("gpt2-dropout", ["--micro-batches", "2"], 1,
                                     "input_ids=4x64"),
    "gpt2-sp2-ring": ("gpt2", ["--sp", "2", "--sp-strategy=ring"], 2, SHAPE),
    "gpt2-dropout-sp2-allgather": ("gpt2-dropout", ["--sp", "2", "--sp-strategy=allgather"], 2,
                                   SHAPE),
}
STEPS = 3


def compile_step(tools, model, flags, shape, plan, budget=None):
    """(exit code, stdout, stderr) of sp-compile --train --report."""
    command = [os.path.join(tools, "sp-compile"), model, "--train", "--input-shape", shape,
               "--report", "-o", plan] + flags
    if budget is not None:
        command += ["--memory-budget", str(budget)]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return ran.returncode, ran.stdout, ran.stderr


def errors_only(stderr):
    return [line for line in stderr.splitlines() if "warning:" not in line]


def check_setting(tools, work, env, label, model, flags, ranks, shape):
    """Problems of one setting, and a summary line."""
    plain = os.path.join(work, f"{label}-plain.spplan")
    code, out, err = compile_step(tools, model, flags, shape, plain)
    if code != 0:
        return [f"{label}: sp-compile without a budget exited {code}: {err.strip()}"], ""
    total = report_bytes(out, "total")

    code, out, err = compile_step(tools, model, flags, shape, os.devnull, budget=1)
    lines = errors_only(err)
    reached = re.search(r"cannot be met: .* brings the step to (\d+) bytes", err)
    if code != 1 or len(lines) != 1 or not reached:
        return [f"{label}: --memory-budget 1 gave exit {code} and {err!r}; expected one "
                "'cannot be met' line and exit 1"], ""
    smallest = int(reached.group(1))
    if not smallest < total:
        return [f"{label}: recomputation reaches {smallest} bytes, not below the "
                f"unbudgeted {total}"], ""

    problems, summaries = [], []
    dumps = {"plain": dump_steps(tools, env, plain, ranks)}
    if len(dumps["plain"]) < 3:
        problems.append(f"{label}: the dump holds only {sorted(dumps['plain'])}")
    # Halfway, and the smallest step itself.
    for kind, budget in (("half", (smallest + total) // 2), ("smallest", smallest)):
        budgeted = os.path.join(work, f"{label}-{kind}.spplan")
        code, out, err = compile_step(tools, model, flags, shape, budgeted, budget=budget)
        if code != 0:
            problems.append(f"{label}: --memory-budget {budget} (between {smallest} and "
                            f"{total}) exited {code}: {err.strip()}")
            continue
        after, with_budget = report_bytes(out, "total"), report_bytes(out, "step with budget")
        without = report_bytes(out, "step without budget")
        recomputed = re.search(r"^  recompute cost +(\d+) ops", out, re.M)
        if not (after is not None and after <= budget and with_budget == after):
            problems.append(f"{label}: the report's total {after} (step with budget "
                            f"{with_budget}) is not within the budget {budget}")
        if without != total:
            problems.append(f"{label}: the report's step without budget is {without}, the "
                            f"unbudgeted compile's total {total}")
        if not recomputed or int(recomputed.group(1)) < 1:
            problems.append(f"{label}: the report shows no recomputed op at budget {budget}")
        ran = subprocess.run([os.path.join(tools, "sp-compile"), model, "--train",
                              "--input-shape", shape, "--memory-budget", str(budget),
                              "--emit=mlir", "-o", "-"] + flags,
                             capture_output=True, text=True, timeout=600)
        kinds = set(re.findall(r"= (graph\.[a-z_]+) [^\n]*\bgraph\.recomputed\b", ran.stdout))
        # The masks must be drawn again, and the attention scores recomputed
        # (a product the cpu profile finds memory-bound) must be the same:
        # make sure the test sees those clones.
        wanted = set()
        if "dropout" in label and kind == "smallest" and ranks == 1:
            wanted.add("graph.dropout")
            if "unfused" in label:
                wanted |= {"graph.matmul", "graph.softmax"}
        if not wanted <= kinds:
            problems.append(f"{label}: at budget {budget} no {sorted(wanted - kinds)} is "
                            f"recomputed (only {sorted(kinds)}); the test would not see it")
        dumps[kind] = dump_steps(tools, env, budgeted, ranks)
        compared, _ = compare_dumps(dumps["plain"], dumps[kind], f"{label} at {budget}",
                                    exact=True)
        problems += compared
        summaries.append(f"budget {budget}: {after} bytes, "
                         f"{recomputed.group(1) if recomputed else 0} ops recomputed")
    summary = (f"{label}: {total} bytes per rank without a budget; " + "; ".join(summaries)
               + f"; {STEPS} AdamW steps bit for bit ({len(dumps['plain'])} tensors)")
    return problems, summary


def dump_steps(tools, env, plan, ranks):
    """The dump after STEPS AdamW steps of `plan` (seed 7, the copy task)."""
    dump = plan + ".dump"
    command = [os.path.join(tools, "sp-run"), plan, "--data", "synthetic:copy", "--seed", "7",
               "--steps", str(STEPS), "--dump", dump]
    run(on_ranks(command, ranks), env)
    return load_dump(dump)


def check_bad_values(tools, model):
    problems = []
    cases = [("0", "the budget must be positive"), ("-5", "is not a byte count"),
             ("lots", "is not a byte count"), ("1.5G", "is not a byte count"),
             ("12X", "unknown unit 'X'")]
    for value, message in cases:
        code, _, err = compile_step(tools, model, [], SHAPE, os.devnull, budget=value)
        lines = err.splitlines()
        if code != 1 or len(lines) != 1 or f"--memory-budget {value}: " not in lines[0] \
                or message not in lines[0]:
            problems.append(f"--memory-budget {value}: exit {code}, stderr {err!r}")
    ran = subprocess.run([os.path.join(tools, "sp-compile"), model, "--input-shape", SHAPE,
                          "--memory-budget", "64M", "-o", os.devnull],
                         capture_output=True, text=True, timeout=600)
    if ran.returncode != 1 or "need --train" not in ran.stderr:
        problems.append(f"--memory-budget without --train: exit {ran.returncode}, "
                        f"stderr {ran.stderr!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--no-mpi", action="store_true", help="one rank only")
    args = parser.parse_args()
    env = rank_environment()
    failures = []
    with tempfile.TemporaryDirectory(prefix="sp-memory-budget-") as work:
        models = {}
        for model, model_args in MODEL_ARGS.items():
            models[model] = os.path.join(work, f"{model}.onnx")
            run([sys.executable, os.path.join(MODELS, "gpt2.py"), "-o", models[model]]
                + model_args)
        failures += check_bad_values(args.tools, models["gpt2"])
        for label, (model, flags, ranks, shape) in SETTINGS.items():
            if ranks > 1 and args.no_mpi:
                continue
            problems, summary = check_setting(args.tools, work, env, label, models[model],
                                              flags, ranks, shape)
            failures += problems
            if not problems:
                print(f"PASS {summary}", flush=True)
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
