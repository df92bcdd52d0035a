// RUN: sp-opt %s --sp-clip-gradients --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-clip-gradients="max-norm=-1" --split-input-file 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not sp-opt %s --sp-clip-gradients="max-norm=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=ZERO

// NEGATIVE: gradient clipping: max norm -1 must be positive and finite
// ZERO: gradient clipping: max norm 0 must be positive and finite

module {
  // expected-error @below {{no gradients to clip: run sp-autodiff before sp-clip-gradients}}
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
    return %x : tensor<2x2xf32>
  }
}

// -----

// expected-error @below {{the gradients are already clipped}}
module attributes {graph.clip_grad_norm = 1.0 : f64} {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32> {graph.gradient_of = @w}) {
    return %x : tensor<2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @n(dense<1> : tensor<2xi64>) : tensor<2xi64>
  // expected-error @below {{result #0 is a gradient of type 'tensor<2xi64>'; only float tensors can be clipped}}
  func.func @main(%x: tensor<2xi64>) -> (tensor<2xi64> {graph.gradient_of = @n}) {
    return %x : tensor<2xi64>
  }
}
