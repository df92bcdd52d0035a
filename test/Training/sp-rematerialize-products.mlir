// RUN: sp-opt %s --sp-rematerialize="budget=78000 cost-profile=h100-nvlink" | FileCheck %s
// RUN: not sp-opt %s --sp-rematerialize="budget=78000 cost-profile=cpu" 2>&1 | FileCheck %s --check-prefix=CPU

// A matrix product is recomputed only where the cost profile predicts it to
// be bound by memory traffic: this one (inner dim 64, 256 KFLOP, 32 KiB
// moved) is on H100s (0.4 ns of FLOPs, 13 ns of bytes), so the product the
// late reader reads is cloned from its input, which it keeps anyway, and
// the weight; on the cpu profile (10.5 us of FLOPs, 8.2 us of bytes) it
// is not, and nothing else frees bytes at the peak.
// CHECK-LABEL: module attributes {graph.memory_budget = 78000 : i64}
// CHECK: %[[H:.*]] = graph.matmul %[[X:.*]], %[[W:.*]] : (tensor<64x64xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
// CHECK: graph.add
// CHECK-NEXT: %[[RH:.*]] = graph.matmul %[[X]], %[[W]] {graph.recomputed}
// CHECK-NEXT: graph.reduce_sum %[[RH]]
// CPU: memory budget of 78000 bytes (76.2 KiB) per rank cannot be met: recomputing every activation that lowers the peak brings the step to 81984 bytes
module {
  ml_program.global private mutable @w(dense<0.01> : tensor<64x32xf32>) : tensor<64x32xf32>
  func.func @main(%x: tensor<64x64xf32> {graph.onnx_name = "x"}) -> (tensor<f32> {graph.loss}, tensor<64x64xf32> {graph.onnx_name = "gx"}) {
    %w = ml_program.global_load @w : tensor<64x32xf32>
    %h = graph.matmul %x, %w : (tensor<64x64xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
    %t = graph.tanh %h : tensor<64x32xf32>
    %l = graph.reduce_sum %t {axes = array<i64>, keep_dims = false} : (tensor<64x32xf32>) -> tensor<f32>
    %a = graph.exp %x : tensor<64x64xf32>
    %b = graph.sin %a : tensor<64x64xf32>
    %c = graph.add %a, %b : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    %s = graph.reduce_sum %h {axes = array<i64>, keep_dims = false} : (tensor<64x32xf32>) -> tensor<f32>
    %gc = graph.mul %c, %s : (tensor<64x64xf32>, tensor<f32>) -> tensor<64x64xf32>
    %gx = graph.mul %x, %gc : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    return %l, %gx : tensor<f32>, tensor<64x64xf32>
  }
}
