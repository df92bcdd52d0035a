//===- GraphRingAttention.td - attention around a ring of ranks -*- tablegen -*-===//
//
// Ring attention as one op: the key/value blocks travel around the ranks
// inside the kernel, which merges each block into the output by online
// softmax while the next block is in flight, and keeps nothing per step. Its
// gradient is a second ring that carries the key/value blocks together with
// their gradient accumulators, so that after N steps every rank holds the
// gradients of its own keys and values. Autodiff therefore saves only the
// rank's own query, key, value, output and logsumexp: O(S / N) per rank.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHRINGATTENTION_TD
#define SP_DIALECT_GRAPH_IR_GRAPHRINGATTENTION_TD

include "sp/Dialect/Graph/IR/GraphDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Graph_RingAttentionOp : Graph_Op<"ring_attention", [Pure, InferTypeOpAdaptor]> {
  let summary = "Attention of this rank's queries on every rank's keys, around a ring";
  let description = [{
    `query`, `key` and `value` are this rank's shards of a sequence split
    across `num_ranks` ranks (contiguous, or `zigzag`: rank r holds chunks r
    and 2N-1-r of 2N). The result is `graph.attention` of the rank's queries
    on the whole sequence's keys, with the causal mask comparing positions
    in the whole sequence, and its logsumexp. `bias`, if present, has the
    rank's query rows and the whole sequence's key columns (each of those
    dims may be 1). The band mask compares positions in the whole sequence.
    Rows that a mask at the float minimum hides from every key get what one
    rank gives them (the mean of the values they see).
    With `group_size` U > 1 (the hybrid of Ulysses and the ring) the world
    is `num_ranks` groups of U consecutive ranks; each group holds one block
    (after an all_to_all over heads inside the group), and the ring runs
    across the groups, between the ranks at the same place in theirs
    (rank r sends to r + U and receives from r - U, modulo the world).
    Pure like the synchronous collectives: every rank runs the same program.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, Optional<AnyRankedTensor>:$bias,
                            F64Attr:$scale, DefaultValuedAttr<BoolAttr, "false">:$causal,
                            Graph_I64Attr:$num_ranks, DefaultValuedAttr<BoolAttr, "false">:$zigzag,
                            DefaultValuedAttr<Graph_I64Attr, "1">:$group_size),
                       Graph_AttentionMaskAttrs);
  let hasVerifier = 1;
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$logsumexp);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_RingAttentionGradOp : Graph_Op<"ring_attention_grad", [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradients of ring_attention, by a second ring";
  let description = [{
    FlashAttention-2's backward pass per block, recomputing the
    probabilities from the merged `logsumexp`:
    `dS = P * (dO V^T - rowsum(dO * output) + logsumexp_grad)`. Key/value
    blocks travel with their dK/dV accumulators; after `num_ranks` steps
    each rank holds the gradients of its own key and value. The bias gets
    no gradient (it is a mask) and comes last, so that an absent one is a
    trailing -1 in a plan.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, AnyRankedTensor:$output,
                            AnyRankedTensor:$logsumexp, AnyRankedTensor:$output_grad,
                            AnyRankedTensor:$logsumexp_grad, Optional<AnyRankedTensor>:$bias,
                            F64Attr:$scale, DefaultValuedAttr<BoolAttr, "false">:$causal,
                            Graph_I64Attr:$num_ranks, DefaultValuedAttr<BoolAttr, "false">:$zigzag,
                            DefaultValuedAttr<Graph_I64Attr, "1">:$group_size),
                       Graph_AttentionMaskAttrs);
  let hasVerifier = 1;
  let results = (outs AnyRankedTensor:$query_grad, AnyRankedTensor:$key_grad,
                      AnyRankedTensor:$value_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $output `,` $logsumexp `,` $output_grad `,`
    $logsumexp_grad (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

#endif // SP_DIALECT_GRAPH_IR_GRAPHRINGATTENTION_TD
