//===- GraphFolding.cpp - compile-time evaluation of graph ops ------------===//

#include "sp/Dialect/Graph/IR/GraphFolding.h"

#include "sp/Semantics/Arithmetic.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"

#include <cmath>

using namespace mlir;

namespace sp::graph {

SmallVector<int64_t> rowMajorStrides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = int64_t(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

std::optional<HostTensor> HostTensor::fromAttr(Attribute attr) {
  auto dense = llvm::dyn_cast_or_null<DenseElementsAttr>(attr);
  if (!dense)
    return std::nullopt;
  auto type = llvm::dyn_cast<RankedTensorType>(dense.getType());
  if (!type || !type.hasStaticShape() || type.getNumElements() > kMaxFoldedElements)
    return std::nullopt;
  HostTensor host;
  host.type = type;
  Type elementType = type.getElementType();
  if (elementType.isF32()) {
    host.isFloat = true;
    auto values = dense.getValues<float>();
    host.floats.assign(values.begin(), values.end());
  } else if (elementType.isF64()) {
    host.isFloat = true;
    auto values = dense.getValues<double>();
    host.floats.assign(values.begin(), values.end());
  } else if (llvm::isa<FloatType>(elementType)) {
    host.isFloat = true;
    for (const APFloat &value : dense.getValues<APFloat>())
      host.floats.push_back(value.convertToDouble());
  } else if (auto intType = llvm::dyn_cast<IntegerType>(elementType)) {
    if (intType.getWidth() > 64)
      return std::nullopt;
    bool isUnsigned = intType.isUnsigned() || intType.getWidth() == 1;
    for (const APInt &value : dense.getValues<APInt>())
      host.ints.push_back(isUnsigned ? int64_t(value.getZExtValue())
                                     : value.getSExtValue());
  } else {
    return std::nullopt;
  }
  return host;
}

HostTensor HostTensor::zeros(RankedTensorType type) {
  HostTensor host;
  host.type = type;
  host.isFloat = llvm::isa<FloatType>(type.getElementType());
  if (host.isFloat)
    host.floats.assign(type.getNumElements(), 0.0);
  else
    host.ints.assign(type.getNumElements(), 0);
  return host;
}

void HostTensor::set(int64_t i, double value) {
  if (isFloat) {
    floats[i] = value;
    return;
  }
  auto intType = llvm::cast<IntegerType>(type.getElementType());
  if (intType.getWidth() == 1) {
    ints[i] = value != 0.0;
    return;
  }
  // As the kernels convert (sp/Semantics/Arithmetic.h): truncate, saturate.
  namespace semantics = sp::semantics;
  bool isUnsigned = intType.isUnsigned();
  switch (intType.getWidth()) {
  case 8:
    ints[i] = isUnsigned ? int64_t(semantics::saturatingCast<uint8_t>(value))
                         : int64_t(semantics::saturatingCast<int8_t>(value));
    return;
  case 16:
    ints[i] = isUnsigned ? int64_t(semantics::saturatingCast<uint16_t>(value))
                         : int64_t(semantics::saturatingCast<int16_t>(value));
    return;
  case 32:
    ints[i] = isUnsigned ? int64_t(semantics::saturatingCast<uint32_t>(value))
                         : int64_t(semantics::saturatingCast<int32_t>(value));
    return;
  default:
    ints[i] = isUnsigned ? int64_t(semantics::saturatingCast<uint64_t>(value))
                         : semantics::saturatingCast<int64_t>(value);
  }
}

void HostTensor::setInt(int64_t i, int64_t value) {
  if (isFloat)
    floats[i] = double(value);
  else
    ints[i] = type.getElementType().isInteger(1) ? (value != 0) : value;
}

void HostTensor::copyElement(int64_t to, const HostTensor &from,
                             int64_t fromIndex) {
  if (from.isFloat)
    set(to, from.floats[fromIndex]);
  else
    setInt(to, from.ints[fromIndex]);
}

DenseElementsAttr HostTensor::toAttr() const {
  Type elementType = type.getElementType();
  if (elementType.isF32()) {
    std::vector<float> values(floats.begin(), floats.end());
    return DenseElementsAttr::get(type, ArrayRef<float>(values));
  }
  if (elementType.isF64())
    return DenseElementsAttr::get(type, ArrayRef<double>(floats));
  if (auto floatType = llvm::dyn_cast<FloatType>(elementType)) {
    SmallVector<APFloat> values;
    values.reserve(floats.size());
    for (double value : floats) {
      APFloat converted(value);
      bool losesInfo = false;
      converted.convert(floatType.getFloatSemantics(),
                        APFloat::rmNearestTiesToEven, &losesInfo);
      values.push_back(converted);
    }
    return DenseElementsAttr::get(type, values);
  }
  auto intType = llvm::cast<IntegerType>(elementType);
  if (intType.getWidth() == 1) {
    SmallVector<bool> values(ints.begin(), ints.end());
    return DenseElementsAttr::get(type, ArrayRef<bool>(values));
  }
  if (intType.getWidth() == 64)
    return DenseElementsAttr::get(type, ArrayRef<int64_t>(ints));
  SmallVector<APInt> values;
  values.reserve(ints.size());
  for (int64_t value : ints)
    values.push_back(APInt(intType.getWidth(), uint64_t(value),
                           /*isSigned=*/!intType.isUnsigned(),
                           /*implicitTrunc=*/true));
  return DenseElementsAttr::get(type, values);
}

void forEachBroadcastElement(
    ArrayRef<int64_t> resultShape, ArrayRef<ArrayRef<int64_t>> operandShapes,
    function_ref<void(int64_t, ArrayRef<int64_t>)> visit) {
  size_t rank = resultShape.size();
  size_t numOperands = operandShapes.size();
  // Per operand, the stride of each result dim: 0 where the operand
  // broadcasts along it (missing leading dim or a dim of size 1).
  SmallVector<SmallVector<int64_t>> strides(numOperands,
                                            SmallVector<int64_t>(rank, 0));
  for (size_t o = 0; o < numOperands; ++o) {
    ArrayRef<int64_t> shape = operandShapes[o];
    SmallVector<int64_t> own = rowMajorStrides(shape);
    size_t offset = rank - shape.size();
    for (size_t d = 0; d < shape.size(); ++d)
      strides[o][offset + d] = shape[d] == 1 ? 0 : own[d];
  }
  int64_t total = 1;
  for (int64_t dim : resultShape)
    total *= dim;
  SmallVector<int64_t> counter(rank, 0);
  SmallVector<int64_t> operandIndex(numOperands, 0);
  for (int64_t linear = 0; linear < total; ++linear) {
    visit(linear, operandIndex);
    // Advance the multi-index like an odometer, keeping operand offsets in step.
    for (int64_t d = int64_t(rank) - 1; d >= 0; --d) {
      ++counter[d];
      for (size_t o = 0; o < numOperands; ++o)
        operandIndex[o] += strides[o][d];
      if (counter[d] < resultShape[d])
        break;
      for (size_t o = 0; o < numOperands; ++o)
        operandIndex[o] -= strides[o][d] * counter[d];
      counter[d] = 0;
    }
  }
}

static double evaluateFloat(BinaryKind kind, double a, double b) {
  switch (kind) {
  case BinaryKind::Add: return a + b;
  case BinaryKind::Sub: return a - b;
  case BinaryKind::Mul: return a * b;
  case BinaryKind::Div: return a / b;
  case BinaryKind::Max: return sp::semantics::nanMax(a, b);
  case BinaryKind::Min: return sp::semantics::nanMin(a, b);
  case BinaryKind::Pow: return std::pow(a, b);
  case BinaryKind::Mod: return sp::semantics::floorMod(a, b);
  case BinaryKind::FMod: return sp::semantics::truncMod(a, b);
  case BinaryKind::Equal: return a == b;
  case BinaryKind::Less: return a < b;
  case BinaryKind::LessEqual: return a <= b;
  case BinaryKind::Greater: return a > b;
  case BinaryKind::GreaterEqual: return a >= b;
  case BinaryKind::And: return (a != 0) && (b != 0);
  case BinaryKind::Or: return (a != 0) || (b != 0);
  case BinaryKind::Xor: return (a != 0) != (b != 0);
  }
  llvm_unreachable("unknown binary kind");
}

/// Integer arithmetic in int64; nullopt where it has no defined value (x/0).
static std::optional<int64_t> evaluateInt(BinaryKind kind, int64_t a, int64_t b) {
  switch (kind) {
  case BinaryKind::Div:
    if (b == 0)
      return std::nullopt;
    return sp::semantics::truncDiv(a, b);
  case BinaryKind::Pow: {
    if (b < 0)
      return std::nullopt;
    int64_t result = 1;
    for (int64_t i = 0; i < b && i < 64; ++i)
      result *= a;
    return result;
  }
  case BinaryKind::Mod:
    if (b == 0)
      return std::nullopt;
    return sp::semantics::floorMod(a, b);
  case BinaryKind::FMod:
    if (b == 0)
      return std::nullopt;
    return sp::semantics::truncMod(a, b);
  case BinaryKind::Add: return sp::semantics::wrapAdd(a, b);
  case BinaryKind::Sub: return sp::semantics::wrapSub(a, b);
  case BinaryKind::Mul: return sp::semantics::wrapMul(a, b);
  case BinaryKind::Max: return std::max(a, b);
  case BinaryKind::Min: return std::min(a, b);
  case BinaryKind::Equal: return a == b;
  case BinaryKind::Less: return a < b;
  case BinaryKind::LessEqual: return a <= b;
  case BinaryKind::Greater: return a > b;
  case BinaryKind::GreaterEqual: return a >= b;
  case BinaryKind::And: return (a != 0) && (b != 0);
  case BinaryKind::Or: return (a != 0) || (b != 0);
  case BinaryKind::Xor: return (a != 0) != (b != 0);
  }
  llvm_unreachable("unknown binary kind");
}

Attribute foldBinary(BinaryKind kind, Attribute lhsAttr, Attribute rhsAttr,
                     Type resultType) {
  auto type = llvm::dyn_cast<RankedTensorType>(resultType);
  if (!type || !type.hasStaticShape() ||
      type.getNumElements() > kMaxFoldedElements)
    return {};
  std::optional<HostTensor> lhs = HostTensor::fromAttr(lhsAttr);
  std::optional<HostTensor> rhs = HostTensor::fromAttr(rhsAttr);
  if (!lhs || !rhs)
    return {};
  HostTensor result = HostTensor::zeros(type);
  bool integerArithmetic = !lhs->isFloat && !rhs->isFloat;
  bool undefined = false;
  forEachBroadcastElement(
      type.getShape(), {lhs->type.getShape(), rhs->type.getShape()},
      [&](int64_t out, ArrayRef<int64_t> in) {
        if (integerArithmetic) {
          std::optional<int64_t> value =
              evaluateInt(kind, lhs->ints[in[0]], rhs->ints[in[1]]);
          if (!value)
            undefined = true;
          else
            result.setInt(out, *value);
          return;
        }
        result.set(out, evaluateFloat(kind, lhs->getAsDouble(in[0]),
                                      rhs->getAsDouble(in[1])));
      });
  if (undefined)
    return {};
  return result.toAttr();
}

static double evaluate(UnaryKind kind, double x) {
  switch (kind) {
  case UnaryKind::Neg: return -x;
  case UnaryKind::Abs: return std::fabs(x);
  case UnaryKind::Sqrt: return std::sqrt(x);
  case UnaryKind::Reciprocal: return 1.0 / x;
  case UnaryKind::Exp: return std::exp(x);
  case UnaryKind::Log: return std::log(x);
  case UnaryKind::Tanh: return std::tanh(x);
  case UnaryKind::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
  case UnaryKind::Erf: return std::erf(x);
  case UnaryKind::Cos: return std::cos(x);
  case UnaryKind::Sin: return std::sin(x);
  case UnaryKind::Relu: return x > 0 ? x : 0.0;
  case UnaryKind::Not: return x == 0.0;
  case UnaryKind::Floor: return std::floor(x);
  case UnaryKind::Ceil: return std::ceil(x);
  }
  llvm_unreachable("unknown unary kind");
}

Attribute foldUnary(UnaryKind kind, Attribute inputAttr, Type resultType) {
  std::optional<HostTensor> input = HostTensor::fromAttr(inputAttr);
  if (!input)
    return {};
  HostTensor result = HostTensor::zeros(llvm::cast<RankedTensorType>(resultType));
  for (int64_t i = 0, e = input->numElements(); i < e; ++i) {
    if (!input->isFloat && (kind == UnaryKind::Neg || kind == UnaryKind::Abs ||
                            kind == UnaryKind::Relu || kind == UnaryKind::Not)) {
      int64_t x = input->ints[i];
      int64_t value = kind == UnaryKind::Neg   ? -x
                      : kind == UnaryKind::Abs ? (x < 0 ? -x : x)
                      : kind == UnaryKind::Relu ? std::max<int64_t>(x, 0)
                                                : int64_t(x == 0);
      result.setInt(i, value);
      continue;
    }
    result.set(i, evaluate(kind, input->getAsDouble(i)));
  }
  return result.toAttr();
}

} // namespace sp::graph
