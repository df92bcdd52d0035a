//===- Passes.td - sequence-parallel training steps --------*- tablegen -*-===//

#ifndef SP_SEQUENCEPARALLEL_PASSES_TD
#define SP_SEQUENCEPARALLEL_PASSES_TD

include "mlir/Pass/PassBase.td"

def SequenceParallel : Pass<"sp-sequence-parallel", "mlir::ModuleOp"> {
  let summary = "Split @main's activations along the sequence across ranks";
  let description = [{
    Turns @main into the program every one of `num-ranks` ranks runs on its
    shard of the sequence, before autodiff (which then differentiates the
    collectives by their transposes). A forward dataflow analysis gives each
    value a state: replicated (whole on every rank), sharded (a dim holds this
    rank's positions) or partial (every rank holds a term of a sum).

    The token input (`graph.token_input`, dim 1) and every input whose dims
    name the same sequence dim (`graph.dim_names`), or without names have the
    token input's [batch, sequence] leading shape, are sharded. Position-wise
    ops stay local; reshapes that merge or split batch, sequence and heads
    stay local and track the dim that carries the sequence; a replicated
    operand that meets a sharded one along the sequence with the whole length
    (causal masks, position and rotary tables) gets `graph.shard_slice`,
    pushed back to where the table is indexed. The causal-LM labels take each
    chunk's next token from its owner; the cross-entropy sum is all-reduced.
    Ops that need the whole sequence, or have no rule, get `graph.all_gather`
    of their sharded operands and a remark saying why.

    `graph.attention` over a sharded sequence follows `strategy`:
    `allgather` (gather K and V, `graph.block_attention` with each query's
    position), `ulysses` (all_to_all from sequence to heads and back; query
    heads must divide by the ranks; fewer key/value heads are repeated),
    `ring` (K/V blocks passed around the ring, merged by logsumexp, in the
    zigzag layout that balances causal work), or `auto`: the one the cost
    profile (`cost-profile`, whose rates the options below override)
    predicts to spend the least time in attention per rank and step,
    compute plus the communication compute does not hide (all of
    allgather's and Ulysses', whose attention waits for its collectives;
    of the ring's, what each step's transfer takes beyond the step's
    compute), then the least memory held; reported as a remark with every
    strategy's prediction (the ring only where the sequence makes its 2N
    zigzag chunks). Ring and Ulysses take any bias, a padding mask computed
    at run time included. A strategy named explicitly (not `auto`) that cannot
    split an attention is an error naming the op: attention left as
    matmuls (scores of the sequence by the sequence, which only gathering
    the keys computes) or whose query, key and value are not split alike.
    Keys and values every rank holds whole stay local under any strategy.

    Under `auto` the candidates are allgather and, for every divisor U of N,
    Ulysses inside groups of U ranks and the ring across them (U = N:
    ulysses, U = 1: ring, else the hybrid). With a topology (a profile's
    `ranks_per_node`, or `ranks-per-node`), a collective whose ranks reach
    beyond a node runs at the profile's inter-node rates: groups of U
    consecutive ranks stay inside a node when U divides the ranks per node,
    and a ring or an all-gather over more ranks than a node holds crosses
    nodes.

    `ulysses-degree` U (1 < U < N, dividing N) is the hybrid of Ulysses and
    the ring (USP, Megatron's hierarchical context parallelism): all_to_all
    over heads inside each group of U consecutive ranks (`num_groups` N/U),
    and `graph.ring_attention` across the groups (`num_ranks` N/U,
    `group_size` U), in the zigzag layout of N ranks, which makes each
    group's block the zigzag chunks of a ring of N/U. Query heads must
    divide by U only; fewer key/value heads are repeated up to U. U = N is
    Ulysses, U = 1 the ring. A bias must broadcast over queries and heads
    (key padding); the hybrid refuses others, naming the op.

    A sequence the importer padded (`graph.unpadded_sequence_length` R on
    the module, the padding at the end) is split like any other once the
    padding is known not to reach a real position: causal attention, a
    constant mask (a causal table) added or selected before a softmax or in
    an attention bias, or a mask input (the runtime zeroes it over the
    padding) must hide it, else the pass fails naming the op. Dropout masks
    index the unpadded tensor (`sequence_length` R; `unpadded_keys` R over
    attention probabilities), so they equal one rank's on R positions.

    Leaves module attributes `graph.num_ranks` and, for ring, `graph.zigzag`,
    and `graph.shard_axis` on the @main arguments and results that are split.
  }];
  let options = [
    Option<"numRanks", "num-ranks", "int64_t", /*default=*/"1",
           "Ranks the sequence is split across (1: leave @main as it is)">,
    Option<"strategy", "strategy", "std::string", /*default=*/"\"auto\"",
           "Attention: allgather, ulysses, ring or auto">,
    Option<"ulyssesDegree", "ulysses-degree", "int64_t", /*default=*/"0",
           "The hybrid: Ulysses inside groups of this many consecutive ranks, the ring "
           "across the groups (0: none; with strategy auto only)">,
    Option<"ranksPerNode", "ranks-per-node", "int64_t", /*default=*/"0",
           "Override the profile's ranks per node (0: keep it): auto keeps Ulysses' "
           "all-to-all inside a node where it can and prices links across nodes at the "
           "profile's inter-node rates">,
    Option<"costProfile", "cost-profile", "std::string", /*default=*/"\"cpu\"",
           "Cost profile auto predicts by: a built-in name (cpu, h100-nvlink, h100-ib) or a "
           "JSON file">,
    Option<"flopsPerSecond", "flops-per-second", "double", /*default=*/"0",
           "Override the profile's FLOP rate of one rank (0: keep it)">,
    Option<"linkBytesPerSecond", "link-bytes-per-second", "double", /*default=*/"0",
           "Override the profile's bytes a rank sends per second (0: keep it)">,
    Option<"linkLatencySeconds", "link-latency", "double", /*default=*/"-1",
           "Override the profile's seconds per message step of a collective (-1: keep it)">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

def ReduceGradients : Pass<"sp-reduce-gradients", "mlir::ModuleOp"> {
  let summary = "Sum every parameter gradient over the ranks";
  let description = [{
    After sp-autodiff on a sequence-parallel step (module attribute
    `graph.num_ranks` > 1), each rank's parameter gradient is its part of
    the sum; this wraps every @main result marked `graph.gradient_of` in one
    `graph.all_reduce`, so the optimizer sees the same gradient on every
    rank. Nothing to do on one rank.
  }];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

def RegatherForBackward : Pass<"sp-regather-for-backward", "mlir::ModuleOp"> {
  let summary = "Gather again where the backward pass needs a gathered tensor";
  let description = [{
    A `graph.all_gather` result that the forward and the backward pass both
    read (the keys and values of allgather attention) would stay live from
    the forward to the backward at full sequence length, the one activation
    whose memory does not shrink with the rank count. After sp-autodiff this
    pass gives every reader after the first its own gather, right before it:
    one more collective per such tensor, and per-rank activation memory that
    scales with 1/N. Run it after the last CSE, which would merge the gathers
    back.
  }];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

#endif // SP_SEQUENCEPARALLEL_PASSES_TD
