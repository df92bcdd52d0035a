//===- MainFunction.h - the training step function @main ---------*- C++ -*-===//
//
// Every pass that builds the training step edits @main, the function the
// importer creates: one block ending in func.return.
//
//===----------------------------------------------------------------------===//

#ifndef SP_TRAINING_MAINFUNCTION_H
#define SP_TRAINING_MAINFUNCTION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace sp::training {

/// @main of `module`, or null after emitting an error on the module.
mlir::func::FuncOp getMainFunction(mlir::ModuleOp module);

/// Appends `value` to @main's results, returned by its func.return, with the
/// given result attributes.
void appendMainResult(mlir::func::FuncOp main, mlir::Value value,
                      llvm::ArrayRef<mlir::NamedAttribute> attributes);

} // namespace sp::training

#endif // SP_TRAINING_MAINFUNCTION_H
