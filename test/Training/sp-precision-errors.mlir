// RUN: sp-opt %s --sp-precision=precision=bf16 --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-precision=precision=fp16 --split-input-file 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// UNKNOWN: precision 'fp16' is not fp32 or bf16

// expected-error @below {{the precision policy was already applied (the module has graph.precision)}}
module attributes {graph.precision = "bf16"} {
  func.func @main(%x: tensor<2xf32>) -> (tensor<f32> {graph.loss}) {
    %l = graph.reduce_sum %x {axes = array<i64>, keep_dims = false} : (tensor<2xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  // expected-error @below {{the step already has its backward pass: run sp-precision before sp-autodiff}}
  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32> {graph.gradient_of = @w}) {
    return %x : tensor<2xf32>
  }
}

// -----

// expected-error @below {{expected a function @main with one block, as sp-compile imports it}}
module {
}
