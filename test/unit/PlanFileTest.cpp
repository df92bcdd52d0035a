#include "RuntimeTestSupport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <unistd.h>

using namespace sp::runtime;

namespace {

class PlanFileTest : public sp::test::ScratchDirectoryTest {
protected:
  std::string readBytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  void writeBytes(const std::string &path, const std::string &bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  /// Writes a small valid plan to `path` and returns its bytes.
  std::string writeGoodPlan(const std::string &path) {
    sp::plan::Plan plan = samplePlan();
    std::string error;
    EXPECT_TRUE(writePlanFiles(path, plan, "abcdefgh", 8, error)) << error;
    return readBytes(path);
  }
  static sp::plan::Plan samplePlan() {
    sp::plan::Plan plan;
    plan.set_producer("sp-compile test");
    plan.set_world_size(1);
    plan.set_arena_bytes(256);
    plan.set_alignment(64);
    sp::plan::Tensor *tensor = plan.add_tensors();
    tensor->set_dtype(sp::plan::F32);
    tensor->add_shape(2);
    tensor->add_shape(3);
    tensor->set_placement(sp::plan::ARENA);
    tensor->set_name("x");
    sp::plan::Instruction *instruction = plan.add_instructions();
    instruction->set_kernel("fill");
    instruction->add_outputs(0);
    (*instruction->mutable_attributes())["value"].set_f(1.5);
    instruction->set_location("node 'n' (ConstantOfShape)");
    sp::plan::Binding *output = plan.add_outputs();
    output->set_name("x");
    output->set_tensor(0);
    plan.set_loss(-1);
    return plan;
  }
};

TEST_F(PlanFileTest, RoundTripsThePlanAndWritesTheSidecar) {
  sp::plan::Plan written = samplePlan(), read;
  std::string error;
  const char sidecar[] = "0123456789";
  ASSERT_TRUE(writePlanFiles(file("a.spplan"), written, sidecar, 10, error)) << error;
  EXPECT_EQ(written.weights().file(), "a.spplan.weights");
  EXPECT_EQ(written.weights().size(), 10u);
  SidecarChecksum checksum;
  checksum.update(sidecar, 10);
  EXPECT_EQ(written.weights().checksum(), checksum.value());
  EXPECT_EQ(readBytes(file("a.spplan.weights")), "0123456789");

  ASSERT_TRUE(readPlanFile(file("a.spplan"), read, error)) << error;
  EXPECT_EQ(read.SerializeAsString(), written.SerializeAsString());
  EXPECT_EQ(read.instructions(0).attributes().at("value").f(), 1.5);

  std::string bytes = readBytes(file("a.spplan"));
  ASSERT_GE(bytes.size(), 28u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("SPPLAN\r\n"));
  EXPECT_EQ(bytes[8], 2); // format version, little-endian
  // No temporaries are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            2);
}

TEST_F(PlanFileTest, EmptySidecarRoundTrips) {
  sp::plan::Plan plan = samplePlan(), read;
  std::string error;
  ASSERT_TRUE(writePlanFiles(file("a.spplan"), plan, nullptr, 0, error)) << error;
  EXPECT_EQ(std::filesystem::file_size(file("a.spplan.weights")), 0u);
  ASSERT_TRUE(readPlanFile(file("a.spplan"), read, error)) << error;
  EXPECT_EQ(read.weights().size(), 0u);
}

TEST_F(PlanFileTest, RefusesMissingEmptyAndDirectory) {
  sp::plan::Plan plan;
  std::string error;
  EXPECT_FALSE(readPlanFile(file("missing.spplan"), plan, error));
  EXPECT_EQ(error, file("missing.spplan") + ": cannot open: No such file or directory");
  writeBytes(file("empty.spplan"), "");
  EXPECT_FALSE(readPlanFile(file("empty.spplan"), plan, error));
  EXPECT_EQ(error, file("empty.spplan") + ": file is empty, not a plan file");
  EXPECT_FALSE(readPlanFile(dir.string(), plan, error));
  EXPECT_EQ(error, dir.string() + ": is a directory, not a plan file");
}

TEST_F(PlanFileTest, RefusesForeignFiles) {
  sp::plan::Plan plan;
  std::string error;
  writeBytes(file("text.spplan"), "hello, not a plan\n");
  EXPECT_FALSE(readPlanFile(file("text.spplan"), plan, error));
  EXPECT_EQ(error, file("text.spplan") + ": not a plan file (bad magic)");
  writeBytes(file("short.spplan"), "SPP");
  EXPECT_FALSE(readPlanFile(file("short.spplan"), plan, error));
  EXPECT_EQ(error, file("short.spplan") + ": not a plan file (bad magic)");
  // A plan that went through a text-mode transfer (\r\n -> \n).
  std::string good = writeGoodPlan(file("good.spplan"));
  writeBytes(file("mangled.spplan"), "SPPLAN\n" + good.substr(8));
  EXPECT_FALSE(readPlanFile(file("mangled.spplan"), plan, error));
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;
}

TEST_F(PlanFileTest, RefusesTruncatedPlans) {
  std::string good = writeGoodPlan(file("good.spplan"));
  sp::plan::Plan plan;
  std::string error;
  writeBytes(file("header.spplan"), good.substr(0, 12));
  EXPECT_FALSE(readPlanFile(file("header.spplan"), plan, error));
  EXPECT_EQ(error, file("header.spplan") + ": truncated header (12 bytes; a plan header is 28)");
  writeBytes(file("payload.spplan"), good.substr(0, good.size() - 5));
  EXPECT_FALSE(readPlanFile(file("payload.spplan"), plan, error));
  EXPECT_EQ(error, file("payload.spplan") + ": truncated: the header announces " +
                       std::to_string(good.size() - 28) + " plan bytes, the file holds " +
                       std::to_string(good.size() - 33));
  writeBytes(file("long.spplan"), good + "xyz");
  EXPECT_FALSE(readPlanFile(file("long.spplan"), plan, error));
  EXPECT_EQ(error, file("long.spplan") + ": 3 unexpected bytes after the plan (corrupt file?)");
}

TEST_F(PlanFileTest, RefusesOtherFormatVersions) {
  std::string bytes = writeGoodPlan(file("good.spplan"));
  bytes[8] = 3;
  writeBytes(file("v3.spplan"), bytes);
  sp::plan::Plan plan;
  std::string error;
  EXPECT_FALSE(readPlanFile(file("v3.spplan"), plan, error));
  EXPECT_EQ(error, file("v3.spplan") + ": plan format version 3; this runtime reads version 2 "
                                       "(recompile with sp-compile " SP_VERSION ")");
  // A version-1 plan (20-byte header, no checksum) says its version too.
  std::string v1 = bytes.substr(0, 20) + bytes.substr(28);
  v1[8] = 1;
  writeBytes(file("v1.spplan"), v1);
  EXPECT_FALSE(readPlanFile(file("v1.spplan"), plan, error));
  EXPECT_EQ(error, file("v1.spplan") + ": plan format version 1; this runtime reads version 2 "
                                       "(recompile with sp-compile " SP_VERSION ")");
}

TEST_F(PlanFileTest, RefusesEveryFlippedBit) {
  std::string good = writeGoodPlan(file("good.spplan"));
  sp::plan::Plan plan;
  std::string error;
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string flipped = good;
    flipped[bit / 8] = char(flipped[bit / 8] ^ (1 << (bit % 8)));
    writeBytes(file("flipped.spplan"), flipped);
    EXPECT_FALSE(readPlanFile(file("flipped.spplan"), plan, error)) << "bit " << bit;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST_F(PlanFileTest, RefusesUnparsablePayloads) {
  // Field 1 with wire type 7, which does not exist.
  std::string payload = "\x0f\x01\x02";
  SidecarChecksum checksum;
  checksum.update(payload.data(), payload.size());
  std::string bytes = "SPPLAN\r\n";
  bytes += std::string("\x02\x00\x00\x00", 4);
  bytes += std::string(1, char(payload.size())) + std::string(7, '\0');
  for (int i = 0; i < 8; ++i)
    bytes += char((checksum.value() >> (8 * i)) & 0xff);
  bytes += payload;
  writeBytes(file("bad.spplan"), bytes);
  sp::plan::Plan plan;
  std::string error;
  EXPECT_FALSE(readPlanFile(file("bad.spplan"), plan, error));
  EXPECT_EQ(error, file("bad.spplan") + ": the plan message does not parse (corrupt file?)");
}

TEST_F(PlanFileTest, FailedWriteLeavesThePreviousFiles) {
  std::string good = writeGoodPlan(file("a.spplan"));
  std::string sidecar = readBytes(file("a.spplan.weights"));
  // The staging file's name is taken by a folder: the write must fail.
  std::filesystem::create_directories(file("a.spplan.staged"));
  sp::plan::Plan plan = samplePlan();
  plan.set_producer("another");
  std::string error;
  EXPECT_FALSE(writePlanFiles(file("a.spplan"), plan, "ZZZZ", 4, error));
  EXPECT_NE(error.find(file("a.spplan")), std::string::npos) << error;
  EXPECT_EQ(readBytes(file("a.spplan")), good);
  EXPECT_EQ(readBytes(file("a.spplan.weights")), sidecar);

  EXPECT_FALSE(writePlanFiles(file("no-such-dir/a.spplan"), plan, "", 0, error));
  EXPECT_NE(error.find("no-such-dir/a.spplan.weights: cannot write"), std::string::npos) << error;
}

TEST_F(PlanFileTest, ChecksumIsIndependentOfChunking) {
  std::mt19937_64 random(7);
  std::vector<unsigned char> data(100003);
  for (unsigned char &byte : data)
    byte = static_cast<unsigned char>(random());
  SidecarChecksum whole;
  whole.update(data.data(), data.size());
  for (int trial = 0; trial < 20; ++trial) {
    SidecarChecksum pieces;
    size_t at = 0;
    while (at < data.size()) {
      size_t size = std::min<size_t>(random() % 97, data.size() - at);
      pieces.update(data.data() + at, size);
      at += size;
    }
    EXPECT_EQ(pieces.value(), whole.value());
  }
}

TEST_F(PlanFileTest, ChecksumSeesEveryChange) {
  std::vector<unsigned char> data(4096, 0);
  auto checksum = [](const std::vector<unsigned char> &bytes) {
    SidecarChecksum sum;
    sum.update(bytes.data(), bytes.size());
    return sum.value();
  };
  uint64_t base = checksum(data);
  // Pinned (and checked against a Python model of the definition in
  // PlanFile.cpp), so that a change of the algorithm, which would make every
  // plan on disk unreadable, cannot pass unnoticed.
  SidecarChecksum empty;
  EXPECT_EQ(empty.value(), checksum({}));
  std::vector<unsigned char> counting(1000);
  for (size_t i = 0; i < counting.size(); ++i)
    counting[i] = static_cast<unsigned char>(i * 7);
  EXPECT_EQ(empty.value(), 0x9cbe02f245a124b4ull);
  EXPECT_EQ(checksum(counting), 0x464a759e7594d1e6ull);
  std::set<uint64_t> seen = {base};
  for (size_t bit = 0; bit < data.size() * 8; bit += 61) {
    std::vector<unsigned char> flipped = data;
    flipped[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
    EXPECT_TRUE(seen.insert(checksum(flipped)).second) << "bit " << bit;
  }
  // Trailing zeros and swapped words change it too.
  std::vector<unsigned char> longer = data;
  longer.push_back(0);
  EXPECT_NE(checksum(longer), base);
  std::vector<unsigned char> words(16);
  for (int i = 0; i < 16; ++i)
    words[i] = static_cast<unsigned char>(i);
  std::vector<unsigned char> swapped(words.begin() + 8, words.end());
  swapped.insert(swapped.end(), words.begin(), words.begin() + 8);
  EXPECT_NE(checksum(words), checksum(swapped));
}

} // namespace
