// RUN: sp-opt %s --sp-plan-memory --split-input-file --verify-diagnostics | FileCheck %s

// Two collectives in flight at once, each input read until its own wait: the
// 1 KiB tensors %x and %y and both futures are live together, so %n, written
// after the first wait, reuses the bytes of %x only (dead once %f is waited).
// CHECK-LABEL: func.func @main
// CHECK-SAME: plan.offset = [[X:[0-9]+]]
// CHECK: graph.all_reduce_start{{.*}}plan.offsets = array<i64: [[F:[0-9]+]]>
// CHECK: graph.reduce_scatter_start{{.*}}plan.offsets = array<i64: [[G:[0-9]+]]>
// CHECK: graph.wait{{.*}}plan.offsets = array<i64: [[F]]>
// CHECK: graph.neg{{.*}}plan.offsets = array<i64: [[X]]>
// CHECK: graph.wait{{.*}}plan.offsets = array<i64: [[G]]>
func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"})
    -> (tensor<256xf32>, tensor<128xf32>, tensor<256xf32>) {
  %y = graph.exp %x : tensor<256xf32>
  %f = graph.all_reduce_start %x {num_ranks = 2 : i64} : (tensor<256xf32>) -> !graph.future<tensor<256xf32>>
  %g = graph.reduce_scatter_start %y {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<256xf32>) -> !graph.future<tensor<128xf32>>
  %a = graph.wait %f : !graph.future<tensor<256xf32>> -> tensor<256xf32>
  %n = graph.neg %a : tensor<256xf32>
  %b = graph.wait %g : !graph.future<tensor<128xf32>> -> tensor<128xf32>
  return %a, %b, %n : tensor<256xf32>, tensor<128xf32>, tensor<256xf32>
}

// -----

func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"}) -> tensor<256xf32> {
  // expected-error @below {{gives a future that is not used exactly once, by a graph.wait}}
  %f = graph.all_reduce_start %x {num_ranks = 2 : i64} : (tensor<256xf32>) -> !graph.future<tensor<256xf32>>
  return %x : tensor<256xf32>
}

// -----

func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"}) -> (tensor<256xf32>, tensor<256xf32>) {
  // expected-error @below {{gives a future that is not used exactly once, by a graph.wait}}
  %f = graph.all_reduce_start %x {num_ranks = 2 : i64} : (tensor<256xf32>) -> !graph.future<tensor<256xf32>>
  %a = graph.wait %f : !graph.future<tensor<256xf32>> -> tensor<256xf32>
  %b = graph.wait %f : !graph.future<tensor<256xf32>> -> tensor<256xf32>
  return %a, %b : tensor<256xf32>, tensor<256xf32>
}
