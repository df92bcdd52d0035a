#include "RuntimeTestSupport.h"

#include "sp/plan/plan.pb.h"
#include "sp/runtime/Files.h"
#include "sp/runtime/PlanFile.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace sp::runtime;

namespace {

class FilesTest : public sp::test::ScratchDirectoryTest {};

bool writeText(const std::string &path, const std::string &text, std::string &error) {
  return writeFileAtomically(
      path,
      [&](std::ostream &out) {
        out << text;
        return true;
      },
      error);
}

bool isCharacterDevice(const std::string &path) {
  struct stat status;
  return ::stat(path.c_str(), &status) == 0 && S_ISCHR(status.st_mode);
}

TEST_F(FilesTest, RegularFilesAreReplacedWhole) {
  std::string error;
  ASSERT_TRUE(writeText(file("a.txt"), "first", error)) << error;
  ASSERT_TRUE(writeText(file("a.txt"), "second", error)) << error;
  std::ifstream in(file("a.txt"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "second");
}

// Renaming a temporary over /dev/null (as root) would replace the device.
TEST_F(FilesTest, DevicesAreWrittenInPlace) {
  ASSERT_TRUE(isCharacterDevice("/dev/null"));
  std::string error;
  EXPECT_TRUE(writeText("/dev/null", "discarded", error)) << error;
  EXPECT_TRUE(isCharacterDevice("/dev/null"));
}

TEST_F(FilesTest, FifosAreWrittenInPlace) {
  std::string fifo = file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(in), {});
  });
  std::string error;
  EXPECT_TRUE(writeText(fifo, "through the pipe", error)) << error;
  reader.join();
  EXPECT_EQ(received, "through the pipe");
  struct stat status;
  ASSERT_EQ(::stat(fifo.c_str(), &status), 0);
  EXPECT_TRUE(S_ISFIFO(status.st_mode));
}

TEST_F(FilesTest, DirectoriesAreAnError) {
  std::string error;
  EXPECT_FALSE(writeText(dir.string(), "x", error));
  EXPECT_EQ(error, dir.string() + ": is a directory, not a file");
  EXPECT_TRUE(std::filesystem::is_directory(dir));
}

TEST_F(FilesTest, PlansToDevNullLeaveItAlone) {
  sp::plan::Plan plan;
  plan.set_producer("test");
  std::string error;
  bool sidecarExisted = std::filesystem::exists("/dev/null.weights");
  EXPECT_TRUE(writePlanFiles("/dev/null", plan, "abcd", 4, error)) << error;
  EXPECT_TRUE(isCharacterDevice("/dev/null"));
  EXPECT_EQ(std::filesystem::exists("/dev/null.weights"), sidecarExisted);
  EXPECT_FALSE(std::filesystem::exists("/dev/null.staged"));
}

TEST_F(FilesTest, PlansToADirectoryAreAnError) {
  sp::plan::Plan plan;
  std::string error;
  EXPECT_FALSE(writePlanFiles(dir.string(), plan, "", 0, error));
  EXPECT_EQ(error, dir.string() + ": is a directory, not a file");
}

} // namespace
