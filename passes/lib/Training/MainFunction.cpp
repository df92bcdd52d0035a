//===- MainFunction.cpp - the training step function @main ----------------===//

#include "sp/Training/MainFunction.h"

using namespace mlir;

namespace sp::training {

func::FuncOp getMainFunction(ModuleOp module) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal() || !llvm::hasSingleElement(main.getBody())) {
    module.emitError("expected a function @main with one block, as sp-compile imports it");
    return nullptr;
  }
  return main;
}

void appendMainResult(func::FuncOp main, Value value,
                      ArrayRef<NamedAttribute> attributes) {
  auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
  unsigned index = main.getNumResults();
  returnOp->insertOperands(returnOp->getNumOperands(), value);
  // Fails only for an index past the end, which `index` is not.
  (void)main.insertResult(index, value.getType(),
                          DictionaryAttr::get(main.getContext(), attributes));
}

} // namespace sp::training
