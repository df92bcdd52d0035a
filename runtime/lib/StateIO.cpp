//===- StateIO.cpp - checkpoints of the training state --------------------===//
//
// A checkpoint is a folder that does not depend on the rank count or the
// strategy of the plan that wrote it (DESIGN.md, "Checkpoints are whole
// tensors"):
//
//   DIR/step-0000000100/manifest.json     format, model, optimizer, step, ...
//   DIR/step-0000000100/param/NAME.npy    each parameter, whole
//   DIR/step-0000000100/state/NAME.npy    optimizer moments, step counter
//
// Tensors are stored under their names (percent-encoded), never under plan
// indices, with their global shape, dtype and an XXH64 of their bytes in the
// manifest, which carries an XXH64 of itself. A save writes a new hidden
// folder, syncs every file and folder, and renames it into place: the
// previous checkpoint stays intact until the new one is complete, and a
// process killed mid-save leaves only a hidden partial folder that the next
// save removes. `keep` bounds how many checkpoints stay.
//
// Every rank holds the whole state in today's plans (the sequence split
// shards activations only). The ranks compare the hashes of their state
// before rank 0 writes, so a rank whose state diverged is an error rather
// than a silent pick of rank 0's copy.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"

#include "CheckpointFormat.h"

#include "sp/runtime/Checkpoint.h"
#include "sp/runtime/Files.h"

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace sp::runtime {

namespace fs = std::filesystem;
using namespace checkpoint_format;

namespace {

/// Forces `path` (a file or a folder) to the disk.
std::string syncPath(const fs::path &path) {
  int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0)
    return path.string() + ": cannot open to sync: " + std::strerror(errno);
  int result = ::fsync(descriptor);
  int saved = errno;
  ::close(descriptor);
  if (result != 0)
    return path.string() + ": fsync failed: " + std::strerror(saved);
  return "";
}

const char *precisionOf(DType dtype) {
  switch (dtype) {
  case DType::Float64:
    return "fp64";
  case DType::BFloat16:
    return "bf16";
  case DType::Float16:
    return "fp16";
  default:
    return "fp32";
  }
}

} // namespace

std::string Session::Impl::modelIdentity() const {
  // The parameters' names, dtypes and shapes, in name order: what a
  // checkpoint must match, whatever the plan's rank count or strategy.
  std::vector<std::string> entries;
  for (const ParameterSlot &slot : parameterSlots)
    entries.push_back(slot.info.name + ":" + slot.info.describe());
  std::sort(entries.begin(), entries.end());
  std::string joined;
  for (const std::string &entry : entries)
    joined += entry + "\n";
  return hashBytes(joined.data(), joined.size());
}

std::string Session::saveState(const std::string &directory,
                               const CheckpointOptions &options) const {
  Impl &impl = *impl_;
  // Read every state tensor once, on every rank, and compare the ranks'
  // hashes: whole state must be the same everywhere.
  std::vector<NpyArray> arrays(impl.stateFiles.size());
  std::vector<uint64_t> hashes(impl.stateFiles.size());
  for (size_t i = 0; i < impl.stateFiles.size(); ++i) {
    impl.copyOut(impl.stateFiles[i].tensor, arrays[i]);
    hashes[i] = XXH64(arrays[i].data.data(), arrays[i].data.size(), 0);
  }
  std::string error;
  if (impl.isMultiRank() && !impl.communicationFailed) {
    std::vector<uint64_t> all(hashes.size() * size_t(impl.context.worldSize));
    if (!hashes.empty()) {
      error = impl.communicator->allGather(hashes.data(), all.data(), int64_t(hashes.size()),
                                           DType::Int64);
      if (!error.empty()) {
        impl.communicationFailed = true;
        return "saving a checkpoint: comparing the ranks' state failed: " + error;
      }
    }
    for (int rank = 1; rank < impl.context.worldSize && error.empty(); ++rank)
      for (size_t i = 0; i < hashes.size(); ++i)
        if (all[size_t(rank) * hashes.size() + i] != hashes[i]) {
          error = impl.stateFiles[i].what + " differs between rank 0 and rank " +
                  std::to_string(rank) + "; not saving a checkpoint of diverged ranks";
          break;
        }
  }
  if (error.empty() && impl.context.rank == 0)
    error = impl.writeCheckpoint(directory, options, arrays, hashes);
  return impl.agreed(error);
}

std::string Session::Impl::writeCheckpoint(const std::string &directory,
                                           const CheckpointOptions &options,
                                           const std::vector<NpyArray> &arrays,
                                           const std::vector<uint64_t> &hashes) const {
  fs::path root(directory);
  std::error_code code;
  if (fs::exists(root, code) && !fs::is_directory(root, code))
    return directory + ": exists and is not a folder; --save needs a folder of checkpoints";
  fs::create_directories(root, code);
  if (code)
    return directory + ": cannot create: " + code.message();
  // Partial folders of saves that were killed.
  for (fs::directory_iterator it(root, code), end; !code && it != end; it.increment(code)) {
    std::string name = it->path().filename().string();
    if (name.rfind(".partial-", 0) == 0) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }

  std::string finalName = stepFolderName(stepsCompleted);
  fs::path staging = root / (".partial-" + finalName + "-" + std::to_string(::getpid()));
  for (const char *sub : {"param", "state"}) {
    fs::create_directories(staging / sub, code);
    if (code)
      return (staging / sub).string() + ": cannot create: " + code.message();
  }

  Json entries = Json::array();
  std::string error;
  for (size_t i = 0; i < stateFiles.size(); ++i) {
    const StateFile &file = stateFiles[i];
    fs::path path = staging / file.relativePath;
    if (!writeNpy(path.string(), arrays[i], error))
      return error;
    if (std::string problem = syncPath(path); !problem.empty())
      return problem;
    Json shape = Json::array();
    for (int64_t dim : arrays[i].shape)
      shape.push_back(dim);
    entries.push_back({{"name", file.name},
                       {"role", file.role},
                       {"file", file.relativePath},
                       {"dtype", dtypeName(arrays[i].dtype)},
                       {"shape", shape},
                       {"xxh64", hexHash(hashes[i])}});
  }

  const sp::plan::Optimizer &optimizer = plan.optimizer();
  int64_t tokensPerStep = tokenInput < 0 ? 0 : inputs[size_t(tokenInput)].numElements();
  DType precision = parameterSlots.empty() ? DType::Float32 : parameterSlots[0].info.dtype;
  Json manifest = {
      {"format", kFormatName},
      {"version", kVersion},
      {"model", {{"source", plan.source()}, {"parameters_xxh64", modelIdentity()}}},
      {"optimizer",
       {{"kind", optimizer.kind()},
        {"learning_rate", optimizer.learning_rate()},
        {"weight_decay", optimizer.weight_decay()},
        {"beta1", optimizer.beta1()},
        {"beta2", optimizer.beta2()},
        {"epsilon", optimizer.epsilon()},
        {"lr_schedule", optimizer.lr_schedule().empty() ? Json(nullptr)
                                                         : Json({{"kind", optimizer.lr_schedule()},
                                                                 {"warmup_steps",
                                                                  optimizer.warmup_steps()},
                                                                 {"total_steps",
                                                                  optimizer.total_steps()},
                                                                 {"min_lr",
                                                                  optimizer.min_learning_rate()}})},
        {"clip_grad_norm", optimizer.clip_grad_norm() > 0 ? Json(optimizer.clip_grad_norm())
                                                          : Json(nullptr)}}},
      {"step", stepsCompleted},
      {"data_position", stepsCompleted * tokensPerStep},
      {"seed", context.seed},
      {"precision", precisionOf(precision)},
      {"world_size", context.worldSize},
      {"zigzag", plan.zigzag()},
      {"tensors", entries}};
  std::string body = manifestBody(manifest);
  manifest["checksum"] = hashBytes(body.data(), body.size());
  fs::path manifestPath = staging / kManifest;
  {
    std::ofstream out(manifestPath, std::ios::binary | std::ios::trunc);
    out << manifest.dump(1) << "\n";
    if (!out.flush())
      return manifestPath.string() + ": write failed: " + std::strerror(errno);
  }
  for (const fs::path &path :
       {manifestPath, staging / "param", staging / "state", staging})
    if (std::string problem = syncPath(path); !problem.empty())
      return problem;

  // Into place. A checkpoint of the same step (saved again) is replaced
  // only once the new one is complete.
  fs::path destination = root / finalName;
  fs::path replaced;
  if (fs::exists(destination, code)) {
    replaced = root / (".partial-replaced-" + finalName + "-" + std::to_string(::getpid()));
    fs::rename(destination, replaced, code);
    if (code)
      return destination.string() + ": cannot move aside: " + code.message();
  }
  fs::rename(staging, destination, code);
  if (code)
    return destination.string() + ": cannot rename the new checkpoint into place: " +
           code.message();
  if (std::string problem = syncPath(root); !problem.empty())
    return problem;
  if (!replaced.empty())
    fs::remove_all(replaced, code);

  if (options.keep > 0) {
    std::map<int64_t, fs::path> existing = checkpointsIn(root);
    int64_t excess = int64_t(existing.size()) - options.keep;
    for (auto it = existing.begin(); excess > 0 && it != existing.end(); ++it, --excess)
      fs::remove_all(it->second, code);
  }
  return "";
}

std::string Session::loadState(const std::string &path, CheckpointInfo *info) {
  return impl_->agreed(impl_->loadCheckpoint(path, info));
}

std::string Session::Impl::loadCheckpoint(const std::string &path, CheckpointInfo *info) {
  CheckpointManifest manifest;
  if (std::string error = openCheckpoint(path, manifest); !error.empty())
    return error;
  std::string where = (fs::path(manifest.folder) / kManifest).string();
  if (manifest.parametersHash != modelIdentity()) {
    // Say what differs: the parameters by name, dtype and shape.
    std::map<std::string, std::string> saved;
    for (const CheckpointTensor &tensor : manifest.tensors)
      if (tensor.role == "parameter")
        saved[tensor.name] = tensor.dtype + " " + formatShape(tensor.shape);
    for (const ParameterSlot &slot : parameterSlots) {
      auto found = saved.find(slot.info.name);
      if (found == saved.end())
        return where + ": checkpoint of another model: it has no parameter '" + slot.info.name +
               "'";
      if (found->second != slot.info.describe())
        return where + ": checkpoint of another model: parameter '" + slot.info.name + "' is " +
               found->second + " there, " + slot.info.describe() + " in the plan";
      saved.erase(found);
    }
    if (!saved.empty())
      return where + ": checkpoint of another model: the plan has no parameter '" +
             saved.begin()->first + "'";
    return where + ": checkpoint of another model";
  }
  if (manifest.optimizerKind != plan.optimizer().kind())
    return where + ": the checkpoint's optimizer is '" + manifest.optimizerKind + "', the plan's '" +
           plan.optimizer().kind() + "'";

  // Read and check everything before changing anything.
  std::map<std::string, const CheckpointTensor *> byName;
  for (const CheckpointTensor &tensor : manifest.tensors)
    byName[tensor.role + "/" + tensor.name] = &tensor;
  std::vector<NpyArray> arrays(stateFiles.size());
  for (size_t i = 0; i < stateFiles.size(); ++i) {
    const StateFile &file = stateFiles[i];
    auto found = byName.find(file.role + "/" + file.name);
    if (found == byName.end())
      return where + ": the checkpoint has no " + file.what;
    if (std::string error = readCheckpointTensor(manifest, *found->second, arrays[i]);
        !error.empty())
      return error;
    const TensorSlot &slot = tensors[file.tensor];
    if (arrays[i].dtype != slot.dtype || arrays[i].shape != slot.shape)
      return (fs::path(manifest.folder) / found->second->file).string() + ": " + file.what +
             " is " + dtypeName(slot.dtype) + " " + formatShape(slot.shape) +
             " in the plan, the checkpoint holds " + dtypeName(arrays[i].dtype) + " " +
             formatShape(arrays[i].shape);
  }
  Stream &stream = device->computeStream();
  for (size_t i = 0; i < stateFiles.size(); ++i) {
    const TensorSlot &slot = tensors[stateFiles[i].tensor];
    device->copyToDevice(slot.data, arrays[i].data.data(), slot.bytes, stream);
  }
  stream.synchronize();
  stepsCompleted = manifest.step;
  context.seed = manifest.seed;
  if (info) {
    info->step = manifest.step;
    info->seed = manifest.seed;
    info->worldSize = manifest.worldSize;
    info->folder = manifest.folder;
  }
  return "";
}

} // namespace sp::runtime
