#!/usr/bin/env python3
"""The collectives across ranks: hand-written plans under mpirun against NumPy.

Usage: collectives_test.py TOOLS_DIR RANKS

For RANKS ranks (mpirun --oversubscribe -np RANKS) and each sequence layout
(contiguous and zigzag), one plan runs every collective blocking and started
(all_gather, reduce_scatter, all_reduce, all_to_all and back, ring_shift by 1
and -1, shard_slice, shard_unslice, five starts in flight at once waited in
another order), and its dump must equal NumPy's. Each result is declared an
output split along dim 0 (its batch dim), so the dump gathers every rank's
own result; a copy of the sequence-split input is declared split along the
sequence, so the dump must read back the whole input in sequence order.

A hand-written sequence-parallel module goes through sp-plan-memory and
sp-emit-plan (collectives started and waited with compute in between, split
inputs and outputs, the zigzag layout) and runs as NumPy says.

Then: a plan for RANKS ranks run on another count fails with one line; a step
that fails on one rank (a token id out of range in its shard) ends every rank
with one line instead of a hang; and a small training plan fed by --data
(every rank builds the whole batch and keeps its shard) sums its gradient
across ranks, dumps what one rank would, and resumes from a checkpoint that
rank 0 wrote exactly as an uninterrupted run.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ELEMENT_BYTES = {"F32": 4, "F64": 8, "I64": 8, "I32": 4}
NUMPY_DTYPE = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
TIMEOUT = 120


# --- The sequence layout, as the runtime implements it ------------------------

def chunks_of(rank, ranks, zigzag):
    return [rank, 2 * ranks - 1 - rank] if zigzag else [rank]


def shard(whole, axis, rank, ranks, zigzag):
    """Rank `rank`'s chunks of `whole` along `axis`, in layout order."""
    chunk = whole.shape[axis] // (2 * ranks if zigzag else ranks)
    return np.concatenate([np.take(whole, range(c * chunk, (c + 1) * chunk), axis=axis)
                           for c in chunks_of(rank, ranks, zigzag)], axis=axis)


def unshard(shards, axis, ranks, zigzag):
    """The whole tensor from every rank's shard, in sequence order."""
    per_rank = 2 if zigzag else 1
    chunk = shards[0].shape[axis] // per_rank
    pieces = [None] * (ranks * per_rank)
    for rank, local in enumerate(shards):
        for k, c in enumerate(chunks_of(rank, ranks, zigzag)):
            pieces[c] = np.take(local, range(k * chunk, (k + 1) * chunk), axis=axis)
    return np.concatenate(pieces, axis=axis)


# --- Plans in protobuf text format ------------------------------------------------

class Plan:
    """A plan whose tensors each own arena bytes (no reuse)."""

    def __init__(self, ranks, zigzag):
        self.ranks, self.zigzag = ranks, zigzag
        self.tensors, self.instructions, self.bindings, self.extra = [], [], [], []
        self.arena = 0

    def tensor(self, dtype, shape, name=""):
        size = ELEMENT_BYTES[dtype] * int(np.prod(shape))
        text = f'dtype: {dtype} ' + "".join(f"shape: {d} " for d in shape)
        text += f'placement: ARENA offset: {self.arena}'
        if name:
            text += f' name: "{name}"'
        self.tensors.append(text)
        self.arena += (size + 63) // 64 * 64
        return len(self.tensors) - 1

    def state(self, dtype, shape, offset, name, sidecar_offset=None):
        text = f'dtype: {dtype} ' + "".join(f"shape: {d} " for d in shape)
        text += f'placement: STATE offset: {offset} name: "{name}"'
        text += (f" sidecar_offset: {sidecar_offset}" if sidecar_offset is not None
                 else " zero_init: true")
        self.tensors.append(text)
        return len(self.tensors) - 1

    def op(self, kernel, inputs, outputs, **attributes):
        text = f'kernel: "{kernel}" ' + "".join(f"inputs: {i} " for i in inputs)
        text += "".join(f"outputs: {o} " for o in outputs)
        for key, value in attributes.items():
            if isinstance(value, bool):
                kind = f"b: {'true' if value else 'false'}"
            elif isinstance(value, float):
                kind = f"f: {value}"
            elif isinstance(value, list):
                kind = "ints { " + "".join(f"values: {v} " for v in value) + "}"
            else:
                kind = f"i: {value}"
            text += f'attributes {{ key: "{key}" value {{ {kind} }} }} '
        self.instructions.append(text)

    def collective(self, kernel, inputs, outputs, **attributes):
        if kernel in ("all_gather", "reduce_scatter", "shard_slice", "shard_unslice",
                      "all_gather_start", "reduce_scatter_start"):
            attributes.setdefault("zigzag", self.zigzag)
        self.op(kernel, inputs, outputs, num_ranks=self.ranks, **attributes)

    def bind(self, kind, name, tensor, shard_axis=None):
        text = f'{kind} {{ name: "{name}" tensor: {tensor}'
        if shard_axis is not None:
            text += f" sharded: true shard_axis: {shard_axis}"
        self.bindings.append(text + " }")

    def text(self, state_bytes=0, loss=-1):
        lines = ['producer: "collectives_test.py"', f"world_size: {self.ranks}",
                 f"arena_bytes: {max(self.arena, 64)}", f"state_bytes: {state_bytes}",
                 "alignment: 64"]
        lines += [f"tensors {{ {t} }}" for t in self.tensors]
        lines += [f"instructions {{ {i} }}" for i in self.instructions]
        lines += self.bindings + [f"loss: {loss}"] + self.extra
        if self.zigzag:
            lines.append("zigzag: true")
        return "\n".join(lines) + "\n"


# --- Running ---------------------------------------------------------------------

class Runner:
    def __init__(self, tools, work, ranks):
        self.tools, self.work, self.ranks = tools, work, ranks
        self.failures = []

    def assemble(self, name, text, weights=None):
        path = os.path.join(self.work, name)
        with open(path + ".txt", "w") as f:
            f.write(text)
        command = [os.path.join(self.tools, "sp-plan-assemble"), path + ".txt", "-o",
                   path + ".spplan"]
        if weights is not None:
            weights_path = path + ".bin"
            with open(weights_path, "wb") as f:
                f.write(weights)
            command += ["--weights", weights_path]
        subprocess.run(command, check=True, timeout=TIMEOUT)
        return path + ".spplan"

    def mpirun(self, ranks, *arguments):
        command = ["mpirun", "--oversubscribe", "-np", str(ranks),
                   os.path.join(self.tools, "sp-run"), *arguments]
        # One thread per rank: the ranks share the machine's cores.
        environment = dict(os.environ, OMP_NUM_THREADS="1")
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                                  env=environment)
        except subprocess.TimeoutExpired:
            sys.exit(f"FAIL: {' '.join(command)} hung for {TIMEOUT} s")

    def save(self, name, array):
        path = os.path.join(self.work, name + ".npy")
        np.save(path, array)
        return path

    def expect(self, what, actual, expected):
        if actual.dtype != expected.dtype or actual.shape != expected.shape or \
                not np.array_equal(actual, expected):
            self.failures.append(f"{what}: got {actual.dtype} {actual.shape}\n{actual}\n"
                                 f"expected {expected.dtype} {expected.shape}\n{expected}")

    def check(self, condition, message):
        if not condition:
            self.failures.append(message)


def collectives_case(runner, ranks, zigzag):
    """Every collective, blocking and started, against NumPy."""
    n = ranks
    layout = "zigzag" if zigzag else "contiguous"
    rng = np.random.default_rng(ranks * 2 + zigzag)
    seq = 4 * n  # the sequence splits into 2n zigzag chunks of 2
    X = rng.integers(-50, 50, (2, seq, 3)).astype(np.float64)   # split along the sequence
    V = rng.integers(-50, 50, (2, seq, 3)).astype(np.float64)   # whole on every rank
    H = rng.integers(-50, 50, (2, seq, 2 * n)).astype(np.float32)  # [batch, seq, heads]
    K = rng.integers(-9, 9, (2, 4, 3)).astype(np.int64)       # whole, summed as integers

    plan = Plan(n, zigzag)
    x = plan.tensor("F64", [2, 4, 3], "x")
    v = plan.tensor("F64", [2, seq, 3], "v")
    h = plan.tensor("F32", [2, 4, 2 * n], "h")
    k = plan.tensor("I64", [2, 4, 3], "k")
    plan.bind("inputs", "x", x, shard_axis=1)
    plan.bind("inputs", "v", v)
    plan.bind("inputs", "h", h, shard_axis=1)
    plan.bind("inputs", "k", k)

    expected = {}  # output name -> every rank's expected local result

    def rank_output(name, tensor, per_rank):
        plan.bind("outputs", name, tensor, shard_axis=0)
        expected[name] = per_rank

    x_r = [shard(X, 1, r, n, zigzag) for r in range(n)]
    h_r = [shard(H, 1, r, n, zigzag) for r in range(n)]

    # The input copied out, split along the sequence: the dump is X whole.
    x_copy = plan.tensor("F64", [2, 4, 3])
    plan.op("copy", [x], [x_copy])
    plan.bind("outputs", "x_copy", x_copy, shard_axis=1)

    ag = plan.tensor("F64", [2, seq, 3])
    plan.collective("all_gather", [x], [ag], axis=1)
    rank_output("all_gather", ag, [X] * n)

    u = plan.tensor("F64", [2, seq, 3])
    plan.collective("shard_unslice", [x], [u], axis=-2)
    unsliced = []
    for r in range(n):
        whole = np.zeros_like(X)
        index = [slice(None)] * 3
        for piece, c in enumerate(chunks_of(r, n, zigzag)):
            chunk = seq // (2 * n if zigzag else n)
            index[1] = slice(c * chunk, (c + 1) * chunk)
            whole[tuple(index)] = X[tuple(index)]
        unsliced.append(whole)
    rank_output("shard_unslice", u, unsliced)

    ss = plan.tensor("F64", [2, 4, 3])
    plan.collective("shard_slice", [v], [ss], axis=1)
    rank_output("shard_slice", ss, [shard(V, 1, r, n, zigzag) for r in range(n)])

    # A whole tensor that differs among the ranks, summed and scattered.
    p = plan.tensor("F64", [2, seq, 3])
    plan.op("add", [u, v], [p])
    rs = plan.tensor("F64", [2, 4, 3])
    plan.collective("reduce_scatter", [p], [rs], axis=1)
    rank_output("reduce_scatter", rs, [shard(X + n * V, 1, r, n, zigzag) for r in range(n)])

    ar = plan.tensor("F64", [2, 4, 3])
    plan.collective("all_reduce", [x], [ar])
    rank_output("all_reduce", ar, [sum(x_r)] * n)

    ki = plan.tensor("I64", [2, 4, 3])
    plan.collective("all_reduce", [k], [ki])
    rank_output("all_reduce_i64", ki, [K * n] * n)

    # Ulysses: a sequence shard of all heads <-> all of the sequence for a
    # shard of the heads; zigzag (zigzag_axis) places the sequence, the
    # heads split contiguously.
    sequence_layout = {"zigzag_axis": 1} if zigzag else {}
    a2a = plan.tensor("F32", [2, seq, 2])
    plan.collective("all_to_all", [h], [a2a], split_axis=2, concat_axis=1, **sequence_layout)
    heads = [unshard([shard(h_r[q], 2, r, n, False) for q in range(n)], 1, n, zigzag)
             for r in range(n)]
    rank_output("all_to_all", a2a, heads)
    back = plan.tensor("F32", [2, 4, 2 * n])
    plan.collective("all_to_all", [a2a], [back], split_axis=1, concat_axis=-1,
                    **sequence_layout)
    rank_output("all_to_all_back", back, h_r)

    for offset, name in ((1, "ring_shift_next"), (-1, "ring_shift_previous"),
                         (n + 1, "ring_shift_wrapped")):
        shifted = plan.tensor("F64", [2, 4, 3])
        plan.collective("ring_shift", [x], [shifted], offset=offset)
        rank_output(name, shifted, [x_r[(r - offset) % n] for r in range(n)])

    # Five started collectives in flight at once, compute in between, waited
    # in another order; each must equal its blocking form.
    futures = {}
    for kernel, inputs, shape, dtype, attributes in (
            ("all_gather_start", [x], [2, seq, 3], "F64", {"axis": 1}),
            ("reduce_scatter_start", [p], [2, 4, 3], "F64", {"axis": 1}),
            ("all_reduce_start", [x], [2, 4, 3], "F64", {}),
            ("all_to_all_start", [h], [2, seq, 2], "F32",
             {"split_axis": 2, "concat_axis": 1, **sequence_layout}),
            ("ring_shift_start", [x], [2, 4, 3], "F64", {"offset": 1})):
        futures[kernel] = plan.tensor(dtype, shape)
        plan.collective(kernel, inputs, [futures[kernel]], **attributes)
    busy = plan.tensor("F64", [2, 4, 3])
    plan.op("add", [x, x], [busy])
    for kernel in ("ring_shift_start", "all_reduce_start", "all_gather_start",
                   "all_to_all_start", "reduce_scatter_start"):
        plan.op("wait", [futures[kernel]], [futures[kernel]])
    rank_output("async_all_gather", futures["all_gather_start"], expected["all_gather"])
    rank_output("async_reduce_scatter", futures["reduce_scatter_start"],
                expected["reduce_scatter"])
    rank_output("async_all_reduce", futures["all_reduce_start"], expected["all_reduce"])
    rank_output("async_all_to_all", futures["all_to_all_start"], expected["all_to_all"])
    rank_output("async_ring_shift", futures["ring_shift_start"], expected["ring_shift_next"])

    path = runner.assemble(f"collectives_{layout}", plan.text())
    dump = os.path.join(runner.work, f"dump_{layout}")
    result = runner.mpirun(n, path, "--input", f"x={runner.save('X', X)}",
                           "--input", f"v={runner.save('V', V)}",
                           "--input", f"h={runner.save('H', H)}",
                           "--input", f"k={runner.save('K', K)}", "--dump", dump)
    if result.returncode != 0:
        runner.failures.append(f"{layout}: sp-run failed:\n{result.stderr}")
        return
    runner.check(result.stdout.count("done: 1 run") == 1,
                 f"{layout}: expected one summary line (rank 0 only), got:\n{result.stdout}")
    runner.expect(f"{layout} x_copy", np.load(os.path.join(dump, "x_copy.npy")), X)
    for name, per_rank in expected.items():
        actual = np.load(os.path.join(dump, name + ".npy"))
        runner.expect(f"{layout} {name}", actual, unshard(per_rank, 0, n, zigzag))


def compiled_case(runner, ranks):
    """A sequence-parallel module through sp-plan-memory and sp-emit-plan."""
    n, seq = ranks, 4 * ranks
    module = f"""
module attributes {{graph.num_ranks = {n} : i64, graph.zigzag}} {{
  func.func @main(%x: tensor<2x4x8xf32> {{graph.onnx_name = "x", graph.shard_axis = 1 : i64}},
                  %w: tensor<8x8xf32> {{graph.onnx_name = "w"}})
      -> (tensor<2x4x8xf32> {{graph.onnx_name = "y", graph.shard_axis = 1 : i64}},
          tensor<8x8xf32> {{graph.onnx_name = "w_sum"}}) {{
    %f = graph.all_gather_start %x {{axis = 1 : i64, num_ranks = {n} : i64, zigzag = true}} : (tensor<2x4x8xf32>) -> !graph.future<tensor<2x{seq}x8xf32>>
    %xw = graph.matmul %x, %w : (tensor<2x4x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8xf32>
    %g = graph.wait %f : !graph.future<tensor<2x{seq}x8xf32>> -> tensor<2x{seq}x8xf32>
    %gw = graph.matmul %g, %w : (tensor<2x{seq}x8xf32>, tensor<8x8xf32>) -> tensor<2x{seq}x8xf32>
    %h = graph.reduce_scatter_start %gw {{axis = 1 : i64, num_ranks = {n} : i64, zigzag = true}} : (tensor<2x{seq}x8xf32>) -> !graph.future<tensor<2x4x8xf32>>
    %s = graph.all_reduce_start %w {{num_ranks = {n} : i64}} : (tensor<8x8xf32>) -> !graph.future<tensor<8x8xf32>>
    %m = graph.neg %xw : tensor<2x4x8xf32>
    %ws = graph.wait %s : !graph.future<tensor<8x8xf32>> -> tensor<8x8xf32>
    %r = graph.wait %h : !graph.future<tensor<2x4x8xf32>> -> tensor<2x4x8xf32>
    %y = graph.add %r, %m : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    return %y, %ws : tensor<2x4x8xf32>, tensor<8x8xf32>
  }}
}}
"""
    source = os.path.join(runner.work, "compiled.mlir")
    with open(source, "w") as f:
        f.write(module)
    path = os.path.join(runner.work, "compiled.spplan")
    subprocess.run([os.path.join(runner.tools, "sp-opt"), source, "--sp-plan-memory",
                    f"--sp-emit-plan=output={path}", "-o", os.devnull], check=True,
                   timeout=TIMEOUT)
    rng = np.random.default_rng(n + 100)
    X = rng.integers(-4, 4, (2, seq, 8)).astype(np.float32)
    W = rng.integers(-4, 4, (8, 8)).astype(np.float32)
    dump = os.path.join(runner.work, "compiled_dump")
    result = runner.mpirun(n, path, "--input", f"x={runner.save('cX', X)}",
                           "--input", f"w={runner.save('cW', W)}", "--dump", dump)
    if result.returncode != 0:
        runner.failures.append(f"compiled: sp-run failed:\n{result.stderr}")
        return
    # Every rank gathers X, multiplies, and the sum over ranks is scattered
    # back: N X W less this rank's own x W.
    runner.expect("compiled y", np.load(os.path.join(dump, "y.npy")), (n - 1) * (X @ W))
    runner.expect("compiled w_sum", np.load(os.path.join(dump, "w_sum.npy")), n * W)


def mismatch_case(runner, ranks):
    """A plan for `ranks` ranks on another count: one line, every rank exits."""
    plan = Plan(ranks, False)
    x = plan.tensor("F32", [2, 4])
    y = plan.tensor("F32", [2, 4])
    plan.collective("all_reduce", [x], [y])
    plan.bind("inputs", "x", x)
    plan.bind("outputs", "y", y)
    path = runner.assemble("mismatch", plan.text())
    other = 2 if ranks != 2 else 3
    result = runner.mpirun(other, path)
    lines = [l for l in result.stderr.splitlines() if l.startswith("sp-run: error:")]
    runner.check(result.returncode != 0, "mismatch: sp-run succeeded")
    runner.check(len(lines) == 1 and lines[0].endswith(
        f"mismatch.spplan: built for {ranks} ranks; this run has {other}"),
        f"mismatch: expected one error line, got:\n{result.stderr}")


def failing_rank_case(runner, ranks):
    """A kernel fails on rank 1 only, before a collective: all ranks stop."""
    plan = Plan(ranks, False)
    ids = plan.tensor("I64", [1, 4], "ids")
    table = plan.tensor("F32", [5, 2], "table")
    rows = plan.tensor("F32", [1, 4, 2])
    total = plan.tensor("F32", [1, 4, 2])
    plan.op("gather", [table, ids], [rows], axis=0)
    plan.collective("all_reduce", [rows], [total])
    plan.bind("inputs", "ids", ids, shard_axis=1)
    plan.bind("inputs", "table", table)
    plan.bind("outputs", "total", total)
    path = runner.assemble("failing", plan.text())
    ids_whole = np.zeros((1, 4 * ranks), np.int64)
    ids_whole[0, 5] = 7  # in rank 1's shard only
    result = runner.mpirun(ranks, path, "--input", f"ids={runner.save('ids', ids_whole)}",
                           "--input", f"table={runner.save('table', np.zeros((5, 2), np.float32))}")
    lines = [l for l in result.stderr.splitlines() if l.startswith("sp-run: error:")]
    runner.check(result.returncode != 0, "failing rank: sp-run succeeded")
    runner.check(len(lines) == 1 and "rank 1: " in lines[0] and "(gather" in lines[0],
                 f"failing rank: expected one error line from rank 1, got:\n{result.stderr}")


def training_case(runner, ranks):
    """Token data split along the sequence, gradients summed, checkpoints."""
    n = ranks
    batch, seq, vocab = 2, 4 * n, 5
    plan = Plan(n, False)
    ids = plan.tensor("I64", [batch, 4], "ids")
    table = plan.state("F32", [vocab, 2], 0, "table", sidecar_offset=0)
    step = plan.state("I64", [], 64, "step")
    rows = plan.tensor("F32", [batch, 4, 2], "rows")
    local_loss = plan.tensor("F32", [])
    loss = plan.tensor("F32", [])
    ones = plan.tensor("F32", [batch, 4, 2])
    partial = plan.tensor("F32", [vocab, 2])
    gradient = plan.tensor("F32", [vocab, 2])
    one = plan.tensor("I64", [])
    next_step = plan.tensor("I64", [])
    plan.op("gather", [table, ids], [rows], axis=0)
    plan.op("reduce_sum", [rows], [local_loss], axes=[0, 1, 2], keep_dims=False)
    plan.collective("all_reduce", [local_loss], [loss])
    plan.op("fill", [], [ones], value=1.0)
    plan.op("gather_grad", [ones, ids], [partial], axis=0)
    plan.collective("all_reduce_start", [partial], [gradient])
    plan.op("fill", [], [one], value=1)
    plan.op("add", [step, one], [next_step])
    plan.op("copy", [next_step], [step])
    plan.op("wait", [gradient], [gradient])
    plan.op("sgd_update", [table, gradient], [table], learning_rate=0.125, weight_decay=0.0)
    plan.bind("inputs", "ids", ids, shard_axis=1)
    plan.bind("outputs", "rows", rows, shard_axis=1)
    plan.extra += [f'parameters {{ name: "table" tensor: {table} gradient: {gradient} }}',
                   'optimizer { kind: "sgd" learning_rate: 0.125 }', 'token_input: "ids"',
                   f"vocab_size: {vocab}"]
    initial = np.arange(vocab * 2, dtype=np.float32).reshape(vocab, 2)
    path = runner.assemble("train", plan.text(state_bytes=128, loss=loss), initial.tobytes())

    tokens = np.random.default_rng(n).integers(0, vocab, 3 * batch * seq).astype(np.uint16)
    token_file = os.path.join(runner.work, "tokens.bin")
    tokens.tofile(token_file)

    # What one rank computes for three steps on the whole batches.
    weights, losses = initial.copy(), []
    for k in range(3):
        whole = tokens[k * batch * seq:(k + 1) * batch * seq].reshape(batch, seq).astype(np.int64)
        last_rows = weights[whole]
        losses.append(last_rows.sum())
        grad = np.zeros_like(weights)
        np.add.at(grad, whole, 1.0)
        weights = weights - np.float32(0.125) * grad
    straight = os.path.join(runner.work, "straight")
    result = runner.mpirun(n, path, "--data", token_file, "--steps", "3", "--dump", straight,
                           "--trace", os.path.join(runner.work, "trace.json"))
    if result.returncode != 0:
        runner.failures.append(f"training: sp-run failed:\n{result.stderr}")
        return
    printed = [float(line.split()[3]) for line in result.stdout.splitlines()
               if line.startswith("step ")]
    runner.check(printed == [round(float(l), 4) for l in losses],
                 f"training: losses {printed}, expected {losses}")
    runner.expect("training rows", np.load(os.path.join(straight, "rows.npy")), last_rows)
    runner.expect("training grad", np.load(os.path.join(straight, "grad", "table.npy")), grad)
    runner.expect("training param", np.load(os.path.join(straight, "param", "table.npy")),
                  weights)
    with open(os.path.join(runner.work, "trace.json")) as f:
        events = json.load(f)["traceEvents"]
    runner.check({e["pid"] for e in events} == set(range(1, n + 1)),
                 f"training: the trace should hold one process per rank")

    checkpoint = os.path.join(runner.work, "checkpoint")
    first = runner.mpirun(n, path, "--data", token_file, "--steps", "2", "--save", checkpoint)
    resumed_dump = os.path.join(runner.work, "resumed")
    second = runner.mpirun(n, path, "--data", token_file, "--resume", checkpoint,
                           "--dump", resumed_dump)
    if first.returncode != 0 or second.returncode != 0:
        runner.failures.append(f"training: checkpoint runs failed:\n{first.stderr}{second.stderr}")
        return
    runner.check(second.stdout.startswith("step 3/3"),
                 f"training: the resumed run should continue at step 3:\n{second.stdout}")
    runner.expect("resumed param", np.load(os.path.join(resumed_dump, "param", "table.npy")),
                  weights)


def main():
    tools, ranks = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as work:
        runner = Runner(tools, work, ranks)
        for zigzag in (False, True):
            collectives_case(runner, ranks, zigzag)
        compiled_case(runner, ranks)
        mismatch_case(runner, ranks)
        failing_rank_case(runner, ranks)
        training_case(runner, ranks)
        if runner.failures:
            sys.exit("FAIL:\n" + "\n\n".join(runner.failures))
    print("PASS")


if __name__ == "__main__":
    main()
