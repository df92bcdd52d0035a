//===- StepAnalysis.cpp - where each tensor of the step lives -------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Import/OnnxImporter.h"
#include "sp/Plan/MemoryPlan.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
namespace graph = sp::graph;

namespace sp::planning {

std::optional<uint64_t> getPlanElementBytes(Type elementType) {
  if (elementType.isF32() || elementType.isF64() || elementType.isF16() || elementType.isBF16())
    return elementType.getIntOrFloatBitWidth() / 8;
  if (auto integer = llvm::dyn_cast<IntegerType>(elementType)) {
    if (integer.isUnsigned())
      return std::nullopt;
    switch (integer.getWidth()) {
    case 1:
      return 1;
    case 32:
      return 4;
    case 64:
      return 8;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

Type getPlanValueType(Type type) {
  if (auto future = llvm::dyn_cast<graph::FutureType>(type))
    return future.getValueType();
  return type;
}

std::optional<uint64_t> getPlanTensorBytes(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(getPlanValueType(type));
  if (!tensor || !tensor.hasStaticShape())
    return std::nullopt;
  std::optional<uint64_t> elementBytes = getPlanElementBytes(tensor.getElementType());
  if (!elementBytes)
    return std::nullopt;
  return *elementBytes * uint64_t(tensor.getNumElements());
}

namespace {

/// Checks that `type` is a tensor a plan can hold; `emit` starts the error
/// and `what` names the value in it ("result #0", "argument #1 ('x')").
LogicalResult checkPlanType(Type type, llvm::function_ref<InFlightDiagnostic()> emit,
                            const Twine &what) {
  // A future is the bytes its collective is writing.
  type = getPlanValueType(type);
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return emit() << what << " has type " << type << "; plans hold ranked tensors only";
  if (!tensor.hasStaticShape())
    return emit() << what << " has dynamic shape " << type
                  << "; bind the dims with --input-shape before planning";
  if (!getPlanElementBytes(tensor.getElementType()))
    return emit() << what << " has element type " << tensor.getElementType()
                  << ", which plans do not hold (f32, f64, f16, bf16, i64, i32, i1)";
  return success();
}

/// The operand that a result of an optimizer update replaces: the parameter
/// for the new parameter, a moment for its new value. Null for other ops.
Value getUpdatedOperand(OpResult result) {
  Operation *op = result.getOwner();
  if (auto adamw = llvm::dyn_cast<graph::AdamWUpdateOp>(op)) {
    switch (result.getResultNumber()) {
    case 0:
      return adamw.getParam();
    case 1:
      return adamw.getM();
    case 2:
      return adamw.getV();
    }
  }
  if (auto sgd = llvm::dyn_cast<graph::SGDUpdateOp>(op))
    return sgd.getParam();
  return {};
}

bool isLargeSplat(ElementsAttr value) {
  auto dense = llvm::dyn_cast<DenseElementsAttr>(value);
  if (!dense || !dense.isSplat())
    return false;
  std::optional<uint64_t> bytes = getPlanTensorBytes(dense.getType());
  return bytes && *bytes > kFillThresholdBytes;
}

ValueHome getConstantHome(Value value, ElementsAttr constant, ml_program::GlobalOp global) {
  return {isLargeSplat(constant) ? HomeKind::Fill : HomeKind::Constant, value, global};
}

} // namespace

bool StepAnalysis::isView(Operation *op) {
  return llvm::isa<graph::ReshapeOp, graph::SqueezeOp, graph::UnsqueezeOp, graph::WaitOp>(op);
}

graph::WaitOp StepAnalysis::getWait(Operation *start) {
  if (start->getNumResults() != 1 || !llvm::isa<graph::FutureType>(start->getResult(0).getType()) ||
      !start->getResult(0).hasOneUse())
    return nullptr;
  return llvm::dyn_cast<graph::WaitOp>(*start->getResult(0).getUsers().begin());
}

unsigned StepAnalysis::getLastUsePosition(Operation *user) const {
  if (graph::WaitOp wait = getWait(user))
    return getPosition(wait);
  return getPosition(user);
}

FailureOr<StepAnalysis> StepAnalysis::analyze(ModuleOp module) {
  StepAnalysis analysis;
  analysis.module = module;
  analysis.symbols = std::make_shared<SymbolTable>(module);
  if (failed(analysis.verifyModule()) || failed(analysis.verifyTypes()) ||
      failed(analysis.verifyFutures()))
    return failure();
  analysis.assignHomes();
  if (failed(analysis.findInPlaceUpdates()))
    return failure();
  // The updates written in place change the homes of their results and views.
  if (!analysis.inPlaceResults.empty())
    analysis.assignHomes();
  return analysis;
}

unsigned StepAnalysis::getDefinitionPosition(Value value) const {
  if (Operation *op = value.getDefiningOp())
    return getPosition(op);
  return 0;
}

ValueHome StepAnalysis::getHome(Value value) const {
  // assignHomes gives every value of @main a home.
  return homes.lookup(value);
}

ElementsAttr StepAnalysis::getConstantValue(Value root) const {
  if (auto constant = root.getDefiningOp<graph::ConstantOp>())
    return constant.getValue();
  ml_program::GlobalOp global = getHome(root).global;
  return global ? llvm::dyn_cast_or_null<ElementsAttr>(global.getValueAttr()) : nullptr;
}

ml_program::GlobalOp StepAnalysis::lookupGlobal(SymbolRefAttr symbol) const {
  return symbols->lookup<ml_program::GlobalOp>(symbol.getLeafReference());
}

LogicalResult StepAnalysis::verifyModule() {
  main = symbols->lookup<func::FuncOp>("main");
  if (!main)
    return module.emitError("the module has no function @main to plan");
  for (Operation &op : module.getBody()->getOperations()) {
    if (&op == main.getOperation() || llvm::isa<ml_program::GlobalOp>(op))
      continue;
    return op.emitOpError("is outside what a plan holds: one function @main and "
                          "ml_program.global symbols");
  }
  if (!llvm::hasSingleElement(main.getBody()))
    return main.emitError("@main must be a single block to be planned");

  for (Operation &op : main.getBody().front()) {
    bool supported = llvm::isa<graph::GraphDialect>(op.getDialect()) ||
                     llvm::isa<ml_program::GlobalLoadConstOp, ml_program::GlobalLoadOp,
                               ml_program::GlobalStoreOp, func::ReturnOp>(op);
    if (!supported || op.getNumRegions() != 0)
      return op.emitOpError("is not supported in a plan: @main may hold graph ops, "
                            "ml_program global loads and stores, and func.return");
    positions[&op] = ops.size() + 1;
    ops.push_back(&op);
  }
  return success();
}

LogicalResult StepAnalysis::verifyTypes() {
  for (BlockArgument argument : main.getArguments()) {
    std::string what = "argument #" + std::to_string(argument.getArgNumber());
    if (auto name = main.getArgAttrOfType<StringAttr>(argument.getArgNumber(), kOnnxNameAttr))
      what += " ('" + name.str() + "')";
    if (failed(checkPlanType(
            argument.getType(), [&] { return main.emitError(); }, what + " of @main")))
      return failure();
  }
  llvm::DenseSet<Operation *> checkedGlobals;
  for (Operation *op : ops) {
    for (OpResult result : op->getResults())
      if (failed(checkPlanType(
              result.getType(), [&] { return op->emitOpError(); },
              "result #" + Twine(result.getResultNumber()))))
        return failure();

    SymbolRefAttr symbol =
        llvm::TypeSwitch<Operation *, SymbolRefAttr>(op)
            .Case<ml_program::GlobalLoadConstOp, ml_program::GlobalLoadOp,
                  ml_program::GlobalStoreOp>([](auto access) { return access.getGlobal(); })
            .Default([](Operation *) { return nullptr; });
    if (!symbol)
      continue;
    ml_program::GlobalOp global = lookupGlobal(symbol);
    if (!global)
      return op->emitOpError() << "refers to " << symbol << ", which is not a global";
    if (!checkedGlobals.insert(global).second)
      continue;
    if (failed(checkPlanType(
            global.getType(), [&] { return global.emitOpError(); }, "the global's value")))
      return failure();
    if (!global.getIsMutable()) {
      // An immutable global is a constant: its bytes go into the sidecar.
      auto value = llvm::dyn_cast_or_null<ElementsAttr>(global.getValueAttr());
      if (!value || !llvm::isa<DenseElementsAttr, DenseResourceElementsAttr>(value))
        return global.emitOpError(
            "is a constant without a dense or dense_resource value, which plans need");
    }
  }
  // Every mutable global is state the plan allocates, read or not.
  for (auto global : module.getOps<ml_program::GlobalOp>()) {
    if (!global.getIsMutable() || checkedGlobals.contains(global))
      continue;
    if (failed(checkPlanType(
            global.getType(), [&] { return global.emitOpError(); }, "the global's value")))
      return failure();
  }
  return success();
}

LogicalResult StepAnalysis::verifyFutures() {
  // The runtime completes a collective at its wait: a future never waited for
  // would leave it in flight, one waited twice would wait for nothing.
  for (Operation *op : ops) {
    for (Value result : op->getResults()) {
      if (!llvm::isa<graph::FutureType>(result.getType()))
        continue;
      if (op->getNumResults() != 1 || op->getNumOperands() < 1)
        return op->emitOpError("gives a future, but is not a collective start with one input");
      if (!result.hasOneUse() || !llvm::isa<graph::WaitOp>(*result.getUsers().begin()))
        return op->emitOpError(
            "gives a future that is not used exactly once, by a graph.wait; plans complete "
            "each started collective at one wait");
    }
  }
  return success();
}

ValueHome StepAnalysis::getLoadHome(Value loaded, ml_program::GlobalOp global) const {
  if (global.getIsMutable())
    return {HomeKind::State, nullptr, global};
  return getConstantHome(loaded, llvm::cast<ElementsAttr>(global.getValueAttr()), global);
}

void StepAnalysis::assignHomes() {
  homes.clear();
  for (BlockArgument argument : main.getArguments())
    homes[argument] = {HomeKind::Arena, argument, nullptr};
  for (Operation *op : ops) {
    if (auto constant = llvm::dyn_cast<graph::ConstantOp>(op)) {
      homes[constant.getResult()] =
          getConstantHome(constant.getResult(), constant.getValue(), nullptr);
    } else if (auto load = llvm::dyn_cast<ml_program::GlobalLoadConstOp>(op)) {
      homes[load.getResult()] = getLoadHome(load.getResult(), lookupGlobal(load.getGlobal()));
    } else if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(op)) {
      homes[load.getResult()] = getLoadHome(load.getResult(), lookupGlobal(load.getGlobal()));
    } else if (isView(op)) {
      homes[op->getResult(0)] = homes.lookup(op->getOperand(0));
    } else {
      for (Value result : op->getResults()) {
        if (ml_program::GlobalOp global = inPlaceResults.lookup(result))
          homes[result] = {HomeKind::State, nullptr, global};
        else
          homes[result] = {HomeKind::Arena, result, nullptr};
      }
    }
  }
}

LogicalResult StepAnalysis::findInPlaceUpdates() {
  // The values that read each mutable global's bytes: its loads and their views.
  llvm::DenseMap<Operation *, SmallVector<Value>> readsOf;
  for (Operation *op : ops)
    for (Value result : op->getResults())
      if (ValueHome home = getHome(result); home.kind == HomeKind::State)
        readsOf[home.global].push_back(result);

  llvm::DenseMap<Operation *, ml_program::GlobalStoreOp> storeOf;
  for (Operation *op : ops) {
    auto store = llvm::dyn_cast<ml_program::GlobalStoreOp>(op);
    if (!store)
      continue;
    ml_program::GlobalOp global = lookupGlobal(store.getGlobal());
    if (!storeOf.try_emplace(global, store).second)
      return store.emitOpError() << "stores @" << global.getSymName()
                                 << " a second time; a plan stores each global once per step";

    // The latest position at which the global's value from before the store
    // is read, and by which op, ignoring `except`.
    auto latestOldRead = [&](Operation *except) -> std::pair<unsigned, Operation *> {
      std::pair<unsigned, Operation *> latest = {0, nullptr};
      for (Value read : readsOf.lookup(global)) {
        if (getDefinitionPosition(read) > getPosition(store))
          continue;
        for (Operation *user : read.getUsers())
          if (user != except && getLastUsePosition(user) > latest.first)
            latest = {getLastUsePosition(user), user};
      }
      return latest;
    };

    // An optimizer update of the value it read from this global writes the
    // global's bytes in place, if nothing reads the old value after it.
    Value stored = store.getValue();
    if (auto result = llvm::dyn_cast<OpResult>(stored)) {
      Value updated = getUpdatedOperand(result);
      auto load = updated ? updated.getDefiningOp<ml_program::GlobalLoadOp>() : nullptr;
      if (load && lookupGlobal(load.getGlobal()) == global &&
          latestOldRead(result.getOwner()).first < getPosition(result.getOwner())) {
        inPlaceResults[stored] = global;
        continue;
      }
    }
    // Otherwise the store copies into the global's bytes, which must no
    // longer be read as the old value.
    auto [position, reader] = latestOldRead(nullptr);
    if (position > getPosition(store))
      return store.emitOpError() << "overwrites @" << global.getSymName() << " while '"
                                 << reader->getName()
                                 << "' later in @main still reads its earlier value; "
                                 << "a plan holds one copy of each global";
  }
  return success();
}

} // namespace sp::planning
