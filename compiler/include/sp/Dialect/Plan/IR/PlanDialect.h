//===- PlanDialect.h - the plan dialect and its attribute names -*- C++ -*-===//
//
// The plan dialect has no ops; it owns and verifies the plan.* discardable
// attributes (PlanDialect.td), whose names PlanAttributes.h gives constants.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_PLAN_IR_PLANDIALECT_H
#define SP_DIALECT_PLAN_IR_PLANDIALECT_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/Operation.h"

#include "sp/Dialect/Plan/IR/PlanDialect.h.inc"

#endif // SP_DIALECT_PLAN_IR_PLANDIALECT_H
