#!/usr/bin/env python3
"""Writes a Llama style causal language model as ONNX, in the op patterns torch.onnx writes for
Hugging Face's LlamaForCausalLM (and Mistral's sliding window, with --sliding-window).

input_ids int64 [batch, sequence] -> logits float32 [batch, sequence, vocab].

Per block: RMSNorm decomposed (Pow, ReduceMean, Add eps, Sqrt, Reciprocal or Div, Mul, Mul by the
gain), bias-free projections as Transpose(weight) -> MatMul, heads split with Reshape/Transpose,
rotary embeddings with rotate_half as Slice/Neg/Concat, grouped-query attention whose K/V heads
are repeated the way repeat_kv does (Unsqueeze, Expand, Reshape), attention decomposed (MatMul
with K^T, Mul by head_dim^-0.5, additive mask, Max with finfo.min, Softmax), a SwiGLU MLP, and
residual Adds. The LM head has its own weight.
"""

import argparse
import math
import sys

import numpy as np
from onnx import TensorProto

if __package__:
    from . import common
else:
    import common


def linear(b, x, name, n_in, n_out):
    """A bias-free nn.Linear: the weight keeps HF's [out, in] layout and name, and is transposed
    in the graph (torch.onnx without constant folding; folding would rename it)."""
    with b.scope(name.split(".")[-2]):
        weight = b.parameter(name, [n_out, n_in])
        return b.op("MatMul", x, b.op("Transpose", weight, perm=[1, 0]))


def rms_norm(b, x, prefix, args):
    with b.scope(prefix.rsplit(".", 1)[-1]):
        gain = b.parameter(f"{prefix}.weight", [args.hidden], kind="gain")
        variance = b.reduce_mean(b.op("Pow", x, b.f32(2.0)), [-1])
        deviation = b.op("Sqrt", b.op("Add", variance, b.f32(args.rms_eps)))
        if args.rms_norm == "rsqrt":
            # `x * torch.rsqrt(variance + eps)`; torch.onnx writes rsqrt as Reciprocal(Sqrt).
            normalized = b.op("Mul", x, b.op("Reciprocal", deviation))
        else:
            normalized = b.op("Div", x, deviation)
        return b.op("Mul", gain, normalized)


def inverse_frequencies(head_dim, theta):
    """HF's `1 / theta ** (arange(0, head_dim, 2) / head_dim)`, float32 [head_dim / 2]."""
    exponents = np.arange(0, head_dim, 2, dtype=np.float32) / head_dim
    return (1.0 / (theta ** exponents)).astype(np.float32)


def rotary_tables(max_positions, head_dim, theta):
    """cos and sin of position × frequency, [max_positions, head_dim], halves repeated."""
    positions = np.arange(max_positions, dtype=np.float32)
    freqs = np.outer(positions, inverse_frequencies(head_dim, theta)).astype(np.float32)
    angles = np.concatenate([freqs, freqs], axis=-1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def rotary_embedding(b, args, input_ids, positions, positions_batch):
    """cos and sin for each position, [P, 1, S, head_dim] where P is positions' batch (1 unless
    the positions come from an attention mask), ready to broadcast against [B, heads, S, hd]."""
    head_dim = args.hidden // args.heads
    sequence = (input_ids, 1, args.sequence)
    if args.rope == "folded":
        # HF <= 4.37: `cos_cached[:, :, :seq_len]` of a [1, 1, max_positions, hd] buffer, squeezed
        # and indexed by position_ids in apply_rotary_pos_emb.
        cos_table, sin_table = rotary_tables(args.max_positions, head_dim, args.rope_theta)
        tables = []
        for name, table in (("cos", cos_table), ("sin", sin_table)):
            cached = b.initializer(f"model.rotary_emb.{name}_cached", table[None, None])
            table = b.slice(cached, [0], b.shape_of(sequence), [2])
            table = b.squeeze(b.squeeze(table, [1]), [0])
            tables.append(b.unsqueeze(b.op("Gather", table, positions), [1]))
        return tables

    if args.rope == "mul":
        # GPT-NeoX style: the outer product `arange(S) ⊗ inv_freq` by Mul, inv_freq computed in
        # the graph as exp(arange(0, hd, 2) * -ln(theta) / hd); the rows are then indexed by
        # position_ids.
        steps = b.op("Cast", b.op("Range", b.i64(0), b.i64(head_dim), b.i64(2)),
                     to=TensorProto.FLOAT)
        inv_freq = b.op("Exp", b.op("Mul", steps, b.f32(-math.log(args.rope_theta) / head_dim)))
        times = b.op("Cast", b.op("Range", b.i64(0), b.size(input_ids, 1, args.sequence),
                                  b.i64(1)), to=TensorProto.FLOAT)
        freqs = b.op("Mul", b.unsqueeze(times, [1]), b.unsqueeze(inv_freq, [0]))
        angles = b.op("Concat", freqs, freqs, axis=-1)
        return [b.unsqueeze(b.op("Gather", b.op(trig, angles), positions), [1])
                for trig in ("Cos", "Sin")]

    # HF >= 4.38 LlamaRotaryEmbedding: `inv_freq[None, :, None].expand(P, -1, 1) @
    # position_ids[:, None, :].float()`, transposed; angles scaled by attention_scaling (1.0).
    inv_freq = b.initializer("model.rotary_emb.inv_freq",
                             inverse_frequencies(head_dim, args.rope_theta))
    expanded = b.op("Expand", b.unsqueeze(inv_freq, [0, 2]),
                    b.shape_of((positions, 0, positions_batch), 1, 1))
    times = b.op("Cast", b.unsqueeze(positions, [1]), to=TensorProto.FLOAT)
    freqs = b.op("Transpose", b.op("MatMul", expanded, times), perm=[0, 2, 1])
    angles = b.op("Concat", freqs, freqs, axis=-1)
    return [b.unsqueeze(b.op("Mul", b.op(trig, angles), b.f32(1.0)), [1])
            for trig in ("Cos", "Sin")]


def rotate_half(b, x, head_dim):
    """`cat((-x[..., hd/2:], x[..., :hd/2]), -1)`."""
    first = b.slice(x, [0], [head_dim // 2], [-1])
    second = b.slice(x, [head_dim // 2], [common.INT64_MAX], [-1])
    return b.op("Concat", b.op("Neg", second), first, axis=-1)


def apply_rotary(b, x, cos, sin, head_dim):
    return b.op("Add", b.op("Mul", x, cos), b.op("Mul", rotate_half(b, x, head_dim), sin))


def repeat_kv(b, x, args, head_dim):
    """HF repeat_kv: [B, kv, S, hd] -> [B, kv * n_rep, S, hd], each KV head serving n_rep
    consecutive query heads."""
    repeats = args.heads // args.kv_heads
    if repeats == 1:
        return x
    batch, length = (x, 0, args.batch), (x, 2, args.sequence)
    x = b.op("Expand", b.unsqueeze(x, [2]),
             b.shape_of(batch, args.kv_heads, repeats, length, head_dim))
    return b.op("Reshape", x, b.shape_of(batch, args.heads, length, head_dim))


def attention(b, x, prefix, cos, sin, bias_mask, args):
    head_dim = args.hidden // args.heads
    with b.scope("self_attn"):
        # `hidden_shape = (*hidden_states.shape[:-1], -1, head_dim)`.
        hidden_shape = b.shape_of((x, 0, args.batch), (x, 1, args.sequence), -1, head_dim)
        kv_width = args.kv_heads * head_dim

        def heads(name, width):
            projected = linear(b, x, f"{prefix}.self_attn.{name}.weight", args.hidden, width)
            return b.op("Transpose", b.op("Reshape", projected, hidden_shape), perm=[0, 2, 1, 3])

        query = heads("q_proj", args.hidden)
        key = heads("k_proj", kv_width)
        value = heads("v_proj", kv_width)
        query = apply_rotary(b, query, cos, sin, head_dim)
        key = apply_rotary(b, key, cos, sin, head_dim)
        key = repeat_kv(b, key, args, head_dim)
        value = repeat_kv(b, value, args, head_dim)

        scores = b.op("MatMul", query, b.op("Transpose", key, perm=[0, 1, 3, 2]))
        scores = b.op("Mul", scores, b.f32(head_dim ** -0.5))
        scores = b.op("Add", scores, bias_mask)
        # HF <= 4.35: `torch.max(attn_weights, finfo.min)`, so that a mask summed from several
        # parts (which may reach -inf) cannot push a score below finfo.min.
        scores = b.op("Max", scores, b.f32(common.FLOAT_MIN))
        # `softmax(..., dtype=torch.float32)` writes a Cast, a no-op in a float32 model.
        probs = b.op("Cast", b.op("Softmax", scores, axis=-1), to=TensorProto.FLOAT)
        context = b.op("Transpose", b.op("MatMul", probs, value), perm=[0, 2, 1, 3])
        context = b.op("Reshape", context,
                       b.shape_of((x, 0, args.batch), (x, 1, args.sequence), -1))
        return linear(b, context, f"{prefix}.self_attn.o_proj.weight", args.hidden, args.hidden)


def mlp(b, x, prefix, args):
    """SwiGLU: down(silu(gate(x)) * up(x)), silu written as x * Sigmoid(x)."""
    with b.scope("mlp"):
        gate = linear(b, x, f"{prefix}.mlp.gate_proj.weight", args.hidden, args.ffn)
        with b.scope("act_fn"):
            gate = b.op("Mul", gate, b.op("Sigmoid", gate))
        up = linear(b, x, f"{prefix}.mlp.up_proj.weight", args.hidden, args.ffn)
        return linear(b, b.op("Mul", gate, up), f"{prefix}.mlp.down_proj.weight", args.ffn,
                      args.hidden)


def decoder_layer(b, h, index, cos, sin, bias_mask, args):
    prefix = f"model.layers.{index}"
    with b.scope(f"layers.{index}"):
        normed = rms_norm(b, h, f"{prefix}.input_layernorm", args)
        h = b.op("Add", h, attention(b, normed, prefix, cos, sin, bias_mask, args))
        normed = rms_norm(b, h, f"{prefix}.post_attention_layernorm", args)
        return b.op("Add", h, mlp(b, normed, prefix, args))


def build(args):
    b = common.GraphBuilder(args.opset, args.seed, args.init_std)
    ids = "input_ids"
    with b.scope("model"):
        attention_mask = None
        if args.attention_mask:
            attention_mask = common.default_attention_mask(b, ids, args.batch, args.sequence)
        positions = common.position_ids(b, ids, args.sequence, attention_mask,
                                        "model.position_ids")
        # The batch of position_ids: the input's with an attention mask, else 1.
        positions_batch = args.batch if attention_mask is not None else 1
        with b.scope("embed_tokens"):
            table = b.parameter("model.embed_tokens.weight", [args.vocab, args.hidden])
            h = b.op("Gather", table, ids)
        with b.scope("rotary_emb"):
            cos, sin = rotary_embedding(b, args, ids, positions, positions_batch)
        bias_mask = common.attention_bias(b, args, ids, attention_mask, "model.causal_mask",
                                          window=args.sliding_window)
        for index in range(args.layers):
            h = decoder_layer(b, h, index, cos, sin, bias_mask, args)
        h = rms_norm(b, h, "model.norm", args)
    with b.scope("lm_head"):
        head = b.parameter("lm_head.weight", [args.vocab, args.hidden])
        b.op("MatMul", h, b.op("Transpose", head, perm=[1, 0]), output_name="logits")
    inputs, outputs = common.io_value_infos(args.batch, args.sequence, args.vocab)
    return b.make_model("llama", inputs, outputs, common.config_metadata("llama", args))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    common.add_common_args(parser, "172", "compare")
    parser.add_argument("--kv-heads", type=common.positive_int, default=2,
                        help="key/value heads (grouped-query attention when fewer than --heads)")
    parser.add_argument("--rope", choices=["folded", "matmul", "mul"], default="matmul",
                        help="rotary tables: constants sliced to the sequence (HF <= 4.37), "
                             "inv_freq MatMul positions (HF >= 4.38), or an outer product by Mul "
                             "with inv_freq computed in the graph")
    parser.add_argument("--rope-theta", type=float, default=10000.0)
    parser.add_argument("--rms-norm", choices=["rsqrt", "div"], default="rsqrt",
                        help="normalize by x * Reciprocal(Sqrt(.)) or x / Sqrt(.)")
    parser.add_argument("--rms-eps", type=float, default=1e-6)
    parser.add_argument("--sliding-window", type=int, default=0, metavar="W",
                        help="let each query see only its W latest keys, itself included "
                             "(Mistral); 0 for full causal attention")
    args = parser.parse_args(argv)
    common.check_common_args(parser, args)
    if args.ffn is None:
        args.ffn = 172
    if args.heads % args.kv_heads:
        parser.error(f"--heads {args.heads} is not divisible by --kv-heads {args.kv_heads}")
    if (args.hidden // args.heads) % 2:
        parser.error(f"head size {args.hidden // args.heads} is odd; rotary embeddings "
                     "rotate pairs")
    if args.sliding_window < 0:
        parser.error(f"--sliding-window {args.sliding_window} is negative")
    return args


def main(argv=None):
    args = parse_args(argv)
    common.save_model(build(args), args.output, args.external_data)


if __name__ == "__main__":
    sys.exit(main())
