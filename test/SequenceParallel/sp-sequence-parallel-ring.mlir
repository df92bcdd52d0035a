// RUN: sp-opt %s --split-input-file --verify-diagnostics '--sp-sequence-parallel=num-ranks=2 strategy=ring' | FileCheck %s

// Ring: the zigzag layout (rank 0 holds chunks 0 and 3 of 4, rank 1 chunks 1
// and 2). One graph.ring_attention runs the ring: its kernel moves the
// key/value blocks and merges them by logsumexp, keeping nothing per step.
// CHECK-LABEL: module attributes {graph.num_ranks = 2 : i64, graph.token_input = "input_ids", graph.zigzag}
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[Q:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-SAME: %[[K:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-SAME: %[[V:[^:]*]]: tensor<1x2x4x8xf32>
// CHECK-NOT: graph.ring_shift
// CHECK: %[[O:.*]], %{{.*}} = graph.ring_attention %[[Q]], %[[K]], %[[V]] {causal = true, num_ranks = 2 : i64, scale = 5.000000e-01 : f64, zigzag = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
// CHECK-NOT: graph.block_attention
// CHECK: return %[[O]] : tensor<1x2x4x8xf32>
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %v: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    // expected-remark @below {{'graph.attention' by ring: 2 steps of key/value blocks}}
    %out, %lse = graph.attention %q, %k, %v {scale = 0.5 : f64, causal = true} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// The labels in the zigzag layout: each of a rank's two chunks takes its
// last label from the head of the chunk after it.
// CHECK-LABEL: func.func @main
// CHECK: %[[CHUNKS:.*]] = graph.reshape %{{.*}} -> tensor<2x2x2xi64>
// CHECK: %[[HEADS:.*]] = graph.slice %[[CHUNKS]], {{.*}} -> tensor<2x2x1xi64>
// CHECK: %[[ALL:.*]] = graph.all_gather %[[HEADS]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x2x1xi64>) -> tensor<2x4x1xi64>
// CHECK: %[[NEXT:.*]] = graph.shift %[[ALL]] {axis = 1 : i64, fill = -100 : i64, offset = 1 : i64}
// CHECK: graph.shard_slice %[[NEXT]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x4x1xi64>) -> tensor<2x2x1xi64>
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"}) -> tensor<2x8xi64> {
    %labels = graph.shift %ids {axis = 1 : i64, offset = 1 : i64, fill = -100 : i64} : tensor<2x8xi64>
    return %labels : tensor<2x8xi64>
  }
}

// -----

module attributes {graph.token_input = "input_ids"} {
  // expected-error @below {{sequence length 6 of 'input_ids' does not split across 2 ranks in the ring strategy's zigzag layout (4 equal chunks); use a length divisible by 4 (e.g. 4 or 8) or a rank count that divides it}}
  func.func @main(%ids: tensor<2x6xi64> {graph.onnx_name = "input_ids"}) -> tensor<2x6xi64> {
    return %ids : tensor<2x6xi64>
  }
}

// -----

// [batch, seq] merged into one dim: a table of that dim is sliced, and a
// result in it is gathered, one batch entry's sequence at a time.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[X:[^:]*]]: tensor<2x4x3xf32> {graph.shard_axis = 1 : i64}, %[[TABLE:[^:]*]]: tensor<16x3xf32>
// CHECK: %[[ROWS:.*]] = graph.reshape %[[X]], %{{.*}} -> tensor<8x3xf32>
// CHECK: %[[BLOCKS:.*]] = graph.reshape %[[TABLE]], %{{.*}} -> tensor<2x8x3xf32>
// CHECK: %[[SHARD:.*]] = graph.shard_slice %[[BLOCKS]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
// CHECK: %[[MINE:.*]] = graph.reshape %[[SHARD]], %{{.*}} -> tensor<8x3xf32>
// CHECK: %[[SUM:.*]] = graph.add %[[ROWS]], %[[MINE]]
// CHECK: %[[SPLIT:.*]] = graph.reshape %[[SUM]], %{{.*}} -> tensor<2x4x3xf32>
// CHECK: %[[WHOLE:.*]] = graph.all_gather %[[SPLIT]] {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x4x3xf32>) -> tensor<2x8x3xf32>
// CHECK: %[[MERGED:.*]] = graph.reshape %[[WHOLE]], %{{.*}} -> tensor<16x3xf32>
// CHECK: return %[[MERGED]]
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids"}, %x: tensor<2x8x3xf32>,
                  %table: tensor<16x3xf32>) -> tensor<16x3xf32> {
    %shape = graph.constant dense<[16, 3]> : tensor<2xi64>
    %rows = graph.reshape %x, %shape : (tensor<2x8x3xf32>, tensor<2xi64>) -> tensor<16x3xf32>
    %y = graph.add %rows, %table : (tensor<16x3xf32>, tensor<16x3xf32>) -> tensor<16x3xf32>
    // expected-remark @below {{gathered the whole sequence of result #0: its sequence dim is merged with another}}
    return %y : tensor<16x3xf32>
  }
}

// -----

// A constant bias that lets every query see itself (a sliding window): ring
// attention slices its rows to the rank's queries and keeps its key columns
// whole; the kernel takes the columns of the block it holds at each step.
// CHECK-LABEL: func.func @main
// CHECK-DAG: %[[BIAS:.*]] = graph.constant dense<{{.*}}> : tensor<8x8xf32>
// CHECK-DAG: %[[ROWS:.*]] = graph.shard_slice %[[BIAS]] {axis = 0 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK: graph.ring_attention %{{.*}}, %{{.*}}, %{{.*}}, %[[ROWS]] {num_ranks = 2 : i64, scale = 5.000000e-01 : f64, zigzag = true} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4x8xf32>)
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %window = graph.constant dense<[[0.0, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38],
                                    [0.0, 0.0, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38],
                                    [-1.0e38, 0.0, 0.0, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38],
                                    [-1.0e38, -1.0e38, 0.0, 0.0, -1.0e38, -1.0e38, -1.0e38, -1.0e38],
                                    [-1.0e38, -1.0e38, -1.0e38, 0.0, 0.0, -1.0e38, -1.0e38, -1.0e38],
                                    [-1.0e38, -1.0e38, -1.0e38, -1.0e38, 0.0, 0.0, -1.0e38, -1.0e38],
                                    [-1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, 0.0, 0.0, -1.0e38],
                                    [-1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, -1.0e38, 0.0, 0.0]]> : tensor<8x8xf32>
    // expected-remark @below {{'graph.attention' by ring: 2 steps of key/value blocks}}
    %out, %lse = graph.attention %q, %q, %q, %window {scale = 0.5 : f64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// A bias computed from an input (a padding mask): the ring takes this
// rank's rows of it, its zigzag chunks; no all_gather.
// CHECK-LABEL: func.func @main
// CHECK-NOT: graph.all_gather
// CHECK: %[[ROWS:.*]] = graph.shard_slice %arg2 {axis = 0 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK: graph.ring_attention %arg1, %arg1, %arg1, %[[ROWS]] {causal = true
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %bias: tensor<8x8xf32>) -> tensor<1x2x8x8xf32> {
    // expected-remark @below {{'graph.attention' by ring: 2 steps of key/value blocks}}
    %out, %lse = graph.attention %q, %q, %q, %bias {scale = 0.5 : f64, causal = true} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// Dropout draws its mask by each element's index in the whole tensor: the
// shard's rows get their global positions (this rank's zigzag chunks of the
// sequence), for the sequence as its own dim and merged with the batch.
// CHECK-LABEL: func.func @main
// CHECK: %[[ALL:.*]] = graph.constant dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi64>
// CHECK: %[[POSITIONS:.*]] = graph.shard_slice %[[ALL]] {axis = 0 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<8xi64>) -> tensor<4xi64>
// CHECK: graph.dropout %{{.*}}, %[[POSITIONS]] {ratio = 1.000000e-01 : f64, sequence_axis = 1 : i64, sequence_length = 8 : i64, site = 0 : i64} : (tensor<2x4x8xf32>, tensor<4xi64>) -> tensor<2x4x8xf32>
// CHECK: graph.dropout %{{.*}}, %[[POSITIONS]] {ratio = 1.000000e-01 : f64, sequence_axis = 0 : i64, sequence_length = 8 : i64, site = 1 : i64} : (tensor<8x8xf32>, tensor<4xi64>) -> tensor<8x8xf32>
module attributes {graph.token_input = "input_ids"} {
  ml_program.global private mutable @wte(dense<1.0> : tensor<16x8xf32>) : tensor<16x8xf32>
  func.func @main(%ids: tensor<2x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]})
      -> (tensor<16x8xf32> {graph.onnx_name = "hidden"}) {
    %wte = ml_program.global_load @wte : tensor<16x8xf32>
    %tokens = graph.gather %wte, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<2x8xi64>) -> tensor<2x8x8xf32>
    %dropped = graph.dropout %tokens {ratio = 0.1 : f64, site = 0 : i64} : (tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    %rows_shape = graph.constant dense<[16, 8]> : tensor<2xi64>
    %rows = graph.reshape %dropped, %rows_shape : (tensor<2x8x8xf32>, tensor<2xi64>) -> tensor<16x8xf32>
    %out = graph.dropout %rows {ratio = 0.1 : f64, site = 1 : i64} : (tensor<16x8xf32>) -> tensor<16x8xf32>
    // expected-remark @below {{gathered the whole sequence of result #0: its sequence dim is merged with another}}
    return %out : tensor<16x8xf32>
  }
}

// -----

// Attention left as matmuls (here its probabilities go through dropout,
// which the fused kernels do not draw) would need the whole keys: a ring the
// user asked for cannot run it, and that is an error, not a quiet gather.
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]})
      -> tensor<1x2x8x8xf32> {
    %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-error @below {{'graph.matmul' multiplies the sequence by the sequence (attention that sp-fuse did not make one attention op), which --sp-strategy=ring cannot split; its keys would be gathered whole as by allgather. Use --sp-strategy=allgather or auto, or see the fusion warnings for why it stayed unfused}}
    %scores = graph.matmul %q, %kt : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    %probs = graph.softmax %scores {axis = -1 : i64} : tensor<1x2x8x8xf32>
    %dropped = graph.dropout %probs {ratio = 0.1 : f64, site = 0 : i64} : (tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    %out = graph.matmul %dropped, %k : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> tensor<1x2x8x8xf32>
    return %out : tensor<1x2x8x8xf32>
  }
}

// -----

// Keys split along another dim than the queries' sequence: the ring cannot
// pass them around, and says so.
module attributes {graph.token_input = "input_ids"} {
  func.func @main(%ids: tensor<1x8xi64> {graph.onnx_name = "input_ids", graph.dim_names = ["batch", "sequence"]},
                  %q: tensor<1x2x8x8xf32> {graph.dim_names = ["batch", "", "sequence", ""]},
                  %k: tensor<1x8x2x8xf32> {graph.dim_names = ["batch", "sequence", "", ""]}) -> tensor<1x2x8x8xf32> {
    %kh = graph.transpose %k {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x8x2x8xf32>) -> tensor<1x2x8x8xf32>
    // expected-error @below {{'graph.attention' cannot run by ring: its query, key and value are not split along the sequence alike, so they would be gathered whole. Use --sp-strategy=allgather or auto}}
    %out, %lse = graph.attention %q, %kh, %kh {scale = 0.5 : f64} : (tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>, tensor<1x2x8x8xf32>) -> (tensor<1x2x8x8xf32>, tensor<1x2x8xf32>)
    return %out : tensor<1x2x8x8xf32>
  }
}
