#!/usr/bin/env python3
"""Writes a GPT-2 style causal language model as ONNX, in the op patterns torch.onnx writes for
Hugging Face's GPT2LMHeadModel.

input_ids int64 [batch, sequence] -> logits float32 [batch, sequence, vocab].

Per block: LayerNormalization (or its opset<17 decomposition), Conv1D projections as
Reshape [B,S,D]->[B*S,D] -> Gemm -> Reshape back, the fused QKV output Split in three, heads split
with Reshape/Transpose, attention decomposed (MatMul with K^T, Div by sqrt(head_dim), additive
causal mask, Softmax, Dropout in inference mode, MatMul with V), GELU decomposed (tanh
approximation or erf), residual Adds. Learned position embeddings; the LM head shares the token
embedding through an Identity unless --untied-lm-head.
"""

import argparse
import math
import sys

import numpy as np

if __package__:
    from . import common
else:
    import common


def conv1d(b, x, prefix, n_in, n_out, args):
    """HF's Conv1D: `addmm(bias, x.view(-1, n_in), weight).view(x.size()[:-1] + (n_out,))`.

    The weight is stored [n_in, n_out], so Gemm uses it untransposed. Merging batch and sequence
    into one dim around the Gemm is the pattern the sequence-parallel pass must keep local."""
    with b.scope(prefix.rsplit(".", 1)[-1]):
        weight = b.parameter(f"{prefix}.weight", [n_in, n_out])
        bias = b.parameter(f"{prefix}.bias", [n_out], kind="bias")
        if args.batch is not None and args.sequence is not None:
            size_out = b.i64([args.batch, args.sequence, n_out])
        else:
            leading = b.slice(b.op("Shape", x), [0], [-1], [0])
            size_out = b.op("Concat", leading, b.i64([n_out]), axis=0)
        rows = b.op("Reshape", x, b.i64([-1, n_in]))
        y = b.op("Gemm", rows, weight, bias, alpha=1.0, beta=1.0)
        return b.op("Reshape", y, size_out)


def layer_norm(b, x, prefix, args):
    with b.scope(prefix.rsplit(".", 1)[-1]):
        weight = b.parameter(f"{prefix}.weight", [args.hidden], kind="gain")
        bias = b.parameter(f"{prefix}.bias", [args.hidden], kind="bias")
        eps = 1e-5
        if args.layer_norm == "op":
            return b.op("LayerNormalization", x, weight, bias, axis=-1, epsilon=eps)
        # What torch.onnx writes for layer_norm below opset 17.
        mean = b.reduce_mean(x, [-1])
        centered = b.op("Sub", x, mean)
        variance = b.reduce_mean(b.op("Pow", centered, b.f32(2.0)), [-1])
        deviation = b.op("Sqrt", b.op("Add", variance, b.f32(eps)))
        normalized = b.op("Div", centered, deviation)
        return b.op("Add", b.op("Mul", normalized, weight), bias)


def gelu(b, x, kind):
    if kind == "tanh":
        # HF gelu_new: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))).
        cube = b.op("Pow", x, b.f32(3.0))
        inner = b.op("Add", x, b.op("Mul", b.f32(0.044715), cube))
        tanh = b.op("Tanh", b.op("Mul", b.f32(math.sqrt(2.0 / math.pi)), inner))
        half_x = b.op("Mul", b.f32(0.5), x)
        return b.op("Mul", half_x, b.op("Add", b.f32(1.0), tanh))
    # torch.onnx's nn.GELU(): x * 0.5 * (1 + erf(x / sqrt(2))).
    erf = b.op("Erf", b.op("Div", x, b.f32(math.sqrt(2.0))))
    return b.op("Mul", b.op("Mul", x, b.op("Add", erf, b.f32(1.0))), b.f32(0.5))


def dropout(b, x, ratio, training=False):
    """A Dropout as an export of a model whose config has a dropout probability writes it:
    inference mode (no training_mode input, so it passes x through), or with training_mode true
    as torch.onnx writes it for a model exported in train() mode."""
    if ratio <= 0.0:
        return x
    if training:
        return b.op("Dropout", x, b.f32(ratio), b.const(True, np.bool_))
    return b.op("Dropout", x, b.f32(ratio))


def split_heads(b, x, args, head_dim):
    """`x.view(x.size()[:-1] + (heads, head_dim)).permute(0, 2, 1, 3)`: [B,S,D] -> [B,H,S,hd]."""
    if args.batch is not None and args.sequence is not None:
        shape = b.i64([args.batch, args.sequence, args.heads, head_dim])
    else:
        leading = b.slice(b.op("Shape", x), [0], [-1], [0])
        shape = b.op("Concat", leading, b.i64([args.heads, head_dim]), axis=0)
    return b.op("Transpose", b.op("Reshape", x, shape), perm=[0, 2, 1, 3])


def merge_heads(b, x, args):
    """`x.permute(0, 2, 1, 3)` then `view(x.size()[:-2] + (hidden,))`: [B,H,S,hd] -> [B,S,D]."""
    x = b.op("Transpose", x, perm=[0, 2, 1, 3])
    if args.batch is not None and args.sequence is not None:
        shape = b.i64([args.batch, args.sequence, args.hidden])
    else:
        leading = b.slice(b.op("Shape", x), [0], [-2], [0])
        shape = b.op("Concat", leading, b.i64([args.hidden]), axis=0)
    return b.op("Reshape", x, shape)


def attention(b, x, prefix, bias_mask, args):
    head_dim = args.hidden // args.heads
    with b.scope("attn"):
        qkv = conv1d(b, x, f"{prefix}.attn.c_attn", args.hidden, 3 * args.hidden, args)
        query, key, value = b.split_equal(qkv, 3, args.hidden, axis=2)
        query = split_heads(b, query, args, head_dim)
        key = split_heads(b, key, args, head_dim)
        value = split_heads(b, value, args, head_dim)
        scores = b.op("MatMul", query, b.op("Transpose", key, perm=[0, 1, 3, 2]))
        # HF GPT-2 divides by `torch.full([], head_dim ** 0.5)`.
        scores = b.op("Div", scores, b.f32(math.sqrt(head_dim)))
        scores = b.op("Add", scores, bias_mask)
        probs = b.op("Softmax", scores, axis=-1)
        with b.scope("attn_dropout"):
            probs = dropout(b, probs, args.attention_dropout, args.dropout_training)
        context = merge_heads(b, b.op("MatMul", probs, value), args)
        out = conv1d(b, context, f"{prefix}.attn.c_proj", args.hidden, args.hidden, args)
        with b.scope("resid_dropout"):
            return dropout(b, out, args.dropout, args.dropout_training)


def mlp(b, x, prefix, args):
    with b.scope("mlp"):
        hidden = conv1d(b, x, f"{prefix}.mlp.c_fc", args.hidden, args.ffn, args)
        with b.scope("act"):
            hidden = gelu(b, hidden, args.gelu)
        out = conv1d(b, hidden, f"{prefix}.mlp.c_proj", args.ffn, args.hidden, args)
        with b.scope("dropout"):
            return dropout(b, out, args.dropout, args.dropout_training)


def block(b, h, index, bias_mask, args):
    prefix = f"transformer.h.{index}"
    with b.scope(f"h.{index}"):
        h = b.op("Add", attention(b, layer_norm(b, h, f"{prefix}.ln_1", args), prefix,
                                  bias_mask, args), h)
        return b.op("Add", mlp(b, layer_norm(b, h, f"{prefix}.ln_2", args), prefix, args), h)


def build(args):
    b = common.GraphBuilder(args.opset, args.seed, args.init_std)
    ids = "input_ids"
    with b.scope("transformer"):
        attention_mask = None
        if args.attention_mask:
            attention_mask = common.default_attention_mask(b, ids, args.batch, args.sequence)
        positions = common.position_ids(b, ids, args.sequence, attention_mask,
                                        "transformer.position_ids")
        wte = b.parameter("transformer.wte.weight", [args.vocab, args.hidden])
        wpe = b.parameter("transformer.wpe.weight", [args.max_positions, args.hidden])
        with b.scope("wte"):
            tokens = b.op("Gather", wte, ids)
        with b.scope("wpe"):
            places = b.op("Gather", wpe, positions)
        h = b.op("Add", tokens, places)
        with b.scope("drop"):
            h = dropout(b, h, args.dropout, args.dropout_training)
        bias_mask = common.attention_bias(b, args, ids, attention_mask, "transformer.causal_mask")
        for index in range(args.layers):
            h = block(b, h, index, bias_mask, args)
        h = layer_norm(b, h, "transformer.ln_f", args)
    with b.scope("lm_head"):
        if args.untied_lm_head:
            head = b.parameter("lm_head.weight", [args.vocab, args.hidden])
        else:
            # One initializer serves both uses, so training updates the tied weight once.
            head = b.op("Identity", wte)
        logits = b.op("MatMul", h, b.op("Transpose", head, perm=[1, 0]), output_name="logits")
    assert logits == "logits"
    inputs, outputs = common.io_value_infos(args.batch, args.sequence, args.vocab)
    return b.make_model("gpt2", inputs, outputs, common.config_metadata("gpt2", args))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_common_args(parser, "4 x hidden", "trilu")
    parser.add_argument("--gelu", choices=["tanh", "erf"], default="tanh",
                        help="GELU: HF gelu_new's tanh approximation, or exact erf")
    parser.add_argument("--layer-norm", choices=["op", "decomposed"], default="op",
                        help="the opset-17 LayerNormalization op, or the ReduceMean/Sub/Pow/Sqrt/"
                             "Div form torch writes below opset 17")
    parser.add_argument("--untied-lm-head", action="store_true",
                        help="give the LM head its own weight instead of sharing wte's")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="ratio of the Dropout nodes; 0 writes none")
    parser.add_argument("--attention-dropout", type=float, default=None,
                        help="ratio of the Dropout on the attention probabilities (HF's "
                             "attn_pdrop); default --dropout's")
    parser.add_argument("--dropout-training", action="store_true",
                        help="write the Dropout nodes in training mode (training_mode true), as an "
                             "export in train() mode does")
    args = parser.parse_args(argv)
    common.check_common_args(parser, args)
    if args.ffn is None:
        args.ffn = 4 * args.hidden
    if args.attention_dropout is None:
        args.attention_dropout = args.dropout
    for flag, ratio in (("--dropout", args.dropout),
                        ("--attention-dropout", args.attention_dropout)):
        if not 0.0 <= ratio < 1.0:
            parser.error(f"{flag} {ratio} is outside [0, 1)")
    return args


def main(argv=None):
    args = parse_args(argv)
    common.save_model(build(args), args.output, args.external_data)


if __name__ == "__main__":
    sys.exit(main())
