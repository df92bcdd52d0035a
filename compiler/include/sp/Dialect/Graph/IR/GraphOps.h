//===- GraphOps.h - graph dialect operations --------------------*- C++ -*-===//
#ifndef SP_DIALECT_GRAPH_IR_GRAPHOPS_H
#define SP_DIALECT_GRAPH_IR_GRAPHOPS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphFolding.h"
#include "sp/Semantics/Collectives.h"

namespace sp::graph {

/// The collectives of GraphCollectives.td, by how they shape their result
/// (sp/Semantics/Collectives.h, shared with the runtime's kernels).
using CollectiveKind = ::sp::semantics::CollectiveKind;

/// Settings of one collective; `axis` is the split axis of all_to_all.
struct CollectiveShape {
  int64_t axis = 0;
  int64_t concatAxis = 0;
  int64_t numRanks = 1;
};

/// The synchronous result type of a collective of `kind` on `input`.
mlir::FailureOr<mlir::RankedTensorType>
inferCollectiveType(CollectiveKind kind, std::optional<mlir::Location> location,
                    mlir::Type input, const CollectiveShape &shape);

/// The types of attention's output and logsumexp, after checking that query
/// [..., Hq, Sq, D], key [..., Hkv, Sk, D], value [..., Hkv, Sk, Dv] and the
/// optional bias fit together (attention and block_attention).
llvm::LogicalResult inferAttentionTypes(std::optional<mlir::Location> location,
                                        mlir::Value query, mlir::Value key, mlir::Value value,
                                        mlir::Value bias,
                                        llvm::SmallVectorImpl<mlir::Type> &types);

/// The types of an attention gradient op's (query, key, value) gradients,
/// after checking that the forward values it reads — output and output
/// gradient, logsumexp and, where the op takes one, its gradient — have the
/// forward op's types `forward` (output, logsumexp). `opName` names the op in
/// messages.
llvm::LogicalResult inferAttentionGradTypes(
    std::optional<mlir::Location> location, llvm::StringRef opName,
    llvm::ArrayRef<mlir::Type> forward, mlir::Value query, mlir::Value key, mlir::Value value,
    mlir::Value output, mlir::Value outputGrad, mlir::Value logsumexp,
    mlir::Value logsumexpGrad, llvm::SmallVectorImpl<mlir::Type> &types);

/// The names of the attributes that shape the probabilities of the attention
/// ops besides scale, causal and bias: the band mask, the dropout and the
/// soft-cap (Graph_AttentionMaskAttrs in GraphDialect.td).
inline constexpr llvm::StringLiteral kAttentionMaskAttributes[] = {
    "band_lower",          "band_upper",         "band_fill",
    "dropout_ratio",       "dropout_site",       "dropout_micro_batch",
    "dropout_sequence_length", "dropout_head_ranks", "softcap"};
/// The band mask, dropout and soft-cap attributes `op` carries, to put on an
/// op made from it (its gradient, its sequence-parallel form).
llvm::SmallVector<mlir::NamedAttribute> getAttentionMaskAttributes(mlir::Operation *op);
/// Checks `op`'s band mask (bounds only with a fill, the lower at most the
/// upper), dropout (a ratio in [0, 1] with a site; the rest only with a
/// ratio, and positive) and soft-cap (positive and finite).
llvm::LogicalResult verifyAttentionMasks(mlir::Operation *op);

/// Why a learning-rate schedule (GraphOps.td, graph.lr_schedule) with these
/// settings is invalid, as a phrase for a message; empty when it is valid.
/// sp-compile's flags, sp-insert-optimizer's options and the op's verifier
/// all ask this.
std::string describeLRScheduleProblem(llvm::StringRef kind, int64_t warmupSteps,
                                      int64_t totalSteps, double learningRate,
                                      double minLearningRate);

/// A shape as "[2, ?, 4]", for messages.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// Same count, same element types, and shapes that agree where both are known.
bool areCompatibleResultTypes(mlir::TypeRange inferred, mlir::TypeRange actual);

/// Result type of an element-wise binary op of `kind` on `lhs` and `rhs`.
llvm::LogicalResult inferBroadcastBinaryType(
    BinaryKind kind, std::optional<mlir::Location> location, mlir::Type lhs,
    mlir::Type rhs, llvm::SmallVectorImpl<mlir::Type> &types);
llvm::LogicalResult verifyBroadcastBinary(BinaryKind kind, mlir::Operation *op);
llvm::LogicalResult verifyUnary(UnaryKind kind, mlir::Operation *op);

/// The values of a 1-D integer tensor, each known where it is a compile-time
/// constant: a constant, or a concatenation whose pieces are partly constant
/// (shape vectors built from `graph.shape` pieces and literal dims).
std::optional<llvm::SmallVector<std::optional<int64_t>>>
getPartialIntValues(mlir::Value value);
/// The values of an integer tensor when all of it is a compile-time constant.
std::optional<llvm::SmallVector<int64_t>> getConstantIntValues(mlir::Value value);

} // namespace sp::graph

#define GET_TYPEDEF_CLASSES
#include "sp/Dialect/Graph/IR/GraphOpsTypes.h.inc"

#define GET_OP_CLASSES
#include "sp/Dialect/Graph/IR/GraphOps.h.inc"

#endif // SP_DIALECT_GRAPH_IR_GRAPHOPS_H
