//===- CostProfile.cpp - cost models from profile files -------------------===//
//
// Analytic profiles are data: the built-in ones are the JSON files under
// profiles/, compiled in (BuiltinProfiles.inc) so that sp-compile finds them
// wherever it is installed. Measured profiles are what `sp-run --profile`
// writes; their times override the analytic estimate op by op.
//
//===----------------------------------------------------------------------===//

#include "sp/Plan/InstructionIds.h"
#include "sp/Scheduling/CostModel.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <cstdio>

using namespace mlir;

namespace sp::scheduling {

namespace {

struct BuiltinProfile {
  llvm::StringLiteral name;
  llvm::StringLiteral text;
};

constexpr BuiltinProfile kBuiltinProfiles[] = {
#include "BuiltinProfiles.inc"
};

llvm::Error makeError(llvm::StringRef source, const llvm::Twine &why) {
  return llvm::createStringError("cost profile '" + source + "': " + why);
}

/// A number of `object` that must be positive (or, with `allowZero`, zero).
llvm::Expected<double> getPositive(const llvm::json::Object &object, llvm::StringRef key,
                                   llvm::StringRef source, llvm::StringRef where,
                                   bool allowZero = false) {
  std::optional<double> value = object.getNumber(key);
  if (!value)
    return makeError(source, where + "has no number \"" + key + "\"");
  if (std::isfinite(*value) && (*value > 0.0 || (*value == 0.0 && allowZero)))
    return *value;
  char number[32];
  snprintf(number, sizeof number, "%g", *value);
  return makeError(source, where + "\"" + key + "\" is " + number +
                               (allowZero ? ", not a finite number >= 0"
                                          : ", not a finite number > 0"));
}

llvm::Expected<CostModel> parseAnalytic(const llvm::json::Object &root, llvm::StringRef source) {
  CostModel model;
  model.profile = source.str();
  std::pair<llvm::StringRef, double *> rates[] = {
      {"flops_per_second", &model.flopsPerSecond},
      {"memory_bytes_per_second", &model.memoryBytesPerSecond},
      {"link_bytes_per_second", &model.linkBytesPerSecond}};
  for (auto [key, rate] : rates) {
    llvm::Expected<double> value = getPositive(root, key, source, "");
    if (!value)
      return value.takeError();
    *rate = *value;
  }
  llvm::Expected<double> latency = getPositive(root, "link_latency_us", source, "", true);
  if (!latency)
    return latency.takeError();
  model.linkLatencySeconds = *latency * 1e-6;
  llvm::Expected<double> bucket = getPositive(root, "gradient_bucket_bytes", source, "", true);
  if (!bucket)
    return bucket.takeError();
  model.gradientBucketBytes = uint64_t(*bucket);
  // A topology: nodes of `ranks_per_node` ranks on the link above, joined by
  // a slower one.
  if (root.get("ranks_per_node")) {
    llvm::Expected<double> perNode = getPositive(root, "ranks_per_node", source, "");
    if (!perNode)
      return perNode.takeError();
    llvm::Expected<double> bandwidth =
        getPositive(root, "inter_node_link_bytes_per_second", source, "");
    if (!bandwidth)
      return bandwidth.takeError();
    llvm::Expected<double> interLatency =
        getPositive(root, "inter_node_link_latency_us", source, "", true);
    if (!interLatency)
      return interLatency.takeError();
    model.ranksPerNode = int64_t(*perNode);
    model.interNodeLinkBytesPerSecond = *bandwidth;
    model.interNodeLinkLatencySeconds = *interLatency * 1e-6;
  }
  return model;
}

llvm::Expected<CostModel> parseMeasured(const llvm::json::Object &root, llvm::StringRef source) {
  std::optional<llvm::StringRef> device = root.getString("device");
  if (!device)
    return makeError(source, "has no string \"device\"");
  llvm::StringRef base = *device == "cpu" ? "cpu" : *device == "cuda" ? "h100-nvlink" : "";
  if (base.empty())
    return makeError(source, "device '" + *device + "' has no built-in profile to fall back "
                                                    "to (expected cpu or cuda)");
  llvm::Expected<CostModel> model = loadCostModel(base);
  if (!model)
    return model.takeError();
  model->profile = (source + " (measured; " + base + " for the rest)").str();
  model->measuredWorldSize = root.getInteger("world_size").value_or(0);
  for (llvm::StringRef list : {"instructions", "collectives"}) {
    llvm::StringMap<double> &times = list == "instructions" ? model->measuredComputeSeconds
                                                            : model->measuredCollectiveSeconds;
    const llvm::json::Array *entries = root.getArray(list);
    if (!entries)
      return makeError(source, "has no array \"" + list + "\"");
    for (auto [index, entry] : llvm::enumerate(*entries)) {
      std::string where = (list + "[" + llvm::Twine(index) + "] ").str();
      const llvm::json::Object *object = entry.getAsObject();
      if (!object)
        return makeError(source, where + "is not an object");
      std::optional<llvm::StringRef> id = object->getString("id");
      if (!id || id->empty())
        return makeError(source, where + "has no string \"id\"");
      llvm::Expected<double> micros = getPositive(*object, "us", source, where, true);
      if (!micros)
        return micros.takeError();
      if (!times.try_emplace(*id, *micros * 1e-6).second)
        return makeError(source, where + "times id '" + *id + "' a second time");
    }
  }
  return model;
}

} // namespace

llvm::ArrayRef<llvm::StringRef> getBuiltinCostProfileNames() {
  static const llvm::SmallVector<llvm::StringRef> names = [] {
    llvm::SmallVector<llvm::StringRef> list;
    for (const BuiltinProfile &profile : kBuiltinProfiles)
      list.push_back(profile.name);
    return list;
  }();
  return names;
}

void overrideRates(CostModel &model, const CostModelOverrides &overrides) {
  if (overrides.flopsPerSecond > 0.0)
    model.flopsPerSecond = overrides.flopsPerSecond;
  if (overrides.memoryBytesPerSecond > 0.0)
    model.memoryBytesPerSecond = overrides.memoryBytesPerSecond;
  if (overrides.linkBytesPerSecond > 0.0)
    model.linkBytesPerSecond = overrides.linkBytesPerSecond;
  if (overrides.linkLatencySeconds >= 0.0)
    model.linkLatencySeconds = overrides.linkLatencySeconds;
  if (overrides.gradientBucketBytes >= 0)
    model.gradientBucketBytes = uint64_t(overrides.gradientBucketBytes);
  if (overrides.ranksPerNode > 0)
    model.ranksPerNode = overrides.ranksPerNode;
}

bool CostModel::spansNodes(int64_t firstRanks) const {
  return ranksPerNode > 0 && (firstRanks > ranksPerNode || ranksPerNode % firstRanks != 0);
}

CostModel CostModel::acrossNodes() const {
  CostModel model = *this;
  if (ranksPerNode > 0 && interNodeLinkBytesPerSecond > 0.0) {
    model.linkBytesPerSecond = interNodeLinkBytesPerSecond;
    model.linkLatencySeconds = interNodeLinkLatencySeconds;
  }
  return model;
}

llvm::Expected<CostModel> loadCostModel(llvm::StringRef fileOrName) {
  std::string text;
  for (const BuiltinProfile &profile : kBuiltinProfiles)
    if (profile.name == fileOrName)
      text = profile.text.str();
  if (text.empty()) {
    auto buffer = llvm::MemoryBuffer::getFile(fileOrName, /*IsText=*/true);
    if (!buffer)
      return makeError(fileOrName, "cannot read it (" + buffer.getError().message() +
                                       "), and it names no built-in profile (" +
                                       llvm::join(getBuiltinCostProfileNames(), ", ") + ")");
    text = (*buffer)->getBuffer().str();
  }
  llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(text);
  if (!parsed)
    return makeError(fileOrName, "not JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return makeError(fileOrName, "not a JSON object");
  std::optional<llvm::StringRef> format = root->getString("format");
  std::optional<int64_t> version = root->getInteger("version");
  bool analytic = format == "sp-cost-model", measured = format == "sp-profile";
  if (!analytic && !measured)
    return makeError(fileOrName, "\"format\" is " +
                                     (format ? "'" + *format + "'" : llvm::Twine("missing")) +
                                     ", expected 'sp-cost-model' or 'sp-profile'");
  if (version != 1)
    return makeError(fileOrName, "\"version\" is " +
                                     (version ? llvm::Twine(*version) : llvm::Twine("missing")) +
                                     "; this compiler reads version 1");
  return analytic ? parseAnalytic(*root, fileOrName) : parseMeasured(*root, fileOrName);
}

std::optional<double> CostModel::lookUpMeasured(const llvm::StringMap<double> &times,
                                                Operation *op) {
  if (times.empty())
    return std::nullopt;
  auto id = op->getAttrOfType<StringAttr>(planning::kInstructionIdAttr);
  if (!id)
    return std::nullopt;
  auto found = times.find(id.getValue());
  if (found == times.end())
    return std::nullopt;
  return found->second;
}

} // namespace sp::scheduling
