//===- InsertOptimizer.cpp - append parameter updates to @main -------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"

namespace sp::training {
#define GEN_PASS_DEF_INSERTOPTIMIZER
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;

namespace {

constexpr llvm::StringLiteral kStepCounterName = "sp.step";

struct InsertOptimizerPass
    : public sp::training::impl::InsertOptimizerBase<InsertOptimizerPass> {
  using InsertOptimizerBase::InsertOptimizerBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    if (kind != "adamw" && kind != "sgd") {
      module.emitError() << "unknown optimizer '" << kind << "'; expected adamw or sgd";
      return signalPassFailure();
    }
    if (!(learningRate >= 0) || (kind == "adamw" && (!(beta1 >= 0 && beta1 < 1) ||
                                                     !(beta2 >= 0 && beta2 < 1) ||
                                                     !(epsilon >= 0)))) {
      module.emitError() << "optimizer settings out of range: lr " << learningRate
                         << " must be >= 0, betas in [0, 1), eps >= 0";
      return signalPassFailure();
    }
    bool scheduled = !lrSchedule.empty();
    if (scheduled) {
      std::string problem = graph::describeLRScheduleProblem(
          lrSchedule, warmupSteps, totalSteps, learningRate, minLearningRate);
      if (!problem.empty()) {
        module.emitError() << problem;
        return signalPassFailure();
      }
    } else if (warmupSteps != 0 || totalSteps != 0 || minLearningRate != 0) {
      module.emitError("warmup-steps, total-steps and min-lr need lr-schedule");
      return signalPassFailure();
    }
    double decay = weightDecay >= 0 ? double(weightDecay) : (kind == "adamw" ? 0.01 : 0.0);

    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    SmallVector<std::pair<FlatSymbolRefAttr, Value>> gradients;
    for (unsigned i = 0; i < main.getNumResults(); ++i)
      if (auto param = main.getResultAttrOfType<FlatSymbolRefAttr>(
              i, sp::training::kGradientOfAttr))
        gradients.push_back({param, returnOp.getOperand(i)});
    if (gradients.empty()) {
      main.emitError("no gradients to apply: run sp-autodiff before sp-insert-optimizer");
      return signalPassFailure();
    }

    SymbolTable symbols(module);
    OpBuilder moduleBuilder = OpBuilder::atBlockEnd(module.getBody());
    // Zero-initialized mutable state next to the parameter it belongs to.
    auto createState = [&](ml_program::GlobalOp param, Operation *after, StringRef suffix,
                           RankedTensorType type) -> ml_program::GlobalOp {
      std::string name = (param.getSymName() + suffix).str();
      if (symbols.lookup(name)) {
        param.emitError() << "optimizer state '" << name
                          << "' clashes with an initializer of that name";
        return nullptr;
      }
      Attribute zero = DenseElementsAttr::get(
          type, moduleBuilder.getZeroAttr(type.getElementType()));
      moduleBuilder.setInsertionPointAfter(after);
      auto state = ml_program::GlobalOp::create(
          moduleBuilder, param.getLoc(), name, type, /*is_mutable=*/true, zero,
          moduleBuilder.getStringAttr("private"));
      state->setAttr(sp::training::kStateOfAttr, FlatSymbolRefAttr::get(param));
      symbols.insert(state);
      return state;
    };

    OpBuilder builder(returnOp);
    Location loc = NameLoc::get(builder.getStringAttr(kind + " update"), main.getLoc());
    auto load = [&](ml_program::GlobalOp global) -> Value {
      return ml_program::GlobalLoadOp::create(builder, loc, global.getType(),
                                              FlatSymbolRefAttr::get(global));
    };
    auto store = [&](ml_program::GlobalOp global, Value value) {
      ml_program::GlobalStoreOp::create(builder, loc, FlatSymbolRefAttr::get(global), value);
    };

    // AdamW's bias corrections and the schedule count updates.
    Value step, scheduledLearningRate;
    if (kind == "adamw" || scheduled) {
      auto counterType = RankedTensorType::get({}, builder.getI64Type());
      if (symbols.lookup(kStepCounterName)) {
        module.emitError() << "the model already has a symbol '" << kStepCounterName << "'";
        return signalPassFailure();
      }
      moduleBuilder.setInsertionPointToEnd(module.getBody());
      auto counter = ml_program::GlobalOp::create(
          moduleBuilder, module.getLoc(), kStepCounterName, counterType, /*is_mutable=*/true,
          DenseElementsAttr::get(counterType, moduleBuilder.getI64IntegerAttr(0)),
          moduleBuilder.getStringAttr("private"));
      counter->setAttr(sp::training::kStepCounterAttr, builder.getUnitAttr());
      symbols.insert(counter);
      Value one = graph::ConstantOp::create(
          builder, loc, DenseElementsAttr::get(counterType, builder.getI64IntegerAttr(1)));
      Value completedSteps = load(counter);
      step = graph::AddOp::create(builder, loc, counterType, completedSteps, one);
      // Before the store: a plan holds one copy of the counter.
      if (scheduled) {
        Location scheduleLoc =
            NameLoc::get(builder.getStringAttr("lr_schedule"), main.getLoc());
        scheduledLearningRate = graph::LRScheduleOp::create(
            builder, scheduleLoc, RankedTensorType::get({}, builder.getF64Type()),
            completedSteps, builder.getStringAttr(lrSchedule),
            builder.getI64IntegerAttr(warmupSteps), builder.getI64IntegerAttr(totalSteps),
            builder.getF64FloatAttr(learningRate), builder.getF64FloatAttr(minLearningRate));
      }
      store(counter, step);
    }

    for (auto [paramRef, gradient] : gradients) {
      auto param = symbols.lookup<ml_program::GlobalOp>(paramRef.getValue());
      if (!param || !param.getIsMutable()) {
        main.emitError() << "gradient of " << paramRef << ", which is not a mutable global";
        return signalPassFailure();
      }
      auto type = llvm::cast<RankedTensorType>(param.getType());
      if (gradient.getType() != type) {
        main.emitError() << "gradient of " << paramRef << " has type " << gradient.getType()
                         << ", the parameter " << type;
        return signalPassFailure();
      }
      // Loads in a fixed order: C++ leaves argument evaluation order open.
      Value paramValue = load(param);
      if (kind == "sgd") {
        Value updated = graph::SGDUpdateOp::create(
            builder, loc, type, paramValue, gradient, scheduledLearningRate,
            builder.getF64FloatAttr(learningRate),
            builder.getF64FloatAttr(decay));
        store(param, updated);
        continue;
      }
      // PyTorch's names for AdamW's moments.
      ml_program::GlobalOp m = createState(param, param, ".exp_avg", type);
      ml_program::GlobalOp v = m ? createState(param, m, ".exp_avg_sq", type) : nullptr;
      if (!v)
        return signalPassFailure();
      Value mValue = load(m);
      Value vValue = load(v);
      auto update = graph::AdamWUpdateOp::create(
          builder, loc, TypeRange{type, type, type}, paramValue, gradient, mValue, vValue,
          step, scheduledLearningRate, builder.getF64FloatAttr(learningRate),
          builder.getF64FloatAttr(beta1),
          builder.getF64FloatAttr(beta2), builder.getF64FloatAttr(epsilon),
          builder.getF64FloatAttr(decay));
      store(param, update.getNewParam());
      store(m, update.getNewM());
      store(v, update.getNewV());
    }

    SmallVector<NamedAttribute> settings = {
        builder.getNamedAttr("kind", builder.getStringAttr(kind)),
        builder.getNamedAttr("learning_rate", builder.getF64FloatAttr(learningRate)),
        builder.getNamedAttr("weight_decay", builder.getF64FloatAttr(decay))};
    if (kind == "adamw")
      settings.append({builder.getNamedAttr("beta1", builder.getF64FloatAttr(beta1)),
                       builder.getNamedAttr("beta2", builder.getF64FloatAttr(beta2)),
                       builder.getNamedAttr("epsilon", builder.getF64FloatAttr(epsilon))});
    if (scheduled) {
      settings.append(
          {builder.getNamedAttr("lr_schedule", builder.getStringAttr(lrSchedule)),
           builder.getNamedAttr("warmup_steps", builder.getI64IntegerAttr(warmupSteps)),
           builder.getNamedAttr("total_steps", builder.getI64IntegerAttr(totalSteps)),
           builder.getNamedAttr("min_learning_rate", builder.getF64FloatAttr(minLearningRate))});
      sp::training::appendMainResult(
          main, scheduledLearningRate,
          {builder.getNamedAttr(sp::training::kLearningRateAttr, builder.getUnitAttr())});
    }
    module->setAttr(sp::training::kOptimizerAttr, builder.getDictionaryAttr(settings));
  }
};

} // namespace
