// RUN: sp-opt %s --split-input-file -verify-diagnostics '--sp-insert-loss=kind=output' | FileCheck %s

// --loss=output: the model's one scalar float output is the loss.
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<f32> {graph.loss})
module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<f32> {
    %s = graph.reduce_sum %x {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<2x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// A model's own loss would count the padding sp-compile adds for --sp.
module attributes {graph.unpadded_sequence_length = 3 : i64} {
  // expected-error @below {{--loss=output: the model's own loss would count the padding that makes the sequence split across the ranks; use a sequence length the ranks' chunks divide, or --loss=causal-lm}}
  func.func @main(%x: tensor<2x4xf32>) -> tensor<f32> {
    %s = graph.reduce_sum %x {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<2x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}
