//===- GraphBlockAttention.td - attention over sequence blocks -*- tablegen -*-===//
//
// Attention of one block of queries against one block of keys whose places
// in the whole sequence are given as operands. Sequence parallelism needs it
// where a rank's queries meet keys from elsewhere in the sequence: the
// gathered keys of all-gather attention, and each step of ring attention,
// whose per-block results merge through their logsumexp. Positions rather
// than an offset attribute, because every rank runs the same program and a
// zigzag layout gives a rank two separate chunks.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHBLOCKATTENTION_TD
#define SP_DIALECT_GRAPH_IR_GRAPHBLOCKATTENTION_TD

include "sp/Dialect/Graph/IR/GraphDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Graph_BlockAttentionOp : Graph_Op<"block_attention", [Pure, InferTypeOpAdaptor]> {
  let summary = "Attention of a query block on a key block at given sequence positions";
  let description = [{
    `graph.attention` whose causal mask compares positions: with `causal`,
    key j is visible from query i iff `key_positions[j] <= query_positions[i]`
    (1-D i64, of lengths Sq and Sk). Shapes, grouped-query heads, `bias`,
    `scale` and the band mask are attention's, the band comparing these
    positions. A query that sees no key gets a zero output and
    a logsumexp of -inf, so that blocks merge by
    `lse = logaddexp(lse_a, lse_b)`, `out = out_a * exp(lse_a - lse) +
    out_b * exp(lse_b - lse)`.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, 1DTensorOf<[I64]>:$query_positions,
                            1DTensorOf<[I64]>:$key_positions, Optional<AnyRankedTensor>:$bias,
                            F64Attr:$scale, DefaultValuedAttr<BoolAttr, "false">:$causal),
                       Graph_AttentionMaskAttrs);
  let hasVerifier = 1;
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$logsumexp);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $query_positions `,` $key_positions (`,` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_BlockAttentionGradOp : Graph_Op<"block_attention_grad",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradients of block_attention from both of its results' gradients";
  let description = [{
    Recomputes the probabilities P from `logsumexp` (FlashAttention-2) and
    takes the logsumexp's gradient too, which a block's merge gives it:
    `dS = P * (dO V^T - rowsum(dO * output) + logsumexp_grad)`. Rows whose
    logsumexp is -inf get no gradient. The bias gets none (it is a mask) and
    comes last, so that an absent one is a trailing -1 in a plan.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, 1DTensorOf<[I64]>:$query_positions,
                            1DTensorOf<[I64]>:$key_positions, AnyRankedTensor:$output,
                            AnyRankedTensor:$logsumexp, AnyRankedTensor:$output_grad,
                            AnyRankedTensor:$logsumexp_grad, Optional<AnyRankedTensor>:$bias,
                            F64Attr:$scale, DefaultValuedAttr<BoolAttr, "false">:$causal),
                       Graph_AttentionMaskAttrs);
  let hasVerifier = 1;
  let results = (outs AnyRankedTensor:$query_grad, AnyRankedTensor:$key_grad,
                      AnyRankedTensor:$value_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $query_positions `,` $key_positions `,` $output `,`
    $logsumexp `,` $output_grad `,` $logsumexp_grad (`,` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

#endif // SP_DIALECT_GRAPH_IR_GRAPHBLOCKATTENTION_TD
