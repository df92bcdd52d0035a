//===- CollectiveGradientRules.cpp - gradients of the sequence-parallel ops ===//
//
// A collective is linear, and its gradient is its transpose (the adjoint of
// the data movement): all_gather <-> reduce_scatter, all_reduce and
// all_to_all (axes swapped) are their own kind, ring_shift by k goes back by
// -k, shard_slice <-> shard_unslice. This holds under the SP gradient
// convention: a rank's cotangent of a replicated value is its part of a sum
// over ranks, which is why all_gather's transpose sums (reduce_scatter) and
// shard_slice's does not communicate at all.
//
// block_attention, which the attention strategies build, differentiates
// like attention but also through its logsumexp, since the ring merges
// blocks by it.
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/GradientOpInterface.h"

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;
using namespace sp::graph;

namespace sp::autodiff {
namespace {

using Grads = SmallVectorImpl<Value>;

SmallVector<NamedAttribute> axisAttributes(GradientBuilder &b, int64_t axis, int64_t numRanks,
                                           bool zigzag) {
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
      b.getNamedAttr("num_ranks", b.getI64IntegerAttr(numRanks))};
  if (zigzag)
    attributes.push_back(b.getNamedAttr("zigzag", b.getBoolAttr(true)));
  return attributes;
}

/// The transpose of an op that moves along `axis`: OpTy on the result's
/// gradient with the same axis, ranks and layout.
template <typename TransposeOp, typename OpTy>
LogicalResult axisTranspose(OpTy op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<TransposeOp>(
        {dys[0]}, axisAttributes(b, op.getAxis(), op.getNumRanks(), op.getZigzag()));
  return success();
}

LogicalResult gradient(AllGatherOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return axisTranspose<ReduceScatterOp>(op, b, dys, dxs);
}
LogicalResult gradient(ReduceScatterOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return axisTranspose<AllGatherOp>(op, b, dys, dxs);
}
LogicalResult gradient(ShardSliceOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return axisTranspose<ShardUnsliceOp>(op, b, dys, dxs);
}
LogicalResult gradient(ShardUnsliceOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return axisTranspose<ShardSliceOp>(op, b, dys, dxs);
}

LogicalResult gradient(AllReduceOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<AllReduceOp>(
        {dys[0]}, {b.getNamedAttr("num_ranks", b.getI64IntegerAttr(op.getNumRanks()))});
  return success();
}

LogicalResult gradient(AllToAllOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (!b.needsGradient(op.getInput()))
    return success();
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("split_axis", b.getI64IntegerAttr(op.getConcatAxis())),
      b.getNamedAttr("concat_axis", b.getI64IntegerAttr(op.getSplitAxis())),
      b.getNamedAttr("num_ranks", b.getI64IntegerAttr(op.getNumRanks()))};
  // The same dim holds the sequence, whichever way the exchange goes.
  if (op.getZigzagAxis())
    attributes.push_back(b.getNamedAttr("zigzag_axis", op.getZigzagAxisAttr()));
  if (op.getNumGroups() != 1)
    attributes.push_back(b.getNamedAttr("num_groups", op.getNumGroupsAttr()));
  dxs[0] = b.build<AllToAllOp>({dys[0]}, attributes);
  return success();
}

LogicalResult gradient(RingShiftOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<RingShiftOp>(
        {dys[0]}, {b.getNamedAttr("offset", b.getI64IntegerAttr(-op.getOffset())),
                   b.getNamedAttr("num_ranks", b.getI64IntegerAttr(op.getNumRanks()))});
  return success();
}

LogicalResult gradient(BlockAttentionOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (Value bias = op.getBias(); bias && b.needsGradient(bias))
    return op.emitOpError("bias depends on a trainable parameter, and block_attention_grad "
                          "gives the bias no gradient");
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  if (!b.needsGradient(query) && !b.needsGradient(key) && !b.needsGradient(value))
    return success();
  // A result nobody differentiates contributes nothing.
  Value outputGrad = dys[0] ? dys[0] : b.zeros(op.getOutput().getType());
  Value logsumexpGrad = dys[1] ? dys[1] : b.zeros(op.getLogsumexp().getType());
  SmallVector<Value> operands = {query,
                                 key,
                                 value,
                                 op.getQueryPositions(),
                                 op.getKeyPositions(),
                                 op.getOutput(),
                                 op.getLogsumexp(),
                                 outputGrad,
                                 logsumexpGrad};
  if (Value bias = op.getBias())
    operands.push_back(bias);
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("scale", op.getScaleAttr()),
      b.getNamedAttr("causal", b.getBoolAttr(op.getCausal()))};
  attributes.append(getAttentionMaskAttributes(op));
  return b.buildQueryKeyValueGrads(op, BlockAttentionGradOp::getOperationName(), operands, attributes,
                                   dxs);
}

template <typename OpTy>
struct CollectiveRuleModel
    : public GradientOpInterface::ExternalModel<CollectiveRuleModel<OpTy>, OpTy> {
  LogicalResult buildGradient(Operation *op, GradientBuilder &builder, ArrayRef<Value> resultGrads,
                              Grads &operandGrads) const {
    return gradient(llvm::cast<OpTy>(op), builder, resultGrads, operandGrads);
  }
};

/// The labels' shift moves token ids: no gradient.
struct ShiftModel : public GradientOpInterface::ExternalModel<ShiftModel, ShiftOp> {
  LogicalResult buildGradient(Operation *, GradientBuilder &, ArrayRef<Value>, Grads &) const {
    return success();
  }
};

/// The asynchronous forms exist only after autodiff: the overlap scheduler
/// makes them from the synchronous ones, which are what gets differentiated.
template <typename OpTy>
struct AsyncModel : public GradientOpInterface::ExternalModel<AsyncModel<OpTy>, OpTy> {
  LogicalResult buildGradient(Operation *op, GradientBuilder &, ArrayRef<Value>, Grads &) const {
    return op->emitOpError("is asynchronous; differentiate the step before the overlap "
                           "scheduler splits its collectives");
  }
};

template <typename... OpTys> void attach(MLIRContext *context) {
  (OpTys::template attachInterface<CollectiveRuleModel<OpTys>>(*context), ...);
}
template <typename... OpTys> void attachAsync(MLIRContext *context) {
  (OpTys::template attachInterface<AsyncModel<OpTys>>(*context), ...);
}

void attachCollectiveModels(MLIRContext *context, GraphDialect *) {
  attach<AllGatherOp, ReduceScatterOp, AllReduceOp, AllToAllOp, RingShiftOp, ShardSliceOp,
         ShardUnsliceOp, BlockAttentionOp>(context);
  attachAsync<AllGatherStartOp, ReduceScatterStartOp, AllReduceStartOp, AllToAllStartOp,
              RingShiftStartOp, WaitOp>(context);
  ShiftOp::attachInterface<ShiftModel>(*context);
}

} // namespace

void registerCollectiveGradientModels(DialectRegistry &registry) {
  registry.addExtension(attachCollectiveModels);
}

} // namespace sp::autodiff
