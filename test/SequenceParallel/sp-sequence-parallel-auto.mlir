// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=4 strategy=auto' | FileCheck %s

// Four query and key/value heads on four ranks: ulysses moves a quarter of
// the sequence of q, k, v and the output, allgather three quarters of K and V.
// CHECK-LABEL: func.func @main
// CHECK-COUNT-4: graph.all_to_all
module attributes {graph.token_input = "input_ids"} {
  // expected-remark @below {{strategy auto chose ulysses: attention moves 12288 bytes per rank and step by allgather, 6144 by ulysses}}
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x4x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x4x16x16xf32> {
    // expected-remark @below {{'graph.attention' by ulysses}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.25 : f64, causal = true} : (tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>) -> (tensor<1x4x16x16xf32>, tensor<1x4x16xf32>)
    return %out : tensor<1x4x16x16xf32>
  }
}

// -----

// One key/value head: ulysses would repeat it four times; allgather moves less.
// CHECK-LABEL: func.func @main
// CHECK: graph.all_gather
// CHECK: graph.block_attention
module attributes {graph.token_input = "input_ids"} {
  // expected-remark @below {{strategy auto chose allgather: attention moves 3072 bytes per rank and step by allgather, 6144 by ulysses}}
  func.func @main(%ids: tensor<1x16xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x4x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %kv: tensor<1x1x16x16xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x4x16x16xf32> {
    // expected-remark @below {{'graph.attention' by allgather}}
    %out, %lse = graph.attention %q, %kv, %kv {scale = 0.25 : f64, causal = true} : (tensor<1x4x16x16xf32>, tensor<1x1x16x16xf32>, tensor<1x1x16x16xf32>) -> (tensor<1x4x16x16xf32>, tensor<1x4x16xf32>)
    return %out : tensor<1x4x16x16xf32>
  }
}
