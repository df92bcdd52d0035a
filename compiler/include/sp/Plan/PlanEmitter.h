//===- PlanEmitter.h - writing a compiled module as a plan ------*- C++ -*-===//
//
// Lowers @main, after memory planning, to the runtime's plan
// (runtime/proto/plan.proto): one instruction per graph op in execution
// order, one tensor per value with its home (arena, state, constant), the
// bindings of inputs, outputs, loss and parameters, and the weights sidecar.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PLAN_PLANEMITTER_H
#define SP_PLAN_PLANEMITTER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include "sp/Dialect/Graph/IR/GraphAttributes.h"

#include <string>
#include <vector>

namespace sp::plan {
class Plan;
} // namespace sp::plan

namespace sp::planning {

/// What sequence parallelism leaves on the module for plan emission
/// (declared in GraphAttributes.h): the ranks it runs on (Plan.world_size, 1
/// when absent), the zigzag sequence layout (Plan.zigzag), and the dim along
/// which an input or output of @main is split among the ranks
/// (Binding.sharded and Binding.shard_axis).
using sp::graph::kNumRanksAttr;
using sp::graph::kShardAxisAttr;
using sp::graph::kZigzagAttr;

struct PlanEmitOptions {
  /// Recorded as the plan's producer, e.g. "sp-compile 0.1.0".
  std::string producer;
  /// The model file the plan was compiled from.
  std::string sourcePath;
  /// Ranks the plan was built for, where the module has no graph.num_ranks.
  int worldSize = 1;
};

/// Builds the plan of `module` in memory, and its sidecar bytes. Plans the
/// memory first when the module has no `plan.arena_bytes` (it then carries
/// the offsets afterwards). Emits one error and fails on a module a plan
/// cannot hold.
mlir::LogicalResult buildPlan(mlir::ModuleOp module, const PlanEmitOptions &options,
                              sp::plan::Plan &plan, std::vector<char> &sidecar);

/// Builds the plan of `module` and writes it to `path` and its weights to
/// `path + ".weights"`, atomically: a failure leaves any previous files in
/// place. Every failure is one error diagnostic.
mlir::LogicalResult emitPlan(mlir::ModuleOp module, const PlanEmitOptions &options,
                             llvm::StringRef path);

} // namespace sp::planning

#endif // SP_PLAN_PLANEMITTER_H
