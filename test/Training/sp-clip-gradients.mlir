// RUN: sp-opt %s --sp-clip-gradients="max-norm=0.5" --split-input-file | FileCheck %s
// RUN: sp-opt %s --sp-clip-gradients="max-norm=0.5" --sp-insert-optimizer --split-input-file | FileCheck %s --check-prefix=UPDATE

// One norm over every gradient, one coefficient, each gradient scaled by it
// (cast once per element type other than f64) and returned in its place; the
// norm before clipping becomes a result marked graph.gradient_norm.
// CHECK-LABEL: module attributes {graph.clip_grad_norm = 5.000000e-01 : f64}
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<f32> {graph.loss}, tensor<2x2xf32> {graph.gradient_of = @w}, tensor<3xf64> {graph.gradient_of = @b}, tensor<2xf32> {graph.gradient_of = @c}, tensor<f64> {graph.gradient_norm})
// CHECK: %[[L:.*]] = graph.reduce_sum
// CHECK: %[[NORM:.*]] = graph.global_norm %[[GW:.*]], %[[GB:.*]], %[[GC:.*]] : (tensor<2x2xf32>, tensor<3xf64>, tensor<2xf32>) -> tensor<f64>
// CHECK-NEXT: %[[COEF:.*]] = graph.clip_coefficient %[[NORM]] {max_norm = 5.000000e-01 : f64} : tensor<f64>
// CHECK-NEXT: %[[COEF32:.*]] = graph.cast %[[COEF]] : tensor<f64> -> tensor<f32>
// CHECK-NEXT: %[[CW:.*]] = graph.mul %[[GW]], %[[COEF32]] : (tensor<2x2xf32>, tensor<f32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[CB:.*]] = graph.mul %[[GB]], %[[COEF]] : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
// CHECK-NOT: graph.cast
// CHECK-NEXT: %[[CC:.*]] = graph.mul %[[GC]], %[[COEF32]] : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
// CHECK-NEXT: return %[[L]], %[[CW]], %[[CB]], %[[CC]], %[[NORM]]

// The optimizer reads the clipped gradients.
// UPDATE-LABEL: func.func @main
// UPDATE: %[[COEF:.*]] = graph.clip_coefficient
// UPDATE: %[[CW:.*]] = graph.mul %{{.*}}, %{{.*}} : (tensor<2x2xf32>, tensor<f32>)
// UPDATE: graph.adamw_update %{{.*}}, %[[CW]], %{{.*}}, %{{.*}}, %{{.*}} {
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<2x2xf32>) : tensor<2x2xf32>
  ml_program.global private mutable @b(dense<1.0> : tensor<3xf64>) : tensor<3xf64>
  ml_program.global private mutable @c(dense<1.0> : tensor<2xf32>) : tensor<2xf32>
  func.func @main(%x: tensor<2x2xf32>, %y: tensor<3xf64>, %z: tensor<2xf32>) -> (tensor<f32> {graph.loss}, tensor<2x2xf32> {graph.gradient_of = @w}, tensor<3xf64> {graph.gradient_of = @b}, tensor<2xf32> {graph.gradient_of = @c}) {
    %l = graph.reduce_sum %x {axes = array<i64>, keep_dims = false} : (tensor<2x2xf32>) -> tensor<f32>
    return %l, %x, %y, %z : tensor<f32>, tensor<2x2xf32>, tensor<3xf64>, tensor<2xf32>
  }
}
