//===- GraphCollectives.cpp - sequence-parallel collectives ---------------===//

#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;

namespace sp::graph {

static std::optional<int64_t> normalizedAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

FailureOr<RankedTensorType> inferCollectiveType(CollectiveKind kind,
                                                std::optional<Location> location,
                                                Type input, const CollectiveShape &shape) {
  auto type = llvm::cast<RankedTensorType>(input);
  if (shape.numRanks < 1)
    return emitOptionalError(location, "num_ranks ", shape.numRanks, " must be positive");
  if (kind == CollectiveKind::AllReduce || kind == CollectiveKind::RingShift)
    return type;
  std::optional<int64_t> axis = normalizedAxis(shape.axis, type.getRank());
  if (!axis)
    return emitOptionalError(location, "axis ", shape.axis, " is out of range for rank ",
                             type.getRank());
  std::optional<int64_t> concat = int64_t(0);
  if (kind == CollectiveKind::AllToAll) {
    concat = normalizedAxis(shape.concatAxis, type.getRank());
    if (!concat)
      return emitOptionalError(location, "concat_axis ", shape.concatAxis,
                               " is out of range for rank ", type.getRank());
  }
  std::vector<int64_t> dims(type.getShape().begin(), type.getShape().end());
  std::string error = sp::semantics::collectiveResultShape(kind, dims, *axis, *concat,
                                                           shape.numRanks, ShapedType::kDynamic);
  if (!error.empty())
    return emitOptionalError(location, error);
  return RankedTensorType::get(dims, type.getElementType());
}

namespace {
template <typename Adaptor>
CollectiveShape axisShape(Adaptor adaptor) {
  return {adaptor.getAxis(), 0, adaptor.getNumRanks()};
}
template <typename Adaptor>
CollectiveShape ranksShape(Adaptor adaptor) {
  return {0, 0, adaptor.getNumRanks()};
}
template <typename Adaptor>
CollectiveShape allToAllShape(Adaptor adaptor) {
  return {adaptor.getSplitAxis(), adaptor.getConcatAxis(), adaptor.getNumRanks()};
}

template <typename OpTy>
LogicalResult verifyAgainstInference(OpTy op, const CollectiveShape &shape, Type actual) {
  FailureOr<RankedTensorType> expected =
      inferCollectiveType(OpTy::kKind, op.getLoc(), op.getInput().getType(), shape);
  if (failed(expected))
    return failure();
  if (!areCompatibleResultTypes(TypeRange{*expected}, TypeRange{actual}))
    return op.emitOpError("result type ") << actual << " differs from " << *expected;
  return success();
}
} // namespace

#define SP_DEFINE_COLLECTIVE(OpClass, shapeOf)                                          \
  LogicalResult OpClass::inferReturnTypes(MLIRContext *, std::optional<Location> location, \
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {  \
    FailureOr<RankedTensorType> type = inferCollectiveType(                             \
        kKind, location, adaptor.getInput().getType(), shapeOf(adaptor));               \
    if (failed(type))                                                                   \
      return failure();                                                                 \
    types.push_back(*type);                                                             \
    return success();                                                                   \
  }                                                                                     \
  LogicalResult OpClass::verify() {                                                     \
    return verifyAgainstInference(*this, shapeOf(*this), getType());                    \
  }

#define SP_DEFINE_COLLECTIVE_START(OpClass, shapeOf)                                    \
  LogicalResult OpClass::inferReturnTypes(MLIRContext *context,                          \
                                          std::optional<Location> location,              \
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {  \
    FailureOr<RankedTensorType> type = inferCollectiveType(                             \
        kKind, location, adaptor.getInput().getType(), shapeOf(adaptor));               \
    if (failed(type))                                                                   \
      return failure();                                                                 \
    types.push_back(FutureType::get(context, *type));                                   \
    return success();                                                                   \
  }                                                                                     \
  LogicalResult OpClass::verify() {                                                     \
    return verifyAgainstInference(*this, shapeOf(*this), getFuture().getType().getValueType()); \
  }

SP_DEFINE_COLLECTIVE(AllGatherOp, axisShape)
SP_DEFINE_COLLECTIVE(ReduceScatterOp, axisShape)
SP_DEFINE_COLLECTIVE(AllReduceOp, ranksShape)
SP_DEFINE_COLLECTIVE(AllToAllOp, allToAllShape)
SP_DEFINE_COLLECTIVE(RingShiftOp, ranksShape)
SP_DEFINE_COLLECTIVE(ShardSliceOp, axisShape)
SP_DEFINE_COLLECTIVE(ShardUnsliceOp, axisShape)
SP_DEFINE_COLLECTIVE_START(AllGatherStartOp, axisShape)
SP_DEFINE_COLLECTIVE_START(ReduceScatterStartOp, axisShape)
SP_DEFINE_COLLECTIVE_START(AllReduceStartOp, ranksShape)
SP_DEFINE_COLLECTIVE_START(AllToAllStartOp, allToAllShape)
SP_DEFINE_COLLECTIVE_START(RingShiftStartOp, ranksShape)

LogicalResult ShiftOp::verify() {
  if (!normalizedAxis(getAxis(), getType().getRank()))
    return emitOpError("axis ") << getAxis() << " is out of range for rank "
                                << getType().getRank();
  if (!llvm::isa<IntegerType>(getType().getElementType()))
    return emitOpError("shifts integer tensors (token ids), not ") << getType();
  return success();
}

LogicalResult WaitOp::verify() {
  if (getFuture().getType().getValueType() != getType())
    return emitOpError("result type ")
           << getType() << " differs from the future's " << getFuture().getType().getValueType();
  return success();
}

} // namespace sp::graph
