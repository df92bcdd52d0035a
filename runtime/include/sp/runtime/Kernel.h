//===- Kernel.h - the interface between the executor and kernels --*- C++ -*-===//
//
// A kernel implements one graph dialect op (by the op's name without the
// "graph." prefix) for one device. The executor checks every instruction once,
// when the plan loads, through Kernel::check, so a plan that asks a kernel for
// something it cannot do fails with a message before the first step; `run`
// then trusts its arguments.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_KERNEL_H
#define SP_RUNTIME_KERNEL_H

#include "sp/runtime/Npy.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sp::runtime {

/// A tensor argument: element type, shape and (at run time) its bytes.
/// `data` is null while checking, and for an absent optional operand
/// (`present` false).
struct TensorArg {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  void *data = nullptr;
  bool present = true;

  int64_t numElements() const;
  template <typename T> T *as() const { return static_cast<T *>(data); }
};

using AttributeValue = std::variant<int64_t, double, std::string,
                                    std::vector<int64_t>, std::vector<double>, bool>;

/// The attributes of one instruction. Getters return the default when the
/// attribute is absent; check functions use `has` and the typed getters to
/// reject ill-typed plans.
class Attributes {
public:
  void set(const std::string &name, AttributeValue value);
  bool has(std::string_view name) const;
  int64_t getInt(std::string_view name, int64_t defaultValue = 0) const;
  double getFloat(std::string_view name, double defaultValue = 0.0) const;
  bool getBool(std::string_view name, bool defaultValue = false) const;
  std::string getString(std::string_view name, std::string defaultValue = {}) const;
  std::vector<int64_t> getInts(std::string_view name) const;
  std::vector<double> getFloats(std::string_view name) const;
  /// Whether `name` is present and holds a value of type T.
  template <typename T> bool holds(std::string_view name) const {
    const AttributeValue *value = find(name);
    return value && std::holds_alternative<T>(*value);
  }

  /// While `names` is set, adds every name looked up to it. A session's load
  /// uses it to refuse an attribute that the kernel's check never reads: one
  /// the kernel does not know, and so would silently ignore.
  void recordLookups(std::set<std::string> *names) const { lookups_ = names; }

private:
  const AttributeValue *find(std::string_view name) const;

  std::map<std::string, AttributeValue> values_;
  mutable std::set<std::string> *lookups_ = nullptr;
};

class Communicator;
class Device;
class PendingCollectives;
class Stream;

/// Where a kernel runs among the ranks of a job (Collectives.h). A session
/// owns one; kernels that ignore the rank never read it.
struct ExecutionContext {
  int rank = 0;
  int worldSize = 1;
  Communicator *communicator = nullptr;
  /// The session's nonblocking collectives in flight, from a `*_start`
  /// kernel to its `wait`.
  PendingCollectives *pending = nullptr;
  /// The device the session runs on; null outside a session (the CPU).
  Device *device = nullptr;
  /// What random kernels (dropout) key Philox by, with each element's
  /// position (sp/Semantics/Random.h): the run's seed (Session::setSeed) and
  /// the steps completed before the running one, so that a resumed run
  /// draws what an uninterrupted one does.
  uint64_t seed = 0;
  int64_t step = 0;
};

struct KernelArgs {
  std::vector<TensorArg> inputs;
  std::vector<TensorArg> outputs;
  const Attributes *attributes = nullptr;
  /// Null outside a session: rank 0 of 1, and a `*_start` completes at once.
  const ExecutionContext *context = nullptr;
  /// The stream the kernel runs on: it enqueues its work there. Null
  /// outside a session, where a CPU kernel runs on the calling thread (as it
  /// does on the CPU device's compute stream).
  Stream *stream = nullptr;
  /// Scratch bytes for this launch, as many as Kernel::workspace asked for
  /// (null when it asks for none, or outside a session), aligned to 64.
  void *workspace = nullptr;
  uint64_t workspaceBytes = 0;
};

/// A bit per element type, for Kernel::elementTypes.
constexpr uint32_t elementTypeBit(DType dtype) { return uint32_t(1) << unsigned(dtype); }
constexpr uint32_t kFloatElementTypes =
    elementTypeBit(DType::Float32) | elementTypeBit(DType::Float64);
/// f32, f64 and bf16: kernels that also take --precision=bf16's tensors.
constexpr uint32_t kFloatOrBFloat16ElementTypes =
    kFloatElementTypes | elementTypeBit(DType::BFloat16);

struct Kernel {
  /// The op name, e.g. "matmul".
  const char *name;
  /// Returns an empty string when the kernel can run `args` (dtypes, shapes,
  /// attributes, operand counts), else one line saying what is wrong.
  std::string (*check)(const KernelArgs &args);
  /// Computes the outputs and returns an empty string, or one line about the
  /// data when it cannot (an index out of range). Outputs never alias inputs,
  /// except for the optimizer updates, which the planner runs in place, and
  /// `wait`, whose result is its future's bytes.
  std::string (*run)(const KernelArgs &args);
  /// Whether the kernel exchanges data with the other ranks: every rank must
  /// run it, in plan order, even after a kernel failed on one of them.
  bool communicates = false;
  /// The element types (elementTypeBit) of the tensors the kernel is
  /// registered for, by the first input's (Device::findKernel); 0: any, and
  /// `check` decides.
  uint32_t elementTypes = 0;
  /// Scratch bytes a launch with `args` (shapes and attributes, no data)
  /// needs; null for none. The session sizes one workspace, the largest, when
  /// the plan loads, so that no kernel allocates while a step runs.
  uint64_t (*workspace)(const KernelArgs &args) = nullptr;
};

/// The CPU kernel implementing `name`, or null. Sessions find kernels through
/// their Device (Device.h), by op and element type.
const Kernel *findCpuKernel(std::string_view name);
/// The names of all CPU kernels, sorted (for `sp-run --version` and tests).
std::vector<std::string> cpuKernelNames();
/// Sets how many threads the CPU kernels (and the BLAS under them) use from
/// now on in this process.
void setCpuKernelThreads(int threads);
/// How many threads the CPU kernels use.
int cpuKernelThreads();

} // namespace sp::runtime

#endif // SP_RUNTIME_KERNEL_H
