//===- Passes.h - reverse-mode differentiation ------------------*- C++ -*-===//

#ifndef SP_AUTODIFF_PASSES_H
#define SP_AUTODIFF_PASSES_H

#include "sp/Dialect/Graph/IR/GraphDialect.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Pass/Pass.h"

namespace sp::autodiff {

#define GEN_PASS_DECL
#include "sp/Autodiff/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sp/Autodiff/Passes.h.inc"

} // namespace sp::autodiff

#endif // SP_AUTODIFF_PASSES_H
