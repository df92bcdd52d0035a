//===- GraphBlockAttention.cpp - attention over sequence blocks -----------===//

#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;

namespace sp::graph {

LogicalResult BlockAttentionOp::verify() { return verifyAttentionMasks(*this); }
LogicalResult BlockAttentionGradOp::verify() { return verifyAttentionMasks(*this); }


/// Checks that the position operands have one entry per query and per key.
static LogicalResult checkPositions(std::optional<Location> location, Value query, Value key,
                                    Value queryPositions, Value keyPositions) {
  auto length = [](Value value, int64_t fromEnd) {
    auto type = llvm::cast<RankedTensorType>(value.getType());
    return type.getDimSize(type.getRank() - fromEnd);
  };
  auto check = [&](Value positions, int64_t expected, StringRef role) -> LogicalResult {
    int64_t actual = llvm::cast<RankedTensorType>(positions.getType()).getDimSize(0);
    if (ShapedType::isDynamic(actual) || ShapedType::isDynamic(expected) || actual == expected)
      return success();
    return emitOptionalError(location, "block_attention has ", expected, " ", role, "s but ",
                             actual, " ", role, " positions");
  };
  if (llvm::cast<RankedTensorType>(query.getType()).getRank() < 3 ||
      llvm::cast<RankedTensorType>(key.getType()).getRank() < 3)
    return success(); // inferAttentionTypes reports the rank.
  return failure(failed(check(queryPositions, length(query, 2), "query")) ||
                 failed(check(keyPositions, length(key, 2), "key")));
}

LogicalResult BlockAttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location> location,
                                                 Adaptor adaptor, SmallVectorImpl<Type> &types) {
  if (failed(inferAttentionTypes(location, adaptor.getQuery(), adaptor.getKey(), adaptor.getValue(),
                                 adaptor.getBias(), types)))
    return failure();
  return checkPositions(location, adaptor.getQuery(), adaptor.getKey(), adaptor.getQueryPositions(),
                        adaptor.getKeyPositions());
}

LogicalResult BlockAttentionGradOp::inferReturnTypes(MLIRContext *,
                                                     std::optional<Location> location,
                                                     Adaptor adaptor,
                                                     SmallVectorImpl<Type> &types) {
  SmallVector<Type> forward;
  if (failed(inferAttentionTypes(location, adaptor.getQuery(), adaptor.getKey(), adaptor.getValue(),
                                 adaptor.getBias(), forward)) ||
      failed(checkPositions(location, adaptor.getQuery(), adaptor.getKey(),
                            adaptor.getQueryPositions(), adaptor.getKeyPositions())))
    return failure();
  return inferAttentionGradTypes(location, "block_attention_grad", forward, adaptor.getQuery(),
                                 adaptor.getKey(), adaptor.getValue(), adaptor.getOutput(),
                                 adaptor.getOutputGrad(), adaptor.getLogsumexp(),
                                 adaptor.getLogsumexpGrad(), types);
}

} // namespace sp::graph
