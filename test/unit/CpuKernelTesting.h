//===- CpuKernelTesting.h - helpers for the CPU kernel tests ------*- C++ -*-===//
//
// Owned tensors, a call that checks and then runs one kernel the way the
// executor does, and reference helpers (finite differences) for the tests.
//
//===----------------------------------------------------------------------===//
#ifndef SP_TEST_UNIT_CPUKERNELTESTING_H
#define SP_TEST_UNIT_CPUKERNELTESTING_H

#include "sp/Semantics/BFloat16.h"
#include "sp/runtime/Kernel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace sp::runtime::testing {

using Shape = std::vector<int64_t>;

template <typename T> constexpr DType dtypeOf() {
  if constexpr (std::is_same_v<T, float>)
    return DType::Float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::Float64;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DType::Int64;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::Int32;
  else if constexpr (std::is_same_v<T, sp::semantics::BFloat16>)
    return DType::BFloat16;
  else
    return DType::Bool; // uint8_t / bool bytes
}

/// A tensor that owns its bytes.
struct Tensor {
  DType dtype = DType::Float32;
  Shape shape;
  std::vector<char> bytes;

  Tensor() = default;
  Tensor(DType dtype, Shape shape) : dtype(dtype), shape(std::move(shape)) {
    bytes.assign(size_t(numElements() * dtypeSize(dtype)), 0);
  }
  int64_t numElements() const {
    int64_t count = 1;
    for (int64_t dim : shape)
      count *= dim;
    return count;
  }
  template <typename T> T *data() { return reinterpret_cast<T *>(bytes.data()); }
  template <typename T> std::vector<T> values() const {
    std::vector<T> result(static_cast<size_t>(numElements()));
    std::memcpy(result.data(), bytes.data(), bytes.size());
    return result;
  }
  TensorArg arg(bool withData) {
    TensorArg arg;
    arg.dtype = dtype;
    arg.shape = shape;
    arg.data = withData && !bytes.empty() ? bytes.data() : nullptr;
    return arg;
  }
};

/// A tensor of `shape` holding `values` (converted to T).
template <typename T> Tensor tensor(Shape shape, const std::vector<T> &values) {
  Tensor result(dtypeOf<T>(), std::move(shape));
  EXPECT_EQ(int64_t(values.size()), result.numElements()) << "test tensor size";
  std::memcpy(result.bytes.data(), values.data(),
              std::min(result.bytes.size(), values.size() * sizeof(T)));
  return result;
}
inline Tensor floats(Shape shape, const std::vector<float> &values) {
  return tensor<float>(std::move(shape), values);
}
inline Tensor doubles(Shape shape, const std::vector<double> &values) {
  return tensor<double>(std::move(shape), values);
}
inline Tensor int64s(Shape shape, const std::vector<int64_t> &values) {
  return tensor<int64_t>(std::move(shape), values);
}
inline Tensor int32s(Shape shape, const std::vector<int32_t> &values) {
  return tensor<int32_t>(std::move(shape), values);
}
inline Tensor bools(Shape shape, const std::vector<uint8_t> &values) {
  return tensor<uint8_t>(std::move(shape), values);
}
/// `count` values spread over [low, high) by a fixed pseudo-random sequence.
template <typename T> std::vector<T> sequence(int64_t count, double low, double high,
                                              uint64_t seed = 1) {
  std::vector<T> values(static_cast<size_t>(count));
  uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (T &value : values) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    double unit = double(state >> 11) / double(uint64_t(1) << 53);
    value = T(low + (high - low) * unit);
  }
  return values;
}

/// One kernel call: `check` with shapes only, then `run` with data.
struct KernelCall {
  std::string name;
  std::vector<Tensor *> inputs; // null: an absent optional operand
  std::vector<Tensor *> outputs;
  Attributes attributes;
  /// Where the call runs (rank, seed, step); null: outside a session.
  const ExecutionContext *context = nullptr;

  KernelArgs args(bool withData) const {
    KernelArgs args;
    for (Tensor *input : inputs) {
      if (input) {
        args.inputs.push_back(input->arg(withData));
      } else {
        TensorArg absent;
        absent.present = false;
        args.inputs.push_back(absent);
      }
    }
    for (Tensor *output : outputs)
      args.outputs.push_back(output->arg(withData));
    args.attributes = &attributes;
    args.context = context;
    return args;
  }
  /// check()'s message ("" when the kernel accepts the call).
  std::string check() const {
    const Kernel *kernel = findCpuKernel(name);
    if (!kernel)
      return "no CPU kernel named " + name;
    return kernel->check(args(false));
  }
  /// check() then run(); the first message, "" on success.
  std::string run() const {
    if (std::string error = check(); !error.empty())
      return "check: " + error;
    return findCpuKernel(name)->run(args(true));
  }
};

inline KernelCall call(std::string name, std::vector<Tensor *> inputs,
                       std::vector<Tensor *> outputs, Attributes attributes = {}) {
  return KernelCall{std::move(name), std::move(inputs), std::move(outputs),
                    std::move(attributes)};
}

/// Attributes from name/value pairs.
inline Attributes attrs(std::initializer_list<std::pair<const char *, AttributeValue>> values) {
  Attributes attributes;
  for (const auto &[name, value] : values)
    attributes.set(name, value);
  return attributes;
}

template <typename T>
void expectNear(const std::vector<T> &actual, const std::vector<T> &expected, double tolerance,
                const char *what = "") {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i)
    if (actual[i] != expected[i]) // equal infinities have no finite difference
      EXPECT_NEAR(double(actual[i]), double(expected[i]), tolerance)
          << what << " element " << i;
}

/// Central finite difference of the scalar `loss` with respect to every
/// element of `input` (f64), for gradient tests.
inline std::vector<double> finiteDifference(Tensor &input, const std::function<double()> &loss,
                                            double step = 1e-6) {
  std::vector<double> gradient(size_t(input.numElements()));
  double *values = input.data<double>();
  for (size_t i = 0; i < gradient.size(); ++i) {
    double saved = values[i];
    values[i] = saved + step;
    double up = loss();
    values[i] = saved - step;
    double down = loss();
    values[i] = saved;
    gradient[i] = (up - down) / (2 * step);
  }
  return gradient;
}

/// sum(a * b) over two f64 tensors' elements.
inline double dot(const std::vector<double> &a, const std::vector<double> &b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i)
    sum += a[i] * b[i];
  return sum;
}

} // namespace sp::runtime::testing

#endif // SP_TEST_UNIT_CPUKERNELTESTING_H
