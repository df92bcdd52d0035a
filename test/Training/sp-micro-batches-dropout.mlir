// RUN: sp-opt %s --sp-micro-batches="count=3" | FileCheck %s

// Dropout drawn inside attention (Graph_AttentionDropoutAttrs): each slice's
// copy of the step draws its rows of the whole batch's mask, as each slice's
// graph.dropout does.
// CHECK-LABEL: func.func @main
// CHECK: graph.dropout %{{.*}} {micro_batch = 0 : i64, ratio = 2.000000e-01 : f64, site = 1 : i64}
// CHECK: graph.attention %{{.*}} {dropout_micro_batch = 0 : i64, dropout_ratio = 1.000000e-01 : f64, dropout_site = 0 : i64
// CHECK: graph.dropout %{{.*}} {micro_batch = 1 : i64, ratio = 2.000000e-01 : f64, site = 1 : i64}
// CHECK: graph.attention %{{.*}} {dropout_micro_batch = 1 : i64, dropout_ratio = 1.000000e-01 : f64, dropout_site = 0 : i64
// CHECK: graph.dropout %{{.*}} {micro_batch = 2 : i64, ratio = 2.000000e-01 : f64, site = 1 : i64}
// CHECK: graph.attention %{{.*}} {dropout_micro_batch = 2 : i64, dropout_ratio = 1.000000e-01 : f64, dropout_site = 0 : i64
// CHECK-NOT: graph.attention
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%q: tensor<2x1x4x2xf32> {graph.onnx_name = "q"}) -> (tensor<f32> {graph.loss}, tensor<2xf32> {graph.gradient_of = @w}) {
    %w = ml_program.global_load @w : tensor<2xf32>
    %qw = graph.mul %q, %w : (tensor<2x1x4x2xf32>, tensor<2xf32>) -> tensor<2x1x4x2xf32>
    %d = graph.dropout %qw {ratio = 0.2 : f64, site = 1 : i64} : (tensor<2x1x4x2xf32>) -> tensor<2x1x4x2xf32>
    %o, %lse = graph.attention %d, %d, %d {scale = 1.0 : f64, dropout_ratio = 0.1 : f64, dropout_site = 0 : i64} : (tensor<2x1x4x2xf32>, tensor<2x1x4x2xf32>, tensor<2x1x4x2xf32>) -> (tensor<2x1x4x2xf32>, tensor<2x1x4xf32>)
    %l = graph.reduce_sum %o {axes = array<i64>, keep_dims = false} : (tensor<2x1x4x2xf32>) -> tensor<f32>
    %g = graph.reduce_sum %q {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<2x1x4x2xf32>) -> tensor<2xf32>
    return %l, %g : tensor<f32>, tensor<2xf32>
  }
}
