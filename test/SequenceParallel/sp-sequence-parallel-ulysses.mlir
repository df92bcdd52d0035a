// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=ulysses' | FileCheck %s

// Ulysses: query, key and value go from a shard of the sequence with every
// head to the whole sequence with a shard of the heads and back. One
// key/value head does not split across two ranks: it is repeated first.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[Q:[^:]*]]: tensor<2x4x4x8xf32>
// CHECK-SAME: %[[K:[^:]*]]: tensor<2x1x4x8xf32>
// CHECK-SAME: %[[V:[^:]*]]: tensor<2x1x4x8xf32>
// CHECK: %[[QH:.*]] = graph.all_to_all %[[Q]] {concat_axis = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64} : (tensor<2x4x4x8xf32>) -> tensor<2x2x8x8xf32>
// CHECK: %[[K1:.*]] = graph.unsqueeze %[[K]] {axes = array<i64: 2>} : (tensor<2x1x4x8xf32>) -> tensor<2x1x1x4x8xf32>
// CHECK: %[[K2:.*]] = graph.expand %[[K1]], %{{.*}} -> tensor<2x1x2x4x8xf32>
// CHECK: %[[K3:.*]] = graph.reshape %[[K2]], %{{.*}} -> tensor<2x2x4x8xf32>
// CHECK: %[[KH:.*]] = graph.all_to_all %[[K3]] {concat_axis = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64} : (tensor<2x2x4x8xf32>) -> tensor<2x1x8x8xf32>
// CHECK: %[[VH:.*]] = graph.all_to_all %{{.*}} -> tensor<2x1x8x8xf32>
// CHECK: %[[OH:.*]], %[[LH:.*]] = graph.attention %[[QH]], %[[KH]], %[[VH]] {causal = true, scale = 2.500000e-01 : f64} : {{.*}} -> (tensor<2x2x8x8xf32>, tensor<2x2x8xf32>)
// CHECK: %[[O:.*]] = graph.all_to_all %[[OH]] {concat_axis = 1 : i64, num_ranks = 2 : i64, split_axis = 2 : i64} : (tensor<2x2x8x8xf32>) -> tensor<2x4x4x8xf32>
// CHECK: %[[L:.*]] = graph.all_to_all %[[LH]] {concat_axis = 1 : i64, num_ranks = 2 : i64, split_axis = 2 : i64} : (tensor<2x2x8xf32>) -> tensor<2x4x4xf32>
// CHECK: return %[[O]], %[[L]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<2x4x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<2x1x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<2x1x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> (tensor<2x4x8x8xf32>, tensor<2x4x8xf32>) {
    // expected-remark @below {{'graph.attention' by ulysses: all_to_all of query, key, value and output (key/value heads repeated 2 times to split across the ranks)}}
    %out, %lse = graph.attention %q, %k, %v {scale = 0.25 : f64, causal = true} : (tensor<2x4x8x8xf32>, tensor<2x1x8x8xf32>, tensor<2x1x8x8xf32>) -> (tensor<2x4x8x8xf32>, tensor<2x4x8xf32>)
    return %out, %lse : tensor<2x4x8x8xf32>, tensor<2x4x8xf32>
  }
}

// -----

module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x3x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x3x8x8xf32> {
    // expected-error @below {{ulysses splits attention heads across ranks, and 3 query heads do not split across 2 ranks; use --sp-strategy=allgather or ring, or a rank count that divides 3}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.25 : f64, causal = true} : (tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>, tensor<1x3x8x8xf32>) -> (tensor<1x3x8x8xf32>, tensor<1x3x8xf32>)
    return %out : tensor<1x3x8x8xf32>
  }
}
