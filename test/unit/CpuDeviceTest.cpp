//===- CpuDeviceTest.cpp - the CPU device: memory, streams, events, kernels ===//

#include "sp/runtime/Collectives.h"
#include "sp/runtime/Device.h"
#include "sp/runtime/Kernel.h"
#include "sp/runtime/Session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <numeric>
#include <vector>

using namespace sp::runtime;

namespace {

std::unique_ptr<Device> cpu() {
  std::string error;
  std::unique_ptr<Device> device = createDevice("cpu", error);
  EXPECT_TRUE(device) << error;
  return device;
}

TEST(CpuDeviceTest, IsBuiltInAndOthersAreRefusedWithOneLine) {
  std::vector<std::string> devices = builtInDevices();
  EXPECT_NE(std::find(devices.begin(), devices.end(), "cpu"), devices.end());
  std::string error;
  EXPECT_EQ(createDevice("tpu", error), nullptr);
  EXPECT_EQ(error, "no device 'tpu' in this build (built in: cpu)");
}

TEST(CpuDeviceTest, AllocatesAlignedMemoryEvenForZeroBytes) {
  std::unique_ptr<Device> device = cpu();
  std::string error;
  for (uint64_t alignment : {1u, 64u, 4096u}) {
    void *memory = device->allocate(0, alignment, error);
    ASSERT_NE(memory, nullptr) << error;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(memory) % std::max<uint64_t>(alignment, 64), 0u);
    device->deallocate(memory);
  }
  EXPECT_EQ(device->allocate(100, 48, error), nullptr);
  EXPECT_EQ(device->allocate(UINT64_MAX, 64, error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST(CpuDeviceTest, CopiesAndFillsInStreamOrder) {
  std::unique_ptr<Device> device = cpu();
  std::string error;
  DeviceBuffer buffer(device.get(), device->allocate(16, 64, error));
  std::vector<int32_t> in = {1, 2, 3, 4}, out(4, -1);
  Stream &compute = device->computeStream();
  device->copyToDevice(buffer.data(), in.data(), 16, compute);
  device->copyOnDevice(buffer.data() + 8, buffer.data(), 8, compute);
  device->copyToHost(out.data(), buffer.data(), 16, compute);
  compute.synchronize();
  EXPECT_EQ(out, (std::vector<int32_t>{1, 2, 1, 2}));
  device->fillZero(buffer.data(), 16, compute);
  device->copyToHost(out.data(), buffer.data(), 16, compute);
  compute.synchronize();
  EXPECT_EQ(out, (std::vector<int32_t>{0, 0, 0, 0}));

  // On a host stream the copies run on its thread, in order, before the
  // event recorded after them.
  std::unique_ptr<HostStream> side = device->createHostStream("side");
  device->copyToDevice(buffer.data(), in.data(), 16, *side);
  device->copyToHost(out.data(), buffer.data(), 16, *side);
  ASSERT_TRUE(side->record()->synchronize(10));
  EXPECT_EQ(out, in);
}

TEST(CpuDeviceTest, HostStreamStartsTasksInOrderAndInterleavesThoseInFlight) {
  std::unique_ptr<Device> device = cpu();
  std::unique_ptr<HostStream> stream = device->createHostStream("communication");
  EXPECT_EQ(stream->name(), "communication");
  std::mutex mutex;
  std::vector<std::string> log;
  auto note = [&](const std::string &entry) {
    std::lock_guard<std::mutex> lock(mutex);
    log.push_back(entry);
  };
  // A takes three turns, B one: B finishes while A is still in flight, as a
  // small collective completes while a large one is still moving.
  int turnsOfA = 0;
  stream->enqueue([&] {
    note("A" + std::to_string(turnsOfA));
    return ++turnsOfA == 3;
  });
  std::shared_ptr<Event> afterA = stream->record();
  stream->enqueue([&] {
    note("B");
    return true;
  });
  std::shared_ptr<Event> afterB = stream->record();
  ASSERT_TRUE(afterB->synchronize(10));
  // An event completes once everything before it has: A too.
  EXPECT_TRUE(afterA->query());
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "A0");
  EXPECT_EQ(log[1], "B");
  EXPECT_EQ(log[2], "A1");
  EXPECT_EQ(log[3], "A2");
}

TEST(CpuDeviceTest, AnEventOfAnEmptyStreamIsComplete) {
  std::unique_ptr<Device> device = cpu();
  std::unique_ptr<HostStream> stream = device->createHostStream("s");
  EXPECT_TRUE(stream->record()->query());
  EXPECT_TRUE(device->computeStream().record()->query());
}

TEST(CpuDeviceTest, AStreamWaitsForAnotherStreamsEvent) {
  std::unique_ptr<Device> device = cpu();
  std::unique_ptr<HostStream> first = device->createHostStream("first");
  std::unique_ptr<HostStream> second = device->createHostStream("second");
  std::atomic<bool> release{false}, firstDone{false};
  std::atomic<bool> secondSawFirst{false};
  first->enqueue([&] {
    if (!release)
      return false;
    firstDone = true;
    return true;
  });
  second->waitFor(first->record());
  second->enqueue([&] {
    secondSawFirst = firstDone.load();
    return true;
  });
  std::shared_ptr<Event> secondDone = second->record();
  // Nothing can finish until the first stream's task is released.
  EXPECT_FALSE(secondDone->synchronize(0.05));
  release = true;
  ASSERT_TRUE(secondDone->synchronize(10));
  EXPECT_TRUE(secondSawFirst);
}

TEST(CpuDeviceTest, FindsKernelsByOpAndElementType) {
  std::unique_ptr<Device> device = cpu();
  // matmul computes in float32 and float64 only.
  EXPECT_NE(device->findKernel("matmul", DType::Float32), nullptr);
  EXPECT_NE(device->findKernel("matmul", DType::Float64), nullptr);
  EXPECT_EQ(device->findKernel("matmul", DType::Int64), nullptr);
  // add takes any element type its check accepts.
  EXPECT_NE(device->findKernel("add", DType::Int64), nullptr);
  EXPECT_EQ(device->findKernel("no_such_op", DType::Float32), nullptr);
  std::vector<std::string> names = device->kernelNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names, cpuKernelNames());
}

/// A one-rank backend whose operations complete only after a number of
/// tests, as MPI's do when peers are slow.
class SlowCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char *backend() const override { return "slow"; }
  std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override {
    return post(send, receive, count * dtypeSize(dtype), request);
  }
  std::string startReduceScatter(const void *send, void *receive, int64_t count, DType dtype,
                                 CollectiveRequest &request) override {
    return post(send, receive, count * dtypeSize(dtype), request);
  }
  std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override {
    return post(send, receive, count * dtypeSize(dtype), request);
  }
  std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype, int,
                            CollectiveRequest &request) override {
    return post(send, receive, count * dtypeSize(dtype), request);
  }
  std::string startSendReceive(const void *send, int, void *receive, int, int64_t count,
                               DType dtype, CollectiveRequest &request) override {
    return post(send, receive, count * dtypeSize(dtype), request);
  }
  std::string wait(CollectiveRequest &request) override {
    std::string error;
    while (!test(request, error)) {
    }
    return error;
  }
  bool test(CollectiveRequest &request, std::string &error) override {
    error.clear();
    if (request.id < 0)
      return true;
    Pending &pending = pending_[size_t(request.id)];
    if (stuck_ || --pending.testsLeft > 0)
      return false;
    std::memcpy(pending.receive, pending.send, size_t(pending.bytes));
    request = {};
    return true;
  }
  [[noreturn]] void abort(int exitCode) override { std::exit(exitCode); }

  std::atomic<bool> stuck_{false};
  std::atomic<int> posts{0};

private:
  struct Pending {
    const void *send;
    void *receive;
    int64_t bytes;
    int testsLeft;
  };
  std::string post(const void *send, void *receive, int64_t bytes, CollectiveRequest &request) {
    pending_.push_back({send, receive, bytes, 3});
    request.id = int64_t(pending_.size() - 1);
    ++posts;
    return "";
  }
  std::vector<Pending> pending_;
};

TEST(StreamCommunicatorTest, CollectivesRunOnTheCommunicationStreamAndAreRecorded) {
  std::vector<float> send = {1, 2, 3}, receive(3, 0), other(3, 0);
  std::unique_ptr<Device> device = cpu();
  auto backend = std::make_shared<SlowCommunicator>();
  StreamCommunicator communicator(backend, *device);
  communicator.setInstruction(7);
  CollectiveRequest first, second;
  ASSERT_EQ(communicator.startAllGather(send.data(), receive.data(), 3, DType::Float32, first), "");
  communicator.setInstruction(9);
  ASSERT_EQ(communicator.startAllReduce(send.data(), other.data(), 3, DType::Float32, second), "");
  EXPECT_EQ(communicator.wait(first), "");
  EXPECT_EQ(receive, send);
  std::string error;
  while (!communicator.test(second, error)) {
  }
  EXPECT_EQ(error, "");
  EXPECT_EQ(other, send);
  std::vector<CommunicationRecord> records = communicator.takeRecords();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].instruction, 7);
  EXPECT_STREQ(records[0].kind, "all_gather");
  EXPECT_EQ(records[0].bytes, 12);
  EXPECT_EQ(records[1].instruction, 9);
  EXPECT_STREQ(records[1].kind, "all_reduce");
  for (const CommunicationRecord &record : records)
    EXPECT_LE(record.beginMicroseconds, record.endMicroseconds);
  EXPECT_TRUE(communicator.takeRecords().empty());
  // The blocking forms and agree() go through the stream too.
  EXPECT_EQ(communicator.agree(""), "");
}

TEST(StreamCommunicatorTest, AWaitThatSeesNoProgressFailsNamingTheCollective) {
  // The buffers outlive the communicator, whose stream finishes the
  // operation when it is destroyed.
  std::vector<float> send = {1}, receive = {0};
  std::unique_ptr<Device> device = cpu();
  auto backend = std::make_shared<SlowCommunicator>();
  StreamCommunicator communicator(backend, *device);
  communicator.setTimeout(0.2);
  communicator.setInstruction(12);
  backend->stuck_ = true;
  CollectiveRequest request;
  ASSERT_EQ(communicator.startAllReduce(send.data(), receive.data(), 1, DType::Float32, request),
            "");
  EXPECT_EQ(communicator.wait(request),
            "all_reduce of instruction 12 made no progress for 0.2 s on rank 0 of 1: a peer rank "
            "is stopped, hung or gone (--timeout)");
  // Let the stream finish, so that it can stop.
  backend->stuck_ = false;
}

TEST(OverlapMeasureTest, CountsCommunicationThatOverlapsComputeOnly) {
  std::vector<KernelTiming> kernels(3);
  kernels[0].startMicroseconds = 0, kernels[0].durationMicroseconds = 10;
  kernels[1].startMicroseconds = 10, kernels[1].durationMicroseconds = 5;
  kernels[1].waitsForCommunication = true; // a wait: not compute
  kernels[2].startMicroseconds = 15, kernels[2].durationMicroseconds = 10;
  std::vector<CommunicationTiming> communication(2);
  communication[0].startMicroseconds = 5, communication[0].durationMicroseconds = 10; // 5..15
  communication[1].startMicroseconds = 20, communication[1].durationMicroseconds = 10; // 20..30
  OverlapMeasure measure = measureOverlap(kernels, communication, 30);
  EXPECT_DOUBLE_EQ(measure.stepMicroseconds, 30);
  EXPECT_DOUBLE_EQ(measure.communicationMicroseconds, 20);
  // 5..10 under kernel 0, nothing under the wait, 20..25 under kernel 2.
  EXPECT_DOUBLE_EQ(measure.hiddenMicroseconds, 10);

  // Collectives in flight together busy the lane once: 2..12 and 4..8 are
  // 10 us of communication, 8 of them (2..10) under kernel 0.
  communication[0].startMicroseconds = 2, communication[0].durationMicroseconds = 10;
  communication[1].startMicroseconds = 4, communication[1].durationMicroseconds = 4;
  measure = measureOverlap(kernels, communication, 30);
  EXPECT_DOUBLE_EQ(measure.communicationMicroseconds, 10);
  EXPECT_DOUBLE_EQ(measure.hiddenMicroseconds, 8);
}

} // namespace
