// The plan.* attributes, each of its kind and in its place, verify and
// round-trip.
// RUN: sp-opt %s | FileCheck %s

// CHECK: module attributes {plan.arena_bytes = 64 : i64}
module attributes {plan.arena_bytes = 64 : i64} {
  // CHECK: func.func @main(%{{.*}}: tensor<4xf32> {plan.offset = 0 : i64}, %{{.*}}: tensor<4xf32> {plan.offset = -1 : i64})
  func.func @main(%x: tensor<4xf32> {plan.offset = 0 : i64}, %w: tensor<4xf32> {plan.offset = -1 : i64}) -> tensor<4xf32> {
    // CHECK: graph.add %{{.*}}, %{{.*}} {plan.id = "add", plan.offsets = array<i64: 16>}
    %y = graph.add %x, %w {plan.id = "add", plan.offsets = array<i64: 16>} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
}
