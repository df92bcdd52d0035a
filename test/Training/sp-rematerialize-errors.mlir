// RUN: sp-opt %s --sp-rematerialize="budget=20000" --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-rematerialize="budget=-5" --split-input-file 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// NEGATIVE: memory budget: -5 bytes is not a byte count (0: no budget)

// The tanh the backward pass reads could be recomputed, but its input x
// would then live as long: nothing is freed at the peak, and the step stays
// at 4096 bytes of weights and 16512 of arena.
// expected-error @below {{memory budget of 20000 bytes (19.5 KiB) per rank cannot be met: recomputing every activation that lowers the peak brings the step to 20608 bytes (20.1 KiB), 608 bytes over (parameters, constants and optimizer state take 4096 bytes (4.0 KiB))}}
module {
  ml_program.global private mutable @w(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  func.func @main(%x: tensor<64x32xf32>) -> (tensor<f32> {graph.loss}, tensor<64x32xf32> {graph.onnx_name = "g"}) {
    %w = ml_program.global_load @w : tensor<32x32xf32>
    %t = graph.tanh %x : tensor<64x32xf32>
    %l = graph.reduce_sum %t {axes = array<i64>, keep_dims = false} : (tensor<64x32xf32>) -> tensor<f32>
    %a = graph.exp %l : tensor<f32>
    %b = graph.mul %a, %w : (tensor<f32>, tensor<32x32xf32>) -> tensor<32x32xf32>
    %c = graph.sin %b : tensor<32x32xf32>
    %s = graph.reduce_sum %c {axes = array<i64>, keep_dims = false} : (tensor<32x32xf32>) -> tensor<f32>
    %g = graph.mul %t, %s : (tensor<64x32xf32>, tensor<f32>) -> tensor<64x32xf32>
    return %l, %g : tensor<f32>, tensor<64x32xf32>
  }
}

// -----

// expected-error @below {{memory budget: @main returns no loss; recomputation needs a training step (sp-insert-loss, sp-autodiff)}}
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
