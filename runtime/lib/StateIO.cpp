//===- StateIO.cpp - saving and restoring the state -------------------------===//
//
// Parameters, optimizer state and the step count, as .npy files under a
// folder, read back through the device.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"

#include "sp/runtime/Files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace sp::runtime {

std::string Session::saveState(const std::string &directory) const {
  // The state is the same on every rank: rank 0 writes it.
  std::string error = impl_->context.rank == 0 ? impl_->saveStateHere(directory) : "";
  return impl_->agreed(error);
}

std::string Session::loadState(const std::string &directory) {
  return impl_->agreed(impl_->loadStateHere(directory));
}

std::string Session::Impl::saveStateHere(const std::string &directory) const {
  namespace fs = std::filesystem;
  std::error_code code;
  for (const char *sub : {"param", "state"}) {
    fs::create_directories(fs::path(directory) / sub, code);
    if (code)
      return (fs::path(directory) / sub).string() + ": cannot create: " + code.message();
  }
  std::string error;
  for (const StateFile &file : stateFiles) {
    NpyArray array;
    copyOut(file.tensor, array);
    if (!writeNpy((fs::path(directory) / file.relativePath).string(), array, error))
      return error;
  }
  // Last, so that a folder with steps.txt holds a complete checkpoint.
  std::string steps = std::to_string(stepsCompleted) + "\n";
  if (!writeFileAtomically((fs::path(directory) / "steps.txt").string(),
                           [&](std::ostream &out) {
                             out << steps;
                             return true;
                           },
                           error))
    return error;
  return "";
}

std::string Session::Impl::loadStateHere(const std::string &directory) {
  namespace fs = std::filesystem;
  std::string stepsPath = (fs::path(directory) / "steps.txt").string();
  std::ifstream stepsFile(stepsPath);
  if (!stepsFile)
    return stepsPath + ": cannot open: " + std::strerror(errno) +
           " (not a folder written by --save?)";
  std::string stepsText;
  std::getline(stepsFile, stepsText);
  if (stepsText.empty() || stepsText.size() > 18 ||
      stepsText.find_first_not_of("0123456789") != std::string::npos)
    return stepsPath + ": holds '" + stepsText + "', not a step count";
  int64_t steps = std::stoll(stepsText);

  // Read and check everything before changing anything.
  std::vector<NpyArray> arrays(stateFiles.size());
  std::string error;
  for (size_t i = 0; i < stateFiles.size(); ++i) {
    const StateFile &file = stateFiles[i];
    std::string path = (fs::path(directory) / file.relativePath).string();
    if (!readNpy(path, arrays[i], error))
      return error;
    const TensorSlot &slot = tensors[file.tensor];
    if (arrays[i].dtype != slot.dtype || arrays[i].shape != slot.shape)
      return path + ": " + file.what + " is " + dtypeName(slot.dtype) + " " +
             formatShape(slot.shape) + " in the plan, the file holds " +
             dtypeName(arrays[i].dtype) + " " + formatShape(arrays[i].shape);
  }
  for (size_t i = 0; i < stateFiles.size(); ++i) {
    const TensorSlot &slot = tensors[stateFiles[i].tensor];
    device->copyToDevice(slot.data, arrays[i].data.data(), slot.bytes, device->computeStream());
  }
  device->computeStream().synchronize();
  stepsCompleted = steps;
  return "";
}

} // namespace sp::runtime
