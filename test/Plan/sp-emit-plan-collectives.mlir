// Plans of sequence-parallel modules: the module's rank count and layout, the
// sharded inputs and outputs, and collectives started and waited.
// RUN: rm -rf %t && mkdir -p %t
// RUN: sp-opt %s --sp-plan-memory --sp-emit-plan=output=%t/p.spplan | FileCheck %s --check-prefix=MEMORY
// RUN: sp-run %t/p.spplan --print-plan | FileCheck %s

// The started all_gather reads %x until its wait: %a, written meanwhile, must
// not take %x's bytes, although nothing else reads %x. The future takes
// arena bytes of its tensor's size, and the wait's result is a view of them.
// MEMORY-LABEL: func.func @main
// MEMORY-SAME: {graph.onnx_name = "x", graph.shard_axis = 1 : i64, plan.offset = [[X:[0-9]+]] : i64}
// MEMORY-SAME: {graph.onnx_name = "w", plan.offset = [[W:[0-9]+]] : i64}
// Every op gets its instruction id (sp/Plan/InstructionIds.h): no location
// names these ops, so they are named after @main and their kind, a start
// after its synchronous collective and a wait after its start.
// MEMORY: graph.all_gather_start %{{.*}} {axis = 1 : i64, num_ranks = 2 : i64, plan.id = "@main:all_gather", plan.offsets = array<i64: [[F:[0-9]+]]>, zigzag = true}
// MEMORY-NOT: plan.offsets = array<i64: [[X]]>
// MEMORY: graph.neg %{{.*}} {plan.id = "@main:neg"
// MEMORY: graph.wait %{{.*}} {plan.id = "@main:all_gather/wait", plan.offsets = array<i64: [[F]]>}
module attributes {graph.num_ranks = 2 : i64, graph.zigzag} {
  func.func @main(%x: tensor<2x4x8xf32> {graph.onnx_name = "x", graph.shard_axis = 1 : i64},
                  %w: tensor<2x4x8xf32> {graph.onnx_name = "w"})
      -> (tensor<2x4x8xf32> {graph.onnx_name = "y", graph.shard_axis = -2 : i64},
          tensor<2x8x8xf32> {graph.onnx_name = "whole"}) {
    %f = graph.all_gather_start %x {axis = 1 : i64, num_ranks = 2 : i64, zigzag = true} : (tensor<2x4x8xf32>) -> !graph.future<tensor<2x8x8xf32>>
    %a = graph.neg %w : tensor<2x4x8xf32>
    %b = graph.exp %a : tensor<2x4x8xf32>
    %g = graph.wait %f : !graph.future<tensor<2x8x8xf32>> -> tensor<2x8x8xf32>
    return %b, %g : tensor<2x4x8xf32>, tensor<2x8x8xf32>
  }
}

// CHECK: world_size: 2
// The future is a tensor of its value's type; the wait writes it in place.
// CHECK: name: "w"
// CHECK-NEXT: }
// CHECK-NEXT: tensors {
// CHECK-NEXT: dtype: F32
// CHECK-NEXT: shape: 2
// CHECK-NEXT: shape: 8
// CHECK-NEXT: shape: 8
// CHECK-NEXT: placement: ARENA
// CHECK: instructions {
// CHECK-NEXT: kernel: "all_gather_start"
// CHECK-NEXT: inputs: 0
// CHECK-NEXT: outputs: [[FUTURE:[0-9]+]]
// CHECK: key: "zigzag"
// CHECK-NEXT: value {
// CHECK-NEXT: b: true
// CHECK: id: "@main:all_gather"
// CHECK: kernel: "neg"
// CHECK: id: "@main:neg"
// CHECK: kernel: "exp"
// CHECK: kernel: "wait"
// CHECK-NEXT: inputs: [[FUTURE]]
// CHECK-NEXT: outputs: [[FUTURE]]
// CHECK-NEXT: id: "@main:all_gather/wait"
// CHECK-NEXT: }
// Sharded bindings name the dim, normalized; whole ones say nothing.
// CHECK: inputs {
// CHECK-NEXT: name: "x"
// CHECK-NEXT: sharded: true
// CHECK-NEXT: shard_axis: 1
// CHECK-NEXT: }
// CHECK-NEXT: inputs {
// CHECK-NEXT: name: "w"
// CHECK-NEXT: tensor: 1
// CHECK-NEXT: }
// CHECK-NEXT: outputs {
// CHECK-NEXT: name: "y"
// CHECK-NEXT: tensor: {{[0-9]+}}
// CHECK-NEXT: sharded: true
// CHECK-NEXT: shard_axis: 1
// CHECK-NEXT: }
// CHECK-NEXT: outputs {
// CHECK-NEXT: name: "whole"
// CHECK-NEXT: tensor: [[FUTURE]]
// CHECK-NEXT: }
// CHECK: zigzag: true
