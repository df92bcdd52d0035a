// RUN: sp-opt --sp-autodiff --split-input-file --verify-diagnostics %s | FileCheck %s
// Each case is one module: @main's loss is differentiated, and one gradient
// per mutable global is appended to its results.

// A value read twice adds up its gradients, and so do two loads of one global.
// CHECK-LABEL: module @fan_in
// CHECK: func.func @main() -> (tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @w})
// CHECK: %[[W0:.*]] = ml_program.global_load @w
// CHECK: %[[E:.*]] = graph.exp %[[W0]]
// CHECK: %[[SEED:.*]] = graph.constant dense<1.000000e+00> : tensor<3xf32>
// CHECK: %[[LEFT:.*]] = graph.mul %[[SEED]], %[[E]]
// CHECK: %[[RIGHT:.*]] = graph.mul %[[SEED]], %[[E]]
// CHECK: %[[DE:.*]] = graph.add %[[LEFT]], %[[RIGHT]]
// CHECK: %[[DW0:.*]] = graph.mul %[[DE]], %[[E]]
// CHECK: %[[DW:.*]] = graph.add %[[DW0]], %[[SEED]]
// CHECK: return %{{.*}}, %[[DW]]
module @fan_in {
  ml_program.global private mutable @w(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %w0 = ml_program.global_load @w : tensor<3xf32>
    %w1 = ml_program.global_load @w : tensor<3xf32>
    %e = graph.exp %w0 : tensor<3xf32>
    %p = graph.mul %e, %e : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %q = graph.add %p, %w1 : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %s = graph.reduce_sum %q {axes = array<i64>, keep_dims = false} : (tensor<3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Broadcast operands sum their gradient over the dims broadcasting added
// (leading) or stretched (unit), then take their own shape back.
// CHECK-LABEL: module @broadcast
// CHECK: func.func @main(%{{.*}}: tensor<2x4x3xf32>) -> (tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @row}, tensor<4x1xf32> {graph.gradient_of = @column})
// CHECK: %[[COLUMN_SUM:.*]] = graph.reduce_sum %{{.*}} {axes = array<i64: 0, 2>, keep_dims = false} : (tensor<2x4x3xf32>) -> tensor<4xf32>
// CHECK: %[[DCOLUMN:.*]] = graph.reshape %[[COLUMN_SUM]], %{{.*}} : (tensor<4xf32>, tensor<2xi64>) -> tensor<4x1xf32>
// CHECK: %[[DROW:.*]] = graph.reduce_sum %{{.*}} {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<2x4x3xf32>) -> tensor<3xf32>
// CHECK: return %{{.*}}, %[[DROW]], %[[DCOLUMN]]
module @broadcast {
  ml_program.global private mutable @row(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  ml_program.global private mutable @column(dense<1.0> : tensor<4x1xf32>) : tensor<4x1xf32>
  func.func @main(%x: tensor<2x4x3xf32>) -> (tensor<f32> {graph.loss}) {
    %r = ml_program.global_load @row : tensor<3xf32>
    %c = ml_program.global_load @column : tensor<4x1xf32>
    %a = graph.add %x, %r : (tensor<2x4x3xf32>, tensor<3xf32>) -> tensor<2x4x3xf32>
    %m = graph.mul %a, %c : (tensor<2x4x3xf32>, tensor<4x1xf32>) -> tensor<2x4x3xf32>
    %s = graph.reduce_sum %m {axes = array<i64>, keep_dims = false} : (tensor<2x4x3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Integers carry no gradient: neither the float -> int -> float round trip
// nor the condition of the select; only the selected branch does.
// CHECK-LABEL: module @integer_path
// CHECK: %[[COND:.*]] = graph.greater
// CHECK: graph.reduce_sum
// CHECK-NOT: graph.cast
// CHECK: %[[DW:.*]] = graph.where %[[COND]], %{{.*}}, %{{.*}} : (tensor<4xi1>, tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: return %{{.*}}, %[[DW]]
module @integer_path {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main(%x: tensor<4xf32>) -> (tensor<f32> {graph.loss}) {
    %w = ml_program.global_load @w : tensor<4xf32>
    %i = graph.cast %w : tensor<4xf32> -> tensor<4xi64>
    %f = graph.cast %i : tensor<4xi64> -> tensor<4xf32>
    %zero = graph.constant dense<0.0> : tensor<f32>
    %c = graph.greater %w, %zero : (tensor<4xf32>, tensor<f32>) -> tensor<4xi1>
    %sel = graph.where %c, %w, %x : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %a = graph.add %sel, %f : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %s = graph.reduce_sum %a {axes = array<i64>, keep_dims = false} : (tensor<4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// A float -> float cast sends its gradient back in the input's type.
// CHECK-LABEL: module @float_cast
// CHECK: %[[DY:.*]] = graph.add %{{.*}}, %{{.*}} : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
// CHECK: %[[DX:.*]] = graph.cast %[[DY]] : tensor<4xf16> -> tensor<4xf32>
// CHECK: return %{{.*}}, %[[DX]]
module @float_cast {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main() -> (tensor<f16> {graph.loss}) {
    %w = ml_program.global_load @w : tensor<4xf32>
    %h = graph.cast %w : tensor<4xf32> -> tensor<4xf16>
    %square = graph.mul %h, %h : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
    %s = graph.reduce_sum %square {axes = array<i64>, keep_dims = false} : (tensor<4xf16>) -> tensor<f16>
    return %s : tensor<f16>
  }
}

// -----

// sub negates, div reuses dy / r and the quotient.
// CHECK-LABEL: module @sub_div
// CHECK: %[[B:.*]] = ml_program.global_load @b
// CHECK: %[[QUOTIENT:.*]] = graph.div %{{.*}}, %[[B]]
// CHECK: graph.reduce_sum
// CHECK: %[[Q:.*]] = graph.div %{{.*}}, %[[B]] : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
// CHECK: %[[QY:.*]] = graph.mul %[[Q]], %[[QUOTIENT]]
// CHECK: graph.neg %[[QY]]
// CHECK: %[[SUB_RHS:.*]] = graph.reduce_sum %[[Q]] {axes = array<i64: 0>, keep_dims = false}
// CHECK: graph.neg %[[SUB_RHS]] : tensor<3xf64>
module @sub_div {
  ml_program.global private mutable @a(dense<1.0> : tensor<2x3xf64>) : tensor<2x3xf64>
  ml_program.global private mutable @b(dense<2.0> : tensor<3xf64>) : tensor<3xf64>
  func.func @main() -> (tensor<f64> {graph.loss}) {
    %a = ml_program.global_load @a : tensor<2x3xf64>
    %b = ml_program.global_load @b : tensor<3xf64>
    %0 = graph.sub %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
    %1 = graph.div %0, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<2x3xf64>) -> tensor<f64>
    return %s : tensor<f64>
  }
}

// -----

// pow: p * x^(p-1) for the base, masked where p == 0; y * log(x) for a float
// exponent, masked where x == 0 and p >= 0. An integer exponent gets none.
// CHECK-LABEL: module @pow
// CHECK: func.func @main() -> (tensor<f64> {graph.loss}, tensor<2x3xf64> {graph.gradient_of = @base}, tensor<3xf64> {graph.gradient_of = @exponent})
// CHECK: %[[X:.*]] = ml_program.global_load @base
// CHECK: %[[P:.*]] = ml_program.global_load @exponent
// CHECK: %[[Y:.*]] = graph.pow %[[X]], %[[P]]
// CHECK: graph.reduce_sum
// The integer exponent 2 is cast and decremented at compile time, and its
// zero mask folds away.
// CHECK: %[[TWO:.*]] = graph.constant dense<2.000000e+00> : tensor<f64>
// CHECK: %[[ONE:.*]] = graph.constant dense<1.000000e+00> : tensor<f64>
// CHECK: %[[SQUARE_SLOPE:.*]] = graph.pow %[[Y]], %[[ONE]]
// CHECK: %[[SQUARE_DX:.*]] = graph.mul %[[TWO]], %[[SQUARE_SLOPE]]
// CHECK: %[[DY:.*]] = graph.mul %{{.*}}, %[[SQUARE_DX]]
// CHECK: %[[ZERO:.*]] = graph.constant dense<0.000000e+00> : tensor<f64>
// CHECK: %[[PM1:.*]] = graph.sub %[[P]], %{{.*}} : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
// CHECK: %[[POW:.*]] = graph.pow %[[X]], %[[PM1]]
// CHECK: %[[SLOPE:.*]] = graph.mul %[[P]], %[[POW]]
// CHECK: %[[DX:.*]] = graph.mul %[[DY]], %[[SLOPE]]
// CHECK: %[[CONSTANT_POWER:.*]] = graph.equal %[[P]], %[[ZERO]]
// CHECK: %[[DBASE:.*]] = graph.where %[[CONSTANT_POWER]], %[[ZERO]], %[[DX]]
// CHECK: %[[LOG:.*]] = graph.log %[[X]]
// CHECK: %[[YLOG:.*]] = graph.mul %[[Y]], %[[LOG]]
// CHECK: %[[DP_FULL:.*]] = graph.mul %[[DY]], %[[YLOG]]
// CHECK: %[[AT_ZERO:.*]] = graph.equal %[[X]], %[[ZERO]]
// CHECK: %[[NONNEGATIVE:.*]] = graph.greater_equal %[[P]], %[[ZERO]]
// CHECK: %[[MASK:.*]] = graph.and %[[AT_ZERO]], %[[NONNEGATIVE]]
// CHECK: %[[DP_MASKED:.*]] = graph.where %[[MASK]], %[[ZERO]], %[[DP_FULL]]
// CHECK: %[[DP:.*]] = graph.reduce_sum %[[DP_MASKED]] {axes = array<i64: 0>, keep_dims = false} : (tensor<2x3xf64>) -> tensor<3xf64>
// CHECK: return %{{.*}}, %[[DBASE]], %[[DP]]
module @pow {
  ml_program.global private mutable @base(dense<1.0> : tensor<2x3xf64>) : tensor<2x3xf64>
  ml_program.global private mutable @exponent(dense<2.0> : tensor<3xf64>) : tensor<3xf64>
  func.func @main() -> (tensor<f64> {graph.loss}) {
    %x = ml_program.global_load @base : tensor<2x3xf64>
    %p = ml_program.global_load @exponent : tensor<3xf64>
    %two = graph.constant dense<2> : tensor<i64>
    %0 = graph.pow %x, %p : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
    %1 = graph.pow %0, %two : (tensor<2x3xf64>, tensor<i64>) -> tensor<2x3xf64>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<2x3xf64>) -> tensor<f64>
    return %s : tensor<f64>
  }
}

// -----

// max/min: the winner takes dy, ties split it evenly, the other operand
// gets the rest.
// CHECK-LABEL: module @max_min
// CHECK: %[[A:.*]] = ml_program.global_load @a
// CHECK: %[[B:.*]] = ml_program.global_load @b
// CHECK: %[[MAX:.*]] = graph.max %[[A]], %[[B]]
// CHECK: graph.reduce_sum
// CHECK: graph.equal %[[MAX]], %[[B]]
// CHECK: graph.less %[[MAX]], %[[B]]
// CHECK: %[[HALF:.*]] = graph.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[TIE:.*]] = graph.equal %[[A]], %[[B]]
// CHECK: %[[SPLIT:.*]] = graph.where %[[TIE]], %[[HALF]], %{{.*}}
// CHECK: %[[WINS:.*]] = graph.greater %[[A]], %[[B]]
// CHECK: %[[SHARE:.*]] = graph.where %[[WINS]], %{{.*}}, %[[SPLIT]]
// CHECK: %[[DA:.*]] = graph.mul %{{.*}}, %[[SHARE]]
// CHECK: %[[REST:.*]] = graph.sub %{{.*}}, %[[DA]]
// CHECK: graph.reduce_sum %[[REST]] {axes = array<i64: 0>, keep_dims = false}
// CHECK: return %{{.*}}, %[[DA]], %{{.*}}
module @max_min {
  ml_program.global private mutable @a(dense<1.0> : tensor<2x3xf32>) : tensor<2x3xf32>
  ml_program.global private mutable @b(dense<2.0> : tensor<3xf32>) : tensor<3xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %a = ml_program.global_load @a : tensor<2x3xf32>
    %b = ml_program.global_load @b : tensor<3xf32>
    %0 = graph.max %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %1 = graph.min %0, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// mod and fmod: the dividend takes dy; the divisor -dy times the quotient
// rounded down (mod) or toward zero (fmod).
// CHECK-LABEL: module @remainders
// CHECK: %[[FMOD_Q:.*]] = graph.div
// CHECK: %[[FLOOR:.*]] = graph.floor %[[FMOD_Q]]
// CHECK: %[[CEIL:.*]] = graph.ceil %[[FMOD_Q]]
// CHECK: %[[NEGATIVE:.*]] = graph.less %[[FMOD_Q]]
// CHECK: graph.where %[[NEGATIVE]], %[[CEIL]], %[[FLOOR]]
// CHECK: %[[MOD_Q:.*]] = graph.div
// CHECK: graph.floor %[[MOD_Q]]
// CHECK-NOT: graph.ceil
// CHECK: return
module @remainders {
  ml_program.global private mutable @a(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  ml_program.global private mutable @b(dense<2.0> : tensor<3xf32>) : tensor<3xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %a = ml_program.global_load @a : tensor<3xf32>
    %b = ml_program.global_load @b : tensor<3xf32>
    %0 = graph.mod %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %1 = graph.fmod %0, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Unary ops, visited from the loss back: gelu uses gelu_grad, floor none.
// CHECK-LABEL: module @unary
// CHECK: %[[X:.*]] = ml_program.global_load @x
// CHECK: %[[NEG:.*]] = graph.neg %[[X]]
// CHECK: %[[SQRT:.*]] = graph.sqrt
// CHECK: %[[RECIPROCAL:.*]] = graph.reciprocal
// CHECK: %[[EXP:.*]] = graph.exp
// CHECK: %[[TANH:.*]] = graph.tanh
// CHECK: %[[SIGMOID:.*]] = graph.sigmoid
// CHECK: %[[ERF:.*]] = graph.erf
// CHECK: %[[COS:.*]] = graph.cos
// CHECK: %[[SIN:.*]] = graph.sin
// CHECK: %[[RELU:.*]] = graph.relu
// CHECK: graph.reduce_sum
// CHECK: %[[DGELU:.*]] = graph.gelu_grad %[[RELU]], %{{.*}} {tanh_approximation = true}
// CHECK: %[[POSITIVE:.*]] = graph.greater %[[SIN]]
// CHECK: %[[DRELU:.*]] = graph.where %[[POSITIVE]], %[[DGELU]]
// CHECK: graph.cos %[[COS]]
// CHECK: graph.sin %[[ERF]]
// CHECK: graph.exp
// CHECK: graph.constant dense<1.1283791670955126> : tensor<f64>
// CHECK: graph.sub %{{.*}}, %[[SIGMOID]]
// CHECK: graph.mul %[[TANH]], %[[TANH]]
// CHECK: graph.div %{{.*}}, %[[EXP]]
// CHECK: graph.mul %{{.*}}, %[[EXP]]
// CHECK: graph.mul %[[RECIPROCAL]], %[[RECIPROCAL]]
// CHECK: graph.div %{{.*}}, %[[SQRT]]
// CHECK: graph.less %[[NEG]]
// CHECK: graph.greater %[[NEG]]
// CHECK-NOT: graph.floor
// CHECK: return
module @unary {
  ml_program.global private mutable @x(dense<0.5> : tensor<4xf64>) : tensor<4xf64>
  func.func @main() -> (tensor<f64> {graph.loss}) {
    %x = ml_program.global_load @x : tensor<4xf64>
    %0 = graph.neg %x : tensor<4xf64>
    %1 = graph.abs %0 : tensor<4xf64>
    %2 = graph.sqrt %1 : tensor<4xf64>
    %3 = graph.reciprocal %2 : tensor<4xf64>
    %4 = graph.exp %3 : tensor<4xf64>
    %5 = graph.log %4 : tensor<4xf64>
    %6 = graph.tanh %5 : tensor<4xf64>
    %7 = graph.sigmoid %6 : tensor<4xf64>
    %8 = graph.erf %7 : tensor<4xf64>
    %9 = graph.cos %8 : tensor<4xf64>
    %10 = graph.sin %9 : tensor<4xf64>
    %11 = graph.relu %10 : tensor<4xf64>
    %12 = graph.gelu %11 {tanh_approximation = true} : tensor<4xf64>
    %13 = graph.floor %x : tensor<4xf64>
    %14 = graph.add %12, %13 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
    %s = graph.reduce_sum %14 {axes = array<i64>, keep_dims = false} : (tensor<4xf64>) -> tensor<f64>
    return %s : tensor<f64>
  }
}

// -----

// matmul: dA = dY B^T, dB = A^T dY on matrices; 1-D operands become a row or
// a column; batch dims that an operand was broadcast over are summed.
// CHECK-LABEL: module @matmul
// CHECK: %[[ROW_MATRIX:.*]] = graph.reshape %{{.*}} -> tensor<1x5xf32>
// CHECK: graph.matmul %{{.*}}, %{{.*}} : (tensor<2x1x3xf32>, tensor<2x3x5xf32>) -> tensor<2x1x5xf32>
// CHECK: graph.reduce_sum %{{.*}} {axes = array<i64: 0>, keep_dims = false} : (tensor<2x1x5xf32>) -> tensor<1x5xf32>
// CHECK: graph.transpose %[[ROW_MATRIX]] {perm = array<i64: 1, 0>}
// CHECK: %[[DY4:.*]] = graph.reshape %{{.*}} : (tensor<2x5x3xf32>, tensor<4xi64>) -> tensor<2x5x3x1xf32>
// CHECK: graph.reduce_sum %{{.*}} {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<2x5x6x1xf32>) -> tensor<6x1xf32>
// CHECK: graph.reduce_sum %{{.*}} {axes = array<i64: 1>, keep_dims = false} : (tensor<2x5x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK: graph.reshape %{{.*}} -> tensor<2x1x3x4xf32>
// CHECK: graph.reduce_sum %{{.*}} {axes = array<i64: 0>, keep_dims = false} : (tensor<2x5x4x6xf32>) -> tensor<5x4x6xf32>
module @matmul {
  ml_program.global private mutable @batched(dense<1.0> : tensor<2x1x3x4xf32>) : tensor<2x1x3x4xf32>
  ml_program.global private mutable @shared(dense<1.0> : tensor<5x4x6xf32>) : tensor<5x4x6xf32>
  ml_program.global private mutable @vector(dense<1.0> : tensor<6xf32>) : tensor<6xf32>
  ml_program.global private mutable @row(dense<1.0> : tensor<5xf32>) : tensor<5xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %a = ml_program.global_load @batched : tensor<2x1x3x4xf32>
    %b = ml_program.global_load @shared : tensor<5x4x6xf32>
    %v = ml_program.global_load @vector : tensor<6xf32>
    %r = ml_program.global_load @row : tensor<5xf32>
    %0 = graph.matmul %a, %b : (tensor<2x1x3x4xf32>, tensor<5x4x6xf32>) -> tensor<2x5x3x6xf32>
    %1 = graph.matmul %0, %v : (tensor<2x5x3x6xf32>, tensor<6xf32>) -> tensor<2x5x3xf32>
    %2 = graph.matmul %r, %1 : (tensor<5xf32>, tensor<2x5x3xf32>) -> tensor<2x3xf32>
    %s = graph.reduce_sum %2 {axes = array<i64>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// x @ W with a weight matrix folds x's batch dims into rows: both gradients
// are gemms, with no transposed copy and no per-batch weight gradient.
// CHECK-LABEL: module @matmul_weight
// CHECK: %[[X:.*]] = ml_program.global_load @x
// CHECK: %[[W:.*]] = ml_program.global_load @w
// CHECK: %[[Y:.*]] = graph.matmul %[[X]], %[[W]]
// CHECK: %[[DY_ROWS:.*]] = graph.reshape %{{.*}} : (tensor<2x3x5xf32>, tensor<2xi64>) -> tensor<6x5xf32>
// CHECK: %[[DX_ROWS:.*]] = graph.gemm %[[DY_ROWS]], %[[W]] {transpose_b = true} : (tensor<6x5xf32>, tensor<4x5xf32>) -> tensor<6x4xf32>
// CHECK: %[[DX:.*]] = graph.reshape %[[DX_ROWS]], %{{.*}} -> tensor<2x3x4xf32>
// CHECK: %[[X_ROWS:.*]] = graph.reshape %[[X]], %{{.*}} -> tensor<6x4xf32>
// CHECK: %[[DW:.*]] = graph.gemm %[[X_ROWS]], %[[DY_ROWS]] {transpose_a = true} : (tensor<6x4xf32>, tensor<6x5xf32>) -> tensor<4x5xf32>
// CHECK: return %{{.*}}, %[[DX]], %[[DW]]
module @matmul_weight {
  ml_program.global private mutable @x(dense<1.0> : tensor<2x3x4xf32>) : tensor<2x3x4xf32>
  ml_program.global private mutable @w(dense<1.0> : tensor<4x5xf32>) : tensor<4x5xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %x = ml_program.global_load @x : tensor<2x3x4xf32>
    %w = ml_program.global_load @w : tensor<4x5xf32>
    %0 = graph.matmul %x, %w : (tensor<2x3x4xf32>, tensor<4x5xf32>) -> tensor<2x3x5xf32>
    %1 = graph.tanh %0 : tensor<2x3x5xf32>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<2x3x5xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// gemm: gradients are gemms with the transposes folded into the flags and
// alpha kept; the bias takes beta * dY summed to its shape.
// CHECK-LABEL: module @gemm
// CHECK: %[[A:.*]] = ml_program.global_load @a
// CHECK: %[[B:.*]] = ml_program.global_load @b
// CHECK: %[[DY:.*]] = graph.constant dense<1.000000e+00> : tensor<3x5xf32>
// CHECK: %[[DA:.*]] = graph.gemm %[[B]], %[[DY]] {alpha = 5.000000e-01 : f64, transpose_a = true, transpose_b = true} : (tensor<5x4xf32>, tensor<3x5xf32>) -> tensor<4x3xf32>
// CHECK: %[[DB:.*]] = graph.gemm %[[DY]], %[[A]] {alpha = 5.000000e-01 : f64, transpose_a = true, transpose_b = true} : (tensor<3x5xf32>, tensor<4x3xf32>) -> tensor<5x4xf32>
// CHECK: %[[SCALED:.*]] = graph.constant dense<2.000000e+00> : tensor<3x5xf32>
// CHECK: %[[DC:.*]] = graph.reduce_sum %[[SCALED]] {axes = array<i64: 0>, keep_dims = false} : (tensor<3x5xf32>) -> tensor<5xf32>
// CHECK: return %{{.*}}, %[[DA]], %[[DB]], %[[DC]]
module @gemm {
  ml_program.global private mutable @a(dense<1.0> : tensor<4x3xf32>) : tensor<4x3xf32>
  ml_program.global private mutable @b(dense<1.0> : tensor<5x4xf32>) : tensor<5x4xf32>
  ml_program.global private mutable @c(dense<1.0> : tensor<5xf32>) : tensor<5xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %a = ml_program.global_load @a : tensor<4x3xf32>
    %b = ml_program.global_load @b : tensor<5x4xf32>
    %c = ml_program.global_load @c : tensor<5xf32>
    %0 = graph.gemm %a, %b, %c {alpha = 0.5 : f64, beta = 2.0 : f64, transpose_a = true, transpose_b = true} : (tensor<4x3xf32>, tensor<5x4xf32>, tensor<5xf32>) -> tensor<3x5xf32>
    %s = graph.reduce_sum %0 {axes = array<i64>, keep_dims = false} : (tensor<3x5xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// softmax_grad reads the result; layer_norm_grad takes the scale expanded
// to the normalized shape, whose scale and bias gradients sum back.
// CHECK-LABEL: module @normalization
// CHECK: %[[SCALE:.*]] = ml_program.global_load @scale
// CHECK: %[[SOFTMAX:.*]] = graph.softmax
// CHECK: %[[FULL_SCALE:.*]] = graph.expand %[[SCALE]], %{{.*}} : (tensor<1x4xf32>, tensor<2xi64>) -> tensor<3x4xf32>
// CHECK: %[[DX:.*]], %[[DSCALE:.*]], %[[DBIAS:.*]] = graph.layer_norm_grad %[[SOFTMAX]], %[[FULL_SCALE]], %{{.*}} {axis = 1 : i64, epsilon = 1.000000e-05 : f64}
// CHECK: %[[SCALE_SUM:.*]] = graph.reduce_sum %[[DSCALE]] {axes = array<i64: 0>, keep_dims = false} : (tensor<3x4xf32>) -> tensor<4xf32>
// CHECK: %[[SCALE_GRAD:.*]] = graph.reshape %[[SCALE_SUM]], %{{.*}} -> tensor<1x4xf32>
// CHECK: %[[BIAS_GRAD:.*]] = graph.reduce_sum %[[DBIAS]] {axes = array<i64: 0>, keep_dims = false} : (tensor<3x4xf32>) -> tensor<4xf32>
// CHECK: %[[INPUT_GRAD:.*]] = graph.softmax_grad %[[SOFTMAX]], %[[DX]] {axis = -1 : i64}
// CHECK: return %{{.*}}, %[[INPUT_GRAD]], %[[SCALE_GRAD]], %[[BIAS_GRAD]]
module @normalization {
  ml_program.global private mutable @x(dense<1.0> : tensor<2x3x4xf32>) : tensor<2x3x4xf32>
  ml_program.global private mutable @scale(dense<1.0> : tensor<1x4xf32>) : tensor<1x4xf32>
  ml_program.global private mutable @bias(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %x = ml_program.global_load @x : tensor<2x3x4xf32>
    %g = ml_program.global_load @scale : tensor<1x4xf32>
    %b = ml_program.global_load @bias : tensor<4xf32>
    %0 = graph.softmax %x {axis = -1 : i64} : tensor<2x3x4xf32>
    %1 = graph.layer_norm %0, %g, %b {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x3x4xf32>, tensor<1x4xf32>, tensor<4xf32>) -> tensor<2x3x4xf32>
    %s = graph.reduce_sum %1 {axes = array<i64>, keep_dims = false} : (tensor<2x3x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Reductions broadcast dy back over the reduced dims (mean divides by the
// count; max splits it among the elements equal to the maximum); cumsum
// runs the other way.
// CHECK-LABEL: module @reductions
// CHECK: %[[X:.*]] = ml_program.global_load @x
// CHECK: %[[MAX:.*]] = graph.reduce_max %[[X]]
// CHECK: graph.cumsum %{{.*}} {axis = 1 : i64, exclusive = true, reverse = true} : tensor<2x3xf32>
// CHECK: %[[COUNT:.*]] = graph.constant dense<8.000000e+00> : tensor<f32>
// CHECK: %[[MEAN_SHARE:.*]] = graph.div %{{.*}}, %[[COUNT]] : (tensor<1x3x1xf32>, tensor<f32>) -> tensor<1x3x1xf32>
// CHECK: %[[DMEAN:.*]] = graph.expand %[[MEAN_SHARE]], %{{.*}} -> tensor<2x3x4xf32>
// CHECK: %[[KEPT_MAX:.*]] = graph.reshape %[[MAX]], %{{.*}} -> tensor<2x3x1xf32>
// CHECK: %[[IS_MAX:.*]] = graph.equal %[[X]], %[[KEPT_MAX]]
// CHECK: %[[AS_FLOAT:.*]] = graph.cast %[[IS_MAX]] : tensor<2x3x4xi1> -> tensor<2x3x4xf32>
// CHECK: %[[TIES:.*]] = graph.reduce_sum %[[AS_FLOAT]] {axes = array<i64: 2>} : (tensor<2x3x4xf32>) -> tensor<2x3x1xf32>
// CHECK: %[[MAX_SHARE:.*]] = graph.div %{{.*}}, %[[TIES]]
// CHECK: %[[DMAX:.*]] = graph.where %[[IS_MAX]], %[[MAX_SHARE]], %{{.*}}
// CHECK: %[[DX:.*]] = graph.add %[[DMEAN]], %[[DMAX]]
// CHECK: return %{{.*}}, %[[DX]]
module @reductions {
  ml_program.global private mutable @x(dense<1.0> : tensor<2x3x4xf32>) : tensor<2x3x4xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %x = ml_program.global_load @x : tensor<2x3x4xf32>
    %0 = graph.reduce_max %x {axes = array<i64: 2>, keep_dims = false} : (tensor<2x3x4xf32>) -> tensor<2x3xf32>
    %1 = graph.reduce_mean %x {axes = array<i64: 0, 2>} : (tensor<2x3x4xf32>) -> tensor<1x3x1xf32>
    %2 = graph.cumsum %0 {axis = 1 : i64, exclusive = true} : tensor<2x3xf32>
    %3 = graph.squeeze %1 {axes = array<i64: 0, 2>} : (tensor<1x3x1xf32>) -> tensor<3xf32>
    %4 = graph.add %2, %3 : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %5 = graph.mul %2, %2 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    %6 = graph.add %4, %5 : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    %s = graph.reduce_sum %6 {axes = array<i64>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Data movement: trilu masks dy the same way, concat splits it, split
// concatenates with zeros for the unused piece, slice writes it back with
// slice_grad, expand sums, unsqueeze/reshape reshape back, transpose inverts.
// CHECK-LABEL: module @data_movement
// CHECK: %[[STARTS:.*]] = graph.constant dense<1> : tensor<1xi64>
// CHECK: %[[ENDS:.*]] = graph.constant dense<3> : tensor<1xi64>
// CHECK: %[[AXES:.*]] = graph.constant dense<2> : tensor<1xi64>
// CHECK: %[[STEPS:.*]] = graph.constant dense<1> : tensor<1xi64>
// CHECK: %[[SLICED:.*]] = graph.slice
// CHECK: graph.reduce_sum
// CHECK: %[[DTRILU:.*]] = graph.trilu %{{.*}} {upper = true} : tensor<2x3x2xf32>
// CHECK: %[[PIECES:.*]]:3 = graph.split %[[DTRILU]] {axis = 1 : i64, sizes = array<i64: 1, 1, 1>}
// CHECK: %[[FIRST:.*]] = graph.add %[[PIECES]]#0, %[[PIECES]]#2
// CHECK: %[[ZEROS:.*]] = graph.constant dense<0.000000e+00> : tensor<2x2x2xf32>
// CHECK: %[[DSLICED:.*]] = graph.concat %[[FIRST]], %[[ZEROS]], %[[PIECES]]#1 {axis = 1 : i64}
// CHECK: %[[DEXPANDED:.*]] = graph.slice_grad %[[DSLICED]], %[[STARTS]], %[[ENDS]], %[[AXES]], %[[STEPS]] : {{.*}} -> tensor<2x4x3xf32>
// CHECK: %[[DUNSQUEEZED:.*]] = graph.reduce_sum %[[DEXPANDED]] {axes = array<i64: 0>, keep_dims = false} : (tensor<2x4x3xf32>) -> tensor<4x3xf32>
// CHECK-NOT: graph.reshape
// CHECK: graph.transpose %[[DUNSQUEEZED]] {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK: %[[DX:.*]] = graph.reshape %{{.*}} -> tensor<2x6xf32>
// CHECK: return %{{.*}}, %[[DX]]
module @data_movement {
  ml_program.global private mutable @x(dense<1.0> : tensor<2x6xf32>) : tensor<2x6xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %x = ml_program.global_load @x : tensor<2x6xf32>
    %shape = graph.constant dense<[3, 4]> : tensor<2xi64>
    %0 = graph.reshape %x, %shape : (tensor<2x6xf32>, tensor<2xi64>) -> tensor<3x4xf32>
    %1 = graph.transpose %0 {perm = array<i64: 1, 0>} : (tensor<3x4xf32>) -> tensor<4x3xf32>
    %2 = graph.unsqueeze %1 {axes = array<i64: 0>} : (tensor<4x3xf32>) -> tensor<1x4x3xf32>
    %big = graph.constant dense<[2, 4, 3]> : tensor<3xi64>
    %3 = graph.expand %2, %big : (tensor<1x4x3xf32>, tensor<3xi64>) -> tensor<2x4x3xf32>
    %start = graph.constant dense<[1]> : tensor<1xi64>
    %end = graph.constant dense<[3]> : tensor<1xi64>
    %axis = graph.constant dense<[2]> : tensor<1xi64>
    %step = graph.constant dense<[1]> : tensor<1xi64>
    %4 = graph.slice %3, %start, %end, %axis, %step : (tensor<2x4x3xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<2x4x2xf32>
    %5:3 = graph.split %4 {axis = 1 : i64, sizes = array<i64: 1, 2, 1>} : (tensor<2x4x2xf32>) -> (tensor<2x1x2xf32>, tensor<2x2x2xf32>, tensor<2x1x2xf32>)
    %6 = graph.concat %5#0, %5#2, %5#0 {axis = -2 : i64} : (tensor<2x1x2xf32>, tensor<2x1x2xf32>, tensor<2x1x2xf32>) -> tensor<2x3x2xf32>
    %7 = graph.trilu %6 {upper = true, diagonal = 0 : i64} : tensor<2x3x2xf32>
    %8 = graph.mul %7, %7 : (tensor<2x3x2xf32>, tensor<2x3x2xf32>) -> tensor<2x3x2xf32>
    %s = graph.reduce_sum %8 {axes = array<i64>, keep_dims = false} : (tensor<2x3x2xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Gathers scatter dy back (indices get nothing); the loss's own rule is
// cross_entropy_sum_grad.
// CHECK-LABEL: module @gathers
// CHECK: func.func @main(%[[IDS:.*]]: tensor<2x4xi64>, %[[LABELS:.*]]: tensor<2xi64>)
// CHECK: %[[ROWS:.*]] = graph.gather
// CHECK: %[[ND:.*]] = graph.constant dense<{{\[\[}}0, 1], [1, 2]]> : tensor<2x2xi64>
// CHECK: %[[PICKED:.*]] = graph.gather_nd %[[ROWS]], %[[ND]]
// CHECK: %[[ONE:.*]] = graph.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[DPICKED:.*]] = graph.cross_entropy_sum_grad %[[PICKED]], %[[LABELS]], %[[ONE]] : (tensor<2x3xf32>, tensor<2xi64>, tensor<f32>) -> tensor<2x3xf32>
// CHECK: %[[DROWS:.*]] = graph.gather_nd_grad %[[DPICKED]], %[[ND]] : (tensor<2x3xf32>, tensor<2x2xi64>) -> tensor<2x4x3xf32>
// CHECK: %[[DTABLE:.*]] = graph.gather_grad %[[DROWS]], %[[IDS]] {axis = 0 : i64} : (tensor<2x4x3xf32>, tensor<2x4xi64>) -> tensor<5x3xf32>
// CHECK: return %{{.*}}, %[[DTABLE]]
module @gathers {
  ml_program.global private mutable @table(dense<1.0> : tensor<5x3xf32>) : tensor<5x3xf32>
  func.func @main(%ids: tensor<2x4xi64>, %labels: tensor<2xi64>) -> (tensor<f32> {graph.loss}) {
    %t = ml_program.global_load @table : tensor<5x3xf32>
    %0 = graph.gather %t, %ids {axis = 0 : i64} : (tensor<5x3xf32>, tensor<2x4xi64>) -> tensor<2x4x3xf32>
    %nd = graph.constant dense<[[0, 1], [1, 2]]> : tensor<2x2xi64>
    %1 = graph.gather_nd %0, %nd : (tensor<2x4x3xf32>, tensor<2x2xi64>) -> tensor<2x3xf32>
    %2 = graph.cross_entropy_sum %1, %labels : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<f32>
    return %2 : tensor<f32>
  }
}

// -----

// Frozen weights (immutable globals) and the optimizer's state are not
// parameters; a parameter that never reaches the loss gets zeros and a warning.
// CHECK-LABEL: module @unreachable
// CHECK: func.func @main(%{{.*}}: tensor<3xf32>) -> (tensor<f32> {graph.loss}, tensor<3xf32> {graph.gradient_of = @used}, tensor<3xf32> {graph.gradient_of = @unused})
// CHECK: %[[ZEROS:.*]] = graph.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK: return %{{.*}}, %{{.*}}, %[[ZEROS]]
module @unreachable {
  ml_program.global private @frozen(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  ml_program.global private mutable @used(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  ml_program.global private mutable @used.exp_avg(dense<0.0> : tensor<3xf32>) : tensor<3xf32> {graph.state_of = @used}
  // expected-warning @+1 {{parameter @unused does not reach the loss; its gradient is zero}}
  ml_program.global private mutable @unused(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
  func.func @main(%x: tensor<3xf32>) -> (tensor<f32> {graph.loss}) {
    %f = ml_program.global_load_const @frozen : tensor<3xf32>
    %u = ml_program.global_load @used : tensor<3xf32>
    %n = ml_program.global_load @unused : tensor<3xf32>
    %a = graph.mul %f, %u : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %b = graph.add %a, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %side = graph.exp %n : tensor<3xf32>
    %s = graph.reduce_sum %b {axes = array<i64>, keep_dims = false} : (tensor<3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// An op without a rule between a parameter and the loss is an error naming
// its ONNX node; ops off that path need none.
// expected-error @unknown {{no gradient rule for 'graph.gelu_grad' (ONNX node 'odd_node'), which lies between a parameter and the loss}}
module @missing_rule {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main(%x: tensor<4xf32>) -> (tensor<f32> {graph.loss}, tensor<4xf32>) {
    %w = ml_program.global_load @w : tensor<4xf32>
    %ones = graph.constant dense<1.0> : tensor<4xf32>
    %g = graph.gelu_grad %w, %ones : tensor<4xf32> loc("odd_node")
    %off_path = graph.softmax_grad %x, %x {axis = 0 : i64} : tensor<4xf32>
    %s = graph.reduce_sum %g {axes = array<i64>, keep_dims = false} : (tensor<4xf32>) -> tensor<f32>
    return %s, %off_path : tensor<f32>, tensor<4xf32>
  }
}

// -----

module @dynamic_shape {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  func.func @main(%x: tensor<?x4xf32>) -> (tensor<f32> {graph.loss}) {
    %w = ml_program.global_load @w : tensor<4xf32>
    // expected-error @+1 {{cannot differentiate 'graph.add': its operand #0 has dynamic shape [?, 4]; bind symbolic dims with --input-shape}}
    %a = graph.add %x, %w : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
    %s = graph.reduce_sum %a {axes = array<i64>, keep_dims = false} : (tensor<?x4xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

module @no_loss {
  ml_program.global private mutable @w(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
  // expected-error @+1 {{@main has no result marked graph.loss; run sp-insert-loss first}}
  func.func @main() -> tensor<4xf32> {
    %w = ml_program.global_load @w : tensor<4xf32>
    return %w : tensor<4xf32>
  }
}

// -----

module @vector_loss {
  // expected-error @+1 {{the loss must be a float tensor of one element, got 'tensor<4xf32>'}}
  func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32> {graph.loss}) {
    return %x : tensor<4xf32>
  }
}

// -----

// Dropout's gradient is the same site's dropout of the result gradient (the
// mask redrawn, nothing kept), with the shard's positions where it has them.
// CHECK-LABEL: module @dropout
// CHECK: %[[POSITIONS:.*]] = graph.constant dense<[2, 3]> : tensor<2xi64>
// CHECK: %[[X:.*]] = ml_program.global_load @x
// CHECK: graph.dropout %[[X]], %[[POSITIONS]] {ratio = 2.500000e-01 : f64, sequence_axis = 0 : i64, sequence_length = 4 : i64, site = 7 : i64}
// CHECK: %[[DY:.*]] = graph.constant dense<1.000000e+00> : tensor<2x3xf32>
// CHECK: %[[DX:.*]] = graph.dropout %[[DY]], %[[POSITIONS]] {ratio = 2.500000e-01 : f64, sequence_axis = 0 : i64, sequence_length = 4 : i64, site = 7 : i64}
// CHECK: return %{{.*}}, %[[DX]]
module @dropout {
  ml_program.global private mutable @x(dense<1.0> : tensor<2x3xf32>) : tensor<2x3xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %positions = graph.constant dense<[2, 3]> : tensor<2xi64>
    %x = ml_program.global_load @x : tensor<2x3xf32>
    %y = graph.dropout %x, %positions {ratio = 0.25 : f64, site = 7 : i64, sequence_axis = 0 : i64, sequence_length = 4 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
    %s = graph.reduce_sum %y {axes = array<i64>, keep_dims = false} : (tensor<2x3xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}

// -----

// Attention that draws dropout on its probabilities: attention_grad redraws
// the forward mask (the same dropout attributes).
// CHECK-LABEL: module @attention_dropout
// CHECK: %[[O:.*]], %[[L:.*]] = graph.attention %[[Q:.*]], %[[Q]], %[[Q]] {causal = true, dropout_ratio = 2.500000e-01 : f64, dropout_site = 3 : i64, scale = 5.000000e-01 : f64}
// CHECK: graph.attention_grad %[[Q]], %[[Q]], %[[Q]], %[[O]], %[[L]], %{{.*}} {causal = true, dropout_ratio = 2.500000e-01 : f64, dropout_site = 3 : i64, scale = 5.000000e-01 : f64}
module @attention_dropout {
  ml_program.global private mutable @q(dense<0.5> : tensor<1x2x4x8xf32>) : tensor<1x2x4x8xf32>
  func.func @main() -> (tensor<f32> {graph.loss}) {
    %q = ml_program.global_load @q : tensor<1x2x4x8xf32>
    %o, %lse = graph.attention %q, %q, %q {scale = 0.5 : f64, causal = true, dropout_ratio = 0.25 : f64, dropout_site = 3 : i64} : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4xf32>)
    %s = graph.reduce_sum %o {axes = array<i64>, keep_dims = false} : (tensor<1x2x4x8xf32>) -> tensor<f32>
    return %s : tensor<f32>
  }
}
