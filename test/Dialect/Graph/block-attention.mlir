// RUN: sp-opt %s --split-input-file --verify-diagnostics | FileCheck %s
// RUN: sp-opt %s --split-input-file --verify-diagnostics | sp-opt --split-input-file --verify-diagnostics | FileCheck %s

// Grouped-query block attention of 4 queries on 8 keys, with and without a
// bias, and its gradient.
// CHECK-LABEL: func.func @block
func.func @block(%q: tensor<2x4x4x8xf32>, %kv: tensor<2x2x8x8xf32>, %qpos: tensor<4xi64>,
                 %kpos: tensor<8xi64>, %bias: tensor<4x8xf32>) {
  // CHECK: graph.block_attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {causal = true, scale = 1.250000e-01 : f64} : (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<4xi64>, tensor<8xi64>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  %o, %l = graph.block_attention %q, %kv, %kv, %qpos, %kpos {scale = 0.125 : f64, causal = true} : (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<4xi64>, tensor<8xi64>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  // CHECK: graph.block_attention {{.*}}, %{{.*}} {scale = 1.250000e-01 : f64} : ({{.*}}, tensor<4x8xf32>) ->
  %o2, %l2 = graph.block_attention %q, %kv, %kv, %qpos, %kpos, %bias {scale = 0.125 : f64} : (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<4xi64>, tensor<8xi64>, tensor<4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  // CHECK: graph.block_attention_grad {{.*}} -> (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>)
  %dq, %dk, %dv = graph.block_attention_grad %q, %kv, %kv, %qpos, %kpos, %o, %l, %o, %l {scale = 0.125 : f64, causal = true} : (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<4xi64>, tensor<8xi64>, tensor<2x4x4x8xf32>, tensor<2x4x4xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>)
  return
}

// -----

func.func @positions(%q: tensor<1x1x4x8xf32>, %qpos: tensor<4xi64>, %kpos: tensor<3xi64>) {
  // expected-error @+2 {{block_attention has 4 keys but 3 key positions}}
  // expected-error @+1 {{failed to infer returned types}}
  %o, %l = graph.block_attention %q, %q, %q, %qpos, %kpos {scale = 0.125 : f64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<4xi64>, tensor<3xi64>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  return
}

// -----

func.func @heads(%q: tensor<1x3x4x8xf32>, %kv: tensor<1x2x4x8xf32>, %pos: tensor<4xi64>) {
  // expected-error @+2 {{query heads must be a multiple of key/value heads}}
  // expected-error @+1 {{failed to infer returned types}}
  %o, %l = graph.block_attention %q, %kv, %kv, %pos, %pos {scale = 0.125 : f64} : (tensor<1x3x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<4xi64>, tensor<4xi64>) -> (tensor<1x3x4x8xf32>, tensor<1x3x4xf32>)
  return
}

// -----

func.func @lse_grad(%q: tensor<1x1x4x8xf32>, %pos: tensor<4xi64>, %o: tensor<1x1x4x8xf32>, %l: tensor<1x1x4xf32>, %bad: tensor<1x1x5xf32>) {
  // expected-error @+2 {{block_attention_grad logsumexp gradient has type 'tensor<1x1x5xf32>', the forward op's is 'tensor<1x1x4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %dq, %dk, %dv = graph.block_attention_grad %q, %q, %q, %pos, %pos, %o, %l, %o, %bad {scale = 0.125 : f64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<4xi64>, tensor<4xi64>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>, tensor<1x1x4x8xf32>, tensor<1x1x5xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
  return
}
