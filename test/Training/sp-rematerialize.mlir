// RUN: sp-opt %s --sp-rematerialize="budget=150000" | FileCheck %s --check-prefix=ONE
// RUN: sp-opt %s --sp-rematerialize="budget=140000" | FileCheck %s --check-prefix=TWO
// RUN: sp-opt %s --sp-rematerialize="budget=1000000" | FileCheck %s --check-prefix=FITS
// RUN: sp-opt %s --sp-rematerialize | FileCheck %s --check-prefix=NONE

// Three layers of matmul, gelu, tanh after sp-autodiff, as sp-compile
// leaves them: 12 KiB of weights, 16 KiB per activation. Without a budget
// the step takes 159808 bytes (147520 of arena); the peak is where the
// backward pass begins, with every layer's activations live. Each layer's
// backward pass reads its matmul's input (the tanh before it, for the weight
// gradient and tanh's own gradient) and the matmul's output (for gelu_grad).
// The matmul outputs stay; a tanh is recomputed from the matmul output the
// backward pass keeps anyway, through the gelu between them (a chain of
// two), right before its first backward reader. The first layer's goes
// first: its tanh lives longest.
// ONE-LABEL: module attributes {graph.memory_budget = 150000 : i64}
// ONE: %[[H0:.*]] = graph.matmul %[[X:.*]], %[[W0:.*]] :
// ONE-NEXT: %[[G0:.*]] = graph.gelu %[[H0]] : tensor<128x32xf32>
// ONE-NEXT: %[[T0:.*]] = graph.tanh %[[G0]] : tensor<128x32xf32>
// ONE: graph.matmul %[[T0]], %{{.*}} :
// ONE: graph.gemm %{{.*}}, %w1 {transpose_b = true}
// ONE-NEXT: %[[RG0:.*]] = graph.gelu %[[H0]] {graph.recomputed} : tensor<128x32xf32>
// ONE-NEXT: %[[RT0:.*]] = graph.tanh %[[RG0]] {graph.recomputed} : tensor<128x32xf32>
// ONE-NEXT: graph.gemm %[[RT0]], %{{.*}} {transpose_a = true}
// ONE-NEXT: graph.mul %[[RT0]], %[[RT0]]
// ONE-NOT: graph.recomputed

// A tighter budget takes the second layer's tanh too; the last layer's is
// read at once by the backward pass and stays. The matmuls, compute-bound
// on the cpu profile, are not cloned.
// TWO-LABEL: module attributes {graph.memory_budget = 140000 : i64}
// TWO: %[[H1:.*]] = graph.matmul %{{.*}}, %w1 :
// TWO: %[[RG1:.*]] = graph.gelu %[[H1]] {graph.recomputed}
// TWO-NEXT: %[[RT1:.*]] = graph.tanh %[[RG1]] {graph.recomputed}
// TWO-NEXT: graph.gemm %[[RT1]], %{{.*}} {transpose_a = true}
// TWO: graph.gelu %{{.*}} {graph.recomputed}
// TWO-NEXT: graph.tanh %{{.*}} {graph.recomputed}
// TWO-NOT: graph.recomputed

// A step that fits is left as it is, and so is one without a budget.
// FITS-LABEL: module attributes {graph.memory_budget = 1000000 : i64}
// FITS-NOT: graph.recomputed
// NONE-NOT: graph.memory_budget
// NONE-NOT: graph.recomputed
module {
  ml_program.global private mutable @w0(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  ml_program.global private mutable @w1(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  ml_program.global private mutable @w2(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  func.func @main(%x: tensor<128x32xf32> {graph.onnx_name = "x"}) -> (tensor<f32> {graph.loss}, tensor<32x32xf32> {graph.gradient_of = @w0}, tensor<32x32xf32> {graph.gradient_of = @w1}, tensor<32x32xf32> {graph.gradient_of = @w2}) {
    %0 = graph.constant dense<1.000000e+00> : tensor<f32>
    %1 = graph.constant dense<1.000000e+00> : tensor<128x32xf32>
    %w0 = ml_program.global_load @w0 : tensor<32x32xf32>
    %h0 = graph.matmul %x, %w0 : (tensor<128x32xf32>, tensor<32x32xf32>) -> tensor<128x32xf32>
    %g0 = graph.gelu %h0 : tensor<128x32xf32>
    %t0 = graph.tanh %g0 : tensor<128x32xf32>
    %w1 = ml_program.global_load @w1 : tensor<32x32xf32>
    %h1 = graph.matmul %t0, %w1 : (tensor<128x32xf32>, tensor<32x32xf32>) -> tensor<128x32xf32>
    %g1 = graph.gelu %h1 : tensor<128x32xf32>
    %t1 = graph.tanh %g1 : tensor<128x32xf32>
    %w2 = ml_program.global_load @w2 : tensor<32x32xf32>
    %h2 = graph.matmul %t1, %w2 : (tensor<128x32xf32>, tensor<32x32xf32>) -> tensor<128x32xf32>
    %g2 = graph.gelu %h2 : tensor<128x32xf32>
    %t2 = graph.tanh %g2 : tensor<128x32xf32>
    %loss = graph.reduce_sum %t2 {axes = array<i64>, keep_dims = false} : (tensor<128x32xf32>) -> tensor<f32>
    %12 = graph.mul %t2, %t2 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %13 = graph.sub %0, %12 : (tensor<f32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %14 = graph.mul %1, %13 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %15 = graph.gelu_grad %h2, %14 : tensor<128x32xf32>
    %16 = graph.gemm %15, %w2 {transpose_b = true} : (tensor<128x32xf32>, tensor<32x32xf32>) -> tensor<128x32xf32>
    %17 = graph.gemm %t1, %15 {transpose_a = true} : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<32x32xf32>
    %18 = graph.mul %t1, %t1 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %19 = graph.sub %0, %18 : (tensor<f32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %20 = graph.mul %16, %19 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %21 = graph.gelu_grad %h1, %20 : tensor<128x32xf32>
    %22 = graph.gemm %21, %w1 {transpose_b = true} : (tensor<128x32xf32>, tensor<32x32xf32>) -> tensor<128x32xf32>
    %23 = graph.gemm %t0, %21 {transpose_a = true} : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<32x32xf32>
    %24 = graph.mul %t0, %t0 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %25 = graph.sub %0, %24 : (tensor<f32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %26 = graph.mul %22, %25 : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<128x32xf32>
    %27 = graph.gelu_grad %h0, %26 : tensor<128x32xf32>
    %28 = graph.gemm %x, %27 {transpose_a = true} : (tensor<128x32xf32>, tensor<128x32xf32>) -> tensor<32x32xf32>
    return %loss, %28, %23, %17 : tensor<f32>, tensor<32x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>
  }
}

