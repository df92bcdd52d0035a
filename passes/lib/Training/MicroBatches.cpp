//===- MicroBatches.cpp - accumulate gradients over slices of the batch ----===//
//
// Gradient accumulation as a rewrite of the step: @main's forward and
// backward pass, written for one micro-batch, is copied once per slice of a
// batch `count` times larger and the copies run in sequence, each gradient
// summed as soon as a copy computes it. Since nothing of one copy is read by
// the next but those sums, liveness-based memory planning gives every copy
// the bytes of the one before: the activations of one micro-batch.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Import/OnnxImporter.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/BitVector.h"

namespace sp::training {
#define GEN_PASS_DEF_MICROBATCHES
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;

namespace {

/// "argument #i ('name')", as errors name @main's arguments.
std::string describeArgument(func::FuncOp main, unsigned index) {
  std::string what = "argument #" + std::to_string(index);
  if (auto name = main.getArgAttrOfType<StringAttr>(index, sp::kOnnxNameAttr))
    what += " ('" + name.str() + "')";
  return what;
}

Value createIndexVector(OpBuilder &builder, Location loc, int64_t value) {
  auto type = RankedTensorType::get({1}, builder.getI64Type());
  return graph::ConstantOp::create(builder, loc,
                                   DenseElementsAttr::get(type, builder.getI64IntegerAttr(value)));
}

struct MicroBatchesPass : public sp::training::impl::MicroBatchesBase<MicroBatchesPass> {
  using MicroBatchesBase::MicroBatchesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (count < 1) {
      module.emitError() << "micro-batches: the count " << int64_t(count) << " must be at least 1";
      return signalPassFailure();
    }
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    if (count == 1)
      return;
    if (failed(accumulate(module, main)))
      signalPassFailure();
  }

  /// The step's results that the micro-batches share out: the loss and the
  /// gradients; fails on a step this pass cannot rewrite.
  LogicalResult checkStep(ModuleOp module, func::FuncOp main, int &lossIndex,
                          SmallVector<unsigned> &gradientIndices) {
    if (module->hasAttr(sp::training::kMicroBatchesAttr))
      return module.emitError() << "micro-batches: the step already accumulates micro-batches "
                                   "(the module has "
                                << sp::training::kMicroBatchesAttr << ")";
    if (module->hasAttr(sp::training::kOptimizerAttr) ||
        module->hasAttr(sp::training::kClipGradNormAttr))
      return module.emitError("micro-batches: the step already clips or applies its "
                              "gradients; run sp-micro-batches before sp-clip-gradients and "
                              "sp-insert-optimizer");
    lossIndex = -1;
    for (unsigned i = 0; i < main.getNumResults(); ++i) {
      if (main.getResultAttr(i, sp::training::kLossAttr))
        lossIndex = int(i);
      if (main.getResultAttr(i, sp::training::kGradientOfAttr))
        gradientIndices.push_back(i);
    }
    if (lossIndex < 0 || gradientIndices.empty())
      return main.emitError("micro-batches: @main returns no loss and gradients to "
                            "accumulate; run sp-insert-loss and sp-autodiff first");
    SmallVector<unsigned> averaged = {unsigned(lossIndex)};
    averaged.append(gradientIndices);
    for (unsigned i : averaged) {
      auto type = llvm::dyn_cast<RankedTensorType>(main.getResultTypes()[i]);
      if (!type || !llvm::isa<FloatType>(type.getElementType()))
        return main.emitError() << "micro-batches: result #" << i << " has type "
                                << main.getResultTypes()[i]
                                << "; only float losses and gradients can be averaged";
    }
    for (BlockArgument argument : main.getArguments()) {
      auto type = llvm::dyn_cast<RankedTensorType>(argument.getType());
      std::string what = describeArgument(main, argument.getArgNumber());
      if (!type || type.getRank() == 0)
        return main.emitError() << "micro-batches: " << what << " of type "
                                << argument.getType()
                                << " has no batch dim (dim 0) to slice";
      // Under --sp the rank's part of an argument is cut along its sequence;
      // when that is dim 0, dim 0 is not the batch.
      auto shardAxis = main.getArgAttrOfType<IntegerAttr>(argument.getArgNumber(),
                                                          sp::graph::kShardAxisAttr);
      if (shardAxis && shardAxis.getInt() == 0)
        return main.emitError() << "micro-batches: " << what
                                << " is split across ranks along dim 0 as its sequence; "
                                   "micro-batches slice dim 0 as the batch";
      if (type.isDynamicDim(0))
        return main.emitError() << "micro-batches: " << what << " has a dynamic batch dim "
                                << graph::formatShape(type.getShape())
                                << "; bind it with --input-shape";
    }
    // A state update in the step would run once per micro-batch.
    WalkResult stores = main.walk([&](ml_program::GlobalStoreOp store) {
      store.emitOpError("micro-batches: the step already updates state; run "
                        "sp-micro-batches before sp-insert-optimizer");
      return WalkResult::interrupt();
    });
    return failure(stores.wasInterrupted());
  }

  LogicalResult accumulate(ModuleOp module, func::FuncOp main) {
    int lossIndex;
    SmallVector<unsigned> gradientIndices;
    if (failed(checkStep(module, main, lossIndex, gradientIndices)))
      return failure();

    Block &body = main.getBody().front();
    auto returnOp = llvm::cast<func::ReturnOp>(body.getTerminator());
    SmallVector<Operation *> microStep;
    for (Operation &op : body.without_terminator())
      microStep.push_back(&op);

    // The arguments become the whole batch; the micro-step reads slices.
    SmallVector<RankedTensorType> sliceTypes;
    SmallVector<Type> argumentTypes;
    for (BlockArgument argument : main.getArguments()) {
      auto type = llvm::cast<RankedTensorType>(argument.getType());
      sliceTypes.push_back(type);
      SmallVector<int64_t> shape(type.getShape());
      shape[0] *= count;
      argument.setType(type.clone(shape));
      argumentTypes.push_back(argument.getType());
    }

    // Per result accumulated (the loss, then the gradients): the running sum.
    SmallVector<unsigned> accumulated = {unsigned(lossIndex)};
    accumulated.append(gradientIndices);
    SmallVector<Value> sums(accumulated.size());
    OpBuilder builder = OpBuilder::atBlockTerminator(&body);
    for (int64_t slice = 0; slice < count; ++slice) {
      builder.setInsertionPoint(returnOp);
      Location loc = NameLoc::get(
          builder.getStringAttr("micro-batch " + std::to_string(slice)), main.getLoc());
      IRMapping mapping;
      for (auto [argument, sliceType] : llvm::zip(main.getArguments(), sliceTypes)) {
        int64_t rows = sliceType.getDimSize(0);
        Value part = graph::SliceOp::create(
            builder, loc, sliceType, argument, createIndexVector(builder, loc, slice * rows),
            createIndexVector(builder, loc, (slice + 1) * rows),
            createIndexVector(builder, loc, 0), createIndexVector(builder, loc, 1));
        mapping.map(argument, part);
      }
      for (Operation *op : microStep) {
        Operation *copy = builder.clone(*op, mapping);
        // Each slice draws its own rows of the whole batch's dropout mask.
        if (auto dropout = llvm::dyn_cast<graph::DropoutOp>(copy))
          dropout.setMicroBatchAttr(builder.getI64IntegerAttr(slice));
        // Attention ops that draw dropout on their probabilities
        // (Graph_AttentionDropoutAttrs).
        if (copy->hasAttr("dropout_ratio"))
          copy->setAttr("dropout_micro_batch", builder.getI64IntegerAttr(slice));
      }
      for (auto [position, result] : llvm::enumerate(accumulated)) {
        Value value = mapping.lookupOrDefault(returnOp.getOperand(result));
        Value &sum = sums[position];
        if (!sum) {
          sum = value;
          continue;
        }
        // Right where this slice's gradient is complete, so that it dies
        // there and the sum is the only copy live across slices.
        builder.setInsertionPointAfterValue(value);
        auto add = graph::AddOp::create(builder, loc, value.getType(), sum, value);
        if (result != unsigned(lossIndex))
          add->setAttr(sp::training::kAccumulatesGradientAttr, builder.getUnitAttr());
        sum = add;
      }
    }

    // The mean over the slices: the whole batch's loss and its gradient.
    Location meanLoc = NameLoc::get(builder.getStringAttr("micro-batch mean"), main.getLoc());
    for (auto [position, result] : llvm::enumerate(accumulated)) {
      Value sum = sums[position];
      auto type = llvm::cast<RankedTensorType>(sum.getType());
      auto scalarType = RankedTensorType::get({}, type.getElementType());
      builder.setInsertionPointAfterValue(sum);
      // Divided by the count rather than multiplied by its reciprocal: one
      // rounding, not two.
      Value slices = graph::ConstantOp::create(
          builder, meanLoc,
          DenseElementsAttr::get(scalarType,
                                 builder.getFloatAttr(type.getElementType(), double(count))));
      auto mean = graph::DivOp::create(builder, meanLoc, type, sum, slices);
      if (result != unsigned(lossIndex))
        mean->setAttr(sp::training::kAccumulatesGradientAttr, builder.getUnitAttr());
      returnOp.setOperand(result, mean);
    }

    // The model's other outputs are dropped: each slice's copy would stay
    // live to the end of the step.
    llvm::BitVector dropped(main.getNumResults(), true);
    for (unsigned result : accumulated)
      dropped.reset(result);
    returnOp->eraseOperands(dropped);
    if (failed(main.eraseResults(dropped)))
      return main.emitError("micro-batches: cannot drop the model's outputs");
    for (Operation *op : llvm::reverse(microStep))
      op->erase();
    main.setFunctionType(
        FunctionType::get(module.getContext(), argumentTypes, returnOp.getOperandTypes()));
    // What only the dropped outputs read.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
      if (isOpTriviallyDead(&op))
        op.erase();
    module->setAttr(sp::training::kMicroBatchesAttr, builder.getI64IntegerAttr(count));
    return success();
  }
};

} // namespace
