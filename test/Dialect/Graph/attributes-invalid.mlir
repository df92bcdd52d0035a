// The graph dialect rejects graph.* attributes of the wrong kind, in the wrong
// place, or of a name it does not know.
// RUN: sp-opt %s -split-input-file -verify-diagnostics

// expected-error @below {{attribute graph.num_ranks = 0 : i64 is not a positive rank count}}
module attributes {graph.num_ranks = 0 : i64} {}

// -----

// expected-error @below {{attribute graph.num_ranks = "2" is not a positive rank count}}
module attributes {graph.num_ranks = "2"} {}

// -----

// expected-error @below {{attribute graph.zigzag = 1 : i64 must be a unit attribute}}
module attributes {graph.zigzag = 1 : i64} {}

// -----

// expected-error @below {{attribute graph.token_input = 3 : i64 must be a string}}
module attributes {graph.token_input = 3 : i64} {}

// -----

// expected-error @below {{attribute graph.vocab_size = "5" must be an i64 integer}}
module attributes {graph.vocab_size = "5"} {}

// -----

// expected-error @below {{attribute graph.optimizer = "adamw" must be a dictionary}}
module attributes {graph.optimizer = "adamw"} {}

// -----

// expected-error @below {{attribute graph.clip_grad_norm = 1 : i64 must be a float}}
module attributes {graph.clip_grad_norm = 1 : i64} {}

// -----

// expected-error @below {{attribute graph.micro_batches = 1 : i64 is not a micro-batch count of at least 2 (i64)}}
module attributes {graph.micro_batches = 1 : i64} {}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{attribute graph.accumulates_gradient may not appear on this op; it belongs on a graph.add or graph.div}}
  %y = graph.sub %x, %x {graph.accumulates_gradient} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @below {{has unknown graph dialect attribute graph.num_rank}}
module attributes {graph.num_rank = 2 : i64} {}

// -----

// expected-error @below {{attribute graph.loss may not appear on the module; it belongs on a result of @main}}
module attributes {graph.loss} {}

// -----

module {
  ml_program.global private mutable @w(dense<0.0> : tensor<2xf32>) : tensor<2xf32>
  // expected-error @below {{attribute graph.state_of = "w" must be a flat symbol reference}}
  ml_program.global private mutable @w_m(dense<0.0> : tensor<2xf32>) : tensor<2xf32> {graph.state_of = "w"}
}

// -----

module {
  // expected-error @below {{attribute graph.step_counter = 1 : i64 must be a unit attribute}}
  ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter = 1 : i64}
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{attribute graph.step_counter may not appear on this op; it belongs on an ml_program.global}}
  %y = graph.neg %x {graph.step_counter} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{has unknown graph dialect attribute graph.fused}}
  %y = graph.neg %x {graph.fused} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.onnx_name = 1 : i64 must be a string}}
func.func @main(%x: tensor<4xf32> {graph.onnx_name = 1 : i64}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.dim_names = ["seq", 1] must be an array of strings}}
func.func @main(%x: tensor<4x4xf32> {graph.dim_names = ["seq", 1 : i64]}) -> tensor<4x4xf32> {
  return %x : tensor<4x4xf32>
}

// -----

// expected-error @below {{attribute graph.shard_axis = 1 : i32 must be an i64 integer}}
func.func @main(%x: tensor<4xf32> {graph.shard_axis = 1 : i32}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.loss may not appear on an argument; it belongs on a result of @main}}
func.func @main(%x: tensor<4xf32> {graph.loss}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{has unknown graph dialect attribute graph.sharded}}
func.func @main(%x: tensor<4xf32> {graph.sharded}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.loss = 1 : i64 must be a unit attribute}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.loss = 1 : i64}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.gradient_of = "w" must be a flat symbol reference}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.gradient_of = "w"}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.learning_rate = 1.000000e-03 : f64 must be a unit attribute}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.learning_rate = 1.0e-3 : f64}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.dim_names may not appear on a result; it belongs on an argument of @main}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.dim_names = ["seq"]}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{has unknown graph dialect attribute graph.loss_scale}}
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.loss_scale}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.gradient_of may appear on a result of @main only}}
func.func @helper(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.gradient_of = @w}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.onnx_name may appear on an argument of @main only}}
func.func @helper(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// expected-error @below {{attribute graph.memory_budget = 0 : i64 is not a positive byte count (i64)}}
module attributes {graph.memory_budget = 0 : i64} {}

// -----

module {
  ml_program.global private mutable @w(dense<0.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main() -> tensor<4xf32> {
    // expected-error @below {{attribute graph.recomputed may not appear on this op; it belongs on a graph op}}
    %w = "ml_program.global_load"() <{global = @w}> {graph.recomputed} : () -> tensor<4xf32>
    return %w : tensor<4xf32>
  }
}

// -----

// expected-error @below {{attribute graph.attention_layouts = {ring = 1.000000e-03 : f64} is not a dictionary of layouts' seconds with a chosen one}}
module attributes {graph.attention_layouts = {ring = 1.0e-3 : f64}} {}

// -----

// expected-error @below {{is not a dictionary of layouts' seconds with a chosen one}}
module attributes {graph.attention_layouts = {chosen = "ring", ring = "fast"}} {}
