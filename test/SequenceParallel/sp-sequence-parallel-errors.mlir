// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=4 strategy=allgather'

module attributes {graph.token_input = "input_ids"} {
  // expected-error @below {{sequence length 6 of 'input_ids' does not split across 4 ranks; use a length divisible by 4 (e.g. 4 or 8) or a rank count that divides it}}
  func.func @main(%ids: tensor<2x6xi64> {graph.onnx_name = "input_ids"}) -> tensor<2x6xi64> {
    return %ids : tensor<2x6xi64>
  }
}

// -----

module {
  // expected-error @below {{sequence parallelism needs a static token input; 'input_ids' has shape [2, ?]: bind it with --input-shape}}
  func.func @main(%ids: tensor<2x?xi64> {graph.onnx_name = "input_ids"}) -> tensor<2x?xi64> {
    return %ids : tensor<2x?xi64>
  }
}

// -----

module {
  // expected-error @below {{sequence parallelism needs the token input [batch, sequence]: the model has no rank-2 integer input}}
  func.func @main(%x: tensor<2x8x4xf32>) -> tensor<2x8x4xf32> {
    return %x : tensor<2x8x4xf32>
  }
}

// -----

module attributes {graph.num_ranks = 4 : i64} {
  // expected-error @below {{@main is already sequence-parallel; run sp-sequence-parallel once}}
  func.func @main(%ids: tensor<2x8xi64>) -> tensor<2x8xi64> {
    return %ids : tensor<2x8xi64>
  }
}

// -----

module attributes {graph.token_input = "input_ids"} {
  // expected-error @below {{input 'position_ids' of shape [2, 4] names dim 1 'sequence' but its length differs from the sequence length 8}}
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %positions: tensor<2x4xi64> {graph.onnx_name = "position_ids", graph.dim_names = ["batch", "sequence"]}) -> tensor<2x8xi64> {
    return %ids : tensor<2x8xi64>
  }
}
