// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=allgather' | FileCheck %s

// Inputs that hold sequence positions are split; the position table meets the
// split sequence and is sliced where it is indexed; [batch, seq] merged
// around a GEMM stays local (-1 and whole shapes become the shard's).
// CHECK-LABEL: module attributes {graph.num_ranks = 2 : i64
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<2x4xi64> {graph.dim_names = {{[^}]*}}, graph.shard_axis = 1 : i64}
// CHECK-SAME: %[[MASK:[^:]*]]: tensor<2x4xi64> {graph.dim_names = {{[^}]*}}, graph.shard_axis = 1 : i64}
// CHECK-SAME: -> (tensor<2x4x8xf32> {graph.onnx_name = "hidden", graph.shard_axis = 1 : i64})
// CHECK: %[[TABLE:.*]] = graph.constant dense<{{\[\[}}0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi64>
// CHECK: %[[POS:.*]] = graph.shard_slice %[[TABLE]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<1x8xi64>) -> tensor<1x4xi64>
// CHECK: graph.gather %{{.*}}, %[[IDS]] {{.*}} -> tensor<2x4x8xf32>
// CHECK: graph.gather %{{.*}}, %[[POS]] {{.*}} -> tensor<1x4x8xf32>
// CHECK: %[[ROWS:.*]] = graph.constant dense<8> : tensor<2xi64>
// CHECK: graph.reshape %{{.*}}, %[[ROWS]] : (tensor<2x4x8xf32>, tensor<2xi64>) -> tensor<8x8xf32>
// CHECK: graph.gemm {{.*}} -> tensor<8x8xf32>
// CHECK: %[[BACK:.*]] = graph.constant dense<[2, 4, 8]> : tensor<3xi64>
// CHECK: graph.reshape %{{.*}}, %[[BACK]] : (tensor<8x8xf32>, tensor<3xi64>) -> tensor<2x4x8xf32>
// CHECK: graph.cast %[[MASK]] : tensor<2x4xi64> -> tensor<2x4xf32>
// CHECK-NOT: graph.all_gather
// CHECK: return
module attributes {graph.token_input = "input_ids"} {
  ml_program.global private mutable @wte(dense<1.0> : tensor<16x8xf32>) : tensor<16x8xf32>
  ml_program.global private mutable @wpe(dense<2.0> : tensor<32x8xf32>) : tensor<32x8xf32>
  ml_program.global private mutable @w(dense<0.5> : tensor<8x8xf32>) : tensor<8x8xf32>
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %mask: tensor<2x8xi64> {graph.onnx_name = "attention_mask", graph.dim_names = ["batch", "sequence"]})
      -> (tensor<2x8x8xf32> {graph.onnx_name = "hidden"}) {
    %positions = graph.constant dense<[[0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi64>
    %wte = ml_program.global_load @wte : tensor<16x8xf32>
    %wpe = ml_program.global_load @wpe : tensor<32x8xf32>
    %w = ml_program.global_load @w : tensor<8x8xf32>
    %tokens = graph.gather %wte, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<2x8xi64>) -> tensor<2x8x8xf32>
    %places = graph.gather %wpe, %positions {axis = 0 : i64} : (tensor<32x8xf32>, tensor<1x8xi64>) -> tensor<1x8x8xf32>
    %h = graph.add %tokens, %places : (tensor<2x8x8xf32>, tensor<1x8x8xf32>) -> tensor<2x8x8xf32>
    %rows_shape = graph.constant dense<[-1, 8]> : tensor<2xi64>
    %rows = graph.reshape %h, %rows_shape : (tensor<2x8x8xf32>, tensor<2xi64>) -> tensor<16x8xf32>
    %y = graph.gemm %rows, %w : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
    %back_shape = graph.constant dense<[2, 8, 8]> : tensor<3xi64>
    %back = graph.reshape %y, %back_shape : (tensor<16x8xf32>, tensor<3xi64>) -> tensor<2x8x8xf32>
    %m = graph.cast %mask : tensor<2x8xi64> -> tensor<2x8xf32>
    %m3 = graph.unsqueeze %m {axes = array<i64: 2>} : (tensor<2x8xf32>) -> tensor<2x8x1xf32>
    %out = graph.mul %back, %m3 : (tensor<2x8x8xf32>, tensor<2x8x1xf32>) -> tensor<2x8x8xf32>
    return %out : tensor<2x8x8xf32>
  }
}

// -----

// The causal-LM loss: within a chunk the labels shift locally; a chunk's last
// label is the next chunk's first token, from the all-gathered chunk heads
// (the sequence's last chunk keeps -100). The sum is all-reduced before the
// division by the global count.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[IDS:[^:]*]]: tensor<2x4xi64>
// CHECK-SAME: %[[LOGITS:[^:]*]]: tensor<2x4x16xf32>
// CHECK: %[[CHUNKS:.*]] = graph.reshape %[[IDS]], %{{.*}} -> tensor<2x1x4xi64>
// CHECK: %[[HEADS:.*]] = graph.slice %[[CHUNKS]], {{.*}} -> tensor<2x1x1xi64>
// CHECK: %[[ALL:.*]] = graph.all_gather %[[HEADS]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x1x1xi64>) -> tensor<2x2x1xi64>
// CHECK: %[[NEXT:.*]] = graph.shift %[[ALL]] {axis = 1 : i64, fill = -100 : i64, offset = 1 : i64} : tensor<2x2x1xi64>
// CHECK: %[[MINE:.*]] = graph.shard_slice %[[NEXT]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x2x1xi64>) -> tensor<2x1x1xi64>
// CHECK: %[[REST:.*]] = graph.slice %[[CHUNKS]], {{.*}} -> tensor<2x1x3xi64>
// CHECK: %[[JOINED:.*]] = graph.concat %[[REST]], %[[MINE]] {axis = 2 : i64}
// CHECK: %[[LABELS:.*]] = graph.reshape %[[JOINED]], %{{.*}} -> tensor<2x4xi64>
// CHECK: %[[SUM:.*]] = graph.cross_entropy_sum %[[LOGITS]], %[[LABELS]]
// CHECK: %[[TOTAL:.*]] = graph.all_reduce %[[SUM]] {num_ranks = 2 : i64} : (tensor<f32>) -> tensor<f32>
// CHECK: %[[LOSS:.*]] = graph.div %[[TOTAL]], %{{.*}}
// CHECK: return %[[LOSS]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"},
                  %logits: tensor<2x8x16xf32> {graph.onnx_name = "logits"}) -> (tensor<f32> {graph.loss}) {
    %labels = graph.shift %ids {axis = 1 : i64, offset = 1 : i64, fill = -100 : i64} : tensor<2x8xi64>
    %sum = graph.cross_entropy_sum %logits, %labels : (tensor<2x8x16xf32>, tensor<2x8xi64>) -> tensor<f32>
    %count = graph.constant dense<14.0> : tensor<f32>
    %loss = graph.div %sum, %count : (tensor<f32>, tensor<f32>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}

// -----

// allgather: K and V come whole; the queries' positions keep the causal mask
// right (block_attention); grouped-query heads are untouched.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[Q:[^:]*]]: tensor<1x4x4x8xf32>
// CHECK-SAME: %[[K:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-SAME: %[[V:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK: %[[ALL:.*]] = graph.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi64>
// CHECK: %[[QPOS:.*]] = graph.shard_slice %[[ALL]] {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<8xi64>) -> tensor<4xi64>
// CHECK: %[[KW:.*]] = graph.all_gather %[[K]] {axis = 2 : i64, num_ranks = 2 : i64} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32>
// CHECK: %[[VW:.*]] = graph.all_gather %[[V]] {axis = 2 : i64, num_ranks = 2 : i64} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x8xf32>
// CHECK: %[[KPOS:.*]] = graph.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi64>
// CHECK: %[[OUT:.*]], %{{.*}} = graph.block_attention %[[Q]], %[[KW]], %[[VW]], %[[QPOS]], %[[KPOS]] {causal = true, scale = 5.000000e-01 : f64} : {{.*}} -> (tensor<1x4x4x8xf32>, tensor<1x4x4xf32>)
// CHECK: return %[[OUT]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x4x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x4x8x8xf32> {
    // expected-remark @below {{'graph.attention' by allgather: all_gather of key and value}}
    %out, %lse = graph.attention %q, %k, %v {scale = 0.5 : f64, causal = true} : (tensor<1x4x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x4x8x8xf32>, tensor<1x4x8xf32>)
    return %out : tensor<1x4x8x8xf32>
  }
}

// -----

// Decomposed attention: the scores' rows are this rank's queries, so the keys
// and values come whole, and the [S, S] causal bias is sliced to the rows.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[Q:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-SAME: %[[K:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-SAME: %[[V:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK: %[[MASK:.*]] = graph.constant {{.*}} : tensor<8x8xf32>
// CHECK: %[[ROWS:.*]] = graph.shard_slice %[[MASK]] {axis = 0 : i64, num_ranks = 2 : i64} : (tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[KT:.*]] = graph.transpose %[[K]] {{.*}} -> tensor<1x2x8x4xf32>
// CHECK: %[[KTW:.*]] = graph.all_gather %[[KT]] {axis = 3 : i64, num_ranks = 2 : i64} : (tensor<1x2x8x4xf32>) -> tensor<1x2x8x8xf32>
// CHECK: %[[S:.*]] = graph.matmul %[[Q]], %[[KTW]] : {{.*}} -> tensor<1x2x4x8xf32>
// CHECK: %[[B:.*]] = graph.add %[[S]], %[[ROWS]]
// CHECK: %[[P:.*]] = graph.softmax %[[B]] {axis = -1 : i64} : tensor<1x2x4x8xf32>
// CHECK: %[[VW:.*]] = graph.all_gather %[[V]] {axis = 2 : i64, num_ranks = 2 : i64}
// CHECK: graph.matmul %[[P]], %[[VW]] : {{.*}} -> tensor<1x2x4x8xf32>
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %mask = graph.constant dense<0.0> : tensor<8x8xf32>
    %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-remark @below {{gathered the whole sequence of operand #1 of 'graph.matmul': its rows meet the other operand's sequence}}
    %scores = graph.matmul %q, %kt : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    %biased = graph.add %scores, %mask : (tensor<1x2x8x8xf32>, tensor<8x8xf32>) -> tensor<1x2x8x8xf32>
    %probs = graph.softmax %biased {axis = -1 : i64} : tensor<1x2x8x8xf32>
    // expected-remark @below {{gathered the whole sequence of operand #1 of 'graph.matmul': its rows meet the other operand's sequence}}
    %out = graph.matmul %probs, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// What needs the whole sequence and has no local rule is gathered, with a
// remark: a triangle of a position-indexed matrix, a maximum over the
// sequence. A sum over the sequence is partial and all-reduced.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x4x8xf32>
// CHECK-SAME: -> (tensor<2x8x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>)
// CHECK: %[[XW:.*]] = graph.all_gather %[[X]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK: %[[TRI:.*]] = graph.trilu %[[XW]] {upper = false} : tensor<2x8x8xf32>
// CHECK: %[[XW2:.*]] = graph.all_gather %[[X]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK: %[[MAX:.*]] = graph.reduce_max %[[XW2]]
// CHECK: %[[SUM:.*]] = graph.reduce_sum %[[X]] {{.*}} -> tensor<2x8xf32>
// CHECK: %[[TOTAL:.*]] = graph.all_reduce %[[SUM]] {num_ranks = 2 : i64}
// CHECK: return %[[TRI]], %[[MAX]], %[[TOTAL]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"},
                  %x: tensor<2x8x8xf32>) -> (tensor<2x8x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
    // expected-remark @below {{gathered the whole sequence of operand #0 of 'graph.trilu': it has no sequence-parallel rule}}
    %tri = graph.trilu %x {upper = false} : tensor<2x8x8xf32>
    // expected-remark @below {{gathered the whole sequence of operand #0 of 'graph.reduce_max': it takes the maximum along the sequence}}
    %max = graph.reduce_max %x {axes = array<i64: 1>, keep_dims = false} : (tensor<2x8x8xf32>) -> tensor<2x8xf32>
    %sum = graph.reduce_sum %x {axes = array<i64: 1>, keep_dims = false} : (tensor<2x8x8xf32>) -> tensor<2x8xf32>
    return %tri, %max, %sum : tensor<2x8x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
  }
}

// -----

// gather_nd over batch dims that hold the sequence (GatherElements and
// ScatterElements away from it, as imported) reads each position's own row:
// local, with its index table sliced to the shard. Addressing the sequence
// dim by index gathers the whole sequence.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x4x6xf32>
// CHECK-SAME: -> (tensor<2x4x3xf32> {graph.shard_axis = 1 : i64}, tensor<2x6xf32>)
// CHECK: %[[TABLE:.*]] = graph.constant dense<2> : tensor<2x8x3x1xi64>
// CHECK: %[[SHARD:.*]] = graph.shard_slice %[[TABLE]] {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x8x3x1xi64>) -> tensor<2x4x3x1xi64>
// CHECK: %[[PICKED:.*]] = graph.gather_nd %[[X]], %[[SHARD]] {batch_dims = 2 : i64} : (tensor<2x4x6xf32>, tensor<2x4x3x1xi64>) -> tensor<2x4x3xf32>
// CHECK: %[[WHOLE:.*]] = graph.all_gather %[[X]] {axis = 1 : i64, num_ranks = 2 : i64}
// CHECK: %[[CORNERS:.*]] = graph.gather_nd %[[WHOLE]], %{{.*}} : (tensor<2x8x6xf32>, tensor<2x2xi64>) -> tensor<2x6xf32>
// CHECK: return %[[PICKED]], %[[CORNERS]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"},
                  %x: tensor<2x8x6xf32>) -> (tensor<2x8x3xf32>, tensor<2x6xf32>) {
    %indices = graph.constant dense<2> : tensor<2x8x3x1xi64>
    %picked = graph.gather_nd %x, %indices {batch_dims = 2 : i64} : (tensor<2x8x6xf32>, tensor<2x8x3x1xi64>) -> tensor<2x8x3xf32>
    %positions = graph.constant dense<[[1, 7], [0, 0]]> : tensor<2x2xi64>
    // expected-remark @below {{gathered the whole sequence of operand #0 of 'graph.gather_nd': it addresses the sequence dim of its data by index}}
    %corners = graph.gather_nd %x, %positions : (tensor<2x8x6xf32>, tensor<2x2xi64>) -> tensor<2x6xf32>
    return %picked, %corners : tensor<2x8x3xf32>, tensor<2x6xf32>
  }
}

// -----

// A reshape that would cut a rank's shard apart reshapes the whole tensor.
// CHECK-LABEL: func.func @main
// CHECK: %[[W:.*]] = graph.all_gather %{{.*}} {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<1x4x3xf32>) -> tensor<1x8x3xf32>
// CHECK: graph.reshape %[[W]], %{{.*}} : (tensor<1x8x3xf32>, tensor<2xi64>) -> tensor<3x8xf32>
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids"},
                  %x: tensor<1x8x3xf32>) -> tensor<3x8xf32> {
    %shape = graph.constant dense<[3, 8]> : tensor<2xi64>
    // expected-remark @below {{gathered the whole sequence of operand #0 of 'graph.reshape': it reshapes [1, 8, 3] into [3, 8], cutting across the ranks' shards of the sequence}}
    %y = graph.reshape %x, %shape : (tensor<1x8x3xf32>, tensor<2xi64>) -> tensor<3x8xf32>
    return %y : tensor<3x8xf32>
  }
}
