//===- Passes.h - passes that turn a model into a training step -*- C++ -*-===//

#ifndef SP_TRAINING_PASSES_H
#define SP_TRAINING_PASSES_H

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Pass/Pass.h"

#include "sp/Dialect/Graph/IR/GraphAttributes.h"

namespace sp::training {

#define GEN_PASS_DECL
#include "sp/Training/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Training/Passes.h.inc"

/// The attributes the training passes set and read; declared, with their
/// kinds and places, in sp/Dialect/Graph/IR/GraphAttributes.h.
using sp::graph::kAccumulatesGradientAttr;
using sp::graph::kClipGradNormAttr;
using sp::graph::kGradientNormAttr;
using sp::graph::kGradientOfAttr;
using sp::graph::kLearningRateAttr;
using sp::graph::kLossAttr;
using sp::graph::kMemoryBudgetAttr;
using sp::graph::kMicroBatchesAttr;
using sp::graph::kOptimizerAttr;
using sp::graph::kPrecisionAttr;
using sp::graph::kRecomputedAttr;
using sp::graph::kStateOfAttr;
using sp::graph::kStepCounterAttr;
using sp::graph::kTokenInputAttr;
using sp::graph::kVocabSizeAttr;

} // namespace sp::training

#endif // SP_TRAINING_PASSES_H
