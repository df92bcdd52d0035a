#!/usr/bin/env python3
"""Training through the ONNX ops that losses and common models export, against PyTorch.

Usage: loss_ops_train_test.py TOOLS_DIR [--sp 2] [--keep DIR]

Tiny float64 models that end in their own loss are exported with torch.onnx
(TorchScript exporter, opset 17) and compiled with

  sp-compile MODEL --train --loss=output --params @NAMES --optimizer sgd --lr 0.1

so the model's scalar output is the objective. One step of `sp-run --dump`
must give PyTorch's loss, every parameter's gradient and every updated
parameter per element within 1e-9 relative, floored at 1e-15 of the largest
gradient (parameter) for elements near zero (GPT-J, with float32 steps in its
rotary code, within 5e-5; the loss within 1e-6 where the export casts it to
float32). The Hugging Face models are exported and run float64 throughout
(hf_train_test.float64_throughout). The exported graphs must hold the ops under test, so an
exporter that spells them differently fails rather than passes:

  masked_lm   Gather (embedding), Tile (positions repeated over the batch),
              Einsum, GatherElements, SoftmaxCrossEntropyLoss over [B*S, V]
              with ignore_index (only masked positions count)
  weighted    ScatterElements, ScatterND, SoftmaxCrossEntropyLoss over
              [B, V, S] with class weights, LogSoftmax and
              NegativeLogLikelihoodLoss (sum) added to it
  bert_mlm    Hugging Face BertForMaskedLM returning its own loss
              (GatherElements, SoftmaxCrossEntropyLoss with ignore_index)
  gptj        Hugging Face GPTJForCausalLM (Tile in the rotary embedding),
              trained with sp's causal-lm loss against F.cross_entropy

The Hugging Face models need transformers; without it they are left out
with a note, and the tiny models still run.

With `--sp 2` each model is also compiled with `--sp 2` and run under
`mpirun --oversubscribe -np 2`; the dump must match PyTorch the same way.

Exits 77 (SKIP) when torch or onnx cannot be imported.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hf_train_test import float64_throughout  # noqa: E402

BATCH, SEQ, VOCAB, WIDTH = 2, 8, 11, 6
HF_SEQ, HF_VOCAB = 16, 64
LEARNING_RATE = 0.1
TOLERANCE = 1e-9
# Per element, floored at this fraction of the largest element of all the
# gradients (or parameters), so |sp - torch| <= 1e-9 |torch| + 1e-15 of that
# scale: a gradient that vanishes in exact arithmetic (BERT's key biases, at
# 1e-19 of the scale) passes as noise, a float32 step (1e-7) fails.
FLOOR = 1e-6
# GPT-J keeps float32 steps that float64_throughout does not reach (its
# rotary positions; measured 8.2e-6 per element on the MLP weights' gradients).
GPTJ_TOLERANCE = 5e-5
SKIP = 77


def percent_encode(name):
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode())
                   for c in name)


def relative_error(actual, expected, scale=None):
    """The worst element's error over what is allowed it: |actual - expected|
    over |expected| plus FLOOR of `scale` (default: the tensor's largest
    element), so that one wrong row fails, while gradients that vanish in
    exact arithmetic (a key bias under softmax: rounding noise on both sides)
    compare absolutely against the scale of all the gradients."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    if expected.size == 0:
        return 0.0
    if scale is None:
        scale = float(np.max(np.abs(expected)))
    bound = np.abs(expected) + FLOOR * max(scale, 1e-300)
    return float(np.max(np.abs(actual - expected) / bound))


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def make_models():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class MaskedLM(nn.Module):
        ops = {"Gather", "Tile", "Einsum", "GatherElements", "SoftmaxCrossEntropyLoss"}

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, WIDTH)
            self.positions = nn.Parameter(torch.randn(1, SEQ, WIDTH))
            self.mix = nn.Parameter(torch.randn(WIDTH, WIDTH))
            self.head = nn.Linear(WIDTH, VOCAB)
            # Reverses the features of each position: a constant GatherElements index.
            self.register_buffer("reverse", torch.arange(WIDTH - 1, -1, -1).repeat(BATCH, SEQ, 1))

        def forward(self, input_ids, labels):
            h = self.embed(input_ids) + self.positions.repeat(BATCH, 1, 1)
            h = torch.tanh(torch.einsum("bsd,de->bse", h, self.mix))
            h = h + torch.gather(h, 2, self.reverse)
            logits = self.head(h)
            return F.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1),
                                   ignore_index=-100)

    class Weighted(nn.Module):
        ops = {"ScatterElements", "ScatterND", "SoftmaxCrossEntropyLoss", "LogSoftmax",
               "NegativeLogLikelihoodLoss"}

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, WIDTH)
            self.head = nn.Linear(WIDTH, VOCAB)
            self.extra = nn.Parameter(torch.randn(BATCH, SEQ, 2))
            self.row = nn.Parameter(torch.randn(WIDTH))
            self.register_buffer("weight", torch.linspace(0.5, 2.0, VOCAB))
            self.register_buffer("slots", torch.tensor([[0, 3]] * SEQ).repeat(BATCH, 1, 1))

        def forward(self, input_ids, labels):
            h = self.embed(input_ids)
            h = h.scatter(2, self.slots, self.extra)        # ScatterElements
            h = h.clone()
            h[:, 0] = self.row                               # ScatterND (index_put)
            logits = self.head(torch.tanh(h)).transpose(1, 2)  # [B, V, S]
            weighted = F.cross_entropy(logits, labels, weight=self.weight)
            # Scaled, so that the exporter cannot fuse the pair into SoftmaxCrossEntropyLoss.
            nll = F.nll_loss(1.5 * F.log_softmax(logits, dim=1), labels, reduction="sum")
            return weighted + nll

    def own_loss(model_class):
        def build(generator):
            model = model_class().double()
            input_ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
            labels = torch.randint(0, VOCAB, (BATCH, SEQ), generator=generator)
            if model_class is MaskedLM:
                # Only masked positions carry a label.
                labels[torch.rand(BATCH, SEQ, generator=generator) < 0.5] = -100
                labels[0, 0] = 3
            return model, model_class.ops, {"input_ids": input_ids, "labels": labels}, None
        return build

    models = {"masked_lm": own_loss(MaskedLM), "weighted": own_loss(Weighted)}
    try:
        import transformers as tf
    except ImportError as error:
        print(f"note: Hugging Face models left out ({error})")
        return models

    class Wrapped(nn.Module):
        def __init__(self, inner, output):
            super().__init__()
            self.inner, self.output = inner, output

        def forward(self, *inputs):
            names = ["input_ids", "attention_mask", "labels"][:len(inputs)]
            return getattr(self.inner(**dict(zip(names, inputs))), self.output)

    def bert(generator):
        config = tf.BertConfig(vocab_size=HF_VOCAB, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=64,
                               max_position_embeddings=64, hidden_dropout_prob=0.0,
                               attention_probs_dropout_prob=0.0, attn_implementation="eager")
        model = Wrapped(tf.BertForMaskedLM(config).eval(), "loss").double()
        # No padding token (0): PyTorch's embedding gives its row no gradient,
        # which ONNX's Gather cannot say.
        input_ids = torch.randint(1, HF_VOCAB, (BATCH, HF_SEQ), generator=generator)
        labels = torch.full((BATCH, HF_SEQ), -100)
        labels[:, ::3] = input_ids[:, ::3]
        inputs = {"input_ids": input_ids,
                  "attention_mask": torch.ones(BATCH, HF_SEQ, dtype=torch.int64),
                  "labels": labels}
        return model, {"GatherElements", "SoftmaxCrossEntropyLoss"}, inputs, None

    def gptj(generator):
        config = tf.GPTJConfig(vocab_size=HF_VOCAB, n_embd=32, n_layer=2, n_head=4,
                               n_positions=64, rotary_dim=4, resid_pdrop=0.0, embd_pdrop=0.0,
                               attn_pdrop=0.0, use_cache=False, bos_token_id=0,
                               eos_token_id=0, attn_implementation="eager")
        model = Wrapped(tf.GPTJForCausalLM(config).eval(), "logits").double()
        input_ids = torch.randint(0, HF_VOCAB, (BATCH, HF_SEQ), generator=generator)
        inputs = {"input_ids": input_ids,
                  "attention_mask": torch.ones(BATCH, HF_SEQ, dtype=torch.int64)}

        def causal_lm(logits):
            return F.cross_entropy(logits[:, :-1].reshape(-1, HF_VOCAB),
                                   input_ids[:, 1:].reshape(-1))
        return model, {"Tile"}, inputs, causal_lm

    models.update({"bert_mlm": bert, "gptj": gptj})
    return models


def run_one(tools, name, build, workdir, parallel):
    import numpy as np
    import onnx
    import torch

    torch.manual_seed(0)
    model, expected_ops, inputs, causal_lm = build(torch.Generator().manual_seed(1))
    # Fresh LayerNorm weights are all ones and the exporter merges equal
    # initializers; trained weights differ.
    noise = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn(param.shape, generator=noise, dtype=param.dtype))

    # The Hugging Face models run float64 throughout (hf_train_test's
    # float64_throughout), in the export and in PyTorch's reference alike.
    hugging_face = name in ("bert_mlm", "gptj")
    widened = float64_throughout if hugging_face else contextlib.nullcontext
    path = os.path.join(workdir, name + ".onnx")
    with widened():
        torch.onnx.export(model, tuple(inputs.values()), path, dynamo=False, opset_version=17,
                          do_constant_folding=False, input_names=list(inputs),
                          output_names=["logits" if causal_lm else "loss"])
    graph = onnx.load(path).graph
    present = {n.op_type for n in graph.node}
    if not expected_ops <= present:
        return f"the export lacks {sorted(expected_ops - present)} (has {sorted(present)})"
    # A tied parameter has several names; the exporter keeps one of them.
    initializers = {t.name for t in graph.initializer}
    aliases = {}
    for param_name, param in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(param), (param, []))[1].append(param_name)
    params = {}
    for param, names in aliases.values():
        found = [n for n in names if n in initializers]
        if not found:
            return f"parameter {names[0]} is not among the ONNX initializers"
        params[found[0]] = param
    names_file = os.path.join(workdir, name + ".params")
    with open(names_file, "w") as f:
        f.write("\n".join(sorted(params)) + "\n")
    input_flags = []
    for input_name, value in inputs.items():
        input_file = os.path.join(workdir, f"{name}.{input_name}.npy")
        np.save(input_file, value.numpy())
        input_flags += ["--input", f"{input_name}={input_file}"]

    model.zero_grad()
    with widened():
        output = model(*inputs.values())
        loss = causal_lm(output) if causal_lm else output
        loss.backward()
    grads = {n: p.grad.numpy().copy() for n, p in params.items()}
    updated = {n: (p.detach() - LEARNING_RATE * p.grad).numpy() for n, p in params.items()}
    loss_flag = "--loss=causal-lm" if causal_lm else "--loss=output"

    runs = [("one rank", [], [])]
    if parallel:
        runs.append((f"--sp {parallel}", ["--sp", str(parallel)],
                     ["mpirun", "--oversubscribe", "-np", str(parallel)]))
    for label, flags, launcher in runs:
        plan = os.path.join(workdir, f"{name}{len(flags)}.spplan")
        compiled = subprocess.run(
            [os.path.join(tools, "sp-compile"), path, "--train", loss_flag,
             "--params", "@" + names_file, "--optimizer=sgd", f"--lr={LEARNING_RATE}",
             "-o", plan] + flags, capture_output=True, text=True, timeout=300)
        if compiled.returncode != 0:
            return f"{label}: sp-compile exited {compiled.returncode}: " \
                   f"{first_line(compiled.stderr)}"
        dump = os.path.join(workdir, f"{name}{len(flags)}.dump")
        env = dict(os.environ, OMP_NUM_THREADS="1") if launcher else None
        ran = subprocess.run(launcher + [os.path.join(tools, "sp-run"), plan] + input_flags +
                             ["--steps", "1", "--dump", dump],
                             capture_output=True, text=True, timeout=300, env=env)
        if ran.returncode != 0:
            return f"{label}: sp-run exited {ran.returncode}: {first_line(ran.stderr)}"
        # The TorchScript exporter casts a sum of two losses to float32; the
        # loss is then compared at float32's precision (its gradient, the
        # seed 1, is exact either way).
        loss_value = np.load(os.path.join(dump, "loss.npy"))
        loss_error = relative_error(loss_value, np.asarray(loss.item(), loss_value.dtype))
        tolerance = GPTJ_TOLERANCE if name == "gptj" else TOLERANCE
        loss_tolerance = 1e-6 if loss_value.dtype == np.float32 else tolerance
        if not loss_error <= loss_tolerance:
            return f"{label}: loss {loss_value} differs from PyTorch's {loss.item()} " \
                   f"by {loss_error:.3g} relative"
        checks = []
        for param in params:
            encoded = percent_encode(param) + ".npy"
            checks.append((f"grad/{param}", np.load(os.path.join(dump, "grad", encoded)),
                           grads[param]))
            checks.append((f"param/{param}", np.load(os.path.join(dump, "param", encoded)),
                           updated[param]))
        # Each kind (gradients, parameters) floored at the largest element of
        # all its tensors.
        scales = {}
        for what, _, expected in checks:
            kind = what.split("/")[0]
            scales[kind] = max(scales.get(kind, 0.0), float(np.max(np.abs(expected))))
        errors = {what: relative_error(actual, expected, scales[what.split("/")[0]])
                  for what, actual, expected in checks}
        worst_name = max(errors, key=errors.get)
        worst, error = (worst_name,), errors[worst_name]
        if not error <= tolerance:
            return f"{label}: {worst[0]} differs from PyTorch float64 by {error:.3g} relative"
        print(f"  {name} ({label}): loss {loss_value} at {loss_error:.2e}, {len(checks)} "
              f"tensors, worst {worst[0]} at {error:.2e}",
              flush=True)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--sp", type=int, default=0, help="also run on this many ranks")
    parser.add_argument("--keep", help="keep the exports, plans and dumps in DIR")
    args = parser.parse_args()
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        print(f"SKIP: {error}")
        return SKIP
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        for name, build in make_models().items():
            try:
                reason = run_one(args.tools, name, build, workdir, args.sp)
            except Exception as error:  # one failing model must not hide the other
                reason = f"{type(error).__name__}: {first_line(str(error))}"
            print(f"FAIL {name}: {reason}" if reason else f"PASS {name}", flush=True)
            failures += bool(reason)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
