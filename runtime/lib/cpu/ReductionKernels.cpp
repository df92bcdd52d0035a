//===- ReductionKernels.cpp - reduce_sum/mean/max and cumsum ------------===//
//
// A reduction first merges adjacent dims that are all reduced or all kept.
// Nearly every reduction then reads as [outer, reduced, inner]: rows when
// inner is 1, column sums otherwise; anything else takes a general loop.
// Float sums accumulate in double and integer sums wrap in 64 bits; bf16
// reduces as f32 on widened copies.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Axes.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace sp::runtime::cpu {

namespace {

enum class ReduceKind { Sum, Mean, Max };

/// The accumulator of a sum: double for floats, wrapping uint64 for integers.
template <typename T>
using SumAccumulator = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;

/// The reduction of one op over one element type, folded element by element.
template <ReduceKind kind, typename T> struct Reducer {
  using Acc = std::conditional_t<kind == ReduceKind::Max, T, SumAccumulator<T>>;
  static Acc identity() {
    if constexpr (kind == ReduceKind::Max)
      return std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                         : std::numeric_limits<T>::lowest();
    else
      return Acc(0);
  }
  static Acc add(Acc acc, T value) {
    if constexpr (kind == ReduceKind::Max)
      return (value != value || value > acc) ? value : acc; // NaN wins
    else
      return acc + Acc(value);
  }
  static Acc combine(Acc a, Acc b) {
    if constexpr (kind == ReduceKind::Max)
      return (b != b || b > a) ? b : a;
    else
      return a + b;
  }
  static T finish(Acc acc, int64_t count) {
    if constexpr (kind == ReduceKind::Mean) {
      if constexpr (std::is_floating_point_v<T>)
        return T(acc / double(count));
      else
        return count == 0 ? T(0) : T(int64_t(acc) / count);
    } else {
      return T(acc);
    }
  }
};

/// Reduces a contiguous row; sums and maxima vectorize through omp simd.
template <ReduceKind kind, typename T>
typename Reducer<kind, T>::Acc reduceRow(const T *x, int64_t n) {
  using R = Reducer<kind, T>;
  typename R::Acc acc = R::identity();
  if constexpr (kind == ReduceKind::Max && std::is_floating_point_v<T>) {
    T max = acc;
    bool nan = false;
#pragma omp simd reduction(max : max) reduction(| : nan)
    for (int64_t j = 0; j < n; ++j) {
      max = x[j] > max ? x[j] : max;
      nan |= x[j] != x[j];
    }
    return nan ? std::numeric_limits<T>::quiet_NaN() : max;
  } else if constexpr (kind == ReduceKind::Max) {
#pragma omp simd reduction(max : acc)
    for (int64_t j = 0; j < n; ++j)
      acc = x[j] > acc ? x[j] : acc;
  } else {
#pragma omp simd reduction(+ : acc)
    for (int64_t j = 0; j < n; ++j)
      acc += typename R::Acc(x[j]);
  }
  return acc;
}

/// Merged dims of the input, each all reduced or all kept.
struct ReduceGroups {
  Shape dims;
  std::vector<bool> reduced;
};

ReduceGroups groupDims(const Shape &shape, const std::vector<bool> &reducedDims) {
  ReduceGroups groups;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1)
      continue;
    if (!groups.dims.empty() && groups.reduced.back() == reducedDims[d]) {
      groups.dims.back() *= shape[d];
      continue;
    }
    groups.dims.push_back(shape[d]);
    groups.reduced.push_back(reducedDims[d]);
  }
  return groups;
}

/// Columns summed per task in the [outer, reduced, inner] form.
constexpr int64_t kColumnBlock = 512;

template <ReduceKind kind, typename T>
void reduceOuterInner(const T *x, T *y, int64_t outer, int64_t length, int64_t inner) {
  using R = Reducer<kind, T>;
  if (inner == 1) {
    parallelFor(outer, length, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        y[o] = R::finish(reduceRow<kind>(x + o * length, length), length);
    });
    return;
  }
  int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  parallelFor(outer * blocks, std::min(inner, kColumnBlock) * length,
              [&](int64_t begin, int64_t end) {
                std::vector<typename R::Acc> acc(kColumnBlock);
                for (int64_t item = begin; item < end; ++item) {
                  int64_t o = item / blocks, first = (item % blocks) * kColumnBlock;
                  int64_t width = std::min(kColumnBlock, inner - first);
                  std::fill(acc.begin(), acc.begin() + width, R::identity());
                  const T *block = x + o * length * inner + first;
                  for (int64_t i = 0; i < length; ++i)
                    for (int64_t j = 0; j < width; ++j)
                      acc[j] = R::add(acc[j], block[i * inner + j]);
                  for (int64_t j = 0; j < width; ++j)
                    y[o * inner + first + j] = R::finish(acc[j], length);
                }
              });
}

/// Any pattern of reduced dims: every input element adds into its output.
template <ReduceKind kind, typename T>
void reduceGeneral(const T *x, T *y, const ReduceGroups &groups, int64_t outputCount) {
  using R = Reducer<kind, T>;
  std::vector<typename R::Acc> acc(outputCount, R::identity());
  // Output strides of the kept groups (0 for reduced ones).
  Shape strides(groups.dims.size(), 0);
  int64_t stride = 1, count = 1;
  for (size_t d = groups.dims.size(); d-- > 0;) {
    if (!groups.reduced[d]) {
      strides[d] = stride;
      stride *= groups.dims[d];
    } else {
      count *= groups.dims[d];
    }
  }
  Shape index(groups.dims.size(), 0);
  int64_t total = product(groups.dims), at = 0;
  for (int64_t i = 0; i < total; ++i) {
    acc[at] = R::add(acc[at], x[i]);
    for (size_t d = groups.dims.size(); d-- > 0;) {
      at += strides[d];
      if (++index[d] < groups.dims[d])
        break;
      at -= groups.dims[d] * strides[d];
      index[d] = 0;
    }
  }
  for (int64_t o = 0; o < outputCount; ++o)
    y[o] = R::finish(acc[o], count);
}

/// The reduced dims of `rank` from the `axes` attribute (all when empty),
/// valid as the graph dialect defines them (sp/Semantics/Axes.h).
std::optional<std::vector<bool>> reducedDims(const std::vector<int64_t> &axes, int64_t rank,
                                             std::string &error) {
  semantics::AxesError problem = semantics::checkReductionAxes(axes.data(), axes.size(), rank);
  if (problem != semantics::AxesError::None) {
    error = semantics::describeAxesError(problem, rank, formatInts(axes));
    return std::nullopt;
  }
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes)
    reduced[axis] = true;
  return reduced;
}

std::string checkReduce(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  // bf16 (the gradients of broadcast bf16 operands) reduces on f32 copies
  // (runWidened): accumulated in double as f32 is.
  if (std::string error = firstError({checkNumericOrBFloat16(input, "input"),
                                      checkDType(out, input.dtype, "result"),
                                      checkIntsAttribute(attributes, "axes"),
                                      checkBoolAttribute(attributes, "keep_dims")});
      !error.empty())
    return error;
  std::string error;
  std::vector<int64_t> axes = attributes.getInts("axes");
  if (!reducedDims(axes, int64_t(input.shape.size()), error))
    return error;
  return checkShape(out,
                    semantics::reducedShape(input.shape.data(), input.shape.size(), axes.data(),
                                            axes.size(),
                                            boolAttribute(attributes, "keep_dims", true)),
                    "result");
}

template <ReduceKind kind> std::string runReduce(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16)
    return runWidened(args, runReduce<kind>);
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  std::string unused;
  std::vector<bool> reduced =
      *reducedDims(attributesOf(args).getInts("axes"), int64_t(input.shape.size()), unused);
  ReduceGroups groups = groupDims(input.shape, reduced);
  visitNumeric(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = input.as<T>();
    T *y = out.as<T>();
    int64_t outputCount = out.numElements();
    if (outputCount == 0)
      return;
    // [reduced], [kept, reduced], [reduced, kept], [kept, reduced, kept]:
    // one run of reduced dims between optional kept ones.
    size_t runs = groups.dims.size();
    auto at = [&](size_t i) { return i < runs && groups.reduced[i]; };
    int64_t outer = 1, length = 1, inner = 1;
    bool simple = true;
    if (runs == 0) {
      // Nothing to reduce, or every dim is 1: a copy (or an identity mean).
    } else if (runs == 1) {
      (groups.reduced[0] ? length : outer) = groups.dims[0];
    } else if (runs == 2) {
      outer = at(0) ? 1 : groups.dims[0];
      length = at(0) ? groups.dims[0] : groups.dims[1];
      inner = at(0) ? groups.dims[1] : 1;
    } else if (runs == 3 && at(1)) {
      outer = groups.dims[0];
      length = groups.dims[1];
      inner = groups.dims[2];
    } else {
      simple = false;
    }
    if (simple)
      reduceOuterInner<kind, T>(x, y, outer, length, inner);
    else
      reduceGeneral<kind, T>(x, y, groups, outputCount);
  });
  return {};
}

//===----------------------------------------------------------------------===//
// cumsum
//===----------------------------------------------------------------------===//

std::string checkCumSum(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkNumeric(input, "input"),
                                      checkSameType(args.outputs[0], input, "result"),
                                      checkIntAttribute(attributes, "axis", true),
                                      checkBoolAttribute(attributes, "exclusive"),
                                      checkBoolAttribute(attributes, "reverse")});
      !error.empty())
    return error;
  int64_t axis = intAttribute(attributes, "axis", 0);
  if (!normalizeAxis(axis, int64_t(input.shape.size())))
    return "axis " + std::to_string(axis) + " is out of range for rank " +
           std::to_string(input.shape.size());
  return {};
}

std::string runCumSum(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  int64_t axis = *normalizeAxis(intAttribute(attributes, "axis", 0), int64_t(input.shape.size()));
  bool exclusive = boolAttribute(attributes, "exclusive", false);
  bool reverse = boolAttribute(attributes, "reverse", false);
  int64_t outer = product(input.shape, 0, axis), length = input.shape[axis],
          inner = product(input.shape, axis + 1);
  visitNumeric(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = SumAccumulator<T>;
    const T *x = input.as<T>();
    T *y = out.as<T>();
    // One task per line along the axis.
    parallelFor(outer * inner, length, [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        int64_t base = (line / inner) * length * inner + line % inner;
        Acc sum = 0;
        for (int64_t step = 0; step < length; ++step) {
          int64_t at = base + (reverse ? length - 1 - step : step) * inner;
          T value = x[at];
          if (exclusive)
            y[at] = T(sum);
          sum += Acc(value);
          if (!exclusive)
            y[at] = T(sum);
        }
      }
    });
  });
  return {};
}

} // namespace

void addReductionKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"reduce_sum", checkReduce, runReduce<ReduceKind::Sum>, false, 0,
                     widenedBFloat16Workspace});
  kernels.push_back({"reduce_mean", checkReduce, runReduce<ReduceKind::Mean>, false, 0,
                     widenedBFloat16Workspace});
  kernels.push_back({"reduce_max", checkReduce, runReduce<ReduceKind::Max>, false, 0,
                     widenedBFloat16Workspace});
  kernels.push_back({"cumsum", checkCumSum, runCumSum});
}

} // namespace sp::runtime::cpu
