//===- DiscardableAttributes.h - verifying a dialect's attributes -*- C++ -*-===//
//
// The diagnostics the graph and plan dialects give for their discardable
// attributes (GraphAttributes.cpp, PlanDialect.cpp), worded once.
//
//===----------------------------------------------------------------------===//
#ifndef SP_DIALECT_DISCARDABLEATTRIBUTES_H
#define SP_DIALECT_DISCARDABLEATTRIBUTES_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/StringRef.h"

#include <optional>

namespace sp {

/// Success when `matches`, else "attribute NAME = VALUE must be KIND".
inline mlir::LogicalResult expectAttributeKind(mlir::Operation *op,
                                               mlir::NamedAttribute attribute, bool matches,
                                               llvm::StringRef kind) {
  if (matches)
    return mlir::success();
  return op->emitOpError() << "attribute " << attribute.getName().getValue() << " = "
                           << attribute.getValue() << " must be " << kind;
}

/// The error for a `dialect` attribute found `place` ("on the module", "on an
/// argument"): where it belongs when `allowed` knows, else that it is unknown.
inline mlir::LogicalResult refuseAttribute(mlir::Operation *op, llvm::StringRef dialect,
                                           llvm::StringRef name, llvm::StringRef place,
                                           std::optional<llvm::StringRef> allowed) {
  if (allowed)
    return op->emitOpError() << "attribute " << name << " may not appear " << place
                             << "; it belongs " << *allowed;
  return op->emitOpError() << "has unknown " << dialect << " dialect attribute " << name;
}

} // namespace sp

#endif // SP_DIALECT_DISCARDABLEATTRIBUTES_H
