//===- Session.cpp - loading and running a plan ---------------------------===//
//
// Loading validates everything a corrupt or foreign plan could get wrong
// before memory is touched: tensor indices, dtypes, shapes, placements and
// byte ranges, the sidecar's size and checksum, and every instruction through
// its kernel's `check`. Running then trusts the plan.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Session.h"
#include "sp/runtime/Collectives.h"
#include "sp/runtime/Files.h"
#include "sp/runtime/Kernel.h"
#include "sp/runtime/PlanFile.h"

#include "sp/plan/plan.pb.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace sp::runtime {

int64_t TensorInfo::numElements() const { return sp::runtime::numElements(shape); }

std::string TensorInfo::describe() const {
  return std::string(dtypeName(dtype)) + " " + formatShape(shape);
}

namespace {

/// Memory aligned for the widest vector loads and for the plan's alignment.
class AlignedBuffer {
public:
  bool allocate(uint64_t size, uint64_t alignment) {
    alignment = std::max<uint64_t>(alignment, 64);
    if (size > std::numeric_limits<uint64_t>::max() - alignment)
      return false;
    uint64_t rounded =
        std::max<uint64_t>((size + alignment - 1) / alignment * alignment, alignment);
    void *memory = nullptr;
    if (rounded > std::numeric_limits<size_t>::max() ||
        ::posix_memalign(&memory, size_t(alignment), size_t(rounded)) != 0)
      return false;
    data_.reset(static_cast<char *>(memory));
    return true;
  }
  char *data() const { return data_.get(); }

private:
  struct Free {
    void operator()(char *pointer) const { std::free(pointer); }
  };
  std::unique_ptr<char, Free> data_;
};

/// Plans align to cache lines or pages; anything larger is corruption.
constexpr uint64_t kMaxAlignment = uint64_t(1) << 20;

struct TensorSlot {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  sp::plan::Placement placement = sp::plan::PLACEMENT_UNSPECIFIED;
  char *data = nullptr;
};

struct InstructionSlot {
  const Kernel *kernel = nullptr;
  KernelArgs args;
  Attributes attributes;
  std::string where; // "instruction 3 (matmul, node 'x' (MatMul))"
};

/// A binding's tensor holds this rank's shard along `shardAxis` of the
/// whole tensor users see (`info`), or all of it when `shardAxis` is -1.
struct InputSlot {
  TensorInfo info;
  int tensor = -1;
  int shardAxis = -1;
  std::vector<char> data; // this rank's bytes, copied into place every step
  bool set = false;
};

struct OutputSlot {
  int tensor = -1;
  int shardAxis = -1;
};

struct ParameterSlot {
  TensorInfo info;
  int tensor = -1;
  int gradient = -1;
};

struct StateFile {
  int tensor = -1;
  std::string relativePath; // "param/<name>.npy" or "state/<name>.npy"
  std::string what;         // "parameter 'w'" or "state tensor 'm'"
};

bool toRuntimeDType(int planDType, DType &dtype) {
  switch (planDType) {
  case sp::plan::F32:
    dtype = DType::Float32;
    return true;
  case sp::plan::F64:
    dtype = DType::Float64;
    return true;
  case sp::plan::I64:
    dtype = DType::Int64;
    return true;
  case sp::plan::I32:
    dtype = DType::Int32;
    return true;
  case sp::plan::BOOL:
    dtype = DType::Bool;
    return true;
  case sp::plan::F16:
    dtype = DType::Float16;
    return true;
  case sp::plan::BF16:
    dtype = DType::BFloat16;
    return true;
  default:
    return false;
  }
}

const char *placementName(sp::plan::Placement placement) {
  switch (placement) {
  case sp::plan::ARENA:
    return "ARENA";
  case sp::plan::STATE:
    return "STATE";
  case sp::plan::CONSTANT:
    return "CONSTANT";
  default:
    return "no placement";
  }
}

std::string rangeText(uint64_t begin, uint64_t size) {
  uint64_t end;
  if (__builtin_add_overflow(begin, size, &end))
    return "[" + std::to_string(begin) + ", +" + std::to_string(size) + ")";
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

/// Names from a corrupt plan must not split a message over lines.
std::string singleLine(std::string message) {
  for (char &c : message)
    if (c == '\n' || c == '\r')
      c = ' ';
  return message;
}

AttributeValue toAttributeValue(const sp::plan::Attribute &attribute, bool &known) {
  known = true;
  switch (attribute.value_case()) {
  case sp::plan::Attribute::kI:
    return attribute.i();
  case sp::plan::Attribute::kF:
    return attribute.f();
  case sp::plan::Attribute::kS:
    return attribute.s();
  case sp::plan::Attribute::kB:
    return attribute.b();
  case sp::plan::Attribute::kInts:
    return std::vector<int64_t>(attribute.ints().values().begin(), attribute.ints().values().end());
  case sp::plan::Attribute::kFloats:
    return std::vector<double>(attribute.floats().values().begin(),
                               attribute.floats().values().end());
  default:
    known = false;
    return int64_t(0);
  }
}

} // namespace

struct Session::Impl {
  std::string planPath;
  sp::plan::Plan plan;
  std::vector<TensorSlot> tensors;
  std::vector<InstructionSlot> instructions;
  std::vector<InputSlot> inputSlots;
  std::vector<TensorInfo> inputs;
  std::vector<OutputSlot> outputSlots;
  std::vector<TensorInfo> outputs;
  std::vector<ParameterSlot> parameterSlots;
  std::vector<TensorInfo> parameters;
  std::vector<StateFile> stateFiles;
  int tokenInput = -1; // index into inputs
  int lossTensor = -1;
  AlignedBuffer arena, state, constants;
  int64_t stepsCompleted = 0;
  bool stepRan = false;
  bool profiling = false;
  std::vector<KernelTiming> timings;

  // The ranks (Collectives.h). Collective kernels reach them through
  // `context`; sharded bindings split the sequence in `layout`.
  std::shared_ptr<Communicator> communicator;
  ExecutionContext context;
  PendingCollectives pending;
  SequenceLayout layout;
  /// A collective failed: the ranks are out of step and cannot agree again.
  mutable bool communicationFailed = false;

  static std::unique_ptr<Impl> load(const std::string &planPath,
                                    std::shared_ptr<Communicator> communicator, std::string &error);
  std::string fail(const std::string &why) const { return planPath + ": " + why; }
  bool isMultiRank() const { return context.worldSize > 1; }
  /// Under several ranks, every rank's outcome: the first failure among them.
  std::string agreed(const std::string &error) const;
  std::string validateCollectives();
  std::string validateSharding(const std::string &what, int tensor, bool sharded, int shardAxis,
                               int &slotAxis, TensorInfo &info) const;
  std::string gatherOut(const OutputSlot &slot, const TensorInfo &whole, NpyArray &array) const;
  std::string saveStateHere(const std::string &directory) const;
  std::string describeTensor(int index) const;
  std::string validateTensors(uint64_t sidecarSize);
  std::string validateInstructions();
  std::string validateBindings();
  std::string loadSidecar(const std::string &sidecarPath, uint64_t sidecarSize);
  std::string loadStateHere(const std::string &directory);
  std::string copyOut(int tensor, NpyArray &array) const;
  std::string copyIn(int tensor, const TensorInfo &info, const std::string &what,
                     const NpyArray &array);
  const ParameterSlot *findParameter(const std::string &name) const;
};

std::string Session::Impl::describeTensor(int index) const {
  const std::string &name = plan.tensors(index).name();
  return "tensor " + std::to_string(index) + (name.empty() ? "" : " ('" + name + "')");
}

std::string Session::Impl::validateTensors(uint64_t sidecarSize) {
  uint64_t alignment = plan.alignment();
  if (alignment == 0 || alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0)
    return fail("alignment " + std::to_string(alignment) + " is not a power of two from 1 to " +
                std::to_string(kMaxAlignment));
  tensors.resize(plan.tensors_size());
  for (int index = 0; index < plan.tensors_size(); ++index) {
    const sp::plan::Tensor &tensor = plan.tensors(index);
    TensorSlot &slot = tensors[index];
    auto tensorFail = [&](const std::string &why) {
      return fail(describeTensor(index) + ": " + why);
    };
    if (!toRuntimeDType(tensor.dtype(), slot.dtype))
      return tensorFail("unknown dtype " + std::to_string(tensor.dtype()));
    slot.shape.assign(tensor.shape().begin(), tensor.shape().end());
    uint64_t bytes = uint64_t(dtypeSize(slot.dtype));
    for (int64_t dim : slot.shape) {
      if (dim < 0)
        return tensorFail("negative dim " + std::to_string(dim) + " in its shape");
      if (__builtin_mul_overflow(bytes, uint64_t(dim), &bytes) ||
          bytes > uint64_t(std::numeric_limits<int64_t>::max()))
        return tensorFail("shape " + formatShape(slot.shape) + " is too large");
    }
    slot.bytes = bytes;
    slot.placement = tensor.placement();
    uint64_t elementSize = uint64_t(dtypeSize(slot.dtype));
    auto checkRegion = [&](const char *region, uint64_t offset,
                           uint64_t regionSize) -> std::string {
      if (offset % alignment != 0 || offset % elementSize != 0)
        return tensorFail(std::string(region) + " offset " + std::to_string(offset) +
                          " is not a multiple of the alignment " + std::to_string(alignment) +
                          " and of its element size");
      if (offset > regionSize || bytes > regionSize - offset)
        return tensorFail("bytes " + rangeText(offset, bytes) + " lie outside the " + region +
                          " of " + std::to_string(regionSize) + " bytes");
      return "";
    };
    auto checkSidecar = [&]() -> std::string {
      uint64_t offset = tensor.sidecar_offset();
      if (offset > sidecarSize || bytes > sidecarSize - offset)
        return tensorFail("sidecar bytes " + rangeText(offset, bytes) +
                          " lie outside the sidecar of " + std::to_string(sidecarSize) + " bytes");
      return "";
    };
    std::string problem;
    switch (slot.placement) {
    case sp::plan::ARENA:
      if (tensor.zero_init())
        return tensorFail("zero_init is set on an ARENA tensor (only STATE has it)");
      problem = checkRegion("arena", tensor.offset(), plan.arena_bytes());
      break;
    case sp::plan::STATE:
      problem = checkRegion("state", tensor.offset(), plan.state_bytes());
      if (problem.empty() && !tensor.zero_init())
        problem = checkSidecar();
      break;
    case sp::plan::CONSTANT:
      if (tensor.zero_init())
        return tensorFail("zero_init is set on a CONSTANT tensor (only STATE has it)");
      problem = checkSidecar();
      break;
    default:
      return tensorFail("placement " + std::to_string(int(slot.placement)) +
                        " is not ARENA, STATE or CONSTANT");
    }
    if (!problem.empty())
      return problem;
  }
  return "";
}

std::string Session::Impl::validateInstructions() {
  int tensorCount = plan.tensors_size();
  instructions.resize(plan.instructions_size());
  for (int index = 0; index < plan.instructions_size(); ++index) {
    const sp::plan::Instruction &instruction = plan.instructions(index);
    InstructionSlot &slot = instructions[index];
    slot.where = "instruction " + std::to_string(index) + " (" + instruction.kernel() +
                 (instruction.location().empty() ? "" : ", " + instruction.location()) + ")";
    auto instructionFail = [&](const std::string &why) { return fail(slot.where + ": " + why); };
    slot.kernel = findCpuKernel(instruction.kernel());
    if (!slot.kernel)
      return instructionFail("no CPU kernel '" + instruction.kernel() + "'");
    for (int operand = 0; operand < instruction.inputs_size(); ++operand) {
      int tensor = instruction.inputs(operand);
      TensorArg arg;
      if (tensor == -1) {
        arg.present = false;
      } else if (tensor < 0 || tensor >= tensorCount) {
        return instructionFail("input " + std::to_string(operand) + " is tensor " +
                               std::to_string(tensor) + ", out of range (the plan has " +
                               std::to_string(tensorCount) + " tensors)");
      } else {
        arg.dtype = tensors[tensor].dtype;
        arg.shape = tensors[tensor].shape;
      }
      slot.args.inputs.push_back(std::move(arg));
    }
    for (int operand = 0; operand < instruction.outputs_size(); ++operand) {
      int tensor = instruction.outputs(operand);
      if (tensor < 0 || tensor >= tensorCount)
        return instructionFail("output " + std::to_string(operand) + " is tensor " +
                               std::to_string(tensor) + ", out of range (the plan has " +
                               std::to_string(tensorCount) + " tensors)");
      if (tensors[tensor].placement == sp::plan::CONSTANT)
        return instructionFail("output " + std::to_string(operand) + " writes CONSTANT " +
                               describeTensor(tensor));
      TensorArg arg;
      arg.dtype = tensors[tensor].dtype;
      arg.shape = tensors[tensor].shape;
      slot.args.outputs.push_back(std::move(arg));
    }
    for (const auto &[name, attribute] : instruction.attributes()) {
      bool known;
      AttributeValue value = toAttributeValue(attribute, known);
      if (!known)
        return instructionFail("attribute '" + name + "' has no value");
      slot.attributes.set(name, std::move(value));
    }
    slot.args.attributes = &slot.attributes;
    slot.args.context = &context;
    if (std::string problem = slot.kernel->check(slot.args); !problem.empty())
      return instructionFail(problem);
  }
  return "";
}

std::string Session::Impl::validateBindings() {
  int tensorCount = plan.tensors_size();
  auto inRange = [&](int tensor) { return tensor >= 0 && tensor < tensorCount; };
  auto infoOf = [&](const std::string &name, int tensor) {
    return TensorInfo{name, tensors[tensor].dtype, tensors[tensor].shape};
  };

  std::set<std::string> names;
  for (const sp::plan::Binding &binding : plan.inputs()) {
    if (!inRange(binding.tensor()))
      return fail("input '" + binding.name() + "' is tensor " + std::to_string(binding.tensor()) +
                  ", out of range");
    if (!names.insert(binding.name()).second)
      return fail("input '" + binding.name() + "' is bound twice");
    if (tensors[binding.tensor()].placement == sp::plan::CONSTANT)
      return fail("input '" + binding.name() + "' is CONSTANT " + describeTensor(binding.tensor()) +
                  "; inputs live in the arena or state");
    InputSlot slot;
    slot.tensor = binding.tensor();
    if (std::string problem =
            validateSharding("input '" + binding.name() + "'", binding.tensor(), binding.sharded(),
                             binding.shard_axis(), slot.shardAxis, slot.info);
        !problem.empty())
      return problem;
    slot.info.name = binding.name();
    inputs.push_back(slot.info);
    inputSlots.push_back(std::move(slot));
  }
  names.clear();
  for (const sp::plan::Binding &binding : plan.outputs()) {
    if (!inRange(binding.tensor()))
      return fail("output '" + binding.name() + "' is tensor " + std::to_string(binding.tensor()) +
                  ", out of range");
    if (!names.insert(binding.name()).second)
      return fail("output '" + binding.name() + "' is bound twice");
    OutputSlot slot;
    slot.tensor = binding.tensor();
    TensorInfo info;
    if (std::string problem =
            validateSharding("output '" + binding.name() + "'", binding.tensor(), binding.sharded(),
                             binding.shard_axis(), slot.shardAxis, info);
        !problem.empty())
      return problem;
    info.name = binding.name();
    outputSlots.push_back(slot);
    outputs.push_back(std::move(info));
  }

  if (plan.loss() != -1) {
    if (!inRange(plan.loss()))
      return fail("loss is tensor " + std::to_string(plan.loss()) + ", out of range");
    const TensorSlot &loss = tensors[plan.loss()];
    if ((loss.dtype != DType::Float32 && loss.dtype != DType::Float64) ||
        loss.bytes != uint64_t(dtypeSize(loss.dtype)))
      return fail("loss " + describeTensor(plan.loss()) + " is " + dtypeName(loss.dtype) + " " +
                  formatShape(loss.shape) + "; a loss is a float32 or float64 scalar");
    lossTensor = plan.loss();
  }

  // Every STATE tensor is saved and restored by name; parameters and their
  // optimizer state claim theirs first.
  std::set<int> claimed;
  std::set<std::string> parameterNames;
  for (const sp::plan::Parameter &parameter : plan.parameters()) {
    std::string what = "parameter '" + parameter.name() + "'";
    if (!parameterNames.insert(parameter.name()).second)
      return fail(what + " is listed twice");
    if (!inRange(parameter.tensor()))
      return fail(what + " is tensor " + std::to_string(parameter.tensor()) + ", out of range");
    const TensorSlot &value = tensors[parameter.tensor()];
    if (value.placement != sp::plan::STATE)
      return fail(what + " is " + placementName(value.placement) + " " +
                  describeTensor(parameter.tensor()) + "; parameters live in STATE");
    if (!inRange(parameter.gradient()))
      return fail(what + ": its gradient is tensor " + std::to_string(parameter.gradient()) +
                  ", out of range");
    const TensorSlot &gradient = tensors[parameter.gradient()];
    // A CONSTANT gradient is fine: the loss is linear in the parameter, or
    // does not depend on it (zero).
    if (gradient.dtype != value.dtype || gradient.shape != value.shape)
      return fail(what + " is " + dtypeName(value.dtype) + " " + formatShape(value.shape) +
                  " but its gradient " + describeTensor(parameter.gradient()) + " is " +
                  dtypeName(gradient.dtype) + " " + formatShape(gradient.shape));
    for (int state : parameter.optimizer_state()) {
      if (!inRange(state))
        return fail(what + ": optimizer state tensor " + std::to_string(state) +
                    " is out of range");
      if (tensors[state].placement != sp::plan::STATE)
        return fail(what + ": optimizer state " + describeTensor(state) + " is " +
                    placementName(tensors[state].placement) + "; it must be STATE");
    }
    if (!claimed.insert(parameter.tensor()).second)
      return fail(what + ": " + describeTensor(parameter.tensor()) +
                  " belongs to another parameter");
    parameterSlots.push_back(
        {infoOf(parameter.name(), parameter.tensor()), parameter.tensor(), parameter.gradient()});
    parameters.push_back(parameterSlots.back().info);
    stateFiles.push_back(
        {parameter.tensor(), "param/" + encodeFileName(parameter.name()) + ".npy", what});
  }
  // The rest of the state (optimizer moments, step counters) by tensor name;
  // unnamed or ambiguous ones by index, which is stable for one plan.
  std::map<std::string, int> nameCounts;
  for (const sp::plan::Tensor &tensor : plan.tensors())
    if (tensor.placement() == sp::plan::STATE)
      ++nameCounts[tensor.name()];
  for (int index = 0; index < tensorCount; ++index) {
    if (tensors[index].placement != sp::plan::STATE || claimed.count(index))
      continue;
    const std::string &name = plan.tensors(index).name();
    std::string fileName = !name.empty() && nameCounts[name] == 1 && !parameterNames.count(name)
                               ? name
                               : "tensor" + std::to_string(index);
    stateFiles.push_back(
        {index, "state/" + encodeFileName(fileName) + ".npy", "state " + describeTensor(index)});
  }

  if (!plan.token_input().empty()) {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].name == plan.token_input())
        tokenInput = int(i);
    if (tokenInput < 0)
      return fail("token input '" + plan.token_input() + "' is not an input of the plan");
    const TensorInfo &tokens = inputs[tokenInput];
    if ((tokens.dtype != DType::Int64 && tokens.dtype != DType::Int32) || tokens.shape.size() != 2)
      return fail("token input '" + tokens.name + "' is " + tokens.describe() +
                  "; token inputs are int64 or int32 [batch, sequence]");
  }
  if (plan.vocab_size() < 0)
    return fail("vocab_size " + std::to_string(plan.vocab_size()) + " is negative");
  return "";
}

std::string Session::Impl::validateSharding(const std::string &what, int tensor, bool sharded,
                                            int shardAxis, int &slotAxis, TensorInfo &info) const {
  const TensorSlot &slot = tensors[tensor];
  info = TensorInfo{"", slot.dtype, slot.shape};
  slotAxis = -1;
  if (!sharded)
    return "";
  std::string described =
      describeTensor(tensor) + " (" + dtypeName(slot.dtype) + " " + formatShape(slot.shape) + ")";
  if (shardAxis < 0 || size_t(shardAxis) >= slot.shape.size())
    return fail(what + ": shard_axis " + std::to_string(shardAxis) + " is out of range for " +
                described);
  int64_t &dim = info.shape[size_t(shardAxis)];
  if (dim % layout.chunksPerRank() != 0)
    return fail(what + ": dim " + std::to_string(shardAxis) + " of " + described +
                " does not make the 2 chunks of a zigzag shard");
  uint64_t wholeBytes;
  if (__builtin_mul_overflow(slot.bytes, uint64_t(layout.ranks), &wholeBytes) ||
      wholeBytes > uint64_t(std::numeric_limits<int64_t>::max()))
    return fail(what + ": " + described + " on " + std::to_string(layout.ranks) +
                " ranks is too large");
  dim *= layout.ranks;
  slotAxis = shardAxis;
  return "";
}

std::string Session::Impl::validateCollectives() {
  // Bytes a collective in flight reads (the start's input) or writes (the
  // future) must not be written, nor the future read, until its wait.
  auto overlap = [&](int a, int b) {
    const TensorSlot &first = tensors[a], &second = tensors[b];
    if (first.placement != second.placement || first.placement == sp::plan::CONSTANT ||
        first.bytes == 0 || second.bytes == 0)
      return false;
    uint64_t firstOffset = plan.tensors(a).offset(), secondOffset = plan.tensors(b).offset();
    return firstOffset < secondOffset + second.bytes && secondOffset < firstOffset + first.bytes;
  };
  auto isStart = [&](int index) {
    const std::string &kernel = plan.instructions(index).kernel();
    return instructions[index].kernel->communicates && kernel.size() > 6 &&
           kernel.compare(kernel.size() - 6, 6, "_start") == 0;
  };
  std::map<int, int> startOf; // future tensor -> the start writing it
  for (int index = 0; index < plan.instructions_size(); ++index) {
    const sp::plan::Instruction &instruction = plan.instructions(index);
    const std::string &where = instructions[index].where;
    bool isWait = instruction.kernel() == "wait";
    for (const auto &[future, start] : startOf) {
      if (isWait && instruction.inputs(0) == future)
        continue;
      const sp::plan::Instruction &started = plan.instructions(start);
      std::string inFlight =
          " bytes that the collective of " + instructions[start].where + " uses until its wait";
      for (int output : instruction.outputs())
        if (overlap(output, future) ||
            (started.inputs(0) >= 0 && overlap(output, started.inputs(0))))
          return fail(where + ": writes " + describeTensor(output) + " over" + inFlight);
      for (int input : instruction.inputs())
        if (input >= 0 && overlap(input, future))
          return fail(where + ": reads " + describeTensor(input) + " from" + inFlight);
    }
    if (isWait) {
      auto waited = startOf.find(instruction.inputs(0));
      if (waited == startOf.end())
        return fail(where + ": waits for " + describeTensor(instruction.inputs(0)) +
                    ", which no started collective writes");
      startOf.erase(waited);
    } else if (isStart(index)) {
      int future = instruction.outputs(0);
      if (auto earlier = startOf.find(future); earlier != startOf.end())
        return fail(where + ": starts a collective into " + describeTensor(future) +
                    " while that of " + instructions[earlier->second].where +
                    " is still in flight");
      startOf[future] = index;
    }
  }
  if (!startOf.empty()) {
    int first = plan.instructions_size();
    for (const auto &entry : startOf)
      first = std::min(first, entry.second);
    return fail(instructions[first].where + ": its collective is never waited for");
  }
  return "";
}

std::string Session::Impl::agreed(const std::string &error) const {
  if (!isMultiRank())
    return error;
  if (communicationFailed)
    return error.empty() ? "the ranks are out of step after a failed collective" : error;
  return singleLine(communicator->agree(error));
}

std::string Session::Impl::gatherOut(const OutputSlot &slot, const TensorInfo &whole,
                                     NpyArray &array) const {
  const TensorSlot &local = tensors[slot.tensor];
  size_t wholeBytes = size_t(local.bytes) * size_t(layout.ranks);
  array.dtype = whole.dtype;
  array.shape = whole.shape;
  array.data.resize(wholeBytes);
  bool inPlace = layout.isRankMajor(whole.shape, slot.shardAxis);
  std::vector<char> ranksMajor(inPlace ? 0 : wholeBytes);
  if (std::string error =
          communicator->allGather(local.data, inPlace ? array.data.data() : ranksMajor.data(),
                                  numElements(local.shape), local.dtype);
      !error.empty()) {
    communicationFailed = true;
    return "output '" + whole.name + "': gathering its shards failed: " + error;
  }
  if (!inPlace)
    layout.unpackRanks(ranksMajor.data(), array.data.data(), whole.shape, slot.shardAxis,
                       dtypeSize(local.dtype));
  return "";
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
      std::memset(slot.data, 0, slot.bytes);
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
  for (uint64_t begin = 0; begin < sidecarSize; begin += chunk.size()) {
    uint64_t size = std::min<uint64_t>(chunk.size(), sidecarSize - begin);
    if (!file.read(chunk.data(), std::streamsize(size)))
      return sidecarPath + ": read failed at byte " + std::to_string(begin);
    checksum.update(chunk.data(), size);
    for (const Copy &copy : copies) {
      uint64_t from = std::max(begin, copy.sidecarOffset);
      uint64_t to = std::min(begin + size, copy.sidecarOffset + copy.bytes);
      if (from < to)
        std::memcpy(copy.destination + (from - copy.sidecarOffset), chunk.data() + (from - begin),
                    to - from);
    }
  }
  // A plan without weights names no sidecar, and so no checksum either.
  if (!plan.weights().file().empty() && checksum.value() != plan.weights().checksum())
    return sidecarPath + ": checksum mismatch (the file is corrupt, or belongs to another "
                         "compile of the plan)";
  return "";
}

std::unique_ptr<Session::Impl> Session::Impl::load(const std::string &planPath,
                                                   std::shared_ptr<Communicator> communicator,
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
  impl->context = {communicator->rank(), worldSize, communicator.get(), &impl->pending};
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
  for (auto [buffer, bytes, what] : {std::tuple{&impl->arena, plan.arena_bytes(), "arena"},
                                     std::tuple{&impl->state, plan.state_bytes(), "state"},
                                     std::tuple{&impl->constants, constantBytes, "constants"}})
    if (!buffer->allocate(bytes, plan.alignment()))
      return failWith(
          impl->fail("cannot allocate " + std::to_string(bytes) + " bytes for the " + what));
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
  if (!communicator) {
    error = planPath + ": no communicator to run the plan with";
    return nullptr;
  }
  std::shared_ptr<Communicator> ranks = communicator;
  std::unique_ptr<Impl> impl;
  // Every rank must reach the agreement below, even one that ran out of memory.
  try {
    impl = Impl::load(planPath, std::move(communicator), error);
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
bool Session::hasRun() const { return impl_->stepRan; }

std::string Session::setInput(const std::string &name, const NpyArray &array) {
  return setInput(name, array.dtype, array.shape, array.data.data(), array.data.size());
}

std::string Session::setInput(const std::string &name, DType dtype,
                              const std::vector<int64_t> &shape, const void *data, size_t size) {
  for (InputSlot &slot : impl_->inputSlots) {
    if (slot.info.name != name)
      continue;
    if (dtype != slot.info.dtype || shape != slot.info.shape)
      return "input '" + name + "': expected " + slot.info.describe() + ", got " +
             dtypeName(dtype) + " " + formatShape(shape);
    uint64_t localBytes = impl_->tensors[slot.tensor].bytes;
    uint64_t bytes = slot.shardAxis < 0 ? localBytes : localBytes * uint64_t(impl_->layout.ranks);
    if (size != bytes)
      return "input '" + name + "': expected " + std::to_string(bytes) + " bytes of " +
             slot.info.describe() + ", got " + std::to_string(size);
    const char *begin = static_cast<const char *>(data);
    if (slot.shardAxis < 0) {
      slot.data.assign(begin, begin + size);
    } else {
      slot.data.resize(size_t(localBytes));
      impl_->layout.extractShard(begin, slot.data.data(), slot.info.shape, slot.shardAxis,
                                 impl_->context.rank, dtypeSize(dtype));
    }
    slot.set = true;
    return "";
  }
  std::string known;
  for (const TensorInfo &input : impl_->inputs)
    known += (known.empty() ? "" : ", ") + input.name;
  return "the plan has no input '" + name + "' (its inputs: " + (known.empty() ? "none" : known) +
         ")";
}

std::string Session::runStep() {
  Impl &impl = *impl_;
  if (impl.communicationFailed)
    return "the ranks are out of step after a failed collective; load the plan again";
  // Under several ranks a rank that fails goes on with the kernels that
  // communicate, so that the others do not wait for it forever, and all of
  // them agree on the failure at the end of the step.
  std::string failure;
  for (const InputSlot &slot : impl.inputSlots)
    if (!slot.set && failure.empty())
      failure = "missing input '" + slot.info.name + "' (" + slot.info.describe() + ")";
  if (!failure.empty() && !impl.isMultiRank())
    return failure;
  // The arena is scratch: inputs go (back) into place every step.
  if (failure.empty())
    for (const InputSlot &slot : impl.inputSlots)
      std::memcpy(impl.tensors[slot.tensor].data, slot.data.data(), slot.data.size());

  using Clock = std::chrono::steady_clock;
  impl.timings.clear();
  Clock::time_point stepStart = Clock::now();
  for (size_t index = 0; index < impl.instructions.size(); ++index) {
    const InstructionSlot &slot = impl.instructions[index];
    if (!failure.empty() && !slot.kernel->communicates)
      continue;
    Clock::time_point start = impl.profiling ? Clock::now() : Clock::time_point();
    std::string problem;
    // Staging bytes of collectives are allocated as they run; under several
    // ranks a failure must not skip the agreement at the end of the step.
    try {
      problem = slot.kernel->run(slot.args);
    } catch (const std::bad_alloc &) {
      problem = "out of memory";
    }
    if (impl.profiling) {
      Clock::time_point end = Clock::now();
      const sp::plan::Instruction &instruction = impl.plan.instructions(int(index));
      impl.timings.push_back({int(index), instruction.kernel(), instruction.location(),
                              std::chrono::duration<double, std::micro>(start - stepStart).count(),
                              std::chrono::duration<double, std::micro>(end - start).count()});
    }
    if (!problem.empty()) {
      std::string message = singleLine(impl.fail(slot.where + ": " + problem));
      if (!impl.isMultiRank())
        return message;
      // Peers may be waiting in this collective, or past it: out of step.
      if (slot.kernel->communicates) {
        impl.communicationFailed = true;
        return message;
      }
      if (failure.empty())
        failure = message;
    }
    if (impl.isMultiRank() && impl.pending.anyInFlight())
      impl.communicator->progress();
  }
  if (std::string agreed = impl.agreed(failure); !agreed.empty())
    return agreed;
  impl.stepRan = true;
  ++impl.stepsCompleted;
  return "";
}

double Session::loss() const {
  if (!impl_->stepRan || impl_->lossTensor < 0)
    return std::nan("");
  const TensorSlot &loss = impl_->tensors[impl_->lossTensor];
  if (loss.dtype == DType::Float32) {
    float value;
    std::memcpy(&value, loss.data, sizeof value);
    return value;
  }
  double value;
  std::memcpy(&value, loss.data, sizeof value);
  return value;
}

std::string Session::Impl::copyOut(int tensor, NpyArray &array) const {
  const TensorSlot &slot = tensors[tensor];
  array.dtype = slot.dtype;
  array.shape = slot.shape;
  array.data.assign(slot.data, slot.data + slot.bytes);
  return "";
}

std::string Session::Impl::copyIn(int tensor, const TensorInfo &info, const std::string &what,
                                  const NpyArray &array) {
  if (array.dtype != info.dtype || array.shape != info.shape)
    return what + ": expected " + info.describe() + ", got " + dtypeName(array.dtype) + " " +
           formatShape(array.shape);
  const TensorSlot &slot = tensors[tensor];
  if (array.data.size() != slot.bytes)
    return what + ": expected " + std::to_string(slot.bytes) + " bytes, got " +
           std::to_string(array.data.size());
  std::memcpy(slot.data, array.data.data(), slot.bytes);
  return "";
}

const ParameterSlot *Session::Impl::findParameter(const std::string &name) const {
  for (const ParameterSlot &slot : parameterSlots)
    if (slot.info.name == name)
      return &slot;
  return nullptr;
}

std::string Session::output(const std::string &name, NpyArray &array) const {
  for (size_t i = 0; i < impl_->outputs.size(); ++i) {
    if (impl_->outputs[i].name != name)
      continue;
    if (!impl_->stepRan)
      return "output '" + name + "': no step has run yet";
    const OutputSlot &slot = impl_->outputSlots[i];
    if (slot.shardAxis < 0 || !impl_->isMultiRank())
      return impl_->copyOut(slot.tensor, array);
    return impl_->gatherOut(slot, impl_->outputs[i], array);
  }
  return "the plan has no output '" + name + "'";
}

std::string Session::gradient(const std::string &name, NpyArray &array) const {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  if (!impl_->stepRan)
    return "gradient of '" + name + "': no step has run yet";
  return impl_->copyOut(slot->gradient, array);
}

std::string Session::parameter(const std::string &name, NpyArray &array) const {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  return impl_->copyOut(slot->tensor, array);
}

std::string Session::setParameter(const std::string &name, const NpyArray &array) {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  return impl_->copyIn(slot->tensor, slot->info, "parameter '" + name + "'", array);
}

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
    std::memcpy(slot.data, arrays[i].data.data(), slot.bytes);
  }
  stepsCompleted = steps;
  return "";
}

void Session::setProfiling(bool enabled) { impl_->profiling = enabled; }
int Session::rank() const { return impl_->context.rank; }
int Session::worldSize() const { return impl_->context.worldSize; }
Communicator &Session::communicator() const { return *impl_->communicator; }
bool Session::communicationFailed() const { return impl_->communicationFailed; }
const std::vector<KernelTiming> &Session::lastStepTimings() const { return impl_->timings; }

} // namespace sp::runtime
