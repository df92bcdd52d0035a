//===- Passes.td - fusion of decomposed ops -----------------*- tablegen -*-===//

#ifndef SP_FUSION_PASSES_TD
#define SP_FUSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def Fuse : Pass<"sp-fuse", "mlir::func::FuncOp"> {
  let summary = "Fuse decomposed attention and RMS normalization into single ops";
  let description = [{
    Runs on the imported and folded graph, before any training pass, and
    rewrites two patterns that exporters write op by op:

    Attention: `matmul(softmax(X, axis = -1), V)` where X is built from
    `S = matmul(Q, K^T)` through any chain of multiplications and divisions
    by a scalar constant (the scale), additions of a bias that depends on
    neither Q, K, V nor any trained weight (a mutable global; in the
    training pipeline sp-select-params runs first) (several add up), `where(c, S, m)` with a
    very negative m (the bias `where(c, 0, m)`), `max(X, finfo.min)` (folded
    into the bias), and float casts. Q and K may carry scalar factors of
    their own, K^T may be a transpose or a pre-transposed K, and reshapes of
    the batch dims (as in batched-matmul decompositions of SDPA, and between
    the scores, the softmax and the product with V, as in BLOOM's baddbmm
    with ALiBi on [B*H, S, S] scores) and the
    repetition of key/value heads (repeat_kv: unsqueeze, expand, reshape)
    are looked through, so grouped-query K and V keep their own head count;
    so are multi-query attention's broadcasts of one key/value head to all
    heads (expand, Tile, or matmul broadcasting), so that K and V keep one.
    `where(isnan(P), 0, P)` after the softmax (the SDPA decomposition of
    the dynamo exporter) is absorbed: attention gives zeros for rows that
    see no key. A constant bias that is exactly the causal pattern becomes
    `causal = true`; an all-zero one disappears. The result is
    `graph.attention`; every intermediate (scores, probabilities) must have
    no other user.

    RMS norm: `scale * (x * reciprocal(sqrt(mean(x^2) + eps)))` over the
    trailing dims, and the form dividing by the square root, with float
    casts around the normalization in either order, becomes
    `graph.rms_norm`.

    A match that would change what the graph computes (beyond rounding)
    stays unfused. Shapes must be static.
  }];
  let options = [
    Option<"attention", "attention", "bool", "true", "Fuse attention">,
    Option<"rmsNorm", "rms-norm", "bool", "true", "Fuse RMS normalization">,
    Option<"remarks", "remarks", "bool", "false",
           "Report each fusion as a remark on the fused op">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

#endif // SP_FUSION_PASSES_TD
