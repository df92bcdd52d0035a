//===- FusedGradientRules.cpp - gradients of the fused ops -----------------===//
//
// attention and rms_norm, which sp-fuse makes of their decomposed forms,
// differentiate to one backward op each: attention_grad recomputes the
// probabilities from the saved logsumexp (FlashAttention-2), rms_norm_grad
// recomputes each row's root mean square.
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

LogicalResult gradient(AttentionOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (dys[1])
    return op.emitOpError("has no gradient rule for its logsumexp result");
  // A bias is a mask: sp-fuse does not fuse attention whose bias depends on
  // a parameter, so reaching one here means the graph was fused by hand.
  if (Value bias = op.getBias(); bias && b.needsGradient(bias))
    return op.emitOpError("bias depends on a trainable parameter, and attention_grad "
                          "gives the bias no gradient");
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  if (!b.needsGradient(query) && !b.needsGradient(key) && !b.needsGradient(value))
    return success();
  SmallVector<Value> operands = {query, key, value, op.getOutput(), op.getLogsumexp(), dys[0]};
  if (Value bias = op.getBias())
    operands.push_back(bias);
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("scale", op.getScaleAttr()),
      b.getNamedAttr("causal", b.getBoolAttr(op.getCausal()))};
  attributes.append(getAttentionMaskAttributes(op));
  return b.buildQueryKeyValueGrads(op, AttentionGradOp::getOperationName(), operands, attributes,
                                   dxs);
}

LogicalResult gradient(RmsNormOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value input = op.getInput(), scale = op.getScale();
  if (!b.needsGradient(input) && !b.needsGradient(scale))
    return success();
  SmallVector<Value> grads =
      b.buildInferred(RmsNormGradOp::getOperationName(), {input, scale, dys[0]},
                      {b.getNamedAttr("axis", op.getAxisAttr()),
                       b.getNamedAttr("epsilon", op.getEpsilonAttr())},
                      2);
  if (grads.empty())
    return failure();
  if (b.needsGradient(input))
    dxs[0] = grads[0];
  if (b.needsGradient(scale))
    dxs[1] = grads[1];
  return success();
}

template <typename OpTy>
struct FusedRuleModel : public GradientOpInterface::ExternalModel<FusedRuleModel<OpTy>, OpTy> {
  LogicalResult buildGradient(Operation *op, GradientBuilder &builder,
                              ArrayRef<Value> resultGrads, Grads &operandGrads) const {
    return gradient(llvm::cast<OpTy>(op), builder, resultGrads, operandGrads);
  }
};

void attachFusedModels(MLIRContext *context, GraphDialect *) {
  AttentionOp::attachInterface<FusedRuleModel<AttentionOp>>(*context);
  RmsNormOp::attachInterface<FusedRuleModel<RmsNormOp>>(*context);
}

} // namespace

void registerFusedGradientModels(DialectRegistry &registry) {
  registry.addExtension(attachFusedModels);
}

} // namespace sp::autodiff
