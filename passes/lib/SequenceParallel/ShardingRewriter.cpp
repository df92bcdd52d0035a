//===- ShardingRewriter.cpp - the sharding rule of each graph op ----------===//
//
// Each rule sees an op whose operands already hold their final states and
// values, at least one of them not replicated. It either keeps the op local
// (operands and result types become the rank's shard; replicated operands
// that broadcast along the sequence get their shard), or makes it whole:
// all-gathers its sharded operands, keeps its results replicated and says so
// in a remark. Partial sums are all-reduced before any op that is not
// linear in them.
//
//===----------------------------------------------------------------------===//

#include "ShardingRewriter.h"

#include "sp/Dialect/Graph/IR/GraphLocations.h"
#include "sp/SequenceParallel/ShardingAttributes.h"

#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include <numeric>

using namespace mlir;
namespace graph = sp::graph;

namespace sp::sequence_parallel {

StringRef strategyName(AttentionStrategy strategy) {
  switch (strategy) {
  case AttentionStrategy::AllGather:
    return "allgather";
  case AttentionStrategy::Ulysses:
    return "ulysses";
  case AttentionStrategy::Ring:
    return "ring";
  case AttentionStrategy::Hybrid:
    return "hybrid";
  }
  return "";
}

std::string describeOp(Operation *op) {
  std::string text = ("'" + op->getName().getStringRef() + "'").str();
  if (std::optional<StringRef> name = sp::graph::getLocationName(op->getLoc()))
    text += (" (ONNX node '" + *name + "')").str();
  return text;
}

namespace {

RankedTensorType typeOf(Value value) { return llvm::cast<RankedTensorType>(value.getType()); }

int64_t rankOf(Value value) { return typeOf(value).getRank(); }

int64_t normalized(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

/// Ops whose result is linear in one partial operand and shaped like it:
/// a partial value stays partial through them. (Dropout of a partial, whole
/// shaped value draws the same mask on every rank.)
bool keepsPartial(Operation *op) {
  return llvm::isa<graph::ReshapeOp, graph::TransposeOp, graph::UnsqueezeOp, graph::SqueezeOp,
                   graph::NegOp, graph::DropoutOp>(op);
}

/// Sums of partial values stay partial.
bool isSumOfPartials(Operation *op, const llvm::DenseMap<Value, Sharding> &states) {
  if (!llvm::isa<graph::AddOp, graph::SubOp>(op))
    return false;
  return llvm::all_of(op->getOperands(),
                      [&](Value operand) { return states.lookup(operand).isPartial(); });
}

/// The elementwise ops with NumPy broadcasting.
bool isBroadcastElementwise(Operation *op) {
  return llvm::isa<graph::AddOp, graph::SubOp, graph::MulOp, graph::DivOp, graph::PowOp,
                   graph::MaxOp, graph::MinOp, graph::ModOp, graph::FModOp, graph::EqualOp,
                   graph::LessOp, graph::LessEqualOp, graph::GreaterOp, graph::GreaterEqualOp,
                   graph::AndOp, graph::OrOp, graph::XorOp, graph::WhereOp>(op);
}

/// Ops that map each element on its own, result shaped like the operand.
bool isPositionWise(Operation *op) {
  return llvm::isa<graph::NegOp, graph::AbsOp, graph::SqrtOp, graph::ReciprocalOp, graph::ExpOp,
                   graph::LogOp, graph::TanhOp, graph::SigmoidOp, graph::ErfOp, graph::CosOp,
                   graph::SinOp, graph::ReluOp, graph::NotOp, graph::FloorOp, graph::CeilOp,
                   graph::IsNaNOp, graph::IsInfOp, graph::GeluOp, graph::CastOp>(op);
}

bool isCollective(Operation *op) {
  return llvm::isa<graph::AllGatherOp, graph::ReduceScatterOp, graph::AllReduceOp,
                   graph::AllToAllOp, graph::RingShiftOp, graph::ShardSliceOp,
                   graph::ShardUnsliceOp, graph::AllGatherStartOp, graph::ReduceScatterStartOp,
                   graph::AllReduceStartOp, graph::AllToAllStartOp, graph::RingShiftStartOp,
                   graph::WaitOp, graph::BlockAttentionOp, graph::RingAttentionOp,
                   graph::RingAttentionGradOp>(op);
}

int64_t product(ArrayRef<int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t(1), std::multiplies<int64_t>());
}

/// Restores a builder's insertion point and location on scope exit.
class BuilderScope {
public:
  explicit BuilderScope(autodiff::GradientBuilder &builder)
      : builder(builder), guard(builder), location(builder.getLoc()) {}
  ~BuilderScope() { builder.setLoc(location); }

private:
  autodiff::GradientBuilder &builder;
  OpBuilder::InsertionGuard guard;
  Location location;
};

} // namespace

ShardingRewriter::ShardingRewriter(func::FuncOp main, int64_t numRanks, bool zigzag,
                                   int64_t sequenceLength, int64_t unpaddedLength,
                                   AttentionStrategy strategy, bool strategyRequested,
                                   int64_t ulyssesDegree)
    : main(main), numRanks(numRanks), zigzag(zigzag), sequenceLength(sequenceLength),
      unpaddedLength(unpaddedLength), strategy(strategy), ulyssesDegree(ulyssesDegree),
      strategyRequested(strategyRequested), builder(main.getBody().front().getTerminator()) {}

//===----------------------------------------------------------------------===//
// States and shapes
//===----------------------------------------------------------------------===//

SmallVector<int64_t> ShardingRewriter::globalShape(Value value) const {
  SmallVector<int64_t> shape(typeOf(value).getShape());
  Sharding sharding = stateOf(value);
  if (sharding.isSharded())
    shape[sharding.axis] *= numRanks;
  return shape;
}

RankedTensorType ShardingRewriter::localType(RankedTensorType global,
                                             const Sharding &sharding) const {
  SmallVector<int64_t> shape(global.getShape());
  shape[sharding.axis] /= numRanks;
  return global.clone(shape);
}

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

SmallVector<NamedAttribute> ShardingRewriter::axisAttributes(int64_t axis, bool zigzagAxis) {
  SmallVector<NamedAttribute> attributes = {
      builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis)),
      builder.getNamedAttr("num_ranks", builder.getI64IntegerAttr(numRanks))};
  if (zigzagAxis)
    attributes.push_back(builder.getNamedAttr("zigzag", builder.getBoolAttr(true)));
  return attributes;
}

/// `type` with the sharded dim split into [outer, the rest]: collectives
/// work on each block of the sequence on its own.
static RankedTensorType splitBlocks(RankedTensorType type, const Sharding &sharding) {
  SmallVector<int64_t> split(type.getShape());
  split[sharding.axis] /= sharding.outer;
  split.insert(split.begin() + sharding.axis, sharding.outer);
  return type.clone(split);
}

Value ShardingRewriter::gatherWhole(Value local, const Sharding &sharding) {
  if (sharding.outer == 1)
    return builder.build<graph::AllGatherOp>({local}, axisAttributes(sharding.axis, zigzag));
  RankedTensorType type = typeOf(local);
  Value blocks = builder.reshape(local, splitBlocks(type, sharding));
  Value gathered =
      builder.build<graph::AllGatherOp>({blocks}, axisAttributes(sharding.axis + 1, zigzag));
  SmallVector<int64_t> whole(type.getShape());
  whole[sharding.axis] *= numRanks;
  return builder.reshape(gathered, type.clone(whole));
}

Value ShardingRewriter::reducePartial(Value partial) {
  return builder.build<graph::AllReduceOp>(
      {partial}, {builder.getNamedAttr("num_ranks", builder.getI64IntegerAttr(numRanks))});
}

Value ShardingRewriter::sliceToShard(Value whole, const Sharding &sharding) {
  if (sharding.outer == 1)
    return hoistedSlice(whole, sharding.axis);
  RankedTensorType type = typeOf(whole);
  Value blocks = builder.reshape(whole, splitBlocks(type, sharding));
  Value shard =
      builder.build<graph::ShardSliceOp>({blocks}, axisAttributes(sharding.axis + 1, zigzag));
  return builder.reshape(shard, localType(type, sharding));
}

Value ShardingRewriter::sliceAfterDefinition(Value whole, int64_t axis) {
  BuilderScope scope(builder);
  if (Operation *definition = whole.getDefiningOp()) {
    builder.setInsertionPointAfter(definition);
    builder.setLoc(definition->getLoc());
  } else {
    builder.setInsertionPointToStart(&main.getBody().front());
    builder.setLoc(main.getLoc());
  }
  return builder.build<graph::ShardSliceOp>({whole}, axisAttributes(axis, zigzag));
}

Value ShardingRewriter::hoistedSlice(Value whole, int64_t axis) {
  auto key = std::make_pair(whole, axis);
  if (Value known = slices.lookup(key))
    return known;
  Operation *definition = whole.getDefiningOp();
  int64_t length = typeOf(whole).getDimSize(axis);
  // The operands the slice moves to, with their axes; the op is rebuilt on
  // their shards. Operands that broadcast along the axis stay whole.
  SmallVector<std::pair<unsigned, int64_t>> sliced;
  auto sliceAligned = [&](Operation *op, unsigned begin, unsigned end) {
    int64_t rank = rankOf(whole);
    for (unsigned i = begin; i < end; ++i) {
      Value operand = op->getOperand(i);
      int64_t aligned = axis - (rank - rankOf(operand));
      if (aligned >= 0 && typeOf(operand).getDimSize(aligned) == length)
        sliced.push_back({i, aligned});
    }
  };
  bool movable = definition != nullptr;
  if (definition) {
    llvm::TypeSwitch<Operation *>(definition)
        .Case<graph::TransposeOp>([&](auto op) {
          sliced.push_back({0, op.getPerm()[axis]});
        })
        .Case<graph::UnsqueezeOp>([&](auto op) {
          int64_t rank = rankOf(whole), inserted = 0;
          for (int64_t inserted_axis : op.getAxes())
            if (normalized(inserted_axis, rank) < axis)
              ++inserted;
          sliced.push_back({0, axis - inserted});
        })
        .Case<graph::ConcatOp>([&](auto op) {
          if (normalized(op.getAxis(), rankOf(whole)) == axis)
            movable = false;
          else
            sliceAligned(op, 0, op->getNumOperands());
        })
        .Case<graph::MatMulOp>([&](auto op) {
          int64_t rank = rankOf(whole);
          if (rankOf(op.getLhs()) < 2 || rankOf(op.getRhs()) < 2)
            movable = false;
          else if (axis == rank - 1)
            sliced.push_back({1, rankOf(op.getRhs()) - 1});
          else if (axis == rank - 2)
            sliced.push_back({0, rankOf(op.getLhs()) - 2});
          else
            sliceAligned(op, 0, 2);
        })
        .Case<graph::GatherOp>([&](auto op) {
          int64_t gatherAxis = normalized(op.getAxis(), rankOf(op.getData()));
          int64_t indexRank = rankOf(op.getIndices());
          if (axis >= gatherAxis && axis < gatherAxis + indexRank)
            sliced.push_back({1, axis - gatherAxis});
          else
            sliced.push_back({0, axis < gatherAxis ? axis : axis - indexRank + 1});
        })
        .Default([&](Operation *op) {
          if (isPositionWise(op))
            sliced.push_back({0, axis});
          else if (isBroadcastElementwise(op))
            sliceAligned(op, 0, op->getNumOperands());
          else
            movable = false;
        });
  }
  if (!movable || sliced.empty() || definition->getNumResults() != 1) {
    Value shard = sliceAfterDefinition(whole, axis);
    slices[key] = shard;
    return shard;
  }
  SmallVector<Value> operands(definition->getOperands());
  for (auto [index, operandAxis] : sliced)
    operands[index] = hoistedSlice(definition->getOperand(index), operandAxis);
  BuilderScope scope(builder);
  builder.setInsertionPointAfter(definition);
  builder.setLoc(definition->getLoc());
  if (llvm::any_of(operands, [](Value operand) { return !operand; }))
    return {};
  StringRef name = definition->getName().getStringRef();
  SmallVector<Value> built =
      llvm::isa<graph::CastOp>(definition)
          ? builder.buildTyped(name, localType(typeOf(whole), Sharding::sharded(axis)), operands,
                               definition->getAttrs())
          : builder.buildInferred(name, operands, definition->getAttrs(), 1);
  if (built.empty())
    return {};
  slices[key] = built.front();
  return built.front();
}

SmallVector<int64_t> ShardingRewriter::positionsOfRank(int64_t rank) const {
  int64_t chunk = sequenceLength / chunks();
  SmallVector<int64_t> positions;
  auto append = [&](int64_t index) {
    for (int64_t i = 0; i < chunk; ++i)
      positions.push_back(index * chunk + i);
  };
  append(rank);
  if (zigzag)
    append(2 * numRanks - 1 - rank);
  return positions;
}

Value ShardingRewriter::localPositions() {
  if (queryPositions)
    return queryPositions;
  BuilderScope scope(builder);
  builder.setInsertionPointToStart(&main.getBody().front());
  builder.setLoc(main.getLoc());
  SmallVector<int64_t> all(sequenceLength);
  std::iota(all.begin(), all.end(), 0);
  queryPositions = sliceAfterDefinition(builder.i64Vector(all), 0);
  return queryPositions;
}

//===----------------------------------------------------------------------===//
// Driving the rules
//===----------------------------------------------------------------------===//

LogicalResult
ShardingRewriter::shardArguments(const llvm::SmallDenseMap<unsigned, int64_t> &shardedArguments) {
  Block &body = main.getBody().front();
  for (auto [index, axis] : shardedArguments) {
    BlockArgument argument = body.getArgument(index);
    Sharding sharding = Sharding::sharded(axis);
    argument.setType(localType(typeOf(argument), sharding));
    main.setArgAttr(index, kShardAxisAttr, builder.getI64IntegerAttr(axis));
    setState(argument, sharding);
  }
  return success();
}

LogicalResult ShardingRewriter::run() {
  Block &body = main.getBody().front();
  SmallVector<Operation *> ops;
  for (Operation &op : body)
    ops.push_back(&op);
  for (Operation *op : ops) {
    builder.setInsertionPoint(op);
    builder.setLoc(op->getLoc());
    if (auto returnOp = llvm::dyn_cast<func::ReturnOp>(op)) {
      if (failed(rewriteReturn(returnOp)))
        return failure();
      continue;
    }
    if (isCollective(op))
      return op->emitError() << describeOp(op)
                             << " is already sequence-parallel; run sp-sequence-parallel once";
    if (llvm::all_of(op->getOperands(),
                     [&](Value operand) { return stateOf(operand).isReplicated(); }))
      continue;
    if (failed(rewrite(op)) || builder.hasFailed())
      return failure();
  }
  // What the rewrite left unused: whole tables that only their shards read,
  // shape constants of the whole tensors.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
    if (isOpTriviallyDead(&op))
      op.erase();
  SmallVector<Type> argumentTypes(body.getArgumentTypes());
  main.setType(
      FunctionType::get(main.getContext(), argumentTypes, body.getTerminator()->getOperandTypes()));
  return success();
}

LogicalResult ShardingRewriter::replaceOperand(Operation *op, unsigned index, Value value) {
  // Null after a failed build, whose diagnostic the builder reported.
  if (!value || builder.hasFailed())
    return failure();
  op->setOperand(index, value);
  return success();
}

LogicalResult ShardingRewriter::reinfer(Operation *op) {
  if (auto cast = llvm::dyn_cast<graph::CastOp>(op)) {
    cast.getResult().setType(
        typeOf(cast.getInput()).clone(typeOf(cast.getResult()).getElementType()));
    return success();
  }
  auto inference = llvm::dyn_cast<InferTypeOpInterface>(op);
  if (!inference)
    return op->emitError() << "sp-sequence-parallel cannot infer the local result types of "
                           << describeOp(op);
  SmallVector<Type> types;
  if (failed(inference.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                        op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
                                        op->getRegions(), types)))
    return failure();
  for (auto [result, type] : llvm::zip(op->getResults(), types))
    result.setType(type);
  return success();
}

LogicalResult ShardingRewriter::gatherOperands(Operation *op, const Twine &why) {
  SmallVector<unsigned> gathered;
  for (OpOperand &operand : op->getOpOperands()) {
    Sharding sharding = stateOf(operand.get());
    if (!sharding.isSharded())
      continue;
    if (failed(
            replaceOperand(op, operand.getOperandNumber(), gatherWhole(operand.get(), sharding))))
      return failure();
    gathered.push_back(operand.getOperandNumber());
  }
  if (builder.hasFailed())
    return failure();
  InFlightDiagnostic remark = op->emitRemark() << "gathered the whole sequence of operand"
                                               << (gathered.size() > 1 ? "s" : "") << " #";
  llvm::interleave(
      gathered, [&](unsigned index) { remark << index; }, [&] { remark << ", #"; });
  remark << " of " << describeOp(op) << ": " << why;
  if (llvm::isa<InferTypeOpInterface, graph::CastOp>(op) && failed(reinfer(op)))
    return failure();
  return success();
}

LogicalResult ShardingRewriter::rewrite(Operation *op) {
  // Partial sums first: all-reduced unless the op is linear in them.
  if (!keepsPartial(op) && !isSumOfPartials(op, states)) {
    for (OpOperand &operand : op->getOpOperands())
      if (stateOf(operand.get()).isPartial() &&
          failed(replaceOperand(op, operand.getOperandNumber(), reducePartial(operand.get()))))
        return failure();
  } else if (llvm::any_of(op->getOperands(),
                          [&](Value operand) { return stateOf(operand).isPartial(); })) {
    for (Value result : op->getResults())
      setState(result, Sharding::partial());
    return success();
  }
  if (llvm::none_of(op->getOperands(), [&](Value operand) { return stateOf(operand).isSharded(); }))
    return success();

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<graph::ReshapeOp>([&](auto op) { return rewriteReshape(op); })
      .Case<graph::ExpandOp>([&](auto op) { return rewriteExpand(op); })
      .Case<graph::TransposeOp>([&](auto op) { return rewriteTranspose(op); })
      .Case<graph::UnsqueezeOp>([&](auto op) { return rewriteUnsqueeze(op); })
      .Case<graph::SqueezeOp>([&](auto op) { return rewriteSqueeze(op); })
      .Case<graph::SoftmaxOp>(
          [&](auto op) { return rewriteAlongAxis(op, op.getAxis(), false, "normalizes"); })
      .Case<graph::CumSumOp>(
          [&](auto op) { return rewriteAlongAxis(op, op.getAxis(), false, "sums"); })
      .Case<graph::LayerNormOp, graph::RmsNormOp>(
          [&](auto op) { return rewriteAlongAxis(op, op.getAxis(), true, "normalizes"); })
      .Case<graph::ReduceSumOp>([&](auto op) { return rewriteReduce(op); })
      .Case<graph::ReduceMeanOp>([&](auto op) { return rewriteReduce(op); })
      .Case<graph::ReduceMaxOp>([&](auto op) { return rewriteReduce(op); })
      .Case<graph::MatMulOp>([&](auto op) { return rewriteMatMul(op); })
      .Case<graph::GemmOp>([&](auto op) { return rewriteGemm(op); })
      .Case<graph::GatherOp>([&](auto op) { return rewriteGather(op); })
      .Case<graph::GatherNDOp>([&](auto op) { return rewriteGatherND(op); })
      .Case<graph::SliceOp>([&](auto op) { return rewriteSlice(op); })
      .Case<graph::SplitOp>([&](auto op) { return rewriteSplit(op); })
      .Case<graph::ConcatOp>([&](auto op) { return rewriteConcat(op); })
      .Case<graph::ShapeOp>([&](auto op) { return rewriteShape(op); })
      .Case<graph::ShiftOp>([&](auto op) { return rewriteShift(op); })
      .Case<graph::CrossEntropySumOp>([&](auto op) { return rewriteCrossEntropy(op); })
      .Case<graph::DropoutOp>([&](auto op) { return rewriteDropout(op); })
      .Case<graph::AttentionOp>([&](auto op) { return rewriteAttention(op); })
      .Default([&](Operation *op) -> LogicalResult {
        if (isBroadcastElementwise(op))
          return rewriteElementwise(op);
        if (isPositionWise(op))
          return rewriteSameShape(op);
        return gatherOperands(op, "it has no sequence-parallel rule");
      });
}

//===----------------------------------------------------------------------===//
// Position-wise ops
//===----------------------------------------------------------------------===//

LogicalResult ShardingRewriter::sliceBroadcastOperands(Operation *op, const Sharding &target,
                                                       int64_t resultRank, unsigned firstOperand,
                                                       unsigned endOperand) {
  // The whole length along the target dim, from a sharded operand.
  int64_t length = ShapedType::kDynamic;
  endOperand = std::min(endOperand, op->getNumOperands());
  for (unsigned i = firstOperand; i < endOperand; ++i) {
    Value operand = op->getOperand(i);
    Sharding sharding = stateOf(operand);
    if (sharding.isSharded() && sharding.axis + resultRank - rankOf(operand) == target.axis)
      length = globalShape(operand)[sharding.axis];
  }
  for (unsigned i = firstOperand; i < endOperand; ++i) {
    Value operand = op->getOperand(i);
    if (!stateOf(operand).isReplicated())
      continue;
    int64_t aligned = target.axis - (resultRank - rankOf(operand));
    if (aligned < 0 || typeOf(operand).getDimSize(aligned) == 1)
      continue;
    if (typeOf(operand).getDimSize(aligned) != length)
      return op->emitError() << describeOp(op) << ": operand #" << i << " of shape "
                             << graph::formatShape(typeOf(operand).getShape())
                             << " does not broadcast along the sequence dim of length " << length;
    if (failed(replaceOperand(op, i, sliceToShard(operand, target.withAxis(aligned)))))
      return failure();
  }
  return success(!builder.hasFailed());
}

LogicalResult ShardingRewriter::rewriteElementwise(Operation *op) {
  int64_t resultRank = rankOf(op->getResult(0));
  std::optional<Sharding> target;
  for (Value operand : op->getOperands()) {
    Sharding sharding = stateOf(operand);
    if (!sharding.isSharded())
      continue;
    Sharding aligned = sharding.withAxis(sharding.axis + resultRank - rankOf(operand));
    if (target && *target != aligned)
      return gatherOperands(op, "its operands split the sequence along different dims");
    target = aligned;
  }
  if (failed(sliceBroadcastOperands(op, *target, resultRank)) || failed(reinfer(op)))
    return failure();
  setState(op->getResult(0), *target);
  return success();
}

LogicalResult ShardingRewriter::rewriteSameShape(Operation *op) {
  Sharding sharding = stateOf(op->getOperand(0));
  if (failed(reinfer(op)))
    return failure();
  for (Value result : op->getResults())
    setState(result, sharding);
  return success();
}

LogicalResult ShardingRewriter::rewriteDropout(graph::DropoutOp op) {
  // The mask is drawn by each element's index in the whole tensor, so the
  // kernel needs the global positions of the shard's rows (in the layout's
  // order, zigzag or not): the same on every rank count and strategy.
  Sharding sharding = stateOf(op.getInput());
  int64_t whole = globalShape(op.getInput())[sharding.axis];
  if (whole != sharding.outer * sequenceLength)
    return gatherOperands(op, "its sharded dim is not whole sequences");
  op.getPositionsMutable().assign(localPositions());
  op.setSequenceAxis(sharding.axis);
  // Real positions index the unpadded tensor, so that padding changes no
  // mask; padded rows' indices run into the next block, which only padding
  // reads.
  op.setSequenceLength(unpaddedLength);
  // Attention probabilities (a softmax over the keys, which the padding
  // check saw hide the padded ones): their keys are padded too.
  int64_t rank = rankOf(op.getInput());
  if (unpaddedLength != sequenceLength && sharding.axis < rank - 1 &&
      op.getInput().getDefiningOp<graph::SoftmaxOp>() &&
      globalShape(op.getInput())[rank - 1] == sequenceLength)
    op.setUnpaddedKeys(unpaddedLength);
  return rewriteSameShape(op);
}

LogicalResult ShardingRewriter::rewriteAlongAxis(Operation *op, int64_t axis, bool fromAxisOn,
                                                 StringRef what) {
  Sharding sharding = stateOf(op->getOperand(0));
  int64_t rank = rankOf(op->getOperand(0));
  axis = normalized(axis, rank);
  bool touchesSequence =
      sharding.isSharded() && (fromAxisOn ? sharding.axis >= axis : sharding.axis == axis);
  // Scales and biases of a norm are parameters; a sharded one is unexpected.
  bool shardedParameter = llvm::any_of(op->getOperands().drop_front(), [&](Value operand) {
    return !stateOf(operand).isReplicated();
  });
  if (!sharding.isSharded() || touchesSequence || shardedParameter)
    return gatherOperands(op, "it " + what + " along the sequence");
  return rewriteSameShape(op);
}

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

LogicalResult ShardingRewriter::rewriteReshape(graph::ReshapeOp op) {
  Sharding sharding = stateOf(op.getInput());
  SmallVector<int64_t> input = globalShape(op.getInput());
  ArrayRef<int64_t> output = op.getType().getShape();
  if (!typeOf(op.getInput()).hasStaticShape() || !op.getType().hasStaticShape())
    return gatherOperands(op, "its shape is not static");
  // In the flattened elements, a block (all positions of one sequence) and
  // a rank's chunk of it are contiguous runs. The result's dim k keeps the
  // chunks apart iff the elements it steps over (`stride`, the product of
  // the dims after it) divide a chunk and it spans whole blocks.
  int64_t block = input[sharding.axis] / sharding.outer *
                  product(ArrayRef<int64_t>(input).drop_front(sharding.axis + 1));
  int64_t chunk = block / chunks();
  std::optional<Sharding> mapped;
  int64_t stride = 1;
  for (int64_t k = int64_t(output.size()) - 1; k >= 0; --k) {
    if (chunk % stride == 0 && (stride * output[k]) % block == 0) {
      mapped = Sharding::sharded(k, stride * output[k] / block);
      break;
    }
    stride *= output[k];
  }
  if (!mapped)
    return gatherOperands(op, "it reshapes " + graph::formatShape(input) + " into " +
                                  graph::formatShape(output) +
                                  ", cutting across the ranks' shards of the sequence");
  RankedTensorType local = localType(op.getType(), *mapped);
  if (failed(replaceOperand(op, 1, builder.i64Vector(local.getShape()))))
    return failure();
  op.getResult().setType(local);
  setState(op.getResult(), *mapped);
  return success(!builder.hasFailed());
}

LogicalResult ShardingRewriter::rewriteExpand(graph::ExpandOp op) {
  Sharding sharding = stateOf(op.getInput());
  if (!sharding.isSharded() || !op.getType().hasStaticShape())
    return gatherOperands(op, "its target shape is not static");
  Sharding mapped =
      sharding.withAxis(sharding.axis + op.getType().getRank() - rankOf(op.getInput()));
  RankedTensorType local = localType(op.getType(), mapped);
  if (failed(replaceOperand(op, 1, builder.i64Vector(local.getShape()))))
    return failure();
  op.getResult().setType(local);
  setState(op.getResult(), mapped);
  return success(!builder.hasFailed());
}

LogicalResult ShardingRewriter::rewriteTranspose(graph::TransposeOp op) {
  Sharding sharding = stateOf(op.getInput());
  ArrayRef<int64_t> perm = op.getPerm();
  auto position = llvm::find(perm, sharding.axis);
  if (position == perm.end())
    return gatherOperands(op, "its permutation is invalid");
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), sharding.withAxis(position - perm.begin()));
  return success();
}

LogicalResult ShardingRewriter::rewriteUnsqueeze(graph::UnsqueezeOp op) {
  Sharding sharding = stateOf(op.getInput());
  int64_t rank = op.getType().getRank();
  llvm::SmallDenseSet<int64_t> inserted;
  for (int64_t axis : op.getAxes())
    inserted.insert(normalized(axis, rank));
  int64_t kept = -1, axis = 0;
  for (; axis < rank; ++axis)
    if (!inserted.contains(axis) && ++kept == sharding.axis)
      break;
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), sharding.withAxis(axis));
  return success();
}

LogicalResult ShardingRewriter::rewriteSqueeze(graph::SqueezeOp op) {
  Sharding sharding = stateOf(op.getInput());
  ArrayRef<int64_t> input = typeOf(op.getInput()).getShape();
  int64_t removedBefore = 0;
  if (op.getAxes().empty()) {
    for (int64_t d = 0; d < sharding.axis; ++d)
      removedBefore += input[d] == 1;
  } else {
    for (int64_t axis : op.getAxes())
      removedBefore += normalized(axis, int64_t(input.size())) < sharding.axis;
  }
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), sharding.withAxis(sharding.axis - removedBefore));
  return success();
}

LogicalResult ShardingRewriter::rewriteShape(graph::ShapeOp op) {
  // Shapes describe the whole tensor: what the model computes from them
  // (reshape targets, masks, position ranges) is about the whole sequence.
  SmallVector<int64_t> shape = globalShape(op.getInput());
  int64_t rank = int64_t(shape.size());
  int64_t start = std::clamp<int64_t>(normalized(op.getStart(), rank), 0, rank);
  int64_t end = op.getEnd() ? std::clamp<int64_t>(normalized(*op.getEnd(), rank), 0, rank) : rank;
  SmallVector<int64_t> dims(shape.begin() + start, shape.begin() + std::max(start, end));
  Value constant = builder.i64Vector(dims);
  if (!constant)
    return failure();
  op.getResult().replaceAllUsesWith(constant);
  op->erase();
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and contractions
//===----------------------------------------------------------------------===//

template <typename ReduceOp> LogicalResult ShardingRewriter::rewriteReduce(ReduceOp op) {
  Sharding sharding = stateOf(op.getInput());
  int64_t rank = rankOf(op.getInput());
  SmallVector<int64_t> axes;
  for (int64_t axis : op.getAxes())
    axes.push_back(normalized(axis, rank));
  if (axes.empty())
    for (int64_t axis = 0; axis < rank; ++axis)
      axes.push_back(axis);
  if (!llvm::is_contained(axes, sharding.axis)) {
    int64_t removedBefore =
        op.getKeepDims() ? 0 : llvm::count_if(axes, [&](int64_t a) { return a < sharding.axis; });
    if (failed(reinfer(op)))
      return failure();
    setState(op.getResult(), sharding.withAxis(sharding.axis - removedBefore));
    return success();
  }
  if constexpr (std::is_same_v<ReduceOp, graph::ReduceMaxOp>) {
    return gatherOperands(op, "it takes the maximum along the sequence");
  } else {
    // Each rank reduces its own positions: the sum over ranks is the result.
    if (failed(reinfer(op)))
      return failure();
    Value partial = op.getResult();
    if constexpr (std::is_same_v<ReduceOp, graph::ReduceMeanOp>) {
      // A rank's mean is over 1/N of the positions.
      builder.setInsertionPointAfter(op);
      partial = builder.scale(op.getResult(), 1.0 / double(numRanks));
      if (!partial)
        return failure();
      op.getResult().replaceAllUsesExcept(partial, partial.getDefiningOp());
    }
    setState(partial, Sharding::partial());
    return success();
  }
}

LogicalResult ShardingRewriter::rewriteMatMul(graph::MatMulOp op) {
  Value lhs = op.getLhs(), rhs = op.getRhs();
  int64_t lhsRank = rankOf(lhs), rhsRank = rankOf(rhs), rank = op.getType().getRank();
  if (lhsRank < 2 || rhsRank < 2)
    return gatherOperands(op, "a vector operand has no rows to keep apart");
  enum class Role { None, Rows, Columns, Contracted, Batch };
  auto roleOf = [&](Value operand, bool isLhs) {
    Sharding sharding = stateOf(operand);
    if (!sharding.isSharded())
      return Role::None;
    int64_t operandRank = rankOf(operand);
    if (sharding.axis == operandRank - 1)
      return isLhs ? Role::Contracted : Role::Columns;
    if (sharding.axis == operandRank - 2)
      return isLhs ? Role::Rows : Role::Contracted;
    return Role::Batch;
  };
  auto resultAxis = [&](Value operand) {
    Sharding sharding = stateOf(operand);
    return sharding.axis + rank - rankOf(operand);
  };
  Role lhsRole = roleOf(lhs, true), rhsRole = roleOf(rhs, false);
  // Both sharded: local only when they split the same batch dim or both
  // split the contracted dim; otherwise the rhs (keys, values) comes whole.
  if (lhsRole != Role::None && rhsRole != Role::None) {
    bool sameBatch = lhsRole == Role::Batch && rhsRole == Role::Batch &&
                     resultAxis(lhs) == resultAxis(rhs) && stateOf(lhs).outer == stateOf(rhs).outer;
    bool bothContracted = lhsRole == Role::Contracted && rhsRole == Role::Contracted &&
                          stateOf(lhs).outer == stateOf(rhs).outer;
    if (!sameBatch && !bothContracted) {
      // Scores or outputs of attention that sp-fuse left as matmuls: the
      // keys come whole, which is allgather whatever the strategy.
      if (strategyRequested && strategy != AttentionStrategy::AllGather)
        return op->emitError()
               << describeOp(op)
               << " multiplies the sequence by the sequence (attention that sp-fuse did not make "
                  "one attention op), which --sp-strategy="
               << strategyName(strategy)
               << " cannot split; its keys would be gathered whole as by allgather. Use "
                  "--sp-strategy=allgather or auto, or see the fusion warnings for why it stayed "
                  "unfused";
      bool gatherRhs = lhsRole != Role::Contracted;
      Value whole = gatherRhs ? rhs : lhs;
      if (failed(replaceOperand(op, gatherRhs ? 1 : 0, gatherWhole(whole, stateOf(whole)))))
        return failure();
      op->emitRemark() << "gathered the whole sequence of operand #" << (gatherRhs ? 1 : 0)
                       << " of " << describeOp(op)
                       << ": its rows meet the other operand's sequence";
      if (gatherRhs)
        rhsRole = Role::None;
      else
        lhsRole = Role::None;
    }
  }
  lhs = op.getLhs();
  rhs = op.getRhs();
  if (lhsRole == Role::Contracted || rhsRole == Role::Contracted) {
    // Each rank multiplies its part of the contracted dim: a partial sum.
    if (lhsRole == Role::None)
      if (failed(replaceOperand(op, 0, sliceToShard(lhs, stateOf(rhs).withAxis(lhsRank - 1)))))
        return failure();
    if (rhsRole == Role::None)
      if (failed(replaceOperand(op, 1, sliceToShard(rhs, stateOf(lhs).withAxis(rhsRank - 2)))))
        return failure();
    if (builder.hasFailed() || failed(reinfer(op)))
      return failure();
    setState(op.getResult(), Sharding::partial());
    return success();
  }
  Value sharded = lhsRole != Role::None ? lhs : rhs;
  Sharding target = stateOf(sharded).withAxis(resultAxis(sharded));
  // The other operand's batch dims broadcast against the sharded one's.
  if ((lhsRole == Role::Batch && rhsRole == Role::None) ||
      (rhsRole == Role::Batch && lhsRole == Role::None)) {
    unsigned other = lhsRole == Role::Batch ? 1 : 0;
    Value operand = op->getOperand(other);
    int64_t aligned = target.axis - (rank - rankOf(operand));
    if (aligned >= 0 && aligned < rankOf(operand) - 2 && typeOf(operand).getDimSize(aligned) != 1)
      if (failed(replaceOperand(op, other, sliceToShard(operand, target.withAxis(aligned)))))
        return failure();
  }
  if (builder.hasFailed() || failed(reinfer(op)))
    return failure();
  setState(op.getResult(), target);
  return success();
}

LogicalResult ShardingRewriter::rewriteGemm(graph::GemmOp op) {
  // Rows of the result come from a, columns from b; c broadcasts to both.
  Sharding a = stateOf(op.getA()), b = stateOf(op.getB());
  Value c = op.getC();
  bool aRows = a.isSharded() && a.axis == (op.getTransposeA() ? 1 : 0);
  bool bColumns = b.isSharded() && b.axis == (op.getTransposeB() ? 0 : 1);
  bool cSharded = c && !stateOf(c).isReplicated();
  if (cSharded || (a.isSharded() && !aRows) || (b.isSharded() && !bColumns) || (aRows && bColumns))
    return gatherOperands(op, "it contracts or mixes the sequence dims of its operands");
  Sharding target = Sharding::sharded(aRows ? 0 : 1, aRows ? a.outer : b.outer);
  if (c && failed(sliceBroadcastOperands(op, target, 2, 2, 3)))
    return failure();
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), target);
  return success();
}

//===----------------------------------------------------------------------===//
// Indexing
//===----------------------------------------------------------------------===//

LogicalResult ShardingRewriter::rewriteGather(graph::GatherOp op) {
  Sharding data = stateOf(op.getData()), indices = stateOf(op.getIndices());
  int64_t axis = normalized(op.getAxis(), rankOf(op.getData()));
  int64_t indexRank = rankOf(op.getIndices());
  if (data.isSharded() && (indices.isSharded() || data.axis == axis))
    return gatherOperands(op, "it indexes the sequence dim of its data");
  Sharding target = indices.isSharded()
                        ? indices.withAxis(axis + indices.axis)
                        : data.withAxis(data.axis < axis ? data.axis : data.axis + indexRank - 1);
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), target);
  return success();
}

LogicalResult ShardingRewriter::rewriteGatherND(graph::GatherNDOp op) {
  // Along a batch dim (GatherElements and ScatterElements away from the
  // sequence, as imported) every position reads its own slice of the data:
  // each rank gathers its positions.
  Sharding data = stateOf(op.getData()), indices = stateOf(op.getIndices());
  Sharding target = data.isSharded() ? data : indices;
  int64_t batchDims = op.getBatchDims();
  if (target.axis >= batchDims || (data.isSharded() && indices.isSharded() && data != indices))
    return gatherOperands(op, "it addresses the sequence dim of its data by index");
  for (unsigned i = 0; i < 2; ++i)
    if (stateOf(op->getOperand(i)).isReplicated() &&
        failed(replaceOperand(op, i, sliceToShard(op->getOperand(i), target))))
      return failure();
  if (builder.hasFailed() || failed(reinfer(op)))
    return failure();
  setState(op.getResult(), target);
  return success();
}

LogicalResult ShardingRewriter::rewriteSlice(graph::SliceOp op) {
  Sharding sharding = stateOf(op.getInput());
  int64_t rank = rankOf(op.getInput());
  auto starts = graph::getConstantIntValues(op.getStarts());
  auto ends = graph::getConstantIntValues(op.getEnds());
  auto axes = graph::getConstantIntValues(op.getAxes());
  auto steps = graph::getConstantIntValues(op.getSteps());
  if (!starts || !ends || !axes || !steps)
    return gatherOperands(op, "its bounds are not constants");
  int64_t length = globalShape(op.getInput())[sharding.axis];
  for (auto [start, end, axis, step] : llvm::zip(*starts, *ends, *axes, *steps)) {
    if (normalized(axis, rank) != sharding.axis)
      continue;
    // Only the slice that keeps the whole sequence stays local.
    int64_t first = start < 0 ? start + length : start;
    int64_t last = end < 0 ? end + length : end;
    if (step != 1 || first > 0 || last < length)
      return gatherOperands(op, "it slices the sequence dim");
  }
  if (failed(reinfer(op)))
    return failure();
  setState(op.getResult(), sharding);
  return success();
}

LogicalResult ShardingRewriter::rewriteSplit(graph::SplitOp op) {
  Sharding sharding = stateOf(op.getInput());
  if (normalized(op.getAxis(), rankOf(op.getInput())) == sharding.axis)
    return gatherOperands(op, "it splits the sequence dim");
  return rewriteSameShape(op);
}

LogicalResult ShardingRewriter::rewriteConcat(graph::ConcatOp op) {
  int64_t rank = op.getType().getRank();
  int64_t axis = normalized(op.getAxis(), rank);
  std::optional<Sharding> target;
  for (Value operand : op.getInputs()) {
    Sharding sharding = stateOf(operand);
    if (!sharding.isSharded())
      continue;
    if (sharding.axis == axis || (target && *target != sharding))
      return gatherOperands(op, "it concatenates along the sequence or mixes layouts");
    target = sharding;
  }
  if (failed(sliceBroadcastOperands(op, *target, rank)) || failed(reinfer(op)))
    return failure();
  setState(op.getResult(), *target);
  return success();
}

//===----------------------------------------------------------------------===//
// The causal-LM loss
//===----------------------------------------------------------------------===//

LogicalResult ShardingRewriter::rewriteShift(graph::ShiftOp op) {
  Value tokens = op.getInput();
  Sharding sharding = stateOf(tokens);
  int64_t rank = rankOf(tokens);
  int64_t axis = normalized(op.getAxis(), rank);
  int64_t chunk = sequenceLength / chunks(), offset = op.getOffset();
  if (sharding.axis != axis)
    return rewriteSameShape(op);
  if (sharding.outer != 1 || globalShape(tokens)[axis] != sequenceLength || offset < 1 ||
      offset > chunk)
    return gatherOperands(op, "it shifts along the sequence in a way the shards do not "
                              "line up with");
  // Within each of the rank's chunks the shift is local; a chunk's last
  // `offset` labels are the next chunk's first tokens, from whichever rank
  // holds it (every rank's chunk heads are gathered: a few ids per rank).
  // The sequence's last chunk keeps the fill.
  RankedTensorType local = typeOf(tokens);
  int64_t chunksHere = zigzag ? 2 : 1;
  SmallVector<int64_t> split(local.getShape());
  split[axis] = chunk;
  split.insert(split.begin() + axis, chunksHere);
  Value tokensByChunk = builder.reshape(tokens, local.clone(split));
  auto sliceChunks = [&](int64_t begin, int64_t end) {
    return builder.build<graph::SliceOp>({tokensByChunk, builder.i64Vector({begin}),
                                          builder.i64Vector({end}), builder.i64Vector({axis + 1}),
                                          builder.i64Vector({1})});
  };
  Value heads = sliceChunks(0, offset);
  Value allHeads = builder.build<graph::AllGatherOp>({heads}, axisAttributes(axis, zigzag));
  Value nextHeads = builder.build<graph::ShiftOp>(
      {allHeads}, {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis)),
                   builder.getNamedAttr("offset", builder.getI64IntegerAttr(1)),
                   builder.getNamedAttr("fill", op.getFillAttr())});
  Value myNextHeads = builder.build<graph::ShardSliceOp>({nextHeads}, axisAttributes(axis, zigzag));
  Value labels = myNextHeads;
  if (offset < chunk)
    labels = builder.build<graph::ConcatOp>(
        {sliceChunks(offset, chunk), myNextHeads},
        {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis + 1))});
  labels = builder.reshape(labels, local);
  if (!labels)
    return failure();
  op.getResult().replaceAllUsesWith(labels);
  op->erase();
  setState(labels, sharding);
  return success();
}

LogicalResult ShardingRewriter::rewriteCrossEntropy(graph::CrossEntropySumOp op) {
  Value logits = op.getLogits(), labels = op.getLabels();
  Sharding logitsSharding = stateOf(logits), labelsSharding = stateOf(labels);
  int64_t rank = rankOf(logits);
  Sharding target = logitsSharding.isSharded() ? logitsSharding : labelsSharding;
  if (target.axis >= rank - 1 || (logitsSharding.isSharded() && labelsSharding.isSharded() &&
                                  logitsSharding != labelsSharding))
    return gatherOperands(op, "it reads the sequence of its logits and labels unaligned");
  if (!logitsSharding.isSharded())
    if (failed(replaceOperand(op, 0, sliceToShard(logits, target))))
      return failure();
  if (!labelsSharding.isSharded())
    if (failed(replaceOperand(op, 1, sliceToShard(labels, target))))
      return failure();
  if (builder.hasFailed() || failed(reinfer(op)))
    return failure();
  // Each rank sums over its positions; the all-reduce comes before the
  // division by the global count.
  setState(op.getResult(), Sharding::partial());
  return success();
}

LogicalResult ShardingRewriter::rewriteReturn(func::ReturnOp op) {
  for (OpOperand &operand : op->getOpOperands()) {
    Sharding sharding = stateOf(operand.get());
    unsigned index = operand.getOperandNumber();
    if (sharding.isPartial()) {
      if (failed(replaceOperand(op, index, reducePartial(operand.get()))))
        return failure();
    } else if (sharding.isSharded() && sharding.outer != 1) {
      if (unpaddedLength != sequenceLength)
        return op->emitError() << "result #" << index
                               << " merges the sequence with another dim, so the padding that "
                                  "makes the sequence split across the ranks cannot be cut "
                                  "from it; use a sequence length the ranks' chunks divide";
      if (failed(replaceOperand(op, index, gatherWhole(operand.get(), sharding))))
        return failure();
      op->emitRemark() << "gathered the whole sequence of result #" << index
                       << ": its sequence dim is merged with another";
    } else if (sharding.isSharded()) {
      main.setResultAttr(index, kShardAxisAttr, builder.getI64IntegerAttr(sharding.axis));
    }
  }
  return success(!builder.hasFailed());
}

} // namespace sp::sequence_parallel
