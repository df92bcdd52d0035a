// RUN: sp-opt %s --sp-insert-loss --split-input-file -verify-diagnostics | FileCheck %s

// The labels are the tokens shifted left with the last position ignored; the
// summed cross-entropy is divided by B x (S - 1) = 2 x 3.
// CHECK-LABEL: module attributes {graph.token_input = "input_ids", graph.vocab_size = 5 : i64}
// CHECK-LABEL: func.func @main
// CHECK-SAME: -> (tensor<2x4x5xf32> {graph.onnx_name = "logits"}, tensor<f32> {graph.loss})
// CHECK: %[[LABELS:.*]] = graph.shift %arg0 {axis = 1 : i64, fill = -100 : i64, offset = 1 : i64} : tensor<2x4xi64>
// CHECK: %[[SUM:.*]] = graph.cross_entropy_sum %[[LOGITS:.*]], %[[LABELS]]
// CHECK: %[[COUNT:.*]] = graph.constant dense<6.000000e+00> : tensor<f32>
// CHECK: %[[LOSS:.*]] = graph.div %[[SUM]], %[[COUNT]]
// CHECK: return %[[LOGITS]], %[[LOSS]]
module {
  func.func @main(%ids: tensor<2x4xi64> {graph.onnx_name = "input_ids"},
                  %mask: tensor<2x4xi64> {graph.onnx_name = "attention_mask"})
      -> (tensor<2x4x5xf32> {graph.onnx_name = "logits"}) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<7x5xf32>, tensor<2x4xi64>) -> tensor<2x4x5xf32>
    return %x : tensor<2x4x5xf32>
  }
}

// -----

module {
  // expected-error @below {{causal-lm loss: token input has dynamic shape [?, ?]; bind it with --input-shape}}
  func.func @main(%ids: tensor<?x?xi64>) -> (tensor<?x?x5xf32>) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<7x5xf32>, tensor<?x?xi64>) -> tensor<?x?x5xf32>
    return %x : tensor<?x?x5xf32>
  }
}

// -----

module {
  // expected-error @below {{causal-lm loss: sequence length 1 leaves no next token to predict; it must be >= 2}}
  func.func @main(%ids: tensor<2x1xi64>) -> (tensor<2x1x5xf32>) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<7x5xf32>, tensor<2x1xi64>) -> tensor<2x1x5xf32>
    return %x : tensor<2x1x5xf32>
  }
}

// -----

module {
  // expected-error @below {{causal-lm loss: several rank-2 integer inputs and none is named 'input_ids'}}
  func.func @main(%a: tensor<2x4xi64>, %b: tensor<2x4xi64>) -> (tensor<2x4x5xf32>) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %a {axis = 0 : i64} : (tensor<7x5xf32>, tensor<2x4xi64>) -> tensor<2x4x5xf32>
    return %x : tensor<2x4x5xf32>
  }
}

// -----

module {
  // expected-error @below {{causal-lm loss: no float output of shape [batch, sequence, vocab] matches the token input of shape [2, 4]}}
  func.func @main(%ids: tensor<2x4xi64>) -> (tensor<2x4xf32>) {
    %x = graph.cast %ids : tensor<2x4xi64> -> tensor<2x4xf32>
    return %x : tensor<2x4xf32>
  }
}

// -----

// A model that computes its own loss gets a pointer to --loss=output.
module {
  // expected-error @below {{causal-lm loss: no float output of shape [batch, sequence, vocab] matches the token input of shape [2, 4]; the model's one scalar float output may be its own loss: train it with --loss=output}}
  func.func @main(%ids: tensor<2x4xi64>, %logits: tensor<8x5xf32>) -> (tensor<f32>) {
    %shape = graph.constant dense<8> : tensor<1xi64>
    %labels = graph.reshape %ids, %shape : (tensor<2x4xi64>, tensor<1xi64>) -> tensor<8xi64>
    %sum = graph.cross_entropy_sum %logits, %labels : (tensor<8x5xf32>, tensor<8xi64>) -> tensor<f32>
    return %sum : tensor<f32>
  }
}

// -----

// Padded from 3 to 4 positions (sp-compile --sp): positions 2 and 3 predict
// no real token, so their labels are ignored, and the sum is divided by
// B x (3 - 1) = 4.
// CHECK-LABEL: module attributes {graph.token_input = "input_ids", graph.unpadded_sequence_length = 3 : i64, graph.vocab_size = 5 : i64}
// CHECK: %[[SHIFTED:.*]] = graph.shift %arg0 {axis = 1 : i64, fill = -100 : i64, offset = 1 : i64} : tensor<2x4xi64>
// CHECK: %[[PREDICTS:.*]] = graph.constant dense<{{\[}}[true, true, false, false]]> : tensor<1x4xi1>
// CHECK: %[[IGNORED:.*]] = graph.constant dense<-100> : tensor<i64>
// CHECK: %[[LABELS:.*]] = graph.where %[[PREDICTS]], %[[SHIFTED]], %[[IGNORED]]
// CHECK: graph.cross_entropy_sum %{{.*}}, %[[LABELS]]
// CHECK: graph.constant dense<4.000000e+00> : tensor<f32>
module attributes {graph.unpadded_sequence_length = 3 : i64} {
  func.func @main(%ids: tensor<2x4xi64> {graph.onnx_name = "input_ids"})
      -> (tensor<2x4x5xf32> {graph.onnx_name = "logits"}) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<7x5xf32>, tensor<2x4xi64>) -> tensor<2x4x5xf32>
    return %x : tensor<2x4x5xf32>
  }
}

// -----

module attributes {graph.unpadded_sequence_length = 5 : i64} {
  // expected-error @below {{causal-lm loss: the unpadded sequence length 5 exceeds the token input's 4}}
  func.func @main(%ids: tensor<2x4xi64> {graph.onnx_name = "input_ids"})
      -> (tensor<2x4x5xf32> {graph.onnx_name = "logits"}) {
    %e = graph.constant dense<1.0> : tensor<7x5xf32>
    %x = graph.gather %e, %ids {axis = 0 : i64} : (tensor<7x5xf32>, tensor<2x4xi64>) -> tensor<2x4x5xf32>
    return %x : tensor<2x4x5xf32>
  }
}
