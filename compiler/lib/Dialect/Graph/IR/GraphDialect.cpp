//===- GraphDialect.cpp - the graph dialect --------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Dialect/Plan/IR/PlanDialect.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace sp::graph;

#include "sp/Dialect/Graph/IR/GraphOpsDialect.cpp.inc"

#define GET_TYPEDEF_CLASSES
#include "sp/Dialect/Graph/IR/GraphOpsTypes.cpp.inc"

void GraphDialect::initialize() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "sp/Dialect/Graph/IR/GraphOpsTypes.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "sp/Dialect/Graph/IR/GraphOps.cpp.inc"
      >();
}
