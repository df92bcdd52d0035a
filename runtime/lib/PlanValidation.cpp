//===- PlanValidation.cpp - checking a plan before it runs ------------------===//
//
// Loading validates everything a corrupt or foreign plan could get wrong
// before memory is touched: tensor indices, dtypes, shapes, placements and
// byte ranges, bindings, collectives in flight, and every instruction through
// its kernel's `check`. Running then trusts the plan.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"
#include "sp/runtime/Files.h"

#include <map>
#include <set>

namespace sp::runtime {

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
    // Kernels are registered by op and the element type of the first input
    // (of the first output, for an instruction without inputs).
    DType elementType = DType::Float32;
    if (!slot.args.inputs.empty() && slot.args.inputs[0].present)
      elementType = slot.args.inputs[0].dtype;
    else if (slot.args.inputs.empty() && !slot.args.outputs.empty())
      elementType = slot.args.outputs[0].dtype;
    slot.kernel = device->findKernel(instruction.kernel(), elementType);
    if (!slot.kernel) {
      if (device->findKernel(instruction.kernel(), DType::Float32) ||
          device->findKernel(instruction.kernel(), DType::Float64))
        return instructionFail("no " + device->name() + " kernel '" + instruction.kernel() +
                               "' for " + dtypeName(elementType));
      return instructionFail("no " + device->name() + " kernel '" + instruction.kernel() + "'");
    }
    // `wait` and the blocking collectives hold the compute stream until
    // communication completes; a `*_start` only enqueues it, and ring
    // attention computes while its transfers run.
    const std::string &op = instruction.kernel();
    bool starts = op.size() > 6 && op.compare(op.size() - 6, 6, "_start") == 0;
    slot.waitsForCommunication = slot.kernel->communicates && !starts &&
                                 op.rfind("ring_attention", 0) != 0;
    for (const auto &[name, attribute] : instruction.attributes()) {
      bool known;
      AttributeValue value = toAttributeValue(attribute, known);
      if (!known)
        return instructionFail("attribute '" + name + "' has no value");
      slot.attributes.set(name, std::move(value));
    }
    slot.args.attributes = &slot.attributes;
    slot.args.context = &context;
    // The compiler writes an op's attributes under their ODS names; one the
    // check never reads is one this kernel does not know (a renamed or new
    // attribute, a hand-edited plan), and running on would ignore it.
    std::set<std::string> read;
    slot.attributes.recordLookups(&read);
    std::string problem = slot.kernel->check(slot.args);
    slot.attributes.recordLookups(nullptr);
    if (!problem.empty())
      return instructionFail(problem);
    for (const auto &[name, attribute] : instruction.attributes())
      if (!read.count(name))
        return instructionFail("attribute '" + name + "' is not one the " + device->name() +
                               " kernel '" + op + "' knows");
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
    if (std::string problem = validateSharding("input '" + binding.name() + "'", binding,
                                               slot.shardAxis, slot.paddedLength, slot.info);
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
    if (std::string problem = validateSharding("output '" + binding.name() + "'", binding,
                                               slot.shardAxis, slot.paddedLength, info);
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
  // A scalar the step leaves for the host: `role` names it in messages.
  auto scalarResult = [&](int tensor, const char *role, int &slot) -> std::string {
    if (!inRange(tensor))
      return fail(std::string(role) + " is tensor " + std::to_string(tensor) + ", out of range");
    const TensorSlot &value = tensors[tensor];
    if ((value.dtype != DType::Float32 && value.dtype != DType::Float64) ||
        value.bytes != uint64_t(dtypeSize(value.dtype)))
      return fail(std::string(role) + " " + describeTensor(tensor) + " is " +
                  dtypeName(value.dtype) + " " + formatShape(value.shape) +
                  "; it must be a float32 or float64 scalar");
    slot = tensor;
    return {};
  };
  if (plan.has_learning_rate())
    if (std::string problem = scalarResult(plan.learning_rate(), "learning rate",
                                           learningRateTensor);
        !problem.empty())
      return problem;
  if (plan.has_gradient_norm())
    if (std::string problem = scalarResult(plan.gradient_norm(), "gradient norm",
                                           gradientNormTensor);
        !problem.empty())
      return problem;

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
    stateFiles.push_back({parameter.tensor(), parameter.name(), "parameter",
                          "param/" + encodeFileName(parameter.name()) + ".npy", what});
  }
  // The rest of the state (optimizer moments, step counters) by tensor name.
  // An unnamed STATE tensor within a named one's bytes is a view of it (a
  // reshape of a parameter), not state of its own.
  auto isViewOfAnother = [&](int index) {
    uint64_t begin = plan.tensors(index).offset(), end = begin + tensors[index].bytes;
    for (int other = 0; other < tensorCount; ++other) {
      if (other == index || tensors[other].placement != sp::plan::STATE ||
          plan.tensors(other).name().empty())
        continue;
      uint64_t otherBegin = plan.tensors(other).offset();
      if (otherBegin <= begin && end <= otherBegin + tensors[other].bytes)
        return true;
    }
    return false;
  };
  std::map<std::string, int> nameCounts;
  for (const sp::plan::Tensor &tensor : plan.tensors())
    if (tensor.placement() == sp::plan::STATE)
      ++nameCounts[tensor.name()];
  for (int index = 0; index < tensorCount; ++index) {
    if (tensors[index].placement != sp::plan::STATE || claimed.count(index))
      continue;
    const std::string &name = plan.tensors(index).name();
    if (name.empty() && isViewOfAnother(index))
      continue;
    // Plans from sp-compile name all their state; another plan's unnamed or
    // ambiguous state goes by its index, which holds for that plan only.
    std::string stored = !name.empty() && nameCounts[name] == 1 && !parameterNames.count(name)
                             ? name
                             : "tensor" + std::to_string(index);
    stateFiles.push_back({index, stored, "state", "state/" + encodeFileName(stored) + ".npy",
                          "state " + describeTensor(index)});
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

std::string Session::Impl::validateSharding(const std::string &what,
                                            const sp::plan::Binding &binding, int &slotAxis,
                                            int64_t &paddedLength, TensorInfo &info) const {
  int tensor = binding.tensor(), shardAxis = binding.shard_axis();
  const TensorSlot &slot = tensors[tensor];
  info = TensorInfo{"", slot.dtype, slot.shape};
  slotAxis = -1;
  paddedLength = 0;
  if (!binding.sharded()) {
    if (binding.unpadded_length() != 0)
      return fail(what + ": unpadded_length " + std::to_string(binding.unpadded_length()) +
                  " on a binding that is not sharded");
    return "";
  }
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
  if (int64_t unpadded = binding.unpadded_length(); unpadded != 0) {
    if (unpadded < 0 || unpadded >= dim)
      return fail(what + ": unpadded_length " + std::to_string(unpadded) +
                  " is not a length in [1, " + std::to_string(dim) + ") of dim " +
                  std::to_string(shardAxis) + " of the whole " + formatShape(info.shape));
    paddedLength = dim;
    dim = unpadded;
  }
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

} // namespace sp::runtime
