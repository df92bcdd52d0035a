//===- RuntimeTestSupport.h - shared pieces of the runtime tests ----------===//
//
// ScratchDirectoryTest gives each test a folder of its own. PlanBuilder lays
// tensors out the way the planner does (aligned offsets in the arena and the
// state region, weights packed in the sidecar) so that tests can write exact
// plans, and then break them on purpose.
//
//===----------------------------------------------------------------------===//
#ifndef SP_TEST_UNIT_RUNTIMETESTSUPPORT_H
#define SP_TEST_UNIT_RUNTIMETESTSUPPORT_H

#include "sp/runtime/PlanFile.h"

#include "sp/plan/plan.pb.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace sp::test {

/// A fixture with an empty folder per test, removed afterwards.
class ScratchDirectoryTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("sp-runtime-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string file(const std::string &name) const { return (dir / name).string(); }

  std::filesystem::path dir;
};

class PlanBuilder {
public:
  static constexpr uint64_t kAlignment = 64;

  PlanBuilder() {
    plan.set_producer("sp-compile test");
    plan.set_world_size(1);
    plan.set_alignment(kAlignment);
    plan.set_loss(-1);
  }

  /// A scratch tensor in the arena (no reuse: each gets its own bytes).
  int arena(sp::plan::DType dtype, std::vector<int64_t> shape, const std::string &name = "") {
    sp::plan::Tensor *tensor = add(dtype, shape, sp::plan::ARENA, name);
    tensor->set_offset(arenaBytes);
    arenaBytes += padded(bytesOf(*tensor));
    plan.set_arena_bytes(arenaBytes);
    return plan.tensors_size() - 1;
  }

  /// A read-only tensor whose values come from the sidecar.
  template <typename T>
  int constant(sp::plan::DType dtype, std::vector<int64_t> shape, const std::vector<T> &values,
               const std::string &name = "") {
    sp::plan::Tensor *tensor = add(dtype, shape, sp::plan::CONSTANT, name);
    tensor->set_sidecar_offset(appendToSidecar(values));
    return plan.tensors_size() - 1;
  }

  /// A persistent tensor initialized from the sidecar, or zeros when
  /// `values` is empty.
  template <typename T>
  int state(sp::plan::DType dtype, std::vector<int64_t> shape, const std::vector<T> &values,
            const std::string &name = "") {
    sp::plan::Tensor *tensor = add(dtype, shape, sp::plan::STATE, name);
    tensor->set_offset(stateBytes);
    stateBytes += padded(bytesOf(*tensor));
    plan.set_state_bytes(stateBytes);
    if (values.empty())
      tensor->set_zero_init(true);
    else
      tensor->set_sidecar_offset(appendToSidecar(values));
    return plan.tensors_size() - 1;
  }

  sp::plan::Instruction &instruction(const std::string &kernel, std::vector<int> inputs,
                                     std::vector<int> outputs, const std::string &node = "") {
    sp::plan::Instruction *instruction = plan.add_instructions();
    instruction->set_kernel(kernel);
    for (int input : inputs)
      instruction->add_inputs(input);
    for (int output : outputs)
      instruction->add_outputs(output);
    if (!node.empty())
      instruction->set_location(node);
    return *instruction;
  }

  void input(const std::string &name, int tensor) { bind(plan.add_inputs(), name, tensor); }
  void output(const std::string &name, int tensor) { bind(plan.add_outputs(), name, tensor); }

  sp::plan::Parameter &parameter(const std::string &name, int tensor, int gradient) {
    sp::plan::Parameter *parameter = plan.add_parameters();
    parameter->set_name(name);
    parameter->set_tensor(tensor);
    parameter->set_gradient(gradient);
    return *parameter;
  }

  bool write(const std::string &path, std::string &error) {
    return sp::runtime::writePlanFiles(path, plan, sidecar.data(), sidecar.size(), error);
  }

  sp::plan::Plan plan;
  std::string sidecar;

private:
  static uint64_t padded(uint64_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  static uint64_t bytesOf(const sp::plan::Tensor &tensor) {
    uint64_t bytes = 1;
    for (int64_t dim : tensor.shape())
      bytes *= uint64_t(dim);
    switch (tensor.dtype()) {
    case sp::plan::F64:
    case sp::plan::I64:
      return bytes * 8;
    case sp::plan::F32:
    case sp::plan::I32:
      return bytes * 4;
    case sp::plan::F16:
    case sp::plan::BF16:
      return bytes * 2;
    default:
      return bytes;
    }
  }
  sp::plan::Tensor *add(sp::plan::DType dtype, const std::vector<int64_t> &shape,
                        sp::plan::Placement placement, const std::string &name) {
    sp::plan::Tensor *tensor = plan.add_tensors();
    tensor->set_dtype(dtype);
    for (int64_t dim : shape)
      tensor->add_shape(dim);
    tensor->set_placement(placement);
    tensor->set_name(name);
    return tensor;
  }
  template <typename T> uint64_t appendToSidecar(const std::vector<T> &values) {
    // Packed at 8-byte steps only: the runtime must not rely on the sidecar
    // being aligned like the arena.
    sidecar.resize((sidecar.size() + 7) / 8 * 8, '\0');
    uint64_t offset = sidecar.size();
    sidecar.append(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
    return offset;
  }
  static void bind(sp::plan::Binding *binding, const std::string &name, int tensor) {
    binding->set_name(name);
    binding->set_tensor(tensor);
  }

  uint64_t arenaBytes = 0, stateBytes = 0;
};

} // namespace sp::test

#endif // SP_TEST_UNIT_RUNTIMETESTSUPPORT_H
