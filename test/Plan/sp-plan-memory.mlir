// RUN: sp-opt %s --sp-plan-memory --split-input-file --verify-diagnostics | FileCheck %s

// A chain of 1 KiB tensors: each dead tensor's bytes go to a later one, so the
// arena holds three of the five (x stays live to the end, as add reads it).
// CHECK: module attributes {plan.arena_bytes = 3072 : i64}
// CHECK-LABEL: func.func @main
// CHECK-SAME: {graph.onnx_name = "x", plan.offset = 0 : i64}
// CHECK-NEXT: graph.neg %{{.*}} {plan.offsets = array<i64: 1024>}
// CHECK-NEXT: graph.exp %{{.*}} {plan.offsets = array<i64: 2048>}
// CHECK-NEXT: graph.tanh %{{.*}} {plan.offsets = array<i64: 1024>}
// CHECK-NEXT: graph.add %{{.*}} {plan.offsets = array<i64: 2048>}
func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"}) -> (tensor<256xf32> {graph.onnx_name = "y"}) {
  %a = graph.neg %x : tensor<256xf32>
  %b = graph.exp %a : tensor<256xf32>
  %c = graph.tanh %b : tensor<256xf32>
  %d = graph.add %c, %x : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
  return %d : tensor<256xf32>
}

// -----

// Reshape, squeeze and unsqueeze are views: they take their input's offset,
// and their uses keep the input's bytes live. %b, written while the view %s
// still has a use ahead, must not take %a's bytes; %d, written after the last
// use of %s, may.
// CHECK: module attributes {plan.arena_bytes = 3072 : i64}
// CHECK-LABEL: func.func @main
// CHECK: %[[A:.*]] = graph.neg %{{.*}} {plan.offsets = array<i64: 1024>}
// CHECK-NEXT: %[[R:.*]] = graph.reshape %[[A]], %{{.*}} {plan.offsets = array<i64: 1024>}
// CHECK-NEXT: %[[U:.*]] = graph.unsqueeze %[[R]] {axes = array<i64: 0>, plan.offsets = array<i64: 1024>}
// CHECK-NEXT: %[[S:.*]] = graph.squeeze %[[U]] {axes = array<i64: 0>, plan.offsets = array<i64: 1024>}
// CHECK-NEXT: graph.exp %{{.*}} {plan.offsets = array<i64: 2048>}
// CHECK-NEXT: graph.tanh %[[S]] {plan.offsets = array<i64: 0>}
// CHECK-NEXT: graph.neg %{{.*}} {plan.offsets = array<i64: 1024>}
func.func @main(%x: tensor<4x64xf32> {graph.onnx_name = "x"}) -> (tensor<256xf32>, tensor<4x64xf32>) {
  %shape = graph.constant dense<256> : tensor<1xi64>
  %a = graph.neg %x : tensor<4x64xf32>
  %r = graph.reshape %a, %shape : (tensor<4x64xf32>, tensor<1xi64>) -> tensor<256xf32>
  %u = graph.unsqueeze %r {axes = array<i64: 0>} : (tensor<256xf32>) -> tensor<1x256xf32>
  %s = graph.squeeze %u {axes = array<i64: 0>} : (tensor<1x256xf32>) -> tensor<256xf32>
  %b = graph.exp %x : tensor<4x64xf32>
  %c = graph.tanh %s : tensor<256xf32>
  %d = graph.neg %b : tensor<4x64xf32>
  return %c, %d : tensor<256xf32>, tensor<4x64xf32>
}

// -----

// What @main returns stays live to the end: the early output %a keeps its
// bytes while %b and %c, dead after their one use, share theirs with later
// tensors.
// CHECK: module attributes {plan.arena_bytes = 3072 : i64}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: graph.neg %{{.*}} {plan.offsets = array<i64: 1024>}
// CHECK-NEXT: graph.exp %{{.*}} {plan.offsets = array<i64: 2048>}
// CHECK-NEXT: graph.tanh %{{.*}} {plan.offsets = array<i64: 0>}
// CHECK-NEXT: graph.neg %{{.*}} {plan.offsets = array<i64: 2048>}
func.func @main(%x: tensor<256xf32> {graph.onnx_name = "x"})
    -> (tensor<256xf32> {graph.onnx_name = "a"}, tensor<256xf32> {graph.onnx_name = "d"}) {
  %a = graph.neg %x : tensor<256xf32>
  %b = graph.exp %x : tensor<256xf32>
  %c = graph.tanh %b : tensor<256xf32>
  %d = graph.neg %c : tensor<256xf32>
  return %a, %d : tensor<256xf32>, tensor<256xf32>
}

// -----

// Constants and state are not in the arena, except a splat constant over
// 4 KiB, which a fill writes just before its first use: its bytes are free
// again after that use, and the step counter's new value takes them.
// Optimizer updates stored back into the globals they read write the state
// in place; the new step count is an arena tensor that the store copies.
// CHECK: module attributes {plan.arena_bytes = 16448 : i64}
// CHECK-LABEL: func.func @main
// CHECK-SAME: plan.offset = 0 : i64
// CHECK-NEXT: graph.constant {plan.offsets = array<i64: -1>} dense<1> : tensor<i64>
// CHECK-NEXT: graph.constant {plan.offsets = array<i64: 8192>} dense<2.000000e+00> : tensor<2048xf32>
// CHECK-NEXT: ml_program.global_load_const @table : tensor<2xf32> {plan.offsets = array<i64: -1>}
// CHECK-NEXT: ml_program.global_load @w : tensor<2048xf32> {plan.offsets = array<i64: -1>}
// CHECK-NEXT: graph.mul %{{.*}} {plan.offsets = array<i64: 64>}
// CHECK-NEXT: graph.reduce_sum %{{.*}} {axes = array<i64>, keep_dims = false, plan.offsets = array<i64: 16384>}
// CHECK-NEXT: graph.mul %{{.*}} {plan.offsets = array<i64: 0>}
// CHECK-NEXT: ml_program.global_load @sp.step : tensor<i64> {plan.offsets = array<i64: -1>}
// CHECK-NEXT: graph.add %{{.*}} {plan.offsets = array<i64: 8192>}
// CHECK-NEXT: ml_program.global_store @sp.step
// CHECK-NEXT: ml_program.global_load @w.m : tensor<2048xf32> {plan.offsets = array<i64: -1>}
// CHECK-NEXT: ml_program.global_load @w.v : tensor<2048xf32> {plan.offsets = array<i64: -1>}
// CHECK-NEXT: graph.adamw_update {{.*}}plan.offsets = array<i64: -1, -1, -1>
module {
  ml_program.global private @table(dense<[1.0, 2.0]> : tensor<2xf32>) : tensor<2xf32>
  ml_program.global private mutable @w(dense<1.0> : tensor<2048xf32>) : tensor<2048xf32>
  ml_program.global private mutable @w.m(dense<0.0> : tensor<2048xf32>) : tensor<2048xf32> {graph.state_of = @w}
  ml_program.global private mutable @w.v(dense<0.0> : tensor<2048xf32>) : tensor<2048xf32> {graph.state_of = @w}
  ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter}
  func.func @main(%x: tensor<2xf32> {graph.onnx_name = "x"})
      -> (tensor<f32> {graph.loss}, tensor<2048xf32> {graph.gradient_of = @w}) {
    %one = graph.constant dense<1> : tensor<i64>
    %two = graph.constant dense<2.0> : tensor<2048xf32>
    %t = ml_program.global_load_const @table : tensor<2xf32>
    %w = ml_program.global_load @w : tensor<2048xf32>
    %p = graph.mul %x, %t : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %l = graph.reduce_sum %p {axes = array<i64>, keep_dims = false} : (tensor<2xf32>) -> tensor<f32>
    %g = graph.mul %w, %two : (tensor<2048xf32>, tensor<2048xf32>) -> tensor<2048xf32>
    %s0 = ml_program.global_load @sp.step : tensor<i64>
    %s = graph.add %s0, %one : (tensor<i64>, tensor<i64>) -> tensor<i64>
    ml_program.global_store @sp.step = %s : tensor<i64>
    %m = ml_program.global_load @w.m : tensor<2048xf32>
    %v = ml_program.global_load @w.v : tensor<2048xf32>
    %nw, %nm, %nv = graph.adamw_update %w, %g, %m, %v, %s {beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, learning_rate = 1.0e-3 : f64, weight_decay = 0.0 : f64} : (tensor<2048xf32>, tensor<2048xf32>, tensor<2048xf32>, tensor<2048xf32>, tensor<i64>) -> (tensor<2048xf32>, tensor<2048xf32>, tensor<2048xf32>)
    ml_program.global_store @w = %nw : tensor<2048xf32>
    ml_program.global_store @w.m = %nm : tensor<2048xf32>
    ml_program.global_store @w.v = %nv : tensor<2048xf32>
    return %l, %g : tensor<f32>, tensor<2048xf32>
  }
}

// -----

// The old parameter is read after the update, so the update cannot write it
// in place; the new value is an arena tensor that the store copies, and the
// store comes after that last read.
// CHECK-LABEL: func.func @main
// CHECK: graph.sgd_update {{.*}}plan.offsets = array<i64: {{[0-9]+}}>
// CHECK-NEXT: graph.neg
// CHECK-NEXT: ml_program.global_store @w
module {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main(%g: tensor<4xf32> {graph.onnx_name = "g"}) -> (tensor<4xf32> {graph.onnx_name = "old"}) {
    %w = ml_program.global_load @w : tensor<4xf32>
    %nw = graph.sgd_update %w, %g {learning_rate = 0.1 : f64, weight_decay = 0.0 : f64} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %old = graph.neg %w : tensor<4xf32>
    ml_program.global_store @w = %nw : tensor<4xf32>
    return %old : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{argument #0 ('x') of @main has dynamic shape 'tensor<?x4xf32>'; bind the dims with --input-shape before planning}}
func.func @main(%x: tensor<?x4xf32> {graph.onnx_name = "x"}) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}

// -----

func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xi8> {
  // expected-error @+1 {{'graph.cast' op result #0 has element type 'i8', which plans do not hold (f32, f64, f16, bf16, i64, i32, i1)}}
  %y = graph.cast %x : tensor<4xf32> -> tensor<4xi8>
  return %y : tensor<4xi8>
}

// -----

func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xf32> {
  // expected-error @+1 {{'func.call' op is not supported in a plan: @main may hold graph ops, ml_program global loads and stores, and func.return}}
  %y = func.call @main(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @+1 {{'func.func' op is outside what a plan holds: one function @main and ml_program.global symbols}}
func.func private @helper(tensor<4xf32>) -> tensor<4xf32>
func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{the module has no function @main to plan}}
module {
  ml_program.global private @table(dense<[1.0, 2.0]> : tensor<2xf32>) : tensor<2xf32>
}

// -----

ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xf32> {
  %w = ml_program.global_load @w : tensor<4xf32>
  // expected-error @+1 {{'ml_program.global_store' op overwrites @w while 'graph.add' later in @main still reads its earlier value; a plan holds one copy of each global}}
  ml_program.global_store @w = %x : tensor<4xf32>
  %y = graph.add %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xf32> {
  ml_program.global_store @w = %x : tensor<4xf32>
  // expected-error @+1 {{'ml_program.global_store' op stores @w a second time; a plan stores each global once per step}}
  ml_program.global_store @w = %x : tensor<4xf32>
  return %x : tensor<4xf32>
}
