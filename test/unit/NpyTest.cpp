#include "sp/runtime/Npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace sp::runtime;

namespace {

class NpyTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("sp-npy-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string file(const std::string &name) const { return (dir / name).string(); }
  void writeBytes(const std::string &path, const std::string &bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
  }

  std::filesystem::path dir;
};

NpyArray makeFloats(std::vector<int64_t> shape) {
  NpyArray array;
  array.dtype = DType::Float32;
  array.shape = shape;
  std::vector<float> values(array.numElements());
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = 0.5f * float(i) - 3.0f;
  array.data.resize(values.size() * sizeof(float));
  std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

TEST_F(NpyTest, RoundTripsShapesAndValues) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{}, {5}, {2, 3}, {2, 0, 4}}) {
    NpyArray written = makeFloats(shape), read;
    std::string error;
    ASSERT_TRUE(writeNpy(file("a.npy"), written, error)) << error;
    ASSERT_TRUE(readNpy(file("a.npy"), read, error)) << error;
    EXPECT_EQ(read.shape, shape);
    EXPECT_EQ(read.dtype, DType::Float32);
    EXPECT_EQ(read.data, written.data);
  }
}

TEST_F(NpyTest, DataStartsAt64ByteBoundary) {
  std::string error;
  ASSERT_TRUE(writeNpy(file("a.npy"), makeFloats({3}), error)) << error;
  // 3 float32 values follow a header padded to a multiple of 64 bytes.
  EXPECT_EQ((std::filesystem::file_size(file("a.npy")) - 12u) % 64u, 0u);
}

TEST_F(NpyTest, RefusesEmptyFile) {
  writeBytes(file("empty.npy"), "");
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(file("empty.npy"), array, error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
}

TEST_F(NpyTest, RefusesMissingFile) {
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(file("missing.npy"), array, error));
  EXPECT_NE(error.find("missing.npy: cannot open"), std::string::npos) << error;
}

TEST_F(NpyTest, RefusesForeignFile) {
  writeBytes(file("text.npy"), "this is not numpy data at all");
  NpyArray array;
  std::string error;
  EXPECT_FALSE(readNpy(file("text.npy"), array, error));
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;
}

TEST_F(NpyTest, RefusesTruncatedData) {
  std::string error;
  ASSERT_TRUE(writeNpy(file("a.npy"), makeFloats({4, 4}), error)) << error;
  std::filesystem::resize_file(file("a.npy"),
                               std::filesystem::file_size(file("a.npy")) - 24);
  NpyArray array;
  EXPECT_FALSE(readNpy(file("a.npy"), array, error));
  EXPECT_NE(error.find("truncated"), std::string::npos) << error;
  EXPECT_NE(error.find("4x4"), std::string::npos) << error;
}

TEST_F(NpyTest, RefusesTruncatedHeader) {
  std::string error;
  ASSERT_TRUE(writeNpy(file("a.npy"), makeFloats({4}), error)) << error;
  std::filesystem::resize_file(file("a.npy"), 30);
  NpyArray array;
  EXPECT_FALSE(readNpy(file("a.npy"), array, error));
  EXPECT_NE(error.find("truncated header"), std::string::npos) << error;
}

TEST_F(NpyTest, RefusesUnsupportedDtypeAndFortranOrder) {
  auto header = [](const std::string &dict) {
    std::string text = dict;
    text.append((64 - (10 + text.size() + 1) % 64) % 64, ' ');
    text.push_back('\n');
    std::string bytes = "\x93NUMPY\x01";
    bytes.push_back('\0');
    bytes.push_back(char(text.size()));
    bytes.push_back('\0');
    return bytes + text;
  };
  NpyArray array;
  std::string error;
  writeBytes(file("c.npy"), header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }") +
                                std::string(8, '\0'));
  EXPECT_FALSE(readNpy(file("c.npy"), array, error));
  EXPECT_NE(error.find("unsupported dtype '<c8'"), std::string::npos) << error;
  writeBytes(file("f.npy"), header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") +
                                std::string(4, '\0'));
  EXPECT_FALSE(readNpy(file("f.npy"), array, error));
  EXPECT_NE(error.find("Fortran"), std::string::npos) << error;
}

TEST_F(NpyTest, FailedWriteKeepsPreviousFile) {
  std::string error;
  NpyArray good = makeFloats({3});
  ASSERT_TRUE(writeNpy(file("a.npy"), good, error)) << error;
  // A data size that disagrees with the shape is refused before anything is
  // written, and the good file stays.
  NpyArray bad = makeFloats({3});
  bad.shape = {4};
  EXPECT_FALSE(writeNpy(file("a.npy"), bad, error));
  NpyArray read;
  ASSERT_TRUE(readNpy(file("a.npy"), read, error)) << error;
  EXPECT_EQ(read.data, good.data);
  // Writing into a directory that does not exist fails cleanly.
  EXPECT_FALSE(writeNpy(file("no/such/dir/a.npy"), good, error));
  EXPECT_NE(error.find("cannot write"), std::string::npos) << error;
}

} // namespace
