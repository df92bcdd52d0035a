//===- InstructionIds.cpp - stable names of a step's instructions ---------===//

#include "sp/Plan/InstructionIds.h"
#include "sp/Dialect/Graph/IR/GraphLocations.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Plan/Passes.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
namespace graph = sp::graph;

namespace sp::planning {
#define GEN_PASS_DEF_ASSIGNINSTRUCTIONIDS
#include "sp/Plan/Passes.h.inc"
} // namespace sp::planning

namespace sp::planning {

namespace {

/// The first name in `location`, or "@main".
std::string getLocationName(Location location) {
  return graph::getLocationName(location).value_or("@main").str();
}

/// The op's kind in its id: a `*_start` is named after its synchronous form,
/// so that a scheduled collective keeps the id of the unscheduled one.
std::string getIdKind(Operation *op) {
  StringRef kind = op->getName().stripDialect();
  if (op->getNumResults() == 1 && llvm::isa<graph::FutureType>(op->getResult(0).getType()))
    kind.consume_back("_start");
  return kind.str();
}

} // namespace

StringRef getInstructionId(Operation *op) {
  auto id = op->getAttrOfType<StringAttr>(kInstructionIdAttr);
  return id ? id.getValue() : StringRef();
}

LogicalResult assignInstructionIds(func::FuncOp function) {
  llvm::StringSet<> used;
  SmallVector<Operation *> missing;
  for (Block &block : function.getBody()) {
    for (Operation &op : block) {
      if (op.hasTrait<OpTrait::IsTerminator>())
        continue;
      Attribute attribute = op.getAttr(kInstructionIdAttr);
      if (!attribute) {
        missing.push_back(&op);
        continue;
      }
      auto id = llvm::dyn_cast<StringAttr>(attribute);
      if (!id || id.getValue().empty())
        return op.emitOpError() << "has " << kInstructionIdAttr << " = " << attribute
                                << ", which is not a non-empty string";
      if (!used.insert(id.getValue()).second)
        return op.emitOpError() << "has instruction id '" << id.getValue()
                                << "', which an earlier op has already";
    }
  }
  MLIRContext *context = function.getContext();
  llvm::StringMap<unsigned> nextOrdinal;
  for (Operation *op : missing) {
    std::string id;
    auto wait = llvm::dyn_cast<graph::WaitOp>(op);
    Operation *start = wait ? wait.getFuture().getDefiningOp() : nullptr;
    if (start && !getInstructionId(start).empty()) {
      id = (getInstructionId(start) + "/wait").str();
      for (unsigned ordinal = 1; used.contains(id); ++ordinal)
        id = (getInstructionId(start) + "/wait#" + llvm::Twine(ordinal)).str();
    } else {
      std::string key = getLocationName(op->getLoc()) + ":" + getIdKind(op);
      unsigned &ordinal = nextOrdinal[key];
      do {
        id = ordinal == 0 ? key : key + "#" + std::to_string(ordinal);
        ++ordinal;
      } while (used.contains(id));
    }
    used.insert(id);
    op->setAttr(kInstructionIdAttr, StringAttr::get(context, id));
  }
  return success();
}

namespace {

struct AssignInstructionIdsPass
    : public impl::AssignInstructionIdsBase<AssignInstructionIdsPass> {
  void runOnOperation() override {
    if (failed(assignInstructionIds(getOperation())))
      signalPassFailure();
  }
};

} // namespace

} // namespace sp::planning
