//===- GradientRules.cpp - the gradient of each graph op -------------------===//
//
// One rule per differentiable graph op, attached as an external model so
// the dialect stays free of autodiff. Rules assume static shapes (the pass
// checks them first) and follow PyTorch's backward formulas where a choice
// exists (ties of max/min split evenly, abs and relu have slope 0 at 0,
// pow's masks at exponent 0 and base 0).
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/GradientOpInterface.h"

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "llvm/Support/MathExtras.h"

#include <numeric>

#include "sp/Autodiff/GradientOpInterface.cpp.inc"

using namespace mlir;
using namespace sp::graph;

namespace sp::autodiff {
namespace {

using Grads = SmallVectorImpl<Value>;

Type elementTypeOf(Value value) {
  return llvm::cast<RankedTensorType>(value.getType()).getElementType();
}

RankedTensorType typeOf(Value value) {
  return llvm::cast<RankedTensorType>(value.getType());
}

int64_t normalizedAxis(int64_t axis, int64_t rank) {
  return axis < 0 ? axis + rank : axis;
}

/// Sets operand `index`'s gradient to `full`, a gradient in the result's
/// broadcast shape, summed down to the operand's shape; `full` is built only
/// when the operand needs it.
template <typename BuildFull>
void setBroadcastGrad(GradientBuilder &b, Operation *op, unsigned index, Grads &dxs,
                      BuildFull buildFull) {
  Value operand = op->getOperand(index);
  if (b.needsGradient(operand))
    dxs[index] = b.reduceToShape(buildFull(), typeOf(operand));
}

//===----------------------------------------------------------------------===//
// Element-wise binary ops
//===----------------------------------------------------------------------===//

LogicalResult gradient(AddOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0];
  setBroadcastGrad(b, op, 0, dxs, [&] { return dy; });
  setBroadcastGrad(b, op, 1, dxs, [&] { return dy; });
  return success();
}

LogicalResult gradient(SubOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0];
  setBroadcastGrad(b, op, 0, dxs, [&] { return dy; });
  if (b.needsGradient(op.getRhs()))
    dxs[1] = b.neg(b.reduceToShape(dy, op.getRhs().getType()));
  return success();
}

LogicalResult gradient(MulOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0];
  setBroadcastGrad(b, op, 0, dxs, [&] { return b.mul(dy, op.getRhs()); });
  setBroadcastGrad(b, op, 1, dxs, [&] { return b.mul(dy, op.getLhs()); });
  return success();
}

LogicalResult gradient(DivOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  // d(l/r)/dr = -(l/r)/r, so the divisor's gradient reuses dy/r and the result.
  Value quotient = b.div(dys[0], op.getRhs());
  setBroadcastGrad(b, op, 0, dxs, [&] { return quotient; });
  setBroadcastGrad(b, op, 1, dxs, [&] { return b.neg(b.mul(quotient, op.getResult())); });
  return success();
}

LogicalResult gradient(PowOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0], base = op.getLhs(), exponent = op.getRhs();
  Type floatType = elementTypeOf(base);
  // An integer (or other float) exponent takes part in the math as the base's type.
  Value power = b.cast(exponent, floatType);
  Value zero = b.scalar(floatType, 0.0);
  setBroadcastGrad(b, op, 0, dxs, [&] {
    Value slope =
        b.mul(power, b.build<PowOp>({base, b.sub(power, b.scalar(floatType, 1.0))}));
    // x^0 is constant: without the mask, 0 * 0^-1 would give NaN at x = 0.
    return b.where(b.build<EqualOp>({power, zero}), zero, b.mul(dy, slope));
  });
  if (b.needsGradient(exponent)) {
    Value full = b.mul(dy, b.mul(op.getResult(), b.build<LogOp>({base})));
    // 0^p is constant 0 for p > 0 (and 1 at p = 0) although log 0 = -inf.
    Value constant = b.build<AndOp>(
        {b.build<EqualOp>({base, zero}), b.build<GreaterEqualOp>({power, zero})});
    full = b.where(constant, zero, full);
    RankedTensorType exponentType = typeOf(exponent);
    Value reduced = b.reduceToShape(full, exponentType.clone(floatType));
    dxs[1] = b.cast(reduced, exponentType.getElementType());
  }
  return success();
}

/// max/min: the winning operand takes dy; ties split it evenly, as
/// torch.maximum and torch.minimum do.
template <typename WinsOp, typename OpTy>
LogicalResult extremumGradient(OpTy op, GradientBuilder &b, ArrayRef<Value> dys,
                               Grads &dxs) {
  Value dy = dys[0], lhs = op.getLhs(), rhs = op.getRhs();
  Type floatType = elementTypeOf(lhs);
  Value lhsShare = b.where(b.build<WinsOp>({lhs, rhs}), b.scalar(floatType, 1.0),
                           b.where(b.build<EqualOp>({lhs, rhs}), b.scalar(floatType, 0.5),
                                   b.scalar(floatType, 0.0)));
  Value lhsFull = b.mul(dy, lhsShare);
  setBroadcastGrad(b, op, 0, dxs, [&] { return lhsFull; });
  setBroadcastGrad(b, op, 1, dxs, [&] { return b.sub(dy, lhsFull); });
  return success();
}

LogicalResult gradient(MaxOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return extremumGradient<GreaterOp>(op, b, dys, dxs);
}

LogicalResult gradient(MinOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return extremumGradient<LessOp>(op, b, dys, dxs);
}

/// l mod r = l - round(l / r) * r, with round = floor (mod) or toward zero
/// (fmod): the dividend takes dy, the divisor -dy * round(l / r).
template <typename OpTy>
LogicalResult remainderGradient(OpTy op, GradientBuilder &b, ArrayRef<Value> dys,
                                Grads &dxs, bool truncates) {
  Value dy = dys[0];
  setBroadcastGrad(b, op, 0, dxs, [&] { return dy; });
  if (b.needsGradient(op.getRhs())) {
    Value quotient = b.div(op.getLhs(), op.getRhs());
    Value rounded = b.build<FloorOp>({quotient});
    if (truncates)
      rounded =
          b.where(b.build<LessOp>({quotient, b.scalar(elementTypeOf(quotient), 0.0)}),
                  b.build<CeilOp>({quotient}), rounded);
    dxs[1] = b.neg(b.reduceToShape(b.mul(dy, rounded), op.getRhs().getType()));
  }
  return success();
}

LogicalResult gradient(ModOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return remainderGradient(op, b, dys, dxs, /*truncates=*/false);
}

LogicalResult gradient(FModOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return remainderGradient(op, b, dys, dxs, /*truncates=*/true);
}

//===----------------------------------------------------------------------===//
// Element-wise unary ops: dx from the input x, the result y and dy
//===----------------------------------------------------------------------===//

template <typename OpTy, typename Rule>
LogicalResult unaryGradient(OpTy op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs,
                            Rule rule) {
  Value x = op->getOperand(0);
  if (b.needsGradient(x))
    dxs[0] = rule(x, op->getResult(0), dys[0], elementTypeOf(x));
  return success();
}

LogicalResult gradient(NegOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs,
                       [&](Value, Value, Value dy, Type) { return b.neg(dy); });
}

LogicalResult gradient(AbsOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type type) {
    Value zero = b.scalar(type, 0.0);
    return b.where(b.build<GreaterOp>({x, zero}), dy,
                   b.where(b.build<LessOp>({x, zero}), b.neg(dy), zero));
  });
}

LogicalResult gradient(SqrtOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value, Value y, Value dy, Type) {
    return b.div(b.scale(dy, 0.5), y);
  });
}

LogicalResult gradient(ReciprocalOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value, Value y, Value dy, Type) {
    return b.neg(b.mul(dy, b.mul(y, y)));
  });
}

LogicalResult gradient(ExpOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs,
                       [&](Value, Value y, Value dy, Type) { return b.mul(dy, y); });
}

LogicalResult gradient(LogOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs,
                       [&](Value x, Value, Value dy, Type) { return b.div(dy, x); });
}

LogicalResult gradient(TanhOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value, Value y, Value dy, Type type) {
    return b.mul(dy, b.sub(b.scalar(type, 1.0), b.mul(y, y)));
  });
}

LogicalResult gradient(SigmoidOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value, Value y, Value dy, Type type) {
    return b.mul(dy, b.mul(y, b.sub(b.scalar(type, 1.0), y)));
  });
}

LogicalResult gradient(ErfOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type) {
    // d erf(x)/dx = 2/sqrt(pi) * exp(-x^2)
    Value density = b.build<ExpOp>({b.neg(b.mul(x, x))});
    return b.mul(dy, b.scale(density, 2.0 * llvm::numbers::inv_sqrtpi));
  });
}

LogicalResult gradient(CosOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type) {
    return b.neg(b.mul(dy, b.build<SinOp>({x})));
  });
}

LogicalResult gradient(SinOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type) {
    return b.mul(dy, b.build<CosOp>({x}));
  });
}

LogicalResult gradient(ReluOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type type) {
    Value zero = b.scalar(type, 0.0);
    return b.where(b.build<GreaterOp>({x, zero}), dy, zero);
  });
}

LogicalResult gradient(GeluOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  return unaryGradient(op, b, dys, dxs, [&](Value x, Value, Value dy, Type) {
    return b.build<GeluGradOp>(
        {x, dy},
        {b.getNamedAttr("tanh_approximation", b.getBoolAttr(op.getTanhApproximation()))});
  });
}

/// y = x * noise, so dx = dy * noise: the same site drawing the same mask over
/// dy (recomputed, so nothing of the forward pass is kept).
LogicalResult gradient(DropoutOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (!b.needsGradient(op.getInput()))
    return success();
  SmallVector<Value, 2> operands = {dys[0]};
  if (Value positions = op.getPositions())
    operands.push_back(positions);
  SmallVector<NamedAttribute> attributes = {
      b.getNamedAttr("ratio", op.getRatioAttr()), b.getNamedAttr("site", op.getSiteAttr())};
  if (op.getSequenceAxis()) {
    attributes.push_back(b.getNamedAttr("sequence_axis", op.getSequenceAxisAttr()));
    attributes.push_back(b.getNamedAttr("sequence_length", op.getSequenceLengthAttr()));
  }
  if (op.getUnpaddedKeys())
    attributes.push_back(b.getNamedAttr("unpadded_keys", op.getUnpaddedKeysAttr()));
  dxs[0] = b.build<DropoutOp>(operands, attributes);
  return success();
}

LogicalResult gradient(WhereOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0], condition = op.getCondition();
  Value zero = b.scalar(elementTypeOf(dy), 0.0);
  setBroadcastGrad(b, op, 1, dxs, [&] { return b.where(condition, dy, zero); });
  setBroadcastGrad(b, op, 2, dxs, [&] { return b.where(condition, zero, dy); });
  return success();
}

LogicalResult gradient(CastOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  // Only float-to-float casts carry a gradient; integers have none.
  Type from = elementTypeOf(op.getInput()), to = elementTypeOf(op.getResult());
  if (llvm::isa<FloatType>(from) && llvm::isa<FloatType>(to) &&
      b.needsGradient(op.getInput()))
    dxs[0] = b.cast(dys[0], from);
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra and normalization
//===----------------------------------------------------------------------===//

/// x @ W with a weight matrix W: the batch dims of x fold into the rows, so
/// that both gradients are single gemms. dW = x^T dY sums over the batch in
/// the product itself instead of materializing one [k, n] product per batch
/// entry, and neither W nor x is transposed in memory.
void weightMatMulGradient(MatMulOp op, GradientBuilder &b, Value dy, Grads &dxs) {
  RankedTensorType lhsType = op.getLhs().getType(), rhsType = op.getRhs().getType();
  int64_t k = rhsType.getDimSize(0), n = rhsType.getDimSize(1);
  int64_t rows = lhsType.getNumElements() / std::max<int64_t>(k, 1);
  Type element = lhsType.getElementType();
  Value dyRows = b.reshape(dy, RankedTensorType::get({rows, n}, element));
  auto transposed = [&](StringRef flag) {
    return b.getNamedAttr(flag, b.getBoolAttr(true));
  };
  if (b.needsGradient(op.getLhs())) {
    Value rowsGrad = b.build<GemmOp>({dyRows, op.getRhs()}, {transposed("transpose_b")});
    dxs[0] = b.reshape(rowsGrad, lhsType);
  }
  if (b.needsGradient(op.getRhs())) {
    Value lhsRows = b.reshape(op.getLhs(), RankedTensorType::get({rows, k}, element));
    dxs[1] = b.build<GemmOp>({lhsRows, dyRows}, {transposed("transpose_a")});
  }
}

LogicalResult gradient(MatMulOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value lhs = op.getLhs(), rhs = op.getRhs(), dy = dys[0];
  RankedTensorType lhsType = op.getLhs().getType(), rhsType = op.getRhs().getType();
  if (lhsType.getRank() >= 2 && rhsType.getRank() == 2) {
    weightMatMulGradient(op, b, dy, dxs);
    return success();
  }
  bool lhsVector = lhsType.getRank() == 1, rhsVector = rhsType.getRank() == 1;
  // Work on matrices: a 1-D lhs is a row [1, k], a 1-D rhs a column [k, 1],
  // and dy gets back the unit dims the product dropped.
  auto asMatrix = [&](Value vector, RankedTensorType type, bool row) {
    int64_t k = type.getDimSize(0);
    SmallVector<int64_t> shape =
        row ? SmallVector<int64_t>{1, k} : SmallVector<int64_t>{k, 1};
    return b.reshape(vector, type.clone(shape));
  };
  Value lhsMatrix = lhsVector ? asMatrix(lhs, lhsType, true) : lhs;
  Value rhsMatrix = rhsVector ? asMatrix(rhs, rhsType, false) : rhs;
  RankedTensorType dyType = typeOf(dy);
  SmallVector<int64_t> dyShape(dyType.getShape());
  if (lhsVector)
    dyShape.insert(dyShape.end() - (rhsVector ? 0 : 1), 1);
  if (rhsVector)
    dyShape.push_back(1);
  Value dyMatrix = b.reshape(dy, dyType.clone(dyShape));

  // dA = dY B^T and dB = A^T dY over the broadcast batch; an operand that was
  // broadcast over batch dims sums them.
  if (b.needsGradient(lhs)) {
    Value full = b.build<MatMulOp>({dyMatrix, b.transposeLastTwo(rhsMatrix)});
    Value reduced = b.reduceToShape(full, typeOf(lhsMatrix));
    dxs[0] = b.reshape(reduced, lhsType);
  }
  if (b.needsGradient(rhs)) {
    Value full = b.build<MatMulOp>({b.transposeLastTwo(lhsMatrix), dyMatrix});
    Value reduced = b.reduceToShape(full, typeOf(rhsMatrix));
    dxs[1] = b.reshape(reduced, rhsType);
  }
  return success();
}

LogicalResult gradient(GemmOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  Value dy = dys[0], a = op.getA(), bMatrix = op.getB();
  double alpha = op.getAlpha().convertToDouble(), beta = op.getBeta().convertToDouble();
  bool transposeA = op.getTransposeA(), transposeB = op.getTransposeB();
  auto gemm = [&](Value lhs, Value rhs, bool transposeLhs, bool transposeRhs) {
    SmallVector<NamedAttribute> attrs;
    if (alpha != 1.0)
      attrs.push_back(b.getNamedAttr("alpha", b.getF64FloatAttr(alpha)));
    if (transposeLhs)
      attrs.push_back(b.getNamedAttr("transpose_a", b.getBoolAttr(true)));
    if (transposeRhs)
      attrs.push_back(b.getNamedAttr("transpose_b", b.getBoolAttr(true)));
    return b.build<GemmOp>({lhs, rhs}, attrs);
  };
  // With op(A) = A or A^T: d op(A) = alpha dY op(B)^T, d op(B) = alpha op(A)^T dY;
  // a transposed operand takes the transpose, which gemm's flags express.
  if (b.needsGradient(a))
    dxs[0] = transposeA ? gemm(bMatrix, dy, transposeB, true)
                        : gemm(dy, bMatrix, false, !transposeB);
  if (b.needsGradient(bMatrix))
    dxs[1] = transposeB ? gemm(dy, a, true, transposeA) : gemm(a, dy, !transposeA, false);
  if (Value c = op.getC(); c && beta != 0.0 && b.needsGradient(c))
    dxs[2] = b.reduceToShape(beta == 1.0 ? dy : b.scale(dy, beta), typeOf(c));
  return success();
}

LogicalResult gradient(SoftmaxOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<SoftmaxGradOp>(
        {op.getResult(), dys[0]},
        {b.getNamedAttr("axis", b.getI64IntegerAttr(op.getAxis()))});
  return success();
}

LogicalResult gradient(LayerNormOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  RankedTensorType inputType = op.getInput().getType();
  int64_t axis = normalizedAxis(op.getAxis(), inputType.getRank());
  // layer_norm_grad takes the scale in the normalized shape exactly; a
  // scale or bias that was broadcast to it sums its gradient back.
  auto normalizedType = inputType.clone(inputType.getShape().drop_front(axis));
  Value scale = op.getScale();
  SmallVector<Value> grads =
      b.buildInferred(LayerNormGradOp::getOperationName(),
                      {op.getInput(), b.expand(scale, normalizedType), dys[0]},
                      {b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                       b.getNamedAttr("epsilon", op.getEpsilonAttr())},
                      3);
  if (grads.empty())
    return failure();
  if (b.needsGradient(op.getInput()))
    dxs[0] = grads[0];
  if (b.needsGradient(scale))
    dxs[1] = b.reduceToShape(grads[1], typeOf(scale));
  if (Value bias = op.getBias(); bias && b.needsGradient(bias))
    dxs[2] = b.reduceToShape(grads[2], typeOf(bias));
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and scans
//===----------------------------------------------------------------------===//

/// The reduced dims (all when `axes` is empty) and the input's type with
/// them kept as 1, the shape in which dy broadcasts back over the input.
template <typename ReduceOp>
std::pair<SmallVector<int64_t>, RankedTensorType> reductionShape(ReduceOp op) {
  RankedTensorType input = op.getInput().getType();
  SmallVector<int64_t> axes(op.getAxes());
  if (axes.empty()) {
    axes.resize(input.getRank());
    std::iota(axes.begin(), axes.end(), 0);
  }
  SmallVector<int64_t> kept(input.getShape());
  for (int64_t axis : axes)
    kept[axis] = 1;
  return {axes, input.clone(kept)};
}

LogicalResult gradient(ReduceSumOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  auto [axes, keptType] = reductionShape(op);
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.expand(b.reshape(dys[0], keptType), op.getInput().getType());
  return success();
}

LogicalResult gradient(ReduceMeanOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  auto [axes, keptType] = reductionShape(op);
  RankedTensorType inputType = op.getInput().getType();
  int64_t count =
      inputType.getNumElements() / std::max<int64_t>(keptType.getNumElements(), 1);
  if (b.needsGradient(op.getInput())) {
    Value share = b.div(b.reshape(dys[0], keptType),
                        b.scalar(inputType.getElementType(), double(count)));
    dxs[0] = b.expand(share, inputType);
  }
  return success();
}

LogicalResult gradient(ReduceMaxOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  auto [axes, keptType] = reductionShape(op);
  Value input = op.getInput();
  if (!b.needsGradient(input))
    return success();
  // Every element equal to the maximum shares dy evenly with its ties.
  Type floatType = elementTypeOf(input);
  Value isMax = b.build<EqualOp>({input, b.reshape(op.getResult(), keptType)});
  Value ties = b.reduceSum(b.cast(isMax, floatType), axes, /*keepDims=*/true);
  Value share = b.div(b.reshape(dys[0], keptType), ties);
  dxs[0] = b.where(isMax, share, b.scalar(floatType, 0.0));
  return success();
}

LogicalResult gradient(CumSumOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  // Each input element feeds the sums after it (or before, reversed): the
  // transpose is the cumulative sum in the other direction.
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<CumSumOp>(
        {dys[0]}, {b.getNamedAttr("axis", b.getI64IntegerAttr(op.getAxis())),
                   b.getNamedAttr("exclusive", b.getBoolAttr(op.getExclusive())),
                   b.getNamedAttr("reverse", b.getBoolAttr(!op.getReverse()))});
  return success();
}

//===----------------------------------------------------------------------===//
// Shapes and data movement
//===----------------------------------------------------------------------===//

/// Ops that only rearrange elements without duplicating them in memory order.
template <typename OpTy>
LogicalResult reshapeGradient(OpTy op, GradientBuilder &b, ArrayRef<Value> dys,
                              Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.reshape(dys[0], op.getInput().getType());
  return success();
}

LogicalResult gradient(ReshapeOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  return reshapeGradient(op, b, dys, dxs);
}

LogicalResult gradient(SqueezeOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  return reshapeGradient(op, b, dys, dxs);
}

LogicalResult gradient(UnsqueezeOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  return reshapeGradient(op, b, dys, dxs);
}

LogicalResult gradient(ExpandOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  setBroadcastGrad(b, op, 0, dxs, [&] { return dys[0]; });
  return success();
}

LogicalResult gradient(TransposeOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  ArrayRef<int64_t> perm = op.getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, axis] : llvm::enumerate(perm))
    inverse[axis] = i;
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.transpose(dys[0], inverse);
  return success();
}

LogicalResult gradient(SliceOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.buildWithType<SliceGradOp>(
        op.getInput().getType(),
        {dys[0], op.getStarts(), op.getEnds(), op.getAxes(), op.getSteps()});
  return success();
}

LogicalResult gradient(SplitOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (!b.needsGradient(op.getInput()))
    return success();
  // Pieces nobody differentiates contribute zeros.
  SmallVector<Value> pieces;
  for (auto [result, dy] : llvm::zip(op.getResults(), dys))
    pieces.push_back(dy ? dy : b.zeros(result.getType()));
  dxs[0] = b.build<ConcatOp>(pieces,
                             {b.getNamedAttr("axis", b.getI64IntegerAttr(op.getAxis()))});
  return success();
}

LogicalResult gradient(ConcatOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  ValueRange inputs = op.getInputs();
  if (inputs.size() == 1) {
    if (b.needsGradient(inputs[0]))
      dxs[0] = dys[0];
    return success();
  }
  int64_t axis = normalizedAxis(op.getAxis(), op.getType().getRank());
  SmallVector<int64_t> sizes;
  for (Value input : inputs)
    sizes.push_back(typeOf(input).getDimSize(axis));
  SmallVector<Value> pieces =
      b.buildInferred(SplitOp::getOperationName(), {dys[0]},
                      {b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                       b.getNamedAttr("sizes", b.getDenseI64ArrayAttr(sizes))},
                      inputs.size());
  if (pieces.empty())
    return failure();
  for (auto [i, input] : llvm::enumerate(inputs))
    if (b.needsGradient(input))
      dxs[i] = pieces[i];
  return success();
}

LogicalResult gradient(GatherOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getData()))
    dxs[0] = b.buildWithType<GatherGradOp>(
        op.getData().getType(), {dys[0], op.getIndices()},
        {b.getNamedAttr("axis", b.getI64IntegerAttr(op.getAxis()))});
  return success();
}

LogicalResult gradient(GatherNDOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  if (b.needsGradient(op.getData()))
    dxs[0] = b.buildWithType<GatherNDGradOp>(
        op.getData().getType(), {dys[0], op.getIndices()},
        {b.getNamedAttr("batch_dims", b.getI64IntegerAttr(op.getBatchDims()))});
  return success();
}

// gather_nd_grad scatter-adds; ScatterND is imported as one, and its updates
// get back what their indices address.
LogicalResult gradient(GatherNDGradOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  if (b.needsGradient(op.getResultGrad()))
    dxs[0] = b.build<GatherNDOp>(
        {dys[0], op.getIndices()},
        {b.getNamedAttr("batch_dims", b.getI64IntegerAttr(op.getBatchDims()))});
  return success();
}

LogicalResult gradient(TriluOp op, GradientBuilder &b, ArrayRef<Value> dys, Grads &dxs) {
  if (b.needsGradient(op.getInput()))
    dxs[0] = b.build<TriluOp>(
        {dys[0]}, {b.getNamedAttr("upper", b.getBoolAttr(op.getUpper())),
                   b.getNamedAttr("diagonal", b.getI64IntegerAttr(op.getDiagonal()))});
  return success();
}

LogicalResult gradient(CrossEntropySumOp op, GradientBuilder &b, ArrayRef<Value> dys,
                       Grads &dxs) {
  if (b.needsGradient(op.getLogits()))
    dxs[0] = b.build<CrossEntropySumGradOp>(
        {op.getLogits(), op.getLabels(), dys[0]},
        {b.getNamedAttr("ignore_index", b.getI64IntegerAttr(op.getIgnoreIndex()))});
  return success();
}

//===----------------------------------------------------------------------===//
// Models
//===----------------------------------------------------------------------===//

template <typename OpTy>
struct RuleModel : public GradientOpInterface::ExternalModel<RuleModel<OpTy>, OpTy> {
  LogicalResult buildGradient(Operation *op, GradientBuilder &builder,
                              ArrayRef<Value> resultGrads, Grads &operandGrads) const {
    return gradient(llvm::cast<OpTy>(op), builder, resultGrads, operandGrads);
  }
};

/// Ops whose values are integers or booleans, or whose result is locally
/// constant in its float inputs (floor, ceil, range): their operands get no
/// gradient.
template <typename OpTy>
struct NoGradientModel
    : public GradientOpInterface::ExternalModel<NoGradientModel<OpTy>, OpTy> {
  LogicalResult buildGradient(Operation *, GradientBuilder &, ArrayRef<Value>,
                              Grads &) const {
    return success();
  }
};

template <typename... OpTys> void attachRules(MLIRContext *context) {
  (OpTys::template attachInterface<RuleModel<OpTys>>(*context), ...);
}

template <typename... OpTys> void attachNoGradient(MLIRContext *context) {
  (OpTys::template attachInterface<NoGradientModel<OpTys>>(*context), ...);
}

void attachGraphModels(MLIRContext *context, GraphDialect *) {
  attachRules<AddOp, SubOp, MulOp, DivOp, PowOp, MaxOp, MinOp, ModOp, FModOp, NegOp,
              AbsOp, SqrtOp, ReciprocalOp, ExpOp, LogOp, TanhOp, SigmoidOp, ErfOp, CosOp,
              SinOp, ReluOp, GeluOp, WhereOp, CastOp, MatMulOp, GemmOp, SoftmaxOp,
              LayerNormOp, ReduceSumOp, ReduceMeanOp, ReduceMaxOp, CumSumOp, ReshapeOp,
              SqueezeOp, UnsqueezeOp, ExpandOp, TransposeOp, SliceOp, SplitOp, ConcatOp,
              GatherOp, GatherNDOp, GatherNDGradOp, TriluOp, CrossEntropySumOp, DropoutOp>(context);
  attachNoGradient<ConstantOp, FloorOp, CeilOp, EqualOp, LessOp, LessEqualOp, GreaterOp,
                   GreaterEqualOp, AndOp, OrOp, XorOp, NotOp, IsNaNOp, IsInfOp, ShapeOp,
                   RangeOp, ConstantOfShapeOp>(context);
}

} // namespace

void registerGradientOpInterfaceExternalModels(DialectRegistry &registry) {
  registry.addExtension(attachGraphModels);
  registerFusedGradientModels(registry);
  registerCollectiveGradientModels(registry);
  registerRingAttentionGradientModels(registry);
}

} // namespace sp::autodiff
