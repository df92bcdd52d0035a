//===- GraphOps.h - graph dialect operations --------------------*- C++ -*-===//
#ifndef SP_DIALECT_GRAPH_IR_GRAPHOPS_H
#define SP_DIALECT_GRAPH_IR_GRAPHOPS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphFolding.h"

namespace sp::graph {

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

#define GET_OP_CLASSES
#include "sp/Dialect/Graph/IR/GraphOps.h.inc"

#endif // SP_DIALECT_GRAPH_IR_GRAPHOPS_H
