//===- Executor.cpp - running the instructions of a step --------------------===//
//
// One step runs the plan's instructions in order on the device's compute
// stream; collectives go to the communication stream (StreamCommunicator)
// and are waited for where the plan says. Every kernel launch and every
// collective is timed, for traces, profiles and the overlap measure.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sp::runtime {

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
  Device &device = *impl.device;
  Stream &compute = device.computeStream();
  // The arena is scratch: inputs go (back) into place every step.
  if (failure.empty())
    for (const InputSlot &slot : impl.inputSlots)
      device.copyToDevice(impl.tensors[slot.tensor].data, slot.data.data(), slot.data.size(),
                          compute);

  using Clock = std::chrono::steady_clock;
  auto microseconds = [](Clock::time_point time) {
    return std::chrono::duration<double, std::micro>(time.time_since_epoch()).count();
  };
  size_t count = impl.instructions.size();
  // Random kernels key their draws by the step as well as the seed.
  impl.context.step = impl.stepsCompleted;
  impl.kernelBegin.assign(count, -1.0);
  impl.kernelEnd.assign(count, -1.0);
  impl.timingsCurrent = false;
  if (impl.streamCommunicator)
    impl.streamCommunicator->takeRecords();
  double stepBegin = microseconds(Clock::now());
  for (size_t index = 0; index < count; ++index) {
    const InstructionSlot &slot = impl.instructions[index];
    if (!failure.empty() && !slot.kernel->communicates)
      continue;
    if (impl.streamCommunicator)
      impl.streamCommunicator->setInstruction(int(index));
    double begin = microseconds(Clock::now());
    std::string problem;
    // Staging bytes of collectives are allocated as they run; under several
    // ranks a failure must not skip the agreement at the end of the step.
    try {
      problem = slot.kernel->run(slot.args);
    } catch (const std::bad_alloc &) {
      problem = "out of memory";
    }
    impl.kernelBegin[index] = begin;
    impl.kernelEnd[index] = microseconds(Clock::now());
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
  }
  compute.synchronize();
  impl.stepBeginMicroseconds = stepBegin;
  impl.stepMicroseconds = microseconds(Clock::now()) - stepBegin;
  impl.communicationTimings.clear();
  if (impl.streamCommunicator) {
    impl.streamCommunicator->setInstruction(-1);
    for (const CommunicationRecord &record : impl.streamCommunicator->takeRecords())
      impl.communicationTimings.push_back({record.instruction, record.kind, record.bytes,
                                           record.beginMicroseconds - stepBegin,
                                           record.endMicroseconds - record.beginMicroseconds});
  }
  if (std::string agreed = impl.agreed(failure); !agreed.empty())
    return agreed;
  impl.stepRan = true;
  ++impl.stepsCompleted;
  return "";
}

const std::vector<KernelTiming> &Session::lastStepTimings() const {
  Impl &impl = *impl_;
  if (impl.timingsCurrent)
    return impl.timings;
  // Built when asked for, so that steps pay for two clock reads a kernel.
  impl.timings.clear();
  for (size_t index = 0; index < impl.kernelBegin.size(); ++index) {
    if (impl.kernelBegin[index] < 0)
      continue;
    const sp::plan::Instruction &instruction = impl.plan.instructions(int(index));
    impl.timings.push_back({int(index), instruction.kernel(), instruction.location(),
                            instruction.id(), impl.kernelBegin[index] - impl.stepBeginMicroseconds,
                            impl.kernelEnd[index] - impl.kernelBegin[index],
                            impl.instructions[index].waitsForCommunication});
  }
  impl.timingsCurrent = true;
  return impl.timings;
}

namespace {
/// The union of `intervals` as sorted, disjoint intervals.
std::vector<std::pair<double, double>> unionOf(std::vector<std::pair<double, double>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<std::pair<double, double>> merged;
  for (const auto &interval : intervals) {
    if (interval.second <= interval.first)
      continue;
    if (!merged.empty() && interval.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, interval.second);
    else
      merged.push_back(interval);
  }
  return merged;
}
} // namespace

OverlapMeasure measureOverlap(const std::vector<KernelTiming> &kernels,
                              const std::vector<CommunicationTiming> &communication,
                              double stepMicroseconds) {
  // Lanes, as a trace shows them: the communication lane is busy while any
  // collective is in flight (several may be), the compute lane while a
  // kernel that is not waiting for communication runs.
  std::vector<std::pair<double, double>> computing, communicating;
  for (const KernelTiming &kernel : kernels)
    if (!kernel.waitsForCommunication)
      computing.push_back(
          {kernel.startMicroseconds, kernel.startMicroseconds + kernel.durationMicroseconds});
  for (const CommunicationTiming &operation : communication)
    communicating.push_back({operation.startMicroseconds,
                             operation.startMicroseconds + operation.durationMicroseconds});
  computing = unionOf(std::move(computing));
  communicating = unionOf(std::move(communicating));
  OverlapMeasure measure;
  measure.stepMicroseconds = stepMicroseconds;
  auto compute = computing.begin();
  for (const auto &[begin, end] : communicating) {
    measure.communicationMicroseconds += end - begin;
    while (compute != computing.end() && compute->second <= begin)
      ++compute;
    for (auto it = compute; it != computing.end() && it->first < end; ++it)
      measure.hiddenMicroseconds += std::min(end, it->second) - std::max(begin, it->first);
  }
  return measure;
}

/// The float32 or float64 scalar `scalar` holds.
static double readScalar(const TensorSlot &scalar, Device &device) {
  double value = 0;
  if (scalar.dtype == DType::Float32) {
    float single;
    device.copyToHost(&single, scalar.data, sizeof single, device.computeStream());
    device.computeStream().synchronize();
    value = single;
  } else {
    device.copyToHost(&value, scalar.data, sizeof value, device.computeStream());
    device.computeStream().synchronize();
  }
  return value;
}

double Session::loss() const {
  if (!impl_->stepRan || impl_->lossTensor < 0)
    return std::nan("");
  return readScalar(impl_->tensors[impl_->lossTensor], *impl_->device);
}

double Session::learningRate() const {
  if (impl_->learningRateTensor >= 0)
    return impl_->stepRan ? readScalar(impl_->tensors[impl_->learningRateTensor], *impl_->device)
                          : std::nan("");
  if (!isTraining())
    return std::nan("");
  return impl_->plan.optimizer().learning_rate();
}

bool Session::measuresGradientNorm() const { return impl_->gradientNormTensor >= 0; }

double Session::gradientNorm() const {
  if (!impl_->stepRan || impl_->gradientNormTensor < 0)
    return std::nan("");
  return readScalar(impl_->tensors[impl_->gradientNormTensor], *impl_->device);
}

} // namespace sp::runtime
