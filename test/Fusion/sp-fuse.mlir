// RUN: sp-opt %s --pass-pipeline='builtin.module(func.func(sp-fuse))' | FileCheck %s
// RUN: sp-opt %s --pass-pipeline='builtin.module(func.func(sp-fuse{remarks=true}))' -verify-diagnostics -o /dev/null

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

// GPT-2 eager: Q K^T / sqrt(d) + a padding mask that comes from an input.
// CHECK-LABEL: func.func @scaled_with_input_bias
// CHECK-SAME: (%[[Q:.*]]: tensor<2x2x4x8xf32>, %[[K:.*]]: tensor<2x2x4x8xf32>, %[[V:.*]]: tensor<2x2x4x8xf32>, %[[MASK:.*]]: tensor<2x1x1x4xf32>)
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[MASK]] {scale = 0.35355339664408242 : f64}
// CHECK-NEXT: return %[[O]]
func.func @scaled_with_input_bias(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>, %mask: tensor<2x1x1x4xf32>) -> tensor<2x2x4x8xf32> {
  %root = graph.constant dense<2.82842712> : tensor<f32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x2x4x8xf32>) -> tensor<2x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 3.535534e-01, bias}}
  %s = graph.matmul %q, %kt : (tensor<2x2x4x8xf32>, tensor<2x2x8x4xf32>) -> tensor<2x2x4x4xf32>
  %scaled = graph.div %s, %root : (tensor<2x2x4x4xf32>, tensor<f32>) -> tensor<2x2x4x4xf32>
  %biased = graph.add %scaled, %mask : (tensor<2x2x4x4xf32>, tensor<2x1x1x4xf32>) -> tensor<2x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<2x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<2x2x4x4xf32>, tensor<2x2x4x8xf32>) -> tensor<2x2x4x8xf32>
  return %o : tensor<2x2x4x8xf32>
}

// A constant causal mask (0 on and below the diagonal, finfo.min above),
// broadcast over batch and heads, becomes `causal`.
// CHECK-LABEL: func.func @constant_causal_mask
// CHECK-NOT: graph.softmax
// CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}} {causal = true, scale = 5.000000e-01 : f64} : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> (tensor<1x2x3x4xf32>, tensor<1x2x3xf32>)
func.func @constant_causal_mask(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32> {
  %half = graph.constant dense<0.5> : tensor<f32>
  %mask = graph.constant dense<[[[[0.0, -3.40282347E+38, -3.40282347E+38], [0.0, 0.0, -3.40282347E+38], [0.0, 0.0, 0.0]]]]> : tensor<1x1x3x3xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x3x4xf32>) -> tensor<1x2x4x3xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, causal}}
  %s = graph.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %scaled = graph.mul %s, %half : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %biased = graph.add %mask, %scaled : (tensor<1x1x3x3xf32>, tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %biased {axis = 3 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// A constant all-zero bias disappears.
// CHECK-LABEL: func.func @constant_zero_bias
// CHECK: graph.attention %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}} {scale = 1.000000e+00 : f64} : (tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>, tensor<1x1x3x4xf32>)
func.func @constant_zero_bias(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %zero = graph.constant dense<0.0> : tensor<3x3xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  // expected-remark @below {{fused attention: 1 query heads on 1 key/value heads, scale 1.000000e+00, no mask}}
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %biased = graph.add %s, %zero : (tensor<1x1x3x3xf32>, tensor<3x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// A sliding-window mask is not the causal pattern: it stays a bias.
// CHECK-LABEL: func.func @constant_window_mask
// CHECK: %[[MASK:.*]] = graph.constant
// CHECK: graph.attention %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[MASK]] {scale = 1.000000e+00 : f64}
func.func @constant_window_mask(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %mask = graph.constant dense<[[0.0, 0xFF800000, 0xFF800000], [0.0, 0.0, 0xFF800000], [0xFF800000, 0.0, 0.0]]> : tensor<3x3xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  // expected-remark @below {{fused attention: 1 query heads on 1 key/value heads, scale 1.000000e+00, bias}}
  // expected-warning @below {{1 attention keeps a [3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %biased = graph.add %s, %mask : (tensor<1x1x3x3xf32>, tensor<3x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// Llama eager in float64: repeat_kv (unsqueeze, expand, reshape) on K and V,
// the finfo.min clamp after the mask, and the softmax's float32 round trip.
// K and V keep their 2 heads; the clamp folds into the bias.
// CHECK-LABEL: func.func @grouped_query_clamp_casts
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x3x2xf64>, %[[K:.*]]: tensor<1x2x3x2xf64>, %[[V:.*]]: tensor<1x2x3x2xf64>, %[[MASK:.*]]: tensor<1x1x3x3xf64>)
// CHECK: %[[MIN:.*]] = graph.constant dense<-3.4028234663852886E+38> : tensor<f64>
// CHECK: %[[CLAMPED:.*]] = graph.max %[[MASK]], %[[MIN]]
// CHECK: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[CLAMPED]] {scale = 0.70710678118654746 : f64} : (tensor<1x4x3x2xf64>, tensor<1x2x3x2xf64>, tensor<1x2x3x2xf64>, tensor<1x1x3x3xf64>) -> (tensor<1x4x3x2xf64>, tensor<1x4x3xf64>)
// CHECK-NOT: graph.expand
// CHECK: return %[[O]]
func.func @grouped_query_clamp_casts(%q: tensor<1x4x3x2xf64>, %k: tensor<1x2x3x2xf64>, %v: tensor<1x2x3x2xf64>, %mask: tensor<1x1x3x3xf64>) -> tensor<1x4x3x2xf64> {
  %repeat = graph.constant dense<[1, 2, 2, 3, 2]> : tensor<5xi64>
  %heads = graph.constant dense<[1, 4, 3, 2]> : tensor<4xi64>
  %factor = graph.constant dense<0.70710678118654746> : tensor<f64>
  %min = graph.constant dense<-3.4028234663852886E+38> : tensor<f64>
  %k5 = graph.unsqueeze %k {axes = array<i64: 2>} : (tensor<1x2x3x2xf64>) -> tensor<1x2x1x3x2xf64>
  %kx = graph.expand %k5, %repeat : (tensor<1x2x1x3x2xf64>, tensor<5xi64>) -> tensor<1x2x2x3x2xf64>
  %kr = graph.reshape %kx, %heads : (tensor<1x2x2x3x2xf64>, tensor<4xi64>) -> tensor<1x4x3x2xf64>
  %v5 = graph.unsqueeze %v {axes = array<i64: 2>} : (tensor<1x2x3x2xf64>) -> tensor<1x2x1x3x2xf64>
  %vx = graph.expand %v5, %repeat : (tensor<1x2x1x3x2xf64>, tensor<5xi64>) -> tensor<1x2x2x3x2xf64>
  %vr = graph.reshape %vx, %heads : (tensor<1x2x2x3x2xf64>, tensor<4xi64>) -> tensor<1x4x3x2xf64>
  %kt = graph.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x3x2xf64>) -> tensor<1x4x2x3xf64>
  // expected-remark @below {{fused attention: 4 query heads on 2 key/value heads, scale 7.071068e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 1, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<1x4x3x2xf64>, tensor<1x4x2x3xf64>) -> tensor<1x4x3x3xf64>
  %scaled = graph.mul %s, %factor : (tensor<1x4x3x3xf64>, tensor<f64>) -> tensor<1x4x3x3xf64>
  %biased = graph.add %scaled, %mask : (tensor<1x4x3x3xf64>, tensor<1x1x3x3xf64>) -> tensor<1x4x3x3xf64>
  %clamped = graph.max %biased, %min : (tensor<1x4x3x3xf64>, tensor<f64>) -> tensor<1x4x3x3xf64>
  %p = graph.softmax %clamped {axis = -1 : i64} : tensor<1x4x3x3xf64>
  %p32 = graph.cast %p : tensor<1x4x3x3xf64> -> tensor<1x4x3x3xf32>
  %p64 = graph.cast %p32 : tensor<1x4x3x3xf32> -> tensor<1x4x3x3xf64>
  %o = graph.matmul %p64, %vr : (tensor<1x4x3x3xf64>, tensor<1x4x3x2xf64>) -> tensor<1x4x3x2xf64>
  return %o : tensor<1x4x3x2xf64>
}

// Falcon's multi-query attention, one key/value head broadcast to all four
// query heads by `expand` ([1, 1, S, D] to [1, 4, S, D]): K and V keep
// their one head.
// CHECK-LABEL: func.func @multi_query_expand
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x4x3x2xf32>, %[[K:[^:]*]]: tensor<1x1x3x2xf32>, %[[V:[^:]*]]: tensor<1x1x3x2xf32>, %[[MASK:[^:]*]]: tensor<1x1x3x3xf32>)
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[MASK]] {scale = 0.70710676908493042 : f64} : (tensor<1x4x3x2xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3x3xf32>) -> (tensor<1x4x3x2xf32>, tensor<1x4x3xf32>)
// CHECK-NEXT: return %[[O]]
func.func @multi_query_expand(%q: tensor<1x4x3x2xf32>, %k: tensor<1x1x3x2xf32>, %v: tensor<1x1x3x2xf32>, %mask: tensor<1x1x3x3xf32>) -> tensor<1x4x3x2xf32> {
  %heads = graph.constant dense<[1, 4, 3, 2]> : tensor<4xi64>
  %factor = graph.constant dense<0.70710678> : tensor<f32>
  %kx = graph.expand %k, %heads : (tensor<1x1x3x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %vx = graph.expand %v, %heads : (tensor<1x1x3x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %kt = graph.transpose %kx {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  // expected-remark @below {{fused attention: 4 query heads on 1 key/value heads, scale 7.071068e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 1, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<1x4x3x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x3x3xf32>
  %scaled = graph.mul %s, %factor : (tensor<1x4x3x3xf32>, tensor<f32>) -> tensor<1x4x3x3xf32>
  %biased = graph.add %scaled, %mask : (tensor<1x4x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x4x3x3xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x4x3x3xf32>
  %o = graph.matmul %p, %vx : (tensor<1x4x3x3xf32>, tensor<1x4x3x2xf32>) -> tensor<1x4x3x2xf32>
  return %o : tensor<1x4x3x2xf32>
}

// Multi-query attention by matmul broadcasting: [B, 4, S, D] queries times
// a [B, 1, D, S] key, the probabilities times a [B, 1, S, D] value.
// CHECK-LABEL: func.func @multi_query_broadcast
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<2x4x3x2xf32>, %[[K:[^:]*]]: tensor<2x1x3x2xf32>, %[[V:[^:]*]]: tensor<2x1x3x2xf32>, %[[MASK:[^:]*]]: tensor<2x1x3x3xf32>)
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[MASK]] {scale = 0.70710676908493042 : f64} : (tensor<2x4x3x2xf32>, tensor<2x1x3x2xf32>, tensor<2x1x3x2xf32>, tensor<2x1x3x3xf32>) -> (tensor<2x4x3x2xf32>, tensor<2x4x3xf32>)
// CHECK-NEXT: return %[[O]]
func.func @multi_query_broadcast(%q: tensor<2x4x3x2xf32>, %k: tensor<2x1x3x2xf32>, %v: tensor<2x1x3x2xf32>, %mask: tensor<2x1x3x3xf32>) -> tensor<2x4x3x2xf32> {
  %factor = graph.constant dense<0.70710678> : tensor<f32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x1x3x2xf32>) -> tensor<2x1x2x3xf32>
  // expected-remark @below {{fused attention: 4 query heads on 1 key/value heads, scale 7.071068e-01, bias}}
  // expected-warning @below {{1 attention keeps a [2, 1, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<2x4x3x2xf32>, tensor<2x1x2x3xf32>) -> tensor<2x4x3x3xf32>
  %scaled = graph.mul %s, %factor : (tensor<2x4x3x3xf32>, tensor<f32>) -> tensor<2x4x3x3xf32>
  %biased = graph.add %scaled, %mask : (tensor<2x4x3x3xf32>, tensor<2x1x3x3xf32>) -> tensor<2x4x3x3xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<2x4x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<2x4x3x3xf32>, tensor<2x1x3x2xf32>) -> tensor<2x4x3x2xf32>
  return %o : tensor<2x4x3x2xf32>
}

// Multi-query attention by Tile ([1, 4, 1, 1] repeats), as the importer
// writes it: unsqueeze to unit dims, expand one of them, reshape.
// CHECK-LABEL: func.func @multi_query_tile
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x4x3x2xf32>, %[[K:[^:]*]]: tensor<1x1x3x2xf32>, %[[V:[^:]*]]: tensor<1x1x3x2xf32>)
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]] {scale = 1.000000e+00 : f64} : (tensor<1x4x3x2xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3x2xf32>) -> (tensor<1x4x3x2xf32>, tensor<1x4x3xf32>)
// CHECK-NEXT: return %[[O]]
func.func @multi_query_tile(%q: tensor<1x4x3x2xf32>, %k: tensor<1x1x3x2xf32>, %v: tensor<1x1x3x2xf32>) -> tensor<1x4x3x2xf32> {
  %rep = graph.constant dense<[1, 1, 4, 1, 1, 1, 1, 1]> : tensor<8xi64>
  %heads = graph.constant dense<[1, 4, 3, 2]> : tensor<4xi64>
  %k8 = graph.unsqueeze %k {axes = array<i64: 0, 2, 4, 6>} : (tensor<1x1x3x2xf32>) -> tensor<1x1x1x1x1x3x1x2xf32>
  %kx = graph.expand %k8, %rep : (tensor<1x1x1x1x1x3x1x2xf32>, tensor<8xi64>) -> tensor<1x1x4x1x1x3x1x2xf32>
  %kr = graph.reshape %kx, %heads : (tensor<1x1x4x1x1x3x1x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %v8 = graph.unsqueeze %v {axes = array<i64: 0, 2, 4, 6>} : (tensor<1x1x3x2xf32>) -> tensor<1x1x1x1x1x3x1x2xf32>
  %vx = graph.expand %v8, %rep : (tensor<1x1x1x1x1x3x1x2xf32>, tensor<8xi64>) -> tensor<1x1x4x1x1x3x1x2xf32>
  %vr = graph.reshape %vx, %heads : (tensor<1x1x4x1x1x3x1x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %kt = graph.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  // expected-remark @below {{fused attention: 4 query heads on 1 key/value heads, scale 1.000000e+00, no mask}}
  %s = graph.matmul %q, %kt : (tensor<1x4x3x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x3x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x4x3x3xf32>
  %o = graph.matmul %p, %vr : (tensor<1x4x3x3xf32>, tensor<1x4x3x2xf32>) -> tensor<1x4x3x2xf32>
  return %o : tensor<1x4x3x2xf32>
}

// Tile of two key/value heads interleaves them (k0, k1, k0, k1), which is
// not the grouped-query order (query head h reads KV head h / 2): K and V
// stay tiled, one per query head.
// CHECK-LABEL: func.func @tile_of_two_heads
// CHECK: %[[KR:.*]] = graph.reshape %{{.*}} -> tensor<1x4x3x2xf32>
// CHECK: %[[VR:.*]] = graph.reshape %{{.*}} -> tensor<1x4x3x2xf32>
// CHECK: graph.attention %{{[^,]*}}, %[[KR]], %[[VR]] {scale = 1.000000e+00 : f64} : (tensor<1x4x3x2xf32>, tensor<1x4x3x2xf32>, tensor<1x4x3x2xf32>)
func.func @tile_of_two_heads(%q: tensor<1x4x3x2xf32>, %k: tensor<1x2x3x2xf32>, %v: tensor<1x2x3x2xf32>) -> tensor<1x4x3x2xf32> {
  %rep = graph.constant dense<[1, 1, 2, 2, 1, 3, 1, 2]> : tensor<8xi64>
  %heads = graph.constant dense<[1, 4, 3, 2]> : tensor<4xi64>
  %k8 = graph.unsqueeze %k {axes = array<i64: 0, 2, 4, 6>} : (tensor<1x2x3x2xf32>) -> tensor<1x1x1x2x1x3x1x2xf32>
  %kx = graph.expand %k8, %rep : (tensor<1x1x1x2x1x3x1x2xf32>, tensor<8xi64>) -> tensor<1x1x2x2x1x3x1x2xf32>
  %kr = graph.reshape %kx, %heads : (tensor<1x1x2x2x1x3x1x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %v8 = graph.unsqueeze %v {axes = array<i64: 0, 2, 4, 6>} : (tensor<1x2x3x2xf32>) -> tensor<1x1x1x2x1x3x1x2xf32>
  %vx = graph.expand %v8, %rep : (tensor<1x1x1x2x1x3x1x2xf32>, tensor<8xi64>) -> tensor<1x1x2x2x1x3x1x2xf32>
  %vr = graph.reshape %vx, %heads : (tensor<1x1x2x2x1x3x1x2xf32>, tensor<4xi64>) -> tensor<1x4x3x2xf32>
  %kt = graph.transpose %kr {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x4x3x2xf32>) -> tensor<1x4x2x3xf32>
  // expected-remark @below {{fused attention: 4 query heads on 4 key/value heads, scale 1.000000e+00, no mask}}
  %s = graph.matmul %q, %kt : (tensor<1x4x3x2xf32>, tensor<1x4x2x3xf32>) -> tensor<1x4x3x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x4x3x3xf32>
  %o = graph.matmul %p, %vr : (tensor<1x4x3x3xf32>, tensor<1x4x3x2xf32>) -> tensor<1x4x3x2xf32>
  return %o : tensor<1x4x3x2xf32>
}

// The dynamo exporter's SDPA decomposition: sqrt(scale) on Q and on K^T, K^T
// through a [B*H, S, D] transpose, the boolean mask as where(m, 0, -inf), and
// where(isnan(P), 0, P) after the softmax.
// CHECK-LABEL: func.func @sdpa_decomposition
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x3x4xf32>, %[[K:.*]]: tensor<1x2x3x4xf32>, %[[V:.*]]: tensor<1x2x3x4xf32>, %[[KEEP:.*]]: tensor<1x1x3x3xi1>)
// CHECK: %[[BIAS:.*]] = graph.where %[[KEEP]]
// CHECK: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[BIAS]] {scale = 2.500000e-01 : f64}
// CHECK-NOT: graph.is_nan
// CHECK: return %[[O]]
func.func @sdpa_decomposition(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %keep: tensor<1x1x3x3xi1>) -> tensor<1x2x3x4xf32> {
  %root = graph.constant dense<0.5> : tensor<f32>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %ninf = graph.constant dense<0xFF800000> : tensor<f32>
  %flat = graph.constant dense<[2, 3, 4]> : tensor<3xi64>
  %back = graph.constant dense<[1, 2, 4, 3]> : tensor<4xi64>
  %k3 = graph.reshape %k, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %kt3 = graph.transpose %k3 {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %kt = graph.reshape %kt3, %back : (tensor<2x4x3xf32>, tensor<4xi64>) -> tensor<1x2x4x3xf32>
  %qs = graph.mul %q, %root : (tensor<1x2x3x4xf32>, tensor<f32>) -> tensor<1x2x3x4xf32>
  %kts = graph.mul %kt, %root : (tensor<1x2x4x3xf32>, tensor<f32>) -> tensor<1x2x4x3xf32>
  %mask = graph.where %keep, %zero, %ninf : (tensor<1x1x3x3xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 2.500000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 1, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %qs, %kts : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %biased = graph.add %s, %mask : (tensor<1x2x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %nan = graph.is_nan %p : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xi1>
  %guarded = graph.where %nan, %zero, %p : (tensor<1x2x3x3xi1>, tensor<f32>, tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  %o = graph.matmul %guarded, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// Older HF GPT-2: where(causal, S, finfo.min) on a mask read from an input,
// then the scale; K^T transposed straight from [B, S, H, D].
// CHECK-LABEL: func.func @where_mask_pretransposed_key
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x3x4xf32>, %[[KX:.*]]: tensor<1x3x2x4xf32>, %[[V:.*]]: tensor<1x2x3x4xf32>, %[[KEEP:.*]]: tensor<1x1x3x3xi1>)
// CHECK-DAG: %[[K:.*]] = graph.transpose %[[KX]] {perm = array<i64: 0, 2, 1, 3>}
// CHECK-DAG: %[[FILL:.*]] = graph.where %[[KEEP]]
// CHECK-DAG: %[[BIAS:.*]] = graph.mul %[[FILL]]
// CHECK: graph.attention %[[Q]], %[[K]], %[[V]], %[[BIAS]] {scale = 5.000000e-01 : f64}
func.func @where_mask_pretransposed_key(%q: tensor<1x2x3x4xf32>, %kx: tensor<1x3x2x4xf32>, %v: tensor<1x2x3x4xf32>, %keep: tensor<1x1x3x3xi1>) -> tensor<1x2x3x4xf32> {
  %half = graph.constant dense<0.5> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %kt = graph.transpose %kx {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x3x2x4xf32>) -> tensor<1x2x4x3xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 1, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %masked = graph.where %keep, %s, %min : (tensor<1x1x3x3xi1>, tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %scaled = graph.mul %masked, %half : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %scaled {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// BLOOM as the TorchScript exporter writes it: baddbmm adds ALiBi to the
// [B*H, S, S] scores, which are viewed as [B, H, S, S] for the mask, and the
// probabilities are viewed back for the bmm with V. ALiBi moves to the
// [B, H, 1, S] layout without growing to S x S; the bias is ALiBi + mask.
// CHECK-LABEL: func.func @alibi_baddbmm
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x2x3x4xf32>, %[[K:[^:]*]]: tensor<1x2x3x4xf32>, %[[V:[^:]*]]: tensor<1x2x3x4xf32>, %[[ALIBI:[^:]*]]: tensor<2x1x3xf32>, %[[MASK:[^:]*]]: tensor<1x1x3x3xf32>)
// CHECK-NOT: graph.matmul
// CHECK: %[[HEADS:.*]] = graph.reshape %[[ALIBI]], %{{.*}} : (tensor<2x1x3xf32>, tensor<4xi64>) -> tensor<1x2x1x3xf32>
// CHECK-NEXT: %[[BIAS:.*]] = graph.add %[[HEADS]], %[[MASK]] : (tensor<1x2x1x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[BIAS]] {scale = 5.000000e-01 : f64}
// CHECK-NOT: graph.softmax
// CHECK-NOT: graph.matmul
// CHECK: %[[OUT:.*]] = graph.reshape %[[O]], %{{.*}} : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
// CHECK-NEXT: return %[[OUT]]
func.func @alibi_baddbmm(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %alibi: tensor<2x1x3xf32>, %mask: tensor<1x1x3x3xf32>) -> tensor<2x3x4xf32> {
  %factor = graph.constant dense<0.5> : tensor<f32>
  %flat = graph.constant dense<[2, 3, 4]> : tensor<3xi64>
  %heads = graph.constant dense<[1, 2, 3, 3]> : tensor<4xi64>
  %back = graph.constant dense<[2, 3, 3]> : tensor<3xi64>
  %q3 = graph.reshape %q, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %k3 = graph.reshape %k, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %kt = graph.transpose %k3 {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %v3 = graph.reshape %v, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 2, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q3, %kt : (tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  %scaled = graph.mul %s, %factor : (tensor<2x3x3xf32>, tensor<f32>) -> tensor<2x3x3xf32>
  %biased = graph.add %scaled, %alibi : (tensor<2x3x3xf32>, tensor<2x1x3xf32>) -> tensor<2x3x3xf32>
  %s4 = graph.reshape %biased, %heads : (tensor<2x3x3xf32>, tensor<4xi64>) -> tensor<1x2x3x3xf32>
  %masked = graph.add %s4, %mask : (tensor<1x2x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %masked {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %p3 = graph.reshape %p, %back : (tensor<1x2x3x3xf32>, tensor<3xi64>) -> tensor<2x3x3xf32>
  %o = graph.matmul %p3, %v3 : (tensor<2x3x3xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  return %o : tensor<2x3x4xf32>
}

// BLOOM as the dynamo exporter writes it: ALiBi built from the slopes,
// lifted into an initializer that is not trained (a constant global), and
// the token positions; the product with V on the [B, H, S, S]
// probabilities. ALiBi's reshape to [B*H, 1, S] and back folds away.
ml_program.global private @lifted_slopes(dense<[[0.25], [0.0625]]> : tensor<2x1xf32>) : tensor<2x1xf32>
// CHECK-LABEL: func.func @alibi_dynamo
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<1x2x3x4xf32>, %[[K:[^:]*]]: tensor<1x2x3x4xf32>, %[[V:[^:]*]]: tensor<1x2x3x4xf32>, %[[POS:[^:]*]]: tensor<1x1x3xf32>, %[[MASK:[^:]*]]: tensor<1x1x3x3xf32>)
// CHECK: %[[SLOPES:.*]] = ml_program.global_load_const @lifted_slopes
// CHECK: %[[ALIBI:.*]] = graph.mul %[[SLOPES]], %[[POS]] : (tensor<2x1xf32>, tensor<1x1x3xf32>) -> tensor<1x2x3xf32>
// CHECK: %[[HEADS:.*]] = graph.reshape %[[ALIBI]], %{{.*}} : (tensor<1x2x3xf32>, tensor<4xi64>) -> tensor<1x2x1x3xf32>
// CHECK-NEXT: %[[BIAS:.*]] = graph.add %[[HEADS]], %[[MASK]]
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[BIAS]] {scale = 5.000000e-01 : f64}
// CHECK-NEXT: return %[[O]]
func.func @alibi_dynamo(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %positions: tensor<1x1x3xf32>, %mask: tensor<1x1x3x3xf32>) -> tensor<1x2x3x4xf32> {
  %slopes = ml_program.global_load_const @lifted_slopes : tensor<2x1xf32>
  %factor = graph.constant dense<0.5> : tensor<f32>
  %flat = graph.constant dense<[2, 3, 4]> : tensor<3xi64>
  %rows = graph.constant dense<[2, 1, 3]> : tensor<3xi64>
  %heads = graph.constant dense<[1, 2, 3, -1]> : tensor<4xi64>
  %a = graph.mul %slopes, %positions : (tensor<2x1xf32>, tensor<1x1x3xf32>) -> tensor<1x2x3xf32>
  %alibi = graph.reshape %a, %rows : (tensor<1x2x3xf32>, tensor<3xi64>) -> tensor<2x1x3xf32>
  %q3 = graph.reshape %q, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %k3 = graph.reshape %k, %flat : (tensor<1x2x3x4xf32>, tensor<3xi64>) -> tensor<2x3x4xf32>
  %kt = graph.transpose %k3 {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 2, 3, 3] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q3, %kt : (tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  %scaled = graph.mul %s, %factor : (tensor<2x3x3xf32>, tensor<f32>) -> tensor<2x3x3xf32>
  %biased = graph.add %scaled, %alibi : (tensor<2x3x3xf32>, tensor<2x1x3xf32>) -> tensor<2x3x3xf32>
  %s4 = graph.reshape %biased, %heads : (tensor<2x3x3xf32>, tensor<4xi64>) -> tensor<1x2x3x3xf32>
  %masked = graph.add %s4, %mask : (tensor<1x2x3x3xf32>, tensor<1x1x3x3xf32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %masked {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

//===----------------------------------------------------------------------===//
// Attention near misses: the graph stays as it is
//===----------------------------------------------------------------------===//

// The probabilities are also a result (attention weights returned).
// CHECK-LABEL: func.func @probabilities_used_twice
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @probabilities_used_twice(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> (tensor<1x1x3x4xf32>, tensor<1x1x3x3xf32>) {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o, %p : tensor<1x1x3x4xf32>, tensor<1x1x3x3xf32>
}

// A bias read from a trained weight (sp-select-params, which runs first,
// made its global mutable): attention_grad gives the bias no gradient.
ml_program.global private mutable @relative_bias(dense<0.0> : tensor<3x3xf32>) : tensor<3x3xf32>
// CHECK-LABEL: func.func @bias_from_weight
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @bias_from_weight(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %bias = ml_program.global_load @relative_bias : tensor<3x3xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %biased = graph.add %s, %bias : (tensor<1x1x3x3xf32>, tensor<3x3xf32>) -> tensor<1x1x3x3xf32>
  // expected-warning @below {{1 attention is not fused: a bias or mask of its scores reads trained parameter 'relative_bias', whose gradient the fused kernels do not give, so the step keeps [1, 1, 3, 3] scores per attention (if it is a constant the exporter lifted into an initializer, such as ALiBi slopes, --frozen=relative_bias keeps it one)}}
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// ALiBi whose slopes are a trained weight: the bias would need a gradient.
ml_program.global private mutable @alibi_slopes(dense<[[0.25], [0.0625]]> : tensor<2x1xf32>) : tensor<2x1xf32>
// CHECK-LABEL: func.func @alibi_slopes_from_weight
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @alibi_slopes_from_weight(%q: tensor<2x3x4xf32>, %kt: tensor<2x4x3xf32>, %v: tensor<1x2x3x4xf32>, %positions: tensor<1x1x3xf32>) -> tensor<1x2x3x4xf32> {
  %slopes = ml_program.global_load @alibi_slopes : tensor<2x1xf32>
  %rows = graph.constant dense<[2, 1, 3]> : tensor<3xi64>
  %heads = graph.constant dense<[1, 2, 3, 3]> : tensor<4xi64>
  %a = graph.mul %slopes, %positions : (tensor<2x1xf32>, tensor<1x1x3xf32>) -> tensor<1x2x3xf32>
  %alibi = graph.reshape %a, %rows : (tensor<1x2x3xf32>, tensor<3xi64>) -> tensor<2x1x3xf32>
  %s = graph.matmul %q, %kt : (tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  %biased = graph.add %s, %alibi : (tensor<2x3x3xf32>, tensor<2x1x3xf32>) -> tensor<2x3x3xf32>
  %s4 = graph.reshape %biased, %heads : (tensor<2x3x3xf32>, tensor<4xi64>) -> tensor<1x2x3x3xf32>
  // expected-warning @below {{1 attention is not fused: a bias or mask of its scores reads trained parameter 'alibi_slopes', whose gradient the fused kernels do not give, so the step keeps [1, 2, 3, 3] scores per attention (if it is a constant the exporter lifted into an initializer, such as ALiBi slopes, --frozen=alibi_slopes keeps it one)}}
  %p = graph.softmax %s4 {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// where(m, S, -100) on a mask from an input: a row the mask hides entirely
// is uniform over -100 + S for the fused form but uniform for the original,
// so this stays unfused.
// CHECK-LABEL: func.func @where_fill_not_negative_enough
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @where_fill_not_negative_enough(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>, %keep: tensor<1x1x3x3xi1>) -> tensor<1x1x3x4xf32> {
  %fill = graph.constant dense<-100.0> : tensor<f32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %masked = graph.where %keep, %s, %fill : (tensor<1x1x3x3xi1>, tensor<1x1x3x3xf32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %masked {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// A scale that is not a compile-time constant.
// CHECK-LABEL: func.func @scale_from_input
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @scale_from_input(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>, %scale: tensor<f32>) -> tensor<1x1x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %scaled = graph.mul %s, %scale : (tensor<1x1x3x3xf32>, tensor<f32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %scaled {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// A softmax over the queries rather than the keys.
// CHECK-LABEL: func.func @softmax_over_queries
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
func.func @softmax_over_queries(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %s {axis = 2 : i64} : tensor<1x1x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

//===----------------------------------------------------------------------===//
// RMS norm
//===----------------------------------------------------------------------===//

// Llama as the dynamo exporter writes it: pow, mean, + eps, sqrt,
// reciprocal, then the gain.
// CHECK-LABEL: func.func @rms_reciprocal
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf32>, %[[G:.*]]: tensor<8xf32>)
// CHECK-NEXT: %[[Y:.*]] = graph.rms_norm %[[X]], %[[G]] {axis = 2 : i64, epsilon = 9.9999999747524271E-7 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT: return %[[Y]]
func.func @rms_reciprocal(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %two = graph.constant dense<2.0> : tensor<f32>
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %sq = graph.pow %x, %two : (tensor<2x3x8xf32>, tensor<f32>) -> tensor<2x3x8xf32>
  // expected-remark @below {{fused rms_norm over [8], epsilon 1.000000e-06}}
  %mean = graph.reduce_mean %sq {axes = array<i64: 2>} : (tensor<2x3x8xf32>) -> tensor<2x3x1xf32>
  %var = graph.add %mean, %eps : (tensor<2x3x1xf32>, tensor<f32>) -> tensor<2x3x1xf32>
  %root = graph.sqrt %var : tensor<2x3x1xf32>
  %inv = graph.reciprocal %root : tensor<2x3x1xf32>
  %n = graph.mul %x, %inv : (tensor<2x3x8xf32>, tensor<2x3x1xf32>) -> tensor<2x3x8xf32>
  %y = graph.mul %g, %n : (tensor<8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// x * x and the division form; the normalized dims are the last two.
// CHECK-LABEL: func.func @rms_div_two_axes
// CHECK: graph.rms_norm %{{.*}}, %{{.*}} {axis = 1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3x4xf64>, tensor<3x4xf64>) -> tensor<2x3x4xf64>
func.func @rms_div_two_axes(%x: tensor<2x3x4xf64>, %g: tensor<3x4xf64>) -> tensor<2x3x4xf64> {
  %eps = graph.constant dense<1.0e-5> : tensor<f64>
  %sq = graph.mul %x, %x : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  // expected-remark @below {{fused rms_norm over [3, 4], epsilon 1.000000e-05}}
  %mean = graph.reduce_mean %sq {axes = array<i64: 1, 2>} : (tensor<2x3x4xf64>) -> tensor<2x1x1xf64>
  %var = graph.add %eps, %mean : (tensor<f64>, tensor<2x1x1xf64>) -> tensor<2x1x1xf64>
  %root = graph.sqrt %var : tensor<2x1x1xf64>
  %n = graph.div %x, %root : (tensor<2x3x4xf64>, tensor<2x1x1xf64>) -> tensor<2x3x4xf64>
  %y = graph.mul %n, %g : (tensor<2x3x4xf64>, tensor<3x4xf64>) -> tensor<2x3x4xf64>
  return %y : tensor<2x3x4xf64>
}

// HF in a float64 model: the norm in float32 between casts, 1 / sqrt as the
// TorchScript exporter writes rsqrt, the gain in float64. The fused op
// computes in float64 on the uncast input.
// CHECK-LABEL: func.func @rms_casts
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf64>, %[[G:.*]]: tensor<4xf64>)
// CHECK-NEXT: %[[Y:.*]] = graph.rms_norm %[[X]], %[[G]] {axis = 1 : i64, epsilon = 9.9999999747524271E-7 : f64} : (tensor<2x4xf64>, tensor<4xf64>) -> tensor<2x4xf64>
// CHECK-NEXT: return %[[Y]]
func.func @rms_casts(%x: tensor<2x4xf64>, %g: tensor<4xf64>) -> tensor<2x4xf64> {
  %two = graph.constant dense<2.0> : tensor<f32>
  %one = graph.constant dense<1.0> : tensor<f32>
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %x32 = graph.cast %x : tensor<2x4xf64> -> tensor<2x4xf32>
  %sq = graph.pow %x32, %two : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
  // expected-remark @below {{fused rms_norm over [4], epsilon 1.000000e-06}}
  %mean = graph.reduce_mean %sq {axes = array<i64: 1>} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %var = graph.add %mean, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %root = graph.sqrt %var : tensor<2x1xf32>
  %inv = graph.div %one, %root : (tensor<f32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %n = graph.mul %x32, %inv : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %n64 = graph.cast %n : tensor<2x4xf32> -> tensor<2x4xf64>
  %y = graph.mul %g, %n64 : (tensor<4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
  return %y : tensor<2x4xf64>
}

// Without a gain the scale is ones.
// CHECK-LABEL: func.func @rms_without_gain
// CHECK: %[[ONES:.*]] = graph.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: graph.rms_norm %{{.*}}, %[[ONES]]
func.func @rms_without_gain(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %two = graph.constant dense<2> : tensor<i64>
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %sq = graph.pow %x, %two : (tensor<2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  // expected-remark @below {{fused rms_norm over [4], epsilon 1.000000e-06, no scale}}
  %mean = graph.reduce_mean %sq {axes = array<i64: 1>} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %var = graph.add %mean, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %root = graph.sqrt %var : tensor<2x1xf32>
  %n = graph.div %x, %root : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %n : tensor<2x4xf32>
}

//===----------------------------------------------------------------------===//
// RMS norm near misses
//===----------------------------------------------------------------------===//

// The mean runs over the middle dim, not the trailing ones.
// CHECK-LABEL: func.func @rms_mean_not_trailing
// CHECK-NOT: graph.rms_norm
// CHECK: graph.reduce_mean
func.func @rms_mean_not_trailing(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %sq = graph.mul %x, %x : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
  %mean = graph.reduce_mean %sq {axes = array<i64: 1>} : (tensor<2x3x4xf32>) -> tensor<2x1x4xf32>
  %var = graph.add %mean, %eps : (tensor<2x1x4xf32>, tensor<f32>) -> tensor<2x1x4xf32>
  %root = graph.sqrt %var : tensor<2x1x4xf32>
  %n = graph.div %x, %root : (tensor<2x3x4xf32>, tensor<2x1x4xf32>) -> tensor<2x3x4xf32>
  return %n : tensor<2x3x4xf32>
}

// The mean square is also a result.
// CHECK-LABEL: func.func @rms_mean_used_twice
// CHECK-NOT: graph.rms_norm
// CHECK: graph.reduce_mean
func.func @rms_mean_used_twice(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x1xf32>) {
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %sq = graph.mul %x, %x : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %mean = graph.reduce_mean %sq {axes = array<i64: 1>} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %var = graph.add %mean, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %root = graph.sqrt %var : tensor<2x1xf32>
  %n = graph.div %x, %root : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %n, %mean : tensor<2x4xf32>, tensor<2x1xf32>
}

// The "gain" varies along the rows: not a per-channel scale.
// CHECK-LABEL: func.func @rms_gain_over_rows
// CHECK-NOT: graph.rms_norm
// CHECK: graph.reduce_mean
func.func @rms_gain_over_rows(%x: tensor<2x4xf32>, %g: tensor<2x1xf32>) -> tensor<2x4xf32> {
  %eps = graph.constant dense<1.0e-6> : tensor<f32>
  %sq = graph.mul %x, %x : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %mean = graph.reduce_mean %sq {axes = array<i64: 1>} : (tensor<2x4xf32>) -> tensor<2x1xf32>
  %var = graph.add %mean, %eps : (tensor<2x1xf32>, tensor<f32>) -> tensor<2x1xf32>
  %root = graph.sqrt %var : tensor<2x1xf32>
  %n = graph.div %x, %root : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  %y = graph.mul %n, %g : (tensor<2x4xf32>, tensor<2x1xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// Dropout on the probabilities (attention_dropout in training mode): the
// fused kernels draw its mask (the ratio and the site go on the op), so no
// [S, S] probabilities are kept.
// CHECK-LABEL: func.func @probability_dropout
// CHECK-NOT: graph.softmax
// CHECK-NOT: graph.dropout
// CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}} {dropout_ratio = 1.000000e-01 : f64, dropout_site = 3 : i64, scale = 1.000000e+00 : f64}
// CHECK-NOT: graph.dropout
func.func @probability_dropout(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  // expected-remark @below {{fused attention: 1 query heads on 1 key/value heads, scale 1.000000e+00, no mask, dropout 1.000000e-01}}
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %d = graph.dropout %p {ratio = 1.000000e-01 : f64, site = 3 : i64} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %o = graph.matmul %d, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// Cross-attention (2 queries, 3 keys): the kernels index the mask by
// positions of one sequence, so the attention stays unfused, with a remark
// and one warning.
// CHECK-LABEL: func.func @cross_attention_dropout
// CHECK-NOT: graph.attention
// CHECK: graph.softmax
// CHECK: graph.dropout
// CHECK: graph.matmul
func.func @cross_attention_dropout(%q: tensor<1x1x2x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x2x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x2x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x2x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x1x2x3xf32>
  // expected-warning @+2 {{1 attention is not fused: the fused kernels draw dropout on the probabilities of self-attention only, and queries and keys differ in length here, so the step keeps [1, 1, 2, 3] probabilities per attention (train without attention dropout to fuse)}}
  // expected-remark @below {{attention not fused: dropout on the probabilities of 2 queries and 3 keys (the fused kernels draw it for self-attention only); the step keeps [1, 1, 2, 3] probabilities}}
  %d = graph.dropout %p {ratio = 1.000000e-01 : f64, site = 0 : i64} : (tensor<1x1x2x3xf32>) -> tensor<1x1x2x3xf32>
  %o = graph.matmul %d, %v : (tensor<1x1x2x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x2x4xf32>
  return %o : tensor<1x1x2x4xf32>
}

// A dropout that micro-batching already placed in a larger batch draws by
// that placement, which the fused op does not carry: left as it is.
// CHECK-LABEL: func.func @placed_dropout
// CHECK-NOT: graph.attention
// CHECK: graph.dropout
func.func @placed_dropout(%q: tensor<1x1x3x4xf32>, %k: tensor<1x1x3x4xf32>, %v: tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x1x3x4xf32>) -> tensor<1x1x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x1x3x4xf32>, tensor<1x1x4x3xf32>) -> tensor<1x1x3x3xf32>
  %p = graph.softmax %s {axis = -1 : i64} : tensor<1x1x3x3xf32>
  %d = graph.dropout %p {ratio = 1.000000e-01 : f64, site = 0 : i64, micro_batch = 1 : i64} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  %o = graph.matmul %d, %v : (tensor<1x1x3x3xf32>, tensor<1x1x3x4xf32>) -> tensor<1x1x3x4xf32>
  return %o : tensor<1x1x3x4xf32>
}

// Logit soft-capping (Gemma 2): cap * tanh(scale * s / cap) before the mask
// becomes the op's softcap, its scale the one inside the tanh times the cap.
// CHECK-LABEL: func.func @soft_cap
// CHECK-NOT: graph.tanh
// CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {scale = 2.500000e-01 : f64, softcap = 5.000000e+01 : f64}
// CHECK-NOT: graph.tanh
func.func @soft_cap(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %mask: tensor<1x1x1x3xf32>) -> tensor<1x2x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x3x4xf32>) -> tensor<1x2x4x3xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 2.500000e-01, bias, soft-cap 5.000000e+01}}
  %s = graph.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %scale = graph.constant dense<2.500000e-01> : tensor<f32>
  %scaled = graph.mul %s, %scale : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %cap = graph.constant dense<5.000000e+01> : tensor<f32>
  %inner = graph.div %scaled, %cap : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %t = graph.tanh %inner : tensor<1x2x3x3xf32>
  %capped = graph.mul %t, %cap : (tensor<1x2x3x3xf32>, tensor<f32>) -> tensor<1x2x3x3xf32>
  %masked = graph.add %capped, %mask : (tensor<1x2x3x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x3xf32>
  %p = graph.softmax %masked {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}

// A mask inside the tanh is not a soft-cap of the scores: left unfused.
// CHECK-LABEL: func.func @mask_inside_soft_cap
// CHECK-NOT: graph.attention
// CHECK: graph.tanh
func.func @mask_inside_soft_cap(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>, %mask: tensor<1x1x1x3xf32>) -> tensor<1x2x3x4xf32> {
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x3x4xf32>) -> tensor<1x2x4x3xf32>
  %s = graph.matmul %q, %kt : (tensor<1x2x3x4xf32>, tensor<1x2x4x3xf32>) -> tensor<1x2x3x3xf32>
  %masked = graph.add %s, %mask : (tensor<1x2x3x3xf32>, tensor<1x1x1x3xf32>) -> tensor<1x2x3x3xf32>
  %t = graph.tanh %masked : tensor<1x2x3x3xf32>
  %p = graph.softmax %t {axis = -1 : i64} : tensor<1x2x3x3xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x3x3xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}
