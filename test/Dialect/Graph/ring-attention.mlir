// RUN: sp-opt %s --split-input-file --verify-diagnostics | FileCheck %s
// RUN: sp-opt %s --split-input-file --verify-diagnostics | sp-opt --split-input-file --verify-diagnostics | FileCheck %s

// Grouped-query ring attention of a rank's 4 queries on 2 ranks, with a bias
// whose key columns span the whole sequence (8), and its gradient.
// CHECK-LABEL: func.func @ring
func.func @ring(%q: tensor<2x4x4x8xf32>, %kv: tensor<2x2x4x8xf32>, %bias: tensor<4x8xf32>,
                %rows: tensor<4x1xf32>) {
  // CHECK: graph.ring_attention %{{.*}}, %{{.*}}, %{{.*}} {causal = true, num_ranks = 2 : i64, scale = 1.250000e-01 : f64, zigzag = true} : (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  %o, %l = graph.ring_attention %q, %kv, %kv {scale = 0.125 : f64, causal = true, num_ranks = 2 : i64, zigzag = true} : (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  // CHECK: graph.ring_attention {{.*}}, %{{.*}} {num_ranks = 2 : i64, scale = 1.250000e-01 : f64} : ({{.*}}, tensor<4x8xf32>) ->
  %o2, %l2 = graph.ring_attention %q, %kv, %kv, %bias {scale = 0.125 : f64, num_ranks = 2 : i64} : (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  // CHECK: graph.ring_attention {{.*}} : ({{.*}}, tensor<4x1xf32>) ->
  %o3, %l3 = graph.ring_attention %q, %kv, %kv, %rows {scale = 0.125 : f64, num_ranks = 2 : i64} : (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<4x1xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x4x4xf32>)
  // CHECK: graph.ring_attention_grad {{.*}} -> (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>)
  %dq, %dk, %dv = graph.ring_attention_grad %q, %kv, %kv, %o, %l, %o, %l, %bias {scale = 0.125 : f64, causal = true, num_ranks = 2 : i64} : (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4xf32>, tensor<4x8xf32>) -> (tensor<2x4x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>)
  return
}

// -----

func.func @bias_columns(%q: tensor<1x1x4x8xf32>, %bias: tensor<4x4xf32>) {
  // expected-error @+2 {{ring_attention bias of type 'tensor<4x4xf32>' does not broadcast to the scores of the rank's 4 queries on the whole sequence's 8 keys}}
  // expected-error @+1 {{failed to infer returned types}}
  %o, %l = graph.ring_attention %q, %q, %q, %bias {scale = 0.125 : f64, num_ranks = 2 : i64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<4x4xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  return
}

// -----

func.func @ranks(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+2 {{ring_attention needs num_ranks >= 1, got 0}}
  // expected-error @+1 {{failed to infer returned types}}
  %o, %l = graph.ring_attention %q, %q, %q {scale = 0.125 : f64, num_ranks = 0 : i64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  return
}

// -----

func.func @groups(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{'graph.ring_attention' op group_size 0 must be at least 1}}
  %o, %l = graph.ring_attention %q, %q, %q {scale = 0.125 : f64, num_ranks = 2 : i64, group_size = 0 : i64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  return
}

// -----

func.func @lse_grad(%q: tensor<1x1x4x8xf32>, %o: tensor<1x1x4x8xf32>, %l: tensor<1x1x4xf32>, %bad: tensor<1x1x5xf32>) {
  // expected-error @+2 {{ring_attention_grad logsumexp gradient has type 'tensor<1x1x5xf32>', the forward op's is 'tensor<1x1x4xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %dq, %dk, %dv = graph.ring_attention_grad %q, %q, %q, %o, %l, %o, %bad {scale = 0.125 : f64, num_ranks = 2 : i64} : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>, tensor<1x1x4x8xf32>, tensor<1x1x5xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
  return
}
