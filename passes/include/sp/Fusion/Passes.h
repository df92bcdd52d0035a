//===- Passes.h - fusion of decomposed ops ----------------------*- C++ -*-===//

#ifndef SP_FUSION_PASSES_H
#define SP_FUSION_PASSES_H

#include "sp/Dialect/Graph/IR/GraphDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace sp::fusion {

#define GEN_PASS_DECL
#include "sp/Fusion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Fusion/Passes.h.inc"

} // namespace sp::fusion

#endif // SP_FUSION_PASSES_H
