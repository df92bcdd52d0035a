//===- Pipeline.cpp - sp-compile's pass pipeline as a library -------------===//

#include "sp/Pipeline/Pipeline.h"

#include "sp/Autodiff/Passes.h"
#include "sp/Fusion/Passes.h"
#include "sp/Plan/Passes.h"
#include "sp/Scheduling/Passes.h"
#include "sp/SequenceParallel/Passes.h"
#include "sp/Training/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/Error.h"

using namespace mlir;

namespace sp::pipeline {

void buildTrainingPipeline(OpPassManager &pm, const TrainingPipelineOptions &options,
                           const scheduling::CostModel &costModel) {
  sequence_parallel::SequenceParallelOptions sharding;
  sharding.numRanks = options.numRanks;
  sharding.strategy = options.strategy;
  sharding.ulyssesDegree = options.ulyssesDegree;
  sharding.ranksPerNode = options.ranksPerNode;
  sharding.costProfile = options.costProfile;
  sharding.flopsPerSecond = costModel.flopsPerSecond;
  sharding.linkBytesPerSecond = costModel.linkBytesPerSecond;
  sharding.linkLatencySeconds = costModel.linkLatencySeconds;
  bool split = options.numRanks > 1;

  // Fold what the importer left and drop computations nothing uses.
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  pm.addNestedPass<func::FuncOp>(createCSEPass());
  // Parameters are chosen before fusion, so that it can tell a trained
  // weight (global_load), whose use in an attention bias would need a
  // gradient attention_grad does not give, from a constant one
  // (global_load_const, such as the ALiBi slopes the dynamo exporter lifts
  // into an initializer).
  if (options.train) {
    training::SelectParamsOptions select;
    select.params.assign(options.params.begin(), options.params.end());
    select.frozen.assign(options.frozen.begin(), options.frozen.end());
    pm.addPass(training::createSelectParams(select));
  }
  if (options.fuse)
    pm.addNestedPass<func::FuncOp>(fusion::createFuse());
  if (options.train) {
    pm.addPass(training::createInsertLoss({options.loss}));
    if (split)
      pm.addPass(sequence_parallel::createSequenceParallel(sharding));
    // On the forward pass, so that the backward pass follows it; after the
    // sharding, whose collectives and attention strategies then stay f32.
    if (options.precision != "fp32")
      pm.addPass(training::createPrecision({options.precision}));
    pm.addPass(autodiff::createAutodiff());
    pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
    pm.addNestedPass<func::FuncOp>(createCSEPass());
    // After the last CSE, which would share the slices' batch-independent
    // values across them; before the reduction, so that it runs once a step.
    if (options.microBatches != 1)
      pm.addPass(training::createMicroBatches({int64_t(options.microBatches)}));
    pm.addPass(sequence_parallel::createReduceGradients());
    if (split)
      pm.addPass(sequence_parallel::createRegatherForBackward());
    // After the gradients are summed over the ranks: the norm one rank sees.
    if (options.clipGradNorm != 0.0)
      pm.addPass(training::createClipGradients({double(options.clipGradNorm)}));
    training::InsertOptimizerOptions update;
    update.kind = options.optimizer;
    update.learningRate = options.learningRate;
    update.weightDecay = options.weightDecay;
    update.beta1 = options.beta1;
    update.beta2 = options.beta2;
    update.epsilon = options.epsilon;
    update.lrSchedule = options.lrSchedule;
    update.warmupSteps = options.warmupSteps;
    update.totalSteps = options.totalSteps;
    update.minLearningRate = options.minLearningRate;
    pm.addPass(training::createInsertOptimizer(update));
  } else if (split) {
    pm.addPass(sequence_parallel::createSequenceParallel(sharding));
  }
  // Ids name ops before any schedule, so that they are the same in every one.
  pm.addNestedPass<func::FuncOp>(planning::createAssignInstructionIds());
  // Last, so that nothing reorders the collectives behind the scheduler.
  if (split && options.overlap) {
    scheduling::ScheduleCollectivesOptions schedule;
    schedule.costProfile = options.costProfile;
    pm.addNestedPass<func::FuncOp>(scheduling::createScheduleCollectives(schedule));
  }
  // After the schedule: the budget is measured in the order the plan runs,
  // and no later CSE merges the clones back nor scheduler moves them up.
  // Without --train there is no backward pass to recompute in: the pass
  // says so.
  if (options.memoryBudget != 0) {
    training::RematerializeOptions remat;
    remat.budget = options.memoryBudget;
    remat.costProfile = options.costProfile;
    pm.addPass(training::createRematerialize(remat));
  }
}

void registerTrainingPipeline() {
  registerPassPipeline(
      "sp-train-pipeline",
      "sp-compile's stages from the imported module to the one plans are emitted from",
      [](OpPassManager &pm, StringRef text,
         function_ref<LogicalResult(const Twine &)> errorHandler) -> LogicalResult {
        TrainingPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        llvm::Expected<scheduling::CostModel> costModel =
            scheduling::loadCostModel(options.costProfile);
        if (!costModel)
          return errorHandler(llvm::toString(costModel.takeError()));
        buildTrainingPipeline(pm, options, *costModel);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> describe) {
        describe(TrainingPipelineOptions());
      });
}

} // namespace sp::pipeline
