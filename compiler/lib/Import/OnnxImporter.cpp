//===- OnnxImporter.cpp - ONNX model to graph dialect ----------------------===//
//
// One pass over the topologically sorted ONNX nodes. Each node becomes graph
// ops built through `createInferred`, which infers result types, verifies the
// op and folds it at once, so that shape computations collapse into constants
// while later nodes are built and their result types come out static.
//
//===----------------------------------------------------------------------===//

#include "sp/Import/OnnxImporter.h"

#include "OnnxOpDefinitions.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/runtime/ExternalData.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/Sequence.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/onnx_pb.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>

using namespace mlir;
using namespace sp::graph;

namespace sp {

llvm::Error parseInputShape(llvm::StringRef text, OnnxImportOptions &options) {
  auto [name, dims] = text.split('=');
  auto invalid = [&]() {
    return llvm::createStringError(
        "--input-shape '" + text.str() +
        "' is not of the form NAME=DxDx... with positive integers D");
  };
  if (name.empty() || dims.empty())
    return invalid();
  std::vector<int64_t> shape;
  SmallVector<StringRef> pieces;
  dims.split(pieces, 'x');
  for (StringRef piece : pieces) {
    int64_t dim;
    if (piece.getAsInteger(10, dim) || dim <= 0)
      return invalid();
    shape.push_back(dim);
  }
  options.inputShapes[name.str()] = shape;
  return llvm::Error::success();
}

namespace {

/// Where the importer is, for error messages.
struct NodeContext {
  const onnx::NodeProto *node = nullptr;
  int64_t opset = 0;
  /// The opset that introduced the node's definition ("Softmax-13"); 0 outside
  /// the default domain.
  int64_t sinceVersion = 0;
};

class OnnxImporter {
public:
  OnnxImporter(MLIRContext &context, StringRef path,
               const OnnxImportOptions &options)
      : context(context), builder(&context), path(path.str()),
        options(options) {}

  llvm::Expected<OwningOpRef<ModuleOp>> run();

private:
  // --- Reading the file ---
  LogicalResult readModel();
  // --- Types and tensors ---
  FailureOr<Type> convertElementType(int32_t onnxType, StringRef what);
  FailureOr<RankedTensorType> convertValueType(const onnx::ValueInfoProto &info);
  FailureOr<std::vector<char>> readTensorBytes(const onnx::TensorProto &tensor,
                                               RankedTensorType type);
  FailureOr<ElementsAttr> convertTensor(const onnx::TensorProto &tensor,
                                        bool asResource);
  // --- The graph ---
  LogicalResult importGraph();
  LogicalResult bindInputShapes();
  /// Binds each input's batch dim to one micro-batch of it.
  LogicalResult bindMicroBatch();
  /// Binds the token input's sequence dim to the next multiple of
  /// options.sequenceMultiple, setting unpaddedSequenceLength.
  LogicalResult bindPaddedSequence();
  LogicalResult importNode(const onnx::NodeProto &node);
  LogicalResult checkDefinition(const onnx::NodeProto &node);
  LogicalResult checkComputeElementTypes(const onnx::NodeProto &node);
  LogicalResult importFunctionCall(const onnx::NodeProto &node,
                                   const onnx::FunctionProto &function);
  LogicalResult dispatch(const onnx::NodeProto &node);

  // --- Building ops ---
  FailureOr<SmallVector<Value>> createInferred(StringRef opName,
                                               ValueRange operands,
                                               ArrayRef<NamedAttribute> attrs,
                                               unsigned numResults = 1);
  FailureOr<Value> createOne(StringRef opName, ValueRange operands,
                             ArrayRef<NamedAttribute> attrs = {});
  FailureOr<Value> createWithType(StringRef opName, Type type,
                                  ValueRange operands,
                                  ArrayRef<NamedAttribute> attrs = {});
  LogicalResult finishOp(Operation *op, SmallVector<Value> &results);
  Value constantI64(ArrayRef<int64_t> values);
  Value constantScalarLike(Type elementType, double value);

  // --- Node helpers ---
  Value input(unsigned index);
  unsigned numInputs() const { return current.node->input_size(); }
  LogicalResult define(unsigned outputIndex, Value value);
  bool outputUsed(unsigned index) const;
  const onnx::AttributeProto *attribute(StringRef name) const;
  int64_t intAttr(StringRef name, int64_t defaultValue) const;
  double floatAttr(StringRef name, double defaultValue) const;
  std::string stringAttr(StringRef name, StringRef defaultValue) const;
  std::optional<SmallVector<int64_t>> intsAttr(StringRef name) const;
  FailureOr<SmallVector<int64_t>> requireConstantInts(unsigned inputIndex,
                                                      StringRef what);
  FailureOr<SmallVector<int64_t>> normalizeAxes(ArrayRef<int64_t> axes,
                                                int64_t rank);
  LogicalResult requireInputs(unsigned minimum, unsigned maximum);
  int64_t rankOf(Value value) const {
    return llvm::cast<RankedTensorType>(value.getType()).getRank();
  }

  // --- Errors ---
  LogicalResult fail(const Twine &message);
  LogicalResult failGlobal(const Twine &message);
  Location nodeLocation() const;

  // --- Op families ---
  LogicalResult importBinary(StringRef opName);
  LogicalResult importVariadic(StringRef opName);
  LogicalResult importUnary(StringRef opName);
  LogicalResult importConstant();
  LogicalResult importCast();
  LogicalResult importGemm();
  LogicalResult importLayerNorm();
  LogicalResult importReduce(StringRef opName, bool axesAsInput);
  FailureOr<std::optional<SmallVector<int64_t>>> reduceAxes(bool axesAsInput);
  LogicalResult importComposedReduce(StringRef opType);
  LogicalResult importActivation(StringRef opType);
  LogicalResult importClip();
  LogicalResult importSize();
  /// Softmax or LogSoftmax; before opset 13 they normalize the input
  /// flattened to 2-D at `axis` (default 1).
  LogicalResult importSoftmax(bool logarithm);
  /// (x - max) - log(sum(exp(x - max))) along the normalized `axis`.
  Value logSoftmax(Value x, int64_t axis);
  LogicalResult importMean();
  LogicalResult importLoss(StringRef opType);
  /// NegativeLogLikelihoodLoss of `logProb` [N, C, d...] against `target`
  /// [N, d...] with optional `weight` [C], reduced as `reduction` says.
  Value negativeLogLikelihood(Value logProb, Value target, Value weight,
                              StringRef reduction, std::optional<int64_t> ignoreIndex);
  /// SoftmaxCrossEntropyLoss summed or averaged by the fused
  /// cross_entropy_sum, where nothing else needs the log-probabilities.
  Value fusedCrossEntropy(Value scores, Value labels, StringRef reduction,
                          std::optional<int64_t> ignoreIndex);
  /// The i64 [indices..., rank] coordinates of every element of an
  /// ...Elements op's `indices` into `data`, the index itself along `axis`.
  Value elementCoordinates(Value data, Value indices, int64_t axis);
  /// Whether `indices` has `data`'s dims except along `axis`: then an
  /// ...Elements op is gather_nd over batch dims, with `axis` moved last.
  bool spansOtherDims(Value data, Value indices, int64_t axis) const;
  /// `value` with dim `axis` moved last, or (`back`) from last to `axis`.
  Value moveAxisLast(Value value, int64_t axis, bool back = false);
  /// i64 `indices` [..., k] as the 1-tuples [..., k, 1] of gather_nd.
  Value indexTuples(Value indices);
  LogicalResult importGatherElements();
  LogicalResult importScatter(StringRef opType);
  /// ScatterND with reduction none or add, from gather_nd_grad (scatter-add).
  Value scatterND(Value data, Value indices, Value updates, StringRef reduction,
                  int64_t batchDims = 0);
  LogicalResult importTile();
  LogicalResult importEinsum();
  /// Contracts `operands` (their letters in `terms`) into `output`'s letters.
  Value einsum(ArrayRef<Value> operands, ArrayRef<std::string> terms, StringRef output);
  /// One op of a decomposition; null where an operand is null (an earlier
  /// step failed and said why) or this op fails.
  Value compose(StringRef opName, ArrayRef<Value> operands,
                ArrayRef<NamedAttribute> attrs = {});
  LogicalResult importSplit();
  LogicalResult importSlice();
  LogicalResult importSqueeze(bool unsqueeze);
  LogicalResult importDropout();
  LogicalResult importGelu();
  LogicalResult importConstantOfShape();
  LogicalResult importFlatten();
  LogicalResult importSequenceOp(StringRef op);
  /// The tensors of the sequence named by input `index`, or null.
  const SmallVector<Value> *sequenceInput(unsigned index) const;
  LogicalResult defineSequence(unsigned outputIndex, SmallVector<Value> values);
  FailureOr<Value> dimProduct(Value data, int64_t begin, int64_t end);

  MLIRContext &context;
  OpBuilder builder;
  std::string path;
  const OnnxImportOptions &options;
  onnx::ModelProto model;
  int64_t opset = 0;
  std::map<std::pair<std::string, std::string>, const onnx::FunctionProto *>
      localFunctions;

  ModuleOp module;
  func::FuncOp mainFunc;
  /// Values by ONNX name, in the scope being imported (functions nest).
  SmallVector<llvm::StringMap<Value>, 2> scopes;
  /// Weight initializers by name, loaded on first use.
  llvm::StringMap<const onnx::TensorProto *> initializers;
  llvm::StringMap<Value> loadedWeights;
  /// ONNX sequences, as the tensors they hold, by scope depth and name. They
  /// exist only while importing: every use must resolve to a known element.
  std::map<std::pair<size_t, std::string>, SmallVector<Value>> sequences;
  std::map<std::string, int64_t> boundDims;
  /// The token input's sequence length before bindPaddedSequence padded it.
  std::optional<int64_t> unpaddedSequenceLength;
  NodeContext current;
  /// Attribute values of the function call being inlined, by name.
  SmallVector<llvm::StringMap<const onnx::AttributeProto *>, 1> callAttributes;
  /// Training-mode Dropout nodes imported so far: the next one's
  /// graph.dropout `site`, in node order, so each draws its own mask.
  int64_t dropoutSites = 0;
  /// The last error a diagnostic reported while building an op.
  std::string lastDiagnostic;
  std::string errorMessage;
};

} // namespace

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

LogicalResult OnnxImporter::failGlobal(const Twine &message) {
  if (errorMessage.empty())
    errorMessage = (path + ": " + message).str();
  return failure();
}

LogicalResult OnnxImporter::fail(const Twine &message) {
  if (!current.node)
    return failGlobal(message);
  const onnx::NodeProto &node = *current.node;
  std::string opType = node.op_type();
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    opType = node.domain() + "." + opType;
  std::string name = node.name().empty() ? "(unnamed)" : node.name();
  return failGlobal("node '" + name + "' (" + opType + ", opset " +
                    Twine(current.opset) + "): " + message);
}

Location OnnxImporter::nodeLocation() const {
  Location file = FileLineColLoc::get(&context, path, 0, 0);
  if (!current.node)
    return file;
  StringRef name = current.node->name().empty() ? StringRef(current.node->op_type())
                                                 : StringRef(current.node->name());
  return NameLoc::get(StringAttr::get(&context, name), file);
}

//===----------------------------------------------------------------------===//
// Reading the model
//===----------------------------------------------------------------------===//

LogicalResult OnnxImporter::readModel() {
  if (llvm::sys::fs::is_directory(path))
    return failGlobal("is a directory, not an ONNX model");
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return failGlobal(Twine("cannot open: ") + std::strerror(errno));
  off_t size = ::lseek(fd, 0, SEEK_END);
  ::lseek(fd, 0, SEEK_SET);
  if (size == 0) {
    ::close(fd);
    return failGlobal("file is empty, not an ONNX model");
  }
  bool parsed;
  {
    google::protobuf::io::FileInputStream fileStream(fd);
    google::protobuf::io::CodedInputStream coded(&fileStream);
    coded.SetTotalBytesLimit(INT_MAX);
    parsed = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
  }
  ::close(fd);
  if (!parsed)
    return failGlobal("not a valid ONNX model (protobuf parse failed; the file "
                      "may be truncated or of another format)");
  // Random bytes can parse as a protobuf message; a model has a graph.
  if (!model.has_graph() || model.ir_version() <= 0 ||
      model.graph().output_size() == 0)
    return failGlobal("not a valid ONNX model (no ir_version or graph outputs)");
  for (const onnx::OperatorSetIdProto &entry : model.opset_import())
    if (entry.domain().empty() || entry.domain() == "ai.onnx")
      opset = entry.version();
  if (opset == 0)
    return failGlobal("the model imports no opset of the default ONNX domain");
  // Each node is checked against the definition its opset selects; an opset
  // newer than sp knows could redefine any op.
  if (opset < 1 || opset > kNewestOnnxOpset)
    return failGlobal("opset " + Twine(opset) + " is not supported (sp knows ONNX "
                      "opsets 1 to " + Twine(kNewestOnnxOpset) + ")");
  for (const onnx::FunctionProto &function : model.functions())
    localFunctions[{function.domain(), function.name()}] = &function;
  return success();
}

FailureOr<Type> OnnxImporter::convertElementType(int32_t onnxType, StringRef what) {
  MLIRContext *ctx = &context;
  switch (onnxType) {
  case onnx::TensorProto::FLOAT: return Type(Float32Type::get(ctx));
  case onnx::TensorProto::DOUBLE: return Type(Float64Type::get(ctx));
  case onnx::TensorProto::FLOAT16: return Type(Float16Type::get(ctx));
  case onnx::TensorProto::BFLOAT16: return Type(BFloat16Type::get(ctx));
  case onnx::TensorProto::INT64: return Type(IntegerType::get(ctx, 64));
  case onnx::TensorProto::INT32: return Type(IntegerType::get(ctx, 32));
  case onnx::TensorProto::INT16: return Type(IntegerType::get(ctx, 16));
  case onnx::TensorProto::INT8: return Type(IntegerType::get(ctx, 8));
  case onnx::TensorProto::UINT8:
    return Type(IntegerType::get(ctx, 8, IntegerType::Unsigned));
  case onnx::TensorProto::BOOL: return Type(IntegerType::get(ctx, 1));
  default:
    return fail(what + " has unsupported element type " +
                (onnx::TensorProto::DataType_IsValid(onnxType)
                     ? onnx::TensorProto::DataType_Name(
                           onnx::TensorProto::DataType(onnxType))
                     : std::string("unknown")) +
                " (" + Twine(onnxType) + ")");
  }
}

FailureOr<RankedTensorType>
OnnxImporter::convertValueType(const onnx::ValueInfoProto &info) {
  if (!info.type().has_tensor_type())
    return failGlobal("graph input '" + info.name() + "' is not a tensor");
  const onnx::TypeProto::Tensor &tensor = info.type().tensor_type();
  FailureOr<Type> elementType =
      convertElementType(tensor.elem_type(), "graph input '" + info.name() + "'");
  if (failed(elementType))
    return failure();
  if (!tensor.has_shape())
    return failGlobal("graph input '" + info.name() +
                      "' has no shape (its rank must be known)");
  SmallVector<int64_t> shape;
  for (const onnx::TensorShapeProto::Dimension &dim : tensor.shape().dim()) {
    if (dim.has_dim_value() && dim.dim_value() >= 0)
      shape.push_back(dim.dim_value());
    else if (dim.has_dim_param() && boundDims.count(dim.dim_param()))
      shape.push_back(boundDims.at(dim.dim_param()));
    else
      shape.push_back(ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, *elementType);
}

/// Tensors past this many elements cannot be real: the product of such dims
/// also risks overflowing the byte counts computed from it.
constexpr int64_t kMaxElements = int64_t(1) << 48;

/// Whether a static shape has at most kMaxElements elements.
static bool fitsInMemory(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (ShapedType::isDynamic(dim))
      continue;
    if (dim != 0 && count > kMaxElements / dim)
      return false;
    count *= dim;
  }
  return true;
}

/// Size in bytes of one element as ONNX stores it in raw_data.
static int64_t storageBytes(Type elementType) {
  if (elementType.isInteger(1))
    return 1;
  return (elementType.getIntOrFloatBitWidth() + 7) / 8;
}

FailureOr<std::vector<char>>
OnnxImporter::readTensorBytes(const onnx::TensorProto &tensor,
                              RankedTensorType type) {
  const std::string &name = tensor.name();
  int64_t expected = type.getNumElements() * storageBytes(type.getElementType());
  std::vector<char> bytes;
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    std::vector<std::pair<std::string, std::string>> entries;
    for (const onnx::StringStringEntryProto &entry : tensor.external_data())
      entries.emplace_back(entry.key(), entry.value());
    sp::runtime::ExternalDataRef ref;
    if (std::string error = sp::runtime::parseExternalData(entries, ref); !error.empty())
      return fail("initializer '" + name + "': " + error);
    if (ref.length < 0)
      ref.length = expected;
    if (ref.length != expected)
      return fail("initializer '" + name + "' declares " + Twine(ref.length) +
                  " bytes of external data but its type " +
                  Twine(type.getNumElements()) + " elements need " +
                  Twine(expected));
    std::string data;
    if (std::string error = sp::runtime::readExternalData(
            llvm::sys::path::parent_path(path).str(), ref, data);
        !error.empty())
      return fail("initializer '" + name + "': " + error);
    bytes.assign(data.begin(), data.end());
    return bytes;
  }
  if (tensor.has_raw_data()) {
    const std::string &raw = tensor.raw_data();
    if (int64_t(raw.size()) != expected)
      return fail("tensor '" + name + "' holds " + Twine(raw.size()) +
                  " bytes but its shape and type need " + Twine(expected));
    bytes.assign(raw.begin(), raw.end());
    return bytes;
  }
  // Typed fields, unpacked to the storage layout of raw_data.
  int64_t count = type.getNumElements();
  bytes.resize(expected);
  auto mismatch = [&](int64_t have) {
    return fail("tensor '" + name + "' holds " + Twine(have) +
                " values but its shape needs " + Twine(count));
  };
  Type elementType = type.getElementType();
  int64_t width = storageBytes(elementType);
  switch (tensor.data_type()) {
  case onnx::TensorProto::FLOAT:
    if (tensor.float_data_size() != count)
      return mismatch(tensor.float_data_size());
    std::memcpy(bytes.data(), tensor.float_data().data(), expected);
    return bytes;
  case onnx::TensorProto::DOUBLE:
    if (tensor.double_data_size() != count)
      return mismatch(tensor.double_data_size());
    std::memcpy(bytes.data(), tensor.double_data().data(), expected);
    return bytes;
  case onnx::TensorProto::INT64:
    if (tensor.int64_data_size() != count)
      return mismatch(tensor.int64_data_size());
    std::memcpy(bytes.data(), tensor.int64_data().data(), expected);
    return bytes;
  default:
    // int32_data carries the narrower types, one value per entry.
    if (tensor.int32_data_size() != count)
      return mismatch(tensor.int32_data_size());
    for (int64_t i = 0; i < count; ++i) {
      int32_t value = tensor.int32_data(i);
      std::memcpy(bytes.data() + i * width, &value, width);
    }
    return bytes;
  }
}

FailureOr<ElementsAttr> OnnxImporter::convertTensor(const onnx::TensorProto &tensor,
                                                    bool asResource) {
  FailureOr<Type> elementType =
      convertElementType(tensor.data_type(), "tensor '" + tensor.name() + "'");
  if (failed(elementType))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0)
      return fail("tensor '" + tensor.name() + "' has negative dim " + Twine(dim));
    shape.push_back(dim);
  }
  if (!fitsInMemory(shape))
    return fail("tensor '" + tensor.name() + "' of shape " + formatShape(shape) +
                " is too large");
  auto type = RankedTensorType::get(shape, *elementType);
  FailureOr<std::vector<char>> bytes = readTensorBytes(tensor, type);
  if (failed(bytes))
    return failure();
  if (asResource) {
    AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
        ArrayRef<char>(*bytes), alignof(double));
    return ElementsAttr(DenseResourceElementsAttr::get(type, tensor.name(),
                                                       std::move(blob)));
  }
  if (elementType->isInteger(1)) {
    SmallVector<bool> values(bytes->begin(), bytes->end());
    return ElementsAttr(DenseElementsAttr::get(type, ArrayRef<bool>(values)));
  }
  bool detectedSplat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, *bytes, detectedSplat))
    return fail("tensor '" + tensor.name() + "' has a malformed buffer");
  return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, *bytes));
}

//===----------------------------------------------------------------------===//
// Building ops
//===----------------------------------------------------------------------===//

LogicalResult OnnxImporter::finishOp(Operation *op, SmallVector<Value> &results) {
  if (failed(mlir::verify(op))) {
    op->erase();
    return fail(lastDiagnostic.empty() ? "operation failed to verify"
                                       : lastDiagnostic);
  }
  // Fold now, so that later nodes see constants and infer static shapes.
  SmallVector<OpFoldResult> folded;
  if (succeeded(op->fold(folded)) && !folded.empty()) {
    for (auto [result, foldResult] : llvm::zip(op->getResults(), folded)) {
      if (auto value = llvm::dyn_cast<Value>(foldResult)) {
        results.push_back(value);
        continue;
      }
      Operation *constant = op->getDialect()->materializeConstant(
          builder, llvm::cast<Attribute>(foldResult), result.getType(),
          op->getLoc());
      if (!constant) {
        results.assign(op->result_begin(), op->result_end());
        return success();
      }
      results.push_back(constant->getResult(0));
    }
    op->erase();
    return success();
  }
  results.assign(op->result_begin(), op->result_end());
  return success();
}

FailureOr<SmallVector<Value>>
OnnxImporter::createInferred(StringRef opName, ValueRange operands,
                             ArrayRef<NamedAttribute> attrs, unsigned numResults) {
  OperationState state(nodeLocation(), opName);
  state.addOperands(operands);
  state.addAttributes(attrs);
  // Placeholder result types, replaced by the inferred ones below: the
  // generated builders would abort on a shape mismatch instead of reporting it.
  state.addTypes(SmallVector<Type>(numResults, NoneType::get(&context)));
  Operation *op = builder.create(state);
  auto inference = llvm::cast<InferTypeOpInterface>(op);
  SmallVector<Type> types;
  lastDiagnostic.clear();
  if (failed(inference.inferReturnTypes(&context, op->getLoc(), op->getOperands(),
                                        op->getRawDictionaryAttrs(),
                                        op->getPropertiesStorage(),
                                        op->getRegions(), types))) {
    op->erase();
    return fail(lastDiagnostic.empty() ? "cannot infer the result type"
                                       : lastDiagnostic);
  }
  if (types.size() != numResults) {
    op->erase();
    return fail("produces " + Twine(types.size()) + " results, not " +
                Twine(numResults));
  }
  for (auto [result, type] : llvm::zip(op->getResults(), types)) {
    auto shaped = llvm::cast<RankedTensorType>(type);
    if (!fitsInMemory(shaped.getShape())) {
      op->erase();
      return fail("result of shape " + formatShape(shaped.getShape()) +
                  " is too large");
    }
    result.setType(type);
  }
  SmallVector<Value> results;
  if (failed(finishOp(op, results)))
    return failure();
  return results;
}

FailureOr<Value> OnnxImporter::createOne(StringRef opName, ValueRange operands,
                                         ArrayRef<NamedAttribute> attrs) {
  FailureOr<SmallVector<Value>> results = createInferred(opName, operands, attrs);
  if (failed(results))
    return failure();
  return results->front();
}

FailureOr<Value> OnnxImporter::createWithType(StringRef opName, Type type,
                                              ValueRange operands,
                                              ArrayRef<NamedAttribute> attrs) {
  OperationState state(nodeLocation(), opName);
  state.addOperands(operands);
  state.addAttributes(attrs);
  state.addTypes(type);
  lastDiagnostic.clear();
  Operation *op = builder.create(state);
  SmallVector<Value> results;
  if (failed(finishOp(op, results)))
    return failure();
  return results.front();
}

Value OnnxImporter::constantI64(ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get({int64_t(values.size())},
                                    IntegerType::get(&context, 64));
  return ConstantOp::create(builder, nodeLocation(), type,
                            DenseElementsAttr::get(type, values));
}

Value OnnxImporter::constantScalarLike(Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  Attribute element = llvm::isa<FloatType>(elementType)
                          ? Attribute(FloatAttr::get(elementType, value))
                          : Attribute(IntegerAttr::get(elementType, int64_t(value)));
  return ConstantOp::create(builder, nodeLocation(), type,
                            DenseElementsAttr::get(type, element));
}

//===----------------------------------------------------------------------===//
// Node helpers
//===----------------------------------------------------------------------===//

Value OnnxImporter::input(unsigned index) {
  if (index >= unsigned(current.node->input_size()))
    return {};
  const std::string &name = current.node->input(index);
  if (name.empty())
    return {};
  for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope) {
    auto found = scope->find(name);
    if (found != scope->end())
      return found->second;
    // Inside an inlined function, names resolve in the function only.
    if (scopes.size() > 1)
      break;
  }
  auto weight = loadedWeights.find(name);
  if (weight != loadedWeights.end())
    return weight->second;
  auto initializer = initializers.find(name);
  if (initializer == initializers.end() || scopes.size() > 1)
    return {};
  // Weights are loaded at the top of @main, where every use can see them.
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(&mainFunc.getBody().front());
  auto global = module.lookupSymbol<ml_program::GlobalOp>(name);
  Value loaded = ml_program::GlobalLoadConstOp::create(
      builder, FileLineColLoc::get(&context, path, 0, 0), global.getType(),
      SymbolRefAttr::get(global));
  loadedWeights[name] = loaded;
  return loaded;
}

LogicalResult OnnxImporter::define(unsigned outputIndex, Value value) {
  if (outputIndex >= unsigned(current.node->output_size()))
    return success();
  const std::string &name = current.node->output(outputIndex);
  if (name.empty())
    return success();
  scopes.back()[name] = value;
  return success();
}

bool OnnxImporter::outputUsed(unsigned index) const {
  return index < unsigned(current.node->output_size()) &&
         !current.node->output(index).empty();
}

const onnx::AttributeProto *OnnxImporter::attribute(StringRef name) const {
  for (const onnx::AttributeProto &attr : current.node->attribute()) {
    if (attr.name() != name)
      continue;
    // Inside a function body an attribute may refer to the caller's.
    if (!attr.ref_attr_name().empty()) {
      if (callAttributes.empty())
        return nullptr;
      auto found = callAttributes.back().find(attr.ref_attr_name());
      return found == callAttributes.back().end() ? nullptr : found->second;
    }
    return &attr;
  }
  return nullptr;
}

int64_t OnnxImporter::intAttr(StringRef name, int64_t defaultValue) const {
  const onnx::AttributeProto *attr = attribute(name);
  return attr ? attr->i() : defaultValue;
}

double OnnxImporter::floatAttr(StringRef name, double defaultValue) const {
  const onnx::AttributeProto *attr = attribute(name);
  return attr ? attr->f() : defaultValue;
}

std::string OnnxImporter::stringAttr(StringRef name, StringRef defaultValue) const {
  const onnx::AttributeProto *attr = attribute(name);
  return attr ? attr->s() : defaultValue.str();
}

std::optional<SmallVector<int64_t>> OnnxImporter::intsAttr(StringRef name) const {
  const onnx::AttributeProto *attr = attribute(name);
  if (!attr)
    return std::nullopt;
  return SmallVector<int64_t>(attr->ints().begin(), attr->ints().end());
}

FailureOr<SmallVector<int64_t>>
OnnxImporter::requireConstantInts(unsigned inputIndex, StringRef what) {
  std::optional<SmallVector<int64_t>> values =
      getConstantIntValues(input(inputIndex));
  if (!values)
    return fail("input '" + what + "' must be a compile-time constant");
  return *values;
}

FailureOr<SmallVector<int64_t>>
OnnxImporter::normalizeAxes(ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> normalized;
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank)
      return fail("axis " + Twine(axis) + " is out of range for rank " + Twine(rank));
    normalized.push_back(axis < 0 ? axis + rank : axis);
  }
  llvm::sort(normalized);
  if (std::adjacent_find(normalized.begin(), normalized.end()) != normalized.end())
    return fail("axes repeat a dim");
  return normalized;
}

LogicalResult OnnxImporter::requireInputs(unsigned minimum, unsigned maximum) {
  unsigned given = numInputs();
  if (given < minimum || given > maximum)
    return fail("expects " +
                (minimum == maximum ? Twine(minimum)
                                    : Twine(minimum) + " to " + Twine(maximum)) +
                " inputs, got " + Twine(given));
  for (unsigned i = 0; i < minimum; ++i)
    if (!input(i))
      return fail("required input " + Twine(i) + " ('" +
                  (i < given ? current.node->input(i) : std::string()) +
                  "') is missing or not defined");
  for (unsigned i = minimum; i < given; ++i)
    if (!current.node->input(i).empty() && !input(i))
      return fail("input '" + current.node->input(i) +
                  "' is not defined by any node, graph input or initializer");
  return success();
}

//===----------------------------------------------------------------------===//
// The graph
//===----------------------------------------------------------------------===//

LogicalResult OnnxImporter::bindInputShapes() {
  const onnx::GraphProto &graph = model.graph();
  llvm::StringSet<> inputNames;
  for (const onnx::ValueInfoProto &info : graph.input())
    if (!initializers.count(info.name()))
      inputNames.insert(info.name());
  for (const auto &[name, shape] : options.inputShapes) {
    if (!inputNames.contains(name)) {
      std::string known;
      for (const auto &entry : inputNames)
        known += (known.empty() ? "" : ", ") + entry.getKey().str();
      return failGlobal("--input-shape names '" + name +
                        "', which is not a graph input (inputs: " + known + ")");
    }
    for (const onnx::ValueInfoProto &info : graph.input()) {
      if (info.name() != name)
        continue;
      const auto &dims = info.type().tensor_type().shape().dim();
      if (dims.size() != int(shape.size()))
        return failGlobal("--input-shape gives '" + name + "' rank " +
                          Twine(shape.size()) + " but the model declares rank " +
                          Twine(dims.size()));
      for (int i = 0; i < dims.size(); ++i) {
        if (dims[i].has_dim_value() && dims[i].dim_value() > 0 &&
            dims[i].dim_value() != shape[i])
          return failGlobal("--input-shape gives '" + name + "' dim " + Twine(i) +
                            " = " + Twine(shape[i]) + " but the model fixes it to " +
                            Twine(dims[i].dim_value()));
        if (dims[i].has_dim_param()) {
          auto [it, inserted] = boundDims.emplace(dims[i].dim_param(), shape[i]);
          if (!inserted && it->second != shape[i])
            return failGlobal("--input-shape binds dim '" + dims[i].dim_param() +
                              "' to both " + Twine(it->second) + " and " +
                              Twine(shape[i]));
        }
      }
    }
  }
  if (options.microBatches != 1 && failed(bindMicroBatch()))
    return failure();
  return options.sequenceMultiple == 1 ? success() : bindPaddedSequence();
}

LogicalResult OnnxImporter::bindPaddedSequence() {
  if (options.sequenceMultiple < 1)
    return failGlobal("the sequence multiple " + Twine(options.sequenceMultiple) +
                      " must be at least 1");
  // The token input: the [batch, sequence] integer input named input_ids,
  // else the only one (as sp-insert-loss and sp-sequence-parallel pick it).
  SmallVector<const onnx::ValueInfoProto *> candidates;
  const onnx::ValueInfoProto *token = nullptr;
  for (const onnx::ValueInfoProto &info : model.graph().input()) {
    if (initializers.count(info.name()))
      continue;
    const onnx::TypeProto::Tensor &tensor = info.type().tensor_type();
    bool integer = tensor.elem_type() == onnx::TensorProto::INT64 ||
                   tensor.elem_type() == onnx::TensorProto::INT32;
    if (!integer || tensor.shape().dim_size() != 2)
      continue;
    candidates.push_back(&info);
    if (info.name() == kPreferredTokenInputName)
      token = &info;
  }
  if (!token && candidates.size() == 1)
    token = candidates.front();
  // Without a token input there is no sequence to pad: sp-sequence-parallel
  // says so.
  if (!token)
    return success();
  const onnx::TensorShapeProto::Dimension &dim = token->type().tensor_type().shape().dim(1);
  if (!dim.has_dim_param())
    return success(); // fixed by the export: sp-sequence-parallel checks it
  auto bound = boundDims.find(dim.dim_param());
  if (bound == boundDims.end())
    return success(); // still symbolic: sp-sequence-parallel asks for --input-shape
  int64_t length = bound->second, multiple = options.sequenceMultiple;
  if (length < 1 || length % multiple == 0)
    return success();
  unpaddedSequenceLength = length;
  bound->second = (length + multiple - 1) / multiple * multiple;
  return success();
}

LogicalResult OnnxImporter::bindMicroBatch() {
  std::string flag = "--micro-batches " + std::to_string(options.microBatches);
  if (options.microBatches < 1)
    return failGlobal(flag + ": the count must be at least 1");
  // Each batch dim once, however many inputs share its name.
  llvm::StringSet<> divided;
  for (const onnx::ValueInfoProto &info : model.graph().input()) {
    if (initializers.count(info.name()))
      continue;
    const std::string &name = info.name();
    const auto &dims = info.type().tensor_type().shape().dim();
    if (dims.empty())
      return failGlobal(flag + ": input '" + name +
                        "' is a scalar; micro-batches slice every input along its batch "
                        "dim (dim 0)");
    const onnx::TensorShapeProto::Dimension &batch = dims[0];
    if (batch.has_dim_value() && batch.dim_value() > 0)
      return failGlobal(flag + ": the model fixes input '" + name + "' dim 0 (the batch) to " +
                        Twine(batch.dim_value()) +
                        "; micro-batches need it symbolic (export with a dynamic batch)");
    auto bound = batch.has_dim_param() ? boundDims.find(batch.dim_param()) : boundDims.end();
    if (bound == boundDims.end())
      return failGlobal(flag + ": input '" + name +
                        "' has no batch size; give it with --input-shape");
    if (divided.contains(batch.dim_param()))
      continue;
    if (bound->second % options.microBatches != 0)
      return failGlobal(flag + " does not divide input '" + name + "' dim 0 (the batch '" +
                        batch.dim_param() + "') of " + Twine(bound->second));
    bound->second /= options.microBatches;
    divided.insert(batch.dim_param());
  }
  return success();
}

LogicalResult OnnxImporter::importGraph() {
  const onnx::GraphProto &graph = model.graph();
  for (const onnx::TensorProto &tensor : graph.initializer()) {
    if (tensor.name().empty())
      return failGlobal("an initializer has no name");
    initializers[tensor.name()] = &tensor;
  }
  if (failed(bindInputShapes()))
    return failure();

  module = ModuleOp::create(FileLineColLoc::get(&context, path, 0, 0));
  builder.setInsertionPointToEnd(module.getBody());
  scopes.emplace_back();

  // Float initializers of rank >= 1 are the named weights; the rest (shape
  // vectors, scalars, index tables) are constants that the folder can use.
  llvm::StringMap<const onnx::TensorProto *> weights;
  for (const onnx::TensorProto &tensor : graph.initializer()) {
    bool isFloat = tensor.data_type() == onnx::TensorProto::FLOAT ||
                   tensor.data_type() == onnx::TensorProto::DOUBLE ||
                   tensor.data_type() == onnx::TensorProto::FLOAT16 ||
                   tensor.data_type() == onnx::TensorProto::BFLOAT16;
    FailureOr<ElementsAttr> value =
        convertTensor(tensor, /*asResource=*/isFloat && tensor.dims_size() >= 1);
    if (failed(value))
      return failure();
    if (isFloat && tensor.dims_size() >= 1) {
      ml_program::GlobalOp::create(
          builder, FileLineColLoc::get(&context, path, 0, 0), tensor.name(),
          value->getType(), /*is_mutable=*/false, *value,
          builder.getStringAttr("private"));
      weights[tensor.name()] = &tensor;
    }
    // The other initializers become constants in @main once it exists.
  }

  SmallVector<Type> argTypes;
  SmallVector<const onnx::ValueInfoProto *> argInfos;
  for (const onnx::ValueInfoProto &info : graph.input()) {
    if (initializers.count(info.name()))
      continue;
    FailureOr<RankedTensorType> type = convertValueType(info);
    if (failed(type))
      return failure();
    argTypes.push_back(*type);
    argInfos.push_back(&info);
  }
  mainFunc = func::FuncOp::create(builder, FileLineColLoc::get(&context, path, 0, 0),
                                  "main", builder.getFunctionType(argTypes, {}));
  if (unpaddedSequenceLength)
    module->setAttr(sp::graph::kUnpaddedSequenceLengthAttr,
                    builder.getI64IntegerAttr(*unpaddedSequenceLength));
  Block *entry = mainFunc.addEntryBlock();
  builder.setInsertionPointToEnd(entry);
  for (auto [i, info] : llvm::enumerate(argInfos)) {
    scopes.back()[info->name()] = entry->getArgument(i);
    mainFunc.setArgAttr(i, kOnnxNameAttr, builder.getStringAttr(info->name()));
    SmallVector<Attribute> dimNames;
    bool anyNamed = false;
    for (const auto &dim : info->type().tensor_type().shape().dim()) {
      dimNames.push_back(builder.getStringAttr(dim.dim_param()));
      anyNamed |= !dim.dim_param().empty();
    }
    if (anyNamed)
      mainFunc.setArgAttr(i, kDimNamesAttr, builder.getArrayAttr(dimNames));
  }
  for (const onnx::TensorProto &tensor : graph.initializer()) {
    if (weights.count(tensor.name()))
      continue;
    FailureOr<ElementsAttr> value = convertTensor(tensor, false);
    if (failed(value))
      return failure();
    scopes.back()[tensor.name()] = ConstantOp::create(
        builder, FileLineColLoc::get(&context, path, 0, 0),
        llvm::cast<RankedTensorType>(value->getType()), *value);
  }
  // Remaining initializers are weights, loaded lazily by `input`.
  initializers = std::move(weights);

  for (const onnx::NodeProto &node : graph.node())
    if (failed(importNode(node)))
      return failure();
  current = {};

  SmallVector<Value> results;
  for (const onnx::ValueInfoProto &output : graph.output()) {
    Value value = scopes.back().lookup(output.name());
    if (!value)
      value = loadedWeights.lookup(output.name());
    if (!value && initializers.count(output.name())) {
      // A weight returned as-is: load it like any other use.
      onnx::NodeProto identity;
      identity.add_input(output.name());
      current = {&identity, opset};
      value = input(0);
      current = {};
    }
    if (!value)
      return failGlobal("graph output '" + output.name() +
                        "' is not produced by any node");
    results.push_back(value);
  }
  func::ReturnOp::create(builder, FileLineColLoc::get(&context, path, 0, 0), results);
  mainFunc.setFunctionType(builder.getFunctionType(
      argTypes, ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    mainFunc.setResultAttr(i, kOnnxNameAttr, builder.getStringAttr(output.name()));
  return success();
}

LogicalResult OnnxImporter::importNode(const onnx::NodeProto &node) {
  int64_t nodeOpset = opset;
  bool defaultDomain = node.domain().empty() || node.domain() == "ai.onnx";
  if (!defaultDomain) {
    nodeOpset = 0;
    for (const onnx::OperatorSetIdProto &entry : model.opset_import())
      if (entry.domain() == node.domain())
        nodeOpset = entry.version();
  }
  current = {&node, nodeOpset};
  auto function = localFunctions.find({node.domain(), node.op_type()});
  if (function != localFunctions.end())
    return importFunctionCall(node, *function->second);
  if (!defaultDomain)
    return fail("operator domain '" + node.domain() + "' is not supported");
  // Every input must already be defined: ONNX nodes are topologically sorted.
  for (const std::string &name : node.input()) {
    if (name.empty())
      continue;
    bool known = initializers.count(name) || loadedWeights.count(name) ||
                 sequences.count({scopes.size(), name});
    for (auto &scope : scopes)
      known |= scope.count(name) > 0;
    if (!known)
      return fail("input '" + name +
                  "' is not defined by any earlier node, graph input or initializer");
  }
  // SSA form: a value name is defined once. A later definition would
  // silently replace the earlier one.
  for (const std::string &name : node.output()) {
    if (name.empty())
      continue;
    if (scopes.back().count(name) || (scopes.size() == 1 && initializers.count(name)))
      return fail("output '" + name + "' is already defined by an earlier node, "
                  "graph input or initializer");
  }
  if (failed(checkDefinition(node)) || failed(checkComputeElementTypes(node)))
    return failure();
  return dispatch(node);
}

/// The first definition (by the opset that introduced it) of each operator the
/// importer implements; it implements every later one up to kNewestOnnxOpset
/// (those only widen the element types or add attributes it reads). Earlier
/// definitions differ in meaning (Softmax before 13 flattens to 2-D, Gemm
/// before 7 and the binary ops before 7 broadcast by attribute) or in form.
static std::optional<int64_t> firstImplementedVersion(StringRef opType) {
  static const llvm::StringMap<int64_t> versions = {
      // Numpy-style broadcasting.
      {"Add", 7}, {"Sub", 7}, {"Mul", 7}, {"Div", 7}, {"Pow", 7}, {"Equal", 7},
      {"Less", 7}, {"Greater", 7}, {"And", 7}, {"Or", 7}, {"Xor", 7},
      {"LessOrEqual", 12}, {"GreaterOrEqual", 12}, {"Gemm", 7},
      // Without the legacy `consumed_inputs` attribute.
      {"Max", 6}, {"Min", 6}, {"Sum", 6}, {"Neg", 6}, {"Abs", 6}, {"Sqrt", 6},
      {"Reciprocal", 6}, {"Exp", 6}, {"Log", 6}, {"Tanh", 6}, {"Sigmoid", 6},
      {"Relu", 6}, {"Floor", 6}, {"Ceil", 6},
      // `to` as an element type number, not a string.
      {"Cast", 6},
      // Shapes and axes as inputs, not attributes.
      {"Reshape", 5}, {"Slice", 10},
      // With an explicit axis.
      {"Concat", 4},
      // Dropout with `training_mode` as an input.
      {"Dropout", 12},
      // Axes and split sizes as attributes before 13 and as inputs since.
      {"ReduceSum", 1}, {"ReduceMean", 1}, {"ReduceMax", 1}, {"Squeeze", 1},
      {"Unsqueeze", 1}, {"Split", 2},
      // Every definition.
      {"Not", 1}, {"Erf", 9}, {"Cos", 7}, {"Sin", 7}, {"IsNaN", 9}, {"IsInf", 10},
      {"Mod", 10}, {"Flatten", 1}, {"Identity", 1}, {"Constant", 1},
      {"CastLike", 15}, {"Where", 9}, {"MatMul", 1}, {"Softmax", 1},
      {"LayerNormalization", 17}, {"Gelu", 20}, {"CumSum", 11}, {"Range", 11},
      {"Shape", 1}, {"ConstantOfShape", 9}, {"Expand", 8}, {"Transpose", 1},
      {"Gather", 1}, {"GatherND", 11}, {"Trilu", 14}, {"SplitToSequence", 11},
      {"SequenceAt", 11}, {"SequenceConstruct", 11}, {"SequenceEmpty", 11},
      {"SequenceLength", 11}, {"ConcatFromSequence", 11},
      // Composed of the ops above.
      {"ReduceMin", 1}, {"ReduceSumSquare", 1}, {"ReduceL1", 1}, {"ReduceL2", 1},
      {"ReduceLogSum", 1}, {"ReduceLogSumExp", 1}, {"Mean", 6}, {"LeakyRelu", 6},
      {"PRelu", 7}, {"Elu", 6}, {"Selu", 6}, {"Celu", 12}, {"ThresholdedRelu", 10},
      {"HardSigmoid", 6}, {"HardSwish", 14}, {"Softplus", 1}, {"Softsign", 1},
      {"Mish", 18}, {"Swish", 24}, {"Tan", 7}, {"Size", 1}, {"LogSoftmax", 1},
      {"NegativeLogLikelihoodLoss", 12}, {"SoftmaxCrossEntropyLoss", 12},
      {"GatherElements", 11}, {"ScatterElements", 11}, {"ScatterND", 11}, {"Einsum", 12},
      // Repeats as an input.
      {"Tile", 6},
      // min and max as inputs.
      {"Clip", 11}};
  auto found = versions.find(opType);
  if (found == versions.end())
    return std::nullopt;
  return found->second;
}

LogicalResult OnnxImporter::checkDefinition(const onnx::NodeProto &node) {
  StringRef opType = node.op_type();
  std::optional<int64_t> implementedSince = firstImplementedVersion(opType);
  if (!implementedSince)
    return fail("operator is not supported");
  std::optional<OnnxOpDefinition> definition =
      lookupOnnxOpDefinition(opType, current.opset);
  if (!definition) {
    std::optional<int64_t> first = firstOnnxOpset(opType);
    return fail("ONNX defines " + opType + " only from opset " +
                Twine(first.value_or(*implementedSince)) + " on");
  }
  std::string defined = (opType + "-" + Twine(definition->sinceVersion)).str();
  if (definition->sinceVersion < *implementedSince)
    return fail("opset " + Twine(current.opset) + " defines " + opType + " as " +
                defined + ", which is not supported; sp implements " + opType + "-" +
                Twine(*implementedSince) + " and later (opset " +
                Twine(*implementedSince) + " or newer)");
  current.sinceVersion = definition->sinceVersion;
  for (const onnx::AttributeProto &given : node.attribute()) {
    auto spec = definition->attributes.find(given.name());
    if (spec == definition->attributes.end())
      return fail("attribute '" + given.name() + "' is not defined for " + defined);
    // Inside a function, a reference to an attribute the call does not give
    // leaves the default.
    const onnx::AttributeProto *value = attribute(given.name());
    if (value && value->type() != spec->second.type)
      return fail("attribute '" + given.name() + "' is " +
                  onnxAttributeTypeName(value->type()) + " but " + defined +
                  " defines it as " + onnxAttributeTypeName(spec->second.type));
  }
  for (const auto &[name, spec] : definition->attributes)
    if (spec.required && !attribute(name))
      return fail("required attribute '" + name + "' of " + defined + " is missing");
  return success();
}

LogicalResult OnnxImporter::importFunctionCall(const onnx::NodeProto &node,
                                               const onnx::FunctionProto &function) {
  if (scopes.size() > 16)
    return fail("local functions nest deeper than 16 levels (recursion?)");
  // The function body sees its formal inputs bound to the call's values.
  llvm::StringMap<Value> scope;
  for (int i = 0; i < function.input_size(); ++i) {
    Value value = i < node.input_size() ? input(i) : Value();
    if (value)
      scope[function.input(i)] = value;
    else if (const SmallVector<Value> *sequence = sequenceInput(i))
      sequences[{scopes.size() + 1, function.input(i)}] = *sequence;
  }
  llvm::StringMap<const onnx::AttributeProto *> attributes;
  for (const onnx::AttributeProto &attr : node.attribute())
    attributes[attr.name()] = &attr;
  scopes.push_back(std::move(scope));
  callAttributes.push_back(std::move(attributes));
  for (const onnx::NodeProto &inner : function.node()) {
    if (failed(importNode(inner)))
      return failure();
  }
  llvm::StringMap<Value> inner = std::move(scopes.back());
  std::map<std::pair<size_t, std::string>, SmallVector<Value>> innerSequences;
  for (auto it = sequences.begin(); it != sequences.end();) {
    if (it->first.first == scopes.size()) {
      innerSequences.insert(*it);
      it = sequences.erase(it);
    } else {
      ++it;
    }
  }
  scopes.pop_back();
  callAttributes.pop_back();
  current = {&node, opset};
  for (int i = 0; i < node.output_size() && i < function.output_size(); ++i) {
    Value value = inner.lookup(function.output(i));
    auto innerSequence = innerSequences.find({scopes.size() + 1, function.output(i)});
    if (!value && innerSequence != innerSequences.end()) {
      (void)defineSequence(i, innerSequence->second);
      continue;
    }
    if (!value && !node.output(i).empty())
      return fail("local function '" + function.name() + "' does not produce '" +
                  function.output(i) + "'");
    if (value)
      (void)define(i, value);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Op families
//===----------------------------------------------------------------------===//

/// Operators whose CPU kernels move elements without reading them as numbers,
/// and so take every element type a plan holds.
static bool movesElementsOnly(StringRef opType) {
  static const llvm::StringSet<> ops = {
      "Identity", "Dropout", "Constant", "Reshape", "Flatten", "Squeeze", "Unsqueeze",
      "Expand", "Transpose", "Slice", "Split", "Concat", "Trilu", "Gather", "GatherND",
      "Shape", "Size", "SplitToSequence", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
      "SequenceLength", "ConcatFromSequence"};
  return ops.contains(opType);
}

// The CPU kernels that compute on elements take f32, f64, i32, i64 and i1,
// and bf16 only for the ops --precision=bf16 (sp-precision, a pass on an f32
// model) leaves in bf16; a half-precision model planned for them would be
// accepted by sp-compile and refused by sp-run, so it is refused now. The
// runtime's per-device kernel
// registry is where this should come from once the compiler can read it.
LogicalResult OnnxImporter::checkComputeElementTypes(const onnx::NodeProto &node) {
  if (!options.forCpuPlan || movesElementsOnly(node.op_type()))
    return success();
  auto unsupported = [&](const Twine &what, StringRef type) {
    return fail(what + " is " + type + "; sp's CPU kernels compute " + node.op_type() +
                " in f32, f64, i32, i64 and i1 only (bf16 through --precision=bf16 on an "
                "f32 model)");
  };
  for (unsigned i = 0; i < numInputs(); ++i) {
    Value value = input(i);
    if (!value)
      continue;
    Type elementType = llvm::cast<RankedTensorType>(value.getType()).getElementType();
    if (llvm::isa<Float16Type, BFloat16Type>(elementType))
      return unsupported("input '" + node.input(i) + "'",
                         llvm::isa<Float16Type>(elementType) ? "f16" : "bf16");
  }
  int64_t produced = onnx::TensorProto::UNDEFINED;
  if (node.op_type() == "Cast")
    produced = intAttr("to", produced);
  else if (const onnx::AttributeProto *value = attribute("value");
           value && node.op_type() == "ConstantOfShape")
    produced = value->t().data_type();
  if (produced == onnx::TensorProto::FLOAT16 || produced == onnx::TensorProto::BFLOAT16)
    return unsupported("the result",
                       produced == onnx::TensorProto::FLOAT16 ? "f16" : "bf16");
  return success();
}

LogicalResult OnnxImporter::importBinary(StringRef opName) {
  if (failed(requireInputs(2, 2)))
    return failure();
  FailureOr<Value> result = createOne(opName, {input(0), input(1)});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importVariadic(StringRef opName) {
  if (numInputs() < 1)
    return fail("expects at least one input");
  if (failed(requireInputs(numInputs(), numInputs())))
    return failure();
  Value accumulated = input(0);
  for (unsigned i = 1; i < numInputs(); ++i) {
    FailureOr<Value> next = createOne(opName, {accumulated, input(i)});
    if (failed(next))
      return failure();
    accumulated = *next;
  }
  return define(0, accumulated);
}

LogicalResult OnnxImporter::importUnary(StringRef opName) {
  if (failed(requireInputs(1, 1)))
    return failure();
  FailureOr<Value> result = createOne(opName, {input(0)});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importConstant() {
  const onnx::NodeProto &node = *current.node;
  if (node.attribute_size() != 1)
    return fail("expects exactly one value attribute");
  const onnx::AttributeProto &attr = node.attribute(0);
  MLIRContext *ctx = &context;
  Attribute value;
  StringRef name = attr.name();
  if (name == "value") {
    FailureOr<ElementsAttr> tensor = convertTensor(attr.t(), false);
    if (failed(tensor))
      return failure();
    value = *tensor;
  } else if (name == "value_float") {
    auto type = RankedTensorType::get({}, Float32Type::get(ctx));
    value = DenseElementsAttr::get(type, attr.f());
  } else if (name == "value_floats") {
    auto type = RankedTensorType::get({attr.floats_size()}, Float32Type::get(ctx));
    value = DenseElementsAttr::get(
        type, ArrayRef<float>(attr.floats().data(), attr.floats_size()));
  } else if (name == "value_int") {
    auto type = RankedTensorType::get({}, IntegerType::get(ctx, 64));
    value = DenseElementsAttr::get(type, int64_t(attr.i()));
  } else if (name == "value_ints") {
    auto type = RankedTensorType::get({attr.ints_size()}, IntegerType::get(ctx, 64));
    value = DenseElementsAttr::get(
        type, ArrayRef<int64_t>(attr.ints().data(), attr.ints_size()));
  } else {
    return fail("constant attribute '" + name.str() + "' is not supported");
  }
  auto elements = llvm::cast<ElementsAttr>(value);
  Value result = ConstantOp::create(
      builder, nodeLocation(), llvm::cast<RankedTensorType>(elements.getType()),
      elements);
  return define(0, result);
}

LogicalResult OnnxImporter::importCast() {
  if (failed(requireInputs(1, 2)))
    return failure();
  Type elementType;
  if (current.node->op_type() == "CastLike") {
    if (!input(1))
      return fail("expects 2 inputs");
    elementType = llvm::cast<RankedTensorType>(input(1).getType()).getElementType();
  } else {
    FailureOr<Type> converted =
        convertElementType(intAttr("to", 0), "attribute 'to'");
    if (failed(converted))
      return failure();
    elementType = *converted;
  }
  auto inputType = llvm::cast<RankedTensorType>(input(0).getType());
  FailureOr<Value> result = createWithType(
      CastOp::getOperationName(), inputType.clone(elementType), {input(0)});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importGemm() {
  if (failed(requireInputs(2, 3)))
    return failure();
  SmallVector<Value> operands = {input(0), input(1)};
  if (Value c = input(2))
    operands.push_back(c);
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr("alpha", builder.getF64FloatAttr(floatAttr("alpha", 1.0))),
      builder.getNamedAttr("beta", builder.getF64FloatAttr(floatAttr("beta", 1.0))),
      builder.getNamedAttr("transpose_a", builder.getBoolAttr(intAttr("transA", 0))),
      builder.getNamedAttr("transpose_b", builder.getBoolAttr(intAttr("transB", 0)))};
  FailureOr<Value> result = createOne(GemmOp::getOperationName(), operands, attrs);
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importLayerNorm() {
  if (failed(requireInputs(2, 3)))
    return failure();
  Value data = input(0);
  int64_t axis = intAttr("axis", -1);
  double epsilon = floatAttr("epsilon", 1e-5);
  SmallVector<Value> operands = {data, input(1)};
  if (Value bias = input(2))
    operands.push_back(bias);
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis)),
      builder.getNamedAttr("epsilon", builder.getF64FloatAttr(epsilon))};
  FailureOr<Value> result =
      createOne(LayerNormOp::getOperationName(), operands, attrs);
  if (failed(result) || failed(define(0, *result)))
    return failure();
  if (!outputUsed(1) && !outputUsed(2))
    return success();
  int64_t rank = rankOf(data);
  if (axis < 0)
    axis += rank; // the layer_norm op has checked the range
  // Mean and InvStdDev: the statistics over dims [axis, rank), kept as dims
  // of size 1, in the stash type. They are recomputed from graph ops, which
  // autodiff and the runtime already know, rather than exposed by the kernel.
  if (intAttr("stash_type", 1) != onnx::TensorProto::FLOAT)
    return fail("stash_type " + Twine(intAttr("stash_type", 1)) +
                " is not supported for outputs Mean and InvStdDev (only 1, float)");
  Type f32 = builder.getF32Type();
  Value x = data;
  auto dataType = llvm::cast<RankedTensorType>(data.getType());
  if (dataType.getElementType() != f32) {
    FailureOr<Value> cast = createWithType(CastOp::getOperationName(),
                                           dataType.clone(f32), {data});
    if (failed(cast))
      return failure();
    x = *cast;
  }
  SmallVector<int64_t> axes;
  for (int64_t dim = axis; dim < rank; ++dim)
    axes.push_back(dim);
  SmallVector<NamedAttribute> reduceAttrs = {
      builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(axes)),
      builder.getNamedAttr("keep_dims", builder.getBoolAttr(true))};
  FailureOr<Value> mean = createOne(ReduceMeanOp::getOperationName(), {x}, reduceAttrs);
  if (failed(mean))
    return failure();
  FailureOr<Value> centered = createOne(SubOp::getOperationName(), {x, *mean});
  if (failed(centered))
    return failure();
  FailureOr<Value> squared =
      createOne(MulOp::getOperationName(), {*centered, *centered});
  if (failed(squared))
    return failure();
  FailureOr<Value> variance =
      createOne(ReduceMeanOp::getOperationName(), {*squared}, reduceAttrs);
  if (failed(variance))
    return failure();
  FailureOr<Value> shifted = createOne(AddOp::getOperationName(),
                                       {*variance, constantScalarLike(f32, epsilon)});
  if (failed(shifted))
    return failure();
  FailureOr<Value> deviation = createOne(SqrtOp::getOperationName(), {*shifted});
  if (failed(deviation))
    return failure();
  FailureOr<Value> inverse = createOne(ReciprocalOp::getOperationName(), {*deviation});
  if (failed(inverse))
    return failure();
  (void)define(1, *mean);
  return define(2, *inverse);
}

/// The normalized axes of a Reduce* node (empty: all of them), or none where
/// it reduces nothing (noop_with_empty_axes without axes).
FailureOr<std::optional<SmallVector<int64_t>>>
OnnxImporter::reduceAxes(bool axesAsInput) {
  if (failed(requireInputs(1, axesAsInput ? 2 : 1)))
    return failure();
  SmallVector<int64_t> axes;
  if (axesAsInput) {
    if (input(1)) {
      FailureOr<SmallVector<int64_t>> values = requireConstantInts(1, "axes");
      if (failed(values))
        return failure();
      axes = *values;
    }
  } else if (std::optional<SmallVector<int64_t>> values = intsAttr("axes")) {
    axes = *values;
  }
  if (axes.empty() && intAttr("noop_with_empty_axes", 0))
    return std::optional<SmallVector<int64_t>>();
  FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(axes, rankOf(input(0)));
  if (failed(normalized))
    return failure();
  return std::optional<SmallVector<int64_t>>(*normalized);
}

LogicalResult OnnxImporter::importReduce(StringRef opName, bool axesAsInput) {
  FailureOr<std::optional<SmallVector<int64_t>>> axes = reduceAxes(axesAsInput);
  if (failed(axes))
    return failure();
  if (!*axes)
    return define(0, input(0));
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(**axes)),
      builder.getNamedAttr("keep_dims", builder.getBoolAttr(intAttr("keepdims", 1)))};
  FailureOr<Value> result = createOne(opName, {input(0)}, attrs);
  return failed(result) ? failure() : define(0, *result);
}

Value OnnxImporter::compose(StringRef opName, ArrayRef<Value> operands,
                            ArrayRef<NamedAttribute> attrs) {
  if (llvm::any_of(operands, [](Value operand) { return !operand; }))
    return {};
  FailureOr<Value> result = createOne(opName, operands, attrs);
  return succeeded(result) ? *result : Value();
}

// The reductions and activations below are spelled in the graph ops that
// autodiff, the folder and the runtime already know.

LogicalResult OnnxImporter::importComposedReduce(StringRef opType) {
  FailureOr<std::optional<SmallVector<int64_t>>> axes =
      reduceAxes(/*axesAsInput=*/current.sinceVersion >= 18);
  if (failed(axes))
    return failure();
  // ONNX's reference applies the element-wise part even then (ReduceSumSquare
  // squares); the specification says the input is returned as it is.
  if (!*axes)
    return fail("noop_with_empty_axes without axes is not supported for " + opType);
  bool keepDims = intAttr("keepdims", 1);
  auto reduce = [&](StringRef opName, Value value, bool keep) {
    return compose(opName, {value},
                   {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(**axes)),
                    builder.getNamedAttr("keep_dims", builder.getBoolAttr(keep))});
  };
  Value x = input(0), result;
  if (opType == "ReduceMin") {
    result = compose(NegOp::getOperationName(),
                     {reduce(ReduceMaxOp::getOperationName(),
                             compose(NegOp::getOperationName(), {x}), keepDims)});
  } else if (opType == "ReduceSumSquare") {
    result = reduce(ReduceSumOp::getOperationName(),
                    compose(MulOp::getOperationName(), {x, x}), keepDims);
  } else if (opType == "ReduceL1") {
    result = reduce(ReduceSumOp::getOperationName(),
                    compose(AbsOp::getOperationName(), {x}), keepDims);
  } else if (opType == "ReduceL2") {
    result = compose(SqrtOp::getOperationName(),
                     {reduce(ReduceSumOp::getOperationName(),
                             compose(MulOp::getOperationName(), {x, x}), keepDims)});
  } else if (opType == "ReduceLogSum") {
    result = compose(LogOp::getOperationName(),
                     {reduce(ReduceSumOp::getOperationName(), x, keepDims)});
  } else if (opType == "ReduceLogSumExp") {
    // max + log(sum(exp(x - max))): exp(x) alone overflows for large x.
    Value peak = reduce(ReduceMaxOp::getOperationName(), x, /*keep=*/true);
    Value sum = reduce(ReduceSumOp::getOperationName(),
                       compose(ExpOp::getOperationName(),
                               {compose(SubOp::getOperationName(), {x, peak})}),
                       keepDims);
    result = compose(AddOp::getOperationName(),
                     {compose(LogOp::getOperationName(), {sum}),
                      reduce(ReduceMaxOp::getOperationName(), x, keepDims)});
  }
  return result ? define(0, result) : failure();
}

LogicalResult OnnxImporter::importActivation(StringRef opType) {
  if (failed(requireInputs(opType == "PRelu" ? 2 : 1, opType == "PRelu" ? 2 : 1)))
    return failure();
  Value x = input(0);
  Type elementType = llvm::cast<RankedTensorType>(x.getType()).getElementType();
  if (!llvm::isa<FloatType>(elementType))
    return fail(opType + " needs a floating-point input");
  auto scalar = [&](double value) { return constantScalarLike(elementType, value); };
  auto op = [&](StringRef opName, ArrayRef<Value> operands) {
    return compose(opName, operands);
  };
  StringRef add = AddOp::getOperationName(), sub = SubOp::getOperationName(),
            mul = MulOp::getOperationName(), div = DivOp::getOperationName(),
            exp = ExpOp::getOperationName(), less = LessOp::getOperationName(),
            where = WhereOp::getOperationName(), max = MaxOp::getOperationName(),
            min = MinOp::getOperationName();
  auto hardSigmoid = [&](double alpha, double beta) {
    return op(max, {op(min, {op(add, {op(mul, {x, scalar(alpha)}), scalar(beta)}),
                             scalar(1)}),
                    scalar(0)});
  };
  auto softplus = [&] {
    return op(LogOp::getOperationName(), {op(add, {op(exp, {x}), scalar(1)})});
  };
  Value result;
  if (opType == "LeakyRelu") {
    result = op(where, {op(less, {x, scalar(0)}),
                        op(mul, {x, scalar(floatAttr("alpha", 0.01))}), x});
  } else if (opType == "PRelu") {
    result = op(where, {op(less, {x, scalar(0)}), op(mul, {x, input(1)}), x});
  } else if (opType == "Elu") {
    double alpha = floatAttr("alpha", 1.0);
    result = op(where, {op(less, {x, scalar(0)}),
                        op(mul, {op(sub, {op(exp, {x}), scalar(1)}), scalar(alpha)}), x});
  } else if (opType == "Selu") {
    double alpha = floatAttr("alpha", 1.67326319217681884765625);
    double gamma = floatAttr("gamma", 1.05070102214813232421875);
    Value negative = op(sub, {op(mul, {op(exp, {x}), scalar(alpha)}), scalar(alpha)});
    result = op(mul, {op(where, {op(LessEqualOp::getOperationName(), {x, scalar(0)}),
                                 negative, x}),
                      scalar(gamma)});
  } else if (opType == "Celu") {
    double alpha = floatAttr("alpha", 1.0);
    Value negative = op(mul, {op(sub, {op(exp, {op(div, {x, scalar(alpha)})}), scalar(1)}),
                              scalar(alpha)});
    result = op(add, {op(max, {x, scalar(0)}), op(min, {negative, scalar(0)})});
  } else if (opType == "ThresholdedRelu") {
    result = op(where, {op(GreaterOp::getOperationName(),
                           {x, scalar(floatAttr("alpha", 1.0))}),
                        x, scalar(0)});
  } else if (opType == "HardSigmoid") {
    result = hardSigmoid(floatAttr("alpha", 0.2), floatAttr("beta", 0.5));
  } else if (opType == "HardSwish") {
    result = op(mul, {x, hardSigmoid(1.0 / 6.0, 0.5)});
  } else if (opType == "Softplus") {
    result = softplus();
  } else if (opType == "Softsign") {
    result = op(div, {x, op(add, {op(AbsOp::getOperationName(), {x}), scalar(1)})});
  } else if (opType == "Mish") {
    result = op(mul, {x, op(TanhOp::getOperationName(), {softplus()})});
  } else if (opType == "Swish") {
    result = op(mul, {x, op(SigmoidOp::getOperationName(),
                            {op(mul, {x, scalar(floatAttr("alpha", 1.0))})})});
  } else if (opType == "Tan") {
    result = op(div, {op(SinOp::getOperationName(), {x}), op(CosOp::getOperationName(), {x})});
  }
  return result ? define(0, result) : failure();
}

LogicalResult OnnxImporter::importClip() {
  if (failed(requireInputs(1, 3)))
    return failure();
  // Min then max, so that min > max gives max everywhere, as ONNX says.
  Value result = input(0);
  if (Value low = input(1))
    result = compose(MaxOp::getOperationName(), {result, low});
  if (Value high = input(2))
    result = compose(MinOp::getOperationName(), {result, high});
  return result ? define(0, result) : failure();
}

LogicalResult OnnxImporter::importSize() {
  if (failed(requireInputs(1, 1)))
    return failure();
  // The product of the dims (a constant once they are static), as a scalar.
  FailureOr<Value> count = dimProduct(input(0), 0, rankOf(input(0)));
  if (failed(count))
    return failure();
  Value result = compose(ReshapeOp::getOperationName(), {*count, constantI64({})});
  return result ? define(0, result) : failure();
}

LogicalResult OnnxImporter::importSoftmax(bool logarithm) {
  if (failed(requireInputs(1, 1)))
    return failure();
  Value x = input(0);
  int64_t rank = rankOf(x);
  bool coerced = current.sinceVersion < 13;
  FailureOr<SmallVector<int64_t>> axes =
      normalizeAxes({intAttr("axis", coerced ? 1 : -1)}, rank);
  if (failed(axes))
    return failure();
  int64_t axis = axes->front();
  auto normalize = [&](Value value, int64_t along) {
    return logarithm ? logSoftmax(value, along)
                     : compose(SoftmaxOp::getOperationName(), {value},
                               {builder.getNamedAttr("axis", builder.getI64IntegerAttr(
                                                                 coerced ? along : intAttr("axis", -1)))});
  };
  // Before 13 the rows are the dims from `axis` on, flattened: the same as
  // the last dim alone only when `axis` is the last.
  if (!coerced || axis == rank - 1) {
    Value result = normalize(x, axis);
    return result ? define(0, result) : failure();
  }
  FailureOr<Value> outer = dimProduct(x, 0, axis);
  FailureOr<Value> inner = dimProduct(x, axis, rank);
  if (failed(outer) || failed(inner))
    return failure();
  Value rows = compose(ReshapeOp::getOperationName(),
                       {x, compose(ConcatOp::getOperationName(), {*outer, *inner},
                                   {builder.getNamedAttr("axis", builder.getI64IntegerAttr(0))})},
                       {builder.getNamedAttr("allow_zero", builder.getBoolAttr(true))});
  Value shape = compose(ShapeOp::getOperationName(), {x});
  Value result = compose(ReshapeOp::getOperationName(), {normalize(rows, 1), shape},
                         {builder.getNamedAttr("allow_zero", builder.getBoolAttr(true))});
  return result ? define(0, result) : failure();
}

Value OnnxImporter::logSoftmax(Value x, int64_t axis) {
  // (x - max) - log(sum(exp(x - max))): log(softmax(x)) would give -inf where
  // softmax underflows.
  auto reduce = [&](StringRef opName, Value value) {
    return compose(opName, {value},
                   {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({axis})),
                    builder.getNamedAttr("keep_dims", builder.getBoolAttr(true))});
  };
  Value shifted = compose(SubOp::getOperationName(),
                          {x, reduce(ReduceMaxOp::getOperationName(), x)});
  Value sum = reduce(ReduceSumOp::getOperationName(),
                     compose(ExpOp::getOperationName(), {shifted}));
  return compose(SubOp::getOperationName(),
                 {shifted, compose(LogOp::getOperationName(), {sum})});
}

LogicalResult OnnxImporter::importMean() {
  if (numInputs() < 1)
    return fail("expects at least one input");
  if (failed(requireInputs(numInputs(), numInputs())))
    return failure();
  Value sum = input(0);
  for (unsigned i = 1; i < numInputs(); ++i)
    sum = compose(AddOp::getOperationName(), {sum, input(i)});
  if (!sum)
    return failure();
  Type elementType = llvm::cast<RankedTensorType>(sum.getType()).getElementType();
  Value result = compose(DivOp::getOperationName(),
                         {sum, constantScalarLike(elementType, double(numInputs()))});
  return result ? define(0, result) : failure();
}

//===----------------------------------------------------------------------===//
// Losses, element indexing, tiling and einsum, spelled in graph ops
//===----------------------------------------------------------------------===//

// ONNX's losses are written in ops that autodiff, the folder, the runtime and
// the sequence-parallel rules already know: the picked log-probability is a
// reduce_sum over the class dim of a where() that keeps the target's class,
// so the sum over sharded tokens is a partial sum like any other, and the
// mean divides two such sums after they are all-reduced.

LogicalResult OnnxImporter::importLoss(StringRef opType) {
  bool softmax = opType == "SoftmaxCrossEntropyLoss";
  if (failed(requireInputs(2, 3)))
    return failure();
  std::string reduction = stringAttr("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return fail("reduction '" + reduction + "' is not one of none, sum, mean");
  std::optional<int64_t> ignoreIndex;
  if (attribute("ignore_index"))
    ignoreIndex = intAttr("ignore_index", 0);
  Value scores = input(0), target = input(1), weight = input(2);
  auto scoresType = llvm::cast<RankedTensorType>(scores.getType());
  auto targetType = llvm::cast<RankedTensorType>(target.getType());
  if (!llvm::isa<FloatType>(scoresType.getElementType()))
    return fail("input '" + current.node->input(0) + "' must be floating-point");
  if (!targetType.getElementType().isInteger(32) && !targetType.getElementType().isInteger(64))
    return fail("target '" + current.node->input(1) + "' must be i32 or i64");
  int64_t rank = scoresType.getRank();
  if (rank < 2)
    return fail("input '" + current.node->input(0) + "' must have rank >= 2 ([N, C, d1, ...]), got " +
                formatShape(scoresType.getShape()));
  SmallVector<int64_t> expected = {scoresType.getDimSize(0)};
  llvm::append_range(expected, scoresType.getShape().drop_front(2));
  bool targetFits = targetType.getRank() == rank - 1;
  for (int64_t d = 0; targetFits && d < rank - 1; ++d)
    targetFits = ShapedType::isDynamic(expected[d]) ||
                 ShapedType::isDynamic(targetType.getDimSize(d)) ||
                 expected[d] == targetType.getDimSize(d);
  if (!targetFits)
    return fail("target of shape " + formatShape(targetType.getShape()) +
                " does not match input of shape " + formatShape(scoresType.getShape()) +
                " (expected [N, d1, ...] = " + formatShape(expected) + ")");
  if (ShapedType::isDynamic(scoresType.getDimSize(1)))
    return fail("the class dim (1) of input '" + current.node->input(0) +
                "' must be static, got " + formatShape(scoresType.getShape()));
  if (weight) {
    auto weightType = llvm::cast<RankedTensorType>(weight.getType());
    if (weightType.getRank() != 1 || weightType.getDimSize(0) != scoresType.getDimSize(1) ||
        weightType.getElementType() != scoresType.getElementType())
      return fail("weight of shape " + formatShape(weightType.getShape()) +
                  " must be 1-D over the " + Twine(scoresType.getDimSize(1)) +
                  " classes, of the input's element type");
  }
  if (!softmax) {
    Value loss = negativeLogLikelihood(scores, target, weight, reduction, ignoreIndex);
    return loss ? define(0, loss) : failure();
  }
  if (!weight && reduction != "none" && !outputUsed(1)) {
    Value loss = fusedCrossEntropy(scores, target, reduction, ignoreIndex);
    return loss ? define(0, loss) : failure();
  }
  Value logProb = logSoftmax(scores, 1);
  Value loss = negativeLogLikelihood(logProb, target, weight, reduction, ignoreIndex);
  if (!loss || failed(define(0, loss)))
    return failure();
  return define(1, logProb);
}

Value OnnxImporter::negativeLogLikelihood(Value logProb, Value target, Value weight,
                                          StringRef reduction,
                                          std::optional<int64_t> ignoreIndex) {
  auto type = llvm::cast<RankedTensorType>(logProb.getType());
  int64_t rank = type.getRank(), classes = type.getDimSize(1);
  Type floatType = type.getElementType();
  Type indexType = llvm::cast<RankedTensorType>(target.getType()).getElementType();
  auto reduceSum = [&](Value value, ArrayRef<int64_t> axes) {
    return compose(ReduceSumOp::getOperationName(), {value},
                   {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(axes)),
                    builder.getNamedAttr("keep_dims", builder.getBoolAttr(false))});
  };
  // hit[n, c, d...] = target[n, d...] == c, and not ignored.
  SmallVector<int64_t> classShape(rank, 1);
  classShape[1] = classes;
  auto classType = RankedTensorType::get(classShape, indexType);
  SmallVector<APInt> ids;
  for (int64_t c = 0; c < classes; ++c)
    ids.push_back(APInt(indexType.getIntOrFloatBitWidth(), uint64_t(c), /*isSigned=*/true));
  Value classIds = ConstantOp::create(builder, nodeLocation(), classType,
                                      DenseElementsAttr::get(classType, ids));
  Value column = compose(UnsqueezeOp::getOperationName(), {target},
                         {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({1}))});
  Value hit = compose(EqualOp::getOperationName(), {column, classIds});
  if (ignoreIndex)
    hit = compose(AndOp::getOperationName(),
                  {hit, compose(NotOp::getOperationName(),
                                {compose(EqualOp::getOperationName(),
                                         {column, constantScalarLike(indexType,
                                                                     double(*ignoreIndex))})})});
  Value zero = constantScalarLike(floatType, 0.0);
  // Where, not a product with a one-hot mask: -inf log-probabilities of the
  // other classes must not turn the loss into NaN.
  Value picked = reduceSum(compose(WhereOp::getOperationName(), {hit, logProb, zero}), {1});
  Value positionWeight;
  if (weight) {
    Value weights = compose(ReshapeOp::getOperationName(), {weight, constantI64(classShape)});
    positionWeight =
        reduceSum(compose(WhereOp::getOperationName(), {hit, weights, zero}), {1});
    picked = compose(MulOp::getOperationName(), {picked, positionWeight});
  }
  Value loss = compose(NegOp::getOperationName(), {picked});
  if (reduction == "none")
    return loss;
  Value total = reduceSum(loss, {});
  if (reduction == "sum")
    return total;
  // The mean divides by the weight of the positions counted (their number
  // without weights); ignored positions count for nothing.
  Value counted = positionWeight;
  if (!counted) {
    if (!hit)
      return {};
    FailureOr<Value> asFloat = createWithType(
        CastOp::getOperationName(),
        llvm::cast<RankedTensorType>(hit.getType()).clone(floatType), {hit});
    if (failed(asFloat))
      return {};
    counted = *asFloat;
  }
  return compose(DivOp::getOperationName(), {total, reduceSum(counted, {})});
}

Value OnnxImporter::fusedCrossEntropy(Value scores, Value labels, StringRef reduction,
                                      std::optional<int64_t> ignoreIndex) {
  auto type = llvm::cast<RankedTensorType>(scores.getType());
  int64_t rank = type.getRank();
  Type floatType = type.getElementType();
  // Classes last, as cross_entropy_sum reads them.
  if (rank > 2) {
    SmallVector<int64_t> perm = {0};
    for (int64_t d = 2; d < rank; ++d)
      perm.push_back(d);
    perm.push_back(1);
    scores = compose(TransposeOp::getOperationName(), {scores},
                     {builder.getNamedAttr("perm", builder.getDenseI64ArrayAttr(perm))});
  }
  // Without ignore_index no label is ignored: INT64_MIN is never a class, and
  // the kernel refuses labels out of range.
  int64_t ignored = ignoreIndex.value_or(std::numeric_limits<int64_t>::min());
  Value sum = compose(CrossEntropySumOp::getOperationName(), {scores, labels},
                      {builder.getNamedAttr("ignore_index", builder.getI64IntegerAttr(ignored))});
  if (reduction == "sum" || !sum)
    return sum;
  auto labelsType = llvm::cast<RankedTensorType>(labels.getType());
  auto reduceAll = [&](Value value) {
    return compose(ReduceSumOp::getOperationName(), {value},
                   {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({})),
                    builder.getNamedAttr("keep_dims", builder.getBoolAttr(false))});
  };
  Value counted;
  if (ignoreIndex) {
    Value ignoredHere = compose(
        EqualOp::getOperationName(),
        {labels, constantScalarLike(labelsType.getElementType(), double(*ignoreIndex))});
    Value kept = compose(NotOp::getOperationName(), {ignoredHere});
    if (!kept)
      return {};
    FailureOr<Value> asFloat = createWithType(
        CastOp::getOperationName(), labelsType.clone(floatType), {kept});
    if (failed(asFloat))
      return {};
    counted = reduceAll(*asFloat);
  } else {
    // Every position counts: their number, as a float scalar.
    FailureOr<Value> count = dimProduct(labels, 0, labelsType.getRank());
    if (failed(count))
      return {};
    FailureOr<Value> asFloat = createWithType(
        CastOp::getOperationName(), RankedTensorType::get({1}, floatType), {*count});
    if (failed(asFloat))
      return {};
    counted = compose(ReshapeOp::getOperationName(), {*asFloat, constantI64({})});
  }
  return compose(DivOp::getOperationName(), {sum, counted});
}

Value OnnxImporter::elementCoordinates(Value data, Value indices, int64_t axis) {
  auto indicesType = llvm::cast<RankedTensorType>(indices.getType());
  int64_t rank = indicesType.getRank();
  if (rank != rankOf(data)) {
    (void)fail("indices of rank " + Twine(rank) + " must have the data's rank " +
               Twine(rankOf(data)));
    return {};
  }
  auto i64Type = IntegerType::get(&context, 64);
  Value index = indices;
  if (!indicesType.getElementType().isInteger(64)) {
    FailureOr<Value> widened =
        createWithType(CastOp::getOperationName(), indicesType.clone(i64Type), {indices});
    if (failed(widened))
      return {};
    index = *widened;
  }
  // Coordinate d of element (i0, ..., i(r-1)) is i_d, except along `axis`,
  // where it is the index; gather_nd wraps negative ones and checks ranges.
  // With static shapes the positions fold into constants.
  Value shape = compose(ShapeOp::getOperationName(), {index});
  auto scalar = [&](int64_t value) { return constantScalarLike(i64Type, double(value)); };
  SmallVector<Value> columns;
  for (int64_t d = 0; d < rank; ++d) {
    Value column = index;
    if (d != axis) {
      FailureOr<Value> size = dimProduct(index, d, d + 1);
      if (failed(size))
        return {};
      Value positions = compose(
          RangeOp::getOperationName(),
          {scalar(0), compose(ReshapeOp::getOperationName(), {*size, constantI64({})}),
           scalar(1)});
      SmallVector<int64_t> along(rank, 1);
      along[d] = -1;
      column = compose(ExpandOp::getOperationName(),
                       {compose(ReshapeOp::getOperationName(), {positions, constantI64(along)}),
                        shape});
    }
    columns.push_back(compose(UnsqueezeOp::getOperationName(), {column},
                              {builder.getNamedAttr("axes",
                                                    builder.getDenseI64ArrayAttr({rank}))}));
  }
  return compose(ConcatOp::getOperationName(), columns,
                 {builder.getNamedAttr("axis", builder.getI64IntegerAttr(rank))});
}

bool OnnxImporter::spansOtherDims(Value data, Value indices, int64_t axis) const {
  ArrayRef<int64_t> dataShape = llvm::cast<RankedTensorType>(data.getType()).getShape();
  ArrayRef<int64_t> indexShape = llvm::cast<RankedTensorType>(indices.getType()).getShape();
  if (dataShape.size() != indexShape.size())
    return false;
  for (size_t d = 0; d < dataShape.size(); ++d)
    if (int64_t(d) != axis &&
        (ShapedType::isDynamic(dataShape[d]) || dataShape[d] != indexShape[d]))
      return false;
  return true;
}

Value OnnxImporter::moveAxisLast(Value value, int64_t axis, bool back) {
  if (!value || axis == rankOf(value) - 1)
    return value;
  int64_t rank = rankOf(value);
  SmallVector<int64_t> perm;
  for (int64_t d = 0; d < rank; ++d) {
    if (back)
      perm.push_back(d < axis ? d : d == axis ? rank - 1 : d - 1);
    else if (d != axis)
      perm.push_back(d);
  }
  if (!back)
    perm.push_back(axis);
  return compose(TransposeOp::getOperationName(), {value},
                 {builder.getNamedAttr("perm", builder.getDenseI64ArrayAttr(perm))});
}

Value OnnxImporter::indexTuples(Value indices) {
  auto type = llvm::cast<RankedTensorType>(indices.getType());
  if (!type.getElementType().isInteger(64)) {
    FailureOr<Value> widened = createWithType(
        CastOp::getOperationName(), type.clone(IntegerType::get(&context, 64)), {indices});
    if (failed(widened))
      return {};
    indices = *widened;
  }
  return compose(UnsqueezeOp::getOperationName(), {indices},
                 {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({type.getRank()}))});
}

LogicalResult OnnxImporter::importGatherElements() {
  if (failed(requireInputs(2, 2)))
    return failure();
  Value data = input(0), indices = input(1);
  int64_t rank = rankOf(data);
  FailureOr<SmallVector<int64_t>> axes = normalizeAxes({intAttr("axis", 0)}, rank);
  if (failed(axes))
    return failure();
  int64_t axis = axes->front();
  if (spansOtherDims(data, indices, axis)) {
    // The other dims are batch dims: each index picks from its own row.
    Value gathered = compose(
        GatherNDOp::getOperationName(),
        {moveAxisLast(data, axis), indexTuples(moveAxisLast(indices, axis))},
        {builder.getNamedAttr("batch_dims", builder.getI64IntegerAttr(rank - 1))});
    Value result = moveAxisLast(gathered, axis, /*back=*/true);
    return result ? define(0, result) : failure();
  }
  Value coordinates = elementCoordinates(data, indices, axis);
  if (!coordinates)
    return failure();
  FailureOr<Value> result = createOne(GatherNDOp::getOperationName(), {data, coordinates});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importScatter(StringRef opType) {
  if (failed(requireInputs(3, 3)))
    return failure();
  std::string reduction = stringAttr("reduction", "none");
  if (reduction != "none" && reduction != "add")
    return fail("reduction '" + reduction + "' is not supported (only none and add)");
  Value data = input(0), indices = input(1), updates = input(2);
  if (opType == "ScatterND") {
    if (!llvm::cast<RankedTensorType>(indices.getType()).getElementType().isInteger(64))
      return fail("indices must be i64");
    Value result = scatterND(data, indices, updates, reduction);
    return result ? define(0, result) : failure();
  }
  int64_t rank = rankOf(data);
  FailureOr<SmallVector<int64_t>> axes = normalizeAxes({intAttr("axis", 0)}, rank);
  if (failed(axes))
    return failure();
  int64_t axis = axes->front();
  if (llvm::cast<RankedTensorType>(indices.getType()).getShape() !=
      llvm::cast<RankedTensorType>(updates.getType()).getShape())
    return fail("indices and updates must have the same shape");
  if (spansOtherDims(data, indices, axis)) {
    Value scattered = scatterND(moveAxisLast(data, axis), indexTuples(moveAxisLast(indices, axis)),
                                moveAxisLast(updates, axis), reduction, rank - 1);
    Value result = moveAxisLast(scattered, axis, /*back=*/true);
    return result ? define(0, result) : failure();
  }
  Value coordinates = elementCoordinates(data, indices, axis);
  if (!coordinates)
    return failure();
  Value result = scatterND(data, coordinates, updates, reduction);
  return result ? define(0, result) : failure();
}

Value OnnxImporter::scatterND(Value data, Value indices, Value updates, StringRef reduction,
                               int64_t batchDims) {
  if (!data || !indices || !updates)
    return {};
  auto dataType = llvm::cast<RankedTensorType>(data.getType());
  auto updatesType = llvm::cast<RankedTensorType>(updates.getType());
  if (updatesType.getElementType() != dataType.getElementType()) {
    (void)fail("updates must have the data's element type");
    return {};
  }
  // updates: indices.shape[:-1] + data.shape[batch_dims + depth:], each index
  // a tuple of `depth` coordinates (the kernel checks dims unknown here).
  auto indicesType = llvm::cast<RankedTensorType>(indices.getType());
  int64_t depth = indicesType.getRank() ? indicesType.getShape().back() : 0;
  bool fits = indicesType.getRank() >= 1 && !ShapedType::isDynamic(depth) && depth >= 1 &&
              batchDims + depth <= dataType.getRank();
  SmallVector<int64_t> expected;
  if (fits) {
    llvm::append_range(expected, indicesType.getShape().drop_back());
    llvm::append_range(expected, dataType.getShape().drop_front(batchDims + depth));
    fits = expected.size() == size_t(updatesType.getRank());
  }
  for (size_t d = 0; fits && d < expected.size(); ++d)
    fits = expected[d] == updatesType.getDimSize(d) || ShapedType::isDynamic(expected[d]) ||
           updatesType.isDynamicDim(d);
  if (!fits) {
    (void)fail("updates of shape " + formatShape(updatesType.getShape()) +
               " do not fit indices of shape " + formatShape(indicesType.getShape()) +
               " into data of shape " + formatShape(dataType.getShape()));
    return {};
  }
  // The sum of the updates at each index (gather_nd's gradient, a scatter-add
  // into zeros), which also checks that updates fit the indices.
  NamedAttribute batch =
      builder.getNamedAttr("batch_dims", builder.getI64IntegerAttr(batchDims));
  FailureOr<Value> scattered =
      createWithType(GatherNDGradOp::getOperationName(), dataType, {updates, indices}, {batch});
  if (failed(scattered))
    return {};
  if (reduction == "add")
    return compose(AddOp::getOperationName(), {data, *scattered});
  // Replacing: where some update lands, its value (ONNX leaves duplicate
  // indices undefined; here they add up), elsewhere the data.
  auto i64Type = IntegerType::get(&context, 64);
  Value ones = compose(
      ConstantOfShapeOp::getOperationName(), {compose(ShapeOp::getOperationName(), {updates})},
      {builder.getNamedAttr("value", DenseElementsAttr::get(RankedTensorType::get({1}, i64Type),
                                                            int64_t(1)))});
  if (!ones)
    return {};
  FailureOr<Value> hits = createWithType(GatherNDGradOp::getOperationName(),
                                         dataType.clone(i64Type), {ones, indices}, {batch});
  if (failed(hits))
    return {};
  Value written = compose(GreaterOp::getOperationName(),
                          {*hits, constantScalarLike(i64Type, 0.0)});
  return compose(WhereOp::getOperationName(), {written, *scattered, data});
}

LogicalResult OnnxImporter::importTile() {
  if (failed(requireInputs(2, 2)))
    return failure();
  Value x = input(0);
  int64_t rank = rankOf(x);
  FailureOr<SmallVector<int64_t>> repeats = requireConstantInts(1, "repeats");
  if (failed(repeats))
    return failure();
  if (int64_t(repeats->size()) != rank)
    return fail("repeats holds " + Twine(repeats->size()) + " values for an input of rank " +
                Twine(rank));
  for (int64_t r : *repeats)
    if (r < 0)
      return fail("repeats must not be negative, got " + Twine(r));
  if (rank == 0)
    return define(0, x);
  // [d0, d1, ...] -> [1, d0, 1, d1, ...] -> [r0, d0, r1, d1, ...] ->
  // [r0 * d0, r1 * d1, ...]: copies of the whole tensor along each dim.
  SmallVector<int64_t> unitAxes, expanded, sizes;
  for (int64_t d = 0; d < rank; ++d) {
    unitAxes.push_back(2 * d);
    expanded.append({(*repeats)[d], 1});
  }
  Value spread = compose(
      ExpandOp::getOperationName(),
      {compose(UnsqueezeOp::getOperationName(), {x},
               {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(unitAxes))}),
       constantI64(expanded)});
  SmallVector<Value> dims;
  for (int64_t d = 0; d < rank; ++d) {
    FailureOr<Value> size = dimProduct(x, d, d + 1);
    if (failed(size))
      return failure();
    dims.push_back(compose(MulOp::getOperationName(), {*size, constantI64({(*repeats)[d]})}));
  }
  Value shape = compose(ConcatOp::getOperationName(), dims,
                        {builder.getNamedAttr("axis", builder.getI64IntegerAttr(0))});
  Value result = compose(ReshapeOp::getOperationName(), {spread, shape},
                         {builder.getNamedAttr("allow_zero", builder.getBoolAttr(true))});
  return result ? define(0, result) : failure();
}

LogicalResult OnnxImporter::importEinsum() {
  if (numInputs() < 1)
    return fail("expects at least one input");
  if (failed(requireInputs(numInputs(), numInputs())))
    return failure();
  std::string equation;
  for (char c : stringAttr("equation", ""))
    if (c != ' ')
      equation += c;
  auto [lhs, explicitOutput] = StringRef(equation).split("->");
  bool hasArrow = StringRef(equation).contains("->");
  SmallVector<StringRef> given;
  lhs.split(given, ',');
  if (given.size() != numInputs())
    return fail("equation '" + equation + "' names " + Twine(given.size()) +
                " operands but the node has " + Twine(numInputs()) + " inputs");
  // Ellipses become letters that the equation cannot hold ('0'...'9'),
  // aligned from the right as broadcasting aligns dims.
  int64_t ellipsisRank = 0;
  SmallVector<Value> operands;
  SmallVector<std::string> terms;
  for (auto [i, term] : llvm::enumerate(given)) {
    Value operand = input(i);
    operands.push_back(operand);
    int64_t rank = rankOf(operand);
    size_t dots = term.find("...");
    std::string letters = term.str();
    if (dots != StringRef::npos) {
      int64_t covered = rank - int64_t(term.size() - 3);
      if (covered < 0 || covered > 10)
        return fail("equation term '" + term + "' does not fit operand " + Twine(i) +
                    " of rank " + Twine(rank));
      ellipsisRank = std::max(ellipsisRank, covered);
      std::string spelled;
      for (int64_t d = 0; d < covered; ++d)
        spelled += char('0' + (10 - covered + d));
      letters = term.substr(0, dots).str() + spelled + term.substr(dots + 3).str();
    }
    for (char c : term.str())
      if (!llvm::isAlpha(c) && c != '.')
        return fail("equation '" + equation + "' holds '" + Twine(c) +
                    "', which is not a letter");
    if (int64_t(letters.size()) != rank)
      return fail("equation term '" + term + "' has " + Twine(letters.size()) +
                  " letters for operand " + Twine(i) + " of rank " + Twine(rank));
    terms.push_back(letters);
  }
  std::string ellipsisLetters;
  for (int64_t d = 0; d < ellipsisRank; ++d)
    ellipsisLetters += char('0' + (10 - ellipsisRank + d));
  std::string output;
  if (hasArrow) {
    output = explicitOutput.str();
    size_t dots = output.find("...");
    if (dots != std::string::npos)
      output = output.substr(0, dots) + ellipsisLetters + output.substr(dots + 3);
  } else {
    // Implicit output: the ellipsis dims, then the letters seen once, sorted.
    std::map<char, int> seen;
    for (const std::string &term : terms)
      for (char c : term)
        if (!llvm::isDigit(c))
          ++seen[c];
    output = ellipsisLetters;
    for (auto [c, times] : seen)
      if (times == 1)
        output += c;
  }
  for (char c : output) {
    if (llvm::count(output, c) > 1)
      return fail("equation '" + equation + "' repeats '" + Twine(c) + "' in its output");
    if (llvm::none_of(terms, [&](const std::string &t) { return t.find(c) != t.npos; }))
      return fail("equation '" + equation + "' has output letter '" + Twine(c) +
                  "' that no operand has");
  }
  Value result = einsum(operands, terms, output);
  return result ? define(0, result) : failure();
}

Value OnnxImporter::einsum(ArrayRef<Value> operands, ArrayRef<std::string> terms,
                           StringRef output) {
  // The size of every letter; they must agree between operands (a size 1
  // broadcasts only by being summed out first, which keeps this simple).
  std::map<char, int64_t> sizes;
  for (auto [operand, term] : llvm::zip(operands, terms)) {
    ArrayRef<int64_t> shape = llvm::cast<RankedTensorType>(operand.getType()).getShape();
    for (auto [d, c] : llvm::enumerate(term)) {
      if (llvm::count(term, c) > 1) {
        (void)fail("equation term '" + term + "' repeats '" + Twine(c) +
                   "' (diagonals are not supported)");
        return {};
      }
      if (ShapedType::isDynamic(shape[d])) {
        (void)fail("Einsum needs static shapes; operand of shape " + formatShape(shape) +
                   " has a dynamic dim (bind it with --input-shape)");
        return {};
      }
      auto [it, inserted] = sizes.emplace(c, shape[d]);
      if (!inserted && it->second != shape[d]) {
        // Ellipsis dims are spelled with digits; they do not broadcast here.
        (void)fail((llvm::isDigit(c) ? Twine("Einsum ellipsis dim")
                                     : "Einsum letter '" + Twine(c) + "'") +
                   " has sizes " + Twine(it->second) + " and " + Twine(shape[d]) +
                   " (size-1 dims do not broadcast)");
        return {};
      }
    }
  }
  auto transposeTo = [&](Value value, StringRef from, StringRef to) {
    SmallVector<int64_t> perm;
    for (char c : to)
      perm.push_back(int64_t(from.find(c)));
    if (llvm::equal(perm, llvm::seq<int64_t>(0, int64_t(perm.size()))))
      return value;
    return compose(TransposeOp::getOperationName(), {value},
                   {builder.getNamedAttr("perm", builder.getDenseI64ArrayAttr(perm))});
  };
  auto reshapeTo = [&](Value value, ArrayRef<int64_t> shape) {
    return compose(ReshapeOp::getOperationName(), {value, constantI64(shape)});
  };
  // Sums out the letters of `term` not in `keep`; returns the value and its letters.
  auto sumOut = [&](Value value, std::string term,
                    llvm::function_ref<bool(char)> keep) -> std::pair<Value, std::string> {
    SmallVector<int64_t> axes;
    std::string kept;
    for (auto [d, c] : llvm::enumerate(term)) {
      if (keep(c))
        kept += c;
      else
        axes.push_back(int64_t(d));
    }
    if (axes.empty())
      return {value, term};
    return {compose(ReduceSumOp::getOperationName(), {value},
                    {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(axes)),
                     builder.getNamedAttr("keep_dims", builder.getBoolAttr(false))}),
            kept};
  };
  auto neededAfter = [&](size_t operand, char c) {
    if (output.contains(c))
      return true;
    for (size_t j = operand + 1; j < terms.size(); ++j)
      if (terms[j].find(c) != std::string::npos)
        return true;
    return false;
  };

  // (Not structured bindings: C++17 lambdas cannot capture them.)
  Value accumulated;
  std::string letters;
  std::tie(accumulated, letters) = sumOut(operands[0], terms[0], [&](char c) {
    return neededAfter(0, c);
  });
  for (size_t i = 1; i < operands.size() && accumulated; ++i) {
    Value right;
    std::string rightLetters;
    std::tie(right, rightLetters) = sumOut(operands[i], terms[i], [&](char c) {
      return neededAfter(i, c) || letters.find(c) != std::string::npos;
    });
    std::string leftLetters = letters;
    auto inLeft = [&](char c) { return leftLetters.find(c) != std::string::npos; };
    auto inRight = [&](char c) { return rightLetters.find(c) != std::string::npos; };
    // batch: in both and needed later; contracted: in both, not needed;
    // free: in one only.
    std::string batch, contracted, leftFree, rightFree;
    for (char c : leftLetters) {
      if (!inRight(c))
        leftFree += c;
      else if (neededAfter(i, c))
        batch += c;
      else
        contracted += c;
    }
    for (char c : rightLetters)
      if (!inLeft(c))
        rightFree += c;
    auto product = [&](StringRef group) {
      int64_t n = 1;
      for (char c : group)
        n *= sizes[c];
      return n;
    };
    SmallVector<int64_t> batchShape;
    for (char c : batch)
      batchShape.push_back(sizes[c]);
    // [batch..., M, K] @ [batch..., K, N] -> [batch..., M, N].
    SmallVector<int64_t> lhsShape = batchShape, rhsShape = batchShape, resultShape = batchShape;
    lhsShape.append({product(leftFree), product(contracted)});
    rhsShape.append({product(contracted), product(rightFree)});
    for (char c : leftFree + rightFree)
      resultShape.push_back(sizes[c]);
    Value lhs = reshapeTo(transposeTo(accumulated, leftLetters, batch + leftFree + contracted),
                          lhsShape);
    Value rhs = reshapeTo(transposeTo(right, rightLetters, batch + contracted + rightFree),
                          rhsShape);
    accumulated = reshapeTo(compose(MatMulOp::getOperationName(), {lhs, rhs}), resultShape);
    letters = batch + leftFree + rightFree;
  }
  if (!accumulated)
    return {};
  return transposeTo(accumulated, letters, output);
}

LogicalResult OnnxImporter::importSplit() {
  if (failed(requireInputs(1, current.sinceVersion < 13 ? 1 : 2)))
    return failure();
  Value data = input(0);
  auto type = llvm::cast<RankedTensorType>(data.getType());
  FailureOr<SmallVector<int64_t>> axes = normalizeAxes({intAttr("axis", 0)}, type.getRank());
  if (failed(axes))
    return failure();
  int64_t axis = axes->front();
  unsigned numOutputs = current.node->output_size();
  SmallVector<int64_t> sizes;
  // Before opset 13 the sizes are an attribute.
  std::optional<SmallVector<int64_t>> splitAttr =
      current.sinceVersion < 13 ? intsAttr("split") : std::nullopt;
  if (splitAttr || input(1)) {
    FailureOr<SmallVector<int64_t>> values =
        splitAttr ? FailureOr<SmallVector<int64_t>>(*splitAttr)
                  : requireConstantInts(1, "split");
    if (failed(values))
      return failure();
    sizes = *values;
    if (sizes.size() != numOutputs)
      return fail("'split' has " + Twine(sizes.size()) + " sizes for " +
                  Twine(numOutputs) + " outputs");
  } else {
    int64_t dim = type.getDimSize(axis);
    if (ShapedType::isDynamic(dim))
      return fail("splitting dynamic dim " + Twine(axis) +
                  " needs explicit sizes; bind it with --input-shape");
    int64_t pieces = intAttr("num_outputs", numOutputs);
    if (pieces <= 0 || unsigned(pieces) != numOutputs)
      return fail("num_outputs " + Twine(pieces) + " does not match the " +
                  Twine(numOutputs) + " outputs");
    // ONNX: pieces of ceil(dim / n), the last one smaller if needed.
    int64_t piece = (dim + pieces - 1) / pieces;
    for (int64_t i = 0; i < pieces; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(piece, dim - i * piece)));
  }
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis)),
      builder.getNamedAttr("sizes", builder.getDenseI64ArrayAttr(sizes))};
  FailureOr<SmallVector<Value>> results =
      createInferred(SplitOp::getOperationName(), {data}, attrs, numOutputs);
  if (failed(results))
    return failure();
  for (auto [i, value] : llvm::enumerate(*results))
    (void)define(i, value);
  return success();
}

LogicalResult OnnxImporter::importSlice() {
  if (failed(requireInputs(3, 5)))
    return failure();
  Value data = input(0), starts = input(1), ends = input(2);
  Value axes = input(3), steps = input(4);
  auto startsType = llvm::cast<RankedTensorType>(starts.getType());
  if (startsType.getRank() != 1 || startsType.isDynamicDim(0))
    return fail("'starts' must be a 1-D tensor of static length");
  int64_t count = startsType.getDimSize(0);
  if (!axes) {
    SmallVector<int64_t> all(count);
    std::iota(all.begin(), all.end(), 0);
    axes = constantI64(all);
  }
  if (!steps)
    steps = constantI64(SmallVector<int64_t>(count, 1));
  FailureOr<Value> result =
      createOne(SliceOp::getOperationName(), {data, starts, ends, axes, steps});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importSqueeze(bool unsqueeze) {
  // Before opset 13 the axes are an attribute.
  bool axesAsInput = current.sinceVersion >= 13;
  std::optional<SmallVector<int64_t>> axesAttr = intsAttr("axes");
  if (failed(axesAsInput ? requireInputs(unsqueeze ? 2 : 1, 2) : requireInputs(1, 1)))
    return failure();
  if (!axesAsInput && unsqueeze && !axesAttr)
    return fail("required attribute 'axes' is missing");
  Value data = input(0);
  auto type = llvm::cast<RankedTensorType>(data.getType());
  SmallVector<int64_t> axes;
  if (!axesAsInput && axesAttr) {
    axes = *axesAttr;
  } else if (axesAsInput && input(1)) {
    FailureOr<SmallVector<int64_t>> values = requireConstantInts(1, "axes");
    if (failed(values))
      return failure();
    axes = *values;
  } else {
    for (int64_t dim = 0; dim < type.getRank(); ++dim) {
      if (type.isDynamicDim(dim))
        return fail("Squeeze without axes needs a static shape; dim " + Twine(dim) +
                    " is dynamic (bind it with --input-shape)");
      if (type.getDimSize(dim) == 1)
        axes.push_back(dim);
    }
  }
  int64_t rank = unsqueeze ? type.getRank() + int64_t(axes.size()) : type.getRank();
  FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(axes, rank);
  if (failed(normalized))
    return failure();
  SmallVector<NamedAttribute> attrs = {
      builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr(*normalized))};
  FailureOr<Value> result = createOne(
      unsqueeze ? UnsqueezeOp::getOperationName() : SqueezeOp::getOperationName(),
      {data}, attrs);
  return failed(result) ? failure() : define(0, *result);
}

const SmallVector<Value> *OnnxImporter::sequenceInput(unsigned index) const {
  if (index >= unsigned(current.node->input_size()))
    return nullptr;
  auto found = sequences.find({scopes.size(), current.node->input(index)});
  return found == sequences.end() ? nullptr : &found->second;
}

LogicalResult OnnxImporter::defineSequence(unsigned outputIndex, SmallVector<Value> values) {
  if (outputIndex < unsigned(current.node->output_size()) &&
      !current.node->output(outputIndex).empty())
    sequences[{scopes.size(), current.node->output(outputIndex)}] = std::move(values);
  return success();
}

// Sequences appear where exporters split a tensor into a Python list
// (torch.split, chunk, unbind) and index it; they are resolved at import
// time into the tensors they hold.
LogicalResult OnnxImporter::importSequenceOp(StringRef op) {
  if (op == "SequenceConstruct") {
    if (failed(requireInputs(numInputs(), numInputs())))
      return failure();
    SmallVector<Value> values;
    for (unsigned i = 0; i < numInputs(); ++i)
      values.push_back(input(i));
    return defineSequence(0, std::move(values));
  }
  if (op == "SequenceEmpty")
    return defineSequence(0, {});
  if (op == "SplitToSequence") {
    if (failed(requireInputs(1, 2)))
      return failure();
    Value data = input(0);
    auto type = llvm::cast<RankedTensorType>(data.getType());
    FailureOr<SmallVector<int64_t>> axes = normalizeAxes({intAttr("axis", 0)}, type.getRank());
    if (failed(axes))
      return failure();
    int64_t axis = axes->front();
    int64_t dim = type.getDimSize(axis);
    SmallVector<int64_t> sizes;
    bool squeeze = false;
    if (input(1)) {
      FailureOr<SmallVector<int64_t>> split = requireConstantInts(1, "split");
      if (failed(split))
        return failure();
      if (rankOf(input(1)) == 0) {
        // One size: equal pieces, the last one smaller if needed.
        int64_t piece = split->front();
        if (ShapedType::isDynamic(dim))
          return fail("splitting dynamic dim " + Twine(axis) +
                      " into pieces of " + Twine(piece) + " needs its size; bind it "
                      "with --input-shape");
        if (piece <= 0)
          return fail("split size " + Twine(piece) + " must be positive");
        for (int64_t start = 0; start < dim; start += piece)
          sizes.push_back(std::min(piece, dim - start));
      } else {
        sizes = *split;
      }
    } else {
      if (ShapedType::isDynamic(dim))
        return fail("splitting dynamic dim " + Twine(axis) +
                    " into single elements needs its size; bind it with --input-shape");
      sizes.assign(dim, 1);
      squeeze = intAttr("keepdims", 1) == 0;
    }
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis)),
        builder.getNamedAttr("sizes", builder.getDenseI64ArrayAttr(sizes))};
    FailureOr<SmallVector<Value>> pieces =
        createInferred(SplitOp::getOperationName(), {data}, attrs, sizes.size());
    if (failed(pieces))
      return failure();
    if (squeeze)
      for (Value &piece : *pieces) {
        FailureOr<Value> squeezed =
            createOne(SqueezeOp::getOperationName(), {piece},
                      {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({axis}))});
        if (failed(squeezed))
          return failure();
        piece = *squeezed;
      }
    return defineSequence(0, std::move(*pieces));
  }

  const SmallVector<Value> *sequence = sequenceInput(0);
  if (!sequence)
    return fail("input '" +
                (numInputs() ? current.node->input(0) : std::string()) +
                "' is not a sequence this importer knows (sequences must come from "
                "SequenceConstruct, SequenceEmpty or SplitToSequence)");
  if (op == "SequenceLength") {
    auto scalar = RankedTensorType::get({}, builder.getI64Type());
    return define(0, ConstantOp::create(builder, nodeLocation(), scalar,
                                        DenseElementsAttr::get(
                                            scalar, int64_t(sequence->size()))));
  }
  if (op == "SequenceAt") {
    FailureOr<SmallVector<int64_t>> position = requireConstantInts(1, "position");
    if (failed(position))
      return failure();
    int64_t index = position->empty() ? 0 : position->front();
    int64_t length = sequence->size();
    if (position->size() != 1 || index < -length || index >= length)
      return fail("position " + Twine(index) + " is out of range for a sequence of " +
                  Twine(length) + " tensors");
    return define(0, (*sequence)[index < 0 ? index + length : index]);
  }
  if (op == "ConcatFromSequence") {
    if (sequence->empty())
      return fail("cannot concatenate an empty sequence");
    int64_t axis = intAttr("axis", 0);
    SmallVector<Value> parts(sequence->begin(), sequence->end());
    if (intAttr("new_axis", 0)) {
      FailureOr<SmallVector<int64_t>> axes = normalizeAxes({axis}, rankOf(parts.front()) + 1);
      if (failed(axes))
        return failure();
      axis = axes->front();
      for (Value &part : parts) {
        FailureOr<Value> expanded =
            createOne(UnsqueezeOp::getOperationName(), {part},
                      {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({axis}))});
        if (failed(expanded))
          return failure();
        part = *expanded;
      }
    }
    FailureOr<Value> result =
        createOne(ConcatOp::getOperationName(), parts,
                  {builder.getNamedAttr("axis", builder.getI64IntegerAttr(axis))});
    return failed(result) ? failure() : define(0, *result);
  }
  return fail("operator is not supported");
}

/// The shortest decimal (as a double) that rounds to `value` in `semantics`.
static double shortestDecimal(double value, const llvm::fltSemantics &semantics) {
  for (int digits = 1; digits < 17; ++digits) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    double candidate = std::strtod(text, nullptr);
    APFloat rounded(candidate);
    bool losesInfo = false;
    rounded.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
    rounded.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &losesInfo);
    if (rounded.convertToDouble() == value)
      return candidate;
  }
  return value;
}

LogicalResult OnnxImporter::importDropout() {
  if (failed(requireInputs(1, 3)))
    return failure();
  bool training = false;
  if (Value mode = input(2)) {
    std::optional<SmallVector<int64_t>> values = getConstantIntValues(mode);
    if (!values || values->size() != 1)
      return fail("training_mode must be a constant boolean scalar");
    training = (*values)[0] != 0;
  }
  // ONNX's default ratio is 0.5; only training mode reads it.
  double ratio = 0.5;
  if (Value ratioInput = input(1); ratioInput && training) {
    DenseFPElementsAttr ratioValue;
    if (!matchPattern(ratioInput, m_Constant(&ratioValue)) || ratioValue.getNumElements() != 1)
      return fail("ratio must be a constant float scalar");
    // Exporters write the ratio in f32 even for f64 models (torch.onnx's
    // F.dropout(x, 0.1) gives 0.1f); the shortest decimal that rounds to it
    // is the probability written in Python, from which PyTorch computes its
    // scale: 0.1, not 0.10000000149.
    APFloat value = *ratioValue.getValues<APFloat>().begin();
    ratio = value.convertToDouble();
    if (&value.getSemantics() != &APFloat::IEEEdouble())
      ratio = shortestDecimal(ratio, value.getSemantics());
  }
  if (!(ratio >= 0.0 && ratio < 1.0)) {
    std::string value;
    llvm::raw_string_ostream(value) << llvm::format("%g", ratio);
    return fail("ratio " + value + " is not in [0, 1)");
  }
  Value data = input(0);
  // The node's own `seed` attribute is not read: masks come from the run's
  // seed (sp-run --seed), the step and the element's position.
  Value result = data;
  if (training && ratio > 0.0) {
    // Dropout only moves elements in inference (movesElementsOnly); in
    // training it computes, and the CPU kernels compute in f32 and f64.
    Type dataType = llvm::cast<RankedTensorType>(data.getType()).getElementType();
    if (options.forCpuPlan && llvm::isa<Float16Type, BFloat16Type>(dataType))
      return fail(Twine("training-mode Dropout of ") +
                  (llvm::isa<Float16Type>(dataType) ? "f16" : "bf16") +
                  "; sp's CPU kernels compute it in f32 and f64 only");
    FailureOr<Value> dropped = createOne(
        DropoutOp::getOperationName(), {data},
        {builder.getNamedAttr("ratio", builder.getF64FloatAttr(ratio)),
         builder.getNamedAttr("site", builder.getI64IntegerAttr(dropoutSites++))});
    if (failed(dropped))
      return failure();
    result = *dropped;
  }
  if (failed(define(0, result)))
    return failure();
  if (!outputUsed(1))
    return success();
  FailureOr<Value> shape = createOne(ShapeOp::getOperationName(), {data});
  if (failed(shape))
    return failure();
  if (result == data) {
    // Nothing is dropped: the mask keeps everything.
    auto boolType = RankedTensorType::get({1}, builder.getI1Type());
    FailureOr<Value> mask = createOne(
        ConstantOfShapeOp::getOperationName(), {*shape},
        {builder.getNamedAttr("value", DenseElementsAttr::get(boolType, true))});
    return failed(mask) ? failure() : define(1, *mask);
  }
  // The mask is where the same site keeps a tensor of ones: the same draw.
  Type elementType = llvm::cast<RankedTensorType>(data.getType()).getElementType();
  auto oneType = RankedTensorType::get({1}, elementType);
  FailureOr<Value> ones = createOne(
      ConstantOfShapeOp::getOperationName(), {*shape},
      {builder.getNamedAttr("value",
                            DenseElementsAttr::get(oneType, FloatAttr::get(elementType, 1.0)))});
  if (failed(ones))
    return failure();
  Operation *dropout = result.getDefiningOp();
  FailureOr<Value> keptOnes =
      createOne(DropoutOp::getOperationName(), {*ones}, dropout->getAttrs());
  if (failed(keptOnes))
    return failure();
  FailureOr<Value> zero = createOne(
      ConstantOp::getOperationName(), {},
      {builder.getNamedAttr("value", DenseElementsAttr::get(RankedTensorType::get({}, elementType),
                                                            FloatAttr::get(elementType, 0.0)))});
  if (failed(zero))
    return failure();
  FailureOr<Value> mask = createOne(GreaterOp::getOperationName(), {*keptOnes, *zero});
  return failed(mask) ? failure() : define(1, *mask);
}

LogicalResult OnnxImporter::importGelu() {
  if (failed(requireInputs(1, 1)))
    return failure();
  std::string approximate = stringAttr("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return fail("approximate='" + approximate + "' is not supported");
  FailureOr<Value> result = createOne(
      GeluOp::getOperationName(), {input(0)},
      {builder.getNamedAttr("tanh_approximation",
                            builder.getBoolAttr(approximate == "tanh"))});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::importConstantOfShape() {
  if (failed(requireInputs(1, 1)))
    return failure();
  ElementsAttr value;
  if (const onnx::AttributeProto *attr = attribute("value")) {
    FailureOr<ElementsAttr> tensor = convertTensor(attr->t(), false);
    if (failed(tensor))
      return failure();
    value = *tensor;
  } else {
    auto type = RankedTensorType::get({1}, builder.getF32Type());
    value = DenseElementsAttr::get(type, 0.0f);
  }
  FailureOr<Value> result =
      createOne(ConstantOfShapeOp::getOperationName(), {input(0)},
                {builder.getNamedAttr("value", value)});
  return failed(result) ? failure() : define(0, *result);
}

/// The product of dims [begin, end) of `data` as a 1-element i64 tensor,
/// built from `graph.shape` pieces so that it folds where the dims are static.
FailureOr<Value> OnnxImporter::dimProduct(Value data, int64_t begin, int64_t end) {
  // A single dim stays a bare `graph.shape`, which inference can trace back.
  Value product;
  for (int64_t dim = begin; dim < end; ++dim) {
    FailureOr<Value> size =
        createOne(ShapeOp::getOperationName(), {data},
                  {builder.getNamedAttr("start", builder.getI64IntegerAttr(dim)),
                   builder.getNamedAttr("end", builder.getI64IntegerAttr(dim + 1))});
    if (failed(size))
      return failure();
    if (!product) {
      product = *size;
      continue;
    }
    FailureOr<Value> next = createOne(MulOp::getOperationName(), {product, *size});
    if (failed(next))
      return failure();
    product = *next;
  }
  return product ? product : constantI64({1});
}

LogicalResult OnnxImporter::importFlatten() {
  if (failed(requireInputs(1, 1)))
    return failure();
  Value data = input(0);
  int64_t rank = rankOf(data);
  int64_t axis = intAttr("axis", 1);
  if (axis < -rank || axis > rank)
    return fail("axis " + Twine(axis) + " is out of range for rank " + Twine(rank));
  if (axis < 0)
    axis += rank;
  // [d0 * ... * d(axis-1), d(axis) * ... * d(rank-1)], as a reshape.
  FailureOr<Value> outer = dimProduct(data, 0, axis);
  if (failed(outer))
    return failure();
  FailureOr<Value> inner = dimProduct(data, axis, rank);
  if (failed(inner))
    return failure();
  FailureOr<Value> shape = createOne(ConcatOp::getOperationName(), {*outer, *inner},
                                     {builder.getNamedAttr("axis", builder.getI64IntegerAttr(0))});
  if (failed(shape))
    return failure();
  FailureOr<Value> result = createOne(
      ReshapeOp::getOperationName(), {data, *shape},
      {builder.getNamedAttr("allow_zero", builder.getBoolAttr(true))});
  return failed(result) ? failure() : define(0, *result);
}

LogicalResult OnnxImporter::dispatch(const onnx::NodeProto &node) {
  StringRef op = node.op_type();
  auto simple = [&](StringRef opName, unsigned minimum, unsigned maximum,
                    ArrayRef<NamedAttribute> attrs) -> LogicalResult {
    if (failed(requireInputs(minimum, maximum)))
      return failure();
    SmallVector<Value> operands;
    for (unsigned i = 0; i < numInputs(); ++i)
      if (Value value = input(i))
        operands.push_back(value);
    FailureOr<Value> result = createOne(opName, operands, attrs);
    return failed(result) ? failure() : define(0, *result);
  };
  auto i64 = [&](StringRef name, int64_t value) {
    return builder.getNamedAttr(name, builder.getI64IntegerAttr(value));
  };

  // Element-wise binary ops.
  static const llvm::StringMap<StringRef> binary = {
      {"Add", AddOp::getOperationName()},
      {"Sub", SubOp::getOperationName()},
      {"Mul", MulOp::getOperationName()},
      {"Div", DivOp::getOperationName()},
      {"Pow", PowOp::getOperationName()},
      {"Equal", EqualOp::getOperationName()},
      {"Less", LessOp::getOperationName()},
      {"LessOrEqual", LessEqualOp::getOperationName()},
      {"Greater", GreaterOp::getOperationName()},
      {"GreaterOrEqual", GreaterEqualOp::getOperationName()},
      {"And", AndOp::getOperationName()},
      {"Or", OrOp::getOperationName()},
      {"Xor", XorOp::getOperationName()}};
  static const llvm::StringMap<StringRef> variadic = {
      {"Max", MaxOp::getOperationName()},
      {"Min", MinOp::getOperationName()},
      {"Sum", AddOp::getOperationName()}};
  static const llvm::StringMap<StringRef> unary = {
      {"Neg", NegOp::getOperationName()},
      {"Abs", AbsOp::getOperationName()},
      {"Sqrt", SqrtOp::getOperationName()},
      {"Reciprocal", ReciprocalOp::getOperationName()},
      {"Exp", ExpOp::getOperationName()},
      {"Log", LogOp::getOperationName()},
      {"Tanh", TanhOp::getOperationName()},
      {"Sigmoid", SigmoidOp::getOperationName()},
      {"Erf", ErfOp::getOperationName()},
      {"Cos", CosOp::getOperationName()},
      {"Sin", SinOp::getOperationName()},
      {"Relu", ReluOp::getOperationName()},
      {"Not", NotOp::getOperationName()},
      {"Floor", FloorOp::getOperationName()},
      {"Ceil", CeilOp::getOperationName()},
      {"IsNaN", IsNaNOp::getOperationName()}};
  if (auto it = binary.find(op); it != binary.end())
    return importBinary(it->second);
  if (auto it = variadic.find(op); it != variadic.end())
    return importVariadic(it->second);
  if (auto it = unary.find(op); it != unary.end())
    return importUnary(it->second);

  if (op == "Mod")
    return importBinary(intAttr("fmod", 0) ? FModOp::getOperationName()
                                           : ModOp::getOperationName());
  if (op == "IsInf")
    return simple(IsInfOp::getOperationName(), 1, 1,
                  {builder.getNamedAttr("detect_negative",
                                        builder.getBoolAttr(intAttr("detect_negative", 1))),
                   builder.getNamedAttr("detect_positive",
                                        builder.getBoolAttr(intAttr("detect_positive", 1)))});
  if (op == "Flatten")
    return importFlatten();
  if (op == "ReduceMin" || op == "ReduceSumSquare" || op == "ReduceL1" ||
      op == "ReduceL2" || op == "ReduceLogSum" || op == "ReduceLogSumExp")
    return importComposedReduce(op);
  if (op == "LeakyRelu" || op == "PRelu" || op == "Elu" || op == "Selu" || op == "Celu" ||
      op == "ThresholdedRelu" || op == "HardSigmoid" || op == "HardSwish" ||
      op == "Softplus" || op == "Softsign" || op == "Mish" || op == "Swish" || op == "Tan")
    return importActivation(op);
  if (op == "Clip")
    return importClip();
  if (op == "Size")
    return importSize();
  if (op == "Softmax" || op == "LogSoftmax")
    return importSoftmax(op == "LogSoftmax");
  if (op == "Mean")
    return importMean();
  if (op == "NegativeLogLikelihoodLoss" || op == "SoftmaxCrossEntropyLoss")
    return importLoss(op);
  if (op == "GatherElements")
    return importGatherElements();
  if (op == "ScatterElements" || op == "ScatterND")
    return importScatter(op);
  if (op == "Tile")
    return importTile();
  if (op == "Einsum")
    return importEinsum();
  if (op == "Identity") {
    if (failed(requireInputs(1, 1)))
      return failure();
    return define(0, input(0));
  }
  if (op == "Dropout")
    return importDropout();
  if (op == "Constant")
    return importConstant();
  if (op == "Cast" || op == "CastLike")
    return importCast();
  if (op == "Where")
    return simple(WhereOp::getOperationName(), 3, 3, {});
  if (op == "MatMul")
    return simple(MatMulOp::getOperationName(), 2, 2, {});
  if (op == "Gemm")
    return importGemm();
  if (op == "LayerNormalization")
    return importLayerNorm();
  if (op == "Gelu")
    return importGelu();
  if (op == "ReduceSum")
    return importReduce(ReduceSumOp::getOperationName(), current.sinceVersion >= 13);
  if (op == "ReduceMean")
    return importReduce(ReduceMeanOp::getOperationName(), current.sinceVersion >= 18);
  if (op == "ReduceMax")
    return importReduce(ReduceMaxOp::getOperationName(), current.sinceVersion >= 18);
  if (op == "CumSum") {
    if (failed(requireInputs(2, 2)))
      return failure();
    FailureOr<SmallVector<int64_t>> axis = requireConstantInts(1, "axis");
    if (failed(axis))
      return failure();
    if (axis->size() != 1)
      return fail("'axis' must hold one value");
    FailureOr<Value> result = createOne(
        CumSumOp::getOperationName(), {input(0)},
        {i64("axis", axis->front()),
         builder.getNamedAttr("exclusive", builder.getBoolAttr(intAttr("exclusive", 0))),
         builder.getNamedAttr("reverse", builder.getBoolAttr(intAttr("reverse", 0)))});
    return failed(result) ? failure() : define(0, *result);
  }
  if (op == "Range")
    return simple(RangeOp::getOperationName(), 3, 3, {});
  if (op == "Shape") {
    SmallVector<NamedAttribute> attrs = {i64("start", intAttr("start", 0))};
    if (attribute("end"))
      attrs.push_back(i64("end", intAttr("end", 0)));
    return simple(ShapeOp::getOperationName(), 1, 1, attrs);
  }
  if (op == "ConstantOfShape")
    return importConstantOfShape();
  if (op == "Reshape")
    return simple(ReshapeOp::getOperationName(), 2, 2,
                  {builder.getNamedAttr("allow_zero",
                                        builder.getBoolAttr(intAttr("allowzero", 0)))});
  if (op == "Expand")
    return simple(ExpandOp::getOperationName(), 2, 2, {});
  if (op == "Transpose") {
    if (failed(requireInputs(1, 1)))
      return failure();
    SmallVector<int64_t> perm;
    if (std::optional<SmallVector<int64_t>> given = intsAttr("perm"))
      perm = *given;
    else
      for (int64_t dim = rankOf(input(0)) - 1; dim >= 0; --dim)
        perm.push_back(dim);
    return simple(TransposeOp::getOperationName(), 1, 1,
                  {builder.getNamedAttr("perm", builder.getDenseI64ArrayAttr(perm))});
  }
  if (op == "Unsqueeze")
    return importSqueeze(/*unsqueeze=*/true);
  if (op == "Squeeze")
    return importSqueeze(/*unsqueeze=*/false);
  if (op == "Slice")
    return importSlice();
  if (op == "Split")
    return importSplit();
  if (op == "SplitToSequence" || op == "SequenceAt" || op == "SequenceConstruct" ||
      op == "SequenceEmpty" || op == "SequenceLength" || op == "ConcatFromSequence")
    return importSequenceOp(op);
  if (op == "Concat") {
    if (numInputs() < 1)
      return fail("expects at least one input");
    return simple(ConcatOp::getOperationName(), numInputs(), numInputs(),
                  {i64("axis", intAttr("axis", 0))});
  }
  if (op == "Gather")
    return simple(GatherOp::getOperationName(), 2, 2, {i64("axis", intAttr("axis", 0))});
  if (op == "GatherND")
    return simple(GatherNDOp::getOperationName(), 2, 2,
                  {i64("batch_dims", intAttr("batch_dims", 0))});
  if (op == "Trilu") {
    if (failed(requireInputs(1, 2)))
      return failure();
    int64_t diagonal = 0;
    if (input(1)) {
      FailureOr<SmallVector<int64_t>> k = requireConstantInts(1, "k");
      if (failed(k))
        return failure();
      if (k->size() != 1)
        return fail("'k' must hold one value");
      diagonal = k->front();
    }
    FailureOr<Value> result = createOne(
        TriluOp::getOperationName(), {input(0)},
        {builder.getNamedAttr("upper", builder.getBoolAttr(intAttr("upper", 1))),
         i64("diagonal", diagonal)});
    return failed(result) ? failure() : define(0, *result);
  }
  return fail("operator is not supported");
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

llvm::Expected<OwningOpRef<ModuleOp>> OnnxImporter::run() {
  context.loadDialect<GraphDialect, func::FuncDialect, ml_program::MLProgramDialect>();
  // Diagnostics from type inference and verifiers become the message of the
  // node being imported.
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == DiagnosticSeverity::Error &&
        lastDiagnostic.empty())
      lastDiagnostic = diagnostic.str();
    return success();
  });
  OwningOpRef<ModuleOp> owned;
  auto result = [&]() -> LogicalResult {
    if (failed(readModel()))
      return failure();
    LogicalResult imported = importGraph();
    owned = module;
    return imported;
  }();
  if (failed(result))
    return llvm::createStringError(errorMessage.empty()
                                       ? path + ": import failed"
                                       : errorMessage);
  lastDiagnostic.clear();
  if (failed(mlir::verify(*owned)))
    return llvm::createStringError(path + ": the imported module does not verify: " +
                                   lastDiagnostic);
  return std::move(owned);
}

llvm::Expected<OwningOpRef<ModuleOp>>
importOnnxModel(MLIRContext &context, StringRef path,
                const OnnxImportOptions &options) {
  OnnxImporter importer(context, path, options);
  return importer.run();
}

} // namespace sp
