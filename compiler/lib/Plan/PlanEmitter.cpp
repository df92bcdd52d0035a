//===- PlanEmitter.cpp - writing a compiled module as a plan --------------===//

#include "sp/Plan/PlanEmitter.h"
#include "sp/Dialect/Graph/IR/GraphLocations.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Import/OnnxImporter.h"
#include "sp/Plan/InstructionIds.h"
#include "sp/Plan/MemoryPlan.h"
#include "sp/Plan/Passes.h"
#include "sp/Training/Passes.h"

#include "sp/plan/plan.pb.h"
#include "sp/runtime/PlanFile.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
namespace graph = sp::graph;
namespace proto = sp::plan;

namespace sp::planning {
#define GEN_PASS_DEF_EMITPLAN
#include "sp/Plan/Passes.h.inc"
} // namespace sp::planning

namespace sp::planning {

namespace {

proto::DType getDType(Type elementType) {
  if (elementType.isF32())
    return proto::F32;
  if (elementType.isF64())
    return proto::F64;
  if (elementType.isF16())
    return proto::F16;
  if (elementType.isBF16())
    return proto::BF16;
  if (elementType.isInteger(1))
    return proto::BOOL;
  if (elementType.isInteger(32))
    return proto::I32;
  return proto::I64;
}

/// "node 'NAME' (kernel)" for the first name in the location: the ONNX node
/// the importer named the op after, or the name a later pass gave it.
/// Empty where the location holds no name.
std::string describeLocation(Location location, StringRef kernel) {
  std::optional<StringRef> name = graph::getLocationName(location);
  return name ? ("node '" + *name + "' (" + kernel + ")").str() : std::string();
}

/// Ops with a trailing Optional operand and no operand segment sizes: how
/// many operands they declare, so that an absent one becomes -1.
unsigned getDeclaredOperandCount(Operation *op) {
  return llvm::TypeSwitch<Operation *, unsigned>(op)
      .Case<graph::GemmOp, graph::LayerNormOp>([](auto) { return 3; })
      .Case<graph::DropoutOp>([](auto) { return 2; })
      .Default([](Operation *op) { return op->getNumOperands(); });
}

/// Whether every byte of the constant is zero, so state initialized with it
/// can be zero-filled instead of stored.
bool isAllZero(ElementsAttr value) {
  if (auto dense = llvm::dyn_cast<DenseElementsAttr>(value)) {
    if (dense.getElementType().isInteger(1))
      return llvm::none_of(dense.getValues<bool>(), [](bool bit) { return bit; });
    return llvm::all_of(dense.getRawData(), [](char byte) { return byte == 0; });
  }
  if (auto resource = llvm::dyn_cast<DenseResourceElementsAttr>(value))
    if (AsmResourceBlob *blob = resource.getRawHandle().getBlob())
      return llvm::all_of(blob->getData(), [](char byte) { return byte == 0; });
  return false;
}

class PlanBuilder {
public:
  PlanBuilder(const StepAnalysis &analysis, const PlanEmitOptions &options, proto::Plan &plan,
              std::vector<char> &sidecar)
      : analysis(analysis), options(options), plan(plan), sidecar(sidecar) {}

  LogicalResult build();

private:
  FailureOr<int> getTensor(Value value);
  FailureOr<int> createRootTensor(Value root, ValueHome home);
  int addTensor(Type type, proto::Placement placement);
  FailureOr<uint64_t> getArenaOffset(Value root);
  FailureOr<uint64_t> appendToSidecar(ElementsAttr value, Operation *owner);

  LogicalResult addStateTensors();
  LogicalResult emitFill(Value root);
  LogicalResult emitInstruction(Operation *op);
  LogicalResult emitStore(ml_program::GlobalStoreOp store);
  LogicalResult bindResults(func::ReturnOp returnOp);
  LogicalResult setSharding(proto::Binding &binding, IntegerAttr shardAxis, Type type,
                            llvm::function_ref<InFlightDiagnostic()> emit);
  LogicalResult convertAttribute(Operation *op, StringRef name, Attribute attribute,
                                 proto::Attribute &converted);
  LogicalResult recordModuleAttributes();

  const StepAnalysis &analysis;
  const PlanEmitOptions &options;
  proto::Plan &plan;
  std::vector<char> &sidecar;
  uint64_t arenaBytes = 0;
  llvm::DenseMap<Value, int> tensorOf;
  llvm::DenseMap<Operation *, int> stateTensorOf;
  llvm::DenseMap<Operation *, int> constantTensorOf;
  llvm::DenseMap<Attribute, uint64_t> sidecarOffsetOf;
  /// The Fill constants whose `fill` runs just before each op.
  llvm::DenseMap<Operation *, SmallVector<Value>> fillsBefore;
};

int PlanBuilder::addTensor(Type type, proto::Placement placement) {
  auto tensor = llvm::cast<RankedTensorType>(getPlanValueType(type));
  proto::Tensor *added = plan.add_tensors();
  added->set_dtype(getDType(tensor.getElementType()));
  for (int64_t dim : tensor.getShape())
    added->add_shape(dim);
  added->set_placement(placement);
  return plan.tensors_size() - 1;
}

FailureOr<uint64_t> PlanBuilder::getArenaOffset(Value root) {
  std::optional<int64_t> offset;
  auto fail = [&]() -> InFlightDiagnostic {
    if (auto argument = llvm::dyn_cast<BlockArgument>(root))
      return analysis.getMain().emitError()
             << "argument #" << argument.getArgNumber() << " of @main";
    return root.getDefiningOp()->emitOpError()
           << "result #" << llvm::cast<OpResult>(root).getResultNumber();
  };
  if (auto argument = llvm::dyn_cast<BlockArgument>(root)) {
    if (auto attribute = analysis.getMain().getArgAttrOfType<IntegerAttr>(argument.getArgNumber(),
                                                                          kArgumentOffsetAttr))
      offset = attribute.getInt();
  } else {
    auto result = llvm::cast<OpResult>(root);
    auto offsets = result.getOwner()->getAttrOfType<DenseI64ArrayAttr>(kOffsetsAttr);
    if (offsets && offsets.size() == int64_t(result.getOwner()->getNumResults()))
      offset = offsets[result.getResultNumber()];
  }
  uint64_t bytes = *getPlanTensorBytes(root.getType());
  if (!offset || *offset < 0)
    return fail() << " has no arena offset; run sp-plan-memory after the last change to @main";
  if (uint64_t(*offset) % kPlanAlignment != 0 || uint64_t(*offset) + bytes > arenaBytes)
    return fail() << " has arena offset " << *offset << " for " << bytes << " bytes, outside the "
                  << arenaBytes << "-byte arena or misaligned";
  return uint64_t(*offset);
}

FailureOr<uint64_t> PlanBuilder::appendToSidecar(ElementsAttr value, Operation *owner) {
  auto cached = sidecarOffsetOf.find(value);
  if (cached != sidecarOffsetOf.end())
    return cached->second;

  auto type = llvm::cast<RankedTensorType>(value.getType());
  uint64_t elementBytes = *getPlanElementBytes(type.getElementType());
  uint64_t count = uint64_t(type.getNumElements());
  bool isBool = type.getElementType().isInteger(1);
  sidecar.resize(llvm::alignTo(sidecar.size(), kPlanAlignment), 0);
  uint64_t offset = sidecar.size();

  auto wrongSize = [&](size_t actual) {
    return owner->emitOpError() << "holds " << actual << " bytes for " << type << ", expected "
                                << count * elementBytes;
  };
  if (auto dense = llvm::dyn_cast<DenseElementsAttr>(value)) {
    if (isBool) {
      // MLIR packs i1 elements as bits; plans hold one byte per element.
      for (bool bit : dense.getValues<bool>())
        sidecar.push_back(bit ? 1 : 0);
    } else {
      ArrayRef<char> raw = dense.getRawData();
      if (dense.isSplat()) {
        if (raw.size() != elementBytes)
          return wrongSize(raw.size());
        for (uint64_t i = 0; i < count; ++i)
          sidecar.insert(sidecar.end(), raw.begin(), raw.end());
      } else {
        if (raw.size() != count * elementBytes)
          return wrongSize(raw.size());
        sidecar.insert(sidecar.end(), raw.begin(), raw.end());
      }
    }
  } else if (auto resource = llvm::dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return owner->emitOpError()
             << "holds dense_resource<" << resource.getRawHandle().getKey()
             << ">, whose bytes are not available (elided when printed, or never loaded)";
    ArrayRef<char> data = blob->getData();
    if (data.size() != count * elementBytes)
      return wrongSize(data.size());
    if (isBool) {
      for (char byte : data)
        sidecar.push_back(byte != 0 ? 1 : 0);
    } else {
      sidecar.insert(sidecar.end(), data.begin(), data.end());
    }
  } else {
    return owner->emitOpError() << "holds a constant the plan cannot store: " << value;
  }
  sidecarOffsetOf[value] = offset;
  return offset;
}

FailureOr<int> PlanBuilder::createRootTensor(Value root, ValueHome home) {
  switch (home.kind) {
  case HomeKind::Arena:
  case HomeKind::Fill: {
    FailureOr<uint64_t> offset = getArenaOffset(root);
    if (failed(offset))
      return failure();
    int index = addTensor(root.getType(), proto::ARENA);
    plan.mutable_tensors(index)->set_offset(*offset);
    return index;
  }
  case HomeKind::Constant: {
    // Loads of one global share its tensor.
    if (home.global)
      if (auto cached = constantTensorOf.find(home.global); cached != constantTensorOf.end())
        return cached->second;
    Operation *owner = home.global ? home.global.getOperation() : root.getDefiningOp();
    FailureOr<uint64_t> offset = appendToSidecar(analysis.getConstantValue(root), owner);
    if (failed(offset))
      return failure();
    int index = addTensor(root.getType(), proto::CONSTANT);
    plan.mutable_tensors(index)->set_sidecar_offset(*offset);
    if (home.global) {
      plan.mutable_tensors(index)->set_name(home.global.getSymName().str());
      constantTensorOf[home.global] = index;
    }
    return index;
  }
  case HomeKind::State:
    return stateTensorOf.lookup(home.global);
  }
  llvm_unreachable("unknown home");
}

FailureOr<int> PlanBuilder::getTensor(Value value) {
  if (auto cached = tensorOf.find(value); cached != tensorOf.end())
    return cached->second;
  ValueHome home = analysis.getHome(value);
  Type ownerType;
  FailureOr<int> owner = failure();
  if (home.kind == HomeKind::State) {
    ownerType = home.global.getType();
    owner = createRootTensor(value, home);
  } else if (home.root != value) {
    ownerType = home.root.getType();
    owner = getTensor(home.root);
  } else {
    ownerType = value.getType();
    owner = createRootTensor(value, home);
  }
  if (failed(owner))
    return failure();
  int index = *owner;
  // A view with another shape is a tensor of its own over the same bytes (a
  // wait's result is its future's tensor).
  if (getPlanValueType(ownerType) != getPlanValueType(value.getType())) {
    proto::Tensor view = plan.tensors(index);
    view.clear_shape();
    view.clear_name();
    for (int64_t dim : llvm::cast<RankedTensorType>(getPlanValueType(value.getType())).getShape())
      view.add_shape(dim);
    *plan.add_tensors() = std::move(view);
    index = plan.tensors_size() - 1;
  }
  tensorOf[value] = index;
  return index;
}

LogicalResult PlanBuilder::addStateTensors() {
  uint64_t stateBytes = 0;
  for (auto global : analysis.getModule().getOps<ml_program::GlobalOp>()) {
    if (!global.getIsMutable())
      continue;
    uint64_t offset = llvm::alignTo(stateBytes, kPlanAlignment);
    stateBytes = offset + *getPlanTensorBytes(global.getType());
    int index = addTensor(global.getType(), proto::STATE);
    proto::Tensor &tensor = *plan.mutable_tensors(index);
    tensor.set_offset(offset);
    tensor.set_name(global.getSymName().str());
    auto initial = llvm::dyn_cast_or_null<ElementsAttr>(global.getValueAttr());
    if (global.getValueAttr() && !initial)
      return global.emitOpError("has an initial value that is not a tensor constant");
    if (!initial || isAllZero(initial)) {
      tensor.set_zero_init(true);
    } else {
      FailureOr<uint64_t> sidecarOffset = appendToSidecar(initial, global);
      if (failed(sidecarOffset))
        return failure();
      plan.mutable_tensors(index)->set_sidecar_offset(*sidecarOffset);
    }
    stateTensorOf[global] = index;
  }
  plan.set_state_bytes(stateBytes);
  return success();
}

LogicalResult PlanBuilder::emitFill(Value root) {
  FailureOr<int> tensor = getTensor(root);
  if (failed(tensor))
    return failure();
  auto splat = llvm::cast<DenseElementsAttr>(analysis.getConstantValue(root));
  proto::Instruction &fill = *plan.add_instructions();
  fill.set_kernel("fill");
  fill.add_outputs(*tensor);
  proto::Attribute &value = (*fill.mutable_attributes())["value"];
  Type elementType = splat.getElementType();
  if (llvm::isa<FloatType>(elementType))
    value.set_f(splat.getSplatValue<APFloat>().convertToDouble());
  else if (elementType.isInteger(1))
    value.set_i(splat.getSplatValue<bool>() ? 1 : 0);
  else
    value.set_i(splat.getSplatValue<APInt>().getSExtValue());
  Operation *owner = root.getDefiningOp();
  fill.set_location(describeLocation(owner->getLoc(), owner->getName().stripDialect()));
  fill.set_id(getInstructionId(owner).str());
  return success();
}

LogicalResult PlanBuilder::convertAttribute(Operation *op, StringRef name, Attribute attribute,
                                            proto::Attribute &converted) {
  // mutable_*() selects the list even when it stays empty (reductions over
  // all dims have no axes).
  auto setInts = [&](auto values) {
    converted.mutable_ints();
    for (auto value : values)
      converted.mutable_ints()->add_values(int64_t(value));
  };
  auto setFloats = [&](auto values) {
    converted.mutable_floats();
    for (auto value : values)
      converted.mutable_floats()->add_values(double(value));
  };
  if (auto boolean = llvm::dyn_cast<BoolAttr>(attribute)) {
    converted.set_b(boolean.getValue());
  } else if (auto integer = llvm::dyn_cast<IntegerAttr>(attribute)) {
    converted.set_i(integer.getValue().getSExtValue());
  } else if (auto real = llvm::dyn_cast<FloatAttr>(attribute)) {
    converted.set_f(real.getValueAsDouble());
  } else if (auto string = llvm::dyn_cast<StringAttr>(attribute)) {
    converted.set_s(string.str());
  } else if (auto array = llvm::dyn_cast<DenseI64ArrayAttr>(attribute)) {
    setInts(array.asArrayRef());
  } else if (auto array = llvm::dyn_cast<DenseI32ArrayAttr>(attribute)) {
    setInts(array.asArrayRef());
  } else if (auto array = llvm::dyn_cast<DenseF64ArrayAttr>(attribute)) {
    setFloats(array.asArrayRef());
  } else if (auto array = llvm::dyn_cast<DenseF32ArrayAttr>(attribute)) {
    setFloats(array.asArrayRef());
  } else if (auto array = llvm::dyn_cast<ArrayAttr>(attribute);
             array && llvm::all_of(array, llvm::IsaPred<IntegerAttr>)) {
    converted.mutable_ints();
    for (Attribute element : array)
      converted.mutable_ints()->add_values(
          llvm::cast<IntegerAttr>(element).getValue().getSExtValue());
  } else if (auto array = llvm::dyn_cast<ArrayAttr>(attribute);
             array && llvm::all_of(array, llvm::IsaPred<FloatAttr>)) {
    for (Attribute element : array)
      converted.mutable_floats()->add_values(llvm::cast<FloatAttr>(element).getValueAsDouble());
  } else if (auto elements = llvm::dyn_cast<DenseElementsAttr>(attribute);
             elements && llvm::isa<IntegerType, FloatType>(elements.getElementType())) {
    // A tensor-valued attribute, such as constant_of_shape's value: one
    // element is a scalar, more a list.
    bool isFloat = llvm::isa<FloatType>(elements.getElementType());
    bool isBool = elements.getElementType().isInteger(1);
    if (elements.getNumElements() == 1) {
      if (isFloat)
        converted.set_f(elements.getSplatValue<APFloat>().convertToDouble());
      else if (isBool)
        converted.set_i(elements.getSplatValue<bool>() ? 1 : 0);
      else
        converted.set_i(elements.getSplatValue<APInt>().getSExtValue());
    } else if (isFloat) {
      for (const APFloat &value : elements.getValues<APFloat>())
        converted.mutable_floats()->add_values(value.convertToDouble());
    } else if (isBool) {
      setInts(elements.getValues<bool>());
    } else {
      for (const APInt &value : elements.getValues<APInt>())
        converted.mutable_ints()->add_values(value.getSExtValue());
    }
  } else {
    return op->emitOpError() << "has attribute '" << name << "' = " << attribute
                             << ", which has no form in a plan";
  }
  return success();
}

LogicalResult PlanBuilder::emitInstruction(Operation *op) {
  proto::Instruction instruction;
  StringRef kernel = op->getName().stripDialect();
  instruction.set_kernel(kernel.str());
  instruction.set_location(describeLocation(op->getLoc(), kernel));
  instruction.set_id(getInstructionId(op).str());

  auto addInput = [&](Value operand) -> LogicalResult {
    FailureOr<int> tensor = getTensor(operand);
    if (failed(tensor))
      return failure();
    instruction.add_inputs(*tensor);
    return success();
  };
  // Absent optional operands are -1: from the segment sizes where the op has
  // them, else at the end of the operand list.
  auto segments = llvm::dyn_cast_or_null<DenseI32ArrayAttr>(
      op->getInherentAttr("operandSegmentSizes").value_or(nullptr));
  if (segments) {
    unsigned next = 0;
    for (int32_t size : segments.asArrayRef()) {
      if (size == 0)
        instruction.add_inputs(-1);
      for (int32_t i = 0; i < size; ++i)
        if (failed(addInput(op->getOperand(next++))))
          return failure();
    }
  } else {
    for (Value operand : op->getOperands())
      if (failed(addInput(operand)))
        return failure();
    for (unsigned i = op->getNumOperands(); i < getDeclaredOperandCount(op); ++i)
      instruction.add_inputs(-1);
  }
  for (Value result : op->getResults()) {
    FailureOr<int> tensor = getTensor(result);
    if (failed(tensor))
      return failure();
    instruction.add_outputs(*tensor);
  }

  // The op's own attributes; absent defaulted ones stay absent.
  for (StringAttr name : op->getName().getAttributeNames()) {
    if (name == "operandSegmentSizes" || name == "resultSegmentSizes")
      continue;
    std::optional<Attribute> attribute = op->getInherentAttr(name);
    if (!attribute || !*attribute)
      continue;
    proto::Attribute converted;
    if (failed(convertAttribute(op, name, *attribute, converted)))
      return failure();
    (*instruction.mutable_attributes())[name.str()] = std::move(converted);
  }
  *plan.add_instructions() = std::move(instruction);
  return success();
}

LogicalResult PlanBuilder::emitStore(ml_program::GlobalStoreOp store) {
  ValueHome home = analysis.getHome(store.getValue());
  auto global =
      analysis.getSymbols().lookup<ml_program::GlobalOp>(store.getGlobal().getLeafReference());
  // An update written in place, or a store of what was loaded: nothing to copy.
  if (home.kind == HomeKind::State && home.global == global)
    return success();
  FailureOr<int> source = getTensor(store.getValue());
  if (failed(source))
    return failure();
  proto::Instruction &copy = *plan.add_instructions();
  copy.set_kernel("copy");
  copy.add_inputs(*source);
  copy.add_outputs(stateTensorOf.lookup(global));
  copy.set_location(describeLocation(store.getLoc(), "copy"));
  copy.set_id(getInstructionId(store).str());
  return success();
}

LogicalResult PlanBuilder::setSharding(proto::Binding &binding, IntegerAttr shardAxis, Type type,
                                       llvm::function_ref<InFlightDiagnostic()> emit) {
  if (!shardAxis)
    return success();
  auto tensor = llvm::cast<RankedTensorType>(type);
  int64_t axis = shardAxis.getInt();
  if (axis < -tensor.getRank() || axis >= tensor.getRank())
    return emit() << " has " << kShardAxisAttr << " " << axis << ", out of range for " << type;
  if (axis < 0)
    axis += tensor.getRank();
  // A zigzag shard is two chunks of the sequence.
  if (plan.zigzag() && tensor.getDimSize(axis) % 2 != 0)
    return emit() << " is split along dim " << axis << " of " << type
                  << ", which does not hold the 2 chunks of a zigzag shard";
  binding.set_sharded(true);
  binding.set_shard_axis(int32_t(axis));
  // Sharded bindings hold whole sequences: every one of them is padded.
  ModuleOp module = analysis.getModule();
  if (auto unpadded = module->getAttrOfType<IntegerAttr>(graph::kUnpaddedSequenceLengthAttr)) {
    int64_t whole = tensor.getDimSize(axis) * int64_t(plan.world_size());
    if (unpadded.getInt() < 1 || unpadded.getInt() >= whole)
      return emit() << " is split along a sequence of " << whole << " positions, which "
                    << graph::kUnpaddedSequenceLengthAttr << " " << unpadded.getInt()
                    << " does not pad";
    binding.set_unpadded_length(unpadded.getInt());
  }
  return success();
}

LogicalResult PlanBuilder::bindResults(func::ReturnOp returnOp) {
  func::FuncOp main = analysis.getMain();
  for (auto [index, operand] : llvm::enumerate(returnOp.getOperands())) {
    FailureOr<int> tensor = getTensor(operand);
    if (failed(tensor))
      return failure();
    if (auto name = main.getResultAttrOfType<StringAttr>(index, kOnnxNameAttr)) {
      proto::Binding &output = *plan.add_outputs();
      output.set_name(name.str());
      output.set_tensor(*tensor);
      if (failed(setSharding(output, main.getResultAttrOfType<IntegerAttr>(index, kShardAxisAttr),
                             operand.getType(), [&] {
                               return main.emitError()
                                      << "result #" << index << " ('" << name.getValue() << "')";
                             })))
        return failure();
      if (plan.tensors(*tensor).name().empty())
        plan.mutable_tensors(*tensor)->set_name(name.str());
    }
    if (main.getResultAttr(index, training::kLossAttr))
      plan.set_loss(*tensor);
    if (main.getResultAttr(index, training::kLearningRateAttr))
      plan.set_learning_rate(*tensor);
    if (main.getResultAttr(index, training::kGradientNormAttr))
      plan.set_gradient_norm(*tensor);
    auto parameterRef =
        main.getResultAttrOfType<FlatSymbolRefAttr>(index, training::kGradientOfAttr);
    if (!parameterRef)
      continue;
    auto parameter = analysis.getSymbols().lookup<ml_program::GlobalOp>(parameterRef.getValue());
    if (!parameter || !parameter.getIsMutable())
      return main.emitError() << "result #" << index << " is the gradient of " << parameterRef
                              << ", which is not a mutable global";
    proto::Parameter &binding = *plan.add_parameters();
    binding.set_name(parameter.getSymName().str());
    binding.set_tensor(stateTensorOf.lookup(parameter));
    binding.set_gradient(*tensor);
    for (auto global : analysis.getModule().getOps<ml_program::GlobalOp>()) {
      auto owner = global->getAttrOfType<FlatSymbolRefAttr>(training::kStateOfAttr);
      if (owner && owner.getValue() == parameter.getSymName())
        binding.add_optimizer_state(stateTensorOf.lookup(global));
    }
  }
  return success();
}

LogicalResult PlanBuilder::recordModuleAttributes() {
  ModuleOp module = analysis.getModule();
  plan.set_world_size(options.worldSize);
  if (Attribute attribute = module->getAttr(kNumRanksAttr)) {
    auto ranks = llvm::dyn_cast<IntegerAttr>(attribute);
    if (!ranks || ranks.getInt() < 1 || ranks.getInt() > std::numeric_limits<int32_t>::max())
      return module.emitError() << kNumRanksAttr << " = " << attribute
                                << " is not a positive rank count";
    plan.set_world_size(int32_t(ranks.getInt()));
  }
  if (Attribute attribute = module->getAttr(kZigzagAttr)) {
    if (!llvm::isa<UnitAttr>(attribute))
      return module.emitError() << kZigzagAttr << " = " << attribute << " is not a unit attribute";
    plan.set_zigzag(true);
  }
  if (auto optimizer = module->getAttrOfType<DictionaryAttr>(training::kOptimizerAttr)) {
    proto::Optimizer &settings = *plan.mutable_optimizer();
    if (auto kind = optimizer.getAs<StringAttr>("kind"))
      settings.set_kind(kind.str());
    auto real = [&](StringRef name) {
      auto value = optimizer.getAs<FloatAttr>(name);
      return value ? value.getValueAsDouble() : 0.0;
    };
    settings.set_learning_rate(real("learning_rate"));
    settings.set_weight_decay(real("weight_decay"));
    settings.set_beta1(real("beta1"));
    settings.set_beta2(real("beta2"));
    settings.set_epsilon(real("epsilon"));
    if (auto schedule = optimizer.getAs<StringAttr>("lr_schedule"))
      settings.set_lr_schedule(schedule.str());
    auto integer = [&](StringRef name) -> int64_t {
      auto value = optimizer.getAs<IntegerAttr>(name);
      return value ? value.getInt() : 0;
    };
    settings.set_warmup_steps(integer("warmup_steps"));
    settings.set_total_steps(integer("total_steps"));
    settings.set_min_learning_rate(real("min_learning_rate"));
    if (auto clip = module->getAttrOfType<FloatAttr>(training::kClipGradNormAttr))
      settings.set_clip_grad_norm(clip.getValueAsDouble());
  }
  if (auto tokenInput = module->getAttrOfType<StringAttr>(training::kTokenInputAttr))
    plan.set_token_input(tokenInput.str());
  if (auto vocabSize = module->getAttrOfType<IntegerAttr>(training::kVocabSizeAttr))
    plan.set_vocab_size(vocabSize.getInt());
  return success();
}

LogicalResult PlanBuilder::build() {
  ModuleOp module = analysis.getModule();
  func::FuncOp main = analysis.getMain();
  auto arenaAttr = module->getAttrOfType<IntegerAttr>(kArenaBytesAttr);
  if (!arenaAttr || arenaAttr.getInt() < 0)
    return module.emitError() << "the module has no valid " << kArenaBytesAttr
                              << "; run sp-plan-memory first";
  arenaBytes = uint64_t(arenaAttr.getInt());

  plan.set_producer(options.producer);
  plan.set_source(options.sourcePath);
  plan.set_arena_bytes(arenaBytes);
  plan.set_alignment(kPlanAlignment);
  plan.set_loss(-1);
  if (failed(recordModuleAttributes()))
    return failure();
  if (failed(addStateTensors()))
    return failure();

  for (BlockArgument argument : main.getArguments()) {
    auto name = main.getArgAttrOfType<StringAttr>(argument.getArgNumber(), kOnnxNameAttr);
    if (!name)
      return main.emitError() << "argument #" << argument.getArgNumber() << " of @main has no "
                              << kOnnxNameAttr << ", which the plan binds inputs by";
    FailureOr<int> tensor = getTensor(argument);
    if (failed(tensor))
      return failure();
    plan.mutable_tensors(*tensor)->set_name(name.str());
    proto::Binding &input = *plan.add_inputs();
    input.set_name(name.str());
    input.set_tensor(*tensor);
    if (failed(setSharding(
            input, main.getArgAttrOfType<IntegerAttr>(argument.getArgNumber(), kShardAxisAttr),
            argument.getType(), [&] {
              return main.emitError()
                     << "argument #" << argument.getArgNumber() << " ('" << name.getValue() << "')";
            })))
      return failure();
  }

  // Each Fill constant is written just before the first op that reads it.
  for (Operation *op : analysis.getOps()) {
    for (Value result : op->getResults()) {
      ValueHome home = analysis.getHome(result);
      if (home.kind != HomeKind::Fill || home.root != result || result.use_empty())
        continue;
      Operation *firstUser = *llvm::min_element(result.getUsers(), [&](Operation *a, Operation *b) {
        return analysis.getPosition(a) < analysis.getPosition(b);
      });
      fillsBefore[firstUser].push_back(result);
    }
  }

  for (Operation *op : analysis.getOps()) {
    for (Value root : fillsBefore.lookup(op))
      if (failed(emitFill(root)))
        return failure();
    LogicalResult emitted =
        llvm::TypeSwitch<Operation *, LogicalResult>(op)
            .Case<graph::ConstantOp, ml_program::GlobalLoadConstOp, ml_program::GlobalLoadOp>(
                [](Operation *) { return success(); })
            .Case<ml_program::GlobalStoreOp>(
                [&](ml_program::GlobalStoreOp store) { return emitStore(store); })
            .Case<func::ReturnOp>([&](func::ReturnOp returnOp) { return bindResults(returnOp); })
            .Case<graph::WaitOp>([&](graph::WaitOp wait) { return emitInstruction(wait); })
            .Default([&](Operation *op) {
              return StepAnalysis::isView(op) ? success() : emitInstruction(op);
            });
    if (failed(emitted))
      return failure();
  }
  return success();
}

} // namespace

LogicalResult buildPlan(ModuleOp module, const PlanEmitOptions &options, proto::Plan &plan,
                        std::vector<char> &sidecar) {
  if (!module->hasAttr(kArenaBytesAttr) && failed(planAndRecordMemory(module)))
    return failure();
  // Ops that no pass named (hand-written modules) get their ids here.
  if (auto main = module.lookupSymbol<func::FuncOp>("main"))
    if (failed(assignInstructionIds(main)))
      return failure();
  FailureOr<StepAnalysis> analysis = StepAnalysis::analyze(module);
  if (failed(analysis))
    return failure();
  return PlanBuilder(*analysis, options, plan, sidecar).build();
}

LogicalResult emitPlan(ModuleOp module, const PlanEmitOptions &options, StringRef path) {
  proto::Plan plan;
  std::vector<char> sidecar;
  if (failed(buildPlan(module, options, plan, sidecar)))
    return failure();
  std::string error;
  if (!sp::runtime::writePlanFiles(path.str(), plan, sidecar.data(), sidecar.size(), error))
    return module.emitError() << error;
  return success();
}

namespace {

struct EmitPlanPass : public impl::EmitPlanBase<EmitPlanPass> {
  using EmitPlanBase::EmitPlanBase;

  void runOnOperation() override {
    if (output.empty()) {
      getOperation().emitError("sp-emit-plan needs output=PATH");
      return signalPassFailure();
    }
    PlanEmitOptions options;
    options.producer = "sp-opt " SP_VERSION;
    if (failed(emitPlan(getOperation(), options, output)))
      signalPassFailure();
  }
};

} // namespace

} // namespace sp::planning
