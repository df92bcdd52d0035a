//===- TrainingKernels.cpp - GELU gradient, cross-entropy, optimizers, clipping ===//
//
// Cross-entropy works per row through the log-sum-exp with the row max
// subtracted, so that large logits never overflow; partial sums are kept per
// chunk of rows in double and combined in a fixed order. The optimizer
// updates run in place: the planner hands the same tensors as parameter and
// new parameter (and moments), so each element is read completely before it
// is written.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"
#include "FastMath.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sp::runtime::cpu {

namespace {

//===----------------------------------------------------------------------===//
// gelu_grad
//===----------------------------------------------------------------------===//

std::string checkGeluGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "input"),
                                      checkPresent(args, 1, "result_grad")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  return firstError({checkFloatStorage(input, "input"),
                     checkSameType(args.inputs[1], input, "result_grad"),
                     checkSameType(args.outputs[0], input, "input_grad"),
                     checkBoolAttribute(attributesOf(args), "tanh_approximation")});
}

/// d gelu(x) / dx, in the forms of PyTorch's GeluBackward.
template <typename T> T geluDerivative(T x, bool tanhApproximation) {
  if (tanhApproximation) {
    constexpr T kBeta = T(0.79788456080286535588); // sqrt(2 / pi)
    constexpr T kKappa = T(0.044715);
    T x2 = x * x;
    T inner = kBeta * (x + kKappa * x2 * x);
    T t = tanhOf(inner);
    T left = T(0.5) * x, right = T(1) + t;
    T leftDerivative = T(0.5) * right;
    T rightDerivative = left * (T(1) - t * t) * kBeta * (T(1) + T(3) * kKappa * x2);
    return leftDerivative + rightDerivative;
  }
  constexpr T kSqrtHalf = T(0.70710678118654752440);
  constexpr T kInverseSqrtTwoPi = T(0.39894228040143267794);
  T cdf = T(0.5) * (T(1) + erfOf(x * kSqrtHalf));
  T pdf = kInverseSqrtTwoPi * expOf(T(-0.5) * x * x);
  return cdf + x * pdf;
}

std::string runGeluGrad(const KernelArgs &args) {
  bool tanhApproximation = boolAttribute(attributesOf(args), "tanh_approximation", false);
  const TensorArg &input = args.inputs[0];
  // bf16 (S) is computed in float (T) and rounded once.
  visitFloatStorage(input.dtype, [&](auto tag) {
    using S = decltype(tag);
    using T = ComputeType<S>;
    const S *x = input.as<S>();
    const S *dy = args.inputs[1].as<S>();
    S *dx = args.outputs[0].as<S>();
    parallelFor(input.numElements(), 12, [&](int64_t begin, int64_t end) {
      if (tanhApproximation) {
        for (int64_t i = begin; i < end; ++i)
          dx[i] = S(T(dy[i]) * geluDerivative(T(x[i]), true));
      } else {
        for (int64_t i = begin; i < end; ++i)
          dx[i] = S(T(dy[i]) * geluDerivative(T(x[i]), false));
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// cross_entropy_sum, cross_entropy_sum_grad
//===----------------------------------------------------------------------===//

/// "" when `labels` index the rows of `logits` and `out` fits; shared checks.
std::string checkCrossEntropyOperands(const KernelArgs &args) {
  const TensorArg &logits = args.inputs[0], &labels = args.inputs[1];
  if (std::string error = firstError({checkFloat(logits, "logits"),
                                      checkIndexType(labels, "labels"),
                                      checkIntAttribute(attributesOf(args), "ignore_index")});
      !error.empty())
    return error;
  if (logits.shape.empty())
    return "logits must have rank >= 1, got " + describe(logits);
  Shape rows(logits.shape.begin(), logits.shape.end() - 1);
  return checkShape(labels, rows, "labels");
}

/// "" when every label is ignore_index or in [0, classes).
std::string checkLabels(const TensorArg &labels, int64_t classes, int64_t ignoreIndex) {
  return visitInteger(labels.dtype, [&](auto tag) -> std::string {
    using I = decltype(tag);
    const I *values = labels.as<I>();
    for (int64_t p = 0, e = labels.numElements(); p < e; ++p) {
      int64_t label = int64_t(values[p]);
      if (label != ignoreIndex && (label < 0 || label >= classes))
        return "label " + std::to_string(label) + " at position " + std::to_string(p) +
               " is out of range for " + std::to_string(classes) + " classes";
    }
    return {};
  });
}

/// The rows of a cross-entropy call, read after its labels were validated.
struct CrossEntropyRows {
  int64_t ignoreIndex = -100, classes = 0, rows = 0;
};

/// The rows of `args`, or an error about the first label out of range.
std::string crossEntropyRows(const KernelArgs &args, CrossEntropyRows &rows) {
  const TensorArg &logits = args.inputs[0], &labels = args.inputs[1];
  rows.ignoreIndex = intAttribute(attributesOf(args), "ignore_index", -100);
  rows.classes = logits.shape.back();
  rows.rows = labels.numElements();
  return checkLabels(labels, rows.classes, rows.ignoreIndex);
}

int64_t labelAt(const TensorArg &labels, int64_t p) {
  return labels.dtype == DType::Int32 ? int64_t(labels.as<int32_t>()[p])
                                      : labels.as<int64_t>()[p];
}

/// max and sum(exp(x - max)) of one row.
template <typename T> void rowLogSumExpParts(const T *x, int64_t n, T &max, T &sum) {
  max = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < n; ++j)
    max = x[j] > max ? x[j] : max;
  sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j)
    sum += expOf(x[j] - max);
}

std::string checkCrossEntropySum(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "logits"),
                                      checkPresent(args, 1, "labels")});
      !error.empty())
    return error;
  if (std::string error = checkCrossEntropyOperands(args); !error.empty())
    return error;
  const TensorArg &loss = args.outputs[0];
  return firstError({checkDType(loss, args.inputs[0].dtype, "loss"),
                     checkScalar(loss, "loss")});
}

std::string runCrossEntropySum(const KernelArgs &args) {
  const TensorArg &logits = args.inputs[0], &labels = args.inputs[1];
  CrossEntropyRows layout;
  if (std::string error = crossEntropyRows(args, layout); !error.empty())
    return error;
  int64_t ignoreIndex = layout.ignoreIndex, classes = layout.classes, rows = layout.rows;
  visitFloat(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = logits.as<T>();
    std::vector<double> partial(maxParallelChunks(), 0.0);
    parallelChunks(rows, classes * 3, [&](int chunk, int64_t begin, int64_t end) {
      double sum = 0;
      for (int64_t p = begin; p < end; ++p) {
        int64_t label = labelAt(labels, p);
        if (label == ignoreIndex)
          continue;
        const T *row = x + p * classes;
        T max, expSum;
        rowLogSumExpParts(row, classes, max, expSum);
        sum += double(max) + std::log(double(expSum)) - double(row[label]);
      }
      partial[chunk] = sum;
    });
    double total = 0;
    for (double value : partial)
      total += value;
    args.outputs[0].as<T>()[0] = T(total);
  });
  return {};
}

std::string checkCrossEntropySumGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 3, 1), checkPresent(args, 0, "logits"),
                                      checkPresent(args, 1, "labels"),
                                      checkPresent(args, 2, "loss_grad")});
      !error.empty())
    return error;
  if (std::string error = checkCrossEntropyOperands(args); !error.empty())
    return error;
  const TensorArg &logits = args.inputs[0], &lossGrad = args.inputs[2];
  return firstError({checkDType(lossGrad, logits.dtype, "loss_grad"),
                     checkScalar(lossGrad, "loss_grad"),
                     checkSameType(args.outputs[0], logits, "logits_grad")});
}

std::string runCrossEntropySumGrad(const KernelArgs &args) {
  const TensorArg &logits = args.inputs[0], &labels = args.inputs[1];
  CrossEntropyRows layout;
  if (std::string error = crossEntropyRows(args, layout); !error.empty())
    return error;
  int64_t ignoreIndex = layout.ignoreIndex, classes = layout.classes, rows = layout.rows;
  visitFloat(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = logits.as<T>();
    T *dx = args.outputs[0].as<T>();
    T scale = args.inputs[2].as<T>()[0];
    parallelFor(rows, classes * 4, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        int64_t label = labelAt(labels, p);
        const T *row = x + p * classes;
        T *out = dx + p * classes;
        if (label == ignoreIndex) {
          std::fill(out, out + classes, T(0));
          continue;
        }
        T max, expSum;
        rowLogSumExpParts(row, classes, max, expSum);
        T factor = scale / expSum;
#pragma omp simd
        for (int64_t j = 0; j < classes; ++j)
          out[j] = expOf(row[j] - max) * factor;
        out[label] -= scale;
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// adamw_update, sgd_update
//===----------------------------------------------------------------------===//

std::string checkOptimizerAttributes(const Attributes &attributes,
                                     std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (std::string error = checkFloatAttribute(attributes, name, true); !error.empty())
      return error;
  return {};
}

/// "" when the optimizer's optional learning-rate operand (input `index`,
/// present in plans with a schedule) is absent or an f64 scalar.
std::string checkScheduledLearningRate(const KernelArgs &args, size_t index) {
  if (args.inputs.size() <= index || !args.inputs[index].present)
    return {};
  const TensorArg &rate = args.inputs[index];
  return firstError({checkDType(rate, DType::Float64, "scheduled_lr"),
                     checkScalar(rate, "scheduled_lr")});
}

/// This step's learning rate: the scheduled operand where there is one,
/// else the `learning_rate` attribute.
double learningRateOf(const KernelArgs &args, size_t index) {
  if (args.inputs.size() > index && args.inputs[index].present)
    return args.inputs[index].as<double>()[0];
  return floatAttribute(attributesOf(args), "learning_rate", 0);
}

std::string checkAdamW(const KernelArgs &args) {
  // Without a schedule the plan has no sixth operand (older plans neither).
  if (std::string error = checkArity(args, args.inputs.size() == 6 ? 6 : 5, 3); !error.empty())
    return error;
  if (std::string error = checkScheduledLearningRate(args, 5); !error.empty())
    return error;
  const char *roles[] = {"param", "grad", "m", "v", "step"};
  for (int i = 0; i < 5; ++i)
    if (std::string error = checkPresent(args, i, roles[i]); !error.empty())
      return error;
  const TensorArg &param = args.inputs[0], &step = args.inputs[4];
  return firstError(
      {checkFloat(param, "param"), checkSameType(args.inputs[1], param, "grad"),
       checkSameType(args.inputs[2], param, "m"), checkSameType(args.inputs[3], param, "v"),
       checkIndexType(step, "step"), checkScalar(step, "step"),
       checkSameType(args.outputs[0], param, "new_param"),
       checkSameType(args.outputs[1], param, "new_m"),
       checkSameType(args.outputs[2], param, "new_v"),
       checkOptimizerAttributes(attributesOf(args), {"learning_rate", "beta1", "beta2",
                                                     "epsilon", "weight_decay"})});
}

std::string runAdamW(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  const TensorArg &step = args.inputs[4];
  int64_t t = step.dtype == DType::Int32 ? int64_t(step.as<int32_t>()[0]) : step.as<int64_t>()[0];
  if (t < 1)
    return "adamw step " + std::to_string(t) + " must be at least 1";
  double lr = learningRateOf(args, 5);
  double beta1 = floatAttribute(attributes, "beta1", 0);
  double beta2 = floatAttribute(attributes, "beta2", 0);
  double epsilon = floatAttribute(attributes, "epsilon", 0);
  double weightDecay = floatAttribute(attributes, "weight_decay", 0);
  // The scalars PyTorch computes in Python floats before the tensor ops.
  double biasCorrection1 = 1.0 - std::pow(beta1, double(t));
  double biasCorrection2 = 1.0 - std::pow(beta2, double(t));
  double stepSize = lr / biasCorrection1;
  double biasCorrection2Sqrt = std::sqrt(biasCorrection2);
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *param = args.inputs[0].as<T>();
    const T *grad = args.inputs[1].as<T>();
    const T *m = args.inputs[2].as<T>();
    const T *v = args.inputs[3].as<T>();
    T *newParam = args.outputs[0].as<T>();
    T *newM = args.outputs[1].as<T>();
    T *newV = args.outputs[2].as<T>();
    T decay = T(1.0 - lr * weightDecay), oneMinusBeta1 = T(1.0 - beta1);
    T b2 = T(beta2), oneMinusBeta2 = T(1.0 - beta2), eps = T(epsilon);
    T size = T(stepSize), correction = T(biasCorrection2Sqrt);
    parallelFor(args.inputs[0].numElements(), 8, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T g = grad[i];
        T p = param[i] * decay;
        T mi = m[i] + oneMinusBeta1 * (g - m[i]); // lerp, as exp_avg.lerp_
        T vi = v[i] * b2 + oneMinusBeta2 * g * g;
        T denominator = std::sqrt(vi) / correction + eps;
        newParam[i] = p - size * mi / denominator;
        newM[i] = mi;
        newV[i] = vi;
      }
    });
  });
  return {};
}

std::string checkSGD(const KernelArgs &args) {
  if (std::string error =
          firstError({checkArity(args, args.inputs.size() == 3 ? 3 : 2, 1),
                      checkPresent(args, 0, "param"), checkPresent(args, 1, "grad"),
                      checkScheduledLearningRate(args, 2)});
      !error.empty())
    return error;
  const TensorArg &param = args.inputs[0];
  return firstError({checkFloat(param, "param"), checkSameType(args.inputs[1], param, "grad"),
                     checkSameType(args.outputs[0], param, "new_param"),
                     checkOptimizerAttributes(attributesOf(args),
                                              {"learning_rate", "weight_decay"})});
}

std::string runSGD(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  double lr = learningRateOf(args, 2);
  double weightDecay = floatAttribute(attributes, "weight_decay", 0);
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *param = args.inputs[0].as<T>();
    const T *grad = args.inputs[1].as<T>();
    T *newParam = args.outputs[0].as<T>();
    T rate = T(lr), decay = T(weightDecay);
    parallelFor(args.inputs[0].numElements(), 2, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T p = param[i];
        newParam[i] = p - rate * (grad[i] + decay * p);
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// global_norm, clip_coefficient
//===----------------------------------------------------------------------===//

std::string checkGlobalNorm(const KernelArgs &args) {
  if (args.inputs.empty() || args.outputs.size() != 1)
    return "expects at least 1 input and 1 output, got " + std::to_string(args.inputs.size()) +
           " and " + std::to_string(args.outputs.size());
  for (size_t i = 0; i < args.inputs.size(); ++i) {
    std::string role = "input " + std::to_string(i);
    if (std::string error =
            firstError({checkPresent(args, i, role.c_str()), checkFloat(args.inputs[i], role.c_str())});
        !error.empty())
      return error;
  }
  return firstError({checkFloat(args.outputs[0], "norm"), checkScalar(args.outputs[0], "norm")});
}

/// sqrt(sum of x^2) over every element of every input, in double: partial
/// sums per chunk of each tensor, combined in a fixed order so that the
/// result does not depend on the thread count's timing.
std::string runGlobalNorm(const KernelArgs &args) {
  double sumOfSquares = 0;
  for (const TensorArg &input : args.inputs) {
    visitFloat(input.dtype, [&](auto tag) {
      using T = decltype(tag);
      const T *x = input.as<T>();
      std::vector<double> partial(maxParallelChunks(), 0.0);
      parallelChunks(input.numElements(), 2, [&](int chunk, int64_t begin, int64_t end) {
        double sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t i = begin; i < end; ++i)
          sum += double(x[i]) * double(x[i]);
        partial[chunk] = sum;
      });
      for (double value : partial)
        sumOfSquares += value;
    });
  }
  double norm = std::sqrt(sumOfSquares);
  visitFloat(args.outputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    args.outputs[0].as<T>()[0] = T(norm);
  });
  return {};
}

std::string checkClipCoefficient(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "norm")});
      !error.empty())
    return error;
  const TensorArg &norm = args.inputs[0];
  if (std::string error =
          firstError({checkFloat(norm, "norm"), checkScalar(norm, "norm"),
                      checkSameType(args.outputs[0], norm, "coefficient"),
                      checkFloatAttribute(attributesOf(args), "max_norm", true)});
      !error.empty())
    return error;
  double maxNorm = floatAttribute(attributesOf(args), "max_norm", 0);
  if (!(maxNorm > 0) || std::isinf(maxNorm))
    return "max_norm must be positive and finite, got " + std::to_string(maxNorm);
  return {};
}

std::string runClipCoefficient(const KernelArgs &args) {
  double maxNorm = floatAttribute(attributesOf(args), "max_norm", 0);
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    // clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6), then
    // clamp(clip_coef, max=1.0), in the norm's dtype. NaN stays NaN.
    T coefficient = T(maxNorm) / (args.inputs[0].as<T>()[0] + T(1e-6));
    args.outputs[0].as<T>()[0] = coefficient > T(1) ? T(1) : coefficient;
  });
  return {};
}

} // namespace

void addTrainingKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"global_norm", checkGlobalNorm, runGlobalNorm});
  kernels.push_back({"clip_coefficient", checkClipCoefficient, runClipCoefficient});

  kernels.push_back(
      {"gelu_grad", checkGeluGrad, runGeluGrad, false, kFloatOrBFloat16ElementTypes});
  kernels.push_back({"cross_entropy_sum", checkCrossEntropySum, runCrossEntropySum});
  kernels.push_back(
      {"cross_entropy_sum_grad", checkCrossEntropySumGrad, runCrossEntropySumGrad});
  kernels.push_back({"adamw_update", checkAdamW, runAdamW});
  kernels.push_back({"sgd_update", checkSGD, runSGD});
}

} // namespace sp::runtime::cpu
