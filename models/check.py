#!/usr/bin/env python3
"""Checks that a generated model is valid and runs: onnx.checker with full shape inference, no
unused nodes or initializers, then onnxruntime on random input_ids; prints the logits' shape.

With --causal-check it also changes one later token and requires the logits of every earlier
position to stay the same (and those from that position on to change); for a dynamic sequence it
also requires a prefix of the input to give the prefix of the logits.

Exits 1 with one line on stderr when anything fails.
"""

import argparse
import sys

import numpy as np
import onnx
import onnxruntime as ort

# Earlier positions must agree to this absolute tolerance after a later token changes; in
# practice they are bit-identical, since masked probabilities underflow to exactly 0.
CAUSAL_ATOL = 1e-5


class CheckError(Exception):
    pass


def symbolic_dims(value_info):
    return [d.dim_param if d.dim_param else d.dim_value
            for d in value_info.type.tensor_type.shape.dim]


def input_shape(model, batch, sequence):
    """The input_ids shape to run: the model's static dims, the given sizes for dynamic ones."""
    inputs = [i for i in model.graph.input if i.name == "input_ids"]
    if not inputs:
        raise CheckError("the model has no input 'input_ids'")
    dims = symbolic_dims(inputs[0])
    if len(dims) != 2:
        raise CheckError(f"input_ids has rank {len(dims)}, expected 2")
    return tuple(d if isinstance(d, int) and d > 0 else default
                 for d, default in zip(dims, (batch, sequence)))


def vocab_size(model):
    outputs = [o for o in model.graph.output if o.name == "logits"]
    if not outputs:
        raise CheckError("the model has no output 'logits'")
    dims = symbolic_dims(outputs[0])
    if len(dims) != 3 or not isinstance(dims[2], int) or dims[2] <= 0:
        raise CheckError(f"logits has shape {dims}, expected [batch, sequence, vocab]")
    return dims[2]


def unused_values(model):
    """Node outputs and initializers nothing reads: an exporter would have pruned them, and
    runtimes warn about them."""
    used = {name for node in model.graph.node for name in node.input}
    used |= {output.name for output in model.graph.output}
    dead = [f"node {node.name} output {name}" for node in model.graph.node
            for name in node.output if name and name not in used]
    dead += [f"initializer {init.name}" for init in model.graph.initializer
             if init.name not in used]
    return dead


def run(session, input_ids):
    (logits,) = session.run(["logits"], {"input_ids": input_ids})
    if logits.dtype != np.float32:
        raise CheckError(f"logits are {logits.dtype}, expected float32")
    expected = input_ids.shape + (logits.shape[-1],)
    if logits.shape != expected:
        raise CheckError(f"logits shape {logits.shape} for input_ids {input_ids.shape}, "
                         f"expected {expected}")
    if not np.all(np.isfinite(logits)):
        raise CheckError(f"logits for input_ids {input_ids.shape} are not all finite")
    return logits


def causal_check(session, input_ids, logits, vocab, sequence_is_dynamic):
    """Returns a one-line summary; raises CheckError when the model looks at later tokens."""
    length = input_ids.shape[1]
    if length < 2:
        raise CheckError("--causal-check needs a sequence of at least 2 tokens")
    notes = []
    for position in sorted({1, length // 2, length - 1}):
        changed = input_ids.copy()
        changed[:, position] = (changed[:, position] + 1) % vocab
        other = run(session, changed)
        before = float(np.max(np.abs(other[:, :position] - logits[:, :position])))
        after = float(np.max(np.abs(other[:, position] - logits[:, position])))
        if before > CAUSAL_ATOL:
            raise CheckError(f"changing token {position} changed earlier logits by {before:.3g}")
        if after == 0.0:
            raise CheckError(f"changing token {position} left its own logits unchanged")
        notes.append(f"t={position}: before {before:.2g}, at {after:.2g}")
    if sequence_is_dynamic:
        prefix = length // 2
        short = run(session, np.ascontiguousarray(input_ids[:, :prefix]))
        diff = float(np.max(np.abs(short - logits[:, :prefix])))
        if diff > CAUSAL_ATOL:
            raise CheckError(f"a {prefix}-token prefix gives logits {diff:.3g} away from the "
                             f"first {prefix} of the full run")
        notes.append(f"prefix {prefix}: {diff:.2g}")
    return "causal ok (" + "; ".join(notes) + ")"


def check(path, batch=2, sequence=16, seed=0, causal=False):
    """Runs every check on the model at path; returns the lines to print, the input_ids and
    the logits."""
    try:
        onnx.checker.check_model(path, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        raise CheckError("onnx.checker: " + str(error).strip().splitlines()[0])
    # Without its weights: enough for the shapes, and external data stays on disk.
    model = onnx.load(path, load_external_data=False)
    dead = unused_values(model)
    if dead:
        raise CheckError(f"{len(dead)} unused values, first: {dead[0]}")
    shape = input_shape(model, batch, sequence)
    vocab = vocab_size(model)
    options = ort.SessionOptions()
    # Run the graph as written, not onnxruntime's fusions of it: those ops are what the importer
    # sees. Failures come back as exceptions, so its own log would only repeat them.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(0, vocab, size=shape, dtype=np.int64)
    logits = run(session, input_ids)
    lines = [f"{path}: checker ok; logits {tuple(logits.shape)} float32, finite"]
    if causal:
        sequence_dim = symbolic_dims(model.graph.input[0])[1]
        sequence_is_dynamic = not (isinstance(sequence_dim, int) and sequence_dim > 0)
        lines.append(causal_check(session, input_ids, logits, vocab, sequence_is_dynamic))
    return lines, input_ids, logits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", metavar="MODEL.onnx")
    parser.add_argument("--batch", type=int, default=2, help="batch size for a dynamic batch dim")
    parser.add_argument("--sequence", type=int, default=16,
                        help="sequence length for a dynamic sequence dim")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random input_ids")
    parser.add_argument("--causal-check", action="store_true",
                        help="check that no position's logits depend on later tokens")
    args = parser.parse_args(argv)
    try:
        lines, _, _ = check(args.model, args.batch, args.sequence, args.seed, args.causal_check)
    except CheckError as error:
        print(f"{args.model}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # onnxruntime and onnx raise assorted types for bad files
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{args.model}: {message}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
