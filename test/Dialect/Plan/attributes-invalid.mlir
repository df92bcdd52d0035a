// The plan dialect rejects plan.* attributes of the wrong kind, in the wrong
// place, or of a name it does not know.
// RUN: sp-opt %s -split-input-file -verify-diagnostics

// expected-error @below {{attribute plan.arena_bytes = -1 : i64 must be a non-negative i64}}
module attributes {plan.arena_bytes = -1 : i64} {}

// -----

// expected-error @below {{has unknown plan dialect attribute plan.arena}}
module attributes {plan.arena = 64 : i64} {}

// -----

// expected-error @below {{attribute plan.id may not appear on the module; it belongs on an op other than the module}}
module attributes {plan.id = "m"} {}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{attribute plan.id = 7 : i64 must be a string}}
  %y = graph.neg %x {plan.id = 7 : i64} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{attribute plan.offsets = [0] must be a dense i64 array}}
  %y = graph.neg %x {plan.offsets = [0]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{attribute plan.offsets has 2 offsets for 1 results}}
  %y = graph.neg %x {plan.offsets = array<i64: 0, 16>} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{has unknown plan dialect attribute plan.offset_bytes}}
  %y = graph.neg %x {plan.offset_bytes = 0 : i64} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @below {{attribute plan.offset = "0" must be an i64 arena offset}}
func.func @main(%x: tensor<4xf32> {plan.offset = "0"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{has unknown plan dialect attribute plan.offst}}
func.func @main(%x: tensor<4xf32> {plan.offst = 0 : i64}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute plan.offset may not appear on a result; it belongs on a function argument}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {plan.offset = 0 : i64}) {
  return %x : tensor<4xf32>
}
