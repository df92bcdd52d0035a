// RUN: sp-opt %s --sp-precision=precision=bf16 | FileCheck %s
// RUN: sp-opt %s --sp-precision=precision=bf16 --sp-autodiff | FileCheck %s --check-prefix=GRAD
// RUN: sp-opt %s --sp-precision | FileCheck %s --check-prefix=FP32

// A linear layer with a bias (fp32 master weights, cast at their use), an
// activation, a constant power and a product with a table computed from
// positions alone: bf16. The table's own product (rotary frequencies times
// positions) has no activation operand and stays f32. The residual sum of the
// f32 input and the bf16 branch widens the branch, as autocast promotes;
// softmax, the reduction and the return are f32.
// CHECK-LABEL: module attributes {graph.precision = "bf16"}
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<6x4xf32>, %[[IDS:.*]]: tensor<1x6xi64>) -> (tensor<6x4xf32>, tensor<f32> {graph.loss})
// CHECK: %[[XH:.*]] = graph.cast %[[X]] : tensor<6x4xf32> -> tensor<6x4xbf16>
// CHECK: %[[W:.*]] = ml_program.global_load @w : tensor<4x4xf32>
// CHECK-NEXT: %[[WH:.*]] = graph.cast %[[W]] : tensor<4x4xf32> -> tensor<4x4xbf16>
// CHECK: %[[B:.*]] = ml_program.global_load @b : tensor<4xf32>
// CHECK-NEXT: %[[BH:.*]] = graph.cast %[[B]] : tensor<4xf32> -> tensor<4xbf16>
// CHECK-NEXT: %[[H:.*]] = graph.gemm %[[XH]], %[[WH]], %[[BH]] : (tensor<6x4xbf16>, tensor<4x4xbf16>, tensor<4xbf16>) -> tensor<6x4xbf16>
// CHECK-NEXT: %[[T:.*]] = graph.tanh %[[H]] : tensor<6x4xbf16>
// CHECK-NEXT: %[[THREE:.*]] = graph.constant dense<3.000000e+00> : tensor<f32>
// CHECK-NEXT: %[[P:.*]] = graph.pow %[[T]], %[[THREE]] : (tensor<6x4xbf16>, tensor<f32>) -> tensor<6x4xbf16>
// CHECK: %[[POS:.*]] = graph.cast %[[IDS]] : tensor<1x6xi64> -> tensor<1x6xf32>
// CHECK-NEXT: %[[ANGLES:.*]] = graph.matmul %{{.*}}, %[[POS]] : (tensor<4x1xf32>, tensor<1x6xf32>) -> tensor<4x6xf32>
// CHECK-NEXT: %[[TABLE:.*]] = graph.transpose %[[ANGLES]] {{.*}} -> tensor<6x4xf32>
// CHECK-NEXT: %[[TABLEH:.*]] = graph.cast %[[TABLE]] : tensor<6x4xf32> -> tensor<6x4xbf16>
// CHECK-NEXT: %[[M:.*]] = graph.mul %[[P]], %[[TABLEH]] : (tensor<6x4xbf16>, tensor<6x4xbf16>) -> tensor<6x4xbf16>
// CHECK-NEXT: %[[MF:.*]] = graph.cast %[[M]] : tensor<6x4xbf16> -> tensor<6x4xf32>
// CHECK-NEXT: %[[R:.*]] = graph.add %[[X]], %[[MF]] : (tensor<6x4xf32>, tensor<6x4xf32>) -> tensor<6x4xf32>
// CHECK-NEXT: %[[S:.*]] = graph.softmax %[[R]] {axis = -1 : i64} : tensor<6x4xf32>
// CHECK-NEXT: %[[L:.*]] = graph.reduce_sum %[[S]] {{.*}} -> tensor<f32>
// CHECK-NEXT: return %[[MF]], %[[L]] : tensor<6x4xf32>, tensor<f32>

// The backward pass follows: the weight gradient is a bf16 GEMM of the bf16
// activations, cast back to f32 for the optimizer, as is the bias gradient.
// GRAD-LABEL: func.func @main
// GRAD-SAME: tensor<4x4xf32> {graph.gradient_of = @w}, tensor<4xf32> {graph.gradient_of = @b})
// GRAD: %[[XH:.*]] = graph.cast %{{.*}} : tensor<6x4xf32> -> tensor<6x4xbf16>
// GRAD: %[[DW:.*]] = graph.gemm %[[XH]], %{{.*}} {transpose_a = true} : (tensor<6x4xbf16>, tensor<6x4xbf16>) -> tensor<4x4xbf16>
// GRAD: %[[DB:.*]] = graph.cast %{{.*}} : tensor<4xbf16> -> tensor<4xf32>
// GRAD-NEXT: %[[DWF:.*]] = graph.cast %[[DW]] : tensor<4x4xbf16> -> tensor<4x4xf32>
// GRAD-NEXT: return %{{.*}}, %{{.*}}, %[[DWF]], %[[DB]] : tensor<6x4xf32>, tensor<f32>, tensor<4x4xf32>, tensor<4xf32>

// fp32, the default, changes nothing.
// FP32-LABEL: module {
// FP32-NOT: bf16
// FP32-NOT: graph.precision
module {
  ml_program.global private mutable @w(dense<0.5> : tensor<4x4xf32>) : tensor<4x4xf32>
  ml_program.global private mutable @b(dense<0.1> : tensor<4xf32>) : tensor<4xf32>
  ml_program.global private @freq(dense<0.25> : tensor<4x1xf32>) : tensor<4x1xf32>
  func.func @main(%x: tensor<6x4xf32>, %ids: tensor<1x6xi64>) -> (tensor<6x4xf32>, tensor<f32> {graph.loss}) {
    %w = ml_program.global_load @w : tensor<4x4xf32>
    %b = ml_program.global_load @b : tensor<4xf32>
    %h = graph.gemm %x, %w, %b : (tensor<6x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<6x4xf32>
    %t = graph.tanh %h : tensor<6x4xf32>
    %three = graph.constant dense<3.0> : tensor<f32>
    %p = graph.pow %t, %three : (tensor<6x4xf32>, tensor<f32>) -> tensor<6x4xf32>
    %freq = ml_program.global_load_const @freq : tensor<4x1xf32>
    %pos = graph.cast %ids : tensor<1x6xi64> -> tensor<1x6xf32>
    %angles = graph.matmul %freq, %pos : (tensor<4x1xf32>, tensor<1x6xf32>) -> tensor<4x6xf32>
    %table = graph.transpose %angles {perm = array<i64: 1, 0>} : (tensor<4x6xf32>) -> tensor<6x4xf32>
    %m = graph.mul %p, %table : (tensor<6x4xf32>, tensor<6x4xf32>) -> tensor<6x4xf32>
    %r = graph.add %x, %m : (tensor<6x4xf32>, tensor<6x4xf32>) -> tensor<6x4xf32>
    %s = graph.softmax %r {axis = -1 : i64} : tensor<6x4xf32>
    %l = graph.reduce_sum %s {axes = array<i64>, keep_dims = false} : (tensor<6x4xf32>) -> tensor<f32>
    return %m, %l : tensor<6x4xf32>, tensor<f32>
  }
}
