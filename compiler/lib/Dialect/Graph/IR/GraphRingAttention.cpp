//===- GraphRingAttention.cpp - attention around a ring of ranks ----------===//

#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;

namespace sp::graph {

template <typename RingOp> static LogicalResult verifyRing(RingOp op) {
  if (op.getGroupSize() < 1)
    return op.emitOpError() << "group_size " << op.getGroupSize() << " must be at least 1";
  return verifyAttentionMasks(op);
}

LogicalResult RingAttentionOp::verify() { return verifyRing(*this); }
LogicalResult RingAttentionGradOp::verify() { return verifyRing(*this); }

/// The types of ring attention's output and logsumexp: attention's, after
/// checking the ring's bias, whose key columns span the whole sequence
/// (`numRanks` blocks of keys) rather than the rank's block.
static LogicalResult inferRingAttentionTypes(std::optional<Location> location, StringRef name,
                                             Value query, Value key, Value value, Value bias,
                                             int64_t numRanks, SmallVectorImpl<Type> &types) {
  if (numRanks < 1)
    return emitOptionalError(location, name, " needs num_ranks >= 1, got ", numRanks);
  if (failed(inferAttentionTypes(location, query, key, value, Value(), types)))
    return failure();
  if (!bias)
    return success();
  auto queryType = llvm::cast<RankedTensorType>(query.getType());
  auto keyType = llvm::cast<RankedTensorType>(key.getType());
  auto biasType = llvm::cast<RankedTensorType>(bias.getType());
  int64_t rank = queryType.getRank(), biasRank = biasType.getRank();
  int64_t queries = queryType.getDimSize(rank - 2), keys = keyType.getDimSize(rank - 2);
  int64_t wholeKeys = ShapedType::isDynamic(keys) ? keys : keys * numRanks;
  auto fits = [](int64_t dim, int64_t expected) {
    return dim == 1 || ShapedType::isDynamic(dim) || ShapedType::isDynamic(expected) ||
           dim == expected;
  };
  bool leadFits = biasRank <= rank;
  for (int64_t d = 0; leadFits && d + 2 < biasRank; ++d)
    leadFits = fits(biasType.getDimSize(d), queryType.getDimSize(rank - biasRank + d));
  if (biasType.getElementType() != queryType.getElementType() || biasRank < 2 || !leadFits ||
      !fits(biasType.getDimSize(biasRank - 2), queries) ||
      !fits(biasType.getDimSize(biasRank - 1), wholeKeys))
    return emitOptionalError(location, name, " bias of type ", biasType,
                             " does not broadcast to the scores of the rank's ", queries,
                             " queries on the whole sequence's ", wholeKeys, " keys");
  return success();
}

LogicalResult RingAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location> location,
                                                Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferRingAttentionTypes(location, "ring_attention", adaptor.getQuery(), adaptor.getKey(),
                                 adaptor.getValue(), adaptor.getBias(), adaptor.getNumRanks(),
                                 types);
}

LogicalResult RingAttentionGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> location,
                                                    Adaptor adaptor, SmallVectorImpl<Type> &types) {
  SmallVector<Type> forward;
  if (failed(inferRingAttentionTypes(location, "ring_attention_grad", adaptor.getQuery(),
                                     adaptor.getKey(), adaptor.getValue(), adaptor.getBias(),
                                     adaptor.getNumRanks(), forward)))
    return failure();
  return inferAttentionGradTypes(location, "ring_attention_grad", forward, adaptor.getQuery(),
                                 adaptor.getKey(), adaptor.getValue(), adaptor.getOutput(),
                                 adaptor.getOutputGrad(), adaptor.getLogsumexp(),
                                 adaptor.getLogsumexpGrad(), types);
}

} // namespace sp::graph
