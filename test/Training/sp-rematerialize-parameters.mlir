// RUN: sp-opt %s --sp-rematerialize="budget=46000" | FileCheck %s

// Loads of a parameter and views of them share its bytes but write
// nothing: the forward tanh is recomputed for its late reader, which comes
// before the parameter's update overwrites those bytes in place.
// CHECK-LABEL: module attributes {graph.memory_budget = 46000 : i64}
// CHECK: %[[H:.*]] = graph.matmul
// CHECK: %[[T:.*]] = graph.tanh %[[H]] : tensor<64x32xf32>
// CHECK: %[[RT:.*]] = graph.tanh %[[H]] {graph.recomputed}
// CHECK-NEXT: graph.reduce_sum %[[RT]]
// CHECK: graph.sgd_update
module {
  ml_program.global private mutable @w(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  func.func @main(%x: tensor<64x32xf32> {graph.onnx_name = "x"}) -> (tensor<f32> {graph.loss}, tensor<64x32xf32> {graph.onnx_name = "gh"}) {
    %w = ml_program.global_load @w : tensor<32x32xf32>
    %flat = graph.constant dense<[1024]> : tensor<1xi64>
    %square = graph.constant dense<[32, 32]> : tensor<2xi64>
    %wf = graph.reshape %w, %flat : (tensor<32x32xf32>, tensor<1xi64>) -> tensor<1024xf32>
    %wv = graph.reshape %wf, %square : (tensor<1024xf32>, tensor<2xi64>) -> tensor<32x32xf32>
    %h = graph.matmul %x, %wv : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
    %t = graph.tanh %h : tensor<64x32xf32>
    %l = graph.reduce_sum %t {axes = array<i64>, keep_dims = false} : (tensor<64x32xf32>) -> tensor<f32>
    %a = graph.exp %x : tensor<64x32xf32>
    %b = graph.sin %a : tensor<64x32xf32>
    %c = graph.add %a, %b : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
    %g = graph.gemm %x, %c {transpose_a = true} : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<32x32xf32>
    %s = graph.reduce_sum %t {axes = array<i64>, keep_dims = false} : (tensor<64x32xf32>) -> tensor<f32>
    %gw = graph.mul %c, %s : (tensor<64x32xf32>, tensor<f32>) -> tensor<64x32xf32>
    %gh = graph.mul %h, %gw : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
    %u = graph.sgd_update %w, %g {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<32x32xf32>
    ml_program.global_store @w = %u : tensor<32x32xf32>
    return %l, %gh : tensor<f32>, tensor<64x32xf32>
  }
}
