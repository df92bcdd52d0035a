//===- LoopbackCommunicator.h - ranks that are threads of one process -----===//
//
// A Communicator for tests: N ranks run as N threads of the test and
// exchange through shared memory, so that collective kernels and sessions on
// several ranks run without MPI. Every operation completes at its start,
// once all ranks have posted it (a valid, if eager, implementation).
//
//===----------------------------------------------------------------------===//
#ifndef SP_TEST_UNIT_LOOPBACKCOMMUNICATOR_H
#define SP_TEST_UNIT_LOOPBACKCOMMUNICATOR_H

#include "sp/runtime/Collectives.h"

#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace sp::test {

using sp::runtime::CollectiveRequest;
using sp::runtime::Communicator;
using sp::runtime::DType;
using sp::runtime::dtypeSize;

/// What the ranks of a loopback group share: each rank's buffers, and a
/// barrier. Every operation completes at its start, once all ranks posted it.
class LoopbackGroup {
public:
  explicit LoopbackGroup(int size) : size(size), sends(size_t(size)) {}

  void barrier() {
    std::unique_lock<std::mutex> lock(mutex);
    int64_t generation = generation_;
    if (++arrived == size) {
      arrived = 0;
      ++generation_;
      changed.notify_all();
      return;
    }
    changed.wait(lock, [&] { return generation_ != generation; });
  }

  const int size;
  std::vector<const char *> sends;

private:
  std::mutex mutex;
  std::condition_variable changed;
  int arrived = 0;
  int64_t generation_ = 0;
};

class LoopbackCommunicator final : public Communicator {
public:
  LoopbackCommunicator(LoopbackGroup &group, int rank) : group(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group.size; }
  const char *backend() const override { return "loopback"; }

  std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &) override {
    return exchange(
        send,
        [&](int q, const char *sent, size_t bytes) {
          std::memcpy(static_cast<char *>(receive) + q * bytes, sent, bytes);
        },
        count, dtype);
  }
  std::string startReduceScatter(const void *send, void *receive, int64_t count, DType dtype,
                                 CollectiveRequest &) override {
    std::memset(receive, 0, size_t(count * dtypeSize(dtype)));
    return exchange(
        send,
        [&](int, const char *sent, size_t bytes) {
          accumulate(receive, sent + rank_ * bytes, count, dtype);
        },
        count, dtype);
  }
  std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &) override {
    std::memset(receive, 0, size_t(count * dtypeSize(dtype)));
    return exchange(
        send, [&](int, const char *sent, size_t) { accumulate(receive, sent, count, dtype); },
        count, dtype);
  }
  std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype,
                            int groupSize, CollectiveRequest &) override {
    int first = rank_ / groupSize * groupSize;
    return exchange(
        send,
        [&](int q, const char *sent, size_t bytes) {
          if (q >= first && q < first + groupSize)
            std::memcpy(static_cast<char *>(receive) + (q - first) * bytes,
                        sent + (rank_ - first) * bytes, bytes);
        },
        count, dtype);
  }
  std::string startSendReceive(const void *send, int, void *receive, int source, int64_t count,
                               DType dtype, CollectiveRequest &) override {
    return exchange(
        send,
        [&](int q, const char *sent, size_t bytes) {
          if (q == source)
            std::memcpy(receive, sent, bytes);
        },
        count, dtype);
  }
  std::string wait(CollectiveRequest &request) override {
    request = {};
    return "";
  }
  [[noreturn]] void abort(int exitCode) override { std::exit(exitCode); }

private:
  /// Publishes `send`, lets `take` read every rank's, and waits until all
  /// ranks are done reading.
  template <typename Take>
  std::string exchange(const void *send, Take &&take, int64_t count, DType dtype) {
    group.sends[size_t(rank_)] = static_cast<const char *>(send);
    group.barrier();
    for (int q = 0; q < group.size; ++q)
      take(q, group.sends[size_t(q)], size_t(count * dtypeSize(dtype)));
    group.barrier();
    return "";
  }
  static void accumulate(void *sum, const char *term, int64_t count, DType dtype) {
    auto add = [&](auto zero) {
      using T = decltype(zero);
      for (int64_t i = 0; i < count; ++i) {
        T value;
        std::memcpy(&value, term + i * sizeof(T), sizeof(T));
        static_cast<T *>(sum)[i] += value;
      }
    };
    if (dtype == DType::Float64)
      add(double());
    else if (dtype == DType::Int64)
      add(int64_t());
    else if (dtype == DType::Int32)
      add(int32_t());
    else
      add(float());
  }

  LoopbackGroup &group;
  int rank_;
};

} // namespace sp::test

#endif // SP_TEST_UNIT_LOOPBACKCOMMUNICATOR_H
