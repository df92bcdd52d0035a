//===- GraphLocations.cpp - names in op locations -------------------------===//

#include "sp/Dialect/Graph/IR/GraphLocations.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Location.h"

using namespace mlir;

std::optional<llvm::StringRef> sp::graph::getLocationName(Location location) {
  std::optional<llvm::StringRef> name;
  location->walk([&](Location inner) {
    if (auto named = llvm::dyn_cast<NameLoc>(inner)) {
      name = named.getName().getValue();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return name;
}
