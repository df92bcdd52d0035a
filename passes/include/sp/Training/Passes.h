//===- Passes.h - passes that turn a model into a training step -*- C++ -*-===//

#ifndef SP_TRAINING_PASSES_H
#define SP_TRAINING_PASSES_H

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Pass/Pass.h"

namespace sp::training {

#define GEN_PASS_DECL
#include "sp/Training/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Training/Passes.h.inc"

/// Result attributes of @main that the training passes set and read.
constexpr llvm::StringLiteral kLossAttr = "graph.loss";
constexpr llvm::StringLiteral kGradientOfAttr = "graph.gradient_of";
/// Global attributes: optimizer state of a parameter, and the step counter.
constexpr llvm::StringLiteral kStateOfAttr = "graph.state_of";
constexpr llvm::StringLiteral kStepCounterAttr = "graph.step_counter";
/// Module attributes for the runtime's data feed and the plan's record.
constexpr llvm::StringLiteral kTokenInputAttr = "graph.token_input";
constexpr llvm::StringLiteral kVocabSizeAttr = "graph.vocab_size";
constexpr llvm::StringLiteral kOptimizerAttr = "graph.optimizer";
/// Result attributes of @main: this step's learning rate (sp-insert-optimizer
/// with a schedule) and the gradients' global norm before clipping
/// (sp-clip-gradients); module attribute: the clipping threshold.
constexpr llvm::StringLiteral kLearningRateAttr = "graph.learning_rate";
constexpr llvm::StringLiteral kGradientNormAttr = "graph.gradient_norm";
constexpr llvm::StringLiteral kClipGradNormAttr = "graph.clip_grad_norm";

} // namespace sp::training

#endif // SP_TRAINING_PASSES_H
