//===- GraphAttributes.h - discardable attributes of the graph dialect -*- C++ -*-===//
//
// Constant names for the `graph.*` discardable attributes that passes leave
// for each other, the plan emitter and the runtime. Each is declared once, with
// its kind, in GraphDialect.td's `discardableAttrs` (the names here are the
// generated helpers' names); where each may appear is written below and
// enforced, with the kind, by GraphDialect's verifyOperationAttribute /
// verifyRegionArgAttribute / verifyRegionResultAttribute (GraphAttributes.cpp),
// which reject any other `graph.*` name. Other headers re-export these names;
// none defines its own.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H
#define SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H

#include "sp/Dialect/Graph/IR/GraphDialect.h"

#include "llvm/ADT/StringRef.h"

namespace sp::graph {

// --- Import (sp-import / OnnxImporter) ---------------------------------------

/// Argument or result of @main: the ONNX value's name.
constexpr llvm::StringLiteral kOnnxNameAttr = GraphDialect::OnnxNameAttrHelper::getNameStr();
/// Argument of @main: per dim, its ONNX symbolic name, or "" where it has none.
constexpr llvm::StringLiteral kDimNamesAttr = GraphDialect::DimNamesAttrHelper::getNameStr();

// --- Training (sp-insert-loss, sp-autodiff, sp-insert-optimizer, ...) --------

/// Result of @main: the scalar loss.
constexpr llvm::StringLiteral kLossAttr = GraphDialect::LossAttrHelper::getNameStr();
/// Result of @main: the gradient of that parameter.
constexpr llvm::StringLiteral kGradientOfAttr = GraphDialect::GradientOfAttrHelper::getNameStr();
/// ml_program.global: optimizer state of that parameter.
constexpr llvm::StringLiteral kStateOfAttr = GraphDialect::StateOfAttrHelper::getNameStr();
/// ml_program.global: the optimizer's step counter.
constexpr llvm::StringLiteral kStepCounterAttr = GraphDialect::StepCounterAttrHelper::getNameStr();
/// Module: the @main input that holds the token ids.
constexpr llvm::StringLiteral kTokenInputAttr = GraphDialect::TokenInputAttrHelper::getNameStr();
/// Module: the vocabulary size of the logits.
constexpr llvm::StringLiteral kVocabSizeAttr = GraphDialect::VocabSizeAttrHelper::getNameStr();
/// Module: the optimizer's settings.
constexpr llvm::StringLiteral kOptimizerAttr = GraphDialect::OptimizerAttrHelper::getNameStr();
/// Result of @main: this step's learning rate.
constexpr llvm::StringLiteral kLearningRateAttr = GraphDialect::LearningRateAttrHelper::getNameStr();
/// Result of @main: the gradients' global norm before clipping.
constexpr llvm::StringLiteral kGradientNormAttr = GraphDialect::GradientNormAttrHelper::getNameStr();
/// Module: the gradient clipping threshold.
constexpr llvm::StringLiteral kClipGradNormAttr = GraphDialect::ClipGradNormAttrHelper::getNameStr();
/// Module (at least 2): the step runs its forward and backward pass on this
/// many slices of the batch (sp-micro-batches).
constexpr llvm::StringLiteral kMicroBatchesAttr =
    GraphDialect::MicroBatchesAttrHelper::getNameStr();
/// Module (positive): the sequence length users pass and receive. The
/// importer bound the token input's sequence dim to a longer length that the
/// ranks' chunks divide (sp-compile --sp); the positions past this one are
/// padding that attends to nothing real and counts in no loss.
constexpr llvm::StringLiteral kUnpaddedSequenceLengthAttr =
    GraphDialect::UnpaddedSequenceLengthAttrHelper::getNameStr();
/// graph.add or graph.div: the op sums a parameter's gradient over
/// micro-batches, or divides that sum by their count; its operands and result
/// are gradient bytes, not activations, to --report.
constexpr llvm::StringLiteral kAccumulatesGradientAttr =
    GraphDialect::AccumulatesGradientAttrHelper::getNameStr();
/// Module (positive): the bytes per rank sp-rematerialize fitted the step into.
constexpr llvm::StringLiteral kMemoryBudgetAttr =
    GraphDialect::MemoryBudgetAttrHelper::getNameStr();
/// Any graph op: a copy that sp-rematerialize placed in the backward pass to
/// recompute a forward value instead of keeping it live. It also keeps CSE
/// from merging the copy back into the forward op.
constexpr llvm::StringLiteral kRecomputedAttr = GraphDialect::RecomputedAttrHelper::getNameStr();
/// Module ("bf16"): the precision policy sp-precision applied to the step.
constexpr llvm::StringLiteral kPrecisionAttr = GraphDialect::PrecisionAttrHelper::getNameStr();

// --- Sequence parallelism (sp-sequence-parallel) -----------------------------

/// Module: the ranks of the SPMD step (positive); absent on one rank.
constexpr llvm::StringLiteral kNumRanksAttr = GraphDialect::NumRanksAttrHelper::getNameStr();
/// Module: the sequence is laid out zigzag.
constexpr llvm::StringLiteral kZigzagAttr = GraphDialect::ZigzagAttrHelper::getNameStr();
/// Module: --sp-strategy=auto's prediction of each attention layout it could
/// run, `{chosen = "<layout>", "<layout>" = <f64 seconds>, ...}`: seconds of
/// attention per rank and step, forward and backward; --report turns them
/// into predicted step times.
constexpr llvm::StringLiteral kAttentionLayoutsAttr =
    GraphDialect::AttentionLayoutsAttrHelper::getNameStr();
/// Argument or result of @main: the dim split along the
/// sequence.
constexpr llvm::StringLiteral kShardAxisAttr = GraphDialect::ShardAxisAttrHelper::getNameStr();

} // namespace sp::graph

#endif // SP_DIALECT_GRAPH_IR_GRAPHATTRIBUTES_H
