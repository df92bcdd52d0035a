// RUN: sp-opt %s --split-input-file --verify-diagnostics | FileCheck %s
// RUN: sp-opt %s --split-input-file --verify-diagnostics | sp-opt --split-input-file --verify-diagnostics | FileCheck %s

// Result shapes of the collectives across 4 ranks, synchronous and started.
// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<2x8x4xf32>, %full: tensor<2x32x4xf32>) {
  // CHECK: graph.all_gather %{{.*}} {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x32x4xf32>
  %0 = graph.all_gather %x {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x32x4xf32>
  // CHECK: graph.reduce_scatter %{{.*}} {axis = 1 : i64, num_ranks = 4 : i64, zigzag = true} : (tensor<2x32x4xf32>) -> tensor<2x8x4xf32>
  %1 = graph.reduce_scatter %full {axis = 1 : i64, num_ranks = 4 : i64, zigzag = true} : (tensor<2x32x4xf32>) -> tensor<2x8x4xf32>
  // CHECK: graph.all_reduce %{{.*}} {num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  %2 = graph.all_reduce %x {num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  // CHECK: graph.all_to_all %{{.*}} {concat_axis = 1 : i64, num_ranks = 4 : i64, split_axis = 2 : i64} : (tensor<2x8x4xf32>) -> tensor<2x32x1xf32>
  %3 = graph.all_to_all %x {split_axis = 2 : i64, concat_axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x32x1xf32>
  // CHECK: graph.ring_shift %{{.*}} {num_ranks = 4 : i64, offset = -1 : i64}
  %4 = graph.ring_shift %x {offset = -1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  // CHECK: graph.shard_slice %{{.*}} -> tensor<2x8x4xf32>
  %5 = graph.shard_slice %full {axis = -2 : i64, num_ranks = 4 : i64} : (tensor<2x32x4xf32>) -> tensor<2x8x4xf32>
  // CHECK: graph.shard_unslice %{{.*}} -> tensor<2x32x4xf32>
  %6 = graph.shard_unslice %x {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> tensor<2x32x4xf32>
  // CHECK: %[[F:.*]] = graph.all_gather_start %{{.*}} : (tensor<2x8x4xf32>) -> !graph.future<tensor<2x32x4xf32>>
  %f = graph.all_gather_start %x {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> !graph.future<tensor<2x32x4xf32>>
  // CHECK: graph.wait %[[F]] : !graph.future<tensor<2x32x4xf32>> -> tensor<2x32x4xf32>
  %7 = graph.wait %f : !graph.future<tensor<2x32x4xf32>> -> tensor<2x32x4xf32>
  %g = graph.reduce_scatter_start %full {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x32x4xf32>) -> !graph.future<tensor<2x8x4xf32>>
  %8 = graph.wait %g : !graph.future<tensor<2x8x4xf32>> -> tensor<2x8x4xf32>
  %h = graph.all_reduce_start %x {num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> !graph.future<tensor<2x8x4xf32>>
  %9 = graph.wait %h : !graph.future<tensor<2x8x4xf32>> -> tensor<2x8x4xf32>
  %i = graph.all_to_all_start %x {split_axis = 2 : i64, concat_axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> !graph.future<tensor<2x32x1xf32>>
  %10 = graph.wait %i : !graph.future<tensor<2x32x1xf32>> -> tensor<2x32x1xf32>
  %j = graph.ring_shift_start %x {offset = 1 : i64, num_ranks = 4 : i64} : (tensor<2x8x4xf32>) -> !graph.future<tensor<2x8x4xf32>>
  %11 = graph.wait %j : !graph.future<tensor<2x8x4xf32>> -> tensor<2x8x4xf32>
  return
}

// -----

func.func @uneven(%x: tensor<2x30x4xf32>) -> tensor<2x7x4xf32> {
  // expected-error @below {{dim 1 of size 30 does not split into 4 equal parts}}
  %0 = graph.reduce_scatter %x {axis = 1 : i64, num_ranks = 4 : i64} : (tensor<2x30x4xf32>) -> tensor<2x7x4xf32>
  return %0 : tensor<2x7x4xf32>
}

// -----

func.func @axis(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @below {{axis 2 is out of range for rank 2}}
  %0 = graph.all_gather %x {axis = 2 : i64, num_ranks = 2 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @wait_type(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %f = graph.all_gather_start %x {axis = 1 : i64, num_ranks = 2 : i64} : (tensor<2x8xf32>) -> !graph.future<tensor<2x16xf32>>
  // expected-error @below {{result type 'tensor<2x8xf32>' differs from the future's 'tensor<2x16xf32>'}}
  %0 = graph.wait %f : !graph.future<tensor<2x16xf32>> -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @ranks(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @below {{num_ranks 0 must be positive}}
  %0 = graph.all_reduce %x {num_ranks = 0 : i64} : (tensor<2x8xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}
