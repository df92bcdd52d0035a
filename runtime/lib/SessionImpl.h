//===- SessionImpl.h - the parts of a loaded session --------------*- C++ -*-===//
//
// Private to the runtime: what Session.cpp (loading), PlanValidation.cpp,
// Executor.cpp, ShardIO.cpp and StateIO.cpp share. Tensor bytes live on the
// session's Device; the session moves them only through it.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_SESSIONIMPL_H
#define SP_RUNTIME_LIB_SESSIONIMPL_H

#include "sp/runtime/Collectives.h"
#include "sp/runtime/Device.h"
#include "sp/runtime/Kernel.h"
#include "sp/runtime/Session.h"

#include "sp/plan/plan.pb.h"

#include <memory>
#include <string>
#include <vector>

namespace sp::runtime {

/// Plans align to cache lines or pages; anything larger is corruption.
constexpr uint64_t kMaxAlignment = uint64_t(1) << 20;

struct TensorSlot {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  sp::plan::Placement placement = sp::plan::PLACEMENT_UNSPECIFIED;
  char *data = nullptr;
};

struct InstructionSlot {
  const Kernel *kernel = nullptr;
  KernelArgs args;
  Attributes attributes;
  std::string where; // "instruction 3 (matmul, node 'x' (MatMul))"
  /// The compute stream waits here for communication: `wait` and the
  /// blocking collectives. Their time is not compute in the overlap measure.
  bool waitsForCommunication = false;
};

/// A binding's tensor holds this rank's shard along `shardAxis` of the
/// whole tensor users see (`info`), or all of it when `shardAxis` is -1.
struct InputSlot {
  TensorInfo info;
  int tensor = -1;
  int shardAxis = -1;
  /// Where the plan padded the sequence (Binding.unpadded_length): the whole
  /// tensor's length along `shardAxis`, longer than `info`'s; else 0.
  int64_t paddedLength = 0;
  std::vector<char> data; // this rank's bytes, copied into place every step
  bool set = false;
};

struct OutputSlot {
  int tensor = -1;
  int shardAxis = -1;
  int64_t paddedLength = 0; // as InputSlot's
};

struct ParameterSlot {
  TensorInfo info;
  int tensor = -1;
  int gradient = -1;
};

/// A STATE tensor as checkpoints store it: by name and role, never by its
/// index in one plan.
struct StateFile {
  int tensor = -1;
  std::string name;         // the parameter's or state tensor's name
  std::string role;         // "parameter" or "state"
  std::string relativePath; // "param/<name>.npy" or "state/<name>.npy"
  std::string what;         // "parameter 'w'" or "state tensor 'm'"
};

bool toRuntimeDType(int planDType, DType &dtype);
const char *placementName(sp::plan::Placement placement);
std::string rangeText(uint64_t begin, uint64_t size);
/// Names from a corrupt plan must not split a message over lines.
std::string singleLine(std::string message);
AttributeValue toAttributeValue(const sp::plan::Attribute &attribute, bool &known);

struct Session::Impl {
  std::string planPath;
  sp::plan::Plan plan;
  std::vector<TensorSlot> tensors;
  std::vector<InstructionSlot> instructions;
  std::vector<InputSlot> inputSlots;
  std::vector<TensorInfo> inputs;
  std::vector<OutputSlot> outputSlots;
  std::vector<TensorInfo> outputs;
  std::vector<ParameterSlot> parameterSlots;
  std::vector<TensorInfo> parameters;
  std::vector<StateFile> stateFiles;
  int tokenInput = -1; // index into inputs
  int lossTensor = -1;
  int learningRateTensor = -1; // this step's scheduled learning rate, or -1
  int gradientNormTensor = -1; // the gradients' norm before clipping, or -1
  int64_t stepsCompleted = 0;
  bool stepRan = false;

  // The device, and the memory the plan asks of it: declared before the
  // buffers, which free through it.
  std::unique_ptr<Device> device;
  DeviceBuffer arena, state, constants, workspace;

  // What the last step did, when (Session.h): each instruction's kernel
  // began and ended (steady_clock microseconds; -1: skipped), and the
  // timings built from them when asked for.
  double stepBeginMicroseconds = 0, stepMicroseconds = 0;
  std::vector<double> kernelBegin, kernelEnd;
  mutable std::vector<KernelTiming> timings;
  mutable bool timingsCurrent = false;
  std::vector<CommunicationTiming> communicationTimings;

  // The ranks (Collectives.h). Collective kernels reach them through
  // `context`; sharded bindings split the sequence in `layout`. Under
  // several ranks `communicator` is `streamCommunicator`, which runs the
  // collectives on the device's communication stream.
  std::shared_ptr<Communicator> communicator;
  std::shared_ptr<StreamCommunicator> streamCommunicator;
  ExecutionContext context;
  PendingCollectives pending;
  SequenceLayout layout;
  /// A collective failed: the ranks are out of step and cannot agree again.
  mutable bool communicationFailed = false;

  static std::unique_ptr<Impl> load(const std::string &planPath,
                                    std::shared_ptr<Communicator> communicator,
                                    const SessionOptions &options, std::string &error);
  std::string allocate(DeviceBuffer &buffer, uint64_t bytes, const char *what);
  std::string fail(const std::string &why) const { return planPath + ": " + why; }
  bool isMultiRank() const { return context.worldSize > 1; }
  /// Under several ranks, every rank's outcome: the first failure among them.
  std::string agreed(const std::string &error) const;
  std::string validateCollectives();
  /// Checks a binding's sharding and padding; sets the slot's axis and
  /// padded length and the whole tensor users see (`info`, unnamed).
  std::string validateSharding(const std::string &what, const sp::plan::Binding &binding,
                               int &slotAxis, int64_t &paddedLength, TensorInfo &info) const;
  std::string gatherOut(const OutputSlot &slot, const TensorInfo &whole, NpyArray &array) const;
  /// Checkpoints (StateIO.cpp): the hash of the parameters' names, dtypes
  /// and shapes; rank 0's write of the state read on every rank; reading.
  std::string modelIdentity() const;
  std::string writeCheckpoint(const std::string &directory, const CheckpointOptions &options,
                              const std::vector<NpyArray> &arrays,
                              const std::vector<uint64_t> &hashes) const;
  std::string loadCheckpoint(const std::string &path, CheckpointInfo *info);
  std::string describeTensor(int index) const;
  std::string validateTensors(uint64_t sidecarSize);
  std::string validateInstructions();
  std::string validateBindings();
  std::string loadSidecar(const std::string &sidecarPath, uint64_t sidecarSize);
  std::string copyOut(int tensor, NpyArray &array) const;
  std::string copyIn(int tensor, const TensorInfo &info, const std::string &what,
                     const NpyArray &array);
  const ParameterSlot *findParameter(const std::string &name) const;
};

} // namespace sp::runtime

#endif // SP_RUNTIME_LIB_SESSIONIMPL_H
