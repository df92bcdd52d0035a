//===- Passes.h - lowering a compiled module to a plan ----------*- C++ -*-===//

#ifndef SP_PLAN_PASSES_H
#define SP_PLAN_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Pass/Pass.h"

namespace sp::planning {

#define GEN_PASS_DECL
#include "sp/Plan/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Plan/Passes.h.inc"

} // namespace sp::planning

#endif // SP_PLAN_PASSES_H
