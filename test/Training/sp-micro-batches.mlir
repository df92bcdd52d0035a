// RUN: sp-opt %s --sp-micro-batches="count=3" --split-input-file | FileCheck %s
// RUN: sp-opt %s --sp-micro-batches="count=1" --split-input-file | FileCheck %s --check-prefix=ONE
// RUN: sp-opt %s --sp-micro-batches="count=2" --sp-clip-gradients --sp-insert-optimizer="kind=sgd" --split-input-file | FileCheck %s --check-prefix=UPDATE

// Every argument three times larger along dim 0; slice k of each, then a
// copy of the step per slice. Each gradient and the loss are summed right
// after a slice's copy computes them, and the sums divided by 3 once the
// last slice is done. The model's other output (y) is dropped, and with it
// the slices of the argument only it read.
// CHECK-LABEL: module attributes {graph.micro_batches = 3 : i64}
// CHECK: func.func @main(%[[X:.*]]: tensor<6x3xf32> {graph.onnx_name = "x"}, %{{.*}}: tensor<6x4xi64> {graph.onnx_name = "ids"})
// CHECK-SAME: -> (tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @w})
// CHECK-DAG: %[[ONE0:.*]] = graph.constant dense<1> : tensor<1xi64>
// CHECK-DAG: %[[ZERO0:.*]] = graph.constant dense<0> : tensor<1xi64>
// CHECK-DAG: %[[END0:.*]] = graph.constant dense<2> : tensor<1xi64>
// CHECK: %[[X0:.*]] = graph.slice %[[X]], %{{.*}}, %[[END0]], %{{.*}}, %{{.*}} : (tensor<6x3xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x3xf32>
// CHECK: %[[W0:.*]] = ml_program.global_load @w
// CHECK: %[[Y0:.*]] = graph.mul %[[X0]], %[[W0]]
// CHECK: %[[L0:.*]] = graph.reduce_sum %[[Y0]]
// CHECK: %[[G0:.*]] = graph.reduce_sum %[[X0]]
// CHECK: %[[END1:.*]] = graph.constant dense<4> : tensor<1xi64>
// CHECK: %[[START1:.*]] = graph.constant dense<2> : tensor<1xi64>
// CHECK: %[[X1:.*]] = graph.slice %[[X]], %[[START1]], %[[END1]]
// CHECK: %[[Y1:.*]] = graph.mul %[[X1]]
// CHECK: %[[L1:.*]] = graph.reduce_sum %[[Y1]]
// CHECK-NEXT: %[[LSUM1:.*]] = graph.add %[[L0]], %[[L1]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %[[G1:.*]] = graph.reduce_sum %[[X1]]
// CHECK-NEXT: %[[GSUM1:.*]] = graph.add %[[G0]], %[[G1]] {graph.accumulates_gradient}
// CHECK: %[[X2:.*]] = graph.slice %[[X]]
// CHECK: %[[L2:.*]] = graph.reduce_sum
// CHECK-NEXT: %[[LSUM2:.*]] = graph.add %[[LSUM1]], %[[L2]]
// CHECK-NEXT: %[[THREE:.*]] = graph.constant dense<3.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[LOSS:.*]] = graph.div %[[LSUM2]], %[[THREE]] : (tensor<f32>, tensor<f32>) -> tensor<f32>
// CHECK-NEXT: %[[G2:.*]] = graph.reduce_sum %[[X2]]
// CHECK-NEXT: %[[GSUM2:.*]] = graph.add %[[GSUM1]], %[[G2]] {graph.accumulates_gradient}
// CHECK-NEXT: %[[THREE2:.*]] = graph.constant dense<3.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[GRAD:.*]] = graph.div %[[GSUM2]], %[[THREE2]] {graph.accumulates_gradient}
// CHECK-NEXT: return %[[LOSS]], %[[GRAD]] : tensor<f32>, tensor<3xf32>
// CHECK-NOT: graph.slice

// One micro-batch is the step as it is.
// ONE-LABEL: module {
// ONE: func.func @main(%{{.*}}: tensor<2x3xf32> {graph.onnx_name = "x"}, %{{.*}}: tensor<2x4xi64> {graph.onnx_name = "ids"}) -> (tensor<2x3xf32> {graph.onnx_name = "y"}, tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @w})
// ONE-NOT: graph.slice

// Clipping and the update read the mean gradient once.
// UPDATE-LABEL: module attributes
// UPDATE-SAME: graph.micro_batches = 2 : i64
// UPDATE: %[[GRAD:.*]] = graph.div %{{.*}}, %{{.*}} {graph.accumulates_gradient}
// UPDATE: %[[NORM:.*]] = graph.global_norm %[[GRAD]] :
// UPDATE-COUNT-1: graph.sgd_update
// UPDATE-NOT: graph.sgd_update
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  func.func @main(%x: tensor<2x3xf32> {graph.onnx_name = "x"}, %ids: tensor<2x4xi64> {graph.onnx_name = "ids"}) -> (tensor<2x3xf32> {graph.onnx_name = "y"}, tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @w}) {
    %w = ml_program.global_load @w : tensor<3xf32>
    %y = graph.mul %x, %w : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %l = graph.reduce_sum %y {axes = array<i64>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<f32>
    %g = graph.reduce_sum %x {axes = array<i64: 0>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<3xf32>
    return %y, %l, %g : tensor<2x3xf32>, tensor<f32>, tensor<3xf32>
  }
}
