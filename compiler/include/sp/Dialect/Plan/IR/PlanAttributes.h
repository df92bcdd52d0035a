//===- PlanAttributes.h - names of the plan.* attributes --------*- C++ -*-===//
//
// Constant names for the plan.* discardable attributes, each declared once,
// with its kind, in PlanDialect.td's `discardableAttrs`; PlanDialect
// (PlanDialect.cpp) verifies kinds, values and places.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_PLAN_IR_PLANATTRIBUTES_H
#define SP_DIALECT_PLAN_IR_PLANATTRIBUTES_H

#include "sp/Dialect/Plan/IR/PlanDialect.h"

#include "llvm/ADT/StringRef.h"

namespace sp::planning {

/// Any op but the module: the op's instruction id.
constexpr llvm::StringLiteral kInstructionIdAttr = PlanDialect::IdAttrHelper::getNameStr();
/// Any op but the module, one entry per result: the arena offset of each
/// result, -1 where a result is not in the arena.
constexpr llvm::StringLiteral kOffsetsAttr = PlanDialect::OffsetsAttrHelper::getNameStr();
/// Function argument: its arena offset, -1 where it is not in the arena.
constexpr llvm::StringLiteral kArgumentOffsetAttr = PlanDialect::OffsetAttrHelper::getNameStr();
/// Module: the arena's size in bytes.
constexpr llvm::StringLiteral kArenaBytesAttr = PlanDialect::ArenaBytesAttrHelper::getNameStr();

} // namespace sp::planning

#endif // SP_DIALECT_PLAN_IR_PLANATTRIBUTES_H
