//===- GraphDialect.cpp - the graph dialect --------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

using namespace mlir;
using namespace sp::graph;

#include "sp/Dialect/Graph/IR/GraphOpsDialect.cpp.inc"

void GraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "sp/Dialect/Graph/IR/GraphOps.cpp.inc"
      >();
}
