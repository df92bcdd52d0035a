//===- RmsNormFusion.cpp - decomposed RMS norm into graph.rms_norm --------===//
//
// The pattern, anchored at the mean of squares (HF LlamaRMSNorm as both
// exporters write it):
//
//   s = reduce_mean(pow(x, 2) | mul(x, x), trailing axes, keep_dims)
//   n = x * reciprocal(sqrt(s + eps))     (or x * (1 / sqrt(..)), x / sqrt(..))
//   y = [cast] (scale * [cast] n)         (casts before or after the scale)
//
// HF computes the norm in float32 and casts back to the model's type; the
// fused op computes in the result's type (the same for float32 models,
// more precise for float64 ones).
//
//===----------------------------------------------------------------------===//

#include "FusionSupport.h"

#include "sp/Autodiff/GradientBuilder.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"

using namespace mlir;
using namespace sp::graph;

namespace sp::fusion {
namespace {

/// The one user of `value`, when it has exactly one use.
Operation *singleUser(Value value) {
  return value.hasOneUse() ? *value.getUsers().begin() : nullptr;
}

/// The first axis of `axes` when they are exactly the trailing dims
/// [first, rank) of a tensor of `rank`.
std::optional<int64_t> trailingAxis(ArrayRef<int64_t> axes, int64_t rank) {
  if (axes.empty())
    return std::nullopt;
  SmallVector<int64_t> sorted;
  for (int64_t axis : axes)
    sorted.push_back(axis < 0 ? axis + rank : axis);
  llvm::sort(sorted);
  for (auto [i, axis] : llvm::enumerate(sorted))
    if (axis != rank - int64_t(sorted.size()) + int64_t(i))
      return std::nullopt;
  return sorted.front();
}

/// x of `x * x` or `pow(x, 2)`.
Value squaredValue(Value squares) {
  Operation *op = squares.getDefiningOp();
  if (auto mul = llvm::dyn_cast_or_null<MulOp>(op))
    return mul.getLhs() == mul.getRhs() ? mul.getLhs() : Value();
  if (auto pow = llvm::dyn_cast_or_null<PowOp>(op))
    if (getScalarOperand(pow.getRhs(), pow.getLhs(), pow.getResult()) == 2.0)
      return pow.getLhs();
  return {};
}

} // namespace

bool fuseRmsNorm(ReduceMeanOp mean, const FusionOptions &options) {
  Value squares = mean.getInput();
  Value x = squaredValue(squares);
  if (!x || !mean.getKeepDims() || !squares.hasOneUse() || !isFusibleType(x.getType()))
    return false;
  auto inputType = llvm::cast<RankedTensorType>(x.getType());
  std::optional<int64_t> axis = trailingAxis(mean.getAxes(), inputType.getRank());
  if (!axis)
    return false;
  SmallVector<Operation *> chain = {squares.getDefiningOp(), mean};

  // + eps, then the square root.
  auto add = llvm::dyn_cast_or_null<AddOp>(singleUser(mean.getResult()));
  if (!add)
    return false;
  Value meanValue = mean.getResult();
  std::optional<double> epsilon =
      add.getLhs() == meanValue ? getScalarOperand(add.getRhs(), meanValue, add.getResult())
                                : getScalarOperand(add.getLhs(), meanValue, add.getResult());
  auto sqrt = llvm::dyn_cast_or_null<SqrtOp>(singleUser(add.getResult()));
  if (!epsilon || *epsilon < 0 || !sqrt)
    return false;
  chain.append({add, sqrt});

  // x / sqrt, x * reciprocal(sqrt), or x * (1 / sqrt).
  Value normalized;
  Operation *next = singleUser(sqrt.getResult());
  if (auto div = llvm::dyn_cast_or_null<DivOp>(next); div && div.getLhs() == x) {
    normalized = div.getResult();
    chain.push_back(div);
  } else {
    Value inverse;
    if (auto reciprocal = llvm::dyn_cast_or_null<ReciprocalOp>(next))
      inverse = reciprocal.getResult();
    else if (auto one = llvm::dyn_cast_or_null<DivOp>(next);
             one && one.getRhs() == sqrt.getResult() &&
             getScalarOperand(one.getLhs(), one.getRhs(), one.getResult()) == 1.0)
      inverse = one.getResult();
    auto mul = inverse ? llvm::dyn_cast_or_null<MulOp>(singleUser(inverse)) : MulOp();
    if (!mul || (mul.getLhs() != x && mul.getRhs() != x))
      return false;
    normalized = mul.getResult();
    chain.append({next, mul});
  }
  if (normalized.getType() != x.getType())
    return false;

  // Casts and the scale, in either order.
  Value result = normalized, scale;
  while (Operation *user = singleUser(result)) {
    if (isFloatCast(user)) {
      chain.push_back(user);
      result = user->getResult(0);
      continue;
    }
    auto mul = llvm::dyn_cast<MulOp>(user);
    if (!mul || scale || mul.getType() != result.getType())
      break;
    scale = mul.getLhs() == result ? mul.getRhs() : mul.getLhs();
    chain.push_back(mul);
    result = mul.getResult();
  }
  if (!isFusibleType(result.getType()))
    return false;
  auto resultType = llvm::cast<RankedTensorType>(result.getType());
  Type element = resultType.getElementType();
  ArrayRef<int64_t> normalizedShape = inputType.getShape().drop_front(*axis);
  auto normalizedType = RankedTensorType::get(normalizedShape, element);

  // The scale must vary over the normalized dims only (a per-channel gain).
  if (scale) {
    auto scaleType = llvm::cast<RankedTensorType>(scale.getType());
    if (!scaleType.hasStaticShape() || scaleType.getRank() > inputType.getRank() ||
        !llvm::isa<FloatType>(scaleType.getElementType()))
      return false;
    int64_t offset = inputType.getRank() - scaleType.getRank();
    for (auto [d, dim] : llvm::enumerate(scaleType.getShape())) {
      int64_t inputDim = offset + int64_t(d);
      if (inputDim < *axis ? dim != 1 : dim != inputType.getDimSize(inputDim))
        return false;
    }
  }

  Operation *last = result.getDefiningOp();
  autodiff::GradientBuilder b(last);
  b.setLoc(FusedLoc::get(mean.getContext(), {mean.getLoc(), last->getLoc()}));
  // Read x and the scale in the result's type, looking through the casts
  // HF puts around them.
  auto inType = [&](Value value) {
    if (llvm::cast<RankedTensorType>(value.getType()).getElementType() == element)
      return value;
    if (Operation *cast = value.getDefiningOp();
        isFloatCast(cast) &&
        llvm::cast<RankedTensorType>(cast->getOperand(0).getType()).getElementType() == element)
      return cast->getOperand(0);
    return b.cast(value, element);
  };
  Value input = inType(x);
  Value gain = scale ? b.reshape(inType(scale), normalizedType) : b.splat(normalizedType, 1.0);
  Value fused = b.build<RmsNormOp>({input, gain},
                                   {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis)),
                                    b.getNamedAttr("epsilon", b.getF64FloatAttr(*epsilon))});
  if (b.hasFailed() || fused.getType() != result.getType())
    return false;
  result.replaceAllUsesWith(fused);
  if (options.remarks)
    fused.getDefiningOp()->emitRemark()
        << "fused rms_norm over " << formatShape(normalizedShape) << ", epsilon " << *epsilon
        << (scale ? "" : ", no scale");
  eraseDeadOps(chain);
  return true;
}

} // namespace sp::fusion
