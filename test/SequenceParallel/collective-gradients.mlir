// RUN: sp-opt %s --split-input-file --sp-autodiff | FileCheck %s

// Each collective's gradient is its transpose, built in reverse order; the
// loss of a step on 2 ranks is seeded with 1/2 on each.
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = graph.shard_slice %[[W:.*]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
// CHECK: %[[SEED:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[DS:.*]] = graph.all_reduce %[[SEED]] {num_ranks = 2 : i64}
// CHECK: %[[DR:.*]] = graph.reshape %[[DS]]
// CHECK: %[[DF:.*]] = graph.expand %[[DR]]
// CHECK: %[[DE:.*]] = graph.shard_slice %[[DF]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
// CHECK: %[[DD:.*]] = graph.all_gather %[[DE]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x8x4xf32>
// CHECK: %[[DC:.*]] = graph.reduce_scatter %[[DD]] {axis = 2 : i64, num_ranks = 2 : i64} : (tensor<2x8x4xf32>) -> tensor<2x8x2xf32>
// CHECK: %[[DB:.*]] = graph.all_to_all %[[DC]] {concat_axis = 2 : i64, num_ranks = 2 : i64, split_axis = 1 : i64} : (tensor<2x8x2xf32>) -> tensor<2x4x4xf32>
// CHECK: %[[DA:.*]] = graph.ring_shift %[[DB]] {num_ranks = 2 : i64, offset = -1 : i64}
// CHECK: %[[DW:.*]] = graph.shard_unslice %[[DA]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x4x4xf32>) -> tensor<2x8x4xf32>
// CHECK: return %{{.*}}, %[[DW]]
module attributes {graph.num_ranks = 2 : i64} {
  ml_program.global private mutable @w(dense<1.0> : tensor<2x8x4xf32>) : tensor<2x8x4xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %w = ml_program.global_load @w : tensor<2x8x4xf32>
    %a = graph.shard_slice %w {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
    %b = graph.ring_shift %a {offset = 1 : i64, num_ranks = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    %c = graph.all_to_all %b {split_axis = 2 : i64, concat_axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x8x2xf32>
    %d = graph.all_gather %c {axis = 2 : i64, num_ranks = 2 : i64} : (tensor<2x8x2xf32>) -> tensor<2x8x4xf32>
    %e = graph.reduce_scatter %d {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
    %f = graph.shard_unslice %e {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x4x4xf32>) -> tensor<2x8x4xf32>
    %s = graph.reduce_sum %f {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<2x8x4xf32>) -> tensor<f32>
    %loss = graph.all_reduce %s {num_ranks = 2 : i64} : (tensor<f32>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}

// -----

// block_attention differentiates through both results: the ring merge reads
// the logsumexp. An output nobody reads gets a zero gradient.
// CHECK-LABEL: func.func @main
// CHECK: %[[O:.*]], %[[L:.*]] = graph.block_attention %[[Q:.*]], %[[Q]], %[[Q]], %[[P:.*]], %[[P]] {causal = true
// CHECK: %[[DL:.*]] = graph.constant dense<1.000000e+00> : tensor<1x2x4xf32>
// CHECK: %[[DO:.*]] = graph.constant dense<0.000000e+00> : tensor<1x2x4x8xf32>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = graph.block_attention_grad %[[Q]], %[[Q]], %[[Q]], %[[P]], %[[P]], %[[O]], %[[L]], %[[DO]], %[[DL]] {causal = true, scale = 5.000000e-01 : f64}
module {
  ml_program.global private mutable @q(dense<1.0> : tensor<1x2x4x8xf32>) : tensor<1x2x4x8xf32>
  func.func @main(%positions: tensor<4xi64>) -> (tensor<f32> {graph.loss}) {
    %q = ml_program.global_load @q : tensor<1x2x4x8xf32>
    %out, %lse = graph.block_attention %q, %q, %q, %positions, %positions {scale = 0.5 : f64, causal = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4xi64>, tensor<4xi64>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
    %s = graph.reduce_sum %lse {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<1x2x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// ring_attention differentiates into its own backward ring, which reads only
// the rank's query, key, value, output and logsumexp.
// CHECK-LABEL: func.func @main
// CHECK: %[[O:.*]], %[[L:.*]] = graph.ring_attention %[[Q:.*]], %[[Q]], %[[Q]] {causal = true, num_ranks = 2 : i64, scale = 5.000000e-01 : f64, zigzag = true}
// CHECK: %[[DL:.*]] = graph.constant dense<1.000000e+00> : tensor<1x2x4xf32>
// CHECK: %[[DO:.*]] = graph.constant dense<0.000000e+00> : tensor<1x2x4x8xf32>
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = graph.ring_attention_grad %[[Q]], %[[Q]], %[[Q]], %[[O]], %[[L]], %[[DO]], %[[DL]] {causal = true, num_ranks = 2 : i64, scale = 5.000000e-01 : f64, zigzag = true}
module {
  ml_program.global private mutable @q(dense<1.0> : tensor<1x2x4x8xf32>) : tensor<1x2x4x8xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %q = ml_program.global_load @q : tensor<1x2x4x8xf32>
    %out, %lse = graph.ring_attention %q, %q, %q {scale = 0.5 : f64, causal = true, num_ranks = 2 : i64, zigzag = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
    %s = graph.reduce_sum %lse {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<1x2x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// The hybrid's collectives keep their groups in the backward pass: the
// all_to_all's transpose exchanges inside the same groups, and the backward
// ring steps across them as the forward one.
// CHECK-LABEL: func.func @main
// CHECK: graph.ring_attention_grad {{.*}}group_size = 2 : i64, num_ranks = 2 : i64
// CHECK: graph.all_to_all %{{.*}} {concat_axis = 1 : i64, num_groups = 2 : i64, num_ranks = 2 : i64, split_axis = 2 : i64, zigzag_axis = 2 : i64} : (tensor<1x1x8x8xf32>) -> tensor<1x2x4x8xf32>
module attributes {graph.num_ranks = 4 : i64} {
  ml_program.global private mutable @q(dense<1.0> : tensor<1x2x4x8xf32>) : tensor<1x2x4x8xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %q = ml_program.global_load @q : tensor<1x2x4x8xf32>
    %h = graph.all_to_all %q {split_axis = 1 : i64, concat_axis = 2 : i64, num_ranks = 2 : i64, num_groups = 2 : i64, zigzag_axis = 2 : i64} : (tensor<1x2x4x8xf32>) -> tensor<1x1x8x8xf32>
    %out, %lse = graph.ring_attention %h, %h, %h {scale = 0.5 : f64, causal = true, num_ranks = 2 : i64, group_size = 2 : i64, zigzag = true} : (tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>, tensor<1x1x8x8xf32>) -> (tensor<1x1x8x8xf32>, tensor<1x1x8xf32>)
    %s = graph.reduce_sum %lse {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<1x1x8xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}
