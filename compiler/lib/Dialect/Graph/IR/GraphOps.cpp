//===- GraphOps.cpp - graph dialect operations -----------------------------===//
//
// Result-type inference, verifiers and folders. Inference never asserts: an
// operand combination that ONNX would reject is a diagnostic, so that bad
// models end in a clear message rather than a crash.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphAttributes.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "sp/Semantics/Axes.h"
#include "sp/Semantics/Broadcast.h"
#include "sp/Semantics/Matmul.h"
#include "sp/Semantics/Slice.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Format.h"

#include <cmath>
#include <numeric>

using namespace mlir;

namespace sp::graph {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static RankedTensorType rankedType(Type type) {
  return llvm::dyn_cast<RankedTensorType>(type);
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (i)
      text += ", ";
    text += ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
  }
  return text + "]";
}

/// Maps an ONNX-style axis in [-rank, rank) to [0, rank).
using sp::semantics::normalizeAxis;

/// Two dims that must be equal: the known one wins, mismatch is an error.
static std::optional<int64_t> mergeDims(int64_t a, int64_t b) {
  if (!sp::semantics::mergeEqualDims(a, b, ShapedType::kDynamic))
    return std::nullopt;
  return a;
}

bool areCompatibleResultTypes(TypeRange inferred, TypeRange actual) {
  if (inferred.size() != actual.size())
    return false;
  for (auto [a, b] : llvm::zip(inferred, actual)) {
    auto left = rankedType(a), right = rankedType(b);
    if (!left || !right || left.getElementType() != right.getElementType() ||
        failed(verifyCompatibleShape(left, right)))
      return false;
  }
  return true;
}

std::optional<SmallVector<int64_t>> getConstantIntValues(Value value) {
  DenseIntElementsAttr attr;
  if (!value || !matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<int64_t> values;
  for (const APInt &element : attr.getValues<APInt>())
    values.push_back(element.getSExtValue());
  return values;
}

using sp::semantics::resolveSlice;
using sp::semantics::SliceRange;

namespace {
/// The constant operands of a slice; axes normalized to [0, rank).
struct SliceParameters {
  SmallVector<int64_t> starts, ends, axes, steps;
};
} // namespace

static FailureOr<std::optional<SliceParameters>>
getSliceParameters(std::optional<Location> location, Value starts, Value ends,
                   Value axes, Value steps, int64_t rank) {
  auto s = getConstantIntValues(starts), e = getConstantIntValues(ends),
       a = getConstantIntValues(axes), st = getConstantIntValues(steps);
  if (!s || !e || !a || !st)
    return std::optional<SliceParameters>();
  if (s->size() != e->size() || s->size() != a->size() || s->size() != st->size())
    return emitOptionalError(location, "slice starts, ends, axes and steps ",
                             "must have the same length");
  SliceParameters parameters{*s, *e, {}, *st};
  for (int64_t axis : *a) {
    std::optional<int64_t> normalized = normalizeAxis(axis, rank);
    if (!normalized || llvm::is_contained(parameters.axes, *normalized))
      return emitOptionalError(location, "slice axis ", axis,
                               " is out of range or repeated for rank ", rank);
    parameters.axes.push_back(*normalized);
  }
  if (llvm::is_contained(parameters.steps, 0))
    return emitOptionalError(location, "slice step must not be zero");
  return std::optional<SliceParameters>(parameters);
}

/// One value of a shape computation: known, or else maybe known to be dim
/// `dim` of `source`, which lets a reshape match it against its input's dims.
struct ShapeElement {
  std::optional<int64_t> value;
  Value source;
  int64_t dim = -1;
};
using PartialValues = SmallVector<ShapeElement>;

/// The values of a 0-D or 1-D integer tensor of static shape, each known where
/// the shape computation that produced it can tell: dims read off a tensor
/// with `graph.shape` are known where that tensor's dims are static, and they
/// stay known through the ops that move shape values around.
static std::optional<PartialValues> shapeElements(Value value, int depth = 0) {
  auto type = rankedType(value.getType());
  if (!type || type.getRank() > 1 || !type.hasStaticShape() ||
      !llvm::isa<IntegerType>(type.getElementType()))
    return std::nullopt;
  int64_t count = type.getNumElements();
  if (std::optional<SmallVector<int64_t>> known = getConstantIntValues(value)) {
    PartialValues values;
    for (int64_t v : *known)
      values.push_back({v, {}, -1});
    return values;
  }
  PartialValues unknown(count);
  // Shape computations are short; a deep chain is not one.
  if (depth > 32)
    return unknown;
  auto operandValues = [&](Value operand) -> std::optional<PartialValues> {
    return shapeElements(operand, depth + 1);
  };
  Operation *op = value.getDefiningOp();
  if (!op)
    return unknown;
  if (auto concat = llvm::dyn_cast<ConcatOp>(op)) {
    PartialValues values;
    for (Value piece : concat.getInputs()) {
      std::optional<PartialValues> pieceValues = operandValues(piece);
      if (!pieceValues)
        return unknown;
      values.append(pieceValues->begin(), pieceValues->end());
    }
    return values.size() == size_t(count) ? values : unknown;
  }
  // A shape that was read off a tensor knows the dims that are static.
  if (auto shape = llvm::dyn_cast<ShapeOp>(op)) {
    ArrayRef<int64_t> dims = shape.getInput().getType().getShape();
    int64_t rank = dims.size();
    int64_t first = shape.getStart() < 0 ? shape.getStart() + rank : shape.getStart();
    first = std::clamp<int64_t>(first, 0, rank);
    if (first + count > rank)
      return unknown;
    PartialValues values;
    for (int64_t i = 0; i < count; ++i) {
      int64_t dim = dims[first + i];
      if (ShapedType::isDynamic(dim))
        values.push_back({std::nullopt, shape.getInput(), first + i});
      else
        values.push_back({dim, {}, -1});
    }
    return values;
  }
  // Same values, another rank (0-D <-> 1-D of one element) or integer type.
  if (llvm::isa<SqueezeOp, UnsqueezeOp, CastOp, ReshapeOp>(op)) {
    auto inputType = rankedType(op->getOperand(0).getType());
    if (llvm::isa<CastOp>(op) &&
        (!llvm::isa<IntegerType>(inputType.getElementType()) ||
         type.getElementType().getIntOrFloatBitWidth() <
             inputType.getElementType().getIntOrFloatBitWidth()))
      return unknown;
    std::optional<PartialValues> values = operandValues(op->getOperand(0));
    return values && values->size() == size_t(count) ? *values : unknown;
  }
  if (auto slice = llvm::dyn_cast<SliceOp>(op)) {
    std::optional<PartialValues> input = operandValues(slice.getInput());
    auto parameters = getSliceParameters(std::nullopt, slice.getStarts(),
                                         slice.getEnds(), slice.getAxes(),
                                         slice.getSteps(), 1);
    if (!input || failed(parameters) || !*parameters ||
        rankedType(slice.getInput().getType()).getRank() != 1)
      return unknown;
    SliceRange range{0, 1, int64_t(input->size())};
    if (!(*parameters)->axes.empty())
      range = resolveSlice((*parameters)->starts[0], (*parameters)->ends[0],
                           (*parameters)->steps[0], input->size());
    if (range.length != count)
      return unknown;
    PartialValues values;
    for (int64_t i = 0; i < count; ++i)
      values.push_back((*input)[range.start + i * range.step]);
    return values;
  }
  if (auto gather = llvm::dyn_cast<GatherOp>(op)) {
    std::optional<PartialValues> data = operandValues(gather.getData());
    std::optional<SmallVector<int64_t>> indices =
        getConstantIntValues(gather.getIndices());
    if (!data || !indices || indices->size() != size_t(count) ||
        rankedType(gather.getData().getType()).getRank() != 1)
      return unknown;
    PartialValues values;
    int64_t size = data->size();
    for (int64_t index : *indices) {
      if (index < -size || index >= size)
        return unknown;
      values.push_back((*data)[index < 0 ? index + size : index]);
    }
    return values;
  }
  return unknown;
}

/// The values of a 1-D shape operand with where they come from.
static std::optional<PartialValues> shapeOperandElements(Value value) {
  auto type = rankedType(value.getType());
  if (!type || type.getRank() != 1)
    return std::nullopt;
  return shapeElements(value);
}

std::optional<SmallVector<std::optional<int64_t>>>
getPartialIntValues(Value value) {
  std::optional<PartialValues> elements = shapeOperandElements(value);
  if (!elements)
    return std::nullopt;
  SmallVector<std::optional<int64_t>> values;
  for (const ShapeElement &element : *elements)
    values.push_back(element.value);
  return values;
}

// Function arguments name their symbolic dims in graph.dim_names (ONNX
// `dim_param`, GraphAttributes.h); dims of one name are equal at run time, as
// ONNX specifies.

/// The first (argument, dim) of the function whose dim has the same symbolic
/// name as dim `dim` of `argument`; the argument itself when it has no name.
static std::pair<Value, int64_t> symbolicArgumentDim(BlockArgument argument,
                                                     int64_t dim) {
  auto function = llvm::dyn_cast_or_null<FunctionOpInterface>(
      argument.getOwner()->getParentOp());
  if (!function || !argument.getOwner()->isEntryBlock())
    return {argument, dim};
  auto nameOf = [&](unsigned index, int64_t d) -> StringRef {
    auto names = function.getArgAttrOfType<ArrayAttr>(index, kDimNamesAttr);
    if (!names || d < 0 || d >= int64_t(names.size()))
      return {};
    auto name = llvm::dyn_cast<StringAttr>(names[d]);
    return name ? name.getValue() : StringRef();
  };
  StringRef name = nameOf(argument.getArgNumber(), dim);
  if (name.empty())
    return {argument, dim};
  Block *entry = argument.getOwner();
  for (BlockArgument other : entry->getArguments()) {
    auto type = rankedType(other.getType());
    for (int64_t d = 0; type && d < type.getRank(); ++d)
      if (type.isDynamicDim(d) && nameOf(other.getArgNumber(), d) == name)
        return {other, d};
  }
  return {argument, dim};
}

/// The (value, dim) that dynamic dim `dim` of `value` was carried over from,
/// following ops that pass a dim through unchanged. Two dims with the same
/// origin are equal at run time, which lets inference cancel them.
static std::pair<Value, int64_t> dimOrigin(Value value, int64_t dim,
                                           int64_t &budget) {
  while (budget-- > 0) {
    if (auto argument = llvm::dyn_cast<BlockArgument>(value))
      return symbolicArgumentDim(argument, dim);
    Operation *op = value.getDefiningOp();
    auto type = rankedType(value.getType());
    if (!op || !type || dim < 0 || dim >= type.getRank() ||
        !type.isDynamicDim(dim))
      break;
    // Among broadcast operands, those that have this dim dynamic decide it.
    // Two of them may differ at run time (one of them 1), unless they have
    // the same origin.
    auto fromBroadcast = [&](ValueRange operands, int64_t resultRank,
                             int64_t droppedTrailing)
        -> std::optional<std::pair<Value, int64_t>> {
      SmallVector<std::pair<Value, int64_t>> candidates;
      for (Value operand : operands) {
        auto operandType = rankedType(operand.getType());
        int64_t rank = operandType.getRank() - droppedTrailing;
        int64_t index = dim - (resultRank - droppedTrailing - rank);
        if (index >= 0 && index < rank && operandType.isDynamicDim(index))
          candidates.push_back({operand, index});
      }
      if (candidates.size() <= 1)
        return candidates.empty() ? std::nullopt
                                  : std::optional(candidates.front());
      std::pair<Value, int64_t> origin =
          dimOrigin(candidates.front().first, candidates.front().second, budget);
      for (auto [operand, index] : ArrayRef(candidates).drop_front())
        if (dimOrigin(operand, index, budget) != origin)
          return std::nullopt;
      return origin;
    };
    std::optional<std::pair<Value, int64_t>> next;
    if (op->hasTrait<OpTrait::SameOperandsAndResultType>() ||
        llvm::isa<CastOp, IsNaNOp, IsInfOp, LayerNormOp>(op)) {
      next = {op->getOperand(0), dim};
    } else if (llvm::isa<AddOp, SubOp, MulOp, DivOp, MaxOp, MinOp, PowOp, ModOp,
                         FModOp, EqualOp, LessOp, LessEqualOp, GreaterOp,
                         GreaterEqualOp, AndOp, OrOp, XorOp, WhereOp>(op)) {
      next = fromBroadcast(op->getOperands(), type.getRank(), 0);
    } else if (auto matmul = llvm::dyn_cast<MatMulOp>(op)) {
      int64_t lhsRank = matmul.getLhs().getType().getRank();
      int64_t rhsRank = matmul.getRhs().getType().getRank();
      int64_t rank = type.getRank();
      if (lhsRank < 2 || rhsRank < 2)
        break;
      if (dim == rank - 2)
        next = {matmul.getLhs(), lhsRank - 2};
      else if (dim == rank - 1)
        next = {matmul.getRhs(), rhsRank - 1};
      else
        next = fromBroadcast(op->getOperands(), rank, 2);
    } else if (llvm::isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(op)) {
      auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes");
      auto keepDims = op->getAttrOfType<BoolAttr>("keep_dims");
      if (axes && !axes.empty() && (!keepDims || keepDims.getValue()) &&
          !llvm::is_contained(axes.asArrayRef(), dim))
        next = {op->getOperand(0), dim};
    } else if (auto transpose = llvm::dyn_cast<TransposeOp>(op)) {
      next = {transpose.getInput(), transpose.getPerm()[dim]};
    } else if (auto split = llvm::dyn_cast<SplitOp>(op)) {
      if (dim != split.getAxis())
        next = {split.getInput(), dim};
    } else if (auto slice = llvm::dyn_cast<SliceOp>(op)) {
      auto parameters = getSliceParameters(std::nullopt, slice.getStarts(),
                                           slice.getEnds(), slice.getAxes(),
                                           slice.getSteps(), type.getRank());
      if (succeeded(parameters) && *parameters &&
          !llvm::is_contained((*parameters)->axes, dim))
        next = {slice.getInput(), dim};
    } else if (auto unsqueeze = llvm::dyn_cast<UnsqueezeOp>(op)) {
      ArrayRef<int64_t> axes = unsqueeze.getAxes();
      if (!llvm::is_contained(axes, dim))
        next = {unsqueeze.getInput(),
                dim - llvm::count_if(axes, [&](int64_t a) { return a < dim; })};
    } else if (auto squeeze = llvm::dyn_cast<SqueezeOp>(op)) {
      int64_t index = dim;
      for (int64_t axis : squeeze.getAxes()) // sorted
        if (axis <= index)
          ++index;
      next = {squeeze.getInput(), index};
    } else if (auto gather = llvm::dyn_cast<GatherOp>(op)) {
      int64_t axis = gather.getAxis();
      int64_t indicesRank = gather.getIndices().getType().getRank();
      if (axis < 0)
        axis += gather.getData().getType().getRank();
      if (dim < axis)
        next = {gather.getData(), dim};
      else if (dim < axis + indicesRank)
        next = {gather.getIndices(), dim - axis};
      else
        next = {gather.getData(), dim - indicesRank + 1};
    } else if (auto reshape = llvm::dyn_cast<ReshapeOp>(op)) {
      std::optional<PartialValues> elements = shapeElements(reshape.getShape());
      if (elements && dim < int64_t(elements->size())) {
        const ShapeElement &element = (*elements)[dim];
        if (!element.value && element.source)
          next = {element.source, element.dim};
        else if (element.value && *element.value == 0 && !reshape.getAllowZero())
          next = {reshape.getInput(), dim};
      }
    }
    if (!next)
      break;
    value = next->first;
    dim = next->second;
  }
  return {value, dim};
}

/// A small integer result whose every value the shape computation knows,
/// as a constant; null otherwise.
static Attribute foldKnownIntValues(Value result) {
  std::optional<PartialValues> values = shapeElements(result);
  if (!values || llvm::any_of(*values, [](const ShapeElement &e) {
        return !e.value.has_value();
      }))
    return {};
  auto type = llvm::cast<RankedTensorType>(result.getType());
  SmallVector<APInt> elements;
  for (const ShapeElement &e : *values)
    elements.push_back(APInt(type.getElementType().getIntOrFloatBitWidth(), *e.value,
                             /*isSigned=*/true, /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, elements);
}

//===----------------------------------------------------------------------===//
// Dialect
//===----------------------------------------------------------------------===//

Operation *GraphDialect::materializeConstant(OpBuilder &builder,
                                             Attribute value, Type type,
                                             Location loc) {
  auto elements = llvm::dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, type, elements);
}

//===----------------------------------------------------------------------===//
// ConstantOp
//===----------------------------------------------------------------------===//

LogicalResult ConstantOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> location,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  auto type = rankedType(adaptor.getValue().getType());
  if (!type)
    return emitOptionalError(location, "constant value must be a ranked tensor");
  types.push_back(type);
  return success();
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Element-wise ops
//===----------------------------------------------------------------------===//

static bool isLogical(BinaryKind kind) {
  return kind == BinaryKind::And || kind == BinaryKind::Or ||
         kind == BinaryKind::Xor;
}
static bool isComparison(BinaryKind kind) {
  return kind == BinaryKind::Equal || kind == BinaryKind::Less ||
         kind == BinaryKind::LessEqual || kind == BinaryKind::Greater ||
         kind == BinaryKind::GreaterEqual;
}

/// The NumPy broadcast of `shapes`, or an error naming them.
static FailureOr<SmallVector<int64_t>>
broadcastShapes(std::optional<Location> location,
                ArrayRef<ArrayRef<int64_t>> shapes) {
  std::vector<int64_t> result;
  for (ArrayRef<int64_t> shape : shapes) {
    if (!sp::semantics::broadcastInto(result, shape.data(), shape.size(),
                                      ShapedType::kDynamic)) {
      std::string names;
      for (auto [i, each] : llvm::enumerate(shapes))
        names += (i ? " and " : "") + formatShape(each);
      return emitOptionalError(location, "shapes ", names,
                               " do not broadcast");
    }
  }
  return SmallVector<int64_t>(result.begin(), result.end());
}

LogicalResult inferBroadcastBinaryType(BinaryKind kind,
                                       std::optional<Location> location,
                                       Type lhsType, Type rhsType,
                                       SmallVectorImpl<Type> &types) {
  auto lhs = rankedType(lhsType), rhs = rankedType(rhsType);
  if (!lhs || !rhs)
    return emitOptionalError(location, "operands must be ranked tensors");
  FailureOr<SmallVector<int64_t>> shape =
      broadcastShapes(location, {lhs.getShape(), rhs.getShape()});
  if (failed(shape))
    return failure();
  Type elementType = lhs.getElementType();
  if (isComparison(kind))
    elementType = IntegerType::get(lhs.getContext(), 1);
  types.push_back(RankedTensorType::get(*shape, elementType));
  return success();
}

LogicalResult verifyBroadcastBinary(BinaryKind kind, Operation *op) {
  Type lhs = llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  Type rhs = llvm::cast<RankedTensorType>(op->getOperand(1).getType()).getElementType();
  if (isLogical(kind) && (!lhs.isInteger(1) || !rhs.isInteger(1)))
    return op->emitOpError("operands must be i1 tensors, got ")
           << lhs << " and " << rhs;
  if (kind != BinaryKind::Pow && lhs != rhs)
    return op->emitOpError("operand element types differ: ") << lhs << " vs " << rhs;
  if (kind == BinaryKind::Pow && !llvm::isa<FloatType, IntegerType>(rhs))
    return op->emitOpError("exponent must be a float or integer tensor");
  if (!isComparison(kind) &&
      llvm::cast<RankedTensorType>(op->getResult(0).getType()).getElementType() != lhs)
    return op->emitOpError("result element type must be ") << lhs;
  return success();
}

LogicalResult verifyUnary(UnaryKind kind, Operation *op) {
  Type element =
      llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  if (kind == UnaryKind::Not) {
    if (!element.isInteger(1))
      return op->emitOpError("operand must be an i1 tensor, got ") << element;
    return success();
  }
  bool integerAllowed = kind == UnaryKind::Neg || kind == UnaryKind::Abs ||
                        kind == UnaryKind::Relu;
  if (!llvm::isa<FloatType>(element) &&
      !(integerAllowed && llvm::isa<IntegerType>(element) && !element.isInteger(1)))
    return op->emitOpError("operand must be a ")
           << (integerAllowed ? "float or integer" : "float")
           << " tensor, got " << element;
  return success();
}


LogicalResult WhereOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto condition = rankedType(adaptor.getCondition().getType());
  auto onTrue = rankedType(adaptor.getOnTrue().getType());
  auto onFalse = rankedType(adaptor.getOnFalse().getType());
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(
      location, {condition.getShape(), onTrue.getShape(), onFalse.getShape()});
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, onTrue.getElementType()));
  return success();
}

LogicalResult WhereOp::verify() {
  if (!getCondition().getType().getElementType().isInteger(1))
    return emitOpError("condition must be an i1 tensor");
  if (getOnTrue().getType().getElementType() !=
      getOnFalse().getType().getElementType())
    return emitOpError("branch element types differ: ")
           << getOnTrue().getType().getElementType() << " vs "
           << getOnFalse().getType().getElementType();
  return success();
}

OpFoldResult WhereOp::fold(FoldAdaptor adaptor) {
  auto type = getType();
  if (!type.hasStaticShape() || type.getNumElements() > kMaxFoldedElements)
    return {};
  std::optional<HostTensor> condition = HostTensor::fromAttr(adaptor.getCondition());
  std::optional<HostTensor> onTrue = HostTensor::fromAttr(adaptor.getOnTrue());
  std::optional<HostTensor> onFalse = HostTensor::fromAttr(adaptor.getOnFalse());
  if (!condition || !onTrue || !onFalse)
    return {};
  HostTensor result = HostTensor::zeros(type);
  forEachBroadcastElement(
      type.getShape(),
      {condition->type.getShape(), onTrue->type.getShape(),
       onFalse->type.getShape()},
      [&](int64_t out, ArrayRef<int64_t> in) {
        if (condition->ints[in[0]])
          result.copyElement(out, *onTrue, in[1]);
        else
          result.copyElement(out, *onFalse, in[2]);
      });
  return result.toAttr();
}

//===----------------------------------------------------------------------===//
// IsNaNOp, IsInfOp
//===----------------------------------------------------------------------===//

static LogicalResult inferFloatClassType(std::optional<Location> location,
                                         Type inputType,
                                         SmallVectorImpl<Type> &types) {
  auto input = rankedType(inputType);
  if (!input)
    return emitOptionalError(location, "operand must be a ranked tensor");
  types.push_back(input.clone(IntegerType::get(input.getContext(), 1)));
  return success();
}

static LogicalResult verifyFloatClass(Operation *op) {
  Type element =
      llvm::cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
  if (!llvm::isa<FloatType>(element))
    return op->emitOpError("operand must be a float tensor, got ") << element;
  return success();
}

/// Evaluates `test` on every element of a constant float operand.
static Attribute foldFloatClass(Attribute inputAttr, Type resultType,
                                llvm::function_ref<bool(double)> test) {
  std::optional<HostTensor> input = HostTensor::fromAttr(inputAttr);
  auto type = rankedType(resultType);
  if (!input || !input->isFloat || !type || !type.hasStaticShape())
    return {};
  HostTensor result = HostTensor::zeros(type);
  for (int64_t i = 0, e = input->numElements(); i < e; ++i)
    result.setInt(i, test(input->floats[i]));
  return result.toAttr();
}

LogicalResult IsNaNOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  return inferFloatClassType(location, adaptor.getInput().getType(), types);
}

LogicalResult IsNaNOp::verify() { return verifyFloatClass(getOperation()); }

OpFoldResult IsNaNOp::fold(FoldAdaptor adaptor) {
  return foldFloatClass(adaptor.getInput(), getType(),
                        [](double x) { return std::isnan(x); });
}

LogicalResult IsInfOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  return inferFloatClassType(location, adaptor.getInput().getType(), types);
}

LogicalResult IsInfOp::verify() { return verifyFloatClass(getOperation()); }

OpFoldResult IsInfOp::fold(FoldAdaptor adaptor) {
  bool negative = getDetectNegative(), positive = getDetectPositive();
  return foldFloatClass(adaptor.getInput(), getType(), [&](double x) {
    return std::isinf(x) && (x < 0 ? negative : positive);
  });
}

LogicalResult CastOp::verify() {
  if (failed(verifyCompatibleShape(getInput().getType(), getType())))
    return emitOpError("result shape ")
           << formatShape(getType().getShape()) << " differs from input shape "
           << formatShape(getInput().getType().getShape());
  return success();
}

OpFoldResult CastOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  if (getInput().getType() == getType())
    return getInput();
  std::optional<HostTensor> input = HostTensor::fromAttr(adaptor.getInput());
  if (!input || !getType().hasStaticShape())
    return {};
  HostTensor result = HostTensor::zeros(getType());
  for (int64_t i = 0, e = input->numElements(); i < e; ++i)
    result.copyElement(i, *input, i);
  return result.toAttr();
}

//===----------------------------------------------------------------------===//
// Linear algebra and normalization
//===----------------------------------------------------------------------===//

/// Why two operands of `op` do not multiply, as a diagnostic.
static LogicalResult productError(std::optional<Location> location, StringRef op,
                                  sp::semantics::ProductError error,
                                  ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs) {
  if (error == sp::semantics::ProductError::None)
    return success();
  return emitOptionalError(location, op, " ",
                           sp::semantics::describeProductError(error, formatShape(lhs),
                                                               formatShape(rhs)));
}

LogicalResult MatMulOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto lhs = rankedType(adaptor.getLhs().getType());
  auto rhs = rankedType(adaptor.getRhs().getType());
  if (lhs.getRank() > 0 && rhs.getRank() > 0 &&
      lhs.getElementType() != rhs.getElementType())
    return emitOptionalError(location, "matmul element types differ: ",
                             lhs.getElementType(), " vs ", rhs.getElementType());
  sp::semantics::MatmulShape shape;
  if (failed(productError(
          location, "matmul",
          sp::semantics::matmulShape(lhs.getShape().vec(), rhs.getShape().vec(),
                                     ShapedType::kDynamic, shape),
          lhs.getShape(), rhs.getShape())))
    return failure();
  types.push_back(RankedTensorType::get(shape.result, lhs.getElementType()));
  return success();
}

namespace {
/// `x @ transpose(W)` with a 2-D W, as exporters write nn.Linear, becomes a
/// gemm reading W transposed in place: x's leading dims flatten into rows
/// (a view), so no transposed copy of the weight exists in any step.
struct MatMulOfTransposedWeight : public OpRewritePattern<MatMulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatMulOp op, PatternRewriter &rewriter) const override {
    auto transpose = op.getRhs().getDefiningOp<TransposeOp>();
    if (!transpose)
      return failure();
    Value weight = transpose.getInput();
    auto weightType = llvm::cast<RankedTensorType>(weight.getType());
    auto lhsType = llvm::cast<RankedTensorType>(op.getLhs().getType());
    auto resultType = op.getType();
    if (weightType.getRank() != 2 || transpose.getPerm() != ArrayRef<int64_t>{1, 0} ||
        lhsType.getRank() < 2 || !lhsType.hasStaticShape() ||
        !weightType.hasStaticShape() || !resultType.hasStaticShape())
      return failure();
    int64_t inner = lhsType.getShape().back();
    int64_t rows = lhsType.getNumElements() / std::max<int64_t>(inner, 1);
    int64_t columns = weightType.getDimSize(0);
    Type element = resultType.getElementType();
    Location loc = op.getLoc();
    auto reshapeTo = [&](Value value, ArrayRef<int64_t> shape) -> Value {
      auto shapeType = RankedTensorType::get({int64_t(shape.size())}, rewriter.getI64Type());
      Value shapeValue = ConstantOp::create(rewriter, loc, shapeType,
                                            DenseElementsAttr::get(shapeType, shape));
      auto type = RankedTensorType::get(shape, element);
      return ReshapeOp::create(rewriter, loc, type, value, shapeValue,
                               rewriter.getBoolAttr(false));
    };
    Value lhs = op.getLhs();
    if (lhsType.getRank() != 2)
      lhs = reshapeTo(lhs, {rows, inner});
    Value product = GemmOp::create(
        rewriter, loc, RankedTensorType::get({rows, columns}, element), lhs, weight,
        /*c=*/Value(), rewriter.getF64FloatAttr(1.0), rewriter.getF64FloatAttr(1.0),
        rewriter.getBoolAttr(false), rewriter.getBoolAttr(true));
    if (resultType.getRank() != 2)
      product = reshapeTo(product, resultType.getShape());
    rewriter.replaceOp(op, product);
    return success();
  }
};
} // namespace

void MatMulOp::getCanonicalizationPatterns(RewritePatternSet &patterns,
                                           MLIRContext *context) {
  patterns.add<MatMulOfTransposedWeight>(context);
}

LogicalResult GemmOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> location,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &types) {
  auto a = rankedType(adaptor.getA().getType());
  auto b = rankedType(adaptor.getB().getType());
  if (a.getElementType() != b.getElementType())
    return emitOptionalError(location, "gemm element types differ");
  sp::semantics::GemmDims dims;
  if (failed(productError(location, "gemm",
                          sp::semantics::gemmShape(a.getShape().vec(), b.getShape().vec(),
                                                   adaptor.getTransposeA(),
                                                   adaptor.getTransposeB(),
                                                   ShapedType::kDynamic, dims),
                          a.getShape(), b.getShape())))
    return failure();
  SmallVector<int64_t> shape = {dims.m, dims.n};
  if (Value c = adaptor.getC()) {
    auto cType = rankedType(c.getType());
    SmallVector<int64_t> broadcast;
    if (cType.getRank() > 2 ||
        !OpTrait::util::getBroadcastedShape(shape, cType.getShape(), broadcast) ||
        failed(verifyCompatibleShape(broadcast, shape)))
      return emitOptionalError(location, "gemm bias of shape ",
                               formatShape(cType.getShape()),
                               " does not broadcast to ", formatShape(shape));
  }
  types.push_back(RankedTensorType::get(shape, a.getElementType()));
  return success();
}

LogicalResult SoftmaxOp::verify() {
  if (!normalizeAxis(getAxis(), getType().getRank()))
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << getType().getRank();
  return success();
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location>,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult LayerNormOp::verify() {
  auto input = getInput().getType();
  std::optional<int64_t> axis = normalizeAxis(getAxis(), input.getRank());
  if (!axis)
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << input.getRank();
  ArrayRef<int64_t> normalized = input.getShape().drop_front(*axis);
  for (Value parameter : {getScale(), getBias()}) {
    if (!parameter)
      continue;
    auto type = llvm::cast<RankedTensorType>(parameter.getType());
    SmallVector<int64_t> broadcast;
    if (!OpTrait::util::getBroadcastedShape(normalized, type.getShape(), broadcast) ||
        failed(verifyCompatibleShape(broadcast, normalized)))
      return emitOpError("scale/bias of shape ")
             << formatShape(type.getShape())
             << " does not broadcast to the normalized shape "
             << formatShape(normalized);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and scans
//===----------------------------------------------------------------------===//

/// A reduction's axes as the semantics library defines them.
static LogicalResult checkReductionAxes(std::optional<Location> location,
                                        ArrayRef<int64_t> axes, int64_t rank) {
  sp::semantics::AxesError error =
      sp::semantics::checkReductionAxes(axes.data(), axes.size(), rank);
  if (error == sp::semantics::AxesError::None)
    return success();
  return emitOptionalError(location,
                           sp::semantics::describeAxesError(error, rank, formatShape(axes)));
}

template <typename ReduceOp>
static LogicalResult inferReduceType(std::optional<Location> location,
                                     typename ReduceOp::Adaptor adaptor,
                                     SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  if (failed(checkReductionAxes(location, axes, input.getRank())))
    return failure();
  std::vector<int64_t> shape = sp::semantics::reducedShape(
      input.getShape().data(), input.getRank(), axes.data(), axes.size(),
      adaptor.getKeepDims());
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

#define SP_REDUCE_OP(OpClass)                                                  \
  LogicalResult OpClass::inferReturnTypes(MLIRContext *,                       \
                                          std::optional<Location> location,    \
                                          Adaptor adaptor,                     \
                                          SmallVectorImpl<Type> &types) {      \
    return inferReduceType<OpClass>(location, adaptor, types);                 \
  }                                                                            \
  LogicalResult OpClass::verify() {                                            \
    return checkReductionAxes(getLoc(), getAxes(),                             \
                              getInput().getType().getRank());                 \
  }
SP_REDUCE_OP(ReduceSumOp)
SP_REDUCE_OP(ReduceMeanOp)
SP_REDUCE_OP(ReduceMaxOp)
#undef SP_REDUCE_OP

LogicalResult CumSumOp::verify() {
  if (!normalizeAxis(getAxis(), getType().getRank()))
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << getType().getRank();
  return success();
}

OpFoldResult CumSumOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> input = HostTensor::fromAttr(adaptor.getInput());
  if (!input)
    return {};
  ArrayRef<int64_t> shape = getType().getShape();
  int64_t axis = *normalizeAxis(getAxis(), shape.size());
  int64_t stride = rowMajorStrides(shape)[axis], length = shape[axis];
  HostTensor result = HostTensor::zeros(getType());
  int64_t total = input->numElements();
  for (int64_t base = 0; base < total; ++base) {
    // Visit each line along `axis` once, from its first element.
    if ((base / stride) % length != 0)
      continue;
    double floatSum = 0;
    int64_t intSum = 0;
    for (int64_t step = 0; step < length; ++step) {
      int64_t k = getReverse() ? length - 1 - step : step;
      int64_t index = base + k * stride;
      if (getExclusive()) {
        input->isFloat ? result.set(index, floatSum) : result.setInt(index, intSum);
      }
      floatSum += input->isFloat ? input->floats[index] : 0.0;
      intSum += input->isFloat ? 0 : input->ints[index];
      if (!getExclusive()) {
        input->isFloat ? result.set(index, floatSum) : result.setInt(index, intSum);
      }
    }
  }
  return result.toAttr();
}

//===----------------------------------------------------------------------===//
// Shapes and index computations
//===----------------------------------------------------------------------===//

/// The [start, end) dims that graph.shape reads, clamped as ONNX Shape does.
static std::pair<int64_t, int64_t> shapeBounds(int64_t rank, int64_t start,
                                               std::optional<int64_t> end) {
  int64_t first = start < 0 ? start + rank : start;
  int64_t last = end ? (*end < 0 ? *end + rank : *end) : rank;
  first = std::clamp<int64_t>(first, 0, rank);
  last = std::clamp<int64_t>(last, 0, rank);
  return {first, std::max(first, last)};
}

LogicalResult ShapeOp::inferReturnTypes(MLIRContext *context,
                                        std::optional<Location>,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  auto [first, last] =
      shapeBounds(input.getRank(), adaptor.getStart(), adaptor.getEnd());
  types.push_back(RankedTensorType::get({last - first}, IntegerType::get(context, 64)));
  return success();
}

OpFoldResult ShapeOp::fold(FoldAdaptor) {
  auto input = getInput().getType();
  auto [first, last] = shapeBounds(input.getRank(), getStart(), getEnd());
  ArrayRef<int64_t> dims = input.getShape().slice(first, last - first);
  if (llvm::any_of(dims, ShapedType::isDynamic))
    return {};
  return DenseElementsAttr::get(llvm::cast<ShapedType>(getType()), dims);
}

/// Number of elements of Range(start, limit, delta), as ONNX defines it.
static int64_t rangeLength(double start, double limit, double delta) {
  return std::max<int64_t>(int64_t(std::ceil((limit - start) / delta)), 0);
}

LogicalResult RangeOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto start = rankedType(adaptor.getStart().getType());
  int64_t length = ShapedType::kDynamic;
  DenseElementsAttr startAttr, limitAttr, deltaAttr;
  if (matchPattern(adaptor.getStart(), m_Constant(&startAttr)) &&
      matchPattern(adaptor.getLimit(), m_Constant(&limitAttr)) &&
      matchPattern(adaptor.getDelta(), m_Constant(&deltaAttr))) {
    auto s = HostTensor::fromAttr(startAttr), l = HostTensor::fromAttr(limitAttr),
         d = HostTensor::fromAttr(deltaAttr);
    if (s && l && d) {
      if (d->getAsDouble(0) == 0)
        return emitOptionalError(location, "range delta must not be zero");
      length = rangeLength(s->getAsDouble(0), l->getAsDouble(0), d->getAsDouble(0));
    }
  }
  types.push_back(RankedTensorType::get({length}, start.getElementType()));
  return success();
}

LogicalResult RangeOp::verify() {
  Type element = getStart().getType().getElementType();
  if (getLimit().getType().getElementType() != element ||
      getDelta().getType().getElementType() != element ||
      getType().getElementType() != element)
    return emitOpError("start, limit, delta and result must share one element type");
  return success();
}

OpFoldResult RangeOp::fold(FoldAdaptor adaptor) {
  auto start = HostTensor::fromAttr(adaptor.getStart());
  auto limit = HostTensor::fromAttr(adaptor.getLimit());
  auto delta = HostTensor::fromAttr(adaptor.getDelta());
  auto type = getType();
  if (!start || !limit || !delta || !type.hasStaticShape() ||
      type.getNumElements() > kMaxFoldedElements)
    return {};
  HostTensor result = HostTensor::zeros(type);
  for (int64_t i = 0; i < type.getNumElements(); ++i) {
    if (result.isFloat)
      result.set(i, start->getAsDouble(0) + double(i) * delta->getAsDouble(0));
    else
      result.setInt(i, start->getAsInt(0) + i * delta->getAsInt(0));
  }
  return result.toAttr();
}

/// The dims that a shape operand spells out: known values, `?` elsewhere.
static FailureOr<SmallVector<std::optional<int64_t>>>
shapeOperandValues(std::optional<Location> location, Value shape) {
  std::optional<SmallVector<std::optional<int64_t>>> values =
      getPartialIntValues(shape);
  if (!values)
    return emitOptionalError(location,
                             "shape operand must be a 1-D tensor of static length");
  return *values;
}

LogicalResult ConstantOfShapeOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> location, Adaptor adaptor,
    SmallVectorImpl<Type> &types) {
  auto values = shapeOperandValues(location, adaptor.getShape());
  if (failed(values))
    return failure();
  SmallVector<int64_t> shape;
  for (std::optional<int64_t> dim : *values) {
    if (dim && *dim < 0)
      return emitOptionalError(location, "constant_of_shape dim ", *dim,
                               " is negative");
    shape.push_back(dim ? *dim : ShapedType::kDynamic);
  }
  auto value = llvm::cast<ShapedType>(adaptor.getValue().getType());
  types.push_back(RankedTensorType::get(shape, value.getElementType()));
  return success();
}

LogicalResult ConstantOfShapeOp::verify() {
  if (getValue().getNumElements() != 1)
    return emitOpError("value must hold exactly one element");
  return success();
}

OpFoldResult ConstantOfShapeOp::fold(FoldAdaptor) {
  auto type = llvm::cast<RankedTensorType>(getType());
  auto value = llvm::dyn_cast<DenseElementsAttr>(getValue());
  if (!type.hasStaticShape() || !value)
    return {};
  return DenseElementsAttr::get(type, value.getSplatValue<Attribute>());
}

LogicalResult ReshapeOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> location,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  auto values = shapeOperandValues(location, adaptor.getShape());
  if (failed(values))
    return failure();
  SmallVector<int64_t> shape;
  int64_t inferredIndex = -1;
  for (auto [i, dim] : llvm::enumerate(*values)) {
    if (!dim) {
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    if (*dim == -1) {
      if (inferredIndex >= 0)
        return emitOptionalError(location, "reshape target ",
                                 "has more than one -1 dim");
      inferredIndex = i;
      shape.push_back(ShapedType::kDynamic);
      continue;
    }
    if (*dim < -1)
      return emitOptionalError(location, "reshape target dim ", *dim, " is invalid");
    if (*dim == 0 && !adaptor.getAllowZero()) {
      if (int64_t(i) >= input.getRank())
        return emitOptionalError(location, "reshape target copies dim ", i,
                                 " of a rank-", input.getRank(), " input");
      shape.push_back(input.getDimSize(i));
      continue;
    }
    shape.push_back(*dim);
  }
  if (inferredIndex >= 0 && !input.hasStaticShape()) {
    // Target dims read off the input itself (x.view(x.size(0), -1, 16)) cancel
    // against the input's dims; what is left of both must be static.
    std::optional<PartialValues> elements =
        shapeOperandElements(adaptor.getShape());
    SmallVector<bool> matched(input.getRank(), false);
    std::pair<Value, int64_t> noOrigin{Value(), -1};
    SmallVector<std::pair<Value, int64_t>> inputOrigins;
    // Bounds the walk through long residual chains.
    int64_t budget = 4096;
    for (int64_t d = 0; d < input.getRank(); ++d)
      inputOrigins.push_back(input.isDynamicDim(d)
                                 ? dimOrigin(adaptor.getInput(), d, budget)
                                 : noOrigin);
    auto matchingInputDim = [&](const ShapeElement &element,
                                ArrayRef<bool> taken) -> int64_t {
      std::pair<Value, int64_t> origin =
          dimOrigin(element.source, element.dim, budget);
      for (int64_t d = 0; d < input.getRank(); ++d)
        if (!taken[d] && inputOrigins[d].first && inputOrigins[d] == origin)
          return d;
      return -1;
    };
    bool resolvable = elements.has_value() && elements->size() == shape.size();
    int64_t targetKnown = 1, inputKnown = 1;
    for (int64_t i = 0, e = shape.size(); resolvable && i < e; ++i) {
      if (i == inferredIndex)
        continue;
      const ShapeElement &element = (*elements)[i];
      int64_t copied = -1;
      if (element.value && *element.value == 0 && !adaptor.getAllowZero())
        copied = i;
      else if (!element.value && element.source)
        copied = matchingInputDim(element, matched);
      if (copied >= 0 && copied < input.getRank() && !matched[copied]) {
        matched[copied] = true;
        continue;
      }
      if (ShapedType::isDynamic(shape[i]))
        resolvable = false;
      else
        targetKnown *= shape[i];
    }
    for (int64_t d = 0; resolvable && d < input.getRank(); ++d) {
      if (matched[d])
        continue;
      if (input.isDynamicDim(d))
        resolvable = false;
      else
        inputKnown *= input.getDimSize(d);
    }
    if (resolvable && targetKnown > 0 && inputKnown % targetKnown == 0)
      shape[inferredIndex] = inputKnown / targetKnown;
  }
  if (input.hasStaticShape()) {
    int64_t known = 1;
    bool allKnown = true;
    for (auto [i, dim] : llvm::enumerate(shape)) {
      if (int64_t(i) == inferredIndex)
        continue;
      if (ShapedType::isDynamic(dim))
        allKnown = false;
      else
        known *= dim;
    }
    if (allKnown) {
      int64_t count = input.getNumElements();
      if (inferredIndex >= 0) {
        if (known == 0 || count % known != 0)
          return emitOptionalError(location, "cannot reshape ",
                                   formatShape(input.getShape()), " (", count,
                                   " elements) to ", formatShape(shape));
        shape[inferredIndex] = count / known;
      } else if (known != count) {
        return emitOptionalError(location, "cannot reshape ",
                                 formatShape(input.getShape()), " (", count,
                                 " elements) to ", formatShape(shape));
      }
    }
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  auto type = getType();
  if (getInput().getType() == type && type.hasStaticShape())
    return getInput();
  if (auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    if (type.hasStaticShape())
      return dense.reshape(type);
  return {};
}

LogicalResult ExpandOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  auto values = shapeOperandValues(location, adaptor.getShape());
  if (failed(values))
    return failure();
  size_t rank = std::max<size_t>(values->size(), input.getRank());
  SmallVector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t fromInput = i + input.getRank() >= rank
                            ? input.getDimSize(i + input.getRank() - rank)
                            : 1;
    std::optional<int64_t> fromShape =
        i + values->size() >= rank ? (*values)[i + values->size() - rank] : 1;
    if (!fromShape) {
      // Expand cannot shrink a dim, so a known non-unit input dim survives.
      shape[i] = (!ShapedType::isDynamic(fromInput) && fromInput != 1)
                     ? fromInput
                     : ShapedType::kDynamic;
      continue;
    }
    if (ShapedType::isDynamic(fromInput)) {
      shape[i] = *fromShape == 1 ? ShapedType::kDynamic : *fromShape;
      continue;
    }
    if (fromInput != 1 && *fromShape != 1 && fromInput != *fromShape)
      return emitOptionalError(location, "cannot expand ",
                               formatShape(input.getShape()), " to ",
                               "a shape with dim ", *fromShape, " at ", i);
    shape[i] = fromInput == 1 ? *fromShape : fromInput;
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

OpFoldResult ExpandOp::fold(FoldAdaptor adaptor) {
  auto type = getType();
  if (getInput().getType() == type && type.hasStaticShape())
    return getInput();
  auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput());
  if (!dense || !type.hasStaticShape())
    return {};
  if (dense.isSplat())
    return DenseElementsAttr::get(type, dense.getSplatValue<Attribute>());
  std::optional<HostTensor> input = HostTensor::fromAttr(dense);
  if (!input || type.getNumElements() > kMaxFoldedElements)
    return {};
  HostTensor result = HostTensor::zeros(type);
  forEachBroadcastElement(type.getShape(), {input->type.getShape()},
                          [&](int64_t out, ArrayRef<int64_t> in) {
                            result.copyElement(out, *input, in[0]);
                          });
  return result.toAttr();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  ArrayRef<int64_t> perm = adaptor.getPerm();
  if (int64_t(perm.size()) != input.getRank())
    return emitOptionalError(location, "transpose permutation has ", perm.size(),
                             " entries for a rank-", input.getRank(), " input");
  SmallVector<int64_t> shape;
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= input.getRank())
      return emitOptionalError(location, "transpose permutation entry ", axis,
                               " is out of range");
    shape.push_back(input.getDimSize(axis));
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult TransposeOp::verify() {
  SmallVector<int64_t> sorted(getPerm());
  llvm::sort(sorted);
  for (auto [i, axis] : llvm::enumerate(sorted))
    if (axis != int64_t(i))
      return emitOpError("perm is not a permutation of 0..") << sorted.size() - 1;
  return success();
}

OpFoldResult TransposeOp::fold(FoldAdaptor adaptor) {
  ArrayRef<int64_t> perm = getPerm();
  bool identity = llvm::all_of(llvm::enumerate(perm), [](auto entry) {
    return entry.value() == int64_t(entry.index());
  });
  if (identity)
    return getInput();
  std::optional<HostTensor> input = HostTensor::fromAttr(adaptor.getInput());
  if (!input)
    return {};
  auto type = getType();
  SmallVector<int64_t> inputStrides = rowMajorStrides(input->type.getShape());
  // Result dim i walks input dim perm[i].
  SmallVector<int64_t> permutedStrides;
  for (int64_t axis : perm)
    permutedStrides.push_back(inputStrides[axis]);
  HostTensor result = HostTensor::zeros(type);
  SmallVector<int64_t> resultStrides = rowMajorStrides(type.getShape());
  for (int64_t out = 0; out < type.getNumElements(); ++out) {
    int64_t in = 0, rest = out;
    for (size_t d = 0; d < perm.size(); ++d) {
      in += (rest / resultStrides[d]) * permutedStrides[d];
      rest %= resultStrides[d];
    }
    result.copyElement(out, *input, in);
  }
  return result.toAttr();
}

LogicalResult UnsqueezeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> location,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  int64_t rank = input.getRank() + axes.size();
  SmallVector<int64_t> shape;
  ArrayRef<int64_t> rest = input.getShape();
  for (int64_t dim = 0; dim < rank; ++dim) {
    if (llvm::is_contained(axes, dim)) {
      shape.push_back(1);
    } else if (!rest.empty()) {
      shape.push_back(rest.front());
      rest = rest.drop_front();
    }
  }
  for (auto [i, axis] : llvm::enumerate(axes))
    if (axis < 0 || axis >= rank || (i > 0 && axes[i - 1] >= axis))
      return emitOptionalError(location, "unsqueeze axes must be sorted, ",
                               "unique and in [0, ", rank, ")");
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

OpFoldResult UnsqueezeOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  if (auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    return dense.reshape(getType());
  return {};
}

LogicalResult SqueezeOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> location,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  SmallVector<int64_t> shape;
  for (int64_t dim = 0; dim < input.getRank(); ++dim) {
    if (!llvm::is_contained(axes, dim)) {
      shape.push_back(input.getDimSize(dim));
      continue;
    }
    int64_t size = input.getDimSize(dim);
    if (!ShapedType::isDynamic(size) && size != 1)
      return emitOptionalError(location, "cannot squeeze dim ", dim, " of size ",
                               size, " in ", formatShape(input.getShape()));
  }
  for (int64_t axis : axes)
    if (axis < 0 || axis >= input.getRank())
      return emitOptionalError(location, "squeeze axis ", axis,
                               " is out of range for rank ", input.getRank());
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

OpFoldResult SqueezeOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  if (auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    if (getType().hasStaticShape())
      return dense.reshape(getType());
  return {};
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  auto parameters =
      getSliceParameters(location, adaptor.getStarts(), adaptor.getEnds(),
                         adaptor.getAxes(), adaptor.getSteps(), input.getRank());
  if (failed(parameters))
    return failure();
  SmallVector<int64_t> shape(input.getShape());
  if (!*parameters) {
    // Unknown axes: any dim may shrink.
    shape.assign(input.getRank(), ShapedType::kDynamic);
  } else {
    const SliceParameters &p = **parameters;
    for (size_t i = 0; i < p.axes.size(); ++i) {
      int64_t size = input.getDimSize(p.axes[i]);
      shape[p.axes[i]] =
          ShapedType::isDynamic(size)
              ? ShapedType::kDynamic
              : resolveSlice(p.starts[i], p.ends[i], p.steps[i], size).length;
    }
  }
  types.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

OpFoldResult SliceOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  auto type = getType();
  if (getInput().getType() == type && type.hasStaticShape()) {
    // A slice that keeps every element in order is the input itself.
    auto parameters = getSliceParameters(std::nullopt, getStarts(), getEnds(),
                                         getAxes(), getSteps(), type.getRank());
    if (succeeded(parameters) && *parameters &&
        llvm::all_of(llvm::enumerate((*parameters)->axes), [&](auto entry) {
          SliceRange range = resolveSlice(
              (*parameters)->starts[entry.index()], (*parameters)->ends[entry.index()],
              (*parameters)->steps[entry.index()], type.getDimSize(entry.value()));
          return range.start == 0 && range.step == 1;
        }))
      return getInput();
  }
  std::optional<HostTensor> input = HostTensor::fromAttr(adaptor.getInput());
  if (!input || !type.hasStaticShape())
    return {};
  auto parameters = getSliceParameters(std::nullopt, getStarts(), getEnds(),
                                       getAxes(), getSteps(), type.getRank());
  if (failed(parameters) || !*parameters)
    return {};
  ArrayRef<int64_t> inputShape = input->type.getShape();
  SmallVector<SliceRange> ranges;
  for (int64_t dim : inputShape)
    ranges.push_back({0, 1, dim});
  for (size_t i = 0; i < (*parameters)->axes.size(); ++i) {
    int64_t axis = (*parameters)->axes[i];
    ranges[axis] = resolveSlice((*parameters)->starts[i], (*parameters)->ends[i],
                                (*parameters)->steps[i], inputShape[axis]);
  }
  SmallVector<int64_t> inputStrides = rowMajorStrides(inputShape);
  SmallVector<int64_t> resultStrides = rowMajorStrides(type.getShape());
  HostTensor result = HostTensor::zeros(type);
  for (int64_t out = 0; out < type.getNumElements(); ++out) {
    int64_t in = 0, rest = out;
    for (size_t d = 0; d < ranges.size(); ++d) {
      int64_t index = rest / resultStrides[d];
      rest %= resultStrides[d];
      in += (ranges[d].start + index * ranges[d].step) * inputStrides[d];
    }
    result.copyElement(out, *input, in);
  }
  return result.toAttr();
}

LogicalResult SplitOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> location,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &types) {
  auto input = rankedType(adaptor.getInput().getType());
  std::optional<int64_t> axis = normalizeAxis(adaptor.getAxis(), input.getRank());
  if (!axis)
    return emitOptionalError(location, "split axis ", adaptor.getAxis(),
                             " is out of range for rank ", input.getRank());
  for (int64_t size : adaptor.getSizes()) {
    SmallVector<int64_t> shape(input.getShape());
    shape[*axis] = size;
    types.push_back(RankedTensorType::get(shape, input.getElementType()));
  }
  return success();
}

LogicalResult SplitOp::verify() {
  auto input = getInput().getType();
  int64_t axis = *normalizeAxis(getAxis(), input.getRank());
  int64_t total = 0;
  for (int64_t size : getSizes()) {
    if (size < 0)
      return emitOpError("split size ") << size << " is negative";
    total += size;
  }
  if (!input.isDynamicDim(axis) && total != input.getDimSize(axis))
    return emitOpError("split sizes add up to ")
           << total << " but dim " << axis << " has size " << input.getDimSize(axis);
  if (getNumResults() != getSizes().size())
    return emitOpError("has ") << getNumResults() << " results for "
                               << getSizes().size() << " sizes";
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  if (adaptor.getInputs().empty())
    return emitOptionalError(location, "concat needs at least one input");
  auto first = rankedType(adaptor.getInputs().front().getType());
  std::optional<int64_t> axis = normalizeAxis(adaptor.getAxis(), first.getRank());
  if (!axis)
    return emitOptionalError(location, "concat axis ", adaptor.getAxis(),
                             " is out of range for rank ", first.getRank());
  SmallVector<int64_t> shape(first.getShape());
  shape[*axis] = 0;
  for (Value input : adaptor.getInputs()) {
    auto type = rankedType(input.getType());
    if (type.getRank() != first.getRank() ||
        type.getElementType() != first.getElementType())
      return emitOptionalError(location, "concat inputs differ in rank or ",
                               "element type: ", first, " vs ", type);
    for (int64_t d = 0; d < type.getRank(); ++d) {
      int64_t dim = type.getDimSize(d);
      if (d == *axis) {
        shape[d] = ShapedType::isDynamic(shape[d]) || ShapedType::isDynamic(dim)
                       ? ShapedType::kDynamic
                       : shape[d] + dim;
        continue;
      }
      std::optional<int64_t> merged = mergeDims(shape[d], dim);
      if (!merged)
        return emitOptionalError(location, "concat inputs disagree on dim ", d,
                                 ": ", formatShape(first.getShape()), " vs ",
                                 formatShape(type.getShape()));
      shape[d] = *merged;
    }
  }
  types.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

OpFoldResult ConcatOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  if (getInputs().size() == 1 && getInputs()[0].getType() == getType())
    return getInputs()[0];
  auto type = getType();
  if (!type.hasStaticShape() || type.getNumElements() > kMaxFoldedElements)
    return {};
  SmallVector<HostTensor> inputs;
  for (Attribute attr : adaptor.getInputs()) {
    std::optional<HostTensor> input = HostTensor::fromAttr(attr);
    if (!input)
      return {};
    inputs.push_back(std::move(*input));
  }
  int64_t axis = *normalizeAxis(getAxis(), type.getRank());
  // Elements are laid out as [outer][axis][inner]; copy each input's block.
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= type.getDimSize(d);
  for (int64_t d = axis + 1; d < type.getRank(); ++d)
    inner *= type.getDimSize(d);
  HostTensor result = HostTensor::zeros(type);
  int64_t out = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const HostTensor &input : inputs) {
      int64_t block = input.type.getDimSize(axis) * inner;
      for (int64_t i = 0; i < block; ++i)
        result.copyElement(out++, input, o * block + i);
    }
  return result.toAttr();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> location,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &types) {
  auto data = rankedType(adaptor.getData().getType());
  auto indices = rankedType(adaptor.getIndices().getType());
  std::optional<int64_t> axis = normalizeAxis(adaptor.getAxis(), data.getRank());
  if (!axis)
    return emitOptionalError(location, "gather axis ", adaptor.getAxis(),
                             " is out of range for rank ", data.getRank());
  int64_t axisSize = data.getDimSize(*axis);
  if (!ShapedType::isDynamic(axisSize))
    if (std::optional<SmallVector<int64_t>> known =
            getConstantIntValues(adaptor.getIndices()))
      for (int64_t index : *known)
        if (index < -axisSize || index >= axisSize)
          return emitOptionalError(location, "gather index ", index,
                                   " is out of range for axis ", *axis,
                                   " of size ", axisSize);
  SmallVector<int64_t> shape(data.getShape().take_front(*axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, data.getShape().drop_front(*axis + 1));
  types.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}

OpFoldResult GatherOp::fold(FoldAdaptor adaptor) {
  if (Attribute known = foldKnownIntValues(getResult()))
    return known;
  std::optional<HostTensor> data = HostTensor::fromAttr(adaptor.getData());
  std::optional<HostTensor> indices = HostTensor::fromAttr(adaptor.getIndices());
  auto type = getType();
  if (!data || !indices || !type.hasStaticShape() ||
      type.getNumElements() > kMaxFoldedElements)
    return {};
  ArrayRef<int64_t> dataShape = data->type.getShape();
  int64_t axis = *normalizeAxis(getAxis(), dataShape.size());
  int64_t outer = 1, inner = 1, axisSize = dataShape[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= dataShape[d];
  for (size_t d = axis + 1; d < dataShape.size(); ++d)
    inner *= dataShape[d];
  HostTensor result = HostTensor::zeros(type);
  int64_t out = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t index : indices->ints) {
      if (index < -axisSize || index >= axisSize)
        return {};
      if (index < 0)
        index += axisSize;
      for (int64_t i = 0; i < inner; ++i)
        result.copyElement(out++, *data, (o * axisSize + index) * inner + i);
    }
  return result.toAttr();
}

LogicalResult GatherNDOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> location,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &types) {
  auto data = rankedType(adaptor.getData().getType());
  auto indices = rankedType(adaptor.getIndices().getType());
  int64_t batchDims = adaptor.getBatchDims();
  if (indices.getRank() < 1 || indices.isDynamicDim(indices.getRank() - 1))
    return emitOptionalError(location, "gather_nd indices need a static last dim");
  int64_t depth = indices.getDimSize(indices.getRank() - 1);
  if (batchDims < 0 || batchDims + depth > data.getRank() ||
      batchDims >= indices.getRank())
    return emitOptionalError(location, "gather_nd with batch_dims ", batchDims,
                             " and index depth ", depth, " does not fit data of rank ",
                             data.getRank());
  SmallVector<int64_t> shape(indices.getShape().drop_back());
  llvm::append_range(shape, data.getShape().drop_front(batchDims + depth));
  types.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}

OpFoldResult GatherNDOp::fold(FoldAdaptor adaptor) {
  // Index tables from constants (GatherElements on a buffer such as BERT's
  // token type ids) fold as Gather does.
  std::optional<HostTensor> data = HostTensor::fromAttr(adaptor.getData());
  std::optional<HostTensor> indices = HostTensor::fromAttr(adaptor.getIndices());
  auto type = getType();
  if (!data || !indices || !type.hasStaticShape() ||
      type.getNumElements() > kMaxFoldedElements)
    return {};
  ArrayRef<int64_t> dataShape = data->type.getShape();
  ArrayRef<int64_t> indexShape = indices->type.getShape();
  int64_t batchDims = getBatchDims(), depth = indexShape.back();
  auto product = [](ArrayRef<int64_t> dims) {
    int64_t n = 1;
    for (int64_t dim : dims)
      n *= dim;
    return n;
  };
  int64_t batches = product(dataShape.take_front(batchDims));
  int64_t tuples = product(indexShape.drop_front(batchDims).drop_back());
  int64_t inner = product(dataShape.drop_front(batchDims + depth));
  int64_t batchStride = product(dataShape.drop_front(batchDims));
  HostTensor result = HostTensor::zeros(type);
  int64_t out = 0;
  for (int64_t batch = 0; batch < batches; ++batch)
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t offset = batch * batchStride;
      for (int64_t c = 0; c < depth; ++c) {
        int64_t size = dataShape[batchDims + c];
        int64_t index = indices->ints[(batch * tuples + t) * depth + c];
        if (index < -size || index >= size)
          return {};
        offset += (index < 0 ? index + size : index) *
                  product(dataShape.drop_front(batchDims + c + 1));
      }
      for (int64_t i = 0; i < inner; ++i)
        result.copyElement(out++, *data, offset + i);
    }
  return result.toAttr();
}

LogicalResult TriluOp::verify() {
  if (getType().getRank() < 2)
    return emitOpError("input must have rank >= 2, got rank ") << getType().getRank();
  return success();
}

OpFoldResult TriluOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> input = HostTensor::fromAttr(adaptor.getInput());
  if (!input)
    return {};
  ArrayRef<int64_t> shape = getType().getShape();
  int64_t rows = shape[shape.size() - 2], cols = shape.back();
  HostTensor result = HostTensor::zeros(getType());
  for (int64_t i = 0; i < input->numElements(); ++i) {
    int64_t row = (i / cols) % rows, col = i % cols;
    bool keep = getUpper() ? col - row >= getDiagonal() : col - row <= getDiagonal();
    if (keep)
      result.copyElement(i, *input, i);
  }
  return result.toAttr();
}

//===----------------------------------------------------------------------===//
// Gradient ops
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxGradOp::verify() {
  if (!normalizeAxis(getAxis(), getType().getRank()))
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << getType().getRank();
  return success();
}

LogicalResult LayerNormGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> location,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  auto input = llvm::cast<RankedTensorType>(adaptor.getInput().getType());
  std::optional<int64_t> axis = normalizeAxis(adaptor.getAxis(), input.getRank());
  if (!axis)
    return emitOptionalError(location, "axis ", adaptor.getAxis(),
                             " is out of range for rank ", input.getRank());
  auto normalized = RankedTensorType::get(input.getShape().drop_front(*axis),
                                          input.getElementType());
  types.append({input, normalized, normalized});
  return success();
}

LogicalResult LayerNormGradOp::verify() {
  auto input = getInput().getType();
  ArrayRef<int64_t> normalized = getScaleGrad().getType().getShape();
  if (failed(verifyCompatibleShape(getScale().getType().getShape(), normalized)))
    return emitOpError("scale of shape ")
           << formatShape(getScale().getType().getShape())
           << " is not the normalized shape " << formatShape(normalized);
  if (getResultGrad().getType() != input)
    return emitOpError("result gradient type ") << getResultGrad().getType()
                                                << " differs from the input type " << input;
  return success();
}

LogicalResult GatherGradOp::verify() {
  auto data = getDataGrad().getType();
  if (!normalizeAxis(getAxis(), data.getRank()))
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << data.getRank();
  int64_t expectedRank = data.getRank() - 1 + getIndices().getType().getRank();
  if (getResultGrad().getType().getRank() != expectedRank)
    return emitOpError("result gradient has rank ")
           << getResultGrad().getType().getRank() << "; gathering from rank "
           << data.getRank() << " with rank " << getIndices().getType().getRank()
           << " indices gives rank " << expectedRank;
  return success();
}

//===----------------------------------------------------------------------===//
// Loss and optimizer updates
//===----------------------------------------------------------------------===//

static LogicalResult verifyLabelsMatchLogits(Operation *op, RankedTensorType logits,
                                             RankedTensorType labels) {
  if (logits.getRank() < 1 || !llvm::isa<FloatType>(logits.getElementType()))
    return op->emitOpError("logits must be a float tensor of rank >= 1, got ")
           << logits;
  if (failed(verifyCompatibleShape(logits.getShape().drop_back(), labels.getShape())))
    return op->emitOpError("labels of shape ")
           << formatShape(labels.getShape()) << " do not match logits of shape "
           << formatShape(logits.getShape()) << " less the class dim";
  return success();
}

LogicalResult CrossEntropySumOp::inferReturnTypes(MLIRContext *,
                                                  std::optional<Location>,
                                                  Adaptor adaptor,
                                                  SmallVectorImpl<Type> &types) {
  auto logits = llvm::cast<RankedTensorType>(adaptor.getLogits().getType());
  types.push_back(RankedTensorType::get({}, logits.getElementType()));
  return success();
}

LogicalResult CrossEntropySumOp::verify() {
  return verifyLabelsMatchLogits(*this, getLogits().getType(),
                                 llvm::cast<RankedTensorType>(getLabels().getType()));
}

LogicalResult CrossEntropySumGradOp::inferReturnTypes(MLIRContext *,
                                                      std::optional<Location>,
                                                      Adaptor adaptor,
                                                      SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getLogits().getType());
  return success();
}

static LogicalResult verifyUpdateOperands(Operation *op, ValueRange sameType) {
  Type expected = sameType.front().getType();
  if (!llvm::isa<FloatType>(llvm::cast<RankedTensorType>(expected).getElementType()))
    return op->emitOpError("parameter must be a float tensor, got ") << expected;
  for (Value operand : sameType.drop_front())
    if (operand.getType() != expected)
      return op->emitOpError("operand type ")
             << operand.getType() << " differs from the parameter type " << expected;
  return success();
}

LogicalResult AdamWUpdateOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.append({adaptor.getParam().getType(), adaptor.getM().getType(),
                adaptor.getV().getType()});
  return success();
}

LogicalResult AdamWUpdateOp::verify() {
  return verifyUpdateOperands(*this, {getParam(), getGrad(), getM(), getV()});
}

LogicalResult SGDUpdateOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getParam().getType());
  return success();
}

LogicalResult SGDUpdateOp::verify() {
  return verifyUpdateOperands(*this, {getParam(), getGrad()});
}

//===----------------------------------------------------------------------===//
// Gradient clipping and learning-rate schedules
//===----------------------------------------------------------------------===//

LogicalResult GlobalNormOp::verify() {
  if (getInputs().empty())
    return emitOpError("needs at least one operand");
  for (auto [index, input] : llvm::enumerate(getInputs()))
    if (!llvm::isa<FloatType>(llvm::cast<RankedTensorType>(input.getType()).getElementType()))
      return emitOpError("operand #") << index << " must be a float tensor, got "
                                      << input.getType();
  return success();
}

LogicalResult ClipCoefficientOp::verify() {
  double maxNorm = getMaxNorm().convertToDouble();
  if (!(maxNorm > 0) || std::isinf(maxNorm)) {
    std::string value;
    llvm::raw_string_ostream(value) << llvm::format("%g", maxNorm);
    return emitOpError("max_norm must be positive and finite, got ") << value;
  }
  return success();
}

std::string describeLRScheduleProblem(StringRef kind, int64_t warmupSteps, int64_t totalSteps,
                                      double learningRate, double minLearningRate) {
  std::string problem;
  llvm::raw_string_ostream os(problem);
  if (kind != "constant" && kind != "linear" && kind != "cosine")
    os << "unknown learning-rate schedule '" << kind << "'; expected constant, linear or cosine";
  else if (warmupSteps < 0)
    os << "warmup steps " << warmupSteps << " must be at least 0";
  else if (totalSteps < 0)
    os << "total steps " << totalSteps << " must be at least 0";
  else if (kind != "constant" && totalSteps == 0)
    os << "a " << kind << " schedule needs the total steps (at least 1)";
  else if (totalSteps > 0 && warmupSteps > totalSteps)
    os << "warmup steps " << warmupSteps << " exceed the total steps " << totalSteps;
  else if (!(learningRate >= 0) || std::isinf(learningRate))
    os << "learning rate " << llvm::format("%g", learningRate) << " must be finite and at least 0";
  else if (!(minLearningRate >= 0) || minLearningRate > learningRate)
    os << "minimum learning rate " << llvm::format("%g", minLearningRate) << " must be in [0, "
       << llvm::format("%g", learningRate) << "], the learning rate";
  else if (kind == "constant" && minLearningRate > 0)
    os << "a minimum learning rate applies to linear and cosine schedules, not constant";
  return problem;
}

LogicalResult LRScheduleOp::verify() {
  std::string problem =
      describeLRScheduleProblem(getKind(), getWarmupSteps(), getTotalSteps(),
                                getLearningRate().convertToDouble(),
                                getMinLearningRate().convertToDouble());
  if (!problem.empty())
    return emitOpError() << problem;
  return success();
}

//===----------------------------------------------------------------------===//
// Fused ops
//===----------------------------------------------------------------------===//

/// The types of attention's output and logsumexp, after checking that query
/// [..., Hq, Sq, D], key [..., Hkv, Sk, D], value [..., Hkv, Sk, Dv] and the
/// optional bias (broadcasting to [..., Hq, Sq, Sk]) fit together.
LogicalResult inferAttentionTypes(std::optional<Location> location, Value queryValue,
                                  Value keyValue, Value valueValue, Value biasValue,
                                  SmallVectorImpl<Type> &types) {
  auto query = rankedType(queryValue.getType()), key = rankedType(keyValue.getType()),
       value = rankedType(valueValue.getType());
  Type element = query.getElementType();
  if (!llvm::isa<FloatType>(element) || key.getElementType() != element ||
      value.getElementType() != element)
    return emitOptionalError(location, "attention query, key and value must share one "
                             "float element type, got ", query, ", ", key, " and ", value);
  int64_t rank = query.getRank();
  if (rank < 3 || key.getRank() != rank || value.getRank() != rank)
    return emitOptionalError(location, "attention query, key and value must have one rank "
                             ">= 3, got ", formatShape(query.getShape()), ", ",
                             formatShape(key.getShape()), " and ",
                             formatShape(value.getShape()));
  auto mismatch = [&](StringRef what) {
    return emitOptionalError(location, "attention ", what, " differ: query ",
                             formatShape(query.getShape()), ", key ",
                             formatShape(key.getShape()), ", value ",
                             formatShape(value.getShape()));
  };
  SmallVector<int64_t> lead;
  for (int64_t d = 0; d < rank - 3; ++d) {
    std::optional<int64_t> dim = mergeDims(query.getDimSize(d), key.getDimSize(d));
    if (dim)
      dim = mergeDims(*dim, value.getDimSize(d));
    if (!dim)
      return mismatch("leading dims");
    lead.push_back(*dim);
  }
  int64_t queryHeads = query.getDimSize(rank - 3), sq = query.getDimSize(rank - 2);
  std::optional<int64_t> kvHeads = mergeDims(key.getDimSize(rank - 3), value.getDimSize(rank - 3));
  std::optional<int64_t> sk = mergeDims(key.getDimSize(rank - 2), value.getDimSize(rank - 2));
  if (!kvHeads || !sk)
    return mismatch("key and value heads or lengths");
  if (!mergeDims(query.getDimSize(rank - 1), key.getDimSize(rank - 1)))
    return mismatch("query and key head sizes");
  if (!ShapedType::isDynamic(queryHeads) && !ShapedType::isDynamic(*kvHeads) &&
      (*kvHeads == 0 || queryHeads % *kvHeads != 0))
    return mismatch("head counts (query heads must be a multiple of key/value heads)");
  SmallVector<int64_t> scores(lead);
  scores.append({queryHeads, sq, *sk});
  if (biasValue) {
    auto bias = rankedType(biasValue.getType());
    SmallVector<int64_t> broadcast;
    if (bias.getElementType() != element ||
        !OpTrait::util::getBroadcastedShape(scores, bias.getShape(), broadcast) ||
        failed(verifyCompatibleShape(broadcast, scores)))
      return emitOptionalError(location, "attention bias ", bias,
                               " does not broadcast to the scores ", formatShape(scores),
                               " of element type ", element);
  }
  SmallVector<int64_t> output(lead);
  output.append({queryHeads, sq, value.getDimSize(rank - 1)});
  SmallVector<int64_t> logsumexp(lead);
  logsumexp.append({queryHeads, sq});
  types.push_back(RankedTensorType::get(output, element));
  types.push_back(RankedTensorType::get(logsumexp, element));
  return success();
}

SmallVector<NamedAttribute> getAttentionMaskAttributes(Operation *op) {
  SmallVector<NamedAttribute> attributes;
  for (StringRef name : kAttentionMaskAttributes)
    if (Attribute value = op->getAttr(name))
      attributes.push_back(NamedAttribute(StringAttr::get(op->getContext(), name), value));
  return attributes;
}

LogicalResult verifyAttentionMasks(Operation *op) {
  auto lower = op->getAttrOfType<IntegerAttr>("band_lower");
  auto upper = op->getAttrOfType<IntegerAttr>("band_upper");
  if ((lower || upper) && !op->hasAttr("band_fill"))
    return op->emitOpError("has a band without band_fill");
  if (lower && upper && lower.getValue().getSExtValue() > upper.getValue().getSExtValue())
    return op->emitOpError() << "band_lower " << lower.getValue().getSExtValue()
                             << " is above band_upper " << upper.getValue().getSExtValue();
  if (auto softcap = op->getAttrOfType<FloatAttr>("softcap")) {
    double value = softcap.getValueAsDouble();
    if (!(value > 0.0) || !std::isfinite(value))
      return op->emitOpError() << "softcap " << value << " must be positive and finite";
  }
  auto ratio = op->getAttrOfType<FloatAttr>("dropout_ratio");
  if (ratio) {
    double value = ratio.getValueAsDouble();
    if (!(value >= 0.0 && value <= 1.0))
      return op->emitOpError() << "dropout_ratio " << value << " is not in [0, 1]";
    auto site = op->getAttrOfType<IntegerAttr>("dropout_site");
    if (!site || site.getValue().getSExtValue() < 0)
      return op->emitOpError("needs a non-negative dropout_site with its dropout_ratio");
  }
  for (StringRef name : {"dropout_site", "dropout_micro_batch", "dropout_sequence_length",
                         "dropout_head_ranks"}) {
    auto attribute = op->getAttrOfType<IntegerAttr>(name);
    if (!attribute)
      continue;
    if (!ratio)
      return op->emitOpError() << "has " << name << " without dropout_ratio";
    int64_t value = attribute.getValue().getSExtValue();
    int64_t least = name == "dropout_site" || name == "dropout_micro_batch" ? 0 : 1;
    if (value < least)
      return op->emitOpError() << name << " " << value << " must be at least " << least;
  }
  return success();
}

LogicalResult AttentionOp::verify() { return verifyAttentionMasks(*this); }
LogicalResult AttentionGradOp::verify() { return verifyAttentionMasks(*this); }

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location> location,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferAttentionTypes(location, adaptor.getQuery(), adaptor.getKey(),
                             adaptor.getValue(), adaptor.getBias(), types);
}

LogicalResult inferAttentionGradTypes(std::optional<Location> location, StringRef opName,
                                      ArrayRef<Type> forward, Value query, Value key, Value value,
                                      Value output, Value outputGrad, Value logsumexp,
                                      Value logsumexpGrad, SmallVectorImpl<Type> &types) {
  auto check = [&](Value operand, Type expected, StringRef role) -> LogicalResult {
    if (!operand || areCompatibleResultTypes(expected, operand.getType()))
      return success();
    return emitOptionalError(location, opName, " ", role, " has type ", operand.getType(),
                             ", the forward op's is ", expected);
  };
  if (failed(check(output, forward[0], "output")) ||
      failed(check(outputGrad, forward[0], "output gradient")) ||
      failed(check(logsumexp, forward[1], "logsumexp")) ||
      failed(check(logsumexpGrad, forward[1], "logsumexp gradient")))
    return failure();
  types.append({query.getType(), key.getType(), value.getType()});
  return success();
}

LogicalResult AttentionGradOp::inferReturnTypes(MLIRContext *,
                                                std::optional<Location> location,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &types) {
  SmallVector<Type> forward;
  if (failed(inferAttentionTypes(location, adaptor.getQuery(), adaptor.getKey(),
                                 adaptor.getValue(), adaptor.getBias(), forward)))
    return failure();
  return inferAttentionGradTypes(location, "attention_grad", forward, adaptor.getQuery(),
                                 adaptor.getKey(), adaptor.getValue(), adaptor.getOutput(),
                                 adaptor.getOutputGrad(), adaptor.getLogsumexp(),
                                 /*logsumexpGrad=*/Value(), types);
}

/// Checks rms_norm's axis and that `scale` has the normalized dims' shape.
static LogicalResult verifyRmsNormOperands(Operation *op, RankedTensorType input,
                                           RankedTensorType scale, int64_t axis) {
  if (!llvm::isa<FloatType>(input.getElementType()) ||
      scale.getElementType() != input.getElementType())
    return op->emitOpError("input and scale must share one float element type, got ")
           << input << " and " << scale;
  std::optional<int64_t> normalized = normalizeAxis(axis, input.getRank());
  if (!normalized)
    return op->emitOpError("axis ") << axis << " is out of range for rank "
                                    << input.getRank();
  ArrayRef<int64_t> dims = input.getShape().drop_front(*normalized);
  if (scale.getRank() != int64_t(dims.size()) ||
      failed(verifyCompatibleShape(scale.getShape(), dims)))
    return op->emitOpError("scale of shape ")
           << formatShape(scale.getShape()) << " is not the normalized shape "
           << formatShape(dims);
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult RmsNormOp::verify() {
  return verifyRmsNormOperands(*this, getInput().getType(), getScale().getType(), getAxis());
}

LogicalResult RmsNormGradOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &types) {
  types.append({adaptor.getInput().getType(), adaptor.getScale().getType()});
  return success();
}

LogicalResult RmsNormGradOp::verify() {
  if (getResultGrad().getType() != getInput().getType())
    return emitOpError("result gradient type ")
           << getResultGrad().getType() << " differs from the input type "
           << getInput().getType();
  return verifyRmsNormOperands(*this, getInput().getType(), getScale().getType(), getAxis());
}

LogicalResult DropoutOp::inferReturnTypes(MLIRContext *, std::optional<Location>, Adaptor adaptor,
                                          SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult DropoutOp::verify() {
  auto inputType = llvm::cast<RankedTensorType>(getInput().getType());
  if (!llvm::isa<FloatType>(inputType.getElementType()))
    return emitOpError("input must hold floats, got ") << inputType;
  double ratio = getRatio().convertToDouble();
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    std::string value;
    llvm::raw_string_ostream(value) << llvm::format("%g", ratio);
    return emitOpError("ratio must be in [0, 1], got ") << value;
  }
  if (getSite() < 0)
    return emitOpError("site must be non-negative, got ") << getSite();
  if (getMicroBatch() && *getMicroBatch() < 0)
    return emitOpError("micro_batch must be non-negative, got ") << *getMicroBatch();
  bool sharded = bool(getPositions());
  if (sharded != getSequenceAxis().has_value() || sharded != getSequenceLength().has_value())
    return emitOpError("positions, sequence_axis and sequence_length go together");
  if (!sharded)
    return success();
  int64_t axis = *getSequenceAxis();
  if (axis < 0 || axis >= inputType.getRank())
    return emitOpError("sequence_axis ") << axis << " is out of range for " << inputType;
  int64_t rows = llvm::cast<RankedTensorType>(getPositions().getType()).getDimSize(0);
  int64_t local = inputType.getDimSize(axis);
  if (std::optional<int64_t> keys = getUnpaddedKeys()) {
    if (axis >= inputType.getRank() - 1)
      return emitOpError("unpadded_keys needs a sequence_axis before the last dim");
    int64_t last = inputType.getDimSize(inputType.getRank() - 1);
    if (*keys < 1 || (!ShapedType::isDynamic(last) && *keys > last))
      return emitOpError("unpadded_keys ") << *keys << " is not in [1, " << last << "]";
  }
  if (!ShapedType::isDynamic(rows)) {
    if (rows < 1 || rows > *getSequenceLength())
      return emitOpError("positions has ")
             << rows << " rows, not in [1, sequence_length = " << *getSequenceLength() << "]";
    if (!ShapedType::isDynamic(local) && local % rows != 0)
      return emitOpError("dim ") << axis << " of size " << local << " is not a multiple of the "
                                 << rows << " positions";
  }
  return success();
}

} // namespace sp::graph

#define GET_OP_CLASSES
#include "sp/Dialect/Graph/IR/GraphOps.cpp.inc"
