//===- GraphCollectives.td - sequence-parallel collectives -*- tablegen -*-===//
//
// Communication among the `num_ranks` ranks of an SPMD program, every rank
// running the same ops in the same order. A tensor split along the sequence
// is laid out contiguously (rank r holds the r-th of N equal chunks) or
// zigzag (the sequence cut into 2N chunks, rank r holding chunks r and
// 2N-1-r, which balances causal attention); collectives that assemble or
// split a sequence dim take the layout as `zigzag`.
//
// Each collective has a synchronous form, which sharding and autodiff work
// on (its gradient is its transpose: all_gather <-> reduce_scatter,
// all_reduce <-> all_reduce, all_to_all <-> all_to_all with the axes swapped,
// ring_shift by k <-> ring_shift by -k), and an asynchronous form, a
// `*_start` op giving a !graph.future and `graph.wait` giving the tensor, which
// the overlap scheduler moves apart to hide the communication.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHCOLLECTIVES_TD
#define SP_DIALECT_GRAPH_IR_GRAPHCOLLECTIVES_TD

include "sp/Dialect/Graph/IR/GraphDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Graph_FutureType : TypeDef<Graph_Dialect, "Future"> {
  let mnemonic = "future";
  let summary = "A collective's result while the communication is in flight";
  let parameters = (ins "::mlir::RankedTensorType":$valueType);
  let assemblyFormat = "`<` $valueType `>`";
}

// Attributes each kind of collective carries.
defvar Graph_AxisCollectiveArgs = (ins AnyRankedTensor:$input, Graph_I64Attr:$axis,
    Graph_I64Attr:$num_ranks, DefaultValuedAttr<BoolAttr, "false">:$zigzag);
defvar Graph_AllReduceArgs = (ins AnyRankedTensor:$input, Graph_I64Attr:$num_ranks);
defvar Graph_AllToAllArgs = (ins AnyRankedTensor:$input, Graph_I64Attr:$split_axis,
    Graph_I64Attr:$concat_axis, Graph_I64Attr:$num_ranks,
    OptionalAttr<Graph_I64Attr>:$zigzag_axis,
    DefaultValuedAttr<Graph_I64Attr, "1">:$num_groups);
defvar Graph_RingShiftArgs = (ins AnyRankedTensor:$input, Graph_I64Attr:$offset,
    Graph_I64Attr:$num_ranks);

// `kind` names the sp::graph::CollectiveKind that shapes the result.
class Graph_CollectiveOp<string mnemonic, string kind, dag args>
    : Graph_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let arguments = args;
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = commonExtraClassDeclaration # [{
    static constexpr ::sp::graph::CollectiveKind kKind = ::sp::graph::CollectiveKind::}] # kind # [{;
  }];
}

// The asynchronous start of a collective: the same operands and attributes,
// a future of the synchronous form's result. Starts and waits have effects,
// so no pass reorders or drops them behind the scheduler's back: every rank
// must issue collectives in the same order.
class Graph_CollectiveStartOp<string mnemonic, string kind, dag args>
    : Graph_Op<mnemonic # "_start", [InferTypeOpAdaptor,
                                     MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "Asynchronous start of graph." # mnemonic;
  let arguments = args;
  let results = (outs Graph_FutureType:$future);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    static constexpr ::sp::graph::CollectiveKind kKind = ::sp::graph::CollectiveKind::}] # kind # [{;
  }];
}

def Graph_AllGatherOp : Graph_CollectiveOp<"all_gather", "AllGather", Graph_AxisCollectiveArgs> {
  let summary = "Every rank's shard, concatenated along `axis` in sequence order";
}
def Graph_ReduceScatterOp
    : Graph_CollectiveOp<"reduce_scatter", "ReduceScatter", Graph_AxisCollectiveArgs> {
  let summary = "The sum over ranks, of which each rank keeps its shard along `axis`";
}
def Graph_AllReduceOp : Graph_CollectiveOp<"all_reduce", "AllReduce", Graph_AllReduceArgs> {
  let summary = "The element-wise sum over ranks, on every rank";
}
def Graph_AllToAllOp : Graph_CollectiveOp<"all_to_all", "AllToAll", Graph_AllToAllArgs> {
  let summary = "Split `split_axis` into one piece per rank, exchange, concatenate along `concat_axis`";
  let description = [{
    Rank r sends its j-th piece of `split_axis` to rank j and concatenates the
    pieces it receives along `concat_axis` in sequence order (Ulysses: a
    sequence shard of all heads becomes all of the sequence for a shard of
    the heads). `zigzag_axis`, if present, is the one of the two axes that
    holds the sequence in the zigzag layout; the other is contiguous (heads
    keep their order, so grouped key/value heads stay with their queries). With `num_groups` G > 1 the world is G groups of
    `num_ranks` consecutive ranks, each exchanging within itself, and the
    concatenation is the group's block of the sequence (the hybrid of
    Ulysses and the ring: heads inside a group, a ring across groups).
  }];
}
def Graph_RingShiftOp : Graph_CollectiveOp<"ring_shift", "RingShift", Graph_RingShiftArgs> {
  let summary = "Send to rank r + offset and receive from rank r - offset (mod num_ranks)";
}
def Graph_ShardSliceOp : Graph_CollectiveOp<"shard_slice", "ShardSlice", Graph_AxisCollectiveArgs> {
  let summary = "This rank's shard along `axis` of a tensor every rank holds whole";
  let description = [{
    No communication: slices position-indexed tables (causal masks, rotary
    tables, position ids) down to the positions this rank holds.
  }];
}
def Graph_ShardUnsliceOp
    : Graph_CollectiveOp<"shard_unslice", "ShardUnslice", Graph_AxisCollectiveArgs> {
  let summary = "Zeros of the whole tensor with this rank's shard written in place";
  let description = [{
    No communication: the transpose of shard_slice. Its results on the ranks
    sum to the whole tensor.
  }];
}

def Graph_AllGatherStartOp
    : Graph_CollectiveStartOp<"all_gather", "AllGather", Graph_AxisCollectiveArgs>;
def Graph_ReduceScatterStartOp
    : Graph_CollectiveStartOp<"reduce_scatter", "ReduceScatter", Graph_AxisCollectiveArgs>;
def Graph_AllReduceStartOp
    : Graph_CollectiveStartOp<"all_reduce", "AllReduce", Graph_AllReduceArgs>;
def Graph_AllToAllStartOp
    : Graph_CollectiveStartOp<"all_to_all", "AllToAll", Graph_AllToAllArgs>;
def Graph_RingShiftStartOp
    : Graph_CollectiveStartOp<"ring_shift", "RingShift", Graph_RingShiftArgs>;

def Graph_WaitOp : Graph_Op<"wait", [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "The result of a started collective, once it has arrived";
  let arguments = (ins Graph_FutureType:$future);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$future attr-dict `:` qualified(type($future)) `->` type($result)";
  let hasVerifier = 1;
}

#endif // SP_DIALECT_GRAPH_IR_GRAPHCOLLECTIVES_TD
