// RUN: sp-opt %s --sp-regather-for-backward | FileCheck %s

// Every reader of a gathered tensor after the first gets its own gather right
// before it; the two operands of one reader share one.
// CHECK-LABEL: func.func @main
// CHECK: %[[G:.*]] = graph.all_gather %[[K:.*]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK-NEXT: %[[A:.*]] = graph.exp %[[G]]
// CHECK-NEXT: %[[N:.*]] = graph.neg %[[A]]
// CHECK-NEXT: %[[G2:.*]] = graph.all_gather %[[K]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK-NEXT: %[[B:.*]] = graph.mul %[[G2]], %[[G2]]
// CHECK-NEXT: %[[G3:.*]] = graph.all_gather %[[K]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK-NEXT: %[[C:.*]] = graph.add %[[B]], %[[G3]]
// CHECK-NEXT: return %[[N]], %[[C]]
module {
  func.func @main(%k: tensor<2x4xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
    %g = graph.all_gather %k {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x4xf32>) -> tensor<2x8xf32>
    %a = graph.exp %g : tensor<2x8xf32>
    %n = graph.neg %a : tensor<2x8xf32>
    %b = graph.mul %g, %g : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %c = graph.add %b, %g : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    return %n, %c : tensor<2x8xf32>, tensor<2x8xf32>
  }
}
