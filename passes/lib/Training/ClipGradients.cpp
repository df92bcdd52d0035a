//===- ClipGradients.cpp - clip the gradients' global norm -----------------===//
//
// torch.nn.utils.clip_grad_norm_ as a step of the graph: one norm over every
// gradient @main returns, one coefficient, and each gradient scaled by it
// before the optimizer reads it. The gradients are those after
// sp-reduce-gradients, so on a sequence-parallel step every rank measures the
// norm of the summed gradients, which is the norm one rank measures.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/Format.h"

#include <cmath>

namespace sp::training {
#define GEN_PASS_DEF_CLIPGRADIENTS
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;

namespace {

struct ClipGradientsPass
    : public sp::training::impl::ClipGradientsBase<ClipGradientsPass> {
  using ClipGradientsBase::ClipGradientsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    if (!(maxNorm > 0) || std::isinf(maxNorm)) {
      std::string value;
      llvm::raw_string_ostream(value) << llvm::format("%g", double(maxNorm));
      module.emitError() << "gradient clipping: max norm " << value
                         << " must be positive and finite";
      return signalPassFailure();
    }
    if (module->hasAttr(sp::training::kClipGradNormAttr)) {
      module.emitError("the gradients are already clipped (the module has ")
          << sp::training::kClipGradNormAttr << ")";
      return signalPassFailure();
    }

    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    SmallVector<unsigned> gradientResults;
    for (unsigned i = 0; i < main.getNumResults(); ++i)
      if (main.getResultAttr(i, sp::training::kGradientOfAttr))
        gradientResults.push_back(i);
    if (gradientResults.empty()) {
      main.emitError("no gradients to clip: run sp-autodiff before sp-clip-gradients");
      return signalPassFailure();
    }
    SmallVector<Value> gradients;
    for (unsigned i : gradientResults) {
      Value gradient = returnOp.getOperand(i);
      auto type = llvm::dyn_cast<RankedTensorType>(gradient.getType());
      if (!type || !llvm::isa<FloatType>(type.getElementType())) {
        main.emitError() << "result #" << i << " is a gradient of type " << gradient.getType()
                         << "; only float tensors can be clipped";
        return signalPassFailure();
      }
      gradients.push_back(gradient);
    }

    OpBuilder builder(returnOp);
    Location loc = NameLoc::get(builder.getStringAttr("clip_grad_norm"), main.getLoc());
    auto scalarType = RankedTensorType::get({}, builder.getF64Type());
    Value norm = graph::GlobalNormOp::create(builder, loc, scalarType, gradients);
    Value coefficient = graph::ClipCoefficientOp::create(builder, loc, scalarType, norm,
                                                         builder.getF64FloatAttr(maxNorm));
    // One cast of the coefficient per element type, as PyTorch multiplies
    // each gradient by the coefficient converted to the gradient's dtype.
    llvm::DenseMap<Type, Value> coefficientOfType;
    for (auto [result, gradient] : llvm::zip(gradientResults, gradients)) {
      auto type = llvm::cast<RankedTensorType>(gradient.getType());
      Type elementType = type.getElementType();
      Value &scale = coefficientOfType[elementType];
      if (!scale && elementType.isF64())
        scale = coefficient;
      else if (!scale)
        scale = graph::CastOp::create(builder, loc, RankedTensorType::get({}, elementType),
                                      coefficient);
      Value clipped = graph::MulOp::create(builder, loc, type, gradient, scale);
      returnOp.setOperand(result, clipped);
    }
    sp::training::appendMainResult(
        main, norm,
        {builder.getNamedAttr(sp::training::kGradientNormAttr, builder.getUnitAttr())});
    module->setAttr(sp::training::kClipGradNormAttr, builder.getF64FloatAttr(maxNorm));
  }
};

} // namespace
