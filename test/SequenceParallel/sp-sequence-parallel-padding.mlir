// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=allgather' | FileCheck %s

// The importer padded 7 positions to 8 (graph.unpadded_sequence_length).
// Causal attention hides the padded key from every real query; dropout keeps
// the unpadded tensor's indices: sequence_length 7.
// CHECK: module attributes {graph.num_ranks = 2 : i64, graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64}
// CHECK-LABEL: func.func @main
// CHECK: graph.dropout {{.*}} {ratio = 1.000000e-01 : f64, sequence_axis = 2 : i64, sequence_length = 7 : i64, site = 0 : i64} : (tensor<1x2x4x8xf32>, tensor<4xi64>) -> tensor<1x2x4x8xf32>
// CHECK: graph.block_attention {{.*}}causal = true
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %dropped = graph.dropout %q {ratio = 0.1 : f64, site = 0 : i64} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-remark @below {{'graph.attention' by allgather: all_gather of key and value}}
    %out, %lse = graph.attention %dropped, %k, %v {scale = 0.5 : f64, causal = true} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// Decomposed attention whose constant causal mask hides the padded key,
// through the scaling: dropout on its probabilities counts the padded keys
// as the 7 real ones (unpadded_keys).
// CHECK-LABEL: func.func @main
// CHECK: %[[P:.*]] = graph.softmax {{.*}} : tensor<1x2x4x8xf32>
// CHECK: graph.dropout %[[P]], {{.*}} {ratio = 1.000000e-01 : f64, sequence_axis = 2 : i64, sequence_length = 7 : i64, site = 0 : i64, unpadded_keys = 7 : i64}
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %mask = graph.constant dense<[[0.0, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0xFF800000, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0xFF800000], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<8x8xf32>
    %scale = graph.constant dense<2.0> : tensor<f32>
    %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-remark @below {{gathered the whole sequence of operand #1 of 'graph.matmul': its rows meet the other operand's sequence}}
    %scores = graph.matmul %q, %kt : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    %masked = graph.add %scores, %mask : (tensor<1x2x8x8xf32>, tensor<8x8xf32>) -> tensor<1x2x8x8xf32>
    %scaled = graph.div %masked, %scale : (tensor<1x2x8x8xf32>, tensor<f32>) -> tensor<1x2x8x8xf32>
    %probs = graph.softmax %scaled {axis = -1 : i64} : tensor<1x2x8x8xf32>
    %dropped = graph.dropout %probs {ratio = 0.1 : f64, site = 0 : i64} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-remark @below {{gathered the whole sequence of operand #1 of 'graph.matmul': its rows meet the other operand's sequence}}
    %out = graph.matmul %dropped, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// A mask that leaves the padded key visible does not hide it.
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %scores: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %mask = graph.constant dense<0.0> : tensor<8x8xf32>
    %masked = graph.add %scores, %mask : (tensor<1x2x8x8xf32>, tensor<8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-error @below {{the sequence of 7 positions is padded to 8 to split across the ranks, and this softmax over the sequence (unfused attention) would see the padding; give the model its attention_mask input (the runtime zeroes it over the padding) or use a sequence length the ranks' chunks divide}}
    %probs = graph.softmax %masked {axis = -1 : i64} : tensor<1x2x8x8xf32>
    return %probs : tensor<1x2x8x8xf32>
  }
}

// -----

// Attention that sees every key, with no mask input to hide the padding.
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    // expected-error @below {{the sequence of 7 positions is padded to 8 to split across the ranks, and this attention, which is not causal, would see the padding}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.5 : f64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// A band that lets no later key through (band_upper 0) at the float minimum
// hides the padding as the causal mask does: split, through block_attention,
// which compares the positions the band reads.
// CHECK-LABEL: func.func @main
// CHECK: graph.block_attention {{.*}} {band_fill = -3.4028234663852886E+38 : f64, band_upper = 0 : i64, scale = 5.000000e-01 : f64}
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    // expected-remark @below {{'graph.attention' by allgather: all_gather of key and value}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.5 : f64, band_upper = 0 : i64, band_fill = -3.4028234663852886E+38 : f64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// With an attention mask input, which the runtime zeroes over the padding,
// the same attention is split.
// CHECK-LABEL: func.func @main
// CHECK: graph.attention {{.*}} -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %mask: tensor<1x8xi64> {graph.onnx_name = "attention_mask", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    // expected-remark @below {{'graph.attention' by allgather: all_gather of key and value}}
    %out, %lse = graph.attention %q, %q, %q {scale = 0.5 : f64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// A result that merges the sequence with the batch keeps its padding.
module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 7 : i64} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]})
      -> tensor<16xi64> {
    %shape = graph.constant dense<[16]> : tensor<1xi64>
    %flat = graph.reshape %ids, %shape : (tensor<2x8xi64>, tensor<1xi64>) -> tensor<16xi64>
    // expected-error @below {{result #0 merges the sequence with another dim, so the padding that makes the sequence split across the ranks cannot be cut from it; use a sequence length the ranks' chunks divide}}
    return %flat : tensor<16xi64>
  }
}

// -----

module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 8 : i64} {
  // expected-error @below {{graph.unpadded_sequence_length 8 is not below the sequence length 8 of 'input_ids'}}
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"}) -> tensor<2x8xi64> {
    return %ids : tensor<2x8xi64>
  }
}
