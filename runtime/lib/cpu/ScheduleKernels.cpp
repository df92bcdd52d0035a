//===- ScheduleKernels.cpp - learning-rate schedules ----------------------===//
//
// lr_schedule computes in double with the operations, in the order, of
// Hugging Face's lr lambdas in Python and LambdaLR's base_lr * factor, so that
// a schedule gives PyTorch's learning rate to the last bit. This file is built
// with -ffp-contract=off (CMakeLists.txt): a fused multiply-add rounds once
// where Python rounds twice.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include <algorithm>
#include <cmath>

namespace sp::runtime::cpu {

namespace {

std::string checkLRSchedule(const KernelArgs &args) {
  if (std::string error =
          firstError({checkArity(args, 1, 1), checkPresent(args, 0, "completed_steps")});
      !error.empty())
    return error;
  const TensorArg &steps = args.inputs[0], &rate = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError(
          {checkIndexType(steps, "completed_steps"), checkScalar(steps, "completed_steps"),
           checkDType(rate, DType::Float64, "lr"), checkScalar(rate, "lr"),
           checkIntAttribute(attributes, "warmup_steps", true),
           checkIntAttribute(attributes, "total_steps", true),
           checkFloatAttribute(attributes, "learning_rate", true),
           checkFloatAttribute(attributes, "min_learning_rate", true)});
      !error.empty())
    return error;
  if (!attributes.holds<std::string>("kind"))
    return "attribute 'kind' (constant, linear or cosine) is required";
  std::string kind = attributes.getString("kind");
  if (kind != "constant" && kind != "linear" && kind != "cosine")
    return "unknown schedule kind '" + kind + "'; expected constant, linear or cosine";
  int64_t warmup = intAttribute(attributes, "warmup_steps", 0);
  int64_t total = intAttribute(attributes, "total_steps", 0);
  double lr = floatAttribute(attributes, "learning_rate", 0);
  double minLr = floatAttribute(attributes, "min_learning_rate", 0);
  if (warmup < 0 || total < 0 || (kind != "constant" && (total < 1 || warmup > total)))
    return "schedule steps out of range: warmup " + std::to_string(warmup) + ", total " +
           std::to_string(total);
  if (!(lr >= 0) || !(minLr >= 0) || minLr > lr)
    return "schedule rates out of range: learning_rate " + std::to_string(lr) +
           ", min_learning_rate " + std::to_string(minLr);
  return {};
}

} // namespace

double scheduledLearningRate(const std::string &kind, int64_t warmupSteps, int64_t totalSteps,
                             double learningRate, double minLearningRate, int64_t step) {
  // The arithmetic of Hugging Face's lr lambdas in Python floats, then
  // LambdaLR's base_lr * factor.
  double factor;
  if (step < warmupSteps) {
    factor = double(step) / double(std::max<int64_t>(1, warmupSteps));
  } else if (kind == "constant") {
    factor = 1.0;
  } else {
    double minRate = learningRate > 0 ? minLearningRate / learningRate : 0.0;
    if (kind == "linear") {
      factor = std::max(0.0, double(totalSteps - step) /
                                 double(std::max<int64_t>(1, totalSteps - warmupSteps)));
      if (minRate > 0)
        factor = minRate + (1.0 - minRate) * factor;
    } else {
      double progress = double(step - warmupSteps) /
                        double(std::max<int64_t>(1, totalSteps - warmupSteps));
      factor = 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress));
      if (minRate > 0)
        factor = factor * (1.0 - minRate) + minRate;
      factor = std::max(0.0, factor);
    }
  }
  return learningRate * factor;
}

namespace {

std::string runLRSchedule(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  const TensorArg &steps = args.inputs[0];
  int64_t completed =
      steps.dtype == DType::Int32 ? int64_t(steps.as<int32_t>()[0]) : steps.as<int64_t>()[0];
  if (completed < 0)
    return "completed_steps " + std::to_string(completed) + " must be at least 0";
  args.outputs[0].as<double>()[0] = scheduledLearningRate(
      attributes.getString("kind"), intAttribute(attributes, "warmup_steps", 0),
      intAttribute(attributes, "total_steps", 0), floatAttribute(attributes, "learning_rate", 0),
      floatAttribute(attributes, "min_learning_rate", 0), completed);
  return {};
}

} // namespace

void addScheduleKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"lr_schedule", checkLRSchedule, runLRSchedule});
}

} // namespace sp::runtime::cpu
