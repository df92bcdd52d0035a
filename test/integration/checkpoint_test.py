#!/usr/bin/env python3
"""Checkpoints survive kills, refuse corruption and resume on any rank count.

Usage: checkpoint_test.py TOOLS_DIR

On a small Llama-style model (models/llama.py) trained with AdamW on
synthetic:copy:

- K steps, save, resume, K steps gives the parameters of 2K steps in one run
  bit for bit, on one rank and on 2 ranks;
- a checkpoint saved by 2 ranks (allgather) resumes on 4 ranks (ring and
  ulysses) and on one rank, and the next K steps match the 2-rank 2K-step
  run within float32 rounding (1e-5 relative per tensor);
- a run saving every step is killed (SIGKILL) at many moments; after each
  kill every checkpoint in the folder resumes, and each holds exactly the
  parameters and optimizer state of its step in an uninterrupted run;
- a flipped byte in a tensor file, an edited step in the manifest, a
  checkpoint of another model and one of another optimizer are refused with
  one line and exit code 1, and the folder's other checkpoints stay usable.
"""

import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "models")
STEPS = 3
TOLERANCE = 1e-5


def run(command, expect=0, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != expect:
        raise SystemExit(f"FAIL: {' '.join(command)}: exit {result.returncode}, expected "
                         f"{expect}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


class Tools:
    def __init__(self, tools, work):
        self.tools, self.work = tools, work
        self.env = dict(os.environ, OMP_NUM_THREADS="1")

    def compile(self, model, name, *flags):
        plan = os.path.join(self.work, name + ".spplan")
        run([os.path.join(self.tools, "sp-compile"), model, "--train", "--input-shape",
             "input_ids=2x32", "--lr", "3e-3", "-o", plan, *flags])
        return plan

    def train(self, plan, ranks, *flags, expect=0):
        command = [os.path.join(self.tools, "sp-run"), plan, "--data", "synthetic:copy",
                   "--seed", "5", *flags]
        if ranks > 1:
            command = ["mpirun", "--oversubscribe", "-x", "OMP_NUM_THREADS", "-np", str(ranks)] \
                + command
        return run(command, expect=expect, env=self.env)


def load_folder(folder):
    return {os.path.relpath(path, folder): np.load(path)
            for path in glob.glob(os.path.join(folder, "**", "*.npy"), recursive=True)}


def compare(reference, candidate, what, exact):
    failures = []
    for name, ref in reference.items():
        if name not in candidate:
            failures.append(f"{what}: {name} missing")
            continue
        got = candidate[name]
        if exact:
            # Bytes, not np.array_equal: that takes -0.0 for 0.0 and fails on NaN.
            if ref.dtype != got.dtype or ref.shape != got.shape or ref.tobytes() != got.tobytes():
                failures.append(f"{what}: {name} differs (expected bit-identical)")
            continue
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        scale = np.abs(ref64) + np.max(np.abs(ref64), initial=0.0)
        ratio = float(np.max(np.abs(got64 - ref64) / np.maximum(scale, 1e-30), initial=0.0))
        if ratio > TOLERANCE:
            failures.append(f"{what}: {name} differs by {ratio:.1e} relative, beyond {TOLERANCE}")
    return failures


def params_of_dump(dump):
    return {k: v for k, v in load_folder(dump).items() if k.startswith("param" + os.sep)}


def check_resume(tools, model):
    failures = []
    one = tools.compile(model, "one")
    two = tools.compile(model, "two", "--sp", "2", "--sp-strategy=allgather")
    four = {s: tools.compile(model, f"four-{s}", "--sp", "4", f"--sp-strategy={s}")
            for s in ("ring", "ulysses")}
    work = tools.work
    # Uninterrupted 2K steps on one rank and on two.
    tools.train(one, 1, "--steps", str(2 * STEPS), "--dump", f"{work}/one-full")
    tools.train(two, 2, "--steps", str(2 * STEPS), "--dump", f"{work}/two-full")
    # What the 2-rank checkpoint continues: the 2-rank run (AdamW amplifies
    # the float noise in which 1 and 2 ranks differ, so one rank's own run is
    # no reference for the state two ranks reached).
    reference = params_of_dump(f"{work}/two-full")
    for plan, ranks, name in ((one, 1, "one"), (two, 2, "two")):
        tools.train(plan, ranks, "--steps", str(STEPS), "--save", f"{work}/{name}-ckpt")
        result = tools.train(plan, ranks, "--steps", str(STEPS), "--resume", f"{work}/{name}-ckpt",
                             "--dump", f"{work}/{name}-resumed")
        if f"step {2 * STEPS}/{2 * STEPS}" not in result.stdout:
            failures.append(f"{name}: the resumed run did not continue the step count:\n"
                            f"{result.stdout}")
        failures += compare(params_of_dump(f"{work}/{name}-full"),
                            params_of_dump(f"{work}/{name}-resumed"),
                            f"{name}: save + resume against one run", exact=True)
    # Two ranks' checkpoint on four ranks, each strategy, and on one.
    for plan, ranks, name in ((four["ring"], 4, "ring-4"), (four["ulysses"], 4, "ulysses-4"),
                              (one, 1, "one-from-two")):
        tools.train(plan, ranks, "--steps", str(STEPS), "--resume", f"{work}/two-ckpt",
                    "--dump", f"{work}/{name}")
        failures += compare(reference, params_of_dump(f"{work}/{name}"),
                            f"{name}: resumed from 2 ranks against 2 ranks' run", exact=False)
    manifest = json.load(open(glob.glob(f"{work}/two-ckpt/step-*/manifest.json")[0]))
    if manifest["world_size"] != 2 or manifest["step"] != STEPS or manifest["seed"] != 5:
        failures.append(f"manifest records {manifest['world_size']} ranks, step "
                        f"{manifest['step']}, seed {manifest['seed']}")
    names = {t["name"] for t in manifest["tensors"]}
    if any(name.startswith("tensor") for name in names):
        failures.append(f"state stored under plan indices: {sorted(names)[:5]}")
    return failures


def check_kills(tools, model):
    """SIGKILL during saves never leaves a checkpoint that resumes wrongly."""
    failures = []
    work = tools.work
    plan = tools.compile(model, "kill")
    steps = 40
    # Every step's checkpoint of an uninterrupted run: what each must hold.
    tools.train(plan, 1, "--steps", str(steps), "--save", f"{work}/all", "--save-every", "1")
    expected = {int(os.path.basename(f)[5:]): load_folder(f)
                for f in glob.glob(f"{work}/all/step-*")}
    rng = random.Random(7)
    trials = 10
    interrupted = partial = 0
    for trial in range(trials):
        folder = f"{work}/killed"
        shutil.rmtree(folder, ignore_errors=True)
        command = [os.path.join(tools.tools, "sp-run"), plan, "--data", "synthetic:copy",
                   "--seed", "5", "--steps", str(steps), "--save", folder, "--save-every", "1"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=tools.env)
        # Kill once the first checkpoints exist, at a random moment after.
        deadline = time.monotonic() + 60
        while not glob.glob(f"{folder}/step-*") and time.monotonic() < deadline and \
                process.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted += process.returncode == -signal.SIGKILL
        partial += bool(glob.glob(f"{folder}/.partial-*"))
        checkpoints = sorted(glob.glob(f"{folder}/step-*"))
        if not checkpoints:
            failures.append(f"kill {trial}: no checkpoint at all")
            continue
        for checkpoint in checkpoints:
            step = int(os.path.basename(checkpoint)[5:])
            stored = load_folder(checkpoint)
            failures += compare(expected[step], stored, f"kill {trial}: {checkpoint}", exact=True)
            # Resuming from it works (one step).
            tools.train(plan, 1, "--steps", "1", "--resume", checkpoint)
        # The folder itself resumes from its newest complete checkpoint.
        tools.train(plan, 1, "--steps", "1", "--resume", folder)
    print(f"kills: {trials} trials ({interrupted} killed mid-run, {partial} mid-save), each "
          "folder's checkpoints complete and exact")
    return failures


def expect_refusal(tools, plan, path, fragment, what):
    result = tools.train(plan, 1, "--steps", "1", "--resume", path, expect=1)
    lines = result.stderr.strip().splitlines()
    if len(lines) != 1 or fragment not in lines[0]:
        return [f"{what}: expected one line containing {fragment!r}, got {result.stderr!r}"]
    return []


def check_refusals(tools, model, other_model):
    failures = []
    work = tools.work
    plan = tools.compile(model, "refuse")
    tools.train(plan, 1, "--steps", "2", "--save", f"{work}/good", "--save-every", "1")
    newest = sorted(glob.glob(f"{work}/good/step-*"))[-1]
    # A flipped byte in a tensor file.
    flipped = f"{work}/flipped"
    shutil.copytree(newest, flipped)
    victim = sorted(glob.glob(f"{flipped}/param/*.npy"))[0]
    data = bytearray(open(victim, "rb").read())
    data[-3] ^= 0x10
    open(victim, "wb").write(bytes(data))
    failures += expect_refusal(tools, plan, flipped, "checksum mismatch", "flipped byte")
    # An edited step count.
    edited = f"{work}/edited"
    shutil.copytree(newest, edited)
    manifest = json.load(open(f"{edited}/manifest.json"))
    manifest["step"] = 1000
    json.dump(manifest, open(f"{edited}/manifest.json", "w"), indent=1)
    failures += expect_refusal(tools, plan, edited, "manifest was edited", "edited step")
    # A truncated manifest.
    truncated = f"{work}/truncated"
    shutil.copytree(newest, truncated)
    text = open(f"{truncated}/manifest.json").read()
    open(f"{truncated}/manifest.json", "w").write(text[: len(text) // 2])
    failures += expect_refusal(tools, plan, truncated, "not a JSON manifest", "truncated")
    # Another model, another optimizer.
    other = tools.compile(other_model, "other")
    failures += expect_refusal(tools, other, newest, "checkpoint of another model", "other model")
    sgd = tools.compile(model, "sgd", "--optimizer=sgd")
    failures += expect_refusal(tools, sgd, newest, "optimizer is 'adamw'", "other optimizer")
    # The good folder still resumes.
    tools.train(plan, 1, "--steps", "1", "--resume", f"{work}/good")
    return failures


def main():
    tools_dir = os.path.abspath(sys.argv[1])
    failures = []
    with tempfile.TemporaryDirectory() as work:
        tools = Tools(tools_dir, work)
        model = os.path.join(work, "llama.onnx")
        other_model = os.path.join(work, "other.onnx")
        common = ["--layers", "2", "--heads", "4", "--kv-heads", "2", "--vocab", "64"]
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", model, "--hidden", "32",
             *common])
        run([sys.executable, os.path.join(MODELS, "llama.py"), "-o", other_model, "--hidden",
             "48", *common])
        failures += check_resume(tools, model)
        failures += check_kills(tools, model)
        failures += check_refusals(tools, model, other_model)
    for failure in failures:
        print(failure)
    print(f"checkpoint: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
