//===- GradientBuilder.cpp - building gradient ops -------------------------===//

#include "sp/Autodiff/GradientBuilder.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

#include <numeric>

using namespace mlir;

namespace sp::autodiff {

GradientBuilder::GradientBuilder(Operation *insertionPoint,
                                 const llvm::DenseSet<Value> *active)
    : OpBuilder(insertionPoint), loc(insertionPoint->getLoc()), active(active) {}

bool GradientBuilder::needsGradient(Value operand) const {
  if (active)
    return active->contains(operand);
  auto type = llvm::dyn_cast<RankedTensorType>(operand.getType());
  return type && llvm::isa<FloatType>(type.getElementType());
}

SmallVector<Value> GradientBuilder::fail(Operation *op, const Twine &message) {
  if (op)
    op->erase();
  if (!failedToBuild)
    emitError(loc) << message;
  failedToBuild = true;
  return {};
}

bool GradientBuilder::canBuild(StringRef name, ValueRange operands) {
  if (failedToBuild)
    return false;
  if (llvm::any_of(operands, [](Value operand) { return !operand; })) {
    // A rule handed on a zero (null) gradient as if it were a value.
    fail(nullptr, "gradient rule built '" + name + "' from a missing value");
    return false;
  }
  return true;
}

SmallVector<Value> GradientBuilder::buildInferred(StringRef name, ValueRange operands,
                                                  ArrayRef<NamedAttribute> attrs,
                                                  unsigned numResults) {
  if (!canBuild(name, operands))
    return {};
  OperationState state(loc, name);
  state.addOperands(operands);
  state.addAttributes(attrs);
  state.addTypes(SmallVector<Type>(numResults, getNoneType()));
  Operation *op = OpBuilder::create(state);
  auto inference = llvm::dyn_cast<InferTypeOpInterface>(op);
  SmallVector<Type> types;
  if (!inference)
    return fail(op, "'" + name + "' cannot infer its result types");
  // Inference reports its own diagnostic at `loc`.
  if (mlir::failed(inference.inferReturnTypes(
          getContext(), loc, op->getOperands(), op->getRawDictionaryAttrs(),
          op->getPropertiesStorage(), op->getRegions(), types))) {
    failedToBuild = true;
    op->erase();
    return {};
  }
  if (types.size() != numResults)
    return fail(op, "'" + name + "' infers " + Twine(types.size()) + " results, not " +
                        Twine(numResults));
  for (auto [result, type] : llvm::zip(op->getResults(), types))
    result.setType(type);
  return finish(op);
}

SmallVector<Value> GradientBuilder::buildTyped(StringRef name, TypeRange types,
                                               ValueRange operands,
                                               ArrayRef<NamedAttribute> attrs) {
  if (!canBuild(name, operands))
    return {};
  OperationState state(loc, name);
  state.addOperands(operands);
  state.addAttributes(attrs);
  state.addTypes(types);
  return finish(OpBuilder::create(state));
}

SmallVector<Value> GradientBuilder::finish(Operation *op) {
  // The verifier reports its own diagnostic.
  if (mlir::failed(mlir::verify(op))) {
    failedToBuild = true;
    op->erase();
    return {};
  }
  // Fold at once, as the importer does: gradients of shape-only ops and of
  // constants collapse instead of piling up for canonicalize.
  SmallVector<OpFoldResult> folded;
  if (mlir::failed(op->fold(folded)) || folded.empty())
    return SmallVector<Value>(op->getResults());
  SmallVector<Value> results;
  SmallVector<Operation *> constants;
  for (auto [result, foldResult] : llvm::zip(op->getResults(), folded)) {
    if (auto value = llvm::dyn_cast<Value>(foldResult)) {
      results.push_back(value);
      continue;
    }
    Operation *constant = op->getDialect()->materializeConstant(
        *this, llvm::cast<Attribute>(foldResult), result.getType(), loc);
    if (!constant) {
      for (Operation *unused : constants)
        unused->erase();
      return SmallVector<Value>(op->getResults());
    }
    constants.push_back(constant);
    results.push_back(constant->getResult(0));
  }
  op->erase();
  return results;
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

Value GradientBuilder::splat(RankedTensorType type, double value) {
  if (failedToBuild)
    return {};
  Type element = type.getElementType();
  Attribute attr = llvm::isa<FloatType>(element)
                       ? Attribute(getFloatAttr(element, value))
                       : Attribute(getIntegerAttr(element, int64_t(value)));
  return graph::ConstantOp::create(*this, loc, type, DenseElementsAttr::get(type, attr));
}

Value GradientBuilder::scalar(Type elementType, double value) {
  return splat(RankedTensorType::get({}, elementType), value);
}

Value GradientBuilder::i64Vector(ArrayRef<int64_t> values) {
  if (failedToBuild)
    return {};
  auto type = RankedTensorType::get({int64_t(values.size())}, getI64Type());
  return graph::ConstantOp::create(*this, loc, type,
                                   DenseElementsAttr::get(type, values));
}

//===----------------------------------------------------------------------===//
// Arithmetic
//===----------------------------------------------------------------------===//

Value GradientBuilder::add(Value lhs, Value rhs) {
  return build<graph::AddOp>({lhs, rhs});
}
Value GradientBuilder::sub(Value lhs, Value rhs) {
  return build<graph::SubOp>({lhs, rhs});
}
Value GradientBuilder::mul(Value lhs, Value rhs) {
  return build<graph::MulOp>({lhs, rhs});
}
Value GradientBuilder::div(Value lhs, Value rhs) {
  return build<graph::DivOp>({lhs, rhs});
}
Value GradientBuilder::neg(Value value) { return build<graph::NegOp>({value}); }

Value GradientBuilder::where(Value condition, Value onTrue, Value onFalse) {
  if (!canBuild("graph.where", {condition, onTrue, onFalse}))
    return {};
  // A mask known at compile time (pow's, for a constant exponent) picks its
  // branch, when that branch already has the result's shape.
  DenseElementsAttr known;
  if (matchPattern(condition, m_Constant(&known)) && known.isSplat()) {
    Value chosen = known.getSplatValue<bool>() ? onTrue : onFalse;
    SmallVector<int64_t> shape;
    auto shapeOf = [](Value value) {
      return llvm::cast<RankedTensorType>(value.getType()).getShape();
    };
    if (OpTrait::util::getBroadcastedShape(shapeOf(condition), shapeOf(onTrue), shape) &&
        OpTrait::util::getBroadcastedShape(SmallVector<int64_t>(shape), shapeOf(onFalse),
                                           shape) &&
        ArrayRef<int64_t>(shape) == shapeOf(chosen))
      return chosen;
  }
  return build<graph::WhereOp>({condition, onTrue, onFalse});
}

Value GradientBuilder::scale(Value value, double factor) {
  if (!canBuild("graph.mul", value))
    return {};
  auto type = llvm::cast<RankedTensorType>(value.getType());
  return mul(value, scalar(type.getElementType(), factor));
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

Value GradientBuilder::reshape(Value value, RankedTensorType type) {
  if (!canBuild("graph.reshape", value))
    return {};
  // Reshaping a reshape reads the same elements in the same order: go to
  // the source, so that chains of shape-only gradients collapse.
  if (auto producer = value.getDefiningOp<graph::ReshapeOp>())
    value = producer.getInput();
  if (value.getType() == type)
    return value;
  return buildWithType<graph::ReshapeOp>(type, {value, i64Vector(type.getShape())});
}

Value GradientBuilder::expand(Value value, RankedTensorType type) {
  if (!canBuild("graph.expand", value))
    return {};
  if (value.getType() == type)
    return value;
  return buildWithType<graph::ExpandOp>(type, {value, i64Vector(type.getShape())});
}

Value GradientBuilder::transpose(Value value, ArrayRef<int64_t> perm) {
  return build<graph::TransposeOp>({value},
                                   {getNamedAttr("perm", getDenseI64ArrayAttr(perm))});
}

Value GradientBuilder::transposeLastTwo(Value value) {
  if (!canBuild("graph.transpose", value))
    return {};
  int64_t rank = llvm::cast<RankedTensorType>(value.getType()).getRank();
  SmallVector<int64_t> perm(rank);
  std::iota(perm.begin(), perm.end(), 0);
  if (rank >= 2)
    std::swap(perm[rank - 1], perm[rank - 2]);
  return transpose(value, perm);
}

Value GradientBuilder::cast(Value value, Type elementType) {
  if (!canBuild("graph.cast", value))
    return {};
  auto type = llvm::cast<RankedTensorType>(value.getType());
  if (type.getElementType() == elementType)
    return value;
  return buildWithType<graph::CastOp>(type.clone(elementType), {value});
}

Value GradientBuilder::reduceSum(Value value, ArrayRef<int64_t> axes, bool keepDims) {
  return build<graph::ReduceSumOp>({value},
                                   {getNamedAttr("axes", getDenseI64ArrayAttr(axes)),
                                    getNamedAttr("keep_dims", getBoolAttr(keepDims))});
}

Value GradientBuilder::reduceToShape(Value gradient, RankedTensorType type) {
  if (!canBuild("graph.reduce_sum", gradient))
    return {};
  auto gradientType = llvm::cast<RankedTensorType>(gradient.getType());
  ArrayRef<int64_t> from = gradientType.getShape(), to = type.getShape();
  if (from.size() < to.size()) {
    fail(nullptr, "gradient of shape " + graph::formatShape(from) +
                      " cannot belong to an operand of shape " + graph::formatShape(to));
    return {};
  }
  // Broadcasting aligns trailing dims: the leading extra dims, and unit dims
  // of the operand stretched in the result, were added by it.
  int64_t leading = from.size() - to.size();
  SmallVector<int64_t> axes;
  for (int64_t d = 0, e = from.size(); d < e; ++d)
    if (d < leading || (to[d - leading] == 1 && from[d] != 1))
      axes.push_back(d);
  Value reduced = gradient;
  if (!axes.empty())
    reduced = reduceSum(gradient, axes, /*keepDims=*/false);
  return reshape(reduced, type);
}

LogicalResult GradientBuilder::buildQueryKeyValueGrads(Operation *op, StringRef name,
                                                      ValueRange operands,
                                                      ArrayRef<NamedAttribute> attrs,
                                                      SmallVectorImpl<Value> &operandGrads) {
  SmallVector<Value> grads = buildInferred(name, operands, attrs, 3);
  if (grads.empty())
    return failure();
  for (unsigned i = 0; i < 3; ++i)
    if (needsGradient(op->getOperand(i)))
      operandGrads[i] = grads[i];
  return success();
}

} // namespace sp::autodiff
