// RUN: sp-opt %s -split-input-file -verify-diagnostics

func.func @add_not_broadcastable(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+2 {{shapes [2, 3] and [4] do not broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @add_element_types_differ(%a: tensor<2xf32>, %b: tensor<2xf16>) -> tensor<2xf32> {
  // expected-error @+1 {{operand element types differ: 'f32' vs 'f16'}}
  %0 = graph.add %a, %b : (tensor<2xf32>, tensor<2xf16>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @and_needs_i1(%a: tensor<2xi64>) -> tensor<2xi64> {
  // expected-error @+1 {{operands must be i1 tensors}}
  %0 = graph.and %a, %a : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

func.func @exp_needs_float(%a: tensor<2xi64>) -> tensor<2xi64> {
  // expected-error @+1 {{operand must be a float tensor, got 'i64'}}
  %0 = graph.exp %a : tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

func.func @matmul_contracting_dims(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+2 {{matmul contracting dims differ: [2, 3] x [4, 5]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @matmul_wrong_result(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) -> tensor<2x6xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<2x5xf32>' are incompatible with return type(s) of operation 'tensor<2x6xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.matmul %a, %b : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

func.func @transpose_not_permutation(%a: tensor<2x3xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{perm is not a permutation of 0..1}}
  %0 = graph.transpose %a {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @softmax_axis(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = graph.softmax %a {axis = 2 : i64} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @layer_norm_scale(%a: tensor<2x8xf32>, %s: tensor<4xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{scale/bias of shape [4] does not broadcast to the normalized shape [8]}}
  %0 = graph.layer_norm %a, %s {axis = -1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x8xf32>, tensor<4xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @reduce_axes_unsorted(%a: tensor<2x3xf32>) -> tensor<1x1xf32> {
  // expected-error @+1 {{axes must be sorted and unique}}
  %0 = graph.reduce_sum %a {axes = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<1x1xf32>
  return %0 : tensor<1x1xf32>
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) -> tensor<4x2xf32> {
  %shape = graph.constant dense<[4, 2]> : tensor<2xi64>
  // expected-error @+2 {{cannot reshape [2, 3] (6 elements) to [4, 2]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.reshape %a, %shape : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

func.func @split_sizes(%a: tensor<6xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{split sizes add up to 5 but dim 0 has size 6}}
  %0:2 = graph.split %a {axis = 0 : i64, sizes = array<i64: 2, 3>} : (tensor<6xf32>) -> (tensor<2xf32>, tensor<3xf32>)
  return %0#0 : tensor<2xf32>
}

// -----

func.func @concat_dims(%a: tensor<2x3xf32>, %b: tensor<2x4xf32>) -> tensor<4x3xf32> {
  // expected-error @+2 {{concat inputs disagree on dim 1: [2, 3] vs [2, 4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.concat %a, %b {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @squeeze_non_unit(%a: tensor<2x3xf32>) -> tensor<3xf32> {
  // expected-error @+2 {{cannot squeeze dim 0 of size 2 in [2, 3]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.squeeze %a {axes = array<i64: 0>} : (tensor<2x3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @where_condition(%c: tensor<2xf32>, %a: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{condition must be an i1 tensor}}
  %0 = graph.where %c, %a, %a : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @cast_shape(%a: tensor<2xf32>) -> tensor<3xi64> {
  // expected-error @+1 {{result shape [3] differs from input shape [2]}}
  %0 = graph.cast %a : tensor<2xf32> -> tensor<3xi64>
  return %0 : tensor<3xi64>
}

// -----

func.func @trilu_rank(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{input must have rank >= 2, got rank 1}}
  %0 = graph.trilu %a {upper = true} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @range_zero_delta() -> tensor<?xi64> {
  %z = graph.constant dense<0> : tensor<i64>
  %l = graph.constant dense<4> : tensor<i64>
  // expected-error @+2 {{range delta must not be zero}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = graph.range %z, %l, %z : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<?xi64>
  return %0 : tensor<?xi64>
}

// -----

func.func @constant_of_shape_value(%s: tensor<2xi64>) -> tensor<?x?xf32> {
  // expected-error @+1 {{value must hold exactly one element}}
  %0 = graph.constant_of_shape %s {value = dense<0.0> : tensor<2xf32>} : (tensor<2xi64>) -> tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}

// -----

func.func @attention_heads_not_grouped(%q: tensor<1x3x4x8xf32>, %kv: tensor<1x2x4x8xf32>) -> tensor<1x3x4x8xf32> {
  // expected-error @+2 {{attention head counts (query heads must be a multiple of key/value heads) differ}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = graph.attention %q, %kv, %kv {scale = 1.0 : f64} : (tensor<1x3x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x3x4x8xf32>, tensor<1x3x4xf32>)
  return %0#0 : tensor<1x3x4x8xf32>
}

// -----

func.func @attention_bias_too_big(%q: tensor<1x2x4x8xf32>, %bias: tensor<2x2x4x4xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+2 {{attention bias 'tensor<2x2x4x4xf32>' does not broadcast to the scores [1, 2, 4, 4]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:2 = graph.attention %q, %q, %q, %bias {scale = 1.0 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<2x2x4x4xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @attention_grad_output_type(%q: tensor<1x2x4x8xf32>, %lse: tensor<1x2x4xf32>, %o: tensor<1x2x4x6xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @+2 {{attention_grad output has type 'tensor<1x2x4x6xf32>', the forward op's is 'tensor<1x2x4x8xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0:3 = graph.attention_grad %q, %q, %q, %o, %lse, %o {scale = 1.0 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x6xf32>, tensor<1x2x4xf32>, tensor<1x2x4x6xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @rms_norm_scale_shape(%x: tensor<2x3x8xf32>, %g: tensor<3x8xf32>) -> tensor<2x3x8xf32> {
  // expected-error @+1 {{scale of shape [3, 8] is not the normalized shape [8]}}
  %0 = graph.rms_norm %x, %g {axis = -1 : i64, epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<3x8xf32>) -> tensor<2x3x8xf32>
  return %0 : tensor<2x3x8xf32>
}

// -----

func.func @global_norm_of_integers(%a: tensor<2xi64>) -> tensor<f64> {
  // expected-error @below {{operand #0 must be a float tensor, got 'tensor<2xi64>'}}
  %n = graph.global_norm %a : (tensor<2xi64>) -> tensor<f64>
  return %n : tensor<f64>
}

// -----

func.func @clip_coefficient_negative(%n: tensor<f64>) -> tensor<f64> {
  // expected-error @below {{max_norm must be positive and finite, got -1}}
  %c = graph.clip_coefficient %n {max_norm = -1.0 : f64} : tensor<f64>
  return %c : tensor<f64>
}

// -----

func.func @lr_schedule_warmup_past_total(%s: tensor<i64>) -> tensor<f64> {
  // expected-error @below {{warmup steps 20 exceed the total steps 10}}
  %lr = graph.lr_schedule %s {kind = "linear", warmup_steps = 20 : i64, total_steps = 10 : i64, learning_rate = 1.0 : f64, min_learning_rate = 0.0 : f64} : (tensor<i64>) -> tensor<f64>
  return %lr : tensor<f64>
}

// -----

func.func @lr_schedule_unknown_kind(%s: tensor<i64>) -> tensor<f64> {
  // expected-error @below {{unknown learning-rate schedule 'step'; expected constant, linear or cosine}}
  %lr = graph.lr_schedule %s {kind = "step", warmup_steps = 0 : i64, total_steps = 10 : i64, learning_rate = 1.0 : f64, min_learning_rate = 0.0 : f64} : (tensor<i64>) -> tensor<f64>
  return %lr : tensor<f64>
}

// -----

func.func @dropout_ratio(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @below {{ratio must be in [0, 1], got 1.5}}
  %y = graph.dropout %x {ratio = 1.5 : f64, site = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @dropout_integers(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @below {{input must hold floats, got 'tensor<4xi64>'}}
  %y = graph.dropout %x {ratio = 0.5 : f64, site = 0 : i64} : (tensor<4xi64>) -> tensor<4xi64>
  return %y : tensor<4xi64>
}

// -----

func.func @dropout_positions_alone(%x: tensor<2x4xf32>, %p: tensor<2xi64>) -> tensor<2x4xf32> {
  // expected-error @below {{positions, sequence_axis and sequence_length go together}}
  %y = graph.dropout %x, %p {ratio = 0.5 : f64, site = 0 : i64} : (tensor<2x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @dropout_positions_split(%x: tensor<2x4xf32>, %p: tensor<3xi64>) -> tensor<2x4xf32> {
  // expected-error @below {{dim 1 of size 4 is not a multiple of the 3 positions}}
  %y = graph.dropout %x, %p {ratio = 0.5 : f64, site = 0 : i64, sequence_axis = 1 : i64, sequence_length = 8 : i64} : (tensor<2x4xf32>, tensor<3xi64>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @attention_dropout_ratio(%q: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @below {{'graph.attention' op dropout_ratio 1.500000e+00 is not in [0, 1]}}
  %0:2 = graph.attention %q, %q, %q {scale = 1.0 : f64, dropout_ratio = 1.5 : f64, dropout_site = 0 : i64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @attention_dropout_without_site(%q: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @below {{'graph.attention' op needs a non-negative dropout_site with its dropout_ratio}}
  %0:2 = graph.attention %q, %q, %q {scale = 1.0 : f64, dropout_ratio = 0.1 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @ring_attention_dropout_alone(%q: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @below {{'graph.ring_attention' op has dropout_sequence_length without dropout_ratio}}
  %0:2 = graph.ring_attention %q, %q, %q {scale = 1.0 : f64, num_ranks = 2 : i64, dropout_sequence_length = 8 : i64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @block_attention_dropout_head_ranks(%q: tensor<1x2x4x8xf32>, %p: tensor<4xi64>) -> tensor<1x2x4x8xf32> {
  // expected-error @below {{'graph.block_attention' op dropout_head_ranks 0 must be at least 1}}
  %0:2 = graph.block_attention %q, %q, %q, %p, %p {scale = 1.0 : f64, dropout_ratio = 0.1 : f64, dropout_site = 0 : i64, dropout_head_ranks = 0 : i64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4xi64>, tensor<4xi64>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}

// -----

func.func @attention_softcap_not_positive(%q: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  // expected-error @below {{'graph.attention' op softcap 0.000000e+00 must be positive and finite}}
  %0:2 = graph.attention %q, %q, %q {scale = 1.0 : f64, softcap = 0.0 : f64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
  return %0#0 : tensor<1x2x4x8xf32>
}
