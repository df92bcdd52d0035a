"""Shared pieces of the ONNX transformer generators (gpt2.py, llama.py).

The generators write graphs op by op with onnx.helper, in the shapes that torch.onnx writes for
Hugging Face models, so that the compiler's importer meets realistic patterns: scoped node names
(`/transformer/h.0/attn/Gemm`), scalars as Constant nodes, shapes computed with Shape→Gather→
Unsqueeze→Concat when a dimension is dynamic and folded into constants when it is static.
"""

import argparse
import contextlib
import json
import os
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# torch writes `finfo(float32).min` rather than -inf so that a fully masked row stays finite.
FLOAT_MIN = float(np.finfo(np.float32).min)
# Slice's "to the end" as torch writes it.
INT64_MAX = int(np.iinfo(np.int64).max)
# IR 8 is what onnx 1.12/1.13 (opsets 17/18) write; the compiler links libonnx 1.12.
IR_VERSION = 8


class GraphBuilder:
    """Accumulates nodes and initializers, naming them the way torch.onnx does.

    Node names are the module scope plus the op type (`/model/layers.0/self_attn/MatMul_1`) and
    outputs are `<node name>_output_<i>`, so a dumped intermediate reads like a real export's.
    """

    def __init__(self, opset, seed, init_std):
        self.opset = opset
        self.seed = seed
        self.init_std = init_std
        self.nodes = []
        self.initializers = []
        self._scope = []
        self._node_counts = {}
        self._initializer_names = set()

    # ----- naming

    @contextlib.contextmanager
    def scope(self, name):
        self._scope.append(name)
        try:
            yield
        finally:
            self._scope.pop()

    def _node_name(self, op_type):
        base = "/" + "/".join(self._scope + [op_type])
        count = self._node_counts.get(base, 0)
        self._node_counts[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    # ----- nodes

    def op(self, op_type, *inputs, outputs=1, output_name=None, **attrs):
        """Appends one node; returns its output name, or a list of names when outputs > 1.

        An input of "" is an omitted optional input. output_name fixes the (single) output's name,
        for graph outputs."""
        name = self._node_name(op_type)
        if output_name is not None:
            assert outputs == 1
            names = [output_name]
        else:
            names = [f"{name}_output_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=name, **attrs))
        return names[0] if outputs == 1 else names

    def const(self, value, dtype):
        """A Constant node: torch writes scalars and short shape vectors this way, not as
        initializers."""
        array = np.asarray(value, dtype=dtype)
        return self.op("Constant", value=numpy_helper.from_array(array))

    def i64(self, value):
        return self.const(value, np.int64)

    def f32(self, value):
        return self.const(value, np.float32)

    # ----- initializers

    def initializer(self, name, array):
        assert name not in self._initializer_names, name
        self._initializer_names.add(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def parameter(self, name, shape, kind="weight"):
        """A float32 trainable tensor, drawn from a generator seeded by (seed, name).

        Seeding per name keeps every tensor's values independent of which options built the graph,
        so variants that compute the same function (opsets, mask styles, ...) give the same logits.
        Unlike HF's init, biases and norm gains get a little noise too, so that a test comparing
        against a reference notices when one of them is dropped or misapplied."""
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        noise = rng.normal(0.0, self.init_std, size=shape)
        base = {"weight": 0.0, "bias": 0.0, "gain": 1.0}[kind]
        return self.initializer(name, (base + noise).astype(np.float32))

    # ----- ops whose form depends on the opset

    def reduce_mean(self, x, axes, keepdims=1):
        # Opset 18 moved ReduceMean's axes from an attribute to an input.
        if self.opset >= 18:
            return self.op("ReduceMean", x, self.i64(axes), keepdims=keepdims)
        return self.op("ReduceMean", x, axes=axes, keepdims=keepdims)

    def split_equal(self, x, parts, size, axis):
        """Splits x into `parts` pieces of `size` along axis."""
        # Opset 18 added num_outputs; before it, equal sizes are spelled out in the split input.
        if self.opset >= 18:
            return self.op("Split", x, outputs=parts, axis=axis, num_outputs=parts)
        return self.op("Split", x, self.i64([size] * parts), outputs=parts, axis=axis)

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", x, self.i64(axes))

    def squeeze(self, x, axes):
        return self.op("Squeeze", x, self.i64(axes))

    def slice(self, x, starts, ends, axes):
        """starts/ends are tensor names or lists of ints; axes a list of ints."""
        starts = starts if isinstance(starts, str) else self.i64(starts)
        ends = ends if isinstance(ends, str) else self.i64(ends)
        return self.op("Slice", x, starts, ends, self.i64(axes))

    # ----- shapes

    def size(self, tensor, axis, static):
        """`tensor.size(axis)` as a 0-D int64: a Constant when the size is static, else
        Shape→Gather."""
        if static is not None:
            return self.i64(static)
        return self.op("Gather", self.op("Shape", tensor), self.i64(axis), axis=0)

    def shape_of(self, *parts):
        """A 1-D int64 shape tensor, as torch writes `view(a, b, ...)`.

        Each part is an int, or a (tensor, axis, static) triple for `tensor.size(axis)` whose
        static size is an int or None. Static parts fold into constants; each dynamic one becomes
        Shape→Gather→Unsqueeze, and the pieces are Concat'ed."""
        pieces, pending = [], []
        for part in parts:
            if isinstance(part, tuple) and part[2] is None:
                if pending:
                    pieces.append(self.i64(pending))
                    pending = []
                tensor, axis, _ = part
                pieces.append(self.unsqueeze(self.size(tensor, axis, None), [0]))
            else:
                pending.append(part[2] if isinstance(part, tuple) else part)
        if not pieces:
            return self.i64(pending)
        if pending:
            pieces.append(self.i64(pending))
        return pieces[0] if len(pieces) == 1 else self.op("Concat", *pieces, axis=0)

    # ----- the model

    def make_model(self, graph_name, inputs, outputs, metadata):
        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", self.opset)],
            ir_version=IR_VERSION,
            producer_name="sp-models",
        )
        helper.set_model_props(model, {k: str(v) for k, v in metadata.items()})
        return model


# ----- command line


def dim_arg(text):
    """A batch or sequence size: a positive integer, or `dynamic` for a symbolic dim."""
    if text == "dynamic":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'dynamic', got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'dynamic', got {text!r}")
    return value


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_common_args(parser, ffn_default_help, default_mask_style):
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="where to write the model (.onnx)")
    parser.add_argument("--layers", type=positive_int, default=2)
    parser.add_argument("--hidden", type=positive_int, default=64, help="model width")
    parser.add_argument("--heads", type=positive_int, default=4, help="attention heads")
    parser.add_argument("--ffn", type=positive_int, default=None,
                        help=f"MLP inner width (default: {ffn_default_help})")
    parser.add_argument("--vocab", type=positive_int, default=256)
    parser.add_argument("--max-positions", type=positive_int, default=128,
                        help="rows of the position tables and of the folded causal mask; a static "
                             "sequence must not exceed it")
    parser.add_argument("--batch", type=dim_arg, default=None, metavar="N|dynamic",
                        help="batch size, or 'dynamic' for the symbolic dim 'batch' (default)")
    parser.add_argument("--sequence", type=dim_arg, default=None, metavar="N|dynamic",
                        help="sequence length, or 'dynamic' for the symbolic dim 'sequence' "
                             "(default)")
    parser.add_argument("--opset", type=int, choices=[17, 18], default=17)
    parser.add_argument("--mask", choices=["folded", "computed"], default="computed",
                        help="causal mask: a constant table sliced to the sequence length, or "
                             "computed from the input shape (default)")
    parser.add_argument("--mask-style", choices=["trilu", "compare"], default=default_mask_style,
                        help="how --mask=computed builds it: ConstantOfShape+Trilu (HF >= 4.38), "
                             "or Range and a comparison (HF <= 4.35) "
                             f"(default: {default_mask_style})")
    parser.add_argument("--attention-mask", action="store_true",
                        help="build HF's default all-ones attention_mask from the input shape: "
                             "position ids come from its CumSum and its padding mask is merged "
                             "into the causal mask")
    parser.add_argument("--external-data", action="store_true",
                        help="store the weights (those over 1 KiB) in OUT.data beside the model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights")
    parser.add_argument("--init-std", type=float, default=0.02,
                        help="standard deviation of the weights' normal noise; a larger one "
                             "makes tests see the nonlinearities")


def check_common_args(parser, args):
    if args.hidden % args.heads:
        parser.error(f"--hidden {args.hidden} is not divisible by --heads {args.heads}")
    if args.sequence is not None and args.sequence > args.max_positions:
        parser.error(f"--sequence {args.sequence} exceeds --max-positions {args.max_positions}")


def config_metadata(family, args):
    """Model properties recording what built the model, so a test can tell variants apart."""
    config = {k: v for k, v in vars(args).items() if k != "output"}
    return {"sp.family": family, "sp.config": json.dumps(config, sort_keys=True)}


def io_value_infos(batch, sequence, vocab):
    batch_dim = "batch" if batch is None else batch
    sequence_dim = "sequence" if sequence is None else sequence
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                            [batch_dim, sequence_dim])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                             [batch_dim, sequence_dim, vocab])]
    return inputs, outputs


def save_model(model, path, external_data):
    """Writes the model, and with external_data its weights to `<path>.data` beside it."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = path + ".tmp"
    if external_data:
        location = os.path.basename(path) + ".data"
        # onnx appends to an existing data file, so a stale one would keep growing.
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(directory, location))
        onnx.save_model(model, temporary, save_as_external_data=True,
                        all_tensors_to_one_file=True, location=location)
        # onnx creates the data file owner-only; give it the model file's permissions.
        os.chmod(os.path.join(directory, location), os.stat(temporary).st_mode & 0o777)
    else:
        onnx.save_model(model, temporary)
    # Renaming last means a failed run never leaves a half-written model under the real name.
    os.replace(temporary, path)


# ----- position ids and masks, shared by both families


def default_attention_mask(b, input_ids, batch, sequence):
    """`torch.ones(input_ids.shape, dtype=torch.long)`, what HF models build when no
    attention_mask is passed."""
    shape = b.shape_of((input_ids, 0, batch), (input_ids, 1, sequence))
    return b.op("ConstantOfShape", shape,
                value=numpy_helper.from_array(np.array([1], dtype=np.int64)))


def position_ids(b, input_ids, sequence, attention_mask, folded_name):
    """Position ids, [1, S] (or [B, S] when derived from an attention mask), int64."""
    if attention_mask is not None:
        # HF GPT-2: `attention_mask.long().cumsum(-1) - 1`, then `masked_fill_(mask == 0, 1)`.
        positions = b.op("Sub", b.op("CumSum", attention_mask, b.i64(1)), b.i64(1))
        is_padding = b.op("Equal", attention_mask, b.i64(0))
        return b.op("Where", is_padding, b.i64(1), positions)
    if sequence is not None:
        # A static export folds `arange(S).unsqueeze(0)` into a constant.
        return b.initializer(folded_name, np.arange(sequence, dtype=np.int64)[None, :])
    length = b.size(input_ids, 1, None)
    return b.unsqueeze(b.op("Range", b.i64(0), length, b.i64(1)), [0])


def causal_mask_table(max_positions, window):
    """allowed[i, j]: query i may attend key j (j <= i, and within the window if one is set)."""
    i = np.arange(max_positions)[:, None]
    j = np.arange(max_positions)[None, :]
    allowed = j <= i
    if window:
        allowed &= j > i - window
    return allowed


def attention_bias(b, args, input_ids, attention_mask, table_name, window=0):
    """The additive attention mask, 0 where attention is allowed and FLOAT_MIN (or -inf) where it
    is not, broadcastable to [B, heads, S, S].

    window > 0 limits each query to its `window` latest keys, itself included (sliding-window
    attention, as in Mistral)."""
    batch, sequence = args.batch, args.sequence
    seq = (input_ids, 1, sequence)
    if args.mask == "folded":
        # GPT-2 keeps a bool buffer `bias` of max_positions² and slices the top-left S×S of it.
        table = b.initializer(table_name, causal_mask_table(args.max_positions, window)[None, None])
        ends = b.shape_of(seq, seq)
        allowed = b.slice(table, [0, 0], ends, [2, 3])
        bias = b.op("Where", allowed, b.f32(0.0), b.f32(FLOAT_MIN))
        if attention_mask is not None:
            # HF GPT-2: `(1.0 - attention_mask[:, None, None, :].to(dtype)) * finfo.min`, added.
            keep = b.op("Cast", b.unsqueeze(attention_mask, [1, 2]), to=TensorProto.FLOAT)
            padding = b.op("Mul", b.op("Sub", b.f32(1.0), keep), b.f32(FLOAT_MIN))
            bias = b.op("Add", bias, padding)
        return bias

    def expand(bias):
        """`mask[None, None].expand(B, 1, S, S)`."""
        expanded_shape = b.shape_of((input_ids, 0, batch), 1, seq, seq)
        return b.op("Expand", b.unsqueeze(bias, [0, 1]), expanded_shape)

    if args.mask_style == "trilu":
        if window:
            # Mistral (HF 4.34): tril then triu of a ones matrix, and log() turns 1/0 into 0/-inf.
            ones = b.op("ConstantOfShape", b.shape_of(seq, seq),
                        value=numpy_helper.from_array(np.array([1], dtype=np.int64)))
            band = b.op("Trilu", b.op("Trilu", ones, upper=0), b.i64(-(window - 1)), upper=1)
            bias = b.op("Log", b.op("Cast", band, to=TensorProto.FLOAT))
        else:
            # HF >= 4.38: `triu(full((S, S), min), diagonal=1)`, then zeroed where the key lies
            # at or before the query's cache position (a no-op without a KV cache, but exported).
            full = b.op("ConstantOfShape", b.shape_of(seq, seq),
                        value=numpy_helper.from_array(np.array([FLOAT_MIN], dtype=np.float32)))
            bias = b.op("Trilu", full, b.i64(1), upper=1)
            length = b.size(input_ids, 1, sequence)
            cache_position = b.op("Range", b.i64(0), length, b.i64(1))
            key_position = b.op("Range", b.i64(0), length, b.i64(1))
            after = b.op("Greater", key_position,
                         b.op("Reshape", cache_position, b.i64([-1, 1])))
            bias = b.op("Mul", bias, b.op("Cast", after, to=TensorProto.FLOAT))
        bias = expand(bias)
        if attention_mask is not None:
            # HF >= 4.38: positions where mask + attention_mask == 0 are padding; fill them.
            keep = b.op("Cast", b.unsqueeze(attention_mask, [1, 2]), to=TensorProto.FLOAT)
            is_padding = b.op("Equal", b.op("Add", bias, keep), b.f32(0.0))
            bias = b.op("Where", is_padding, b.f32(FLOAT_MIN), bias)
        return bias

    # compare style, HF <= 4.35 `_make_causal_mask`: fill a min matrix with 0 where
    # `arange(S) < (arange(S) + 1).view(S, 1)`.
    full = b.op("ConstantOfShape", b.shape_of(seq, seq),
                value=numpy_helper.from_array(np.array([FLOAT_MIN], dtype=np.float32)))
    key_position = b.op("Range", b.i64(0), b.size(input_ids, 1, sequence), b.i64(1))
    if window:
        # The mask-function style of later HF: causal AND within the window.
        query_position = b.op("Reshape", key_position, b.shape_of(seq, 1))
        causal = b.op("LessOrEqual", key_position, query_position)
        recent = b.op("Greater", key_position, b.op("Sub", query_position, b.i64(window)))
        allowed = b.op("And", causal, recent)
    else:
        next_query_position = b.op("Reshape", b.op("Add", key_position, b.i64(1)),
                                   b.shape_of(seq, 1))
        allowed = b.op("Less", key_position, next_query_position)
    if attention_mask is None:
        return expand(b.op("Where", allowed, b.f32(0.0), full))
    # Masked where the causal rule forbids it or the key is padding.
    is_padding = b.op("Equal", b.unsqueeze(attention_mask, [1, 2]), b.i64(0))
    masked = b.op("Or", b.op("Not", b.unsqueeze(allowed, [0, 1])), is_padding)
    return b.op("Where", masked, full, b.f32(0.0))
