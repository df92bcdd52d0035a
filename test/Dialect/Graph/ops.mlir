// RUN: sp-opt %s | sp-opt | FileCheck %s
// Every graph op parses, verifies and prints back the same.

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x?xf32>, %b: tensor<?xf32>, %c: tensor<2x1xi1>) -> tensor<2x?xf32> {
  // CHECK: graph.add %{{.*}}, %{{.*}} : (tensor<2x?xf32>, tensor<?xf32>) -> tensor<2x?xf32>
  %0 = graph.add %a, %b : (tensor<2x?xf32>, tensor<?xf32>) -> tensor<2x?xf32>
  // CHECK: graph.pow
  %1 = graph.pow %0, %b : (tensor<2x?xf32>, tensor<?xf32>) -> tensor<2x?xf32>
  // CHECK: graph.less {{.*}} -> tensor<2x?xi1>
  %2 = graph.less %1, %a : (tensor<2x?xf32>, tensor<2x?xf32>) -> tensor<2x?xi1>
  // CHECK: graph.and {{.*}} -> tensor<2x?xi1>
  %3 = graph.and %2, %c : (tensor<2x?xi1>, tensor<2x1xi1>) -> tensor<2x?xi1>
  // CHECK: graph.where {{.*}} -> tensor<2x?xf32>
  %4 = graph.where %3, %1, %a : (tensor<2x?xi1>, tensor<2x?xf32>, tensor<2x?xf32>) -> tensor<2x?xf32>
  // CHECK: graph.sigmoid %{{.*}} : tensor<2x?xf32>
  %5 = graph.sigmoid %4 : tensor<2x?xf32>
  // CHECK: graph.gelu %{{.*}} {tanh_approximation = true} : tensor<2x?xf32>
  %6 = graph.gelu %5 {tanh_approximation = true} : tensor<2x?xf32>
  // CHECK: graph.cast %{{.*}} : tensor<2x?xf32> -> tensor<2x?xf16>
  %7 = graph.cast %6 : tensor<2x?xf32> -> tensor<2x?xf16>
  return %6 : tensor<2x?xf32>
}

// CHECK-LABEL: func.func @linear_algebra
func.func @linear_algebra(%x: tensor<?x?x64xf32>, %w: tensor<64x32xf32>, %a: tensor<8x64xf32>, %bias: tensor<32xf32>) -> tensor<?x?x32xf32> {
  // CHECK: graph.matmul {{.*}} -> tensor<?x?x32xf32>
  %0 = graph.matmul %x, %w : (tensor<?x?x64xf32>, tensor<64x32xf32>) -> tensor<?x?x32xf32>
  // CHECK: graph.gemm {{.*}} {alpha = 5.000000e-01 : f64, transpose_b = true} : (tensor<8x64xf32>, tensor<8x64xf32>, tensor<8xf32>) -> tensor<8x8xf32>
  %b8 = graph.constant dense<1.0> : tensor<8xf32>
  %1 = graph.gemm %a, %a, %b8 {alpha = 0.5 : f64, transpose_b = true} : (tensor<8x64xf32>, tensor<8x64xf32>, tensor<8xf32>) -> tensor<8x8xf32>
  // CHECK: graph.softmax %{{.*}} {axis = -1 : i64} : tensor<?x?x32xf32>
  %2 = graph.softmax %0 {axis = -1 : i64} : tensor<?x?x32xf32>
  // CHECK: graph.layer_norm {{.*}} {axis = -1 : i64, epsilon = 1.000000e-05 : f64}
  %3 = graph.layer_norm %2, %bias, %bias {axis = -1 : i64, epsilon = 1.0e-5 : f64} : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  // CHECK: graph.reduce_mean {{.*}} {axes = array<i64: 2>} : (tensor<?x?x32xf32>) -> tensor<?x?x1xf32>
  %4 = graph.reduce_mean %3 {axes = array<i64: 2>} : (tensor<?x?x32xf32>) -> tensor<?x?x1xf32>
  // CHECK: graph.reduce_sum {{.*}} {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<?x?x1xf32>) -> tensor<1xf32>
  %5 = graph.reduce_sum %4 {axes = array<i64: 0, 1>, keep_dims = false} : (tensor<?x?x1xf32>) -> tensor<1xf32>
  // CHECK: graph.cumsum %{{.*}} {axis = 1 : i64, exclusive = true} : tensor<?x?x32xf32>
  %6 = graph.cumsum %3 {axis = 1 : i64, exclusive = true} : tensor<?x?x32xf32>
  return %6 : tensor<?x?x32xf32>
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<?x?x64xf32>, %ids: tensor<?x?xi64>, %table: tensor<128x64xf32>) -> tensor<?x?x4x16xf32> {
  // CHECK: graph.shape %{{.*}} {end = 2 : i64} : (tensor<?x?x64xf32>) -> tensor<2xi64>
  %s = graph.shape %x {end = 2 : i64} : (tensor<?x?x64xf32>) -> tensor<2xi64>
  %heads = graph.constant dense<[4, 16]> : tensor<2xi64>
  %target = graph.concat %s, %heads {axis = 0 : i64} : (tensor<2xi64>, tensor<2xi64>) -> tensor<4xi64>
  // CHECK: graph.reshape {{.*}} -> tensor<?x?x4x16xf32>
  %r = graph.reshape %x, %target : (tensor<?x?x64xf32>, tensor<4xi64>) -> tensor<?x?x4x16xf32>
  // CHECK: graph.transpose %{{.*}} {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x16xf32>) -> tensor<?x4x?x16xf32>
  %t = graph.transpose %r {perm = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x16xf32>) -> tensor<?x4x?x16xf32>
  // CHECK: graph.gather {{.*}} -> tensor<?x?x64xf32>
  %g = graph.gather %table, %ids {axis = 0 : i64} : (tensor<128x64xf32>, tensor<?x?xi64>) -> tensor<?x?x64xf32>
  %zero = graph.constant dense<0> : tensor<i64>
  %one = graph.constant dense<1> : tensor<i64>
  %len = graph.constant dense<8> : tensor<i64>
  // CHECK: graph.range {{.*}} -> tensor<8xi64>
  %pos = graph.range %zero, %len, %one : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<8xi64>
  // CHECK: graph.unsqueeze %{{.*}} {axes = array<i64: 0>} : (tensor<8xi64>) -> tensor<1x8xi64>
  %u = graph.unsqueeze %pos {axes = array<i64: 0>} : (tensor<8xi64>) -> tensor<1x8xi64>
  // CHECK: graph.squeeze
  %q = graph.squeeze %u {axes = array<i64: 0>} : (tensor<1x8xi64>) -> tensor<8xi64>
  %starts = graph.constant dense<[0]> : tensor<1xi64>
  %ends = graph.constant dense<[4]> : tensor<1xi64>
  %axes = graph.constant dense<[1]> : tensor<1xi64>
  %steps = graph.constant dense<[1]> : tensor<1xi64>
  // CHECK: graph.slice {{.*}} -> tensor<?x4x64xf32>
  %sl = graph.slice %x, %starts, %ends, %axes, %steps : (tensor<?x?x64xf32>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<?x4x64xf32>
  // CHECK: graph.split %{{.*}} {axis = 2 : i64, sizes = array<i64: 32, 32>} : (tensor<?x?x64xf32>) -> (tensor<?x?x32xf32>, tensor<?x?x32xf32>)
  %p:2 = graph.split %x {axis = 2 : i64, sizes = array<i64: 32, 32>} : (tensor<?x?x64xf32>) -> (tensor<?x?x32xf32>, tensor<?x?x32xf32>)
  // CHECK: graph.constant_of_shape {{.*}} -> tensor<?x?xf32>
  %z = graph.constant_of_shape %s {value = dense<0.0> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<?x?xf32>
  // CHECK: graph.expand {{.*}} -> tensor<?x?x64xf32>
  %e = graph.expand %sl, %s : (tensor<?x4x64xf32>, tensor<2xi64>) -> tensor<?x?x64xf32>
  // CHECK: graph.trilu %{{.*}} {diagonal = 1 : i64, upper = true} : tensor<?x?xf32>
  %tri = graph.trilu %z {diagonal = 1 : i64, upper = true} : tensor<?x?xf32>
  %idx = graph.constant dense<[[0, 1]]> : tensor<1x2xi64>
  // CHECK: graph.gather_nd {{.*}} -> tensor<1xf32>
  %nd = graph.gather_nd %table, %idx {batch_dims = 0 : i64} : (tensor<128x64xf32>, tensor<1x2xi64>) -> tensor<1xf32>
  return %r : tensor<?x?x4x16xf32>
}

// CHECK-LABEL: func.func @fused
func.func @fused(%q: tensor<2x4x3x8xf32>, %k: tensor<2x2x5x8xf32>, %v: tensor<2x2x5x6xf32>, %bias: tensor<3x5xf32>, %x: tensor<2x3x8xf32>, %g: tensor<8xf32>) -> tensor<2x3x8xf32> {
  // CHECK: graph.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = true, scale = 5.000000e-01 : f64}
  %o:2 = graph.attention %q, %k, %v, %bias {causal = true, scale = 0.5 : f64} : (tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x6xf32>, tensor<3x5xf32>) -> (tensor<2x4x3x6xf32>, tensor<2x4x3xf32>)
  // CHECK: graph.attention_grad {{.*}} -> (tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x6xf32>)
  %d:3 = graph.attention_grad %q, %k, %v, %o#0, %o#1, %o#0, %bias {causal = true, scale = 0.5 : f64} : (tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x6xf32>, tensor<2x4x3x6xf32>, tensor<2x4x3xf32>, tensor<2x4x3x6xf32>, tensor<3x5xf32>) -> (tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x6xf32>)
  // CHECK: graph.attention %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}} {scale = 1.000000e+00 : f64}
  %u:2 = graph.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<2x4x3x8xf32>, tensor<2x2x5x8xf32>, tensor<2x2x5x6xf32>) -> (tensor<2x4x3x6xf32>, tensor<2x4x3xf32>)
  // CHECK: graph.rms_norm {{.*}} {axis = 2 : i64, epsilon = 9.9999999999999995E-7 : f64}
  %y = graph.rms_norm %x, %g {axis = 2 : i64, epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  // CHECK: graph.rms_norm_grad {{.*}} -> (tensor<2x3x8xf32>, tensor<8xf32>)
  %dx:2 = graph.rms_norm_grad %x, %g, %y {axis = -1 : i64, epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<2x3x8xf32>) -> (tensor<2x3x8xf32>, tensor<8xf32>)
  return %dx#0 : tensor<2x3x8xf32>
}

// CHECK-LABEL: func.func @dropout
// CHECK: graph.dropout %arg0 {ratio = 1.000000e-01 : f64, site = 2 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK: graph.dropout %arg0, %arg1 {ratio = 1.000000e-01 : f64, sequence_axis = 1 : i64, sequence_length = 8 : i64, site = 2 : i64} : (tensor<2x4xf32>, tensor<4xi64>) -> tensor<2x4xf32>
func.func @dropout(%x: tensor<2x4xf32>, %positions: tensor<4xi64>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %0 = graph.dropout %x {ratio = 0.1 : f64, site = 2 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  %1 = graph.dropout %x, %positions {ratio = 0.1 : f64, site = 2 : i64, sequence_axis = 1 : i64, sequence_length = 8 : i64} : (tensor<2x4xf32>, tensor<4xi64>) -> tensor<2x4xf32>
  return %0, %1 : tensor<2x4xf32>, tensor<2x4xf32>
}

// CHECK-LABEL: func.func @clipping_and_schedules
// CHECK: %[[N:.*]] = graph.global_norm %arg0, %arg1 : (tensor<2x3xf32>, tensor<4xf64>) -> tensor<f64>
// CHECK: %[[C:.*]] = graph.clip_coefficient %[[N]] {max_norm = 1.000000e+00 : f64} : tensor<f64>
// CHECK: %[[LR:.*]] = graph.lr_schedule %arg2 {kind = "cosine", learning_rate = 1.000000e-03 : f64, min_learning_rate = 0.000000e+00 : f64, total_steps = 100 : i64, warmup_steps = 10 : i64} : (tensor<i64>) -> tensor<f64>
// CHECK: graph.sgd_update %arg1, %arg1 lr %[[LR]] {learning_rate = 1.000000e-03 : f64, weight_decay = 0.000000e+00 : f64} : (tensor<4xf64>, tensor<4xf64>, tensor<f64>) -> tensor<4xf64>
func.func @clipping_and_schedules(%a: tensor<2x3xf32>, %b: tensor<4xf64>, %step: tensor<i64>) -> (tensor<f64>, tensor<4xf64>) {
  %n = graph.global_norm %a, %b : (tensor<2x3xf32>, tensor<4xf64>) -> tensor<f64>
  %c = graph.clip_coefficient %n {max_norm = 1.0 : f64} : tensor<f64>
  %lr = graph.lr_schedule %step {kind = "cosine", warmup_steps = 10 : i64, total_steps = 100 : i64, learning_rate = 1.0e-3 : f64, min_learning_rate = 0.0 : f64} : (tensor<i64>) -> tensor<f64>
  %p = graph.sgd_update %b, %b lr %lr {learning_rate = 1.0e-3 : f64, weight_decay = 0.0 : f64} : (tensor<4xf64>, tensor<4xf64>, tensor<f64>) -> tensor<4xf64>
  return %c, %p : tensor<f64>, tensor<4xf64>
}
