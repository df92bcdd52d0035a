//===- StrategyCosts.cpp - what each attention strategy costs a rank ------===//
//
// Per attention, forward and backward (whose collectives mirror the forward
// ones, and whose compute is 2.5 times the forward's):
//
//   allgather  gathers K and V, gathers them again for the backward pass
//              (sp-regather-for-backward) and reduce-scatters dK and dV: six
//              collectives the attention waits for, nothing to hide them
//              behind. Holds the whole K/V and, backward, the whole dK/dV.
//   all-to-all q, k, v (key/value heads repeated up to the degree) and the
//              output cross the group once each way, forward and backward:
//              eight collectives, exposed as allgather's. Holds head-split
//              copies of them and, backward, of their gradients.
//   ring       R steps of the rank's share of the attention; each step's
//              block travels while the previous one computes, so a step
//              exposes only what its transfer takes beyond its compute.
//              The backward ring carries the block and its dK/dV
//              accumulator each step, and one last shift of the
//              accumulator. Holds two blocks and two accumulators.
//
//===----------------------------------------------------------------------===//

#include "sp/SequenceParallel/StrategyCosts.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <numeric>

using namespace mlir;
namespace graph = sp::graph;

namespace sp::sequence_parallel {

namespace {

double bytesOf(Type type) {
  auto tensor = llvm::cast<RankedTensorType>(type);
  int64_t bits = std::max<int64_t>(tensor.getElementTypeBitWidth(), 8);
  return double(tensor.getNumElements()) * double(bits / 8);
}

/// The backward pass's FLOPs for each forward one (CostModel's ratio).
constexpr double kBackwardFlopsRatio = 2.5;

/// Times the key/value heads are repeated so that `degree` ranks split them.
int64_t keyValueRepeat(int64_t keyValueHeads, int64_t degree) {
  return keyValueHeads % degree == 0 ? 1 : degree / std::gcd(keyValueHeads, degree);
}

} // namespace

SmallVector<AttentionSize> collectAttentionSizes(ModuleOp module, int64_t sequenceLength) {
  SmallVector<AttentionSize> sizes;
  module.walk([&](graph::AttentionOp op) {
    RankedTensorType query = op.getQuery().getType();
    int64_t rank = query.getRank();
    if (!query.hasStaticShape() || query.getDimSize(rank - 2) != sequenceLength)
      return;
    auto key = llvm::cast<RankedTensorType>(op.getKey().getType());
    AttentionSize size;
    size.queryBytes = bytesOf(query);
    size.keyValueBytes = bytesOf(key) + bytesOf(op.getValue().getType());
    size.outputBytes = bytesOf(op.getOutput().getType());
    size.queryHeads = rank >= 3 ? query.getDimSize(rank - 3) : 1;
    size.keyValueHeads = rank >= 3 ? key.getDimSize(rank - 3) : 1;
    size.forwardFlops = scheduling::CostModel::estimateFlops(op);
    sizes.push_back(size);
  });
  return sizes;
}

std::string AttentionLayout::describe(int64_t numRanks) const {
  if (allGather)
    return "allgather";
  if (ulyssesDegree == numRanks)
    return "ulysses";
  if (ulyssesDegree == 1)
    return "ring";
  return llvm::formatv("hybrid ulysses {0} x ring {1}", ulyssesDegree, numRanks / ulyssesDegree);
}

StrategyPrediction predictAttention(ArrayRef<AttentionSize> attentions, int64_t sequenceLength,
                                    int64_t numRanks, const AttentionLayout &layout,
                                    const LinkModels &links) {
  StrategyPrediction prediction;
  prediction.layout = layout;
  double ranks = double(numRanks);
  int64_t degree = layout.allGather ? 1 : layout.ulyssesDegree;
  int64_t ringRanks = layout.allGather ? 1 : numRanks / degree;
  if (!layout.allGather && (degree < 1 || numRanks % degree != 0)) {
    prediction.impossible = llvm::formatv("its degree {0} does not divide {1} ranks", degree,
                                          numRanks);
    return prediction;
  }
  if (ringRanks > 1 && sequenceLength % (2 * numRanks) != 0) {
    prediction.impossible =
        llvm::formatv("the ring's zigzag layout needs the sequence of {0} in {1} equal chunks",
                      sequenceLength, 2 * numRanks);
    return prediction;
  }
  for (const AttentionSize &attention : attentions) {
    double forwardSeconds = attention.forwardFlops / ranks / links.outer.flopsPerSecond;
    prediction.computeSeconds += (1.0 + kBackwardFlopsRatio) * forwardSeconds;
    double keyValueShard = attention.keyValueBytes / ranks;
    uint64_t held = 0;
    if (layout.allGather) {
      double sent = 3.0 * (ranks - 1.0) * keyValueShard;
      double seconds = links.outer.estimateCommunicationSeconds(uint64_t(sent), 6 * (numRanks - 1));
      prediction.bytesSent += uint64_t(sent);
      prediction.collectives += 6;
      prediction.linkSeconds += seconds;
      prediction.exposedSeconds += seconds;
      prediction.heldBytes = std::max(prediction.heldBytes, uint64_t(2.0 * attention.keyValueBytes));
      continue;
    }
    if (attention.queryHeads % degree != 0) {
      prediction.impossible =
          llvm::formatv("{0} query heads do not split across {1} ranks", attention.queryHeads,
                        degree);
      return prediction;
    }
    double repeat = double(keyValueRepeat(attention.keyValueHeads, degree));
    if (degree > 1) {
      double moved =
          (attention.queryBytes + repeat * attention.keyValueBytes + attention.outputBytes) / ranks;
      double sent = 2.0 * double(degree - 1) / double(degree) * moved;
      double seconds = links.inner.estimateCommunicationSeconds(uint64_t(sent), 8 * (degree - 1));
      prediction.bytesSent += uint64_t(sent);
      prediction.collectives += 8;
      prediction.linkSeconds += seconds;
      prediction.exposedSeconds += seconds;
      held += uint64_t(2.0 * moved);
    }
    if (ringRanks > 1) {
      double block = repeat * keyValueShard;
      double steps = double(ringRanks - 1);
      double forwardStep = forwardSeconds / double(ringRanks);
      double backwardStep = kBackwardFlopsRatio * forwardStep;
      double shift = links.outer.estimateCommunicationSeconds(uint64_t(block), 1);
      double shiftBoth = links.outer.estimateCommunicationSeconds(uint64_t(2.0 * block), 2);
      prediction.bytesSent += uint64_t((3.0 * steps + 1.0) * block);
      prediction.collectives += 2;
      prediction.linkSeconds += steps * (shift + shiftBoth) + shift;
      prediction.exposedSeconds += steps * (std::max(0.0, shift - forwardStep) +
                                            std::max(0.0, shiftBoth - backwardStep)) +
                                   shift;
      held += uint64_t(4.0 * block);
    }
    prediction.heldBytes = std::max(prediction.heldBytes, held);
  }
  return prediction;
}

const StrategyPrediction *chooseBest(ArrayRef<StrategyPrediction> predictions) {
  const StrategyPrediction *best = nullptr;
  for (const StrategyPrediction &prediction : predictions) {
    if (!prediction.impossible.empty())
      continue;
    if (!best || prediction.seconds() < best->seconds() ||
        (prediction.seconds() == best->seconds() && prediction.heldBytes < best->heldBytes))
      best = &prediction;
  }
  return best;
}

} // namespace sp::sequence_parallel
