// RUN: sp-opt %s --sp-insert-optimizer --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-insert-optimizer="kind=momentum" --split-input-file 2>&1 | FileCheck %s --check-prefix=KIND

// RUN: not sp-opt %s --sp-insert-optimizer="lr-schedule=step" --split-input-file 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// RUN: not sp-opt %s --sp-insert-optimizer="lr-schedule=linear warmup-steps=5 total-steps=4" --split-input-file 2>&1 | FileCheck %s --check-prefix=WARMUP
// RUN: not sp-opt %s --sp-insert-optimizer="lr-schedule=cosine" --split-input-file 2>&1 | FileCheck %s --check-prefix=TOTAL
// RUN: not sp-opt %s --sp-insert-optimizer="lr-schedule=cosine total-steps=4 min-lr=0.1" --split-input-file 2>&1 | FileCheck %s --check-prefix=MINLR
// RUN: not sp-opt %s --sp-insert-optimizer="warmup-steps=3" --split-input-file 2>&1 | FileCheck %s --check-prefix=NOSCHEDULE

// KIND: unknown optimizer 'momentum'; expected adamw or sgd
// SCHEDULE: unknown learning-rate schedule 'step'; expected constant, linear or cosine
// WARMUP: warmup steps 5 exceed the total steps 4
// TOTAL: a cosine schedule needs the total steps (at least 1)
// MINLR: minimum learning rate 0.1 must be in [0, 0.001], the learning rate
// NOSCHEDULE: warmup-steps, total-steps and min-lr need lr-schedule

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
