// The graph.* attributes, each of its kind and in its place, verify and
// round-trip.
// RUN: sp-opt %s | FileCheck %s

// CHECK: module attributes {graph.clip_grad_norm = 1.000000e+00 : f64, graph.memory_budget = 1024 : i64, graph.micro_batches = 4 : i64, graph.num_ranks = 2 : i64, graph.optimizer = {beta1 = 9.000000e-01 : f64}, graph.token_input = "ids", graph.vocab_size = 5 : i64, graph.zigzag}
module attributes {graph.num_ranks = 2 : i64, graph.zigzag, graph.token_input = "ids",
                   graph.vocab_size = 5 : i64, graph.optimizer = {beta1 = 0.9 : f64},
                   graph.clip_grad_norm = 1.0 : f64, graph.micro_batches = 4 : i64,
                   graph.memory_budget = 1024 : i64} {
  // CHECK: ml_program.global private mutable @w_m{{.*}}{graph.state_of = @w}
  ml_program.global private mutable @w(dense<0.0> : tensor<2xf32>) : tensor<2xf32>
  ml_program.global private mutable @w_m(dense<0.0> : tensor<2xf32>) : tensor<2xf32> {graph.state_of = @w}
  // CHECK: ml_program.global private mutable @sp.step{{.*}}{graph.step_counter}
  ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter}
  // CHECK: func.func @main(%{{.*}}: tensor<4xf32> {graph.dim_names = ["seq"], graph.onnx_name = "x", graph.shard_axis = 0 : i64})
  // CHECK-SAME: -> (tensor<4xf32> {graph.loss}, tensor<4xf32> {graph.gradient_of = @w}, tensor<4xf32> {graph.learning_rate}, tensor<4xf32> {graph.gradient_norm}, tensor<4xf32> {graph.onnx_name = "y", graph.shard_axis = -1 : i64})
  func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x", graph.dim_names = ["seq"], graph.shard_axis = 0 : i64})
      -> (tensor<4xf32> {graph.loss}, tensor<4xf32> {graph.gradient_of = @w},
          tensor<4xf32> {graph.learning_rate}, tensor<4xf32> {graph.gradient_norm},
          tensor<4xf32> {graph.onnx_name = "y", graph.shard_axis = -1 : i64}) {
    // CHECK: graph.add %{{.*}} {graph.accumulates_gradient}
    %sum = graph.add %x, %x {graph.accumulates_gradient} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    // CHECK: graph.tanh %{{.*}} {graph.recomputed}
    %again = graph.tanh %x {graph.recomputed} : tensor<4xf32>
    return %sum, %x, %x, %x, %x : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
}
