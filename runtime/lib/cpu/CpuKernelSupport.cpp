//===- CpuKernelSupport.cpp - shared pieces of the CPU kernels -----------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Broadcast.h"

namespace sp::runtime::cpu {

int64_t product(const Shape &shape, size_t begin, size_t end) {
  int64_t result = 1;
  for (size_t i = begin; i < std::min(end, shape.size()); ++i)
    result *= shape[i];
  return result;
}

std::optional<Shape> broadcastShapes(std::initializer_list<const Shape *> shapes) {
  Shape result;
  // Runtime shapes are all known: no dim is the "unknown" marker.
  constexpr int64_t kNoUnknownDim = -1;
  for (const Shape *shape : shapes)
    if (!semantics::broadcastInto(result, shape->data(), shape->size(), kNoUnknownDim))
      return std::nullopt;
  return result;
}

bool broadcastsTo(const Shape &from, const Shape &to) {
  if (from.size() > to.size())
    return false;
  size_t offset = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1 && from[d] != to[offset + d])
      return false;
  return true;
}

Shape rowMajorStrides(const Shape &shape) {
  Shape strides(shape.size(), 1);
  for (size_t d = shape.size(); d-- > 1;)
    strides[d - 1] = strides[d] * shape[d];
  return strides;
}

std::string describe(const TensorArg &tensor) {
  return std::string(dtypeName(tensor.dtype)) + " " + formatShape(tensor.shape);
}

std::string formatInts(const std::vector<int64_t> &values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i)
    text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

//===----------------------------------------------------------------------===//
// Checking
//===----------------------------------------------------------------------===//

const Attributes &attributesOf(const KernelArgs &args) {
  static const Attributes empty;
  return args.attributes ? *args.attributes : empty;
}

std::string checkArity(const KernelArgs &args, size_t inputs, size_t outputs) {
  if (args.inputs.size() != inputs || args.outputs.size() != outputs)
    return "expects " + std::to_string(inputs) + " inputs and " +
           std::to_string(outputs) + " outputs, got " +
           std::to_string(args.inputs.size()) + " and " +
           std::to_string(args.outputs.size());
  for (size_t i = 0; i < outputs; ++i)
    if (!args.outputs[i].present)
      return "output " + std::to_string(i) + " is absent";
  return {};
}

std::string checkPresent(const KernelArgs &args, size_t index, const char *role) {
  if (index >= args.inputs.size() || !args.inputs[index].present)
    return std::string(role) + " operand is required but absent";
  return {};
}

std::string checkDType(const TensorArg &tensor, DType dtype, const char *role) {
  if (tensor.dtype != dtype)
    return std::string(role) + " must be " + dtypeName(dtype) + ", got " +
           describe(tensor);
  return {};
}

std::string checkFloat(const TensorArg &tensor, const char *role) {
  if (!isFloat(tensor.dtype))
    return std::string(role) + " must be float32 or float64, got " + describe(tensor);
  return {};
}

std::string checkFloatStorage(const TensorArg &tensor, const char *role) {
  if (!isFloatStorage(tensor.dtype))
    return std::string(role) + " must be float32, float64 or bfloat16, got " +
           describe(tensor);
  return {};
}

std::string checkNumericOrBFloat16(const TensorArg &tensor, const char *role) {
  if (!isNumeric(tensor.dtype) && tensor.dtype != DType::BFloat16)
    return std::string(role) + " must be float32, float64, int64, int32 or bfloat16, got " +
           describe(tensor);
  return {};
}

std::string checkNumeric(const TensorArg &tensor, const char *role) {
  if (!isNumeric(tensor.dtype))
    return std::string(role) + " must be float32, float64, int64 or int32, got " +
           describe(tensor);
  return {};
}

std::string checkIndexType(const TensorArg &tensor, const char *role) {
  if (!isInteger(tensor.dtype))
    return std::string(role) + " must be int64 or int32, got " + describe(tensor);
  return {};
}

std::string checkShape(const TensorArg &tensor, const Shape &shape, const char *role) {
  if (tensor.shape != shape)
    return std::string(role) + " must have shape " + formatShape(shape) + ", got " +
           describe(tensor);
  return {};
}

std::string checkSameType(const TensorArg &output, const TensorArg &input,
                          const char *role) {
  if (output.dtype != input.dtype || output.shape != input.shape)
    return std::string(role) + " must be " + describe(input) + ", got " +
           describe(output);
  return {};
}

std::string checkScalar(const TensorArg &tensor, const char *role) {
  if (product(tensor.shape) != 1)
    return std::string(role) + " must hold one element, got " + describe(tensor);
  return {};
}

std::string checkVector(const TensorArg &tensor, const char *role) {
  if (tensor.shape.size() != 1)
    return std::string(role) + " must be 1-D, got " + describe(tensor);
  return {};
}

std::string checkIntAttribute(const Attributes &attributes, const char *name,
                              bool required) {
  if (!attributes.has(name))
    return required ? std::string("attribute '") + name + "' is required" : "";
  if (!attributes.holds<int64_t>(name) && !attributes.holds<bool>(name))
    return std::string("attribute '") + name + "' must be an integer";
  return {};
}

std::string checkFloatAttribute(const Attributes &attributes, const char *name,
                                bool required) {
  if (!attributes.has(name))
    return required ? std::string("attribute '") + name + "' is required" : "";
  if (!attributes.holds<double>(name) && !attributes.holds<int64_t>(name))
    return std::string("attribute '") + name + "' must be a number";
  return {};
}

std::string checkBoolAttribute(const Attributes &attributes, const char *name) {
  if (attributes.has(name) && !attributes.holds<bool>(name) &&
      !attributes.holds<int64_t>(name))
    return std::string("attribute '") + name + "' must be a bool";
  return {};
}

std::string checkIntsAttribute(const Attributes &attributes, const char *name,
                               bool required) {
  if (!attributes.has(name))
    return required ? std::string("attribute '") + name + "' is required" : "";
  if (!attributes.holds<std::vector<int64_t>>(name))
    return std::string("attribute '") + name + "' must be a list of integers";
  return {};
}

int64_t intAttribute(const Attributes &attributes, const char *name,
                     int64_t defaultValue) {
  if (attributes.holds<int64_t>(name))
    return attributes.getInt(name);
  if (attributes.holds<bool>(name))
    return attributes.getBool(name);
  return defaultValue;
}

double floatAttribute(const Attributes &attributes, const char *name,
                      double defaultValue) {
  if (attributes.holds<double>(name))
    return attributes.getFloat(name);
  if (attributes.holds<int64_t>(name))
    return double(attributes.getInt(name));
  return defaultValue;
}

bool boolAttribute(const Attributes &attributes, const char *name, bool defaultValue) {
  if (attributes.holds<bool>(name))
    return attributes.getBool(name);
  if (attributes.holds<int64_t>(name))
    return attributes.getInt(name) != 0;
  return defaultValue;
}

//===----------------------------------------------------------------------===//
// Broadcasting
//===----------------------------------------------------------------------===//

BroadcastLoop::BroadcastLoop(const Shape &output,
                             std::initializer_list<const Shape *> inputs)
    : numInputs(int(inputs.size())) {
  size_t rank = output.size();
  std::vector<Shape> inputStrides;
  for (const Shape *input : inputs) {
    // Left-pad with unit dims; a unit dim against a larger one walks nothing.
    Shape padded(rank - input->size(), 1);
    padded.insert(padded.end(), input->begin(), input->end());
    Shape stride = rowMajorStrides(padded);
    for (size_t d = 0; d < rank; ++d)
      if (padded[d] == 1)
        stride[d] = 0;
    inputStrides.push_back(std::move(stride));
  }
  for (size_t d = 0; d < rank; ++d) {
    if (output[d] == 1)
      continue;
    Offsets stride{};
    for (int i = 0; i < numInputs; ++i)
      stride[i] = inputStrides[i][d];
    if (!dims.empty()) {
      // Merge into the previous dim when every input continues contiguously.
      const Offsets &previous = strides.back();
      bool mergeable = true;
      for (int i = 0; i < numInputs; ++i)
        mergeable &= previous[i] == stride[i] * output[d];
      if (mergeable) {
        dims.back() *= output[d];
        strides.back() = stride;
        continue;
      }
    }
    dims.push_back(output[d]);
    strides.push_back(stride);
  }
  if (dims.empty()) {
    dims.push_back(1);
    strides.push_back(Offsets{});
  }
}

//===----------------------------------------------------------------------===//
// bf16 through an f32 kernel
//===----------------------------------------------------------------------===//

uint64_t widenedBFloat16Workspace(const KernelArgs &args) {
  uint64_t bytes = 0;
  for (const TensorArg &tensor : args.inputs)
    if (tensor.present && tensor.dtype == DType::BFloat16)
      bytes += workspaceArrayBytes(tensor.numElements(), sizeof(float));
  for (const TensorArg &tensor : args.outputs)
    if (tensor.dtype == DType::BFloat16)
      bytes += workspaceArrayBytes(tensor.numElements(), sizeof(float));
  return bytes;
}

std::string runWidened(const KernelArgs &args, std::string (*run)(const KernelArgs &)) {
  WorkspaceArrays arrays(args);
  KernelArgs widened = args;
  widened.workspace = nullptr;
  widened.workspaceBytes = 0;
  for (TensorArg &tensor : widened.inputs) {
    if (!tensor.present || tensor.dtype != DType::BFloat16)
      continue;
    const BFloat16 *from = tensor.as<BFloat16>();
    float *to = arrays.take<float>(tensor.numElements());
    parallelFor(tensor.numElements(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        to[i] = float(from[i]);
    });
    tensor.data = to;
    tensor.dtype = DType::Float32;
  }
  for (TensorArg &tensor : widened.outputs) {
    if (tensor.dtype != DType::BFloat16)
      continue;
    tensor.data = arrays.take<float>(tensor.numElements());
    tensor.dtype = DType::Float32;
  }
  if (std::string error = run(widened); !error.empty())
    return error;
  for (size_t i = 0; i < args.outputs.size(); ++i) {
    if (args.outputs[i].dtype != DType::BFloat16)
      continue;
    const float *from = widened.outputs[i].as<float>();
    BFloat16 *to = args.outputs[i].as<BFloat16>();
    parallelFor(args.outputs[i].numElements(), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        to[i] = BFloat16(from[i]);
    });
  }
  return {};
}

} // namespace sp::runtime::cpu
