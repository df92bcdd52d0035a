#!/usr/bin/env python3
"""Gradient clipping and learning-rate schedules against PyTorch, step by step.

Usage: schedule_clip_test.py TOOLS_DIR [--keep DIR] [--no-mpi]

A tiny float64 Hugging Face Llama (utils/export_hf_models.py), exported with
torch.onnx, is compiled with `sp-compile --train` and each setting below and
trained for several steps on one batch. Every step of sp runs as its own
`sp-run --steps 1 --resume --save --dump`, so that each step's loss, learning
rate (lr.npy), gradient norm before clipping (grad_norm.npy), clipped
gradients and updated parameters can be compared:

- tightly (per element 1e-12 relative, floored at 1e-15 of the tensor's
  largest element) with PyTorch's optimizer and transformers' schedule
  (`get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup`,
  `get_cosine_schedule_with_warmup`,
  `get_cosine_with_min_lr_schedule_with_warmup`; a linear schedule with a
  minimum, which transformers lacks, is a LambdaLR of the formula sp
  documents) driven by sp's own gradients: the learning rate must be
  transformers' to the bit, the clipped gradients' norm
  `min(1, max_norm / (norm + 1e-6)) * norm`, and the parameters PyTorch's;
- end to end (per element 1e-8 relative, floored at 1e-11; AdamW magnifies
  the ~1e-15 differences of gradients that are tiny by cancellation) with
  PyTorch's own training: autograd, `torch.nn.utils.clip_grad_norm_`, AdamW or
  SGD and the same schedule;
- under `--sp 2` (mpirun, per strategy), with one rank per element within
  1e-9 relative, floored at 1e-12: the gradient norm, and everything else, is
  one rank's.

The export and PyTorch's reference run inside hf_train_test's
`float64_throughout`, so the model is float64 throughout on both sides.

A run of all the steps at once, without checkpoints, must end with the same
parameters as the resumed steps, bit for bit, and print each step's learning rate in its
progress line: a resume continues the schedule.

Exits 77 (ctest's SKIP_RETURN_CODE) when torch or transformers cannot be
imported, 1 on any failure.
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
sys.path.insert(0, HERE)

from hf_train_test import (first_line, float64_throughout, onnx_parameter_names,  # noqa: E402
                           percent_encode, round_float_attributes_to_float32, worst_excess)

SKIP = 77
BATCH, SEQ = 2, 16
STEPS = 7
# Per element: |sp - reference| <= relative * |reference| + floor * max
# |reference| over the tensor (see hf_train_test.worst_excess). The export and
# PyTorch run float64 throughout (hf_train_test.float64_throughout), so sp's
# gradients are PyTorch's to ~1e-15 of each tensor's largest element. Measured
# worst, in units of (1e-9, 1e-12): PyTorch's optimizer on sp's gradients
# 9.4e-5, sp on 2 ranks against one 1.6e-2, and end to end 2.2 -- AdamW
# divides each element by its own gradient's magnitude, so an element whose
# gradient is tiny by cancellation (its relative error large) moves by a
# full step, and the following steps carry it on. Each bound sits 4x or more
# above what was measured.
DRIVEN_TOLERANCE = (1e-12, 1e-15)
END_TO_END_TOLERANCE = (1e-8, 1e-11)
PARALLEL_TOLERANCE = (1e-9, 1e-12)
# The clipped gradients' norm against the formula: one number.
CLIP_NORM_TOLERANCE = 1e-12

# name: (sp-compile flags, optimizer, lr, schedule (kind, warmup, total, min_lr) or None,
#        max norm or None). Each schedule runs past its total steps, where
#        linear stays at its end and cosine, as in transformers, rises again.
SETTINGS = {
    "adamw-cosine-min-lr-clip": ("adamw", 0.01, ("cosine", 2, 5, 0.001), 0.05),
    "sgd-linear-clip": ("sgd", 0.5, ("linear", 1, 4, 0.0), 0.3),
    "adamw-constant-warmup": ("adamw", 0.01, ("constant", 3, 0, 0.0), None),
    "sgd-linear-min-lr": ("sgd", 0.5, ("linear", 0, 5, 0.05), None),
    "adamw-cosine-nowarmup": ("adamw", 0.01, ("cosine", 0, 6, 0.0), None),
    "adamw-clip-only": ("adamw", 0.01, None, 0.05),
}
# Settings also run with the sequence split over 2 ranks, by strategy.
PARALLEL = {"adamw-cosine-min-lr-clip": "ring", "sgd-linear-clip": "allgather"}


def documented_factor(kind, step, warmup, total, min_rate):
    """The schedule factor as graph.lr_schedule documents it (GraphOps.td)."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    if kind == "constant":
        return 1.0
    if kind == "linear":
        linear = max(0.0, float(total - step) / float(max(1, total - warmup)))
        return min_rate + (1.0 - min_rate) * linear if min_rate > 0 else linear
    progress = float(step - warmup) / float(max(1, total - warmup))
    factor = 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress))
    return max(0.0, factor * (1 - min_rate) + min_rate)


def make_scheduler(optimizer, lr, schedule):
    """transformers' scheduler for `schedule`, or a LambdaLR of the documented
    formula where transformers has none (linear with a minimum)."""
    import torch
    from transformers import optimization as hf

    if schedule is None:
        return None
    kind, warmup, total, min_lr = schedule
    if kind == "constant":
        return hf.get_constant_schedule_with_warmup(optimizer, warmup)
    if kind == "linear" and min_lr == 0:
        return hf.get_linear_schedule_with_warmup(optimizer, warmup, total)
    if kind == "cosine" and min_lr == 0:
        return hf.get_cosine_schedule_with_warmup(optimizer, warmup, total)
    if kind == "cosine":
        return hf.get_cosine_with_min_lr_schedule_with_warmup(optimizer, warmup, total,
                                                              min_lr=min_lr)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: documented_factor(kind, step, warmup, total, min_lr / lr))


def make_optimizer(parameters, setting):
    import torch

    kind, lr, schedule, _ = setting
    if kind == "adamw":
        # sp-compile's defaults, which are PyTorch's AdamW defaults.
        optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.01)
    else:
        optimizer = torch.optim.SGD(parameters, lr=lr)
    return optimizer, make_scheduler(optimizer, lr, schedule)


def reference_run(model, params, input_ids, attention_mask, setting):
    """PyTorch's own float64 training: per step the loss, lr, norm before
    clipping, clipped gradients and updated parameters (by ONNX name)."""
    import torch
    import torch.nn.functional as F

    max_norm = setting[3]
    optimizer, scheduler = make_optimizer(model.parameters(), setting)
    steps = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        logits = model(input_ids, attention_mask)
        vocab = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))
        loss.backward()
        norm = None
        if max_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()
        rate = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps.append({
            "loss": loss.item(), "lr": rate, "grad_norm": norm,
            "grads": {n: p.grad.detach().numpy().copy() for n, p in params.items()},
            "params": {n: p.detach().numpy().copy() for n, p in params.items()},
        })
    return steps


def driven_reference(initial, sp_steps, setting):
    """PyTorch's optimizer and schedule fed sp's (clipped) gradients: per step
    the learning rate and the parameters after the update."""
    import torch

    params = {n: torch.nn.Parameter(value.clone()) for n, value in initial.items()}
    optimizer, scheduler = make_optimizer(list(params.values()), setting)
    steps = []
    for sp_step in sp_steps:
        for name, p in params.items():
            p.grad = torch.from_numpy(sp_step["grads"][name].copy())
        rate = optimizer.param_groups[0]["lr"]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        steps.append({"lr": rate,
                      "params": {n: p.detach().numpy().copy() for n, p in params.items()}})
    return steps


def compile_flags(setting):
    kind, lr, schedule, max_norm = setting
    flags = [f"--optimizer={kind}", f"--lr={lr!r}"]
    if schedule is not None:
        name, warmup, total, min_lr = schedule
        flags += [f"--lr-schedule={name}", f"--warmup-steps={warmup}"]
        if name != "constant":
            flags += [f"--total-steps={total}", f"--min-lr={min_lr!r}"]
    if max_norm is not None:
        flags += [f"--clip-grad-norm={max_norm!r}"]
    return flags


def load_step(dump, param_names):
    import numpy as np

    norm_file = os.path.join(dump, "grad_norm.npy")
    step = {"loss": float(np.load(os.path.join(dump, "loss.npy"))),
            "lr": float(np.load(os.path.join(dump, "lr.npy"))),
            "grad_norm": float(np.load(norm_file)) if os.path.exists(norm_file) else None,
            "grads": {}, "params": {}}
    for name in param_names:
        file = percent_encode(name) + ".npy"
        step["grads"][name] = np.load(os.path.join(dump, "grad", file))
        step["params"][name] = np.load(os.path.join(dump, "param", file))
    return step


def worst_difference(actual, expected, tolerance,
                     keys=("loss", "lr", "grad_norm", "grads", "params")):
    """(name, excess) of the worst of `keys` over every step: worst_excess of
    (relative, floor) = `tolerance`, at most 1 passing."""
    worst = ("every value", 0.0)
    for number, (got, want) in enumerate(zip(actual, expected), 1):
        for key in keys:
            if key not in want:
                continue
            if isinstance(want[key], dict):
                pairs = [(f"{key}/{n}", got[key][n], want[key][n]) for n in want[key]]
            elif want[key] is None or got[key] is None:
                if want[key] is not got[key]:
                    return f"step {number} {key}", float("inf")
                continue
            else:
                pairs = [(key, got[key], want[key])]
            for name, value, reference in pairs:
                error, _ = worst_excess(value, reference, *tolerance)
                if not error <= worst[1]:
                    worst = (f"step {number} {name}", error)
    return worst


def run_sp(tools, workdir, model_path, names_file, inputs, param_names, label, setting,
           ranks=1, strategy=None, extra_flags=(), batch=BATCH):
    """sp's steps (load_step) or the reason it failed: every step its own
    resumed run, then all of them in one run, which must agree. `extra_flags`
    go to sp-compile; `batch` is the input's batch size."""
    import numpy as np

    plan = os.path.join(workdir, label + ".spplan")
    flags = compile_flags(setting) + list(extra_flags)
    if ranks > 1:
        flags += ["--sp", str(ranks), f"--sp-strategy={strategy}"]
    compiled = subprocess.run(
        [os.path.join(tools, "sp-compile"), model_path, "--train",
         f"--input-shape=input_ids={batch}x{SEQ}", "--params", "@" + names_file, "-o", plan]
        + flags, capture_output=True, text=True, timeout=600)
    if compiled.returncode != 0:
        return f"sp-compile exited {compiled.returncode}: {first_line(compiled.stderr)}"
    launcher = ["mpirun", "--oversubscribe", "-np", str(ranks)] if ranks > 1 else []
    env = dict(os.environ, OMP_NUM_THREADS="1") if ranks > 1 else None
    run = launcher + [os.path.join(tools, "sp-run"), plan] + inputs

    checkpoints = os.path.join(workdir, label + ".ckpt")
    shutil.rmtree(checkpoints, ignore_errors=True)
    steps = []
    for step in range(STEPS):
        dump = os.path.join(workdir, f"{label}.step{step + 1}")
        resume = ["--resume", checkpoints] if step else []
        ran = subprocess.run(run + ["--steps", "1", "--save", checkpoints, "--dump", dump]
                             + resume, capture_output=True, text=True, timeout=600, env=env)
        if ran.returncode != 0:
            return f"step {step + 1}: sp-run exited {ran.returncode}: {first_line(ran.stderr)}"
        if not ran.stdout.startswith(f"step {step + 1}/{step + 1} "):
            return f"step {step + 1}: the resumed run printed {first_line(ran.stdout)!r}"
        steps.append(load_step(dump, param_names))

    dump = os.path.join(workdir, f"{label}.straight")
    ran = subprocess.run(run + ["--steps", str(STEPS), "--dump", dump], capture_output=True,
                         text=True, timeout=600, env=env)
    if ran.returncode != 0:
        return f"{STEPS} steps: sp-run exited {ran.returncode}: {first_line(ran.stderr)}"
    straight = load_step(dump, param_names)
    for name in param_names:
        one_run, resumed = straight["params"][name], steps[-1]["params"][name]
        if one_run.dtype != resumed.dtype or one_run.shape != resumed.shape \
                or one_run.tobytes() != resumed.tobytes():
            return f"{STEPS} steps in one run end with another {name} than {STEPS} resumed steps"
    lines = re.findall(r"^step (\d+)/\d+  loss \S+  lr (\S+)(?:  grad_norm (\S+))?",
                       ran.stdout, re.M)
    if len(lines) != STEPS:
        return f"expected {STEPS} progress lines with lr, got:\n{ran.stdout}"
    for (number, rate, norm), step in zip(lines, steps):
        if float(rate) != float(f"{step['lr']:.4g}"):
            return f"progress line of step {number}: lr {rate}, the resumed step's {step['lr']!r}"
        if (norm != "") != (step["grad_norm"] is not None) or (
                norm and float(norm) != float(f"{step['grad_norm']:.4g}")):
            return f"progress line of step {number}: grad_norm {norm!r}, " \
                   f"the resumed step's {step['grad_norm']!r}"
    return steps


def check_against_pytorch(steps, reference, initial, setting):
    """None when sp's steps match PyTorch (see the module's docstring), else why."""
    import numpy as np

    max_norm = setting[3]
    # Learning rates: transformers' to the bit.
    driven = driven_reference(initial, steps, setting)
    for number, (step, want) in enumerate(zip(steps, driven), 1):
        if step["lr"] != want["lr"] or want["lr"] != reference[number - 1]["lr"]:
            return f"step {number}: lr {step['lr']!r}, transformers' {want['lr']!r}"
    # Clipping: the dumped gradients have the clipped norm of sp's own norm.
    if max_norm is not None:
        for number, step in enumerate(steps, 1):
            norm = step["grad_norm"]
            coefficient = min(1.0, max_norm / (norm + 1e-6))
            clipped = math.sqrt(sum(float(np.sum(np.square(g))) for g in step["grads"].values()))
            error = abs(clipped - coefficient * norm) / abs(coefficient * norm)
            if not error <= CLIP_NORM_TOLERANCE:
                return f"step {number}: the clipped gradients' norm {clipped!r} is not " \
                       f"{coefficient!r} * {norm!r} ({error:.3g} relative)"
    name, error = worst_difference(steps, driven, DRIVEN_TOLERANCE, keys=("params",))
    if not error <= 1:
        return f"{name}: {error:.3g} times the allowed difference {DRIVEN_TOLERANCE} from " \
               "PyTorch's update of sp's gradients"
    driven_worst = (name, error)
    name, error = worst_difference(steps, reference, END_TO_END_TOLERANCE)
    if not error <= 1:
        return f"{name}: {error:.3g} times the allowed difference {END_TO_END_TOLERANCE} " \
               "from PyTorch's training"
    return f"updates worst {driven_worst[0]} {driven_worst[1]:.1e}; " \
           f"end to end worst {name} {error:.1e}"


def export_llama(workdir, batch=BATCH, dynamic=False):
    """The tiny float64 Llama these tests train, with weights moved off their
    initialization, exported (symbolic batch and sequence when `dynamic`) to
    WORKDIR/llama.onnx, its parameter names in llama.params and its inputs
    (a batch of `batch` x SEQ) in .npy files beside it. Returns a namespace:
    model, params (by ONNX name), param_names, path, names_file, inputs
    (sp-run's flags), input_ids, attention_mask. Raises RuntimeError when a
    parameter is not an ONNX initializer."""
    import types

    import numpy as np
    import onnx
    import torch

    import export_hf_models as hf

    model = hf.make_model("llama", "eager").double()
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn(param.shape, generator=noise, dtype=param.dtype))
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, hf.VOCAB, (batch, SEQ), generator=generator)
    attention_mask = torch.ones(batch, SEQ, dtype=torch.int64)
    path = os.path.join(workdir, "llama.onnx")
    round_float_attributes_to_float32(model)
    with float64_throughout():
        hf.export_one(model, path, "dynamo", dynamic, False,
                      inputs=(input_ids, attention_mask), fold_constants=False)
    initializers = {t.name for t in onnx.load(path, load_external_data=False).graph.initializer}
    params, missing = onnx_parameter_names(model, initializers)
    if missing:
        raise RuntimeError(f"parameters not among the ONNX initializers: {', '.join(missing[:3])}")
    param_names = sorted(params)
    names_file = os.path.join(workdir, "llama.params")
    with open(names_file, "w") as f:
        f.write("\n".join(param_names) + "\n")
    ids_file = os.path.join(workdir, "input_ids.npy")
    mask_file = os.path.join(workdir, "attention_mask.npy")
    np.save(ids_file, input_ids.numpy())
    np.save(mask_file, attention_mask.numpy())
    inputs = ["--input", f"input_ids={ids_file}", "--input", f"attention_mask={mask_file}"]
    return types.SimpleNamespace(model=model, params=params, param_names=param_names, path=path,
                                 names_file=names_file, inputs=inputs, input_ids=input_ids,
                                 attention_mask=attention_mask)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--keep", help="keep the export, plans, checkpoints and dumps in DIR")
    parser.add_argument("--no-mpi", action="store_true", help="skip the --sp 2 runs")
    args = parser.parse_args()
    try:
        import numpy as np
        import onnx
        import torch
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"SKIP: torch, transformers or onnx not installed ({error})")
        return SKIP
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    torch.use_deterministic_algorithms(True)

    # The documented formulas are transformers' own, step by step.
    from transformers import optimization as hf_schedules
    probe = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    for kind, warmup, total, min_lr in [("linear", 3, 10, 0.0), ("cosine", 3, 10, 0.0),
                                        ("cosine", 2, 9, 0.1), ("constant", 4, 0, 0.0)]:
        for group in probe.param_groups:
            group["lr"] = 1.0
            group.pop("initial_lr", None)
        scheduler = make_scheduler(probe, 1.0, (kind, warmup, total, min_lr))
        for step in range(14):
            expected = scheduler.lr_lambdas[0](step)
            if documented_factor(kind, step, warmup, total, min_lr) != expected:
                print(f"FAIL: the documented {kind} factor at step {step} is not "
                      f"transformers' {expected!r}")
                return 1
    del hf_schedules

    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        try:
            llama = export_llama(workdir)
        except RuntimeError as error:
            print(f"FAIL: {error}")
            return 1
        model, params, param_names = llama.model, llama.params, llama.param_names
        model_path, names_file, inputs = llama.path, llama.names_file, llama.inputs
        input_ids, attention_mask = llama.input_ids, llama.attention_mask
        initial = {name: p.detach().clone() for name, p in params.items()}

        for label, setting in SETTINGS.items():
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(initial[name])
            with float64_throughout():
                reference = reference_run(model, params, input_ids, attention_mask, setting)
            if setting[3] is not None and not any(
                    step["grad_norm"] > setting[3] for step in reference):
                print(f"FAIL {label}: the gradients never exceed the max norm; the test "
                      "would not see clipping")
                failures += 1
                continue
            try:
                steps = run_sp(args.tools, workdir, model_path, names_file, inputs,
                               param_names, label, setting)
                if isinstance(steps, str):
                    reason = steps
                else:
                    summary = check_against_pytorch(steps, reference, initial, setting)
                    reason = None if summary.startswith("updates worst") else summary
            except Exception as error:  # one failing setting must not hide the rest
                reason = f"{type(error).__name__}: {first_line(str(error))}"
            if reason:
                failures += 1
                print(f"FAIL {label}: {reason}", flush=True)
                continue
            rates = " ".join(f"{step['lr']:.4g}" for step in steps)
            print(f"PASS {label}: {summary}; lr {rates}", flush=True)

            if label not in PARALLEL or args.no_mpi:
                continue
            strategy = PARALLEL[label]
            parallel_label = f"{label}-sp2-{strategy}"
            try:
                parallel = run_sp(args.tools, workdir, model_path, names_file, inputs,
                                  param_names, parallel_label, setting, 2, strategy)
                if isinstance(parallel, str):
                    reason = parallel
                else:
                    name, error = worst_difference(parallel, steps, PARALLEL_TOLERANCE)
                    reason = None if error <= 1 else \
                        f"{name}: {error:.3g} times the allowed difference " \
                        f"{PARALLEL_TOLERANCE} from one rank"
            except Exception as error:
                reason = f"{type(error).__name__}: {first_line(str(error))}"
            if reason:
                failures += 1
                print(f"FAIL {parallel_label}: {reason}", flush=True)
            else:
                print(f"PASS {parallel_label}: worst {name} at {error:.1e} of the allowed "
                      "difference from one rank", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
