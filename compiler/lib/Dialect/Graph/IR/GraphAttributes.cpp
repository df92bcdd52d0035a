//===- GraphAttributes.cpp - verifiers of the graph.* attributes ----------===//
//
// Checks each discardable attribute that GraphDialect.td declares: the kind it
// holds, any constraint beyond the kind, and where it may appear (module, op, region argument or region
// result). Any other `graph.*` name is an error that names it.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphAttributes.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/DiscardableAttributes.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;
using namespace sp::graph;

namespace {

bool isI64(Attribute attribute) {
  auto integer = llvm::dyn_cast<IntegerAttr>(attribute);
  return integer && integer.getType().isSignlessInteger(64);
}

bool isArrayOfStrings(Attribute attribute) {
  auto array = llvm::dyn_cast<ArrayAttr>(attribute);
  return array && llvm::all_of(array, [](Attribute element) {
           return llvm::isa<StringAttr>(element);
         });
}

/// Where each graph.* name belongs, for the error on a misplaced one.
std::optional<llvm::StringRef> getPlacement(llvm::StringRef name) {
  if (name == kNumRanksAttr || name == kZigzagAttr || name == kTokenInputAttr ||
      name == kVocabSizeAttr || name == kOptimizerAttr || name == kClipGradNormAttr ||
      name == kMicroBatchesAttr || name == kUnpaddedSequenceLengthAttr ||
      name == kMemoryBudgetAttr || name == kPrecisionAttr || name == kAttentionLayoutsAttr)
    return llvm::StringRef("on the module");
  if (name == kRecomputedAttr)
    return llvm::StringRef("on a graph op");
  if (name == kAccumulatesGradientAttr)
    return llvm::StringRef("on a graph.add or graph.div");
  if (name == kStateOfAttr || name == kStepCounterAttr)
    return llvm::StringRef("on an ml_program.global");
  if (name == kDimNamesAttr)
    return llvm::StringRef("on an argument of @main");
  if (name == kOnnxNameAttr || name == kShardAxisAttr)
    return llvm::StringRef("on an argument or result of @main");
  if (name == kLossAttr || name == kGradientOfAttr || name == kLearningRateAttr ||
      name == kGradientNormAttr)
    return llvm::StringRef("on a result of @main");
  return std::nullopt;
}

/// Argument and result attributes describe the step function, @main.
LogicalResult expectMain(Operation *op, llvm::StringRef name, llvm::StringRef place) {
  auto symbol = op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName());
  if (symbol && symbol.getValue() == "main")
    return success();
  return op->emitOpError() << "attribute " << name << " may appear " << place
                           << " of @main only";
}

LogicalResult unknownOrMisplaced(Operation *op, llvm::StringRef name, llvm::StringRef place) {
  return sp::refuseAttribute(op, "graph", name, place, getPlacement(name));
}

} // namespace

LogicalResult GraphDialect::verifyOperationAttribute(Operation *op, NamedAttribute attribute) {
  llvm::StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  if (llvm::isa<ModuleOp>(op)) {
    if (name == kNumRanksAttr) {
      auto ranks = llvm::dyn_cast<IntegerAttr>(value);
      if (!isI64(value) || ranks.getInt() < 1)
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a positive rank count (i64)";
      return success();
    }
    if (name == kZigzagAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<UnitAttr>(value), "a unit attribute");
    if (name == kTokenInputAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<StringAttr>(value), "a string");
    if (name == kVocabSizeAttr)
      return sp::expectAttributeKind(op, attribute, isI64(value), "an i64 integer");
    if (name == kOptimizerAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<DictionaryAttr>(value), "a dictionary");
    if (name == kClipGradNormAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<FloatAttr>(value), "a float");
    if (name == kMicroBatchesAttr) {
      auto count = llvm::dyn_cast<IntegerAttr>(value);
      if (!isI64(value) || count.getInt() < 2)
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a micro-batch count of at least 2 (i64)";
      return success();
    }
    if (name == kUnpaddedSequenceLengthAttr) {
      auto length = llvm::dyn_cast<IntegerAttr>(value);
      if (!isI64(value) || length.getInt() < 1)
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a positive sequence length (i64)";
      return success();
    }
    if (name == kPrecisionAttr) {
      auto precision = llvm::dyn_cast<StringAttr>(value);
      if (!precision || precision.getValue() != "bf16")
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a precision policy (\"bf16\")";
      return success();
    }
    if (name == kAttentionLayoutsAttr) {
      auto layouts = llvm::dyn_cast<DictionaryAttr>(value);
      bool wellFormed = layouts && llvm::isa_and_nonnull<StringAttr>(layouts.get("chosen")) &&
                        llvm::all_of(layouts, [](NamedAttribute entry) {
                          return entry.getName() == "chosen" ||
                                 llvm::isa<FloatAttr>(entry.getValue());
                        });
      if (!wellFormed)
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a dictionary of layouts' seconds with a chosen one";
      return success();
    }
    if (name == kMemoryBudgetAttr) {
      auto bytes = llvm::dyn_cast<IntegerAttr>(value);
      if (!isI64(value) || bytes.getInt() < 1)
        return op->emitOpError() << "attribute " << name << " = " << value
                                 << " is not a positive byte count (i64)";
      return success();
    }
    return unknownOrMisplaced(op, name, "on the module");
  }
  if (llvm::isa<mlir::ml_program::GlobalOp>(op)) {
    if (name == kStateOfAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<FlatSymbolRefAttr>(value),
                        "a flat symbol reference");
    if (name == kStepCounterAttr)
      return sp::expectAttributeKind(op, attribute, llvm::isa<UnitAttr>(value), "a unit attribute");
  }
  if (name == kRecomputedAttr && llvm::isa_and_nonnull<GraphDialect>(op->getDialect()))
    return sp::expectAttributeKind(op, attribute, llvm::isa<UnitAttr>(value), "a unit attribute");
  if (llvm::isa<AddOp, DivOp>(op) && name == kAccumulatesGradientAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<UnitAttr>(value), "a unit attribute");
  return unknownOrMisplaced(op, name, "on this op");
}

LogicalResult GraphDialect::verifyRegionArgAttribute(Operation *op, unsigned /*regionIndex*/,
                                                     unsigned /*argIndex*/,
                                                     NamedAttribute attribute) {
  llvm::StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  if (getPlacement(name) && failed(expectMain(op, name, "on an argument")))
    return failure();
  if (name == kOnnxNameAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<StringAttr>(value), "a string");
  if (name == kDimNamesAttr)
    return sp::expectAttributeKind(op, attribute, isArrayOfStrings(value), "an array of strings");
  if (name == kShardAxisAttr)
    return sp::expectAttributeKind(op, attribute, isI64(value), "an i64 integer");
  return unknownOrMisplaced(op, name, "on an argument");
}

LogicalResult GraphDialect::verifyRegionResultAttribute(Operation *op, unsigned /*regionIndex*/,
                                                        unsigned /*resultIndex*/,
                                                        NamedAttribute attribute) {
  llvm::StringRef name = attribute.getName().getValue();
  Attribute value = attribute.getValue();
  if (getPlacement(name) && failed(expectMain(op, name, "on a result")))
    return failure();
  if (name == kOnnxNameAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<StringAttr>(value), "a string");
  if (name == kShardAxisAttr)
    return sp::expectAttributeKind(op, attribute, isI64(value), "an i64 integer");
  if (name == kLossAttr || name == kLearningRateAttr || name == kGradientNormAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<UnitAttr>(value), "a unit attribute");
  if (name == kGradientOfAttr)
    return sp::expectAttributeKind(op, attribute, llvm::isa<FlatSymbolRefAttr>(value),
                      "a flat symbol reference");
  return unknownOrMisplaced(op, name, "on a result");
}
