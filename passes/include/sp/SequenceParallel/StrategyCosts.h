//===- StrategyCosts.h - what each attention strategy costs a rank -*- C++ -*-===//
//
// The predictions `--sp-strategy=auto` chooses by and `--report` prints:
// for every way of splitting a step's attentions over N ranks, the seconds
// one rank spends in them per step (compute plus the communication that
// compute does not hide), the bytes it sends, and the bytes of keys and
// values (and re-laid-out queries and outputs) it holds beyond its shards.
// They read plain sizes, not IR, so that a table of predictions for
// machines and lengths no model was compiled for comes from the same code.
//
//===----------------------------------------------------------------------===//

#ifndef SP_SEQUENCEPARALLEL_STRATEGYCOSTS_H
#define SP_SEQUENCEPARALLEL_STRATEGYCOSTS_H

#include "sp/Scheduling/CostModel.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <string>

namespace sp::sequence_parallel {

/// One attention of the step, unsplit: the whole sequence on one rank.
struct AttentionSize {
  double queryBytes = 0, keyValueBytes = 0, outputBytes = 0;
  int64_t queryHeads = 1, keyValueHeads = 1;
  /// FLOPs of its forward pass (scheduling::CostModel::estimateFlops); the
  /// backward pass takes 2.5 times as many.
  double forwardFlops = 0;
};

/// The attentions of @main over a sequence of `sequenceLength` positions.
llvm::SmallVector<AttentionSize> collectAttentionSizes(mlir::ModuleOp module,
                                                       int64_t sequenceLength);

/// A way of splitting attention: all-gather of K and V, or `ulyssesDegree`
/// ranks exchanging heads by all-to-all and a ring across the N / U groups
/// (U = N is Ulysses, U = 1 the ring, anything between the hybrid).
struct AttentionLayout {
  bool allGather = false;
  int64_t ulyssesDegree = 1;
  /// "allgather", "ulysses", "ring" or "hybrid U=2 x ring 4" for N ranks.
  std::string describe(int64_t numRanks) const;
};

/// Per rank and step, forward and backward, summed over the attentions.
struct StrategyPrediction {
  AttentionLayout layout;
  /// Why the layout cannot split some attention; empty when it can.
  std::string impossible;
  uint64_t bytesSent = 0;
  int64_t collectives = 0;
  double computeSeconds = 0, linkSeconds = 0, exposedSeconds = 0;
  /// The most bytes one attention holds beyond the rank's own shards: the
  /// gathered K/V (allgather), the head-split copies (all-to-all), the
  /// blocks in flight and their gradient accumulators (ring).
  uint64_t heldBytes = 0;
  double seconds() const { return computeSeconds + exposedSeconds; }
};

/// The links each level of a layout runs over: the all-to-all inside a
/// group of U ranks, and the ring (or the all-gather) across them.
struct LinkModels {
  const scheduling::CostModel &inner;
  const scheduling::CostModel &outer;
};

/// The prediction for `layout` over `numRanks` ranks. The ring's zigzag
/// needs the sequence in 2 x (its ranks) chunks, Ulysses query heads its
/// degree divides.
StrategyPrediction predictAttention(llvm::ArrayRef<AttentionSize> attentions,
                                    int64_t sequenceLength, int64_t numRanks,
                                    const AttentionLayout &layout, const LinkModels &links);

/// The best of `predictions` that is possible: the least predicted time,
/// then the least memory held, then the first.
const StrategyPrediction *chooseBest(llvm::ArrayRef<StrategyPrediction> predictions);

} // namespace sp::sequence_parallel

#endif // SP_SEQUENCEPARALLEL_STRATEGYCOSTS_H
