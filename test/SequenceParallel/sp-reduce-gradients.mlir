// RUN: sp-opt %s --split-input-file --sp-reduce-gradients | FileCheck %s

// Each rank's parameter gradient is its part of the sum: one all_reduce per
// gradient result; zeros (a parameter the loss does not reach) need none,
// nor does a gradient already summed.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[G:.*]]: tensor<4xf32>, %[[H:.*]]: tensor<4xf32>)
// CHECK: %[[ZERO:.*]] = graph.constant
// CHECK: %[[SUM:.*]] = graph.all_reduce %[[H]] {num_ranks = 4 : i64}
// CHECK: %[[GS:.*]] = graph.all_reduce %[[G]] {num_ranks = 4 : i64}
// CHECK: return %[[H]], %[[GS]], %[[ZERO]], %[[SUM]]
module attributes {graph.num_ranks = 4 : i64} {
  func.func @main(%g: tensor<4xf32>, %h: tensor<4xf32>)
      -> (tensor<4xf32>, tensor<4xf32> {graph.gradient_of = @a}, tensor<4xf32> {graph.gradient_of = @b},
          tensor<4xf32> {graph.gradient_of = @c}) {
    %zero = graph.constant dense<0.0> : tensor<4xf32>
    %summed = graph.all_reduce %h {num_ranks = 4 : i64} : (tensor<4xf32>) -> tensor<4xf32>
    return %h, %g, %zero, %summed : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
}

// -----

// One rank: nothing to sum.
// CHECK-LABEL: func.func @main
// CHECK-NOT: graph.all_reduce
module {
  func.func @main(%g: tensor<4xf32>) -> (tensor<4xf32> {graph.gradient_of = @a}) {
    return %g : tensor<4xf32>
  }
}
