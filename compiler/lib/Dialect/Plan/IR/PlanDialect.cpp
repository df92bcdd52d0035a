//===- PlanDialect.cpp - the plan dialect's attribute verifiers -----------===//

#include "sp/Dialect/Plan/IR/PlanAttributes.h"
#include "sp/Dialect/DiscardableAttributes.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace sp::planning;

#include "sp/Dialect/Plan/IR/PlanDialect.cpp.inc"

void PlanDialect::initialize() {}

namespace {

bool isNonNegativeI64(Attribute attribute) {
  auto integer = llvm::dyn_cast<IntegerAttr>(attribute);
  return integer && integer.getType().isSignlessInteger(64) && integer.getInt() >= 0;
}

/// An arena offset: non-negative, or -1 for a value outside the arena.
bool isArenaOffset(int64_t offset) { return offset >= -1; }

/// Where each plan.* name belongs, for the error on a misplaced one.
std::optional<llvm::StringRef> getPlacement(llvm::StringRef name) {
  if (name == kInstructionIdAttr || name == kOffsetsAttr)
    return llvm::StringRef("on an op other than the module");
  if (name == kArgumentOffsetAttr)
    return llvm::StringRef("on a function argument");
  if (name == kArenaBytesAttr)
    return llvm::StringRef("on the module");
  return std::nullopt;
}

LogicalResult unknownOrMisplaced(Operation *op, llvm::StringRef name, llvm::StringRef place) {
  return sp::refuseAttribute(op, "plan", name, place, getPlacement(name));
}

} // namespace

LogicalResult PlanDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  llvm::StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  if (llvm::isa<ModuleOp>(op)) {
    if (name == kArenaBytesAttr)
      return sp::expectAttributeKind(op, attribute, isNonNegativeI64(value), "a non-negative i64");
    return unknownOrMisplaced(op, name, "on the module");
  }
  if (name == kInstructionIdAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<StringAttr>(value), "a string");
  if (name == kOffsetsAttr) {
    auto offsets = llvm::dyn_cast<DenseI64ArrayAttr>(value);
    if (!offsets)
      return sp::expectAttributeKind(op, attribute, false, "a dense i64 array");
    if (offsets.size() != int64_t(op->getNumResults()))
      return op->emitOpError() << "attribute " << name << " has " << offsets.size()
                               << " offsets for " << op->getNumResults() << " results";
    if (!llvm::all_of(offsets.asArrayRef(), isArenaOffset))
      return sp::expectAttributeKind(op, attribute, false, "arena offsets (non-negative, or -1)");
    return success();
  }
  return unknownOrMisplaced(op, name, "on this op");
}

LogicalResult PlanDialect::verifyRegionArgAttribute(Operation *op, unsigned /*regionIndex*/,
                                                    unsigned /*argIndex*/,
                                                    NamedAttribute attribute) {
  if (attribute.getName() == kArgumentOffsetAttr) {
    auto offset = llvm::dyn_cast<IntegerAttr>(attribute.getValue());
    return sp::expectAttributeKind(op, attribute,
                      offset && offset.getType().isSignlessInteger(64) &&
                          isArenaOffset(offset.getInt()),
                      "an i64 arena offset (non-negative, or -1)");
  }
  return unknownOrMisplaced(op, attribute.getName().getValue(), "on an argument");
}

LogicalResult PlanDialect::verifyRegionResultAttribute(Operation *op, unsigned /*regionIndex*/,
                                                       unsigned /*resultIndex*/,
                                                       NamedAttribute attribute) {
  return unknownOrMisplaced(op, attribute.getName().getValue(), "on a result");
}
