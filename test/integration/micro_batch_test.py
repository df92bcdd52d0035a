#!/usr/bin/env python3
"""Micro-batches: K slices of the batch accumulate to the whole batch's update.

Usage: micro_batch_test.py TOOLS_DIR [--keep DIR] [--no-mpi]

A tiny float64 Hugging Face Llama (utils/export_hf_models.py), exported by
torch.onnx with a symbolic batch, is compiled with `sp-compile --train` at a
batch of 4 as it is and with `--micro-batches 2` and `4`, under each setting
below, and trained for schedule_clip_test's STEPS steps on one batch, every
step its own resumed run (`--resume --save --dump`, schedule_clip_test's
run_sp, which also checks that one run of all the steps ends with the same
parameters to the bit). After each step the loss, learning rate, gradient
norm before clipping, gradients and parameters of the micro-batched plans must
be the whole batch's within 1e-9 relative per element, floored at 1e-12 of the
tensor's largest element (schedule_clip_test's bound for one rank against
two: the slices sum the same terms in another order, and AdamW magnifies the
~1e-16 differences of gradients that are tiny by cancellation); so must they
with the sequence split over 2 ranks (mpirun) under the ring, all-gather and
Ulysses strategies. The loss each progress line prints is the whole batch's.

`--report`'s activation peak with micro-batches must be below the whole
batch's, and with 4 below that with 2, on one rank and on two. A float32 GPT-2
(models/gpt2.py) gives the whole batch's SGD update within 1e-5 relative,
floored at 1e-6 (float32 sums in another order). A checkpoint of the whole
batch's third step resumes under a micro-batched plan, and one of a
micro-batched plan under the whole batch's, and the fourth step is the whole
batch's within the same bounds. A micro-batch count that is
0 or does not divide the batch is one error line and exit code 1.

Exits 77 (ctest's SKIP_RETURN_CODE) when torch or transformers cannot be
imported, 1 on any failure.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
sys.path.insert(0, HERE)

from hf_train_test import first_line, worst_excess  # noqa: E402
from sp_equivalence_test import report_bytes  # noqa: E402
from schedule_clip_test import (SEQ, STEPS, export_llama, load_step, run_sp,  # noqa: E402
                                worst_difference)

SKIP = 77
BATCH = 4
MICRO_BATCHES = (2, 4)
TOLERANCE = (1e-9, 1e-12)
# Measured worst 0.29 of it (a gradient element small by cancellation).
FLOAT32_TOLERANCE = (1e-5, 1e-6)

# name: (optimizer, lr, schedule (kind, warmup, total, min_lr) or None, max norm
# or None), as schedule_clip_test's SETTINGS. The norm is below the gradients'
# so that clipping acts.
SETTINGS = {
    "adamw-cosine-clip": ("adamw", 0.01, ("cosine", 2, 5, 0.001), 0.05),
    "sgd-linear": ("sgd", 0.5, ("linear", 1, 4, 0.0), None),
}
# (setting, strategy, micro-batches) run with the sequence over 2 ranks,
# against the whole batch on one rank.
PARALLEL = [("adamw-cosine-clip", "ring", 2), ("adamw-cosine-clip", "allgather", 4),
            ("sgd-linear", "ulysses", 2)]


def printed_losses(tools, plan, inputs):
    """The losses the progress lines of one run of STEPS steps print."""
    ran = subprocess.run([os.path.join(tools, "sp-run"), plan, "--steps", str(STEPS)] + inputs,
                         capture_output=True, text=True, timeout=600)
    if ran.returncode != 0:
        raise RuntimeError(f"sp-run exited {ran.returncode}: {first_line(ran.stderr)}")
    return [float(loss) for loss in re.findall(r"^step \d+/\d+  loss (\S+)", ran.stdout, re.M)]


def activation_peaks(tools, model_path, shape, flags):
    """(micro-batched, whole batch) activation peaks that --report prints."""
    ran = subprocess.run([os.path.join(tools, "sp-compile"), model_path, "--train",
                          f"--input-shape=input_ids={shape}", "--report", "--emit=mlir",
                          "-o", os.devnull]
                         + flags, capture_output=True, text=True, timeout=600)
    if ran.returncode != 0:
        raise RuntimeError(f"sp-compile --report exited {ran.returncode}: "
                           f"{first_line(ran.stderr)}")
    peaks = tuple(report_bytes(ran.stdout, what)
                  for what in ("peak activations", "full-batch activations"))
    if None in peaks:
        raise RuntimeError(f"--report printed no activation peaks: {ran.stdout}")
    return peaks


def check_reports(tools, model_path):
    """None when every micro-batched peak is below the one with fewer slices."""
    for ranks in (1, 2):
        flags = ["--sp", "2", "--sp-strategy=ring"] if ranks > 1 else []
        previous = None
        for count in MICRO_BATCHES:
            micro, full = activation_peaks(tools, model_path, f"{BATCH}x{SEQ}",
                                           flags + ["--micro-batches", str(count)])
            if not 0 < micro < full:
                return f"{ranks} rank(s), {count} micro-batches: activation peak {micro} " \
                       f"is not below the whole batch's {full}"
            if previous is not None and not micro < previous:
                return f"{ranks} rank(s): activation peak {micro} with {count} micro-batches " \
                       f"is not below {previous} with fewer"
            previous = micro
            print(f"PASS report, {ranks} rank(s), {count} micro-batches: activation peak "
                  f"{micro} bytes, the whole batch's {full}", flush=True)
    return None


def check_resume_across(tools, workdir, inputs, param_names, whole_label, micro_label,
                        whole_steps):
    """None when a checkpoint of either plan continues under the other."""
    for source, plan in ((whole_label, micro_label), (micro_label, whole_label)):
        checkpoint = os.path.join(workdir, source + ".ckpt", "step-0000000003")
        dump = os.path.join(workdir, f"resume-{source}-under-{plan}")
        ran = subprocess.run([os.path.join(tools, "sp-run"), os.path.join(workdir, plan + ".spplan"),
                              "--resume", checkpoint, "--steps", "1", "--dump", dump] + inputs,
                             capture_output=True, text=True, timeout=600)
        if ran.returncode != 0:
            return f"{plan} resuming {source}: sp-run exited {ran.returncode}: " \
                   f"{first_line(ran.stderr)}"
        name, error = worst_difference([load_step(dump, param_names)], [whole_steps[3]],
                                       TOLERANCE)
        if not error <= 1:
            return f"{plan} resuming {source}: step 4 {name} at {error:.3g} times the allowed " \
                   f"difference {TOLERANCE}"
    return None


def check_errors(tools, model_path):
    """None when bad counts are one line and exit code 1."""
    cases = [("0", "--micro-batches 0: the count must be at least 1"),
             ("3", "--micro-batches 3 does not divide input 'input_ids' dim 0 (the batch "
                   "'batch') of 4")]
    for count, message in cases:
        ran = subprocess.run([os.path.join(tools, "sp-compile"), model_path, "--train",
                              f"--input-shape=input_ids={BATCH}x{SEQ}", "--micro-batches", count,
                              "--emit=mlir", "-o", os.devnull], capture_output=True, text=True,
                             timeout=600)
        lines = ran.stderr.splitlines()
        if ran.returncode != 1 or len(lines) != 1 or message not in lines[0]:
            return f"--micro-batches {count}: exit {ran.returncode}, stderr {ran.stderr!r}"
    return None


def check_float32(tools, workdir):
    """None when the float32 GPT-2's micro-batched SGD step is the whole batch's."""
    import numpy as np

    model = os.path.join(workdir, "gpt2.onnx")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "models", "gpt2.py"), "-o",
                    model, "--layers", "2", "--hidden", "32", "--heads", "4", "--vocab", "64",
                    "--max-positions", "32"], check=True, timeout=600)
    ids = os.path.join(workdir, "gpt2_ids.npy")
    np.save(ids, np.random.default_rng(0).integers(0, 64, (BATCH, SEQ)).astype(np.int64))
    dumps = {}
    for count in (1,) + MICRO_BATCHES:
        plan = os.path.join(workdir, f"gpt2-k{count}.spplan")
        dumps[count] = os.path.join(workdir, f"gpt2-k{count}.dump")
        subprocess.run([os.path.join(tools, "sp-compile"), model, "--train", "--optimizer=sgd",
                        "--lr=0.5", f"--input-shape=input_ids={BATCH}x{SEQ}",
                        "--micro-batches", str(count), "-o", plan],
                       check=True, capture_output=True, timeout=600)
        subprocess.run([os.path.join(tools, "sp-run"), plan, "--input", f"input_ids={ids}",
                        "--steps", "1", "--dump", dumps[count]],
                       check=True, capture_output=True, timeout=600)
    names = sorted(os.listdir(os.path.join(dumps[1], "param")))
    for count in MICRO_BATCHES:
        for kind in ("grad", "param"):
            for name in names:
                got = np.load(os.path.join(dumps[count], kind, name))
                want = np.load(os.path.join(dumps[1], kind, name))
                excess, _ = worst_excess(got, want, *FLOAT32_TOLERANCE)
                if not excess <= 1:
                    return f"{count} micro-batches: {kind}/{name} at {excess:.3g} times the " \
                           f"allowed difference {FLOAT32_TOLERANCE}"
        loss, full_loss = (float(np.load(os.path.join(dumps[k], "loss.npy")))
                           for k in (count, 1))
        if not abs(loss - full_loss) <= FLOAT32_TOLERANCE[0] * abs(full_loss):
            return f"{count} micro-batches: loss {loss!r}, the whole batch's {full_loss!r}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--keep", help="keep the export, plans, checkpoints and dumps in DIR")
    parser.add_argument("--no-mpi", action="store_true", help="skip the --sp 2 runs")
    args = parser.parse_args()
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"SKIP: torch, transformers or onnx not installed ({error})")
        return SKIP
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    failures = 0

    def report(label, reason, summary):
        nonlocal failures
        if reason:
            failures += 1
            print(f"FAIL {label}: {reason}", flush=True)
        else:
            print(f"PASS {label}: {summary}", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        try:
            llama = export_llama(workdir, BATCH, dynamic=True)
        except RuntimeError as error:
            print(f"FAIL: {error}")
            return 1
        model_path, names_file, inputs = llama.path, llama.names_file, llama.inputs
        param_names = llama.param_names

        report("errors", check_errors(args.tools, model_path), "one line, exit 1")

        whole = {}
        for label, setting in SETTINGS.items():
            steps = run_sp(args.tools, workdir, model_path, names_file, inputs, param_names,
                           label, setting, batch=BATCH)
            if isinstance(steps, str):
                report(label, steps, "")
                continue
            if setting[3] is not None and not any(s["grad_norm"] > setting[3] for s in steps):
                report(label, "the gradients never exceed the max norm; the test would not "
                       "see clipping", "")
                continue
            whole[label] = steps

        def compare(label, setting_label, count, ranks=1, strategy=None):
            if setting_label not in whole:
                return
            try:
                steps = run_sp(args.tools, workdir, model_path, names_file, inputs, param_names,
                               label, SETTINGS[setting_label], ranks, strategy,
                               extra_flags=["--micro-batches", str(count)], batch=BATCH)
                if isinstance(steps, str):
                    return report(label, steps, "")
                name, error = worst_difference(steps, whole[setting_label], TOLERANCE)
                if not error <= 1:
                    return report(label, f"{name}: {error:.3g} times the allowed difference "
                                  f"{TOLERANCE} from the whole batch", "")
                if ranks == 1:
                    printed = printed_losses(args.tools, os.path.join(workdir, label + ".spplan"),
                                             inputs)
                    expected = [step["loss"] for step in whole[setting_label]]
                    if len(printed) != STEPS or any(
                            abs(p - e) > 0.5e-4 + 1e-12 for p, e in zip(printed, expected)):
                        return report(label, f"progress lines print losses {printed}, the "
                                      f"whole batch's are {expected}", "")
            except Exception as error:  # one failing setting must not hide the rest
                return report(label, f"{type(error).__name__}: {first_line(str(error))}", "")
            report(label, None, f"{STEPS} steps, worst {name} at {error:.1e} of the allowed "
                   "difference from the whole batch")

        for setting_label in SETTINGS:
            for count in MICRO_BATCHES:
                compare(f"{setting_label}-k{count}", setting_label, count)
        if not args.no_mpi:
            for setting_label, strategy, count in PARALLEL:
                compare(f"{setting_label}-k{count}-sp2-{strategy}", setting_label, count, 2,
                        strategy)

        for setting_label in whole:
            micro_label = f"{setting_label}-k{MICRO_BATCHES[-1]}"
            report(f"{setting_label} checkpoints", check_resume_across(
                args.tools, workdir, inputs, param_names, setting_label, micro_label,
                whole[setting_label]), f"resumed across {micro_label}, step 4 the whole batch's")
        try:
            report("report", check_reports(args.tools, model_path), "peaks in order")
            report("float32", check_float32(args.tools, workdir),
                   f"gradients and SGD update within {FLOAT32_TOLERANCE}")
        except Exception as error:
            report("report/float32", f"{type(error).__name__}: {first_line(str(error))}", "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
