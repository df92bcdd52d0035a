//===- sp-opt.cpp - the sp dialects and passes on MlirOptMain -------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "sp/Autodiff/GradientOpInterface.h"
#include "sp/Autodiff/Passes.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Fusion/Passes.h"
#include "sp/Pipeline/Pipeline.h"
#include "sp/Plan/Passes.h"
#include "sp/Dialect/Plan/IR/PlanDialect.h"
#include "sp/Scheduling/Passes.h"
#include "sp/SequenceParallel/Passes.h"
#include "sp/Training/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  sp::training::registerTrainingPasses();
  sp::autodiff::registerAutodiffPasses();
  sp::fusion::registerFusionPasses();
  sp::planning::registerPlanPasses();
  sp::sequence_parallel::registerSequenceParallelPasses();
  sp::scheduling::registerSchedulingPasses();
  sp::pipeline::registerTrainingPipeline();
  mlir::DialectRegistry registry;
  // The plan dialect has no ops: registered, it is loaded when the parser
  // meets a plan.* attribute, so that its verifiers run.
  registry.insert<sp::graph::GraphDialect, sp::planning::PlanDialect, mlir::func::FuncDialect,
                  mlir::ml_program::MLProgramDialect>();
  sp::autodiff::registerGradientOpInterfaceExternalModels(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sp optimizer driver\n", registry));
}
