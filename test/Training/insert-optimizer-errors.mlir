// RUN: sp-opt %s --sp-insert-optimizer --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-insert-optimizer="kind=momentum" --split-input-file 2>&1 | FileCheck %s --check-prefix=KIND

// KIND: unknown optimizer 'momentum'; expected adamw or sgd

module {
  // expected-error @below {{no gradients to apply: run sp-autodiff before sp-insert-optimizer}}
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
    return %x : tensor<2x2xf32>
  }
}

// -----

module {
  // expected-error @below {{optimizer state 'w.exp_avg' clashes with an initializer of that name}}
  ml_program.global private mutable @w(dense<1.0> : tensor<2x2xf32>) : tensor<2x2xf32>
  ml_program.global private @w.exp_avg(dense<1.0> : tensor<2x2xf32>) : tensor<2x2xf32>
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32> {graph.gradient_of = @w}) {
    return %x : tensor<2x2xf32>
  }
}
