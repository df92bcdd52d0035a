#!/usr/bin/env python3
"""Training tokens/s and peak memory of sp-run against PyTorch eager on one Hugging Face model.

Usage: utils/bench/train_vs_torch.py [--build DIR] [--sequences 1024,4096,8192]
                                     [--threads 1,2] [--steps 3] [--attention-dropout P]

The model: Hugging Face's LlamaForCausalLM, 4 layers, width 256, 8 heads (2 key/value heads),
MLP 688, vocabulary 8192, random weights, float32, SDPA attention, batch 1. It is exported once
by torch.onnx (TorchScript exporter, symbolic batch and sequence, no constant folding) and
compiled with `sp-compile --train --optimizer=adamw --lr=1e-4` per sequence length.

For each sequence length and thread count, side by side in one run (sp first, then PyTorch,
each in its own process with OMP_NUM_THREADS and, for PyTorch, torch.set_num_threads set to the
thread count): `--steps` training steps of the same model on the same random tokens (all
attended: attention_mask all ones), PyTorch eager with SDPA and torch.optim.AdamW (forward,
cross-entropy, backward, step, zero_grad). A step's time is the median over the steps after the
first (the first warms caches and allocators); tokens/s is the sequence length over it. Peak
memory is the process's high-water resident set (VmHWM, polled every 10 ms): PyTorch's includes
the interpreter and its libraries (about 300 MiB before any tensor), sp-run's the runtime and
the plan's arena and state.

`--attention-dropout P` trains with dropout P on the attention probabilities (the config's
attention_dropout): PyTorch's SDPA draws it, sp's fused attention kernels draw it (the model is
exported in training mode, with eager attention: the TorchScript exporter loses SDPA's dropout).

Prints one table: sequence, threads, sp and PyTorch tokens/s and their ratio (above 1: sp is
faster), each one's peak resident memory.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "utils"))
import commands  # noqa: E402

CONFIG = dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8,
              num_key_value_heads=2, intermediate_size=688, vocab_size=8192,
              max_position_embeddings=8192, use_cache=False)
LEARNING_RATE = 1e-4


def make_model(attention_dropout=0.0, attention="sdpa"):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(attn_implementation=attention,
                                      attention_dropout=attention_dropout, **CONFIG)
    return transformers.LlamaForCausalLM(config).float()


def tokens(sequence):
    import torch

    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, CONFIG["vocab_size"], (1, sequence), generator=generator)


def run(command, env):
    return commands.run(command, env, "train_vs_torch")


def peak_of(command, env):
    """Runs `command`; returns (stdout, peak resident MiB). The peak is the process's VmHWM
    (the high-water mark of its memory since exec), polled every 10 ms until it exits:
    wait4's ru_maxrss would also count this Python process, whose image the child held
    between fork and exec."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        peak_kib = 0
        while process.poll() is None:
            try:
                with open(f"/proc/{process.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak_kib = max(peak_kib, int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            time.sleep(0.01)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        lines = [line for line in (stderr + stdout).splitlines() if line.strip()]
        sys.exit(f"train_vs_torch: {os.path.basename(command[0])} exited "
                 f"{process.returncode}: {lines[-1] if lines else '(no message)'}")
    return stdout, peak_kib / 1024.0


def torch_worker(sequence, threads, steps, attention_dropout):
    """Child process: PyTorch eager training steps; prints the per-step seconds as JSON."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    model = make_model(attention_dropout)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    ids = tokens(sequence)
    mask = torch.ones_like(ids)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                               ids[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "loss": float(loss)}))


def export(path, sequence, attention_dropout):
    import torch
    import export_hf_models as hf

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    ids = tokens(sequence)
    # The TorchScript exporter drops SDPA's dropout (its Dropout node has no
    # training_mode, so it is inference); the eager attention it exports with
    # training-mode Dropout is the same function.
    training = attention_dropout > 0
    model = LogitsOnly(make_model(attention_dropout, "eager" if training else "sdpa"))
    model.train(training)
    hf.export_one(model, path, "torchscript", True, False,
                  inputs=(ids, torch.ones_like(ids)), fold_constants=False, training=training)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--sequences", default="1024,4096,8192")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--attention-dropout", type=float, default=0.0)
    parser.add_argument("--torch-worker", nargs=3, type=int, metavar=("S", "THREADS", "STEPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        torch_worker(*args.torch_worker, args.attention_dropout)
        return 0
    if not 0.0 <= args.attention_dropout < 1.0:
        parser.error("--attention-dropout must be in [0, 1)")
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is not timed)")
    import numpy as np

    sequences = [int(s) for s in args.sequences.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]
    tools = os.path.join(args.build, "bin")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sp-bench-") as work:
        model_path = os.path.join(work, "llama.onnx")
        export(model_path, 16, args.attention_dropout)
        for sequence in sequences:
            plan = os.path.join(work, f"llama-{sequence}.spplan")
            compile_start = time.perf_counter()
            run([os.path.join(tools, "sp-compile"), model_path, "--train",
                          f"--input-shape=input_ids=1x{sequence}", "--optimizer=adamw",
                          f"--lr={LEARNING_RATE}", "-o", plan], None)
            compile_seconds = time.perf_counter() - compile_start
            ids = tokens(sequence).numpy()
            ids_file = os.path.join(work, f"ids-{sequence}.npy")
            mask_file = os.path.join(work, f"mask-{sequence}.npy")
            np.save(ids_file, ids)
            np.save(mask_file, np.ones_like(ids))
            for threads in thread_counts:
                env = dict(os.environ, OMP_NUM_THREADS=str(threads),
                           OPENBLAS_NUM_THREADS=str(threads))
                log = os.path.join(work, "steps.jsonl")
                _, sp_peak = peak_of([os.path.join(tools, "sp-run"), plan, "--input",
                                      f"input_ids={ids_file}", "--input",
                                      f"attention_mask={mask_file}", "--steps",
                                      str(args.steps), "--log", log], env)
                with open(log) as f:
                    sp_seconds = statistics.median(json.loads(line)["seconds"]
                                                   for line in list(f)[1:])
                out, torch_peak = peak_of([sys.executable, os.path.abspath(__file__),
                                           "--torch-worker", str(sequence), str(threads),
                                           str(args.steps), "--attention-dropout",
                                           str(args.attention_dropout)], env)
                torch_seconds = statistics.median(json.loads(out)["seconds"][1:])
                rows.append((sequence, threads, sequence / sp_seconds,
                             sequence / torch_seconds, sp_peak, torch_peak, compile_seconds))
                print(f"  S={sequence} threads={threads}: sp {sequence / sp_seconds:.0f} "
                      f"tokens/s, PyTorch {sequence / torch_seconds:.0f}", flush=True)

    print("\n| sequence | threads | sp tokens/s | PyTorch eager tokens/s | sp / PyTorch | "
          "sp peak RSS | PyTorch peak RSS | sp-compile |")
    print("|---|---|---|---|---|---|---|---|")
    for sequence, threads, sp_rate, torch_rate, sp_peak, torch_peak, compile_seconds in rows:
        print(f"| {sequence} | {threads} | {sp_rate:.0f} | {torch_rate:.0f} | "
              f"{sp_rate / torch_rate:.2f} | {sp_peak:.0f} MiB | {torch_peak:.0f} MiB | "
              f"{compile_seconds:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
