//===- RmsNormKernels.cpp - RMS normalization and its gradient ------------===//
//
// One row (the dims from `axis` on) is one task: its mean square and its
// outputs are computed while it sits in cache, with `omp simd` reductions so
// the sums vectorize without -ffast-math. The scale gradient sums over rows
// in double per chunk of rows, and chunks combine in a fixed order, so the
// result does not depend on thread timing.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include <cmath>

namespace sp::runtime::cpu {

namespace {

/// Rows and row length of an rms_norm instruction, after checking its axis.
struct RmsLayout {
  int64_t rows = 0, length = 0;
  Shape normalized;
};

std::string checkRmsOperands(const KernelArgs &args, RmsLayout &layout) {
  const TensorArg &input = args.inputs[0], &scale = args.inputs[1];
  const Attributes &attributes = attributesOf(args);
  if (std::string error =
          firstError({checkFloat(input, "input"), checkDType(scale, input.dtype, "scale"),
                      checkIntAttribute(attributes, "axis", true),
                      checkFloatAttribute(attributes, "epsilon", true)});
      !error.empty())
    return error;
  int64_t rank = int64_t(input.shape.size());
  int64_t axis = intAttribute(attributes, "axis", 0);
  std::optional<int64_t> normalized = normalizeAxis(axis, rank);
  if (!normalized)
    return "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank);
  layout.normalized.assign(input.shape.begin() + *normalized, input.shape.end());
  layout.rows = product(input.shape, 0, *normalized);
  layout.length = product(layout.normalized);
  return checkShape(scale, layout.normalized, "scale");
}

/// 1 / sqrt(mean(x^2) + epsilon) of one row.
template <typename T> T inverseRms(const T *x, int64_t n, double epsilon) {
  T squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < n; ++j)
    squares += x[j] * x[j];
  return T(1) / std::sqrt(squares / T(std::max<int64_t>(n, 1)) + T(epsilon));
}

//===----------------------------------------------------------------------===//
// rms_norm
//===----------------------------------------------------------------------===//

std::string checkRmsNorm(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "input"),
                                      checkPresent(args, 1, "scale")});
      !error.empty())
    return error;
  RmsLayout layout;
  if (std::string error = checkRmsOperands(args, layout); !error.empty())
    return error;
  return checkSameType(args.outputs[0], args.inputs[0], "result");
}

std::string runRmsNorm(const KernelArgs &args) {
  RmsLayout layout;
  checkRmsOperands(args, layout);
  double epsilon = floatAttribute(attributesOf(args), "epsilon", 1e-6);
  int64_t n = layout.length;
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = args.inputs[0].as<T>();
    const T *scale = args.inputs[1].as<T>();
    T *y = args.outputs[0].as<T>();
    parallelFor(layout.rows, n * 3, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T *xRow = x + r * n;
        T *yRow = y + r * n;
        T inverse = inverseRms(xRow, n, epsilon);
#pragma omp simd
        for (int64_t j = 0; j < n; ++j)
          yRow[j] = xRow[j] * inverse * scale[j];
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// rms_norm_grad
//===----------------------------------------------------------------------===//

std::string checkRmsNormGrad(const KernelArgs &args) {
  if (std::string error =
          firstError({checkArity(args, 3, 2), checkPresent(args, 0, "input"),
                      checkPresent(args, 1, "scale"), checkPresent(args, 2, "result_grad")});
      !error.empty())
    return error;
  RmsLayout layout;
  if (std::string error = checkRmsOperands(args, layout); !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  return firstError({checkSameType(args.inputs[2], input, "result_grad"),
                     checkSameType(args.outputs[0], input, "input_grad"),
                     checkSameType(args.outputs[1], args.inputs[1], "scale_grad")});
}

std::string runRmsNormGrad(const KernelArgs &args) {
  RmsLayout layout;
  checkRmsOperands(args, layout);
  double epsilon = floatAttribute(attributesOf(args), "epsilon", 1e-6);
  int64_t n = layout.length;
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = args.inputs[0].as<T>();
    const T *scale = args.inputs[1].as<T>();
    const T *dy = args.inputs[2].as<T>();
    T *dx = args.outputs[0].as<T>();
    // With r = 1 / rms and x^ = x r:
    //   dx = r (g dy - x^ mean(g dy x^)),  dscale = sum over rows of dy x^.
    int chunks = maxParallelChunks();
    std::vector<std::vector<double>> scaleSums(chunks);
    parallelChunks(layout.rows, n * 6, [&](int chunk, int64_t begin, int64_t end) {
      std::vector<double> &scaleSum = scaleSums[chunk];
      scaleSum.assign(n, 0.0);
      for (int64_t r = begin; r < end; ++r) {
        const T *xRow = x + r * n, *dyRow = dy + r * n;
        T *dxRow = dx + r * n;
        T inverse = inverseRms(xRow, n, epsilon);
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int64_t j = 0; j < n; ++j)
          dot += scale[j] * dyRow[j] * xRow[j];
        // mean(g dy x^) = r * mean(g dy x); dx = r g dy - x r^3 mean(g dy x).
        T correction = inverse * inverse * inverse * dot / T(std::max<int64_t>(n, 1));
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
          dxRow[j] = inverse * scale[j] * dyRow[j] - xRow[j] * correction;
          scaleSum[j] += double(dyRow[j] * xRow[j] * inverse);
        }
      }
    });
    T *scaleGrad = args.outputs[1].as<T>();
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int chunk = 0; chunk < chunks; ++chunk)
        if (!scaleSums[chunk].empty())
          sum += scaleSums[chunk][j];
      scaleGrad[j] = T(sum);
    }
  });
  return {};
}

} // namespace

void addRmsNormKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"rms_norm", checkRmsNorm, runRmsNorm});
  kernels.push_back({"rms_norm_grad", checkRmsNormGrad, runRmsNormGrad});
}

} // namespace sp::runtime::cpu
