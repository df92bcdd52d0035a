//===- CpuDevice.cpp - the CPU as a device --------------------------------===//
//
// Memory is host memory; the compute stream is the calling thread, so a
// kernel's work is done when its `run` returns and an event recorded there is
// complete at once. Host streams are threads of their own: the communication
// stream drives MPI's nonblocking operations beside the compute stream, which
// OpenMPI without a progress thread would otherwise advance only inside MPI
// calls, that is, not while a kernel computes.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/runtime/Device.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <set>
#include <thread>

namespace sp::runtime {

Event::~Event() = default;
Stream::~Stream() = default;
Device::~Device() = default;

namespace cpu {

namespace {

/// Completes once, from any thread.
class CpuEvent final : public Event {
public:
  explicit CpuEvent(bool completed = false) : completed_(completed) {}

  bool query() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return completed_;
  }

  bool synchronize(double timeoutSeconds) override {
    std::unique_lock<std::mutex> lock(mutex_);
    auto done = [this] { return completed_; };
    if (timeoutSeconds < 0) {
      completed_changed_.wait(lock, done);
      return true;
    }
    return completed_changed_.wait_for(lock, std::chrono::duration<double>(timeoutSeconds), done);
  }

  void complete() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completed_ = true;
    }
    completed_changed_.notify_all();
  }

private:
  mutable std::mutex mutex_;
  std::condition_variable completed_changed_;
  bool completed_;
};

std::shared_ptr<CpuEvent> completedEvent() { return std::make_shared<CpuEvent>(true); }

/// The compute stream: work runs on the calling thread as it is enqueued.
class CallingThreadStream final : public Stream {
public:
  const std::string &name() const override { return name_; }
  std::shared_ptr<Event> record() override { return completedEvent(); }
  void waitFor(std::shared_ptr<Event> event) override {
    if (event)
      event->synchronize(-1);
  }
  void synchronize() override {}

private:
  std::string name_ = "compute";
};

/// A thread that runs host tasks: they start in order, and those in flight
/// take turns until each says it is done.
class WorkerStream final : public HostStream {
public:
  explicit WorkerStream(std::string name) : name_(std::move(name)) {
    thread_ = std::thread([this] { loop(); });
  }

  ~WorkerStream() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  const std::string &name() const override { return name_; }

  void enqueue(Task task) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      unfinished_.insert(enqueued_);
      queue_.push_back(Item{std::move(task), nullptr, enqueued_++});
    }
    changed_.notify_all();
  }

  std::shared_ptr<Event> record() override {
    auto event = std::make_shared<CpuEvent>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (enqueued_ == finishedBelow())
        event->complete();
      else
        markers_.push_back({enqueued_, event});
    }
    return event;
  }

  void waitFor(std::shared_ptr<Event> event) override {
    if (!event || event->query())
      return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(Item{nullptr, std::move(event), -1});
    }
    changed_.notify_all();
  }

  void synchronize() override { record()->synchronize(-1); }

private:
  struct Item {
    Task task;                    // a task, or
    std::shared_ptr<Event> after; // a wait: later items start after it
    int64_t sequence; // tasks only: their place in the stream
  };
  struct Running {
    Task task;
    int64_t sequence;
  };
  struct Marker {
    int64_t tasksBefore;
    std::shared_ptr<CpuEvent> event;
  };

  /// Every task below this sequence number is done. Under the mutex.
  int64_t finishedBelow() const {
    return unfinished_.empty() ? enqueued_ : *unfinished_.begin();
  }

  void completeMarkers() {
    int64_t below = finishedBelow();
    auto reached = std::partition(markers_.begin(), markers_.end(),
                                  [&](const Marker &marker) { return marker.tasksBefore > below; });
    for (auto it = reached; it != markers_.end(); ++it)
      it->event->complete();
    markers_.erase(reached, markers_.end());
  }

  void loop() {
    // How long to sleep when tasks are in flight and none finished: short,
    // so that a transfer that completes is noticed soon, growing so that
    // polling does not take a core the compute stream needs.
    constexpr auto kShortestNap = std::chrono::microseconds(2);
    constexpr auto kLongestNap = std::chrono::microseconds(200);
    auto nap = kShortestNap;
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      // Start what may start, in order.
      while (!queue_.empty()) {
        Item &front = queue_.front();
        if (front.after) {
          if (!front.after->query())
            break;
          queue_.pop_front();
          continue;
        }
        running_.push_back({std::move(front.task), front.sequence});
        queue_.pop_front();
      }
      if (running_.empty()) {
        completeMarkers();
        if (stopping_ && queue_.empty())
          return;
        if (queue_.empty()) {
          changed_.wait(lock);
        } else {
          // Blocked on another stream's event.
          lock.unlock();
          std::this_thread::sleep_for(nap);
          nap = std::min(nap * 2, kLongestNap);
          lock.lock();
        }
        continue;
      }
      // Give each task in flight a turn, outside the lock.
      std::list<Running> turn;
      turn.swap(running_);
      lock.unlock();
      std::vector<int64_t> finished;
      for (auto it = turn.begin(); it != turn.end();) {
        if (it->task()) {
          finished.push_back(it->sequence);
          it = turn.erase(it);
        } else {
          ++it;
        }
      }
      bool anyFinished = !finished.empty();
      lock.lock();
      for (int64_t sequence : finished)
        unfinished_.erase(sequence);
      running_.splice(running_.begin(), turn);
      completeMarkers();
      if (anyFinished) {
        nap = kShortestNap;
      } else if (!running_.empty()) {
        lock.unlock();
        std::this_thread::sleep_for(nap);
        nap = std::min(nap * 2, kLongestNap);
        lock.lock();
      }
    }
  }

  std::string name_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::list<Running> running_;
  std::vector<Marker> markers_;
  /// Tasks enqueued and not done, by sequence number.
  std::set<int64_t> unfinished_;
  int64_t enqueued_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

/// Runs `work` in order on `stream`: now on the compute stream, as a task on
/// a host stream.
void runOn(Stream &stream, std::function<void()> work) {
  if (auto *host = dynamic_cast<HostStream *>(&stream)) {
    host->enqueue([work = std::move(work)] {
      work();
      return true;
    });
    return;
  }
  work();
}

class CpuDevice final : public Device {
public:
  const std::string &name() const override { return name_; }

  std::string describe() const override {
    return std::to_string(cpuKernelThreads()) + " threads, OpenMP and OpenBLAS";
  }

  void *allocate(uint64_t bytes, uint64_t alignment, std::string &error) override {
    uint64_t rounded;
    bool powerOfTwo = alignment != 0 && (alignment & (alignment - 1)) == 0;
    // At least a cache line, for the widest vector loads.
    alignment = std::max<uint64_t>(alignment, 64);
    if (!powerOfTwo ||
        __builtin_add_overflow(std::max<uint64_t>(bytes, 1), alignment - 1, &rounded) ||
        rounded > std::numeric_limits<size_t>::max()) {
      error = "cannot allocate " + std::to_string(bytes) + " bytes aligned to " +
              std::to_string(alignment);
      return nullptr;
    }
    rounded = rounded / alignment * alignment;
    void *memory = nullptr;
    if (::posix_memalign(&memory, size_t(alignment), size_t(rounded)) != 0) {
      error = "cannot allocate " + std::to_string(bytes) + " bytes";
      return nullptr;
    }
    return memory;
  }

  void deallocate(void *memory) override { std::free(memory); }

  Stream &computeStream() override { return compute_; }

  std::unique_ptr<HostStream> createHostStream(const std::string &name) override {
    return std::make_unique<WorkerStream>(name);
  }

  void copyToDevice(void *device, const void *host, uint64_t bytes, Stream &stream) override {
    runOn(stream, [=] { std::memcpy(device, host, size_t(bytes)); });
  }
  void copyToHost(void *host, const void *device, uint64_t bytes, Stream &stream) override {
    runOn(stream, [=] { std::memcpy(host, device, size_t(bytes)); });
  }
  void copyOnDevice(void *to, const void *from, uint64_t bytes, Stream &stream) override {
    runOn(stream, [=] { std::memmove(to, from, size_t(bytes)); });
  }
  void fillZero(void *device, uint64_t bytes, Stream &stream) override {
    runOn(stream, [=] { std::memset(device, 0, size_t(bytes)); });
  }

  const Kernel *findKernel(std::string_view op, DType elementType) const override {
    const Kernel *kernel = findCpuKernel(op);
    if (kernel && kernel->elementTypes != 0 &&
        (kernel->elementTypes & elementTypeBit(elementType)) == 0)
      return nullptr;
    return kernel;
  }

  std::vector<std::string> kernelNames() const override { return cpuKernelNames(); }

  void setThreads(int threads) override { setCpuKernelThreads(threads); }

private:
  std::string name_ = "cpu";
  CallingThreadStream compute_;
};

} // namespace

std::unique_ptr<Device> createCpuDevice() { return std::make_unique<CpuDevice>(); }

} // namespace cpu

std::unique_ptr<Device> createDevice(const std::string &name, std::string &error) {
  if (name == "cpu")
    return cpu::createCpuDevice();
  std::string known;
  for (const std::string &device : builtInDevices())
    known += (known.empty() ? "" : ", ") + device;
  error = "no device '" + name + "' in this build (built in: " + known + ")";
  return nullptr;
}

std::vector<std::string> builtInDevices() { return {"cpu"}; }

} // namespace sp::runtime
