//===- PlanDialect.td - attributes of plan lowering ---------*- tablegen -*-===//
//
// A dialect without ops: it owns the plan.* discardable attributes that
// instruction numbering and memory planning leave on graph IR for plan
// emission, so that they are verified like any dialect attribute.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_PLAN_IR_PLANDIALECT_TD
#define SP_DIALECT_PLAN_IR_PLANDIALECT_TD

include "mlir/IR/OpBase.td"

def Plan_Dialect : Dialect {
  let name = "plan";
  let cppNamespace = "::sp::planning";
  let summary = "Discardable attributes of plan lowering";
  let description = [{
    No operations: the plan.* discardable attributes, verified by the dialect
    (PlanDialect.cpp) for their kind, their values and where they appear.
  }];
  let discardableAttrs = (ins
    // Any op but the module: the op's instruction id.
    "::mlir::StringAttr":$id,
    // Any op but the module, one entry per result: the arena offset of each
    // result, -1 where a result is not in the arena.
    "::mlir::DenseI64ArrayAttr":$offsets,
    // Function argument (i64): its arena offset, -1 where it is not in the
    // arena.
    "::mlir::IntegerAttr":$offset,
    // Module (non-negative i64): the arena's size in bytes.
    "::mlir::IntegerAttr":$arena_bytes
  );
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

#endif // SP_DIALECT_PLAN_IR_PLANDIALECT_TD
