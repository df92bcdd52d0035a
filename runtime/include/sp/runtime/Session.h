//===- Session.h - loading and running a plan ---------------------*- C++ -*-===//
//
// The C++ embedding API. A Session owns one loaded plan: it validates the
// plan and its weights sidecar completely on load (so a bad plan fails before
// anything runs, with one line naming the file and the problem), allocates
// the arena, the state and the constant regions, and then runs training or
// inference steps on the CPU kernels.
//
// Every fallible call returns a std::string: empty on success, otherwise one
// line describing the failure (no exceptions, no asserts).
//
// A plan built for N ranks runs as N processes (mpirun -np N), each with its
// Session. Hosts see whole tensors: an input split along the sequence
// (Binding.sharded) is passed whole on every rank and each rank keeps its
// shard; a sharded output is gathered whole. Loading, steps, checkpoints and
// reading a sharded output communicate, so every rank calls them, in the same
// order; they succeed on all ranks or fail on all with the same line.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_SESSION_H
#define SP_RUNTIME_SESSION_H

#include "sp/runtime/Npy.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp::plan {
class Plan;
} // namespace sp::plan

namespace sp::runtime {

class Communicator;
class Device;

/// A graph input or output, or a trainable parameter, as a host sees it.
struct TensorInfo {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;

  int64_t numElements() const;
  /// E.g. "int64 2x128", for messages.
  std::string describe() const;
};

/// One kernel launch of the last step.
struct KernelTiming {
  int instruction = 0;
  std::string kernel;
  std::string location;
  /// The plan's stable instruction id ("" in plans without ids).
  std::string id;
  double startMicroseconds = 0; // since the step began
  double durationMicroseconds = 0;
  /// The compute stream waited for communication (`wait`, a blocking
  /// collective) rather than computed.
  bool waitsForCommunication = false;
};

/// One collective of the last step, as it ran on the communication stream.
struct CommunicationTiming {
  int instruction = -1; // the instruction that started it
  std::string kind;     // "all_gather", ..., "send_receive"
  int64_t bytes = 0;    // bytes this rank sent
  double startMicroseconds = 0; // since the step began
  double durationMicroseconds = 0;
};

/// How much of one step's communication ran while the compute stream
/// computed: of the time the communication lane was busy (any collective in
/// flight, `communicationMicroseconds`), `hiddenMicroseconds` overlap a
/// kernel that is not waiting for communication.
struct OverlapMeasure {
  double stepMicroseconds = 0;
  double communicationMicroseconds = 0;
  double hiddenMicroseconds = 0;
};
/// The overlap of the communication in `communication` with the compute in
/// `kernels` (one rank's step).
OverlapMeasure measureOverlap(const std::vector<KernelTiming> &kernels,
                              const std::vector<CommunicationTiming> &communication,
                              double stepMicroseconds);

/// How saveState writes a checkpoint.
struct CheckpointOptions {
  /// Checkpoints to keep in the folder, the newest; 0 keeps all.
  int keep = 0;
};

/// What loadState read.
struct CheckpointInfo {
  int64_t step = 0;
  uint64_t seed = 0;
  int worldSize = 1;   // the ranks that wrote it
  std::string folder;  // the checkpoint itself
};

/// How a session runs.
struct SessionOptions {
  /// The device: "cpu" (Device.h, builtInDevices()).
  std::string device = "cpu";
  /// Seconds a collective may make no progress before the step fails
  /// (StreamCommunicator); negative: no limit.
  double collectiveTimeoutSeconds = -1;
};

class Session {
public:
  /// Reads, validates and prepares the plan at `planPath` and its sidecar,
  /// on the ranks of worldCommunicator() (Collectives.h). On failure returns
  /// null and sets `error` to one line.
  static std::unique_ptr<Session> load(const std::string &planPath, std::string &error);
  /// The same, on the ranks of `communicator`.
  static std::unique_ptr<Session>
  load(const std::string &planPath, std::shared_ptr<Communicator> communicator, std::string &error);
  static std::unique_ptr<Session> load(const std::string &planPath,
                                       std::shared_ptr<Communicator> communicator,
                                       const SessionOptions &options, std::string &error);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  const sp::plan::Plan &plan() const;
  const std::string &planPath() const;
  /// Whether the plan computes a loss (and so trains).
  bool isTraining() const;
  /// Graph inputs and outputs as users pass and read them: whole tensors.
  const std::vector<TensorInfo> &inputs() const;
  const std::vector<TensorInfo> &outputs() const;
  const std::vector<TensorInfo> &parameters() const;
  /// The [batch, sequence] integer input that token data feeds, or null.
  const TensorInfo *tokenInput() const;
  /// Token ids the model accepts, [0, vocabSize()); 0 when the plan does not say.
  int64_t vocabSize() const;
  /// batch * sequence of the token input; 0 without one.
  int64_t tokensPerStep() const;
  /// Steps completed, counting those of a checkpoint restored by loadState.
  int64_t stepsCompleted() const;
  /// The run's seed: with the step, the key of every random draw (dropout
  /// masks, sp/Semantics/Random.h). 0 until set; checkpoints record it and
  /// loadState restores it. Every rank of a run sets the same seed.
  uint64_t seed() const;
  void setSeed(uint64_t seed);
  /// Whether a step has run since the plan loaded (outputs, the loss and
  /// gradients exist only then).
  bool hasRun() const;

  /// Sets input `name` for the following steps. The dtype and shape must be
  /// exactly the plan's.
  std::string setInput(const std::string &name, const NpyArray &array);
  std::string setInput(const std::string &name, DType dtype, const std::vector<int64_t> &shape,
                       const void *data, size_t size);

  /// Runs the plan's instructions once: one training step, or one inference.
  std::string runStep();

  /// The loss of the last step; NaN before the first step or without a loss.
  double loss() const;
  /// The learning rate the last step's update used: the schedule's value
  /// for that step (NaN before the first step), or the plan's constant rate;
  /// NaN for inference plans.
  double learningRate() const;
  /// The global L2 norm of the last step's gradients before clipping (the
  /// value torch.nn.utils.clip_grad_norm_ returns); NaN before the first
  /// step or where the plan does not clip.
  double gradientNorm() const;
  /// Whether the plan measures (and clips) the gradients' global norm.
  bool measuresGradientNorm() const;
  /// Copies an output (whole: a sharded one is gathered from every rank), the
  /// last step's gradient of a parameter, or a parameter's current value
  /// (the same on every rank).
  std::string output(const std::string &name, NpyArray &array) const;
  std::string gradient(const std::string &parameter, NpyArray &array) const;
  std::string parameter(const std::string &name, NpyArray &array) const;
  std::string setParameter(const std::string &name, const NpyArray &array);

  /// Saves a checkpoint into `directory`, a folder of checkpoints: the
  /// state as of now in DIR/step-N (N = stepsCompleted()), written whole and
  /// atomically (StateIO.cpp: a manifest with the model's identity, the
  /// optimizer, the step, the data position and seed(), and each parameter and
  /// state tensor by name with its shape, dtype and XXH64). Collective: the
  /// ranks compare their state, rank 0 writes.
  std::string saveState(const std::string &directory,
                        const CheckpointOptions &options = CheckpointOptions()) const;
  /// Restores a checkpoint: `path` is one (a folder with manifest.json) or a
  /// folder of them, whose newest it takes. Any rank count and strategy of
  /// the same model; every file is verified before anything changes.
  std::string loadState(const std::string &path, CheckpointInfo *info = nullptr);

  /// The last step's kernel launches and collectives, timed.
  const std::vector<KernelTiming> &lastStepTimings() const;
  const std::vector<CommunicationTiming> &lastStepCommunication() const;
  /// When the last step began (steady_clock microseconds since its epoch,
  /// shared by the processes of one machine), and how long it took.
  double lastStepBeginMicroseconds() const;
  double lastStepMicroseconds() const;
  /// The device the plan runs on.
  Device &device() const;

  /// This process's rank, and the ranks of the run (1 without MPI).
  int rank() const;
  int worldSize() const;
  Communicator &communicator() const;
  /// Whether a collective failed: the ranks are out of step, cannot agree on
  /// anything any more, and the job must end (Communicator::abort).
  bool communicationFailed() const;

private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace sp::runtime

#endif // SP_RUNTIME_SESSION_H
