//===- Device.h - where a plan's tensors live and its kernels run -*- C++ -*-===//
//
// A Device is the runtime's whole view of one processor (IREE's HAL device,
// ONNX Runtime's execution provider, kept small): an allocator, streams of
// ordered work with events between them, copies between host memory and the
// device's, and a kernel registry keyed by op and element type. The session
// never touches tensor bytes itself; it asks its device.
//
// Streams order work: what is enqueued on one stream runs in order. An event
// recorded on a stream completes once everything enqueued there before it
// has; another stream (or the host) waits for it. That is how collectives
// overlap compute: a `*_start` records an event on the compute stream, the
// communication stream waits for it and runs the collective, and the `wait`
// makes the compute stream wait for the collective's event.
//
// The CPU device (runtime/lib/cpu/CpuDevice.cpp) is the reference every
// other device is tested against. Its compute stream is the calling thread:
// work runs as it is enqueued. A worker stream is a thread of its own that
// runs host tasks in order; the communication stream is one.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_DEVICE_H
#define SP_RUNTIME_DEVICE_H

#include "sp/runtime/Npy.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sp::runtime {

struct Kernel;

/// A point in a stream's work. Thread-safe.
class Event {
public:
  virtual ~Event();
  /// Whether the work before the event has completed.
  virtual bool query() const = 0;
  /// Blocks the calling thread until the event completes, or `timeoutSeconds`
  /// pass (negative: no limit). Returns whether it completed.
  virtual bool synchronize(double timeoutSeconds = -1) = 0;
};

/// Work that runs in order.
class Stream {
public:
  virtual ~Stream();
  /// "compute" or "communication", for traces and messages.
  virtual const std::string &name() const = 0;
  /// An event that completes once everything enqueued so far has.
  virtual std::shared_ptr<Event> record() = 0;
  /// Work enqueued from now on starts after `event` completes.
  virtual void waitFor(std::shared_ptr<Event> event) = 0;
  /// Blocks the calling thread until everything enqueued so far has run.
  virtual void synchronize() = 0;
};

/// A stream that runs host functions: the CPU device's streams, and the
/// host side of any device (MPI progress, staging). A task returns true
/// once it is done; until then the stream calls it again, after the other
/// tasks in flight have had their turn, so that one stream can drive several
/// nonblocking operations at once. Tasks start in the order enqueued; an
/// event completes once every task enqueued before it is done.
class HostStream : public Stream {
public:
  using Task = std::function<bool()>;
  virtual void enqueue(Task task) = 0;
};

/// One processor: memory, streams, copies and kernels.
class Device {
public:
  virtual ~Device();
  /// "cpu" or "cuda".
  virtual const std::string &name() const = 0;
  /// What it is, for --version and reports, e.g. "2 threads, OpenMP and
  /// OpenBLAS".
  virtual std::string describe() const = 0;

  /// `bytes` of device memory aligned to `alignment` (a power of two), or
  /// null with `error` set. At least one byte is allocated, so every
  /// allocation has an address.
  virtual void *allocate(uint64_t bytes, uint64_t alignment, std::string &error) = 0;
  virtual void deallocate(void *memory) = 0;

  /// The stream kernels run on.
  virtual Stream &computeStream() = 0;
  /// A new stream of host tasks (the communication stream), running beside
  /// the compute stream.
  virtual std::unique_ptr<HostStream> createHostStream(const std::string &name) = 0;

  // Copies are ordered on `stream`; bytes never overlap.
  virtual void copyToDevice(void *device, const void *host, uint64_t bytes, Stream &stream) = 0;
  virtual void copyToHost(void *host, const void *device, uint64_t bytes, Stream &stream) = 0;
  virtual void copyOnDevice(void *to, const void *from, uint64_t bytes, Stream &stream) = 0;
  virtual void fillZero(void *device, uint64_t bytes, Stream &stream) = 0;

  /// The kernel implementing graph op `op` (without the "graph." prefix) for
  /// tensors of `elementType` (an instruction's first input's, or its first
  /// output's when it has no input), or null.
  virtual const Kernel *findKernel(std::string_view op, DType elementType) const = 0;
  /// The ops this device has a kernel for, sorted.
  virtual std::vector<std::string> kernelNames() const = 0;
  /// How many threads (CPU) the kernels use from now on.
  virtual void setThreads(int threads) = 0;
};

/// The device named `name` ("cpu"; "cuda" when built in and a GPU is
/// present), or null with `error` set to one line.
std::unique_ptr<Device> createDevice(const std::string &name, std::string &error);
/// The devices this build has, for --version and --device.
std::vector<std::string> builtInDevices();

/// Owns device memory: frees it through its device.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(Device *device, void *data) : device_(device), data_(data) {}
  DeviceBuffer(DeviceBuffer &&other) noexcept { *this = std::move(other); }
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept {
    if (this != &other) {
      release();
      device_ = other.device_;
      data_ = other.data_;
      other.data_ = nullptr;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;
  ~DeviceBuffer() { release(); }
  char *data() const { return static_cast<char *>(data_); }

private:
  void release() {
    if (data_ && device_)
      device_->deallocate(data_);
    data_ = nullptr;
  }
  Device *device_ = nullptr;
  void *data_ = nullptr;
};

} // namespace sp::runtime

#endif // SP_RUNTIME_DEVICE_H
