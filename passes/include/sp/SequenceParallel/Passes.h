//===- Passes.h - sequence-parallel training steps ----------------*- C++ -*-===//

#ifndef SP_SEQUENCEPARALLEL_PASSES_H
#define SP_SEQUENCEPARALLEL_PASSES_H

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/SequenceParallel/ShardingAttributes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace sp::sequence_parallel {

#define GEN_PASS_DECL
#include "sp/SequenceParallel/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/SequenceParallel/Passes.h.inc"

/// What the collectives of one kind in @main move per step.
struct CollectiveTraffic {
  std::string kind;  // the op name without "graph.", e.g. "all_gather"
  int64_t count = 0; // ops of that kind (synchronous and started)
  /// Bytes one rank sends per step (ring algorithms; all_reduce counts its
  /// reduce-scatter and all-gather halves).
  uint64_t bytesSent = 0;
};

/// The collectives of @main, one entry per kind present, in a fixed order.
llvm::SmallVector<CollectiveTraffic> measureCollectiveTraffic(mlir::ModuleOp module);

} // namespace sp::sequence_parallel

#endif // SP_SEQUENCEPARALLEL_PASSES_H
