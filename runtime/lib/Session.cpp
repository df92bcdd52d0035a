//===- Session.cpp - loading and running a plan ---------------------------===//
//
// Loading: the plan is validated (PlanValidation.cpp), then the device
// allocates the arena, the state, the constants and the kernels' workspace,
// and the sidecar's weights are checksummed and copied to the device. Steps
// run in Executor.cpp, inputs and outputs move in ShardIO.cpp, the state in
// StateIO.cpp.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"
#include "sp/runtime/Files.h"
#include "sp/runtime/PlanFile.h"

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>

namespace sp::runtime {

int64_t TensorInfo::numElements() const { return sp::runtime::numElements(shape); }

std::string TensorInfo::describe() const {
  return std::string(dtypeName(dtype)) + " " + formatShape(shape);
}

std::string Session::Impl::agreed(const std::string &error) const {
  if (!isMultiRank())
    return error;
  if (communicationFailed)
    return error.empty() ? "the ranks are out of step after a failed collective" : error;
  std::string agreedError = singleLine(communicator->agree(error));
  if (communicator->outOfStep())
    communicationFailed = true;
  return agreedError;
}

std::string Session::Impl::loadSidecar(const std::string &sidecarPath, uint64_t sidecarSize) {
  // Where each sidecar range goes: STATE tensors into the state region,
  // CONSTANT tensors into the constant region (aligned for the kernels,
  // whatever their sidecar offsets).
  struct Copy {
    uint64_t sidecarOffset, bytes;
    char *destination;
  };
  std::vector<Copy> copies;
  for (int index = 0; index < plan.tensors_size(); ++index) {
    const sp::plan::Tensor &tensor = plan.tensors(index);
    TensorSlot &slot = tensors[index];
    if (slot.placement == sp::plan::STATE && tensor.zero_init())
      device->fillZero(slot.data, slot.bytes, device->computeStream());
    else if (slot.placement == sp::plan::STATE || slot.placement == sp::plan::CONSTANT)
      copies.push_back({tensor.sidecar_offset(), slot.bytes, slot.data});
  }

  // load() checked that the file exists and has the size the plan records.
  std::ifstream file;
  if (!plan.weights().file().empty()) {
    file.open(sidecarPath, std::ios::binary);
    if (!file)
      return sidecarPath + ": cannot open the weights sidecar: " + std::strerror(errno);
  }

  // One pass over the file: checksum it and copy what falls in each chunk.
  constexpr uint64_t kChunk = uint64_t(8) << 20;
  std::vector<char> chunk(std::min(kChunk, std::max<uint64_t>(sidecarSize, 1)));
  SidecarChecksum checksum;
  Stream &stream = device->computeStream();
  for (uint64_t begin = 0; begin < sidecarSize; begin += chunk.size()) {
    // The chunk is refilled only once the device has copied what it held.
    stream.synchronize();
    uint64_t size = std::min<uint64_t>(chunk.size(), sidecarSize - begin);
    if (!file.read(chunk.data(), std::streamsize(size)))
      return sidecarPath + ": read failed at byte " + std::to_string(begin);
    checksum.update(chunk.data(), size);
    for (const Copy &copy : copies) {
      uint64_t from = std::max(begin, copy.sidecarOffset);
      uint64_t to = std::min(begin + size, copy.sidecarOffset + copy.bytes);
      if (from < to)
        device->copyToDevice(copy.destination + (from - copy.sidecarOffset),
                             chunk.data() + (from - begin), to - from, stream);
    }
  }
  stream.synchronize();
  // A plan without weights names no sidecar, and so no checksum either.
  if (!plan.weights().file().empty() && checksum.value() != plan.weights().checksum())
    return sidecarPath + ": checksum mismatch (the file is corrupt, or belongs to another "
                         "compile of the plan)";
  return "";
}

std::string Session::Impl::allocate(DeviceBuffer &buffer, uint64_t bytes, const char *what) {
  std::string error;
  void *memory = device->allocate(bytes, plan.alignment(), error);
  if (!memory)
    return fail("cannot allocate " + std::to_string(bytes) + " bytes of " + device->name() +
                " memory for the " + what + ": " + error);
  buffer = DeviceBuffer(device.get(), memory);
  return "";
}

std::unique_ptr<Session::Impl> Session::Impl::load(const std::string &planPath,
                                                   std::shared_ptr<Communicator> communicator,
                                                   const SessionOptions &options,
                                                   std::string &error) {
  auto impl = std::make_unique<Impl>();
  impl->planPath = planPath;
  sp::plan::Plan &plan = impl->plan;
  auto failWith = [&](const std::string &message) {
    error = singleLine(message);
    return nullptr;
  };
  if (!readPlanFile(planPath, plan, error))
    return failWith(error);

  int worldSize = communicator->size();
  if (plan.world_size() < 1)
    return failWith(
        impl->fail("world_size " + std::to_string(plan.world_size()) + " is not a rank count"));
  if (plan.world_size() != worldSize)
    return failWith(impl->fail("built for " + std::to_string(plan.world_size()) +
                               (plan.world_size() == 1 ? " rank" : " ranks") + "; this run has " +
                               std::to_string(worldSize)));
  impl->device = createDevice(options.device, error);
  if (!impl->device)
    return failWith(error);
  if (worldSize > 1) {
    impl->streamCommunicator =
        std::make_shared<StreamCommunicator>(std::move(communicator), *impl->device);
    impl->streamCommunicator->setTimeout(options.collectiveTimeoutSeconds);
    communicator = impl->streamCommunicator;
  }
  impl->context = {communicator->rank(), worldSize, communicator.get(), &impl->pending,
                   impl->device.get()};
  impl->layout = {worldSize, plan.zigzag()};
  impl->communicator = std::move(communicator);

  const std::string &sidecarName = plan.weights().file();
  if (sidecarName.find('/') != std::string::npos || sidecarName == "." || sidecarName == "..")
    return failWith(
        impl->fail("sidecar name '" + sidecarName + "' is not a file name in the plan's folder"));
  if (sidecarName.empty() && plan.weights().size() != 0)
    return failWith(impl->fail("the plan names no sidecar but expects " +
                               std::to_string(plan.weights().size()) + " bytes of weights"));
  std::string sidecarPath = (std::filesystem::path(planPath).parent_path() / sidecarName).string();

  uint64_t sidecarSize = plan.weights().size();
  if (std::string problem = impl->validateTensors(sidecarSize); !problem.empty())
    return failWith(problem);
  if (std::string problem = impl->validateInstructions(); !problem.empty())
    return failWith(problem);
  if (std::string problem = impl->validateCollectives(); !problem.empty())
    return failWith(problem);
  if (std::string problem = impl->validateBindings(); !problem.empty())
    return failWith(problem);
  // The sidecar's size bounds every constant; check it before allocating.
  if (!sidecarName.empty()) {
    std::error_code code;
    uint64_t actual = std::filesystem::file_size(sidecarPath, code);
    if (code)
      return failWith(sidecarPath + ": cannot open the weights sidecar: " + code.message());
    if (actual != sidecarSize)
      return failWith(sidecarPath + ": holds " + std::to_string(actual) +
                      " bytes; the plan expects " + std::to_string(sidecarSize) +
                      (actual < sidecarSize ? " (truncated?)" : ""));
  }

  // Constants get their own aligned copies, packed in tensor order.
  uint64_t alignment = std::max<uint64_t>(plan.alignment(), 64);
  uint64_t constantBytes = 0;
  std::vector<uint64_t> constantOffsets(impl->tensors.size());
  for (size_t index = 0; index < impl->tensors.size(); ++index) {
    if (impl->tensors[index].placement != sp::plan::CONSTANT)
      continue;
    constantOffsets[index] = constantBytes;
    uint64_t padded = (impl->tensors[index].bytes + alignment - 1) / alignment * alignment;
    if (__builtin_add_overflow(constantBytes, padded, &constantBytes))
      return failWith(impl->fail("constants overflow 64-bit sizes"));
  }
  // One workspace serves every kernel: the compute stream runs one at a time.
  uint64_t workspaceBytes = 0;
  for (InstructionSlot &slot : impl->instructions)
    if (slot.kernel->workspace)
      workspaceBytes = std::max(workspaceBytes, slot.kernel->workspace(slot.args));
  for (auto [buffer, bytes, what] :
       {std::tuple{&impl->arena, plan.arena_bytes(), "arena"},
        std::tuple{&impl->state, plan.state_bytes(), "state"},
        std::tuple{&impl->constants, constantBytes, "constants"},
        std::tuple{&impl->workspace, workspaceBytes, "kernels' workspace"}})
    if (std::string problem = impl->allocate(*buffer, bytes, what); !problem.empty())
      return failWith(problem);
  for (size_t index = 0; index < impl->tensors.size(); ++index) {
    TensorSlot &slot = impl->tensors[index];
    const sp::plan::Tensor &tensor = plan.tensors(int(index));
    switch (slot.placement) {
    case sp::plan::ARENA:
      slot.data = impl->arena.data() + tensor.offset();
      break;
    case sp::plan::STATE:
      slot.data = impl->state.data() + tensor.offset();
      break;
    default:
      slot.data = impl->constants.data() + constantOffsets[index];
      break;
    }
  }
  if (std::string problem = impl->loadSidecar(sidecarPath, sidecarSize); !problem.empty())
    return failWith(problem);

  // From here on the kernels see real memory.
  for (size_t index = 0; index < impl->instructions.size(); ++index) {
    const sp::plan::Instruction &instruction = plan.instructions(int(index));
    InstructionSlot &slot = impl->instructions[index];
    for (int operand = 0; operand < instruction.inputs_size(); ++operand)
      if (instruction.inputs(operand) >= 0)
        slot.args.inputs[operand].data = impl->tensors[instruction.inputs(operand)].data;
    for (int operand = 0; operand < instruction.outputs_size(); ++operand)
      slot.args.outputs[operand].data = impl->tensors[instruction.outputs(operand)].data;
    slot.args.stream = &impl->device->computeStream();
    if (slot.kernel->workspace) {
      slot.args.workspace = impl->workspace.data();
      slot.args.workspaceBytes = workspaceBytes;
    }
  }
  return impl;
}

std::unique_ptr<Session> Session::load(const std::string &planPath, std::string &error) {
  std::shared_ptr<Communicator> world = worldCommunicator(error);
  if (!world)
    return nullptr;
  return load(planPath, std::move(world), error);
}

std::unique_ptr<Session> Session::load(const std::string &planPath,
                                       std::shared_ptr<Communicator> communicator,
                                       std::string &error) {
  return load(planPath, std::move(communicator), SessionOptions(), error);
}

std::unique_ptr<Session> Session::load(const std::string &planPath,
                                       std::shared_ptr<Communicator> communicator,
                                       const SessionOptions &options, std::string &error) {
  if (!communicator) {
    error = planPath + ": no communicator to run the plan with";
    return nullptr;
  }
  std::shared_ptr<Communicator> ranks = communicator;
  std::unique_ptr<Impl> impl;
  // Every rank must reach the agreement below, even one that ran out of memory.
  try {
    impl = Impl::load(planPath, std::move(communicator), options, error);
  } catch (const std::bad_alloc &) {
    error = planPath + ": out of memory";
  } catch (const std::exception &exception) {
    error = planPath + ": " + exception.what();
  }
  // Every rank loads the same plan; all of them go on, or none.
  if (ranks->size() > 1) {
    std::string agreed = ranks->agree(impl ? "" : error);
    if (!agreed.empty()) {
      error = singleLine(agreed);
      return nullptr;
    }
  }
  if (!impl)
    return nullptr;
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

const sp::plan::Plan &Session::plan() const { return impl_->plan; }
const std::string &Session::planPath() const { return impl_->planPath; }
bool Session::isTraining() const { return impl_->lossTensor >= 0; }
const std::vector<TensorInfo> &Session::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo> &Session::outputs() const { return impl_->outputs; }
const std::vector<TensorInfo> &Session::parameters() const { return impl_->parameters; }
const TensorInfo *Session::tokenInput() const {
  return impl_->tokenInput < 0 ? nullptr : &impl_->inputs[impl_->tokenInput];
}
int64_t Session::vocabSize() const { return impl_->plan.vocab_size(); }
int64_t Session::tokensPerStep() const {
  const TensorInfo *tokens = tokenInput();
  return tokens ? tokens->numElements() : 0;
}
int64_t Session::stepsCompleted() const { return impl_->stepsCompleted; }
uint64_t Session::seed() const { return impl_->context.seed; }
void Session::setSeed(uint64_t seed) { impl_->context.seed = seed; }
bool Session::hasRun() const { return impl_->stepRan; }

int Session::rank() const { return impl_->context.rank; }
int Session::worldSize() const { return impl_->context.worldSize; }
Communicator &Session::communicator() const { return *impl_->communicator; }
bool Session::communicationFailed() const { return impl_->communicationFailed; }
const std::vector<CommunicationTiming> &Session::lastStepCommunication() const {
  return impl_->communicationTimings;
}
double Session::lastStepBeginMicroseconds() const { return impl_->stepBeginMicroseconds; }
double Session::lastStepMicroseconds() const { return impl_->stepMicroseconds; }
Device &Session::device() const { return *impl_->device; }

} // namespace sp::runtime