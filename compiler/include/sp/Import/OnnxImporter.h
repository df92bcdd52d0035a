//===- OnnxImporter.h - ONNX model to graph dialect -------------*- C++ -*-===//
//
// Reads an ONNX model (protobuf, weights inline or in external-data files)
// into a module: one `ml_program.global` per float initializer of rank >= 1
// (the named weights) and `func.func @main` holding the graph in the graph
// dialect. Values computable at compile time are folded as they are built.
//
//===----------------------------------------------------------------------===//
#ifndef SP_IMPORT_ONNXIMPORTER_H
#define SP_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include "sp/Dialect/Graph/IR/GraphAttributes.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sp {

struct OnnxImportOptions {
  /// Static shapes for graph inputs, by input name. They bind the input's
  /// symbolic dims everywhere else they appear too.
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// The module becomes a plan for the CPU runtime: nodes that compute on
  /// element types its kernels lack (f16, bf16) are refused now rather than
  /// by sp-run.
  bool forCpuPlan = false;
  /// Slices of the batch a training step accumulates (--micro-batches): every
  /// graph input's dim 0 is its batch, a symbolic dim that --input-shape
  /// binds to the whole batch, and the module holds one slice of it, the
  /// batch divided by this. sp-micro-batches makes the step whole again.
  int64_t microBatches = 1;
  /// Sequence chunks the ranks split (sp-compile --sp: N, or 2N for the
  /// ring's zigzag layout). When the length --input-shape gives the token
  /// input's symbolic sequence dim is not a multiple of this, the dim is
  /// bound to the next multiple instead and the module records the given
  /// length (graph.unpadded_sequence_length): the positions past it are
  /// padding.
  int64_t sequenceMultiple = 1;
};

/// Among several [batch, sequence] integer inputs, the token input's name.
constexpr llvm::StringLiteral kPreferredTokenInputName = "input_ids";

/// Parses `NAME=DxDx...` as given to --input-shape.
llvm::Error parseInputShape(llvm::StringRef text, OnnxImportOptions &options);

/// Imports the model at `path`. On failure the error is one line naming the
/// file and, where it applies, the node, its op type and opset.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importOnnxModel(mlir::MLIRContext &context, llvm::StringRef path,
                const OnnxImportOptions &options);

/// Attribute names the importer sets on @main's arguments and results,
/// declared in GraphAttributes.h.
using sp::graph::kDimNamesAttr;
using sp::graph::kOnnxNameAttr;

} // namespace sp

#endif // SP_IMPORT_ONNXIMPORTER_H
