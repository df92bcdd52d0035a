//===- Checkpoint.cpp - reading sp checkpoints ----------------------------===//
//
// Opens and verifies checkpoints (sp/runtime/Checkpoint.h); the format's
// shared pieces (CheckpointFormat.h) live here too, next to the reader.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Checkpoint.h"

#include "CheckpointFormat.h"

#include <xxhash.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sp::runtime {

namespace fs = std::filesystem;

namespace checkpoint_format {

std::string hexHash(uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, hash);
  return text;
}

std::string hashBytes(const void *data, size_t size) { return hexHash(XXH64(data, size, 0)); }

std::string stepFolderName(int64_t step) {
  char text[32];
  std::snprintf(text, sizeof text, "%s%010" PRId64, kStepPrefix, step);
  return text;
}

namespace {

/// The step of a folder named by stepFolderName, or -1.
int64_t stepOfFolder(const std::string &name) {
  size_t prefix = std::strlen(kStepPrefix);
  if (name.size() <= prefix || name.compare(0, prefix, kStepPrefix) != 0 ||
      name.find_first_not_of("0123456789", prefix) != std::string::npos || name.size() > prefix + 18)
    return -1;
  return std::stoll(name.substr(prefix));
}

} // namespace

std::map<int64_t, fs::path> checkpointsIn(const fs::path &directory) {
  std::map<int64_t, fs::path> found;
  std::error_code code;
  for (fs::directory_iterator it(directory, code), end; !code && it != end; it.increment(code)) {
    int64_t step = stepOfFolder(it->path().filename().string());
    if (step >= 0 && fs::is_regular_file(it->path() / kManifest, code))
      found[step] = it->path();
  }
  return found;
}

std::string manifestBody(Json manifest) {
  manifest.erase("checksum");
  return manifest.dump(1);
}

} // namespace checkpoint_format

using namespace checkpoint_format;

namespace {

/// Whether a float tensor holds a NaN or an infinity.
bool holdsNonFinite(const NpyArray &array) {
  if (array.dtype == DType::Float32) {
    const float *values = reinterpret_cast<const float *>(array.data.data());
    for (int64_t i = 0; i < array.numElements(); ++i)
      if (!std::isfinite(values[i]))
        return true;
  } else if (array.dtype == DType::Float64) {
    const double *values = reinterpret_cast<const double *>(array.data.data());
    for (int64_t i = 0; i < array.numElements(); ++i)
      if (!std::isfinite(values[i]))
        return true;
  }
  return false;
}

/// A file named in a manifest stays inside its checkpoint: relative, no "..".
bool staysInside(const std::string &relative) {
  if (relative.empty() || fs::path(relative).is_absolute())
    return false;
  for (const fs::path &part : fs::path(relative))
    if (part == "..")
      return false;
  return true;
}

} // namespace

std::string openCheckpoint(const std::string &path, CheckpointManifest &result) {
  fs::path folder(path);
  std::error_code code;
  if (!fs::is_directory(folder, code))
    return path + ": not a checkpoint folder (" +
           (fs::exists(folder, code) ? "not a folder" : "no such folder") + ")";
  if (!fs::is_regular_file(folder / kManifest, code)) {
    // A folder of checkpoints, as --save writes: the newest.
    std::map<int64_t, fs::path> checkpoints = checkpointsIn(folder);
    if (checkpoints.empty())
      return path + ": holds no checkpoint (neither " + kManifest + " nor " + kStepPrefix +
             "N folders written by --save)";
    folder = checkpoints.rbegin()->second;
  }
  fs::path manifestPath = folder / kManifest;
  std::string where = manifestPath.string();
  std::ifstream in(manifestPath, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in)
    return where + ": cannot read: " + std::strerror(errno);
  Json manifest = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (manifest.is_discarded() || !manifest.is_object())
    return where + ": not a JSON manifest (corrupt or truncated)";

  CheckpointManifest opened;
  opened.folder = folder.string();
  try {
    if (!manifest.contains("format") || manifest["format"] != kFormatName)
      return where + ": not an sp checkpoint manifest";
    if (!manifest.contains("version") || manifest["version"] != kVersion)
      return where + ": checkpoint format version " +
             (manifest.contains("version") ? manifest["version"].dump() : "missing") +
             "; this sp reads version " + std::to_string(kVersion);
    std::string body = manifestBody(manifest);
    if (!manifest.contains("checksum") || manifest["checksum"] != hashBytes(body.data(), body.size()))
      return where + ": checksum mismatch (the manifest was edited or is corrupt)";
    opened.step = manifest.at("step").get<int64_t>();
    if (opened.step < 0)
      return where + ": step " + std::to_string(opened.step) + " is negative";
    opened.seed = manifest.value("seed", uint64_t(0));
    opened.worldSize = manifest.value("world_size", 1);
    const Json &model = manifest.at("model");
    opened.modelSource = model.value("source", "");
    opened.parametersHash = model.at("parameters_xxh64").get<std::string>();
    opened.optimizerKind = manifest.at("optimizer").at("kind").get<std::string>();
    opened.precision = manifest.value("precision", "fp32");
    for (const Json &entry : manifest.at("tensors")) {
      CheckpointTensor tensor;
      tensor.name = entry.at("name").get<std::string>();
      tensor.role = entry.at("role").get<std::string>();
      tensor.file = entry.at("file").get<std::string>();
      tensor.dtype = entry.at("dtype").get<std::string>();
      tensor.shape = entry.at("shape").get<std::vector<int64_t>>();
      tensor.xxh64 = entry.at("xxh64").get<std::string>();
      if (tensor.name.empty())
        return where + ": a tensor has no name";
      if (!staysInside(tensor.file))
        return where + ": tensor '" + tensor.name + "' names the file '" + tensor.file +
               "', outside the checkpoint";
      opened.tensors.push_back(std::move(tensor));
    }
  } catch (const nlohmann::json::exception &exception) {
    return where + ": malformed manifest: " + exception.what();
  }
  result = std::move(opened);
  return "";
}

std::string readCheckpointTensor(const CheckpointManifest &manifest, const CheckpointTensor &tensor,
                                 NpyArray &array) {
  if (!staysInside(tensor.file))
    return manifest.folder + ": tensor '" + tensor.name + "' names the file '" + tensor.file +
           "', outside the checkpoint";
  std::string path = (fs::path(manifest.folder) / tensor.file).string();
  std::string error;
  if (!readNpy(path, array, error))
    return error;
  if (dtypeName(array.dtype) != tensor.dtype || array.shape != tensor.shape)
    return path + ": holds " + dtypeName(array.dtype) + " " + formatShape(array.shape) +
           ", the manifest says " + tensor.dtype + " " + formatShape(tensor.shape);
  if (tensor.xxh64 != hashBytes(array.data.data(), array.data.size()))
    return path + ": checksum mismatch (the file is corrupt or was changed)";
  if (holdsNonFinite(array))
    return path + ": " + tensor.role + " '" + tensor.name + "' holds NaN or infinity";
  return "";
}

} // namespace sp::runtime
