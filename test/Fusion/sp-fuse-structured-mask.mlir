// RUN: sp-opt %s --pass-pipeline='builtin.module(func.func(sp-fuse))' | FileCheck %s
// RUN: sp-opt %s --pass-pipeline='builtin.module(func.func(sp-fuse{remarks=true}))' -verify-diagnostics -o /dev/null

// Structured masks: Hugging Face's [B, 1, S, S] mask is where(and(a causal
// or sliding-window table, the padding mask's rows [B, 1, 1, S]), 0, min).
// sp-fuse keeps the rows as a [B, 1, 1, S] bias and the table as a band of
// key - query offsets that the kernels compute, so no [S, S] tensor is left.

// The table folded to a constant (torch.onnx at moderate lengths).
// CHECK-LABEL: func.func @constant_causal_table
// CHECK-SAME: (%[[Q:.*]]: tensor<2x2x4x8xf32>, %[[K:.*]]: tensor<2x2x4x8xf32>, %[[V:.*]]: tensor<2x2x4x8xf32>, %[[KEEP:.*]]: tensor<2x1x1x4xi1>)
// CHECK-NOT: tensor<1x1x4x4xi1>
// CHECK: %[[ROWS:.*]] = graph.where %[[KEEP]], %{{.*}}, %{{.*}} : (tensor<2x1x1x4xi1>, tensor<f32>, tensor<f32>) -> tensor<2x1x1x4xf32>
// CHECK-NEXT: %[[O:.*]], %{{.*}} = graph.attention %[[Q]], %[[K]], %[[V]], %[[ROWS]] {band_fill = -3.4028234663852886E+38 : f64, band_upper = 0 : i64, scale = 5.000000e-01 : f64}
// CHECK-NOT: graph.softmax
func.func @constant_causal_table(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>, %keep: tensor<2x1x1x4xi1>) -> tensor<2x2x4x8xf32> {
  %table = graph.constant dense<[[[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]]]> : tensor<1x1x4x4xi1>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %half = graph.constant dense<0.5> : tensor<f32>
  %visible = graph.and %table, %keep : (tensor<1x1x4x4xi1>, tensor<2x1x1x4xi1>) -> tensor<2x1x4x4xi1>
  %mask = graph.where %visible, %zero, %min : (tensor<2x1x4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<2x1x4x4xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x2x4x8xf32>) -> tensor<2x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias, band [, 0] of key - query offsets, fill -3.402823e+38}}
  %s = graph.matmul %q, %kt : (tensor<2x2x4x8xf32>, tensor<2x2x8x4xf32>) -> tensor<2x2x4x4xf32>
  %scaled = graph.mul %s, %half : (tensor<2x2x4x4xf32>, tensor<f32>) -> tensor<2x2x4x4xf32>
  %biased = graph.add %scaled, %mask : (tensor<2x2x4x4xf32>, tensor<2x1x4x4xf32>) -> tensor<2x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<2x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<2x2x4x4xf32>, tensor<2x2x4x8xf32>) -> tensor<2x2x4x8xf32>
  return %o : tensor<2x2x4x8xf32>
}

// Too long to fold: a sliding window of 3 written as comparisons of a key
// arange [1, 1, 1, S] with a query arange [1, 1, S, 1] (key <= query and
// key > query - 3), and-ed with a scalar true, as torch.onnx writes them.
// CHECK-LABEL: func.func @window_of_compared_positions
// CHECK-NOT: tensor<1x1x4x4xi1>
// CHECK: graph.attention {{.*}} {band_fill = -3.4028234663852886E+38 : f64, band_lower = -2 : i64, band_upper = 0 : i64, scale = 5.000000e-01 : f64} : (tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x1x1x4xf32>)
func.func @window_of_compared_positions(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>, %keep: tensor<2x1x1x4xi1>) -> tensor<2x2x4x8xf32> {
  %keys = graph.constant dense<[[[[0, 1, 2, 3]]]]> : tensor<1x1x1x4xi64>
  %queries = graph.constant dense<[[[[0], [1], [2], [3]]]]> : tensor<1x1x4x1xi64>
  %window = graph.constant dense<3> : tensor<i64>
  %true = graph.constant dense<true> : tensor<i1>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %half = graph.constant dense<0.5> : tensor<f32>
  %causal = graph.less_equal %keys, %queries : (tensor<1x1x1x4xi64>, tensor<1x1x4x1xi64>) -> tensor<1x1x4x4xi1>
  %start = graph.sub %queries, %window : (tensor<1x1x4x1xi64>, tensor<i64>) -> tensor<1x1x4x1xi64>
  %recent = graph.greater %keys, %start : (tensor<1x1x1x4xi64>, tensor<1x1x4x1xi64>) -> tensor<1x1x4x4xi1>
  %always = graph.and %true, %causal : (tensor<i1>, tensor<1x1x4x4xi1>) -> tensor<1x1x4x4xi1>
  %band = graph.and %always, %recent : (tensor<1x1x4x4xi1>, tensor<1x1x4x4xi1>) -> tensor<1x1x4x4xi1>
  %visible = graph.and %band, %keep : (tensor<1x1x4x4xi1>, tensor<2x1x1x4xi1>) -> tensor<2x1x4x4xi1>
  %mask = graph.where %visible, %zero, %min : (tensor<2x1x4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<2x1x4x4xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x2x4x8xf32>) -> tensor<2x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias, band [-2, 0] of key - query offsets, fill -3.402823e+38}}
  %s = graph.matmul %q, %kt : (tensor<2x2x4x8xf32>, tensor<2x2x8x4xf32>) -> tensor<2x2x4x4xf32>
  %scaled = graph.mul %s, %half : (tensor<2x2x4x4xf32>, tensor<f32>) -> tensor<2x2x4x4xf32>
  %biased = graph.add %scaled, %mask : (tensor<2x2x4x4xf32>, tensor<2x1x4x4xf32>) -> tensor<2x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<2x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<2x2x4x4xf32>, tensor<2x2x4x8xf32>) -> tensor<2x2x4x8xf32>
  return %o : tensor<2x2x4x8xf32>
}

// A table that is no band (a key two places back is hidden, one three places
// back is not) stays a [B, 1, S, S] bias.
// CHECK-LABEL: func.func @table_that_is_no_band
// CHECK: graph.where {{.*}} -> tensor<2x1x4x4xf32>
// CHECK: graph.attention
// CHECK-NOT: band_
// CHECK-SAME: tensor<2x1x4x4xf32>
func.func @table_that_is_no_band(%q: tensor<2x2x4x8xf32>, %k: tensor<2x2x4x8xf32>, %v: tensor<2x2x4x8xf32>, %keep: tensor<2x1x1x4xi1>) -> tensor<2x2x4x8xf32> {
  %table = graph.constant dense<[[[[true, false, false, false], [true, true, false, false], [false, true, true, false], [true, true, true, true]]]]> : tensor<1x1x4x4xi1>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %half = graph.constant dense<0.5> : tensor<f32>
  %visible = graph.and %table, %keep : (tensor<1x1x4x4xi1>, tensor<2x1x1x4xi1>) -> tensor<2x1x4x4xi1>
  %mask = graph.where %visible, %zero, %min : (tensor<2x1x4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<2x1x4x4xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x2x4x8xf32>) -> tensor<2x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [2, 1, 4, 4] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<2x2x4x8xf32>, tensor<2x2x8x4xf32>) -> tensor<2x2x4x4xf32>
  %scaled = graph.mul %s, %half : (tensor<2x2x4x4xf32>, tensor<f32>) -> tensor<2x2x4x4xf32>
  %biased = graph.add %scaled, %mask : (tensor<2x2x4x4xf32>, tensor<2x1x4x4xf32>) -> tensor<2x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<2x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<2x2x4x4xf32>, tensor<2x2x4x8xf32>) -> tensor<2x2x4x8xf32>
  return %o : tensor<2x2x4x8xf32>
}

// BLOOM: ALiBi (constant slopes times positions cast from integers, so at
// most 2^63 in magnitude) added to the mask. Where the band hides a key the
// dense bias holds ALiBi plus the float minimum, which is the minimum itself:
// ALiBi joins the padding rows in a [B, H, 1, S] bias.
// CHECK-LABEL: func.func @alibi_added_to_the_mask
// CHECK-NOT: tensor<1x1x4x4xi1>
// CHECK: %[[ROWS:.*]] = graph.where %arg3, %{{.*}}, %{{.*}} : (tensor<1x1x1x4xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x1x4xf32>
// CHECK: %[[BIAS:.*]] = graph.add %{{.*}}, %[[ROWS]] : (tensor<1x2x1x4xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x1x4xf32>
// CHECK: graph.attention %arg0, %arg1, %arg2, %[[BIAS]] {band_fill = -3.4028234663852886E+38 : f64, band_upper = 0 : i64, scale = 5.000000e-01 : f64}
func.func @alibi_added_to_the_mask(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %keep: tensor<1x1x1x4xi1>, %positions: tensor<1x1x1x4xi64>) -> tensor<1x2x4x8xf32> {
  %table = graph.constant dense<[[[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]]]> : tensor<1x1x4x4xi1>
  %slopes = graph.constant dense<[[[[0.25]], [[0.0625]]]]> : tensor<1x2x1x1xf32>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %half = graph.constant dense<0.5> : tensor<f32>
  %offsets = graph.cast %positions : tensor<1x1x1x4xi64> -> tensor<1x1x1x4xf32>
  %alibi = graph.mul %slopes, %offsets : (tensor<1x2x1x1xf32>, tensor<1x1x1x4xf32>) -> tensor<1x2x1x4xf32>
  %visible = graph.and %table, %keep : (tensor<1x1x4x4xi1>, tensor<1x1x1x4xi1>) -> tensor<1x1x4x4xi1>
  %mask = graph.where %visible, %zero, %min : (tensor<1x1x4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x4x4xf32>
  %bias = graph.add %alibi, %mask : (tensor<1x2x1x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias, band [, 0] of key - query offsets, fill -3.402823e+38}}
  %s = graph.matmul %q, %kt : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32>
  %scaled = graph.mul %s, %half : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
  %biased = graph.add %scaled, %bias : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}

// The same with a row term of unknown magnitude (a float input): the fill
// might not absorb it, so the mask stays a dense bias, and sp-fuse says so.
// CHECK-LABEL: func.func @row_term_of_unknown_magnitude
// CHECK-NOT: band_
// CHECK: graph.attention {{.*}} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x4xf32>)
func.func @row_term_of_unknown_magnitude(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>, %v: tensor<1x2x4x8xf32>, %keep: tensor<1x1x1x4xi1>, %rows: tensor<1x2x1x4xf32>) -> tensor<1x2x4x8xf32> {
  %table = graph.constant dense<[[[[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]]]> : tensor<1x1x4x4xi1>
  %zero = graph.constant dense<0.0> : tensor<f32>
  %min = graph.constant dense<-3.40282347E+38> : tensor<f32>
  %half = graph.constant dense<0.5> : tensor<f32>
  %visible = graph.and %table, %keep : (tensor<1x1x4x4xi1>, tensor<1x1x1x4xi1>) -> tensor<1x1x4x4xi1>
  %mask = graph.where %visible, %zero, %min : (tensor<1x1x4x4xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x4x4xf32>
  %bias = graph.add %rows, %mask : (tensor<1x2x1x4xf32>, tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32>
  %kt = graph.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<1x2x4x8xf32>) -> tensor<1x2x8x4xf32>
  // expected-remark @below {{fused attention: 2 query heads on 2 key/value heads, scale 5.000000e-01, bias}}
  // expected-warning @below {{1 attention keeps a [1, 2, 4, 4] bias tensor, which grows with the square of the sequence: sp computes causal, sliding-window and padding masks in the kernels, not this bias}}
  %s = graph.matmul %q, %kt : (tensor<1x2x4x8xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x4x4xf32>
  %scaled = graph.mul %s, %half : (tensor<1x2x4x4xf32>, tensor<f32>) -> tensor<1x2x4x4xf32>
  %biased = graph.add %scaled, %bias : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %p = graph.softmax %biased {axis = -1 : i64} : tensor<1x2x4x4xf32>
  %o = graph.matmul %p, %v : (tensor<1x2x4x4xf32>, tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32>
  return %o : tensor<1x2x4x8xf32>
}
