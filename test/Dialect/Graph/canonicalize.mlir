// RUN: sp-opt %s --canonicalize --split-input-file | FileCheck %s
// Folding of the computations exporters write for shapes, positions and masks.

// CHECK-LABEL: func.func @shape_arithmetic
// CHECK-NEXT: %[[C:.*]] = graph.constant dense<[2, 16, 4, 8]> : tensor<4xi64>
// CHECK-NEXT: return %[[C]]
func.func @shape_arithmetic(%x: tensor<2x16x32xf32>) -> tensor<4xi64> {
  %s = graph.shape %x : (tensor<2x16x32xf32>) -> tensor<3xi64>
  %i0 = graph.constant dense<[0, 1]> : tensor<2xi64>
  %bs = graph.gather %s, %i0 {axis = 0 : i64} : (tensor<3xi64>, tensor<2xi64>) -> tensor<2xi64>
  %hidden = graph.constant dense<2> : tensor<1xi64>
  %last = graph.shape %x {start = -1 : i64} : (tensor<2x16x32xf32>) -> tensor<1xi64>
  %four = graph.constant dense<4> : tensor<1xi64>
  %hd = graph.div %last, %four : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
  %r = graph.concat %bs, %four, %hd {axis = 0 : i64} : (tensor<2xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
  return %r : tensor<4xi64>
}

// -----

// A causal mask computed from positions folds to one constant.
// CHECK-LABEL: func.func @causal_mask
// CHECK-NEXT: %[[M:.*]] = graph.constant dense<{{\[}}[0.000000e+00, -1.000000e+09, -1.000000e+09], [0.000000e+00, 0.000000e+00, -1.000000e+09], [0.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x3xf32>
// CHECK-NEXT: return %[[M]]
func.func @causal_mask() -> tensor<3x3xf32> {
  %zero = graph.constant dense<0> : tensor<i64>
  %one = graph.constant dense<1> : tensor<i64>
  %n = graph.constant dense<3> : tensor<i64>
  %pos = graph.range %zero, %n, %one : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<3xi64>
  %row = graph.unsqueeze %pos {axes = array<i64: 1>} : (tensor<3xi64>) -> tensor<3x1xi64>
  %col = graph.unsqueeze %pos {axes = array<i64: 0>} : (tensor<3xi64>) -> tensor<1x3xi64>
  %future = graph.greater %col, %row : (tensor<1x3xi64>, tensor<3x1xi64>) -> tensor<3x3xi1>
  %neg = graph.constant dense<-1.0e9> : tensor<f32>
  %zf = graph.constant dense<0.0> : tensor<f32>
  %mask = graph.where %future, %neg, %zf : (tensor<3x3xi1>, tensor<f32>, tensor<f32>) -> tensor<3x3xf32>
  return %mask : tensor<3x3xf32>
}

// -----

// CHECK-LABEL: func.func @trilu_of_ones
// CHECK-NEXT: graph.constant dense<{{\[}}[0.000000e+00, 1.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
func.func @trilu_of_ones() -> tensor<2x2xf32> {
  %shape = graph.constant dense<[2, 2]> : tensor<2xi64>
  %ones = graph.constant_of_shape %shape {value = dense<1.0> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x2xf32>
  %upper = graph.trilu %ones {upper = true, diagonal = 1 : i64} : tensor<2x2xf32>
  return %upper : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @slices_and_transposes
// CHECK-NEXT: %[[C:.*]] = graph.constant dense<{{\[}}[5, 2]]> : tensor<1x2xi64>
// CHECK-NEXT: return %[[C]]
func.func @slices_and_transposes() -> tensor<1x2xi64> {
  %t = graph.constant dense<[[0, 1, 2], [3, 4, 5]]> : tensor<2x3xi64>
  %tt = graph.transpose %t {perm = array<i64: 1, 0>} : (tensor<2x3xi64>) -> tensor<3x2xi64>
  %starts = graph.constant dense<[-1, 1]> : tensor<2xi64>
  %ends = graph.constant dense<[9223372036854775807, -9223372036854775807]> : tensor<2xi64>
  %axes = graph.constant dense<[0, 1]> : tensor<2xi64>
  %steps = graph.constant dense<[1, -1]> : tensor<2xi64>
  %s = graph.slice %tt, %starts, %ends, %axes, %steps : (tensor<3x2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<1x2xi64>
  return %s : tensor<1x2xi64>
}

// -----

// CHECK-LABEL: func.func @cumsum_and_cast
// CHECK-NEXT: graph.constant dense<[0.000000e+00, 1.000000e+00, 3.000000e+00]> : tensor<3xf32>
func.func @cumsum_and_cast() -> tensor<3xf32> {
  %v = graph.constant dense<[1, 2, 3]> : tensor<3xi64>
  %c = graph.cumsum %v {axis = 0 : i64, exclusive = true} : tensor<3xi64>
  %f = graph.cast %c : tensor<3xi64> -> tensor<3xf32>
  return %f : tensor<3xf32>
}

// -----

// Identities disappear; computations on dynamic values stay.
// CHECK-LABEL: func.func @identities
// CHECK-NEXT: %[[S:.*]] = graph.shape
// CHECK-NEXT: %[[R:.*]] = graph.reshape %arg0, %[[S]]
// CHECK-NEXT: return %[[R]]
func.func @identities(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %t = graph.transpose %x {perm = array<i64: 0, 1>} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %c = graph.cast %t : tensor<?x4xf32> -> tensor<?x4xf32>
  %s = graph.shape %c : (tensor<?x4xf32>) -> tensor<2xi64>
  %r = graph.reshape %c, %s : (tensor<?x4xf32>, tensor<2xi64>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// Integer division by zero is left for the runtime to report.
// CHECK-LABEL: func.func @no_fold_division_by_zero
// CHECK: graph.div
func.func @no_fold_division_by_zero() -> tensor<1xi64> {
  %a = graph.constant dense<[4]> : tensor<1xi64>
  %z = graph.constant dense<[0]> : tensor<1xi64>
  %d = graph.div %a, %z : (tensor<1xi64>, tensor<1xi64>) -> tensor<1xi64>
  return %d : tensor<1xi64>
}

// -----

// A linear layer written as x @ transpose(W) reads W transposed in a gemm; x's
// leading dims flatten into rows and come back after.
// CHECK-LABEL: func.func @matmul_of_transposed_weight
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>, %[[W:.*]]: tensor<5x4xf32>, %[[V:.*]]: tensor<3x4xf32>)
// CHECK-DAG: %[[ROWS:.*]] = graph.constant dense<[6, 4]> : tensor<2xi64>
// CHECK-DAG: %[[BACK:.*]] = graph.constant dense<[2, 3, 5]> : tensor<3xi64>
// CHECK: %[[FLAT:.*]] = graph.reshape %[[X]], %[[ROWS]] : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
// CHECK: %[[G:.*]] = graph.gemm %[[FLAT]], %[[W]] {{{.*}}transpose_b = true} : (tensor<6x4xf32>, tensor<5x4xf32>) -> tensor<6x5xf32>
// CHECK: %[[Y:.*]] = graph.reshape %[[G]], %[[BACK]] : (tensor<6x5xf32>, tensor<3xi64>) -> tensor<2x3x5xf32>
// CHECK: %[[Z:.*]] = graph.gemm %[[V]], %[[W]] {{{.*}}transpose_b = true} : (tensor<3x4xf32>, tensor<5x4xf32>) -> tensor<3x5xf32>
// CHECK-NOT: graph.transpose
// CHECK: return %[[Y]], %[[Z]]
func.func @matmul_of_transposed_weight(%x: tensor<2x3x4xf32>, %w: tensor<5x4xf32>, %v: tensor<3x4xf32>)
    -> (tensor<2x3x5xf32>, tensor<3x5xf32>) {
  %t = graph.transpose %w {perm = array<i64: 1, 0>} : (tensor<5x4xf32>) -> tensor<4x5xf32>
  %y = graph.matmul %x, %t : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x3x5xf32>
  %z = graph.matmul %v, %t : (tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<3x5xf32>
  return %y, %z : tensor<2x3x5xf32>, tensor<3x5xf32>
}

// A 3-D batch of transposed matrices is attention's K^T, not a weight: kept.
// CHECK-LABEL: func.func @batched_transpose_kept
// CHECK: graph.transpose
// CHECK: graph.matmul
func.func @batched_transpose_kept(%q: tensor<2x3x4xf32>, %k: tensor<2x3x4xf32>) -> tensor<2x3x3xf32> {
  %t = graph.transpose %k {perm = array<i64: 0, 2, 1>} : (tensor<2x3x4xf32>) -> tensor<2x4x3xf32>
  %s = graph.matmul %q, %t : (tensor<2x3x4xf32>, tensor<2x4x3xf32>) -> tensor<2x3x3xf32>
  return %s : tensor<2x3x3xf32>
}

// -----

// One truth for slice arithmetic (sp/Semantics/Slice.h): a step of INT64_MAX
// keeps the first row, as ONNX and the runtime's kernel say; type inference
// once overflowed to 0 rows and refused this program.
// CHECK-LABEL: func.func @slice_with_huge_step
// CHECK-NEXT: %[[C:.*]] = graph.constant dense<{{\[}}[0, 1, 2, 3]]> : tensor<1x4xi64>
// CHECK-NEXT: return %[[C]]
func.func @slice_with_huge_step() -> tensor<1x4xi64> {
  %t = graph.constant dense<[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15], [16, 17, 18, 19]]> : tensor<5x4xi64>
  %starts = graph.constant dense<[0]> : tensor<1xi64>
  %ends = graph.constant dense<[5]> : tensor<1xi64>
  %axes = graph.constant dense<[0]> : tensor<1xi64>
  %steps = graph.constant dense<[9223372036854775807]> : tensor<1xi64>
  %s = graph.slice %t, %starts, %ends, %axes, %steps : (tensor<5x4xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<1x4xi64>
  return %s : tensor<1x4xi64>
}

// -----

// The folder's max, min and mod are the kernels' (sp/Semantics/Arithmetic.h):
// NaN wins in either operand; mod takes the divisor's sign, fmod the
// dividend's.
// CHECK-LABEL: func.func @arithmetic_rules
// CHECK-DAG: graph.constant dense<0x7FC00000> : tensor<2xf32>
// CHECK-DAG: graph.constant dense<[1, -1]> : tensor<2xi64>
// CHECK-DAG: graph.constant dense<[-2, 2]> : tensor<2xi64>
func.func @arithmetic_rules() -> (tensor<2xf32>, tensor<2xf32>, tensor<2xi64>, tensor<2xi64>) {
  %nan = graph.constant dense<[0x7FC00000, 1.0]> : tensor<2xf32>
  %one = graph.constant dense<[1.0, 0x7FC00000]> : tensor<2xf32>
  %max = graph.max %one, %nan : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %min = graph.min %one, %nan : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %a = graph.constant dense<[7, -7]> : tensor<2xi64>
  %b = graph.constant dense<[-3, 3]> : tensor<2xi64>
  %mod = graph.mod %a, %b : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  %fmod = graph.fmod %a, %b : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %max, %min, %mod, %fmod : tensor<2xf32>, tensor<2xf32>, tensor<2xi64>, tensor<2xi64>
}
