//===- NormalizationKernels.cpp - softmax and layer norm, with gradients -===//
//
// Each row is one task: its statistics (max and sum, or mean and variance)
// and its outputs are computed while the row sits in cache, with
// `omp simd` reductions so the sums vectorize without -ffast-math. Softmax
// subtracts the row max before exponentiating.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"
#include "FastMath.h"

#include <cmath>
#include <limits>

namespace sp::runtime::cpu {

namespace {

/// A tensor viewed as [outer, length, inner] around one axis.
struct AxisLayout {
  int64_t outer = 1, length = 1, inner = 1;
  AxisLayout(const Shape &shape, int64_t axis)
      : outer(product(shape, 0, axis)), length(shape[axis]),
        inner(product(shape, axis + 1)) {}
};

std::string checkAxis(const Attributes &attributes, int64_t rank, const char *name = "axis") {
  if (std::string error = checkIntAttribute(attributes, name, true); !error.empty())
    return error;
  int64_t axis = intAttribute(attributes, name, 0);
  if (!normalizeAxis(axis, rank))
    return std::string(name) + " " + std::to_string(axis) + " is out of range for rank " +
           std::to_string(rank);
  return {};
}

int64_t axisOf(const KernelArgs &args, int64_t rank) {
  return *normalizeAxis(intAttribute(attributesOf(args), "axis", 0), rank);
}

/// Columns of an [length, inner] block handled per task when softmax runs
/// over a non-last axis.
constexpr int64_t kColumnBlock = 256;

//===----------------------------------------------------------------------===//
// softmax
//===----------------------------------------------------------------------===//

std::string checkSoftmax(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  return firstError({checkFloat(input, "input"),
                     checkSameType(args.outputs[0], input, "result"),
                     checkAxis(attributesOf(args), int64_t(input.shape.size()))});
}

template <typename T> void softmaxRow(const T *x, T *y, int64_t n) {
  T max = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < n; ++j)
    max = x[j] > max ? x[j] : max;
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j) {
    T e = expOf(x[j] - max);
    y[j] = e;
    sum += e;
  }
  T scale = T(1) / sum;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j)
    y[j] *= scale;
}

/// Softmax down the columns [begin, end) of an [length, inner] block.
template <typename T>
void softmaxColumns(const T *x, T *y, int64_t length, int64_t inner, int64_t begin,
                    int64_t end) {
  int64_t width = end - begin;
  std::vector<T> max(width, -std::numeric_limits<T>::infinity()), sum(width, T(0));
  for (int64_t i = 0; i < length; ++i) {
    const T *row = x + i * inner + begin;
    for (int64_t j = 0; j < width; ++j)
      max[j] = row[j] > max[j] ? row[j] : max[j];
  }
  for (int64_t i = 0; i < length; ++i) {
    const T *row = x + i * inner + begin;
    T *out = y + i * inner + begin;
    for (int64_t j = 0; j < width; ++j) {
      out[j] = expOf(row[j] - max[j]);
      sum[j] += out[j];
    }
  }
  for (int64_t j = 0; j < width; ++j)
    sum[j] = T(1) / sum[j];
  for (int64_t i = 0; i < length; ++i) {
    T *out = y + i * inner + begin;
    for (int64_t j = 0; j < width; ++j)
      out[j] *= sum[j];
  }
}

/// Calls row(outerIndex, columnBegin, columnEnd) over every [length, inner]
/// block, split into column blocks so that a single block still spreads
/// across threads.
template <typename Body>
void forEachColumnBlock(const AxisLayout &layout, int64_t cost, Body &&body) {
  int64_t blocks = (layout.inner + kColumnBlock - 1) / kColumnBlock;
  parallelFor(layout.outer * blocks, std::min(layout.inner, kColumnBlock) * layout.length * cost,
              [&](int64_t begin, int64_t end) {
                for (int64_t item = begin; item < end; ++item) {
                  int64_t o = item / blocks, block = item % blocks;
                  int64_t first = block * kColumnBlock;
                  body(o, first, std::min(first + kColumnBlock, layout.inner));
                }
              });
}

std::string runSoftmax(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  AxisLayout layout(input.shape, axisOf(args, int64_t(input.shape.size())));
  visitFloat(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = input.as<T>();
    T *y = out.as<T>();
    int64_t block = layout.length * layout.inner;
    if (layout.inner == 1) {
      parallelFor(layout.outer, layout.length * 8, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o)
          softmaxRow(x + o * block, y + o * block, layout.length);
      });
      return;
    }
    forEachColumnBlock(layout, 8, [&](int64_t o, int64_t first, int64_t last) {
      softmaxColumns(x + o * block, y + o * block, layout.length, layout.inner, first, last);
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// softmax_grad: dx = y * (dy - sum(dy * y, axis))
//===----------------------------------------------------------------------===//

std::string checkSoftmaxGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 2, 1), checkPresent(args, 0, "result"),
                                      checkPresent(args, 1, "result_grad")});
      !error.empty())
    return error;
  const TensorArg &y = args.inputs[0];
  return firstError({checkFloat(y, "result"),
                     checkSameType(args.inputs[1], y, "result_grad"),
                     checkSameType(args.outputs[0], y, "input_grad"),
                     checkAxis(attributesOf(args), int64_t(y.shape.size()))});
}

std::string runSoftmaxGrad(const KernelArgs &args) {
  const TensorArg &result = args.inputs[0], &resultGrad = args.inputs[1],
                  &inputGrad = args.outputs[0];
  AxisLayout layout(result.shape, axisOf(args, int64_t(result.shape.size())));
  visitFloat(result.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *y = result.as<T>();
    const T *dy = resultGrad.as<T>();
    T *dx = inputGrad.as<T>();
    int64_t block = layout.length * layout.inner;
    if (layout.inner == 1) {
      parallelFor(layout.outer, layout.length * 3, [&](int64_t begin, int64_t end) {
        for (int64_t o = begin; o < end; ++o) {
          const T *yRow = y + o * block, *dyRow = dy + o * block;
          T *dxRow = dx + o * block;
          T dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t j = 0; j < layout.length; ++j)
            dot += yRow[j] * dyRow[j];
#pragma omp simd
          for (int64_t j = 0; j < layout.length; ++j)
            dxRow[j] = yRow[j] * (dyRow[j] - dot);
        }
      });
      return;
    }
    forEachColumnBlock(layout, 3, [&](int64_t o, int64_t first, int64_t last) {
      std::vector<T> dot(last - first, T(0));
      const T *yBlock = y + o * block, *dyBlock = dy + o * block;
      T *dxBlock = dx + o * block;
      for (int64_t i = 0; i < layout.length; ++i)
        for (int64_t j = first; j < last; ++j)
          dot[j - first] += yBlock[i * layout.inner + j] * dyBlock[i * layout.inner + j];
      for (int64_t i = 0; i < layout.length; ++i)
        for (int64_t j = first; j < last; ++j) {
          int64_t at = i * layout.inner + j;
          dxBlock[at] = yBlock[at] * (dyBlock[at] - dot[j - first]);
        }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// layer_norm
//===----------------------------------------------------------------------===//

/// The dims [axis, rank) that layer norm normalizes over.
Shape normalizedShape(const TensorArg &input, int64_t axis) {
  return Shape(input.shape.begin() + axis, input.shape.end());
}

std::string checkNormParameter(const TensorArg &parameter, const TensorArg &input,
                               const Shape &normalized, const char *role) {
  if (parameter.dtype != input.dtype)
    return std::string(role) + " must be " + dtypeName(input.dtype) + ", got " +
           describe(parameter);
  if (!broadcastsTo(parameter.shape, normalized))
    return std::string(role) + " " + describe(parameter) +
           " does not broadcast to the normalized shape " + formatShape(normalized);
  return {};
}

std::string checkLayerNorm(const KernelArgs &args) {
  if (args.inputs.size() == 2) {
    // The optional bias may be left out entirely as well as marked absent.
    if (args.outputs.size() != 1)
      return "expects 1 output, got " + std::to_string(args.outputs.size());
  } else if (std::string error = checkArity(args, 3, 1); !error.empty()) {
    return error;
  }
  if (std::string error = firstError({checkPresent(args, 0, "input"), checkPresent(args, 1, "scale")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkFloat(input, "input"),
                                      checkSameType(args.outputs[0], input, "result"),
                                      checkAxis(attributes, int64_t(input.shape.size())),
                                      checkFloatAttribute(attributes, "epsilon", true)});
      !error.empty())
    return error;
  Shape normalized = normalizedShape(input, axisOf(args, int64_t(input.shape.size())));
  if (std::string error = checkNormParameter(args.inputs[1], input, normalized, "scale");
      !error.empty())
    return error;
  if (args.inputs.size() == 3 && args.inputs[2].present)
    return checkNormParameter(args.inputs[2], input, normalized, "bias");
  return {};
}

/// `parameter` as a contiguous vector over the normalized shape: its own
/// data when it already has that many elements, else an expanded copy.
template <typename T>
const T *expandedParameter(const TensorArg &parameter, const Shape &normalized,
                           std::vector<T> &storage) {
  if (parameter.numElements() == product(normalized))
    return parameter.as<T>();
  storage.resize(product(normalized));
  const T *values = parameter.as<T>();
  BroadcastLoop loop(normalized, {&parameter.shape});
  loop.run(1, [&](int64_t at, const BroadcastLoop::Offsets &from, int64_t n,
                  const BroadcastLoop::Offsets &step) {
    for (int64_t i = 0; i < n; ++i)
      storage[at + i] = values[from[0] + (step[0] ? i : 0)];
  });
  return storage.data();
}

/// Mean and 1/sqrt(variance + epsilon) of one row, variance from the
/// deviations (two passes over a cached row, no cancellation).
template <typename T>
void rowStatistics(const T *x, int64_t n, double epsilon, T &mean, T &inverseStd) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; ++j)
    sum += x[j];
  mean = sum / T(n);
  T squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < n; ++j) {
    T d = x[j] - mean;
    squares += d * d;
  }
  inverseStd = T(1) / std::sqrt(squares / T(n) + T(epsilon));
}

std::string runLayerNorm(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  int64_t axis = axisOf(args, int64_t(input.shape.size()));
  double epsilon = floatAttribute(attributesOf(args), "epsilon", 1e-5);
  Shape normalized = normalizedShape(input, axis);
  int64_t rows = product(input.shape, 0, axis), n = product(normalized);
  bool hasBias = args.inputs.size() == 3 && args.inputs[2].present;
  visitFloat(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> scaleStorage, biasStorage;
    const T *scale = expandedParameter<T>(args.inputs[1], normalized, scaleStorage);
    const T *bias =
        hasBias ? expandedParameter<T>(args.inputs[2], normalized, biasStorage) : nullptr;
    const T *x = input.as<T>();
    T *y = out.as<T>();
    parallelFor(rows, n * 4, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T *xRow = x + r * n;
        T *yRow = y + r * n;
        T mean, inverseStd;
        rowStatistics(xRow, n, epsilon, mean, inverseStd);
        if (bias) {
#pragma omp simd
          for (int64_t j = 0; j < n; ++j)
            yRow[j] = (xRow[j] - mean) * inverseStd * scale[j] + bias[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < n; ++j)
            yRow[j] = (xRow[j] - mean) * inverseStd * scale[j];
        }
      }
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// layer_norm_grad
//===----------------------------------------------------------------------===//

std::string checkLayerNormGrad(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 3, 3), checkPresent(args, 0, "input"),
                                      checkPresent(args, 1, "scale"),
                                      checkPresent(args, 2, "result_grad")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &scale = args.inputs[1];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkFloat(input, "input"),
                                      checkSameType(args.inputs[2], input, "result_grad"),
                                      checkSameType(args.outputs[0], input, "input_grad"),
                                      checkAxis(attributes, int64_t(input.shape.size())),
                                      checkFloatAttribute(attributes, "epsilon", true)});
      !error.empty())
    return error;
  Shape normalized = normalizedShape(input, axisOf(args, int64_t(input.shape.size())));
  return firstError({checkNormParameter(scale, input, normalized, "scale"),
                     checkSameType(args.outputs[1], scale, "scale_grad"),
                     checkSameType(args.outputs[2], scale, "bias_grad")});
}

/// Sums `values` (over `from`) into `into` (over `to`, which broadcasts to
/// `from`): the gradient of broadcasting `to` up to `from`.
template <typename T>
void sumToShape(const std::vector<double> &values, const Shape &from, T *into,
                const Shape &to) {
  std::vector<double> sums(product(to), 0.0);
  BroadcastLoop loop(from, {&to});
  // Rows may share targets, so this stays on one thread (it is small).
  Shape index(loop.dims.size(), 0);
  int64_t inner = loop.dims.back();
  int64_t offset = 0, at = 0;
  for (int64_t row = 0, count = product(loop.dims, 0, loop.dims.size() - 1); row < count;
       ++row) {
    for (int64_t i = 0; i < inner; ++i)
      sums[offset + (loop.strides.back()[0] ? i : 0)] += values[at + i];
    at += inner;
    for (size_t d = loop.dims.size() - 1; d-- > 0;) {
      offset += loop.strides[d][0];
      if (++index[d] < loop.dims[d])
        break;
      offset -= loop.dims[d] * loop.strides[d][0];
      index[d] = 0;
    }
  }
  for (size_t i = 0; i < sums.size(); ++i)
    into[i] = T(sums[i]);
}

std::string runLayerNormGrad(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &scaleArg = args.inputs[1],
                  &resultGrad = args.inputs[2];
  int64_t axis = axisOf(args, int64_t(input.shape.size()));
  double epsilon = floatAttribute(attributesOf(args), "epsilon", 1e-5);
  Shape normalized = normalizedShape(input, axis);
  int64_t rows = product(input.shape, 0, axis), n = product(normalized);
  visitFloat(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> scaleStorage;
    const T *scale = expandedParameter<T>(scaleArg, normalized, scaleStorage);
    const T *x = input.as<T>();
    const T *dy = resultGrad.as<T>();
    T *dx = args.outputs[0].as<T>();
    // Each chunk of rows sums its parameter gradients in double, so that long
    // reductions lose nothing in f32; chunks combine in a fixed order.
    int chunks = maxParallelChunks();
    std::vector<std::vector<double>> scaleSums(chunks), biasSums(chunks);
    parallelChunks(rows, n * 8, [&](int chunk, int64_t begin, int64_t end) {
      std::vector<double> &scaleSum = scaleSums[chunk], &biasSum = biasSums[chunk];
      scaleSum.assign(n, 0.0);
      biasSum.assign(n, 0.0);
      std::vector<T> normalizedRow(n);
      T *xHat = normalizedRow.data();
      for (int64_t r = begin; r < end; ++r) {
        const T *xRow = x + r * n, *dyRow = dy + r * n;
        T *dxRow = dx + r * n;
        T mean, inverseStd;
        rowStatistics(xRow, n, epsilon, mean, inverseStd);
        T gradSum = 0, gradDot = 0;
#pragma omp simd reduction(+ : gradSum, gradDot)
        for (int64_t j = 0; j < n; ++j) {
          xHat[j] = (xRow[j] - mean) * inverseStd;
          T g = dyRow[j] * scale[j];
          gradSum += g;
          gradDot += g * xHat[j];
        }
        T meanGrad = gradSum / T(n), meanGradDot = gradDot / T(n);
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) {
          dxRow[j] = inverseStd * (dyRow[j] * scale[j] - meanGrad - xHat[j] * meanGradDot);
          scaleSum[j] += double(dyRow[j] * xHat[j]);
          biasSum[j] += double(dyRow[j]);
        }
      }
    });
    std::vector<double> scaleGrad(n, 0.0), biasGrad(n, 0.0);
    for (int chunk = 0; chunk < chunks; ++chunk)
      for (size_t j = 0; j < scaleSums[chunk].size(); ++j) {
        scaleGrad[j] += scaleSums[chunk][j];
        biasGrad[j] += biasSums[chunk][j];
      }
    sumToShape(scaleGrad, normalized, args.outputs[1].as<T>(), scaleArg.shape);
    sumToShape(biasGrad, normalized, args.outputs[2].as<T>(), scaleArg.shape);
  });
  return {};
}

} // namespace

void addNormalizationKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"softmax", checkSoftmax, runSoftmax});
  kernels.push_back({"softmax_grad", checkSoftmaxGrad, runSoftmaxGrad});
  kernels.push_back({"layer_norm", checkLayerNorm, runLayerNorm});
  kernels.push_back({"layer_norm_grad", checkLayerNormGrad, runLayerNormGrad});
}

} // namespace sp::runtime::cpu
