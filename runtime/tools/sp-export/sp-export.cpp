//===- sp-export.cpp - trained weights back into the ONNX model -----------===//
//
// Writes the model a plan was compiled from with the parameters of a
// checkpoint in place of its initializers, so that ONNX Runtime or any other
// ONNX consumer runs the trained model. Parameters are stored by their
// initializer names, whole (DESIGN.md, "Checkpoints are whole tensors"), so
// the export needs neither the plan nor the rank count that trained it.
//
// Everything but the initializers' values stays as the model had it: nodes,
// opsets, inputs, outputs, metadata. Tensors of at least
// --external-data-threshold bytes go to OUT.data beside OUT (the ONNX
// external-data convention), the rest inline; the data file is written before
// the model, each atomically, so a failed export never leaves a model whose
// data is missing or stale.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Checkpoint.h"
#include "sp/runtime/ExternalData.h"
#include "sp/runtime/Files.h"

#include <onnx/onnx_pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace sp::runtime;

constexpr const char *kUsage =
    R"(sp-export: write an ONNX model with the trained weights of a checkpoint

usage: sp-export CHECKPOINT -o OUT.onnx [--model MODEL.onnx] [options]

  CHECKPOINT      a checkpoint folder (step-N) or a folder of them as
                  sp-run --save writes (then the newest)
  -o OUT.onnx     the model to write; a regular file is replaced atomically,
                  a device or FIFO is written in place
  --model MODEL   the ONNX model whose initializers the checkpoint's
                  parameters replace (default: the model the plan was
                  compiled from, as the checkpoint records it)
  --external-data-threshold BYTES
                  store tensors of at least BYTES bytes in OUT.onnx.data, as
                  ONNX external data (default 1048576)
  --single-file   keep every tensor inside OUT.onnx (models under 2 GiB)
  --help          print this help

Every parameter of the checkpoint must be an initializer of MODEL with the same
shape; float32 and float64 convert into the initializer's type. The checkpoint
is verified (manifest and tensor checksums, no NaN or infinity) before anything
is written. Errors are one line on stderr and exit code 1.
)";

/// Protobuf refuses messages of 2 GiB or more.
constexpr int64_t kProtobufLimit = std::numeric_limits<int32_t>::max();

int reportError(const std::string &message) {
  std::fprintf(stderr, "sp-export: error: %s\n", message.c_str());
  return 1;
}

struct Options {
  std::string checkpoint, model, output;
  int64_t externalThreshold = int64_t(1) << 20;
  bool singleFile = false;
};

/// Parses the command line; on a bad one returns the error, on --help "help".
std::string parseOptions(int argc, char **argv, Options &options) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool hasValue = false;
    if (size_t equals = arg.find('='); arg.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
      hasValue = true;
    }
    auto takeValue = [&](std::string &into) -> std::string {
      if (!hasValue) {
        if (i + 1 >= argc)
          return arg + " needs a value (see sp-export --help)";
        value = argv[++i];
      }
      into = value;
      return "";
    };
    if (arg == "--help" || arg == "-h")
      return "help";
    if (arg == "-o" || arg == "--output") {
      if (std::string error = takeValue(options.output); !error.empty())
        return error;
    } else if (arg == "--model") {
      if (std::string error = takeValue(options.model); !error.empty())
        return error;
    } else if (arg == "--external-data-threshold") {
      std::string text;
      if (std::string error = takeValue(text); !error.empty())
        return error;
      if (!parseByteCount(text, options.externalThreshold))
        return "--external-data-threshold '" + text + "' is not a byte count";
    } else if (arg == "--single-file" && !hasValue) {
      options.singleFile = true;
    } else if (!arg.empty() && arg[0] != '-' && options.checkpoint.empty()) {
      options.checkpoint = arg;
    } else {
      return "unexpected argument '" + std::string(argv[i]) + "' (see sp-export --help)";
    }
  }
  if (options.checkpoint.empty() || options.output.empty())
    return "expected CHECKPOINT -o OUT.onnx (see sp-export --help)";
  return "";
}

std::string readModel(const std::string &path, onnx::ModelProto &model) {
  std::error_code code;
  if (!fs::is_regular_file(path, code))
    return path + ": " + (fs::exists(path, code) ? "not a regular file" : "no such file");
  int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0)
    return path + ": cannot open: " + std::strerror(errno);
  google::protobuf::io::FileInputStream stream(descriptor);
  stream.SetCloseOnDelete(true);
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(std::numeric_limits<int>::max());
  if (!model.ParseFromCodedStream(&coded) || !model.has_graph())
    return path + ": not an ONNX model (protobuf parse failed)";
  return "";
}

int64_t elementBytes(int32_t dataType) {
  switch (dataType) {
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
  case onnx::TensorProto::COMPLEX64:
    return 8;
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return 4;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return 2;
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    return 1;
  default:
    return 0;
  }
}

/// The source model's external data, read as the importer reads it
/// (sp/runtime/ExternalData.h): only from inside the model's folder.
std::string readExternalData(const fs::path &modelFolder, const onnx::TensorProto &tensor,
                             std::string &bytes) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (const onnx::StringStringEntryProto &entry : tensor.external_data())
    entries.emplace_back(entry.key(), entry.value());
  ExternalDataRef ref;
  std::string error = parseExternalData(entries, ref);
  if (error.empty())
    error = sp::runtime::readExternalData(modelFolder.string(), ref, bytes);
  return error.empty() ? "" : "initializer '" + tensor.name() + "': " + error;
}

/// The number of elements of an initializer's dims, or -1 when it overflows.
int64_t elementCount(const onnx::TensorProto &tensor) {
  int64_t count = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0 || (dim > 0 && count > std::numeric_limits<int64_t>::max() / dim))
      return -1;
    count *= dim;
  }
  return count;
}

template <typename To, typename From> std::string convertValues(const NpyArray &array) {
  std::string bytes(size_t(array.numElements()) * sizeof(To), '\0');
  const From *from = reinterpret_cast<const From *>(array.data.data());
  To *to = reinterpret_cast<To *>(bytes.data());
  for (int64_t i = 0; i < array.numElements(); ++i)
    to[i] = To(from[i]);
  return bytes;
}

/// The checkpoint's tensor as the initializer's raw bytes.
std::string replaceInitializer(onnx::TensorProto &initializer, const NpyArray &array,
                               const std::string &where) {
  std::vector<int64_t> dims(initializer.dims().begin(), initializer.dims().end());
  if (dims != array.shape)
    return where + ": parameter '" + initializer.name() + "' is " + formatShape(array.shape) +
           " in the checkpoint, " + formatShape(dims) +
           " in the model (a checkpoint of another model?)";
  std::string bytes;
  int32_t type = initializer.data_type();
  if (type == onnx::TensorProto::FLOAT && array.dtype == DType::Float32)
    bytes.assign(array.data.begin(), array.data.end());
  else if (type == onnx::TensorProto::DOUBLE && array.dtype == DType::Float64)
    bytes.assign(array.data.begin(), array.data.end());
  else if (type == onnx::TensorProto::FLOAT && array.dtype == DType::Float64)
    bytes = convertValues<float, double>(array);
  else if (type == onnx::TensorProto::DOUBLE && array.dtype == DType::Float32)
    bytes = convertValues<double, float>(array);
  else
    return where + ": parameter '" + initializer.name() + "' is " + dtypeName(array.dtype) +
           " in the checkpoint; the model's initializer has ONNX data type " +
           std::to_string(type) + ", which sp-export does not convert to";
  initializer.clear_float_data();
  initializer.clear_double_data();
  initializer.clear_int32_data();
  initializer.clear_int64_data();
  initializer.clear_external_data();
  initializer.set_data_location(onnx::TensorProto::DEFAULT);
  initializer.set_raw_data(std::move(bytes));
  return "";
}

/// Moves the initializer's raw bytes to `data` (at an offset aligned to 4
/// KiB, so that readers may map them) and points the initializer there.
void moveToExternalData(onnx::TensorProto &initializer, const std::string &location,
                        std::string &data) {
  constexpr size_t kAlignment = 4096;
  data.resize((data.size() + kAlignment - 1) / kAlignment * kAlignment, '\0');
  size_t offset = data.size();
  const std::string &raw = initializer.raw_data();
  data += raw;
  initializer.clear_external_data();
  for (auto [key, value] : {std::pair<const char *, std::string>{"location", location},
                            {"offset", std::to_string(offset)},
                            {"length", std::to_string(raw.size())}}) {
    onnx::StringStringEntryProto &entry = *initializer.add_external_data();
    entry.set_key(key);
    entry.set_value(value);
  }
  initializer.clear_raw_data();
  initializer.set_data_location(onnx::TensorProto::EXTERNAL);
}

int exportCheckpoint(const Options &options) {
  CheckpointManifest manifest;
  if (std::string error = openCheckpoint(options.checkpoint, manifest); !error.empty())
    return reportError(error);
  std::string modelPath = options.model;
  if (modelPath.empty()) {
    if (manifest.modelSource.empty())
      return reportError(manifest.folder +
                         ": the checkpoint does not name the model it was trained from; "
                         "pass --model MODEL.onnx");
    modelPath = manifest.modelSource;
    std::error_code code;
    if (!fs::exists(modelPath, code))
      return reportError(modelPath + ": no such file (the model the checkpoint was trained "
                                     "from); pass --model MODEL.onnx");
  }
  onnx::ModelProto model;
  if (std::string error = readModel(modelPath, model); !error.empty())
    return reportError(error);

  // Output paths: OUT, and OUT.data when tensors go outside it.
  std::string error;
  OutputKind outputKind = classifyOutputPath(options.output, error);
  if (outputKind == OutputKind::Invalid)
    return reportError(error);
  fs::path modelFolder = fs::path(modelPath).parent_path();
  if (modelFolder.empty())
    modelFolder = ".";

  std::map<std::string, onnx::TensorProto *> initializers;
  for (onnx::TensorProto &initializer : *model.mutable_graph()->mutable_initializer())
    initializers[initializer.name()] = &initializer;

  // The trained parameters, each verified before anything is written.
  int replaced = 0;
  for (const CheckpointTensor &tensor : manifest.tensors) {
    if (tensor.role != "parameter")
      continue;
    auto found = initializers.find(tensor.name);
    if (found == initializers.end())
      return reportError(modelPath + ": has no initializer '" + tensor.name +
                         "', a parameter of the checkpoint (a checkpoint of another model?)");
    NpyArray array;
    if (std::string problem = readCheckpointTensor(manifest, tensor, array); !problem.empty())
      return reportError(problem);
    if (std::string problem = replaceInitializer(*found->second, array, modelPath);
        !problem.empty())
      return reportError(problem);
    ++replaced;
  }
  if (replaced == 0)
    return reportError(manifest.folder + ": the checkpoint holds no parameters");

  // The other initializers' external data comes along, inline for now.
  for (auto &[name, initializer] : initializers) {
    if (initializer->data_location() != onnx::TensorProto::EXTERNAL)
      continue;
    std::string bytes;
    if (std::string problem = readExternalData(modelFolder, *initializer, bytes);
        !problem.empty())
      return reportError(modelPath + ": " + problem);
    int64_t count = elementCount(*initializer), width = elementBytes(initializer->data_type());
    if (count < 0 || (width > 0 && int64_t(bytes.size()) != count * width))
      return reportError(modelPath + ": initializer '" + name + "' has " +
                         std::to_string(bytes.size()) + " bytes of external data for " +
                         std::to_string(count) + " elements");
    initializer->clear_external_data();
    initializer->set_data_location(onnx::TensorProto::DEFAULT);
    initializer->set_raw_data(std::move(bytes));
  }

  // Large tensors out to OUT.data, in the graph's order.
  std::string dataPath = options.output + ".data";
  std::string dataLocation = fs::path(dataPath).filename().string();
  std::string data;
  if (!options.singleFile)
    for (onnx::TensorProto &initializer : *model.mutable_graph()->mutable_initializer())
      if (initializer.has_raw_data() &&
          int64_t(initializer.raw_data().size()) >= options.externalThreshold)
        moveToExternalData(initializer, dataLocation, data);
  if (!data.empty() && outputKind == OutputKind::Special)
    return reportError(options.output +
                       " is not a regular file, so it has no folder for external data; "
                       "pass --single-file");
  if (int64_t(model.ByteSizeLong()) >= kProtobufLimit)
    return reportError("the model would be " + std::to_string(model.ByteSizeLong()) +
                       " bytes, over protobuf's 2 GiB limit; lower --external-data-threshold" +
                       (options.singleFile ? " and drop --single-file" : ""));

  // Which training step the weights are from; an export of an export says so once.
  onnx::StringStringEntryProto *step = nullptr;
  for (onnx::StringStringEntryProto &entry : *model.mutable_metadata_props())
    if (entry.key() == "sp.checkpoint_step")
      step = &entry;
  if (!step) {
    step = model.add_metadata_props();
    step->set_key("sp.checkpoint_step");
  }
  step->set_value(std::to_string(manifest.step));

  if (!data.empty() &&
      !writeFileAtomically(
          dataPath,
          [&](std::ostream &out) { return bool(out.write(data.data(), std::streamsize(data.size()))); },
          error))
    return reportError(error);
  if (!writeFileAtomically(
          options.output, [&](std::ostream &out) { return model.SerializeToOstream(&out); }, error))
    return reportError(error);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options options;
  std::string error = parseOptions(argc, argv, options);
  if (error == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!error.empty())
    return reportError(error);
  return exportCheckpoint(options);
}
