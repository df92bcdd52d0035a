//===- GraphLocations.h - names in op locations -----------------*- C++ -*-===//
//
// The importer locates each op at a NameLoc of its ONNX node, and passes name
// the ops they build the same way; messages, plan locations and instruction
// ids all read that name back here.
//
//===----------------------------------------------------------------------===//
#ifndef SP_DIALECT_GRAPH_IR_GRAPHLOCATIONS_H
#define SP_DIALECT_GRAPH_IR_GRAPHLOCATIONS_H

#include "mlir/IR/Location.h"

#include <optional>

namespace sp::graph {

/// The first name in `location` (outermost first, as Location::walk visits),
/// or nullopt when it holds none.
std::optional<llvm::StringRef> getLocationName(mlir::Location location);

} // namespace sp::graph

#endif // SP_DIALECT_GRAPH_IR_GRAPHLOCATIONS_H
