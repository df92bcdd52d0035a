// What sequence parallelism leaves for plan emission must make sense.
// RUN: rm -rf %t && mkdir -p %t
// RUN: sp-opt %s --split-input-file --verify-diagnostics --sp-emit-plan=output=%t/p.spplan

// expected-error @below {{graph.num_ranks = 0 : i64 is not a positive rank count}}
module attributes {graph.num_ranks = 0 : i64} {
  func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> (tensor<4xf32> {graph.onnx_name = "y"}) {
    %y = graph.neg %x : tensor<4xf32>
    return %y : tensor<4xf32>
  }
}

// -----

module attributes {graph.num_ranks = 2 : i64} {
  // expected-error @below {{argument #0 ('x') has graph.shard_axis 1, out of range for 'tensor<4xf32>'}}
  func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x", graph.shard_axis = 1 : i64}) -> (tensor<4xf32> {graph.onnx_name = "y"}) {
    %y = graph.neg %x : tensor<4xf32>
    return %y : tensor<4xf32>
  }
}

// -----

module attributes {graph.num_ranks = 2 : i64, graph.zigzag} {
  // expected-error @below {{result #0 ('y') is split along dim 0 of 'tensor<3xf32>', which does not hold the 2 chunks of a zigzag shard}}
  func.func @main(%x: tensor<3xf32> {graph.onnx_name = "x"}) -> (tensor<3xf32> {graph.onnx_name = "y", graph.shard_axis = -1 : i64}) {
    %y = graph.neg %x : tensor<3xf32>
    return %y : tensor<3xf32>
  }
}
