//===- Autodiff.cpp - reverse-mode differentiation of @main ----------------===//
//
// Differentiates the loss of the training step with respect to the
// trainable parameters. The walk is the textbook one: mark the values that
// depend on a parameter and lie on a path to the loss, seed the loss with 1,
// visit the ops in reverse, let each op's GradientOpInterface turn its result
// gradients into operand gradients, and add up gradients that fan in.
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/GradientOpInterface.h"
#include "sp/Autodiff/Passes.h"
#include "sp/Dialect/Graph/IR/GraphLocations.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/SequenceParallel/ShardingAttributes.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace sp::autodiff {
#define GEN_PASS_DEF_AUTODIFF
#include "sp/Autodiff/Passes.h.inc"
} // namespace sp::autodiff

using namespace mlir;
namespace ml_program = mlir::ml_program;
using sp::autodiff::GradientBuilder;
using sp::autodiff::GradientOpInterface;

namespace {

/// " (ONNX node 'NAME')" for ops the importer located at a node.
std::string nodeSuffix(Location location) {
  std::optional<StringRef> name = sp::graph::getLocationName(location);
  return name ? (" (ONNX node '" + *name + "')").str() : std::string();
}

bool isFloatTensor(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  return tensor && llvm::isa<FloatType>(tensor.getElementType());
}

/// Trainable parameters: mutable float globals, less the optimizer's own state.
bool isParameter(ml_program::GlobalOp global) {
  return global.getIsMutable() && isFloatTensor(global.getType()) &&
         !global->hasAttr(sp::training::kStateOfAttr) &&
         !global->hasAttr(sp::training::kStepCounterAttr);
}

struct AutodiffPass : public sp::autodiff::impl::AutodiffBase<AutodiffPass> {
  void getDependentDialects(DialectRegistry &registry) const override {
    AutodiffBase::getDependentDialects(registry);
    // The rules travel with the pass, so every driver that runs it has them.
    sp::autodiff::registerGradientOpInterfaceExternalModels(registry);
  }

  void runOnOperation() override;

private:
  FailureOr<unsigned> findLoss(func::FuncOp main);
  void markActiveValues(Block &body, Value loss,
                        const llvm::SmallDenseSet<StringAttr> &parameters);
  LogicalResult checkDifferentiable(ArrayRef<Operation *> path);
  LogicalResult differentiate(ArrayRef<Operation *> path, GradientBuilder &builder);
  void accumulate(GradientBuilder &builder, Value value, Value gradient);

  /// Values that depend on a parameter and reach the loss.
  llvm::DenseSet<Value> active;
  /// The gradient of each active value, summed over its uses.
  llvm::DenseMap<Value, Value> gradients;
};

FailureOr<unsigned> AutodiffPass::findLoss(func::FuncOp main) {
  std::optional<unsigned> loss;
  for (unsigned i = 0, e = main.getNumResults(); i < e; ++i) {
    if (main.getResultAttr(i, sp::training::kGradientOfAttr))
      return main.emitError("@main already returns gradients; run sp-autodiff once");
    if (!main.getResultAttr(i, sp::training::kLossAttr))
      continue;
    if (loss)
      return main.emitError("@main has more than one result marked graph.loss");
    loss = i;
  }
  if (!loss)
    return main.emitError(
        "@main has no result marked graph.loss; run sp-insert-loss first");
  auto type = llvm::dyn_cast<RankedTensorType>(main.getResultTypes()[*loss]);
  if (!type || !llvm::isa<FloatType>(type.getElementType()) || !type.hasStaticShape() ||
      type.getNumElements() != 1)
    return main.emitError("the loss must be a float tensor of one element, got ")
           << main.getResultTypes()[*loss];
  return *loss;
}

void AutodiffPass::markActiveValues(Block &body, Value loss,
                                    const llvm::SmallDenseSet<StringAttr> &parameters) {
  // Forward: float values computed from a parameter.
  llvm::DenseSet<Value> varied;
  for (Operation &op : body.without_terminator()) {
    bool fromParameter = false;
    if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(op))
      fromParameter = parameters.contains(load.getGlobal().getRootReference());
    bool depends = fromParameter || llvm::any_of(op.getOperands(), [&](Value operand) {
                     return varied.contains(operand);
                   });
    if (!depends)
      continue;
    for (Value result : op.getResults())
      if (isFloatTensor(result.getType()))
        varied.insert(result);
  }
  // Backward: of those, the ones the loss reads, directly or not.
  llvm::DenseSet<Value> useful{loss};
  for (Operation &op : llvm::reverse(body.without_terminator())) {
    if (llvm::none_of(op.getResults(), [&](Value r) { return useful.contains(r); }))
      continue;
    for (Value operand : op.getOperands())
      useful.insert(operand);
  }
  for (Value value : varied)
    if (useful.contains(value))
      active.insert(value);
}

LogicalResult AutodiffPass::checkDifferentiable(ArrayRef<Operation *> path) {
  // Every op without a rule is worth knowing at once; a dynamic shape needs
  // one fix (binding the inputs), so the first one is enough.
  bool ok = true;
  for (Operation *op : path)
    if (!llvm::isa<GradientOpInterface>(op)) {
      op->emitError() << "no gradient rule for '" << op->getName() << "'"
                      << nodeSuffix(op->getLoc())
                      << ", which lies between a parameter and the loss";
      ok = false;
    }
  if (!ok)
    return failure();
  for (Operation *op : path) {
    auto dynamic = [](Value value) {
      auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
      return type && !type.hasStaticShape();
    };
    auto report = [&](Value value, StringRef role, unsigned index) {
      auto type = llvm::cast<RankedTensorType>(value.getType());
      return op->emitError() << "cannot differentiate '" << op->getName() << "'"
                             << nodeSuffix(op->getLoc()) << ": its " << role << " #"
                             << index << " has dynamic shape "
                             << sp::graph::formatShape(type.getShape())
                             << "; bind symbolic dims with --input-shape";
    };
    for (OpOperand &operand : op->getOpOperands())
      if (dynamic(operand.get()))
        return report(operand.get(), "operand", operand.getOperandNumber());
    for (OpResult result : op->getResults())
      if (dynamic(result))
        return report(result, "result", result.getResultNumber());
  }
  return success();
}

/// Adds `gradient` into `sum` (null while nothing has arrived yet).
void addInto(GradientBuilder &builder, Value &sum, Value gradient) {
  sum = sum ? builder.add(sum, gradient) : gradient;
}

void AutodiffPass::accumulate(GradientBuilder &builder, Value value, Value gradient) {
  addInto(builder, gradients[value], gradient);
}

LogicalResult AutodiffPass::differentiate(ArrayRef<Operation *> path,
                                          GradientBuilder &builder) {
  for (Operation *op : llvm::reverse(path)) {
    SmallVector<Value> resultGrads;
    for (Value result : op->getResults())
      resultGrads.push_back(gradients.lookup(result));
    // All zero (the loss reads it only through ops without a gradient).
    if (llvm::all_of(resultGrads, [](Value grad) { return !grad; }))
      continue;
    builder.setLoc(op->getLoc());
    SmallVector<Value> operandGrads(op->getNumOperands());
    auto rule = llvm::cast<GradientOpInterface>(op);
    if (failed(rule.buildGradient(builder, resultGrads, operandGrads)) ||
        builder.hasFailed())
      return op->emitError() << "cannot build the gradient of '" << op->getName() << "'"
                             << nodeSuffix(op->getLoc());
    for (auto [operand, grad] : llvm::zip(op->getOperands(), operandGrads)) {
      if (!grad || !active.contains(operand))
        continue;
      if (grad.getType() != operand.getType())
        return op->emitError() << "the gradient rule of '" << op->getName() << "' gave a "
                               << grad.getType() << " gradient for an "
                               << operand.getType() << " operand";
      accumulate(builder, operand, grad);
    }
    if (builder.hasFailed())
      return failure();
  }
  return success();
}

void AutodiffPass::runOnOperation() {
  active.clear();
  gradients.clear();
  ModuleOp module = getOperation();
  func::FuncOp main = sp::training::getMainFunction(module);
  if (!main)
    return signalPassFailure();
  FailureOr<unsigned> lossIndex = findLoss(main);
  if (failed(lossIndex))
    return signalPassFailure();

  SmallVector<ml_program::GlobalOp> parameters;
  llvm::SmallDenseSet<StringAttr> parameterNames;
  for (auto global : module.getOps<ml_program::GlobalOp>())
    if (isParameter(global)) {
      parameters.push_back(global);
      parameterNames.insert(global.getSymNameAttr());
    }

  Block &body = main.getBody().front();
  auto returnOp = llvm::cast<func::ReturnOp>(body.getTerminator());
  Value loss = returnOp.getOperand(*lossIndex);
  markActiveValues(body, loss, parameterNames);

  // The ops between a parameter and the loss, in program order; parameter
  // loads end the walk.
  SmallVector<Operation *> path;
  for (Operation &op : body.without_terminator())
    if (!llvm::isa<ml_program::GlobalLoadOp>(op) &&
        llvm::any_of(op.getResults(), [&](Value r) { return active.contains(r); }))
      path.push_back(&op);
  if (failed(checkDifferentiable(path)))
    return signalPassFailure();

  GradientBuilder builder(returnOp, &active);
  Operation *lastForward = returnOp->getPrevNode();
  if (active.contains(loss)) {
    builder.setLoc(returnOp.getLoc());
    // Under sequence parallelism every rank holds the replicated loss, and a
    // rank's cotangent of a replicated value is its share of a sum over ranks.
    double seed = 1.0;
    if (auto ranks = module->getAttrOfType<IntegerAttr>(sp::sequence_parallel::kNumRanksAttr);
        ranks && ranks.getInt() > 1)
      seed = 1.0 / double(ranks.getInt());
    gradients[loss] = builder.splat(llvm::cast<RankedTensorType>(loss.getType()), seed);
  }
  if (failed(differentiate(path, builder)))
    return signalPassFailure();

  // Each parameter's gradient: the sum over its loads, in declaration order.
  llvm::DenseMap<StringAttr, Value> parameterGrads;
  llvm::SmallDenseSet<StringAttr> reached;
  for (Operation &op : body.without_terminator()) {
    auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(op);
    if (!load || !active.contains(load.getResult()))
      continue;
    StringAttr name = load.getGlobal().getRootReference();
    reached.insert(name);
    if (Value grad = gradients.lookup(load.getResult())) {
      builder.setLoc(load.getLoc());
      addInto(builder, parameterGrads[name], grad);
    }
  }
  for (ml_program::GlobalOp global : parameters) {
    StringAttr name = global.getSymNameAttr();
    Value grad = parameterGrads.lookup(name);
    if (!grad) {
      if (!reached.contains(name))
        global.emitWarning() << "parameter @" << name.getValue()
                             << " does not reach the loss; its gradient is zero";
      builder.setLoc(global.getLoc());
      grad = builder.zeros(global.getType());
    }
    if (builder.hasFailed())
      return signalPassFailure();
    sp::training::appendMainResult(main, grad,
                                   {builder.getNamedAttr(sp::training::kGradientOfAttr,
                                                         FlatSymbolRefAttr::get(name))});
  }

  // Helpers that a rule built and then did not need (the zero of a mask
  // that folded away, a reshape that a second reshape bypassed) must not
  // become work in the step.
  SmallVector<Operation *> backward;
  for (Operation *op = lastForward ? lastForward->getNextNode() : &body.front();
       op && op != returnOp.getOperation(); op = op->getNextNode())
    backward.push_back(op);
  for (Operation *op : llvm::reverse(backward))
    if (isOpTriviallyDead(op))
      op->erase();
}

} // namespace
