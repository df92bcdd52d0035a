//===- PlanDialect.td - attributes of plan lowering ---------*- tablegen -*-===//
//
// A dialect without ops: it owns the plan.* discardable attributes that
// instruction numbering and memory planning leave on graph IR for plan
// emission, so that they are verified like any dialect attribute.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PLAN_PLANDIALECT_TD
#define SP_PLAN_PLANDIALECT_TD

include "mlir/IR/OpBase.td"

def Plan_Dialect : Dialect {
  let name = "plan";
  let cppNamespace = "::sp::planning";
  let summary = "Discardable attributes of plan lowering";
  let description = [{
    No operations. The attributes, named in sp/Plan/PlanDialect.h:
    `plan.id` (string, any op but the module): the instruction id;
    `plan.offsets` (dense i64 array, any op but the module): arena offset of
    each result, -1 where a result is not in the arena;
    `plan.offset` (i64, function argument): the argument's arena offset, or
    -1; `plan.arena_bytes` (non-negative i64, module): the arena's size.
  }];
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

#endif // SP_PLAN_PLANDIALECT_TD
