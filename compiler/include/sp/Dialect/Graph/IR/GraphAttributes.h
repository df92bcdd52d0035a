//===- GraphAttributes.h - discardable attributes of the graph dialect -*- C++ -*-===//
//
// The one place that names the `graph.*` discardable attributes passes leave
// for each other, the plan emitter and the runtime. Each name comes with the
// attribute kind it holds and where it may appear; GraphDialect's
// verifyOperationAttribute / verifyRegionArgAttribute /
// verifyRegionResultAttribute (GraphAttributes.cpp) enforce both and reject
// any other `graph.*` name. Header-only, so that readers need not link the
// dialect. Other headers re-export these names; none defines its own.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H
#define SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H

#include "llvm/ADT/StringRef.h"

namespace sp::graph {

// --- Import (sp-import / OnnxImporter) ---------------------------------------

/// Argument or result of @main (StringAttr): the ONNX value's name.
constexpr llvm::StringLiteral kOnnxNameAttr = "graph.onnx_name";
/// Argument of @main (ArrayAttr of StringAttr): per dim, its ONNX symbolic
/// name, or "" where it has none.
constexpr llvm::StringLiteral kDimNamesAttr = "graph.dim_names";

// --- Training (sp-insert-loss, sp-autodiff, sp-insert-optimizer, ...) --------

/// Result of @main (UnitAttr): the scalar loss.
constexpr llvm::StringLiteral kLossAttr = "graph.loss";
/// Result of @main (FlatSymbolRefAttr): the gradient of that parameter.
constexpr llvm::StringLiteral kGradientOfAttr = "graph.gradient_of";
/// ml_program.global (FlatSymbolRefAttr): optimizer state of that parameter.
constexpr llvm::StringLiteral kStateOfAttr = "graph.state_of";
/// ml_program.global (UnitAttr): the optimizer's step counter.
constexpr llvm::StringLiteral kStepCounterAttr = "graph.step_counter";
/// Module (StringAttr): the @main input that holds the token ids.
constexpr llvm::StringLiteral kTokenInputAttr = "graph.token_input";
/// Module (i64 IntegerAttr): the vocabulary size of the logits.
constexpr llvm::StringLiteral kVocabSizeAttr = "graph.vocab_size";
/// Module (DictionaryAttr): the optimizer's settings.
constexpr llvm::StringLiteral kOptimizerAttr = "graph.optimizer";
/// Result of @main (UnitAttr): this step's learning rate.
constexpr llvm::StringLiteral kLearningRateAttr = "graph.learning_rate";
/// Result of @main (UnitAttr): the gradients' global norm before clipping.
constexpr llvm::StringLiteral kGradientNormAttr = "graph.gradient_norm";
/// Module (FloatAttr): the gradient clipping threshold.
constexpr llvm::StringLiteral kClipGradNormAttr = "graph.clip_grad_norm";
/// Module (i64 IntegerAttr, at least 2): the step runs its forward and
/// backward pass on this many slices of the batch (sp-micro-batches).
constexpr llvm::StringLiteral kMicroBatchesAttr = "graph.micro_batches";
/// graph.add or graph.div (UnitAttr): the op sums a parameter's gradient
/// over micro-batches, or divides that sum by their count; its operands and
/// result are gradient bytes, not activations, to --report.
constexpr llvm::StringLiteral kAccumulatesGradientAttr = "graph.accumulates_gradient";

// --- Sequence parallelism (sp-sequence-parallel) -----------------------------

/// Module (positive i64 IntegerAttr): the ranks of the SPMD step; absent on
/// one rank.
constexpr llvm::StringLiteral kNumRanksAttr = "graph.num_ranks";
/// Module (UnitAttr, or BoolAttr): the sequence is laid out zigzag.
constexpr llvm::StringLiteral kZigzagAttr = "graph.zigzag";
/// Argument or result of @main (i64 IntegerAttr): the dim split along the
/// sequence.
constexpr llvm::StringLiteral kShardAxisAttr = "graph.shard_axis";

} // namespace sp::graph

#endif // SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H
