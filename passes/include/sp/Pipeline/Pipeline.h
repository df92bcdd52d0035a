//===- Pipeline.h - sp-compile's pass pipeline as a library -----*- C++ -*-===//
//
// The stages between import and plan emission, in one place: sp-compile
// builds its pass manager here, and sp-opt registers the same pipeline as
// --sp-train-pipeline, so that any stage of sp-compile can be reproduced and
// lit-tested with sp-opt.
//
//===----------------------------------------------------------------------===//
#ifndef SP_PIPELINE_PIPELINE_H
#define SP_PIPELINE_PIPELINE_H

#include "sp/Scheduling/CostModel.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <string>

namespace sp::pipeline {

/// The pipeline's options; their names are sp-compile's flags, and their
/// defaults the passes' own.
struct TrainingPipelineOptions : mlir::PassPipelineOptions<TrainingPipelineOptions> {
  Option<bool> fuse{*this, "fuse", llvm::cl::desc("Fuse attention and RMS norm"),
                    llvm::cl::init(true)};
  Option<bool> train{*this, "train",
                     llvm::cl::desc("Append loss, backward pass and optimizer update"),
                     llvm::cl::init(false)};
  Option<std::string> loss{*this, "loss", llvm::cl::desc("causal-lm or output"),
                           llvm::cl::init("causal-lm")};
  ListOption<std::string> params{*this, "params",
                                 llvm::cl::desc("Trainable initializers (globs)")};
  ListOption<std::string> frozen{*this, "frozen",
                                 llvm::cl::desc("Initializers that stay constant (globs)")};
  Option<int64_t> numRanks{*this, "sp", llvm::cl::desc("Ranks the sequence is split across"),
                           llvm::cl::init(1)};
  Option<std::string> strategy{*this, "sp-strategy",
                               llvm::cl::desc("allgather, ulysses, ring or auto"),
                               llvm::cl::init("auto")};
  Option<int64_t> ulyssesDegree{
      *this, "sp-ulysses-degree",
      llvm::cl::desc("The hybrid: Ulysses inside groups of this many ranks, ring across them "
                     "(0: none)"),
      llvm::cl::init(0)};
  Option<int64_t> ranksPerNode{
      *this, "ranks-per-node",
      llvm::cl::desc("Ranks per node of the machine auto places the hybrid on (0: the cost "
                     "profile's)"),
      llvm::cl::init(0)};
  Option<bool> overlap{*this, "overlap",
                       llvm::cl::desc("Schedule collectives to overlap compute"),
                       llvm::cl::init(true)};
  Option<std::string> costProfile{
      *this, "cost-profile",
      llvm::cl::desc("Built-in profile name or JSON file the schedule and auto assume"),
      llvm::cl::init("cpu")};
  Option<double> clipGradNorm{*this, "clip-grad-norm",
                              llvm::cl::desc("Clip the global gradient norm (0: off)"),
                              llvm::cl::init(0.0)};
  Option<int64_t> microBatches{
      *this, "micro-batches",
      llvm::cl::desc("Slices of the batch whose gradients one update accumulates; the "
                     "imported module holds one slice (sp-compile --emit=import "
                     "--micro-batches K)"),
      llvm::cl::init(1)};
  Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("fp32, or bf16: mixed precision (bf16 GEMMs and activations, fp32 "
                     "master weights, optimizer state, norms, softmax and loss)"),
      llvm::cl::init("fp32")};
  Option<int64_t> memoryBudget{
      *this, "memory-budget",
      llvm::cl::desc("Bytes per rank the step must fit in by recomputing activations in the "
                     "backward pass (0: no budget)"),
      llvm::cl::init(0)};
  Option<std::string> optimizer{*this, "optimizer", llvm::cl::desc("adamw or sgd"),
                                llvm::cl::init("adamw")};
  Option<double> learningRate{*this, "lr", llvm::cl::desc("Learning rate"),
                              llvm::cl::init(1e-3)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("Weight decay (-1: the optimizer's default)"),
                             llvm::cl::init(-1.0)};
  Option<double> beta1{*this, "beta1", llvm::cl::desc("AdamW beta1"), llvm::cl::init(0.9)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("AdamW beta2"), llvm::cl::init(0.999)};
  Option<double> epsilon{*this, "eps", llvm::cl::desc("AdamW epsilon"), llvm::cl::init(1e-8)};
  Option<std::string> lrSchedule{*this, "lr-schedule",
                                 llvm::cl::desc("constant, linear or cosine (empty: none)"),
                                 llvm::cl::init("")};
  Option<int64_t> warmupSteps{*this, "warmup-steps", llvm::cl::desc("Schedule warmup steps"),
                              llvm::cl::init(0)};
  Option<int64_t> totalSteps{*this, "total-steps", llvm::cl::desc("Schedule total steps"),
                             llvm::cl::init(0)};
  Option<double> minLearningRate{*this, "min-lr", llvm::cl::desc("Schedule floor"),
                                 llvm::cl::init(0.0)};
};

/// Adds sp-compile's stages to `pm` (a module pass manager): canonicalize,
/// fuse, and with `train` parameter selection, loss, sharding, the precision
/// policy, autodiff,
/// micro-batch accumulation, gradient reduction and clipping, the optimizer; then instruction ids and,
/// under --sp with overlap, the collective schedule; with a memory budget,
/// last, the recomputation that fits the step into it. `costModel` is the one
/// options.costProfile names (loadCostModel), which --report uses too.
void buildTrainingPipeline(mlir::OpPassManager &pm, const TrainingPipelineOptions &options,
                           const scheduling::CostModel &costModel);

/// Registers --sp-train-pipeline for sp-opt.
void registerTrainingPipeline();

} // namespace sp::pipeline

#endif // SP_PIPELINE_PIPELINE_H
