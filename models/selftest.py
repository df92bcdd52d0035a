#!/usr/bin/env python3
"""Generates every variant of both families and checks each one: onnx.checker, onnxruntime,
the causal check, and its logits against a plain numpy forward pass of the same weights.

The variants that compute the same function (opsets, static or dynamic dims, mask and rotary
styles, external data, ...) must all match the one reference, which is what shows that every op
pattern the generators write means what it should.

    models/selftest.py            # the full matrix (about a thousand models; a minute or two)
    models/selftest.py --quick    # one model per value of each option
"""

import argparse
import itertools
import math
import multiprocessing
import os
import sys
import tempfile
import traceback

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402
import common  # noqa: E402
import gpt2  # noqa: E402
import llama  # noqa: E402

# Weights this large make the nonlinearities matter: GELU's tanh and erf forms then differ by
# ~1e-3 in the logits, while float32 onnxruntime stays within ~2e-6 per unit of logit of the
# float64 reference.
INIT_STD = "0.2"
REFERENCE_RTOL = 2e-5

SHAPES = [["--batch", "dynamic", "--sequence", "dynamic"],
          ["--batch", "2", "--sequence", "16"],
          ["--batch", "dynamic", "--sequence", "16"],
          ["--batch", "3", "--sequence", "dynamic"]]
MASKS = [["--mask", "folded"],
         ["--mask", "computed", "--mask-style", "trilu"],
         ["--mask", "computed", "--mask-style", "compare"]]


# ----- numpy references


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def causal_allowed(length, window):
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    allowed = j <= i
    if window:
        allowed &= j > i - window
    return allowed


def attend(q, k, v, allowed):
    """q [B,H,S,hd], k/v [B,H,S,hd] -> [B,S,H*hd]."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    probs = softmax(np.where(allowed, scores, -np.inf))
    out = probs @ v
    batch, heads, length, head_dim = out.shape
    return out.transpose(0, 2, 1, 3).reshape(batch, length, heads * head_dim)


def gpt2_reference(w, args, ids):
    batch, length = ids.shape
    heads, head_dim = args.heads, args.hidden // args.heads

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-5) * w[prefix + ".weight"] + w[prefix + ".bias"]

    def conv1d(x, prefix):
        return x @ w[prefix + ".weight"] + w[prefix + ".bias"]

    def split_heads(x):
        return x.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

    def gelu(x):
        if args.gelu == "tanh":
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))

    h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][np.arange(length)]
    allowed = causal_allowed(length, 0)
    for index in range(args.layers):
        p = f"transformer.h.{index}"
        q, k, v = np.split(conv1d(layer_norm(h, p + ".ln_1"), p + ".attn.c_attn"), 3, axis=-1)
        h = h + conv1d(attend(split_heads(q), split_heads(k), split_heads(v), allowed),
                       p + ".attn.c_proj")
        inner = gelu(conv1d(layer_norm(h, p + ".ln_2"), p + ".mlp.c_fc"))
        h = h + conv1d(inner, p + ".mlp.c_proj")
    h = layer_norm(h, "transformer.ln_f")
    head = w["lm_head.weight"] if args.untied_lm_head else w["transformer.wte.weight"]
    return h @ head.T


def llama_reference(w, args, ids):
    batch, length = ids.shape
    heads, kv_heads, head_dim = args.heads, args.kv_heads, args.hidden // args.heads

    def rms_norm(x, name):
        return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + args.rms_eps) * w[name]

    def project(x, name, n_heads):
        y = x @ w[name].T
        return y.reshape(batch, length, n_heads, head_dim).transpose(0, 2, 1, 3)

    inv_freq = 1.0 / args.rope_theta ** (np.arange(0, head_dim, 2) / head_dim)
    angles = np.outer(np.arange(length), inv_freq)
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(angles), np.sin(angles)

    def rotary(x):
        half = head_dim // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    allowed = causal_allowed(length, args.sliding_window)
    h = w["model.embed_tokens.weight"][ids]
    for index in range(args.layers):
        p = f"model.layers.{index}"
        x = rms_norm(h, p + ".input_layernorm.weight")
        q = rotary(project(x, p + ".self_attn.q_proj.weight", heads))
        k = rotary(project(x, p + ".self_attn.k_proj.weight", kv_heads))
        v = project(x, p + ".self_attn.v_proj.weight", kv_heads)
        # Query head i uses KV head i // (heads / kv_heads).
        k = np.repeat(k, heads // kv_heads, axis=1)
        v = np.repeat(v, heads // kv_heads, axis=1)
        h = h + attend(q, k, v, allowed) @ w[p + ".self_attn.o_proj.weight"].T
        x = rms_norm(h, p + ".post_attention_layernorm.weight")
        gate = x @ w[p + ".mlp.gate_proj.weight"].T
        up = x @ w[p + ".mlp.up_proj.weight"].T
        h = h + (gate / (1 + np.exp(-gate)) * up) @ w[p + ".mlp.down_proj.weight"].T
    return rms_norm(h, "model.norm.weight") @ w["lm_head.weight"].T


FAMILIES = {"gpt2": (gpt2, gpt2_reference), "llama": (llama, llama_reference)}


# ----- the matrix


def gpt2_variants(quick):
    # Options that change the graph's structure are crossed in full; the rest rotate.
    rotating = [["--gelu", "tanh"], ["--gelu", "erf"]], \
        [["--layer-norm", "op"], ["--layer-norm", "decomposed"]], \
        [[], ["--untied-lm-head"]], [[], ["--dropout", "0"]]
    crossed = [[["--opset", "17"], ["--opset", "18"]], SHAPES, MASKS,
               [[], ["--attention-mask"]], [[], ["--external-data"]]]
    return combine(crossed, rotating, quick)


def llama_variants(quick):
    rotating = [["--rms-norm", "rsqrt"], ["--rms-norm", "div"]], \
        [[], ["--sliding-window", "3"], ["--sliding-window", "5"]]
    crossed = [[["--opset", "17"], ["--opset", "18"]], SHAPES, MASKS,
               [[], ["--attention-mask"]], [[], ["--external-data"]],
               [["--kv-heads", "1"], ["--kv-heads", "2"], ["--kv-heads", "4"]],
               [["--rope", "folded"], ["--rope", "matmul"], ["--rope", "mul"]]]
    return combine(crossed, rotating, quick)


def combine(crossed, rotating, quick):
    """The full product of `crossed`, each variant with one value of every `rotating` option,
    drawn from a fixed-seed generator; with quick, just enough variants to show every value of
    every option once."""
    rng = np.random.default_rng(0)
    if quick:
        groups = list(crossed) + list(rotating)
        count = max(len(g) for g in groups)
        return [sum((g[i % len(g)] for g in groups), []) for i in range(count)]
    variants = []
    for chosen in itertools.product(*crossed):
        picked = [g[rng.integers(len(g))] for g in rotating]
        variants.append(sum(chosen, []) + sum(picked, []))
    return variants


def run_case(case):
    family, options = case
    module, reference = FAMILIES[family]
    try:
        args = module.parse_args(["-o", "unused.onnx", "--init-std", INIT_STD] + options)
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, f"{family}.onnx")
            common.save_model(module.build(args), path, args.external_data)
            if args.external_data and not os.path.exists(path + ".data"):
                return case, "no external data file was written"
            _, ids, logits = check.check(path, batch=2, sequence=16, causal=True)
            weights = {t.name: numpy_helper.to_array(t).astype(np.float64)
                       for t in onnx.load(path).graph.initializer}
        expected = reference(weights, args, ids)
        error = float(np.max(np.abs(expected - logits)))
        if error > REFERENCE_RTOL * max(1.0, float(np.max(np.abs(expected)))):
            return case, f"logits differ from the numpy reference by {error:.3g}"
        return case, None
    except check.CheckError as error:
        return case, str(error)
    except Exception:
        return case, traceback.format_exc()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one variant per value of each option instead of the full matrix")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="parallel workers")
    args = parser.parse_args(argv)
    cases = [("gpt2", v) for v in gpt2_variants(args.quick)] + \
            [("llama", v) for v in llama_variants(args.quick)]
    with multiprocessing.Pool(args.jobs) as pool:
        results = pool.map(run_case, cases, chunksize=4)
    failures = [(case, error) for case, error in results if error]
    for (family, options), error in failures:
        print(f"FAIL {family} {' '.join(options)}: {error}", file=sys.stderr)
    print(f"{len(cases) - len(failures)}/{len(cases)} variants passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
