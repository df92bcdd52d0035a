// RUN: sp-opt %s --sp-plan-memory="report=true" --verify-diagnostics | FileCheck %s

// The report compares the arena with the most bytes live at once (a lower
// bound, reached here) and with the bytes the tensors take without reuse.
// CHECK: module attributes {plan.arena_bytes = 3072 : i64}
// expected-remark @+1 {{arena of 3072 bytes for 5 tensors; at most 3072 bytes live at once; 5120 bytes without reuse}}
module {
  // CHECK-LABEL: func.func @main
  func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"}) -> (tensor<256xf32> {graph.onnx_name = "y"}) {
    %a = graph.neg %x : tensor<256xf32>
    %b = graph.exp %a : tensor<256xf32>
    %c = graph.tanh %b : tensor<256xf32>
    %d = graph.add %c, %x : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
    return %d : tensor<256xf32>
  }
}
