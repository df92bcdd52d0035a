//===- PlanAttributes.h - names of the plan.* attributes --------*- C++ -*-===//
//
// The one definition of each plan.* discardable attribute name, with the kind
// it holds and where it may appear; PlanDialect (PlanDialect.cpp) verifies
// both. Header-only, so that readers need not link the dialect.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PLAN_PLANATTRIBUTES_H
#define SP_PLAN_PLANATTRIBUTES_H

#include "llvm/ADT/StringRef.h"

namespace sp::planning {

/// Any op but the module (StringAttr): the op's instruction id.
constexpr llvm::StringLiteral kInstructionIdAttr = "plan.id";
/// Any op but the module (DenseI64ArrayAttr, one entry per result): the arena
/// offset of each result, -1 where a result is not in the arena.
constexpr llvm::StringLiteral kOffsetsAttr = "plan.offsets";
/// Function argument (i64 IntegerAttr): its arena offset, -1 where it is not
/// in the arena.
constexpr llvm::StringLiteral kArgumentOffsetAttr = "plan.offset";
/// Module (non-negative i64 IntegerAttr): the arena's size in bytes.
constexpr llvm::StringLiteral kArenaBytesAttr = "plan.arena_bytes";

} // namespace sp::planning

#endif // SP_PLAN_PLANATTRIBUTES_H
