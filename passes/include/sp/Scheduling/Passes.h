//===- Passes.h - overlap of communication with compute ----------*- C++ -*-===//

#ifndef SP_SCHEDULING_PASSES_H
#define SP_SCHEDULING_PASSES_H

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Scheduling/CostModel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace sp::scheduling {

#define GEN_PASS_DECL
#include "sp/Scheduling/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Scheduling/Passes.h.inc"

} // namespace sp::scheduling

#endif // SP_SCHEDULING_PASSES_H
