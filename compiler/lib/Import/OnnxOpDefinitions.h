//===- OnnxOpDefinitions.h - ONNX operator versions and attributes --------===//
//
// Which definition (schema) of an operator of the default ONNX domain a model's
// opset selects, and the attributes that definition declares. The answers come
// from ONNX's own schema registry (`onnx::OpSchemaRegistry`), completed by the
// definitions of later opsets than the linked registry knows (Debian's libonnx
// 1.12 knows opsets up to 17) for the operators sp implements.
//
//===----------------------------------------------------------------------===//
#ifndef SP_IMPORT_ONNXOPDEFINITIONS_H
#define SP_IMPORT_ONNXOPDEFINITIONS_H

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace sp {

/// The newest opset of the default domain whose definitions the importer
/// knows (ONNX 1.23). Models importing a newer opset are refused: a newer
/// definition of an op could change what it means.
constexpr int64_t kNewestOnnxOpset = 28;

/// One attribute as an operator definition declares it.
struct OnnxAttributeSpec {
  onnx::AttributeProto::AttributeType type = onnx::AttributeProto::UNDEFINED;
  bool required = false;
};

/// The definition of an operator in effect at some opset.
struct OnnxOpDefinition {
  /// The opset that introduced this definition ("Softmax-13").
  int64_t sinceVersion = 0;
  llvm::StringMap<OnnxAttributeSpec> attributes;
};

/// The definition of `opType` (default domain) that `opset` selects, or none
/// where ONNX defines no such operator at that opset.
std::optional<OnnxOpDefinition> lookupOnnxOpDefinition(llvm::StringRef opType,
                                                       int64_t opset);

/// The first opset at which ONNX defines `opType`, or none if it never does
/// (up to kNewestOnnxOpset).
std::optional<int64_t> firstOnnxOpset(llvm::StringRef opType);

/// "INT", "STRING", ... as ONNX names attribute types.
llvm::StringRef onnxAttributeTypeName(onnx::AttributeProto::AttributeType type);

} // namespace sp

#endif // SP_IMPORT_ONNXOPDEFINITIONS_H
