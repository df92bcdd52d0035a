//===- GradientBuilder.h - building gradient ops ----------------*- C++ -*-===//
//
// What gradient rules build their ops with. Every op is created with
// placeholder result types, then inferred, verified and folded, as the ONNX
// importer does: MLIR's generated builders abort when inference fails,
// whereas a rule must end in a diagnostic. A failure is sticky: later calls
// return null values, and the pass checks `hasFailed()` after each rule, so
// rules read as straight-line math.
//
//===----------------------------------------------------------------------===//

#ifndef SP_AUTODIFF_GRADIENTBUILDER_H
#define SP_AUTODIFF_GRADIENTBUILDER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseSet.h"

namespace sp::autodiff {

class GradientBuilder : public mlir::OpBuilder {
public:
  /// Builds before `insertionPoint`. Operands outside `active` need no
  /// gradient; without a set, every float operand does.
  GradientBuilder(mlir::Operation *insertionPoint,
                  const llvm::DenseSet<mlir::Value> *active = nullptr);

  /// The location of the ops built next: the forward op's, so that errors
  /// and profiles of the backward pass point at the ONNX node.
  void setLoc(mlir::Location location) { loc = location; }
  mlir::Location getLoc() const { return loc; }

  /// Whether the pass wants the gradient of this operand.
  bool needsGradient(mlir::Value operand) const;
  /// Whether building some op failed (a diagnostic was reported).
  bool hasFailed() const { return failedToBuild; }

  //===--------------------------------------------------------------------===//
  // Creating ops: null results after a failure or when an operand is null.
  //===--------------------------------------------------------------------===//

  /// An op whose result types are inferred.
  llvm::SmallVector<mlir::Value> buildInferred(llvm::StringRef name,
                                               mlir::ValueRange operands,
                                               llvm::ArrayRef<mlir::NamedAttribute> attrs,
                                               unsigned numResults);
  /// An op of the given result types (for ops that cannot infer them).
  llvm::SmallVector<mlir::Value> buildTyped(llvm::StringRef name, mlir::TypeRange types,
                                            mlir::ValueRange operands,
                                            llvm::ArrayRef<mlir::NamedAttribute> attrs);

  template <typename OpTy>
  mlir::Value build(mlir::ValueRange operands,
                    llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    return first(buildInferred(OpTy::getOperationName(), operands, attrs, 1));
  }
  template <typename OpTy>
  mlir::Value buildWithType(mlir::Type type, mlir::ValueRange operands,
                            llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    return first(buildTyped(OpTy::getOperationName(), type, operands, attrs));
  }

  //===--------------------------------------------------------------------===//
  // Constants
  //===--------------------------------------------------------------------===//

  /// A rank-0 tensor of `elementType` holding `value`.
  mlir::Value scalar(mlir::Type elementType, double value);
  /// `type` filled with `value`.
  mlir::Value splat(mlir::RankedTensorType type, double value);
  mlir::Value zeros(mlir::Type type) {
    return splat(llvm::cast<mlir::RankedTensorType>(type), 0.0);
  }
  /// A 1-D i64 tensor, as shape operands take.
  mlir::Value i64Vector(llvm::ArrayRef<int64_t> values);

  //===--------------------------------------------------------------------===//
  // Arithmetic (NumPy broadcasting)
  //===--------------------------------------------------------------------===//

  mlir::Value add(mlir::Value lhs, mlir::Value rhs);
  mlir::Value sub(mlir::Value lhs, mlir::Value rhs);
  mlir::Value mul(mlir::Value lhs, mlir::Value rhs);
  mlir::Value div(mlir::Value lhs, mlir::Value rhs);
  mlir::Value neg(mlir::Value value);
  mlir::Value where(mlir::Value condition, mlir::Value onTrue, mlir::Value onFalse);
  /// `value` times the constant `factor` (of its element type).
  mlir::Value scale(mlir::Value value, double factor);

  //===--------------------------------------------------------------------===//
  // Shapes
  //===--------------------------------------------------------------------===//

  /// `value` reshaped to `type`'s shape; `value` itself when already of it.
  mlir::Value reshape(mlir::Value value, mlir::RankedTensorType type);
  /// `value` broadcast to `type`'s shape.
  mlir::Value expand(mlir::Value value, mlir::RankedTensorType type);
  mlir::Value transpose(mlir::Value value, llvm::ArrayRef<int64_t> perm);
  /// `value` with its last two dims swapped.
  mlir::Value transposeLastTwo(mlir::Value value);
  mlir::Value cast(mlir::Value value, mlir::Type elementType);
  /// Sum over `axes` (sorted, unique).
  mlir::Value reduceSum(mlir::Value value, llvm::ArrayRef<int64_t> axes, bool keepDims);

  /// The gradient of an operand that was broadcast to `gradient`'s shape:
  /// summed over the dims that broadcasting added or stretched, and shaped
  /// like `type`. The one place that undoes NumPy broadcasting.
  mlir::Value reduceToShape(mlir::Value gradient, mlir::RankedTensorType type);

  /// Builds the attention gradient op `name` on `operands`, whose first three
  /// results are the gradients of `op`'s first three operands (query, key,
  /// value), and sets those of `operandGrads` that need one. Shared by every
  /// attention form (fused, block, ring).
  mlir::LogicalResult buildQueryKeyValueGrads(mlir::Operation *op, llvm::StringRef name,
                                              mlir::ValueRange operands,
                                              llvm::ArrayRef<mlir::NamedAttribute> attrs,
                                              llvm::SmallVectorImpl<mlir::Value> &operandGrads);

private:
  static mlir::Value first(llvm::ArrayRef<mlir::Value> values) {
    return values.empty() ? mlir::Value() : values.front();
  }
  llvm::SmallVector<mlir::Value> finish(mlir::Operation *op);
  llvm::SmallVector<mlir::Value> fail(mlir::Operation *op, const llvm::Twine &message);
  bool canBuild(llvm::StringRef name, mlir::ValueRange operands);

  mlir::Location loc;
  const llvm::DenseSet<mlir::Value> *active;
  bool failedToBuild = false;
};

} // namespace sp::autodiff

#endif // SP_AUTODIFF_GRADIENTBUILDER_H
