//===- RingAttentionGradientRules.cpp - the gradient of ring attention ----===//
//
// ring_attention differentiates into ring_attention_grad, its own backward
// ring, rather than through N steps of shifts and block merges: the only
// values the backward pass keeps from the forward one are the rank's own
// query, key, value, output and logsumexp.
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/GradientOpInterface.h"

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;
using namespace sp::graph;

namespace sp::autodiff {
namespace {

struct RingAttentionModel
    : public GradientOpInterface::ExternalModel<RingAttentionModel, RingAttentionOp> {
  LogicalResult buildGradient(Operation *operation, GradientBuilder &b, ArrayRef<Value> dys,
                              SmallVectorImpl<Value> &dxs) const {
    auto op = llvm::cast<RingAttentionOp>(operation);
    if (Value bias = op.getBias(); bias && b.needsGradient(bias))
      return op.emitOpError("bias depends on a trainable parameter, and ring_attention_grad "
                            "gives the bias no gradient");
    Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
    if (!b.needsGradient(query) && !b.needsGradient(key) && !b.needsGradient(value))
      return success();
    // A result nobody differentiates contributes nothing.
    Value outputGrad = dys[0] ? dys[0] : b.zeros(op.getOutput().getType());
    Value logsumexpGrad = dys[1] ? dys[1] : b.zeros(op.getLogsumexp().getType());
    SmallVector<Value> operands = {
        query, key, value, op.getOutput(), op.getLogsumexp(), outputGrad, logsumexpGrad};
    if (Value bias = op.getBias())
      operands.push_back(bias);
    SmallVector<NamedAttribute> attributes = {
        b.getNamedAttr("scale", op.getScaleAttr()),
        b.getNamedAttr("causal", b.getBoolAttr(op.getCausal())),
        b.getNamedAttr("num_ranks", op.getNumRanksAttr())};
    if (op.getZigzag())
      attributes.push_back(b.getNamedAttr("zigzag", b.getBoolAttr(true)));
    if (op.getGroupSize() != 1)
      attributes.push_back(b.getNamedAttr("group_size", op.getGroupSizeAttr()));
    attributes.append(getAttentionMaskAttributes(op));
    return b.buildQueryKeyValueGrads(op, RingAttentionGradOp::getOperationName(), operands,
                                     attributes, dxs);
  }
};

} // namespace

void registerRingAttentionGradientModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, GraphDialect *) {
    RingAttentionOp::attachInterface<RingAttentionModel>(*context);
  });
}

} // namespace sp::autodiff
