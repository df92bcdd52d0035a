// RUN: sp-opt %s --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=allgather' | FileCheck %s --check-prefix=ALLGATHER
// RUN: sp-opt %s --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=ulysses' | FileCheck %s --check-prefix=ULYSSES
// RUN: sp-opt %s --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=ring' | FileCheck %s --check-prefix=RING

// Dropout on the attention probabilities (Graph_AttentionDropoutAttrs), drawn
// inside the kernels: every strategy keeps the whole tensor's mask. The
// dropout indexes positions of the 8-long sequence, which no rank's keys
// span alone (dropout_sequence_length); allgather attends by positions
// (block_attention) even without a causal mask; Ulysses' ranks hold a chunk
// of the heads each (dropout_head_ranks).

// ALLGATHER: %[[K:.*]] = graph.all_gather %{{.*}} {axis = 2 : i64, num_ranks = 2 : i64}
// ALLGATHER: graph.block_attention %{{.*}}, %[[K]], %{{.*}}, %{{.*}}, %{{.*}} {dropout_ratio = 1.000000e-01 : f64, dropout_sequence_length = 8 : i64, dropout_site = 4 : i64, scale = 5.000000e-01 : f64}
// ALLGATHER-NOT: graph.attention

// ULYSSES: graph.attention %{{.*}}, %{{.*}}, %{{.*}} {dropout_head_ranks = 2 : i64, dropout_ratio = 1.000000e-01 : f64, dropout_sequence_length = 8 : i64, dropout_site = 4 : i64, scale = 5.000000e-01 : f64} : (tensor<1x1x8x8xf32>

// RING: graph.ring_attention %{{.*}}, %{{.*}}, %{{.*}} {dropout_ratio = 1.000000e-01 : f64, dropout_sequence_length = 8 : i64, dropout_site = 4 : i64, num_ranks = 2 : i64, scale = 5.000000e-01 : f64, zigzag = true}
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    // expected-remark @below {{'graph.attention' by}}
    %out, %lse = graph.attention %q, %k, %v {scale = 0.5 : f64, dropout_ratio = 0.1 : f64, dropout_site = 4 : i64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}
