// RUN: sp-opt %s --sp-rematerialize="budget=42000" | FileCheck %s --check-prefix=DROP

// Dropout is recomputed (its mask is keyed by seed, step, site and
// position, so the clone draws the same one), with the reshape its late
// reader reads it through; the matmul output it reads is live there
// anyway. The clones get the originals' instruction ids with /recompute.
// The ops outside the forward pass (what the loss does not depend on) are
// never candidates.
// DROP-LABEL: module attributes {graph.memory_budget = 42000 : i64}
// DROP: %[[H:.*]] = graph.matmul
// DROP-NEXT: %[[D:.*]] = graph.dropout %[[H]] {plan.id = "drop:dropout", ratio = 1.000000e-01 : f64, site = 0 : i64}
// DROP: %[[C:.*]] = graph.add
// DROP-NEXT: %[[RD:.*]] = graph.dropout %[[H]] {graph.recomputed, plan.id = "drop:dropout/recompute", ratio = 1.000000e-01 : f64, site = 0 : i64}
// DROP-NEXT: %[[RV:.*]] = graph.reshape %[[RD]], %{{.*}} {graph.recomputed, plan.id = "view:reshape/recompute"}
// DROP-NEXT: graph.reduce_sum %[[RV]] {{.*}}plan.id = "s:reduce_sum"
// DROP-NOT: graph.recomputed
module {
  ml_program.global private mutable @w(dense<0.01> : tensor<32x32xf32>) : tensor<32x32xf32>
  func.func @main(%x: tensor<64x32xf32> {graph.onnx_name = "x"}) -> (tensor<f32> {graph.loss}, tensor<64x32xf32> {graph.onnx_name = "gh"}) {
    %w = ml_program.global_load @w : tensor<32x32xf32>
    %h = graph.matmul %x, %w {plan.id = "fc:matmul"} : (tensor<64x32xf32>, tensor<32x32xf32>) -> tensor<64x32xf32>
    %d = graph.dropout %h {ratio = 0.1 : f64, site = 0 : i64, plan.id = "drop:dropout"} : (tensor<64x32xf32>) -> tensor<64x32xf32>
    %shape = graph.constant dense<[32, 64]> : tensor<2xi64>
    %r = graph.reshape %d, %shape {plan.id = "view:reshape"} : (tensor<64x32xf32>, tensor<2xi64>) -> tensor<32x64xf32>
    %l = graph.reduce_sum %r {axes = array<i64>, keep_dims = false, plan.id = "loss:reduce_sum"} : (tensor<32x64xf32>) -> tensor<f32>
    %a = graph.exp %x {plan.id = "a:exp"} : tensor<64x32xf32>
    %b = graph.sin %a {plan.id = "b:sin"} : tensor<64x32xf32>
    %c = graph.add %a, %b {plan.id = "c:add"} : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
    %s = graph.reduce_sum %r {axes = array<i64>, keep_dims = false, plan.id = "s:reduce_sum"} : (tensor<32x64xf32>) -> tensor<f32>
    %gw = graph.mul %c, %s {plan.id = "gw:mul"} : (tensor<64x32xf32>, tensor<f32>) -> tensor<64x32xf32>
    %gh = graph.mul %h, %gw {plan.id = "gh:mul"} : (tensor<64x32xf32>, tensor<64x32xf32>) -> tensor<64x32xf32>
    return %l, %gh : tensor<f32>, tensor<64x32xf32>
  }
}
