//===- GraphFolding.h - compile-time evaluation of graph ops ----*- C++ -*-===//
//
// Shapes, position ranges and masks are computed in the graph from the input
// shape. Once the shape is bound they are compile-time values; these helpers
// evaluate the graph ops on constant operands so that the folder can replace
// them by constants.
//
//===----------------------------------------------------------------------===//
#ifndef SP_DIALECT_GRAPH_IR_GRAPHFOLDING_H
#define SP_DIALECT_GRAPH_IR_GRAPHFOLDING_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include <cstdint>
#include <optional>
#include <vector>

namespace sp::graph {

/// Folding stops at this many result elements: a bigger constant costs more
/// compile time and memory than computing it at run time.
constexpr int64_t kMaxFoldedElements = int64_t(1) << 24;

/// A constant tensor unpacked into host memory. Floats are held as double and
/// integers (i1 included) as int64, whatever their storage type.
struct HostTensor {
  mlir::RankedTensorType type;
  bool isFloat = false;
  std::vector<double> floats;
  std::vector<int64_t> ints;

  /// Unpacks a dense constant of a float or integer element type.
  static std::optional<HostTensor> fromAttr(mlir::Attribute attr);
  /// An empty tensor of `type` ready to be filled.
  static HostTensor zeros(mlir::RankedTensorType type);
  /// Packs the values back into an attribute of `type`.
  mlir::DenseElementsAttr toAttr() const;

  int64_t numElements() const { return type.getNumElements(); }
  double getAsDouble(int64_t i) const { return isFloat ? floats[i] : double(ints[i]); }
  int64_t getAsInt(int64_t i) const { return isFloat ? int64_t(floats[i]) : ints[i]; }
  /// Stores `value` converted to the element type (integers truncate, i1 is != 0).
  void set(int64_t i, double value);
  void setInt(int64_t i, int64_t value);
  void copyElement(int64_t to, const HostTensor &from, int64_t fromIndex);
};

enum class BinaryKind {
  Add, Sub, Mul, Div, Max, Min, Pow,
  Mod, FMod,
  Equal, Less, LessEqual, Greater, GreaterEqual,
  And, Or, Xor
};
enum class UnaryKind {
  Neg, Abs, Sqrt, Reciprocal, Exp, Log, Tanh, Sigmoid, Erf, Cos, Sin, Relu, Not,
  Floor, Ceil
};

/// Calls `visit(resultIndex, operandIndices)` for every element of a NumPy
/// broadcast of operands with `operandShapes` into `resultShape`.
void forEachBroadcastElement(
    llvm::ArrayRef<int64_t> resultShape,
    llvm::ArrayRef<llvm::ArrayRef<int64_t>> operandShapes,
    llvm::function_ref<void(int64_t, llvm::ArrayRef<int64_t>)> visit);

mlir::Attribute foldBinary(BinaryKind kind, mlir::Attribute lhs,
                           mlir::Attribute rhs, mlir::Type resultType);
mlir::Attribute foldUnary(UnaryKind kind, mlir::Attribute input,
                          mlir::Type resultType);

/// Strides of a row-major shape.
llvm::SmallVector<int64_t> rowMajorStrides(llvm::ArrayRef<int64_t> shape);

} // namespace sp::graph

#endif // SP_DIALECT_GRAPH_IR_GRAPHFOLDING_H
