#!/usr/bin/env python3
"""One training step of torch.onnx exports of Hugging Face causal LMs, against PyTorch.

Usage: hf_train_test.py TOOLS_DIR [--families gpt2,...] [--variants ...] [--keep DIR]
                         [--sp 2,4 [--strategies allgather,ulysses,ring]]
                         [--seq S] [--mask-tail K]

For GPT-2, Llama, Qwen2 (8 heads, 2 KV heads), GPT-NeoX, Falcon (multi-query:
one KV head), BLOOM (ALiBi), Mistral (sliding window) and Gemma 2 (logit
soft-cap) by default, or any family of utils/export_hf_models.py (tiny
random-weight configs, in float64), exports each model with
torch.onnx, compiles it with

  sp-compile MODEL --train --input-shape input_ids=2x128 --params @NAMES
             --optimizer sgd --lr 0.1

and runs one step with `sp-run --steps 1 --dump DIR`. The loss, the logits,
the gradient of every parameter and every parameter after the SGD update must
match PyTorch's float64 results per element within 1e-9 relative error,
floored at 1e-12 of the tensor's largest element (for elements whose
reference is zero, such as the mathematically zero gradient of GPT-2's key
bias, where PyTorch and sp both return rounding noise; a gradient that is such
noise throughout, as OPT's separate key bias, takes the largest gradient's
floor).
Both the export and PyTorch's reference run inside `float64_throughout`,
which keeps Hugging Face's float32 casts (rotary tables, RMS norm, softmax)
and the exporters' float32 literals (GELU's constants; norm epsilons and
attention scales, literal layer_norm epsilons included, are rounded to
float32 on both sides) out of the float64
model: with them, PyTorch and sp differ by float32 rounding (~2e-7), which
says nothing about sp. `NAMES` lists the model's
`named_parameters()`, so buffers such as rotary inverse frequencies stay
constant, as in PyTorch.

Variants: dynamo-static, dynamo-dynamic (sequence length symbolic until
--input-shape binds it), torchscript-dynamic.

With `--sp 2,4` each model is instead compiled with `--sp N --sp-strategy S`
for every rank count and strategy (`hybridU`: `--sp-ulysses-degree U`, the
hybrid of Ulysses in groups of U ranks and the ring across them, where
1 < U < N) and run under `mpirun --oversubscribe -np N`; the dump, whole
tensors gathered to rank 0, must match PyTorch the same way. A ring or
hybrid plan must hold one `graph.ring_attention` per layer (the
attention_mask a padding mask the ring takes, not an all-gather fallback).

`--seq S` sets the sequence length (default 128); one the ranks' chunks do
not divide makes sp-compile pad it, and the dump must still match PyTorch on
the unpadded sequence. `--mask-tail K` zeroes the last K positions of the
second sequence's attention_mask (right padding, as tokenizers pad).

Prints `PASS name` or `FAIL name: reason` per model and exits 1 on any failure;
`SKIP: ...` and exit 77 (ctest's skip) when torch or transformers cannot be imported.
"""

import argparse
import contextlib
import logging
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
sys.path.insert(0, HERE)
from sp_equivalence_test import strategy_flags  # noqa: E402

BATCH, SEQ = 2, 128
LEARNING_RATE = 0.1
# float64 throughout (see float64_throughout): sp and PyTorch agree to ~1e-15
# of each tensor's largest element (measured: at most 1.4e-15 for Llama and
# GPT-2), so a per-element bound of 1e-9 relative, floored at 1e-12 of the
# tensor's largest element, leaves three orders of margin for summation order
# and still catches a float32 step (1e-7) or one wrong row.
RELATIVE = 1e-9
FLOOR = 1e-12
VARIANTS = ("dynamo-static", "dynamo-dynamic", "torchscript-dynamic")


def percent_encode(name):
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
    return "".join(c if c in safe else "".join(f"%{b:02X}" for b in c.encode())
                   for c in name)


def worst_excess(actual, expected, relative=RELATIVE, floor=FLOOR, scale=None):
    """How far `actual` is from `expected`, per element, in units of the
    allowed error relative * |expected| + floor * max |expected|: at most 1
    passes. The floor covers elements whose reference is zero or tiny by
    cancellation, where a relative error means nothing: the key third of
    GPT-2's c_attn bias has a gradient that is mathematically zero (softmax
    ignores a shift shared by a row's logits), and PyTorch's is rounding
    noise of 6e-20 beside the query and value thirds' 2e-2. `scale` replaces
    the tensor's largest element as the floor's unit (for a tensor that is
    rounding noise throughout). Returns (excess, index of the worst element);
    a shape mismatch is infinitely far."""
    import numpy as np

    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf"), None
    if scale is None:
        scale = np.abs(expected).max() if expected.size else 0.0
    allowed = relative * np.abs(expected) + floor * scale
    difference = np.abs(actual - expected)
    # A NaN anywhere fails: NaN compares false, so count it explicitly.
    excess = np.where(np.isnan(difference), np.inf,
                      difference / np.maximum(allowed, np.finfo(np.float64).tiny))
    if excess.size == 0:
        return 0.0, None
    index = np.unravel_index(np.argmax(excess), excess.shape)
    return float(excess[index]), index


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "(no message)"


def onnx_parameter_names(model, initializers):
    """{ONNX initializer name: parameter} for every parameter of `model`. A tied
    parameter (GPT-2's embedding and LM head) has several names; the exporter
    keeps one of them. Returns (mapping, names of parameters it cannot find)."""
    aliases = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(param), (param, []))[1].append(name)
    mapping, missing = {}, []
    for param, names in aliases.values():
        found = [n for n in names if n in initializers]
        if found:
            mapping[found[0]] = param
        else:
            missing.append(names[0])
    return mapping, missing


@contextlib.contextmanager
def float64_throughout():
    """Hugging Face's code computes rotary tables, RMS norm and attention
    softmax in float32 whatever the model's dtype (`.float()`,
    `.to(torch.float32)`, `softmax(dtype=torch.float32)`), and the exporters
    round Python float literals (GELU's 0.044715 and sqrt(2/pi)) to float32
    constants. Either puts float32 rounding (~1e-7) into a float64 model, and
    into PyTorch's reference and sp's result differently, so the comparison
    would measure float32 libm differences instead of sp. Inside this context,
    export and reference step alike, those casts stay float64 and GELU's
    constants are float64 tensors, and so are those of BLOOM's GELU
    (0.79788456, 0.044715), which the dynamo exporter also rounds to
    float32. BLOOM's ALiBi slopes (powers of a
    float32 base) are computed in float64 too: under the widened `to`, the
    dynamo exporter's decomposition of their float32 `pow` meets float64
    operands and fails."""
    import numpy as np
    import torch
    import transformers.activations as activations
    import transformers.models.bloom.modeling_bloom as bloom

    def widen(dtype):
        return torch.float64 if dtype == torch.float32 else dtype

    original_to, original_float = torch.Tensor.to, torch.Tensor.float
    original_layer_norm = torch.nn.functional.layer_norm
    original_softmax, original_gelu = torch.nn.functional.softmax, \
        activations.NewGELUActivation.forward

    def to(self, *args, **kwargs):
        args = tuple(widen(a) if isinstance(a, torch.dtype) else a for a in args)
        if "dtype" in kwargs:
            kwargs["dtype"] = widen(kwargs["dtype"])
        return original_to(self, *args, **kwargs)

    def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
        # ONNX's LayerNormalization epsilon is a float32 attribute: OLMo's
        # literal eps (F.layer_norm(..., eps=1e-5)) reaches sp rounded.
        return original_layer_norm(input, normalized_shape, weight, bias,
                                   float(np.float32(eps)))

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        return original_softmax(input, dim=dim, dtype=widen(dtype) if dtype else None)

    def new_gelu(self, input):
        half = torch.tensor(0.5, dtype=input.dtype)
        cubic = torch.tensor(0.044715, dtype=input.dtype)
        scale = torch.tensor(math.sqrt(2.0 / math.pi), dtype=input.dtype)
        return half * input * (1.0 + torch.tanh(scale * (input + cubic * torch.pow(input, 3.0))))

    def alibi_slopes(num_heads, device):
        # _get_alibi_slopes, in float64: base**1 .. base**n for the largest
        # power of two n <= num_heads, then odd powers of a second base.
        closest = 2 ** math.floor(math.log2(num_heads))
        base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
        slopes = [base ** p for p in range(1, 1 + closest)]
        if closest != num_heads:
            extra = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
            remaining = min(closest, num_heads - closest)
            slopes += [extra ** p for p in range(1, 1 + 2 * remaining, 2)]
        return torch.tensor(slopes, dtype=torch.float64, device=device)

    def bloom_gelu(input):
        half = torch.tensor(0.5, dtype=input.dtype)
        cubic = torch.tensor(0.044715, dtype=input.dtype)
        scale = torch.tensor(0.79788456, dtype=input.dtype)
        return input * half * (1.0 + torch.tanh(scale * input * (1 + cubic * input * input)))

    original_slopes, original_bloom_gelu = bloom._get_alibi_slopes, bloom.bloom_gelu_forward
    bloom._get_alibi_slopes = alibi_slopes
    bloom.bloom_gelu_forward = bloom_gelu
    torch.Tensor.to = to
    torch.Tensor.float = lambda self, *args, **kwargs: to(self, torch.float64)
    torch.nn.functional.softmax = softmax
    torch.nn.functional.layer_norm = layer_norm
    activations.NewGELUActivation.forward = new_gelu
    try:
        yield
    finally:
        torch.Tensor.to, torch.Tensor.float = original_to, original_float
        torch.nn.functional.softmax = original_softmax
        torch.nn.functional.layer_norm = original_layer_norm
        activations.NewGELUActivation.forward = original_gelu
        bloom._get_alibi_slopes = original_slopes
        bloom.bloom_gelu_forward = original_bloom_gelu


def round_float_attributes_to_float32(model):
    """Norm epsilons and attention scales are Python floats that the exporters
    write as float32 attributes or constants (Qwen2's 8**-0.5 becomes
    0.35355338): give PyTorch the same values, so both sides compute with the
    same numbers."""
    import numpy as np

    for module in model.modules():
        for attribute in ("eps", "variance_epsilon", "scaling"):
            value = getattr(module, attribute, None)
            if isinstance(value, float):
                setattr(module, attribute, float(np.float32(value)))


def reference_step(model, params, input_ids, attention_mask):
    """PyTorch float64: logits, causal-LM loss, gradients, SGD-updated params,
    the last three by ONNX name (`params`)."""
    import torch
    import torch.nn.functional as F

    model.zero_grad()
    logits = model(input_ids, attention_mask)
    vocab = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), input_ids[:, 1:].reshape(-1))
    loss.backward()
    grads = {name: p.grad.detach().numpy().copy() for name, p in params.items()}
    updated = {name: (p.detach() - LEARNING_RATE * p.grad).numpy() for name, p in params.items()}
    return logits.detach().numpy(), loss.item(), grads, updated


def run_one(tools, family, variant, workdir, parallel=(), seq=SEQ, mask_tail=0):
    import numpy as np
    import onnx
    import torch

    import export_hf_models as hf

    exporter, shape_kind = variant.split("-")
    model = hf.make_model(family, "eager").double()
    # Freshly initialized LayerNorm weights are all ones, and the TorchScript
    # exporter merges identical initializers; trained weights differ.
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn(param.shape, generator=noise, dtype=param.dtype))
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, hf.VOCAB, (BATCH, seq), generator=generator)
    attention_mask = torch.ones(BATCH, seq, dtype=torch.int64)
    if mask_tail:
        attention_mask[1, seq - mask_tail:] = 0

    name = f"{family}-{variant}"
    path = os.path.join(workdir, name + ".onnx")
    round_float_attributes_to_float32(model)
    with float64_throughout():
        hf.export_one(model, path, exporter, shape_kind == "dynamic", False,
                      inputs=(input_ids, attention_mask), fold_constants=False)

    initializers = {t.name for t in onnx.load(path, load_external_data=False).graph.initializer}
    params, missing = onnx_parameter_names(model, initializers)
    param_names = sorted(params)
    if missing:
        return f"parameters not among the ONNX initializers: {', '.join(missing[:3])}"
    names_file = os.path.join(workdir, name + ".params")
    with open(names_file, "w") as f:
        f.write("\n".join(param_names) + "\n")

    ids_file = os.path.join(workdir, name + ".input_ids.npy")
    mask_file = os.path.join(workdir, name + ".attention_mask.npy")
    np.save(ids_file, input_ids.numpy())
    np.save(mask_file, attention_mask.numpy())
    with float64_throughout():
        logits, loss, grads, updated = reference_step(model, params, input_ids, attention_mask)

    # (label, sp-compile flags, launcher prefix): one rank, or each --sp setting.
    runs = [("", [], [])]
    if parallel:
        runs = [(f"-sp{ranks}-{strategy}", strategy_flags(strategy, ranks),
                 ["mpirun", "--oversubscribe", "-np", str(ranks)])
                for ranks, strategy in parallel if strategy_flags(strategy, ranks)]
    results = []
    for label, flags, launcher in runs:
        plan = os.path.join(workdir, name + label + ".spplan")
        compile_cmd = [os.path.join(tools, "sp-compile"), path, "--train",
                       f"--input-shape=input_ids={BATCH}x{seq}", "--params", "@" + names_file,
                       "--optimizer=sgd", f"--lr={LEARNING_RATE}", "-o", plan] + flags
        compiled = subprocess.run(compile_cmd, capture_output=True, text=True, timeout=600)
        if compiled.returncode != 0:
            return f"{label or 'one rank'}: sp-compile exited {compiled.returncode}: " \
                   f"{first_line(compiled.stderr)}"
        if "--sp-strategy=ring" in flags or "--sp-ulysses-degree" in flags:
            reason = count_ring_attentions(compile_cmd, model.inner.config.num_hidden_layers)
            if reason:
                return f"{label}: {reason}"
        dump = os.path.join(workdir, name + label + ".dump")
        run_cmd = launcher + [os.path.join(tools, "sp-run"), plan, "--input",
                              f"input_ids={ids_file}", "--input",
                              f"attention_mask={mask_file}", "--steps", "1", "--dump", dump]
        # One OpenMP thread per rank: the ranks share this machine's cores.
        env = dict(os.environ, OMP_NUM_THREADS="1") if launcher else None
        ran = subprocess.run(run_cmd, capture_output=True, text=True, timeout=600, env=env)
        if ran.returncode != 0:
            return f"{label or 'one rank'}: sp-run exited {ran.returncode}: " \
                   f"{first_line(ran.stderr)}"
        reason = compare(dump, param_names, loss, logits, grads, updated,
                         f"{name}{label}")
        if reason:
            return f"{label or 'one rank'}: {reason}"
    return None


def count_ring_attentions(compile_cmd, layers):
    """None when the module `compile_cmd` compiles holds one ring attention per layer."""
    import re

    emit = compile_cmd[:compile_cmd.index("-o")] + ["--emit=mlir", "-o", "-"] + \
        compile_cmd[compile_cmd.index("-o") + 2:]
    compiled = subprocess.run(emit, capture_output=True, text=True, timeout=600)
    if compiled.returncode != 0:
        return f"sp-compile --emit=mlir exited {compiled.returncode}: {first_line(compiled.stderr)}"
    rings = len(re.findall(r"= graph\.ring_attention ", compiled.stdout))
    if rings != layers:
        return f"{rings} graph.ring_attention in the plan of {layers} layers"
    return None


def compare(dump, param_names, loss, logits, grads, updated, name):
    """None when the dump matches PyTorch's step, else the reason."""
    import numpy as np

    checks = [("loss", np.load(os.path.join(dump, "loss.npy")), np.float64(loss)),
              ("logits", np.load(os.path.join(dump, "logits.npy")), logits)]
    for param in param_names:
        encoded = percent_encode(param) + ".npy"
        checks.append((f"grad/{param}", np.load(os.path.join(dump, "grad", encoded)),
                       grads[param]))
        checks.append((f"param/{param}", np.load(os.path.join(dump, "param", encoded)),
                       updated[param]))
    # A gradient that is mathematically zero throughout (OPT's separate key
    # bias: softmax ignores a shift shared by a row's scores) is rounding
    # noise on both sides, at 1e-18 of the other gradients: its floor is the
    # largest gradient's, as it is for GPT-2's key third inside c_attn.
    largest_grad = max((float(np.abs(grads[p]).max()) for p in param_names if grads[p].size),
                       default=0.0)

    def floor_scale(label, expected):
        largest = float(np.abs(expected).max()) if np.size(expected) else 0.0
        if label.startswith("grad/") and largest < 1e-12 * largest_grad:
            return largest_grad
        return None

    excesses = [(worst_excess(actual, expected, scale=floor_scale(label, expected)), label,
                 actual, expected)
                for label, actual, expected in checks]
    (excess, index), label, actual, expected = max(excesses, key=lambda e: e[0][0])
    if not excess <= 1:
        if index is None:
            return (f"{label} has shape {np.shape(actual)}, PyTorch's "
                    f"{np.shape(expected)}")
        where = "[" + ",".join(map(str, index)) + "]" if index else ""
        return (f"{label}{where} is {np.asarray(actual)[index]!r}, PyTorch float64 "
                f"{np.asarray(expected)[index]!r}: {excess:.3g} times the allowed "
                f"{RELATIVE:g} relative (floor {FLOOR:g} of the tensor's largest)")
    print(f"  {name}: {len(checks)} tensors, worst {label} at {excess:.2e} of the "
          f"allowed error", flush=True)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools")
    parser.add_argument("--families", default="gpt2,llama,qwen2,gptneox,falcon,bloom,mistral,gemma2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--keep", help="keep the exports, plans and dumps in DIR")
    parser.add_argument("--sp", help="rank counts to run sequence-parallel, e.g. 2,4")
    parser.add_argument("--strategies", default="allgather,ulysses,ring")
    parser.add_argument("--seq", type=int, default=SEQ, help="sequence length")
    parser.add_argument("--mask-tail", type=int, default=0,
                        help="attention_mask zeros at the end of the second sequence")
    args = parser.parse_args()
    if not 2 <= args.seq or not 0 <= args.mask_tail < args.seq:
        parser.error("--seq must be at least 2 and --mask-tail below it")
    parallel = []
    if args.sp:
        parallel = [(int(ranks), strategy) for ranks in args.sp.split(",")
                    for strategy in args.strategies.split(",")]
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"SKIP: torch not installed ({error})")
        return 77  # ctest's SKIP_RETURN_CODE: a skip is not a pass
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.keep or scratch
        os.makedirs(workdir, exist_ok=True)
        for family in args.families.split(","):
            for variant in args.variants.split(","):
                if variant not in VARIANTS:
                    parser.error(f"unknown variant '{variant}'")
                try:
                    reason = run_one(args.tools, family, variant, workdir, parallel, args.seq,
                                     args.mask_tail)
                except Exception as error:  # one failing model must not hide the rest
                    reason = f"{type(error).__name__}: {first_line(str(error))}"
                if reason:
                    failures += 1
                    print(f"FAIL {family}-{variant}: {reason}", flush=True)
                else:
                    print(f"PASS {family}-{variant}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
