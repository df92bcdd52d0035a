//===- Precision.cpp - the mixed-precision policy --------------------------===//
//
// bf16 activations and GEMMs, fp32 master weights and everything numerically
// delicate, decided op by op over @main's forward pass before sp-autodiff
// (PyTorch's autocast lists, with Megatron-LM's bf16 element-wise ops between
// GEMMs). The backward pass inherits the precision of each forward op through
// the gradient rules; the runtime kernels that take bf16 are exactly those
// this policy leaves in bf16 and their gradients (matmul, gemm, element-wise
// arithmetic and activations, reductions of broadcast gradients, casts,
// views and moves); any other op fails plan validation with bf16 operands.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace sp::training {
#define GEN_PASS_DEF_PRECISION
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;

namespace {

/// How the policy treats an op.
enum class OpClass {
  /// Computes in bf16 whatever its operands: the products.
  Gemm,
  /// Computes in bf16 when an operand already is and the others are weights
  /// or constants; in f32 otherwise.
  Elementwise,
  /// Everything else: f32.
  Other,
};

OpClass classify(Operation *op) {
  if (llvm::isa<graph::MatMulOp, graph::GemmOp>(op))
    return OpClass::Gemm;
  if (llvm::isa<graph::AddOp, graph::SubOp, graph::MulOp, graph::DivOp, graph::NegOp,
                graph::TanhOp, graph::SigmoidOp, graph::GeluOp, graph::PowOp,
                graph::ReshapeOp, graph::TransposeOp, graph::SliceOp, graph::SplitOp,
                graph::ConcatOp, graph::ExpandOp, graph::SqueezeOp, graph::UnsqueezeOp>(op))
    return OpClass::Elementwise;
  return OpClass::Other;
}

bool hasElementType(Value value, Type elementType) {
  auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
  return type && type.getElementType() == elementType;
}

/// The operands the policy may change the precision of: pow's exponent keeps
/// its own type.
bool isPolicyOperand(Operation *op, unsigned index) {
  return !(llvm::isa<graph::PowOp>(op) && index == 1);
}

struct PrecisionPass : public sp::training::impl::PrecisionBase<PrecisionPass> {
  using PrecisionBase::PrecisionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (precision != "fp32" && precision != "bf16") {
      module.emitError() << "precision '" << precision << "' is not fp32 or bf16";
      return signalPassFailure();
    }
    if (precision == "fp32")
      return;
    if (module->hasAttr(sp::training::kPrecisionAttr)) {
      module.emitError() << "the precision policy was already applied (the module has "
                         << sp::training::kPrecisionAttr << ")";
      return signalPassFailure();
    }
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    if (llvm::any_of(llvm::seq(main.getNumResults()), [&](unsigned i) {
          return bool(main.getResultAttr(i, sp::training::kGradientOfAttr));
        })) {
      main.emitError("the step already has its backward pass: run sp-precision before "
                     "sp-autodiff");
      return signalPassFailure();
    }
    OpBuilder builder(module.getContext());
    f32 = builder.getF32Type();
    bf16 = builder.getBF16Type();

    Block &body = main.getBody().front();
    for (BlockArgument argument : body.getArguments())
      if (isFloatTensor(argument))
        activations.insert(argument);
    for (Operation &op : llvm::make_early_inc_range(body.without_terminator()))
      apply(&op);
    Operation *terminator = body.getTerminator();
    for (OpOperand &operand : terminator->getOpOperands())
      if (narrowed.contains(operand.get()))
        operand.set(widen(operand.get()));
    module->setAttr(sp::training::kPrecisionAttr, builder.getStringAttr("bf16"));
  }

private:
  void apply(Operation *op) {
    // Casts this pass made are already what they should be.
    if (made.contains(op))
      return;
    classifyResults(op);
    OpClass kind = classify(op);
    bool anyNarrowed = false, allCanNarrow = true, anyActivation = false;
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isPolicyOperand(op, operand.getOperandNumber()))
        continue;
      Value value = operand.get();
      anyActivation |= activations.contains(value);
      if (narrowed.contains(value))
        anyNarrowed = true;
      else if (hasElementType(value, f32) && activations.contains(value))
        allCanNarrow = false;
    }
    // A product of weights and tables alone (rotary frequencies times
    // positions) is no activation and keeps f32's accuracy.
    bool toBFloat16 = (kind == OpClass::Gemm && anyActivation) ||
                      (kind == OpClass::Elementwise && anyNarrowed && allCanNarrow);
    // An f32 op must not see bf16; a bf16 one takes every f32 operand narrowed.
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isPolicyOperand(op, operand.getOperandNumber()))
        continue;
      Value value = operand.get();
      if (toBFloat16 && hasElementType(value, f32) && !narrowed.contains(value))
        operand.set(narrow(value));
      else if (!toBFloat16 && narrowed.contains(value))
        operand.set(widen(value));
    }
    if (!toBFloat16)
      return;
    for (Value result : op->getResults()) {
      auto type = llvm::dyn_cast<RankedTensorType>(result.getType());
      if (!type || type.getElementType() != f32)
        continue;
      result.setType(type.clone(bf16));
      narrowed.insert(result);
    }
  }

  /// Records which of `op`'s results derive from the step's inputs, and
  /// which of those are activations: float values computed from a float
  /// activation, or from the inputs by an op other than a cast (an
  /// embedding's gather, a mask's where). A float made by casting integers
  /// (positions) and everything computed only from weights, constants and
  /// such floats is not an activation: a weight-like value, narrowed at its
  /// use by a bf16 op and never a reason for a GEMM to run in bf16.
  void classifyResults(Operation *op) {
    bool fromInputs = false, fromActivation = false, fromInputsNotFloat = false;
    for (Value operand : op->getOperands()) {
      bool derived = derivesFromInputs(operand);
      fromInputs |= derived;
      if (isFloatTensor(operand))
        fromActivation |= activations.contains(operand);
      else
        fromInputsNotFloat |= derived;
    }
    bool isCast = llvm::isa<graph::CastOp>(op);
    for (Value result : op->getResults()) {
      if (fromInputs)
        inputDerived.insert(result);
      if (isFloatTensor(result) &&
          (fromActivation || (fromInputsNotFloat && !isCast)))
        activations.insert(result);
    }
  }

  bool derivesFromInputs(Value value) {
    return llvm::isa<BlockArgument>(value) || inputDerived.contains(value);
  }

  static bool isFloatTensor(Value value) {
    auto type = llvm::dyn_cast<RankedTensorType>(value.getType());
    return type && llvm::isa<FloatType>(type.getElementType());
  }

  /// `value` (f32) as bf16, cast once after its definition.
  Value narrow(Value value) { return castOnce(value, bf16, narrowCasts); }
  /// `value` (bf16, made so by this pass) as f32, cast once.
  Value widen(Value value) { return castOnce(value, f32, widenCasts); }

  Value castOnce(Value value, Type elementType, llvm::DenseMap<Value, Value> &casts) {
    auto [it, inserted] = casts.try_emplace(value);
    if (!inserted)
      return it->second;
    OpBuilder builder(value.getContext());
    builder.setInsertionPointAfterValue(value);
    auto type = llvm::cast<RankedTensorType>(value.getType());
    auto cast = graph::CastOp::create(builder, value.getLoc(), type.clone(elementType), value);
    made.insert(cast);
    if (activations.contains(value))
      activations.insert(cast.getResult());
    if (derivesFromInputs(value))
      inputDerived.insert(cast.getResult());
    it->second = cast.getResult();
    return cast.getResult();
  }

  Type f32, bf16;
  /// Results this pass turned to bf16.
  llvm::DenseSet<Value> narrowed;
  /// Values computed from @main's arguments, and the float activations
  /// among them (classifyResults).
  llvm::DenseSet<Value> inputDerived, activations;
  llvm::DenseMap<Value, Value> narrowCasts, widenCasts;
  llvm::DenseSet<Operation *> made;
};

} // namespace
