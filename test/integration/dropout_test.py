#!/usr/bin/env python3
"""Training-mode Dropout: the same masks on any rank count and strategy, per seed and step,
and PyTorch's statistics.

Usage: dropout_test.py TOOLS_DIR [--no-mpi]

- GPT-2 style models with Dropout nodes in training mode (models/gpt2.py --dropout-training):
  one with dropout after the embeddings, attention output and MLP, one with dropout on the
  attention probabilities too, which the fused attention kernels draw. One SGD step under
  `--sp 2` and `--sp 4` with each strategy (allgather, ulysses, ring: zigzag; at `--sp 4` also
  the hybrid, `--sp-ulysses-degree 2`, whose ranks draw their group's rows for their heads)
  gives the one-rank plan's loss, every gradient and every updated parameter within 1e-5
  relative, as
  sp_equivalence_test.py checks without dropout: a mask drawn from a rank's local positions
  would change the loss by far more. The same at a sequence length of 29, which sp-compile
  pads: the step still equals the one rank's on the 29 real positions.
- The fused kernels draw the mask graph.dropout draws on the probabilities: one step of the
  plan compiled with `--fuse=false` (softmax, dropout and matmuls) equals the fused plan's
  within 1e-5 relative, on one rank, under `--micro-batches 2`, and under `--sp 2` (ring).
  The fused plan keeps no [S, S] tensor (its --report's peak is below the unfused one's).
- Hugging Face's GPT2LMHeadModel (resid, embd and attn_pdrop 0.1, eager attention) exported by
  torch.onnx (dynamo) in train() mode: the same one-step check under every strategy, and the
  fused against the unfused plan.
- `sp-run --seed` changes the loss; with fixed inputs and a learning rate of 0 each step draws
  new masks (a new loss each step); two runs with one seed agree bit for bit.
- Four AdamW steps equal two steps, a checkpoint and two resumed steps, bit for bit, on one rank
  and on two (ring).
- A Dropout-only model (exported by torch.onnx from F.dropout in train() mode) over 2^20 float32
  and float64 elements keeps a share of them within 6 standard deviations of 1 - p, and every
  element that both sp and torch keep or both drop is torch's to the bit (x * (1 / (1 - p)) in
  the tensor's type; x * 0 when dropped); NaN stays NaN and an infinity becomes itself or NaN
  (inf * 0), as `input * noise` in torch; p = 0 is the identity; the optional mask output is
  where the result is kept; p = 1 (outside ONNX's [0, 1)) is refused with one line.

Ranks run with OMP_NUM_THREADS=1 (see sp_equivalence_test.py). Exits 77 (ctest's skip) after
the other checks when torch or transformers is not installed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "models")
sys.path.insert(0, HERE)
from sp_equivalence_test import (compare_dumps, load_dump, losses, on_ranks,  # noqa: E402
                                 rank_environment, report_bytes, run, strategy_flags)

SHAPE = "input_ids=2x32"
# 29 positions: 4 ranks pad them to 32, and ring's zigzag (2N chunks) to 32 on 2 ranks and
# on 4.
UNEVEN_SHAPE = "input_ids=2x29"
GPT2 = ["--layers", "2", "--hidden", "64", "--heads", "4", "--dropout", "0.1",
        "--dropout-training"]
MODEL_ARGS = {
    "fused": GPT2 + ["--attention-dropout", "0"],
    "attention-dropout": GPT2 + ["--layers", "1"],
}
STRATEGIES = ["allgather", "ulysses", "ring", "hybrid2"]
ELEMENTS = 1 << 20


class Tools:
    def __init__(self, folder, work, env):
        self.compile_path = os.path.join(folder, "sp-compile")
        self.run_path = os.path.join(folder, "sp-run")
        self.work = work
        self.env = env
        # Flags every compile of a model takes (by ONNX path).
        self.model_flags = {}

    def compile(self, model, name, extra):
        plan = os.path.join(self.work, f"{name}.spplan")
        run([self.compile_path, model, "-o", plan] + self.model_flags.get(model, []) + extra)
        return plan

    def run(self, plan, extra, ranks=1):
        return run(on_ranks([self.run_path, plan] + extra, ranks), self.env)


def sgd_step(tools, onnx_path, name, ranks, flags, shape=SHAPE):
    """The dump of one SGD step (seed 7, the copy task) of a plan compiled with `flags`."""
    train = ["--train", "--input-shape", shape, "--optimizer", "sgd", "--lr", "0.1"]
    plan = tools.compile(onnx_path, name, train + flags)
    dump = os.path.join(tools.work, f"{name}-dump")
    tools.run(plan, ["--data", "synthetic:copy", "--seed", "7", "--dump", dump], ranks)
    return load_dump(dump)


def check_sequence_parallel(tools, onnx_path, model, ranks_list, shape=SHAPE,
                            strategies=STRATEGIES):
    """One SGD step under every rank count and strategy equals one rank's. With a sequence
    length the ranks do not divide (sp-compile pads it), the masks of the real positions, and
    so the step, must still be the one rank's on the unpadded sequence."""
    failures = []

    def step(name, ranks, extra):
        return sgd_step(tools, onnx_path, name, ranks, extra, shape=shape)

    reference = step(f"{model}-1", 1, [])
    for ranks in ranks_list:
        for strategy in strategies:
            flags = strategy_flags(strategy, ranks)
            if flags is None:
                continue
            name = f"{model}-{strategy}-{ranks}"
            candidate = step(name, ranks, flags)
            problems, worst = compare_dumps(reference, candidate, name)
            failures += problems
            print(f"{name}: loss {float(candidate['loss.npy']):.6f} "
                  f"(one rank {float(reference['loss.npy']):.6f}), worst {worst:.1e} relative")
    return failures


def check_fused_is_unfused(tools, onnx_path, model, ranks_list, micro_batches=True):
    """The fused attention kernels draw graph.dropout's mask on the probabilities: the step of
    the plan compiled with --fuse=false equals the fused one's (on one rank, in two
    micro-batches, and on two ranks by ring, whose blocks draw the whole sequence's mask,
    against the unfused plan by allgather, the one strategy that takes unfused attention).
    Micro-batches need an export with a symbolic batch (`micro_batches`)."""
    failures = []
    settings = [("1", 1, [], [])]
    if micro_batches:
        settings.append(("micro-batches", 1, ["--micro-batches", "2"], []))
    settings += [(f"ring-{ranks}", ranks, ["--sp", str(ranks), "--sp-strategy=ring"],
                  ["--sp", str(ranks), "--sp-strategy=allgather"]) for ranks in ranks_list[:1]]
    for label, ranks, extra, unfused_extra in settings:
        name = f"{model}-unfused-{label}"
        fused = sgd_step(tools, onnx_path, f"{model}-fused-{label}", ranks, extra)
        unfused = sgd_step(tools, onnx_path, name, ranks,
                           (unfused_extra or extra) + ["--fuse=false"])
        compared = {key: value for key, value in unfused.items() if key in fused}
        problems, worst = compare_dumps(compared, fused, name)
        failures += problems
        print(f"{name}: loss {float(unfused['loss.npy']):.6f}, fused "
              f"{float(fused['loss.npy']):.6f}, worst {worst:.1e} relative")
    return failures


def peak_activations(tools, onnx_path, flags):
    """--report's peak activation bytes of a one-rank training plan."""
    command = [tools.compile_path, onnx_path, "-o", os.path.join(tools.work, "report.spplan"),
               "--train", "--input-shape", "input_ids=2x128", "--report"] + flags
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    peak = report_bytes(result.stdout, "peak activations")
    if peak is None:
        raise RuntimeError(f"no peak activations in --report: {result.stdout}")
    return peak


def check_no_square_tensor(tools, onnx_path, model):
    """Fused, attention dropout keeps no [S, S] probabilities: at S = 128 the unfused plan's
    peak activations exceed the fused one's by at least one [B, H, S, S] float tensor."""
    fused = peak_activations(tools, onnx_path, [])
    unfused = peak_activations(tools, onnx_path, ["--fuse=false"])
    square = 2 * 4 * 128 * 128 * 4
    print(f"{model} at S=128: peak activations {fused} fused, {unfused} unfused")
    if unfused - fused < square:
        return [f"{model}: fused peak activations {fused}, unfused {unfused}: the fused plan "
                f"does not save the {square} bytes of the probabilities"]
    return []


def check_micro_batches(tools, onnx_path, ranks_list):
    """--micro-batches 2 draws the whole batch's masks: one SGD step on a batch of 4 in two
    slices equals the whole batch's loss, gradients and parameters (on one rank, and on
    two with ring). A micro-batched step returns no logits, so those are not compared."""
    failures = []

    def step(name, ranks, extra):
        return sgd_step(tools, onnx_path, name, ranks, extra, shape="input_ids=4x32")

    reference = step("micro-batches-whole", 1, [])
    settings = [(1, [])] + [(ranks, ["--sp", str(ranks), "--sp-strategy=ring"])
                            for ranks in ranks_list[:1]]
    for ranks, extra in settings:
        name = f"micro-batches-2-{ranks}"
        candidate = step(name, ranks, ["--micro-batches", "2"] + extra)
        compared = {key: value for key, value in reference.items() if key in candidate}
        if "loss.npy" not in compared or len(compared) < 3:
            failures.append(f"{name}: dumped only {sorted(candidate)}")
            continue
        problems, worst = compare_dumps(compared, candidate, name)
        failures += problems
        print(f"{name}: loss {float(candidate['loss.npy']):.6f} "
              f"(whole batch {float(reference['loss.npy']):.6f}), worst {worst:.1e} relative")
    return failures


def export_hf_gpt2(work, torch, transformers):
    """A tiny GPT2LMHeadModel with every dropout at 0.1, exported in train() mode, and the
    flags that keep its causal mask a constant: the dynamo exporter lifts the mask table into
    an initializer ('where'), which --train would otherwise train, and which PyTorch does not
    (sp-compile's warning names --frozen=where)."""
    config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=64,
                                     vocab_size=256, resid_pdrop=0.1, embd_pdrop=0.1,
                                     attn_pdrop=0.1, bos_token_id=0, eos_token_id=0)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).train()

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids):
            return self.inner(input_ids=input_ids, use_cache=False).logits

    path = os.path.join(work, "hf-gpt2.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits(model).train(), (torch.zeros(2, 32, dtype=torch.int64),), path,
                          dynamo=True, training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False, input_names=["input_ids"],
                          output_names=["logits"])
    import onnx
    initializers = {tensor.name for tensor in onnx.load(path).graph.initializer}
    return path, ["--frozen", "where"] if "where" in initializers else []


def check_seeds_and_steps(tools, onnx_path):
    """The seed and the step key the masks; the same seed draws the same masks."""
    failures = []
    plan = tools.compile(onnx_path, "fused-lr0", ["--train", "--input-shape", SHAPE,
                                                  "--optimizer", "sgd", "--lr", "0"])
    tokens = np.random.default_rng(3).integers(0, 100, size=(2, 32), dtype=np.int64)
    tokens_path = os.path.join(tools.work, "tokens.npy")
    np.save(tokens_path, tokens)

    def curve(seed):
        return losses(tools.run(plan, ["--input", f"input_ids={tokens_path}", "--steps", "3",
                                       "--seed", str(seed)]))

    first, again, other = curve(1), curve(1), curve(2)
    print(f"lr 0, fixed tokens: seed 1 losses {first}, seed 2 {other}")
    if first != again:
        failures.append(f"seed 1 twice gave different losses: {first} and {again}")
    if len(set(first)) != len(first):
        failures.append(f"steps with fixed inputs and lr 0 drew the same masks: {first}")
    if first[0] == other[0]:
        failures.append(f"seeds 1 and 2 gave the same first loss {first[0]}")
    return failures


def check_resume(tools, onnx_path, ranks_list):
    """Two steps, a checkpoint and two more equal four steps bit for bit."""
    failures = []
    train = ["--train", "--input-shape", SHAPE]
    for ranks in [1] + ranks_list[:1]:
        extra = ["--sp", str(ranks), "--sp-strategy=ring"] if ranks > 1 else []
        plan = tools.compile(onnx_path, f"resume-{ranks}", train + extra)
        name = os.path.join(tools.work, f"resume-{ranks}")
        data = ["--data", "synthetic:copy", "--seed", "5"]
        whole = tools.run(plan, data + ["--steps", "4", "--dump", name + "-whole"], ranks)
        tools.run(plan, data + ["--steps", "2", "--save", name + "-ckpt"], ranks)
        # The seed comes from the checkpoint.
        resumed = tools.run(plan, ["--data", "synthetic:copy", "--steps", "2", "--resume",
                                   name + "-ckpt", "--dump", name + "-resumed"], ranks)
        problems, _ = compare_dumps(load_dump(name + "-whole"), load_dump(name + "-resumed"),
                                    f"resume on {ranks} rank(s)", exact=True)
        failures += problems
        if losses(whole)[2:] != losses(resumed):
            failures.append(f"resume on {ranks} rank(s): losses {losses(resumed)}, "
                            f"uninterrupted {losses(whole)[2:]}")
        print(f"resume on {ranks} rank(s): losses {losses(resumed)}"
              f"{' (differs)' if problems else ', bit for bit'}")
    return failures


def dropout_of(tools, onnx_path, name, x):
    plan = tools.compile(onnx_path, name, [])
    x_path = os.path.join(tools.work, f"{name}-x.npy")
    np.save(x_path, x)
    dump = os.path.join(tools.work, f"{name}-dump")
    tools.run(plan, ["--input", f"x={x_path}", "--dump", dump])
    return dump


def check_mask_output(tools):
    """Dropout's optional mask output is where the result is kept."""
    from onnx import TensorProto, helper, numpy_helper
    import onnx
    graph = helper.make_graph(
        [helper.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"])], "dropout",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64]),
         helper.make_tensor_value_info("mask", TensorProto.BOOL, [64, 64])],
        [numpy_helper.from_array(np.array(0.3, np.float32), "ratio"),
         numpy_helper.from_array(np.array(True), "training")])
    path = os.path.join(tools.work, "mask.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.random.default_rng(1).uniform(1, 2, size=(64, 64)).astype(np.float32)
    dump = dropout_of(tools, path, "mask", x)
    y, mask = np.load(os.path.join(dump, "y.npy")), np.load(os.path.join(dump, "mask.npy"))
    if mask.dtype != np.bool_ or not np.array_equal(mask, y != 0):
        return [f"the mask output is not where y is kept ({int(np.sum(mask != (y != 0)))} "
                "elements differ)"]
    print(f"mask output: {int(mask.sum())} of {mask.size} kept, where y is")
    return []


def check_statistics(tools, torch):
    """Keep rate and scaling against torch.nn.functional.dropout."""
    failures = []

    class Dropout(torch.nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            return torch.nn.functional.dropout(x, self.p, training=True)

    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        # No zeros, so a zero result is a dropped element; some NaN and infinities.
        x = rng.uniform(0.5, 2.0, size=(256, ELEMENTS // 256)) * rng.choice([-1, 1], (256, 1))
        x = x.astype(dtype)
        x[0, :3] = [np.nan, np.inf, -np.inf]
        for p in (0.0, 0.1, 0.5, 1.0):
            name = f"stats-{np.dtype(dtype).name}-{p}"
            path = os.path.join(tools.work, f"{name}.onnx")
            with warnings.catch_warnings():  # the TorchScript exporter's deprecation
                warnings.simplefilter("ignore")
                torch.onnx.export(Dropout(p).train(), (torch.from_numpy(x),), path,
                                  dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                                  do_constant_folding=False, input_names=["x"],
                                  output_names=["y"])
            if p == 1.0:
                # ONNX's ratio is in [0, 1): one line, exit 1.
                result = subprocess.run([tools.compile_path, path, "-o", os.devnull],
                                        capture_output=True, text=True)
                lines = result.stderr.strip().splitlines()
                if result.returncode != 1 or len(lines) != 1 or "is not in [0, 1)" not in lines[0]:
                    failures.append(f"{name}: expected one error line and exit 1, got "
                                    f"{result.returncode}: {result.stderr.strip()}")
                continue
            y = np.load(os.path.join(dropout_of(tools, path, name, x), "y.npy"))
            reference = torch.nn.functional.dropout(torch.from_numpy(x), p, training=True).numpy()
            if p == 0.0:
                if not np.array_equal(y.view(np.uint8), x.view(np.uint8)):
                    failures.append(f"{name}: p = 0 is not the identity")
                continue
            finite = np.isfinite(x)
            kept, torch_kept = (y != 0) & finite, (reference != 0) & finite
            n = int(finite.sum())
            share = kept.sum() / n
            bound = 6 * np.sqrt(p * (1 - p) / n)
            if abs(share - (1 - p)) > bound:
                failures.append(f"{name}: kept {share:.5f} of the elements, expected "
                                f"{1 - p} within {bound:.5f}")
            same = (kept == torch_kept) & finite
            bits = y.view(np.uint64 if dtype == np.float64 else np.uint32)
            torch_bits = reference.view(bits.dtype)
            if not np.array_equal(bits[same], torch_bits[same]):
                differing = int(np.sum(bits[same] != torch_bits[same]))
                failures.append(f"{name}: {differing} elements that torch keeps or drops alike "
                                "differ from torch's")
            # NaN stays NaN; an infinity is kept (itself) or dropped (inf * 0, NaN).
            nan, inf, minus_inf = y[0, :3]
            if not (np.isnan(nan) and (inf == np.inf or np.isnan(inf))
                    and (minus_inf == -np.inf or np.isnan(minus_inf))):
                failures.append(f"{name}: NaN, inf, -inf became {y[0, :3]}")
            print(f"{name}: kept {share:.5f} (expected {1 - p} +- {bound:.5f}), "
                  f"{int(same.sum())} elements compared to torch's bits")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("tools")
    parser.add_argument("--no-mpi", action="store_true", help="one rank only")
    args = parser.parse_args()
    env = rank_environment()
    ranks_list = [] if args.no_mpi else [2, 4]
    failures = []
    try:
        import torch
        import transformers
    except ImportError as error:
        torch, missing = None, error
    with tempfile.TemporaryDirectory(prefix="sp-dropout-") as work:
        tools = Tools(args.tools, work, env)
        models = {}
        for model, model_args in MODEL_ARGS.items():
            models[model] = os.path.join(work, f"{model}.onnx")
            run([sys.executable, os.path.join(MODELS, "gpt2.py"), "-o", models[model]]
                + model_args)
            failures += check_sequence_parallel(tools, models[model], model, ranks_list)
            failures += check_sequence_parallel(tools, models[model], model + "-uneven",
                                                ranks_list, shape=UNEVEN_SHAPE)
        failures += check_fused_is_unfused(tools, models["attention-dropout"],
                                           "attention-dropout", ranks_list)
        failures += check_no_square_tensor(tools, models["attention-dropout"],
                                           "attention-dropout")
        failures += check_seeds_and_steps(tools, models["fused"])
        failures += check_resume(tools, models["fused"], ranks_list)
        failures += check_micro_batches(tools, models["fused"], ranks_list)
        failures += check_mask_output(tools)
        if torch is not None:
            failures += check_statistics(tools, torch)
            hf_gpt2, tools.model_flags[hf_gpt2] = export_hf_gpt2(work, torch, transformers)
            failures += check_sequence_parallel(tools, hf_gpt2, "hf-gpt2", ranks_list)
            failures += check_fused_is_unfused(tools, hf_gpt2, "hf-gpt2", ranks_list,
                                               micro_batches=False)
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    if torch is None:
        print(f"SKIP: {missing}; the statistics against torch and the Hugging Face export did "
              "not run")
        return 77
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
