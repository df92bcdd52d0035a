//===- OnnxOpDefinitions.cpp - ONNX operator versions and attributes ------===//

#include "OnnxOpDefinitions.h"

#include <onnx/defs/schema.h>

#include <algorithm>
#include <vector>

namespace sp {

namespace {

using AttrType = onnx::AttributeProto::AttributeType;

/// A definition, newer than the linked registry knows, of an operator that sp
/// implements; from ONNX's operator changelog up to kNewestOnnxOpset. Most
/// only widen the element types; where the attributes changed, the entry lists
/// them all.
struct LaterDefinition {
  const char *opType;
  int64_t sinceVersion;
  bool attributesChanged = false;
  std::vector<std::pair<const char *, OnnxAttributeSpec>> attributes = {};
};

const std::vector<LaterDefinition> &laterDefinitions() {
  constexpr AttrType kInt = onnx::AttributeProto::INT;
  constexpr AttrType kString = onnx::AttributeProto::STRING;
  constexpr AttrType kFloat = onnx::AttributeProto::FLOAT;
  static const std::vector<LaterDefinition> definitions = [] {
    std::vector<LaterDefinition> list = {
        {"Split", 18, true, {{"axis", {kInt}}, {"num_outputs", {kInt}}}},
        {"ReduceMean", 18, true, {{"keepdims", {kInt}}, {"noop_with_empty_axes", {kInt}}}},
        {"ReduceMax", 18, true, {{"keepdims", {kInt}}, {"noop_with_empty_axes", {kInt}}}},
        {"Equal", 19},
        {"Cast", 19, true, {{"to", {kInt, true}}, {"saturate", {kInt}}}},
        {"CastLike", 19, true, {{"saturate", {kInt}}}},
        {"Gelu", 20, true, {{"approximate", {kString}}}},
        {"IsNaN", 20},
        {"IsInf", 20},
        {"ReduceMax", 20},
        {"Dropout", 22},
        {"Cos", 22},
        {"Sin", 22},
        {"SplitToSequence", 24},
        {"Cast", 24, true,
         {{"to", {kInt, true}}, {"saturate", {kInt}}, {"round_mode", {kString}}}},
        {"CastLike", 24, true, {{"saturate", {kInt}}, {"round_mode", {kString}}}},
        {"Range", 27, true, {{"stash_type", {kInt}}}},
        {"Mod", 28},
        {"Cast", 28},
        {"ReduceMin", 20},
        {"Mish", 18, true},
        {"Swish", 24, true, {{"alpha", {kFloat}}}},
        {"Celu", 28},
    };
    for (const char *opType : {"ReduceMin", "ReduceSumSquare", "ReduceL1", "ReduceL2",
                               "ReduceLogSum", "ReduceLogSumExp"})
      list.push_back(
          {opType, 18, true, {{"keepdims", {kInt}}, {"noop_with_empty_axes", {kInt}}}});
    for (const char *opType : {"ReduceLogSum", "ReduceLogSumExp"})
      list.push_back({opType, 28});
    for (const char *opType : {"Elu", "Selu", "HardSigmoid", "Softsign", "ThresholdedRelu",
                               "Softplus", "HardSwish", "Mish", "Tan"})
      list.push_back({opType, 22});
    // Definitions that only widened the element types, at each of these opsets.
    for (const char *opType : {"Identity", "Constant", "Shape", "Reshape", "Size"})
      list.push_back({opType, 19});
    for (const char *opType : {"ConstantOfShape"})
      list.push_back({opType, 20});
    for (int64_t version : {21, 23, 24, 25}) {
      for (const char *opType : {"Flatten", "Identity", "Constant", "Shape",
                                 "ConstantOfShape", "Reshape", "Transpose", "Unsqueeze",
                                 "Squeeze", "Size"})
        list.push_back({opType, version});
      if (version != 24)
        for (const char *opType : {"Cast", "CastLike"})
          list.push_back({opType, version});
    }
    std::stable_sort(list.begin(), list.end(),
                     [](const LaterDefinition &a, const LaterDefinition &b) {
                       return a.sinceVersion < b.sinceVersion;
                     });
    return list;
  }();
  return definitions;
}

/// The newest opset of the default domain that the linked registry knows.
int64_t registryNewestOpset() {
  const auto &ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto found = ranges.find(onnx::ONNX_DOMAIN);
  return found == ranges.end() ? 0 : found->second.second;
}

const onnx::OpSchema *registrySchema(llvm::StringRef opType, int64_t opset) {
  const onnx::OpSchema *schema =
      onnx::OpSchemaRegistry::Schema(opType.str(), int(opset), onnx::ONNX_DOMAIN);
  // A deprecated definition (Upsample-10, ...) removes the operator.
  return schema && !schema->Deprecated() ? schema : nullptr;
}

} // namespace

std::optional<OnnxOpDefinition> lookupOnnxOpDefinition(llvm::StringRef opType,
                                                       int64_t opset) {
  int64_t newestKnown = registryNewestOpset();
  OnnxOpDefinition definition;
  if (const onnx::OpSchema *schema =
          registrySchema(opType, std::min(opset, newestKnown))) {
    definition.sinceVersion = schema->since_version();
    for (const auto &[name, attribute] : schema->attributes())
      definition.attributes[name] = {attribute.type, attribute.required};
  }
  for (const LaterDefinition &later : laterDefinitions()) {
    if (later.sinceVersion <= newestKnown || later.sinceVersion > opset ||
        opType != later.opType)
      continue;
    definition.sinceVersion = later.sinceVersion;
    if (!later.attributesChanged)
      continue;
    definition.attributes.clear();
    for (const auto &[name, spec] : later.attributes)
      definition.attributes[name] = spec;
  }
  if (definition.sinceVersion == 0)
    return std::nullopt;
  return definition;
}

std::optional<int64_t> firstOnnxOpset(llvm::StringRef opType) {
  int64_t newestKnown = registryNewestOpset();
  for (int64_t opset = 1; opset <= newestKnown; ++opset)
    if (registrySchema(opType, opset))
      return opset;
  for (const LaterDefinition &later : laterDefinitions())
    if (later.sinceVersion > newestKnown && opType == later.opType)
      return later.sinceVersion;
  return std::nullopt;
}

llvm::StringRef onnxAttributeTypeName(onnx::AttributeProto::AttributeType type) {
  if (!onnx::AttributeProto::AttributeType_IsValid(type))
    return "UNKNOWN";
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (int value = 0; value <= onnx::AttributeProto::AttributeType_MAX; ++value)
      all.push_back(onnx::AttributeProto::AttributeType_IsValid(value)
                        ? onnx::AttributeProto::AttributeType_Name(AttrType(value))
                        : std::string("UNKNOWN"));
    return all;
  }();
  return names[type];
}

} // namespace sp
