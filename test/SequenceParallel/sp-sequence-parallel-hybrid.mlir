// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=4 ulysses-degree=2' | FileCheck %s

// The hybrid of Ulysses and the ring on 4 ranks, Ulysses degree 2: inside each
// group of 2 consecutive ranks all_to_all takes query, key and value from the
// rank's zigzag shard (4 of 16 positions) with every head to the group's block
// (8 positions) with half the heads; ring_attention passes the blocks between
// the 2 groups (group_size 2: rank r and r + 2), and all_to_all takes the
// output back. One key/value head is repeated to split across 2 ranks.
// CHECK: module attributes {graph.num_ranks = 4 : i64
// CHECK-SAME: graph.zigzag
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[Q:[^:]*]]: tensor<2x4x4x8xf32>
// CHECK-SAME: %[[K:[^:]*]]: tensor<2x1x4x8xf32>
// CHECK: %[[QH:.*]] = graph.all_to_all %[[Q]] {concat_axis = 2 : i64, num_groups = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64, zigzag_axis = 2 : i64} : (tensor<2x4x4x8xf32>) -> tensor<2x2x8x8xf32>
// CHECK: graph.expand
// CHECK: %[[KH:.*]] = graph.all_to_all %{{.*}} {concat_axis = 2 : i64, num_groups = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64, zigzag_axis = 2 : i64} : (tensor<2x2x4x8xf32>) -> tensor<2x1x8x8xf32>
// CHECK: %[[VH:.*]] = graph.all_to_all %{{.*}} -> tensor<2x1x8x8xf32>
// CHECK: %[[OH:.*]], %[[LH:.*]] = graph.ring_attention %[[QH]], %[[KH]], %[[VH]] {causal = true, group_size = 2 : i64, num_ranks = 2 : i64, scale = 2.500000e-01 : f64, zigzag = true} : {{.*}} -> (tensor<2x2x8x8xf32>, tensor<2x2x8xf32>)
// CHECK: %[[O:.*]] = graph.all_to_all %[[OH]] {concat_axis = 1 : i64, num_groups = 2 : i64, num_ranks = 2 : i64, split_axis = 2 : i64, zigzag_axis = 2 : i64} : (tensor<2x2x8x8xf32>) -> tensor<2x4x4x8xf32>
// CHECK: return %[[O]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<2x4x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<2x1x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<2x1x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<2x4x16x8xf32> {
    // expected-remark @below {{'graph.attention' by hybrid: all_to_all of query, key, value and output inside 2 groups of 2 ranks, a ring of 2 steps across them (key/value heads repeated 2 times to split across the ranks)}}
    %out, %lse = graph.attention %q, %k, %v {scale = 0.25 : f64, causal = true} : (tensor<2x4x16x8xf32>, tensor<2x1x16x8xf32>, tensor<2x1x16x8xf32>) -> (tensor<2x4x16x8xf32>, tensor<2x4x16xf32>)
    return %out : tensor<2x4x16x8xf32>
  }
}

// -----

// A key padding bias (one row, one head) broadcasts over the group's block;
// the ring takes its columns block by block.
// CHECK-LABEL: func.func @main
// CHECK: graph.ring_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {{.*}}group_size = 2 : i64{{.*}} : (tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>, tensor<1x1x1x16xf32>)
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %bias: tensor<1x1x1x16xf32>)
      -> tensor<1x2x16x8xf32> {
    // expected-remark @below {{by hybrid}}
    %out, %lse = graph.attention %q, %q, %q, %bias {scale = 0.25 : f64} : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x1x1x16xf32>) -> (tensor<1x2x16x8xf32>, tensor<1x2x16xf32>)
    return %out : tensor<1x2x16x8xf32>
  }
}

// -----

// A bias with a row per query (a padding mask built over the whole
// sequence): the rank's rows, repeated over the group's heads, go through the
// queries' all_to_all to become the group's block of rows.
// CHECK-LABEL: func.func @main
// CHECK: %[[ROWS:.*]] = graph.shard_slice %{{.*}} {axis = 2 : i64, num_ranks = 4 : i64, zigzag = true} : (tensor<1x1x16x16xf32>) -> tensor<1x1x4x16xf32>
// CHECK: %[[HEADS:.*]] = graph.expand %[[ROWS]], %{{.*}} -> tensor<1x2x4x16xf32>
// CHECK: %[[BIAS:.*]] = graph.all_to_all %[[HEADS]] {concat_axis = 2 : i64, num_groups = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64, zigzag_axis = 2 : i64} : (tensor<1x2x4x16xf32>) -> tensor<1x1x8x16xf32>
// CHECK: graph.ring_attention %{{.*}}, %{{.*}}, %{{.*}}, %[[BIAS]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %bias: tensor<1x1x16x16xf32>)
      -> tensor<1x2x16x8xf32> {
    // expected-remark @below {{by hybrid}}
    %out, %lse = graph.attention %q, %q, %q, %bias {scale = 0.25 : f64} : (tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, tensor<1x1x16x16xf32>) -> (tensor<1x2x16x8xf32>, tensor<1x2x16xf32>)
    return %out : tensor<1x2x16x8xf32>
  }
}

// -----

// Three query heads do not split across groups of two.
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x3x16x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x3x16x8xf32> {
    // expected-error @below {{the hybrid splits attention heads across groups of 2 ranks (--sp-ulysses-degree), and 3 query heads do not split across 2; use a degree that divides 3}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.25 : f64} : (tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32>, tensor<1x3x16x8xf32>) -> (tensor<1x3x16x8xf32>, tensor<1x3x16xf32>)
    return %out : tensor<1x3x16x8xf32>
  }
}
