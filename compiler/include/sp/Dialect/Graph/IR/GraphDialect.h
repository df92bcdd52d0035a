//===- GraphDialect.h - the graph dialect -----------------------*- C++ -*-===//
#ifndef SP_DIALECT_GRAPH_IR_GRAPHDIALECT_H
#define SP_DIALECT_GRAPH_IR_GRAPHDIALECT_H

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Dialect.h"

#include "sp/Dialect/Graph/IR/GraphOpsDialect.h.inc"

#endif // SP_DIALECT_GRAPH_IR_GRAPHDIALECT_H
