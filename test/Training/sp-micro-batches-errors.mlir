// RUN: sp-opt %s --sp-micro-batches="count=2" --split-input-file -verify-diagnostics
// RUN: not sp-opt %s --sp-micro-batches="count=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: micro-batches: the count 0 must be at least 1

module {
  // expected-error @below {{micro-batches: @main returns no loss and gradients to accumulate; run sp-insert-loss and sp-autodiff first}}
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
    return %x : tensor<2x2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  // expected-error @below {{micro-batches: argument #1 ('scale') of type 'tensor<f32>' has no batch dim (dim 0) to slice}}
  func.func @main(%x: tensor<2xf32>, %s: tensor<f32> {graph.onnx_name = "scale"}) -> (tensor<f32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    return %s, %x : tensor<f32>, tensor<2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  // expected-error @below {{micro-batches: argument #0 has a dynamic batch dim [?]; bind it with --input-shape}}
  func.func @main(%x: tensor<?xf32>, %s: tensor<f32>) -> (tensor<f32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    %w = ml_program.global_load @w : tensor<2xf32>
    return %s, %w : tensor<f32>, tensor<2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @n(dense<1> : tensor<2xi64>) : tensor<2xi64>
  // expected-error @below {{micro-batches: result #1 has type 'tensor<2xi64>'; only float losses and gradients can be averaged}}
  func.func @main(%x: tensor<2xi64>, %l: tensor<1xf32>) -> (tensor<1xf32> {graph.loss}, tensor<2xi64> {graph.gradient_of = @n}) {
    return %l, %x : tensor<1xf32>, tensor<2xi64>
  }
}

// -----

// expected-error @below {{micro-batches: the step already clips or applies its gradients; run sp-micro-batches before sp-clip-gradients and sp-insert-optimizer}}
module attributes {graph.clip_grad_norm = 1.0 : f64} {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%x: tensor<2xf32>, %l: tensor<1xf32>) -> (tensor<1xf32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    return %l, %x : tensor<1xf32>, tensor<2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%x: tensor<2xf32>, %l: tensor<1xf32>) -> (tensor<1xf32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    // expected-error @below {{micro-batches: the step already updates state; run sp-micro-batches before sp-insert-optimizer}}
    ml_program.global_store @w = %x : tensor<2xf32>
    return %l, %x : tensor<1xf32>, tensor<2xf32>
  }
}

// -----

// expected-error @below {{micro-batches: the step already accumulates micro-batches (the module has graph.micro_batches)}}
module attributes {graph.micro_batches = 2 : i64} {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%x: tensor<2xf32>, %l: tensor<1xf32>) -> (tensor<1xf32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    return %l, %x : tensor<1xf32>, tensor<2xf32>
  }
}

// -----

module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  // expected-error @below {{micro-batches: argument #0 ('tokens') is split across ranks along dim 0 as its sequence; micro-batches slice dim 0 as the batch}}
  func.func @main(%x: tensor<8x2xi64> {graph.onnx_name = "tokens", graph.shard_axis = 0 : i64}, %l: tensor<1xf32>) -> (tensor<1xf32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    %w = ml_program.global_load @w : tensor<2xf32>
    return %l, %w : tensor<1xf32>, tensor<2xf32>
  }
}
