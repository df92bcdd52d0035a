#include "RuntimeTestSupport.h"

#include "sp/runtime/sp_runtime.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

using sp::test::PlanBuilder;

namespace {

class RuntimeCApiTest : public sp::test::ScratchDirectoryTest {
protected:
  void SetUp() override {
    ScratchDirectoryTest::SetUp();
    path = file("plan.spplan");
  }

  /// tokens [1, 3] int64 -> gather rows of a [5, 2] table -> "rows" [1, 3, 2];
  /// the table is a parameter whose "gradient" is a fill of 1, updated by SGD.
  void writeEmbeddingPlan() {
    PlanBuilder builder;
    int ids = builder.arena(sp::plan::I64, {1, 3}, "ids");
    int table = builder.state<float>(sp::plan::F32, {5, 2}, {0, 1, 10, 11, 20, 21, 30, 31, 40, 41},
                                     "table");
    int rows = builder.arena(sp::plan::F32, {1, 3, 2}, "rows");
    int grad = builder.arena(sp::plan::F32, {5, 2});
    int loss = builder.arena(sp::plan::F64, {});
    builder.instruction("gather", {table, ids}, {rows}, "node 'wte' (Gather)")
        .mutable_attributes()
        ->
        operator[]("axis")
        .set_i(0);
    builder.instruction("fill", {}, {grad}).mutable_attributes()->operator[]("value").set_f(1);
    builder.instruction("fill", {}, {loss}).mutable_attributes()->operator[]("value").set_f(0.75);
    auto &update = builder.instruction("sgd_update", {table, grad}, {table});
    (*update.mutable_attributes())["learning_rate"].set_f(0.5);
    (*update.mutable_attributes())["weight_decay"].set_f(0.0);
    builder.input("ids", ids);
    builder.output("rows", rows);
    builder.parameter("table", table, grad);
    builder.plan.set_loss(loss);
    builder.plan.set_token_input("ids");
    builder.plan.set_vocab_size(5);
    std::string error;
    ASSERT_TRUE(builder.write(path, error)) << error;
  }

  std::string path;
};

TEST_F(RuntimeCApiTest, LoadsDescribesAndRuns) {
  writeEmbeddingPlan();
  sp_session *session = nullptr;
  ASSERT_EQ(sp_session_load(path.c_str(), &session), SP_OK) << sp_last_error();
  EXPECT_STREQ(sp_last_error(), "");
  EXPECT_EQ(sp_session_is_training(session), 1);
  EXPECT_STREQ(sp_session_token_input(session), "ids");
  EXPECT_EQ(sp_session_vocab_size(session), 5);

  ASSERT_EQ(sp_session_input_count(session), 1u);
  sp_tensor_info info;
  ASSERT_EQ(sp_session_input_info(session, 0, &info), SP_OK);
  EXPECT_STREQ(info.name, "ids");
  EXPECT_EQ(info.dtype, SP_DTYPE_INT64);
  ASSERT_EQ(info.rank, 2);
  EXPECT_EQ(info.shape[1], 3);
  EXPECT_EQ(info.size_bytes, 24u);
  EXPECT_EQ(sp_session_input_info(session, 1, &info), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "index 1 is out of range (there are 1)");
  ASSERT_EQ(sp_session_parameter_count(session), 1u);
  ASSERT_EQ(sp_session_parameter_info(session, 0, &info), SP_OK);
  EXPECT_STREQ(info.name, "table");

  double loss;
  EXPECT_EQ(sp_session_loss(session, &loss), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "no step has run yet");
  EXPECT_EQ(sp_session_run_step(session), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "missing input 'ids' (int64 1x3)");

  const int64_t shape[] = {1, 3};
  const int64_t ids[] = {4, 0, 2};
  ASSERT_EQ(sp_session_set_input(session, "ids", SP_DTYPE_INT64, 2, shape, ids, sizeof ids), SP_OK)
      << sp_last_error();
  ASSERT_EQ(sp_session_run_step(session), SP_OK) << sp_last_error();
  ASSERT_EQ(sp_session_loss(session, &loss), SP_OK);
  EXPECT_EQ(loss, 0.75);
  float rows[6];
  ASSERT_EQ(sp_session_read_output(session, "rows", rows, sizeof rows), SP_OK) << sp_last_error();
  EXPECT_EQ(rows[0], 40);
  EXPECT_EQ(rows[3], 1);
  EXPECT_EQ(rows[5], 21);
  float table[10], gradient[10];
  ASSERT_EQ(sp_session_read_gradient(session, "table", gradient, sizeof gradient), SP_OK);
  EXPECT_EQ(gradient[7], 1);
  ASSERT_EQ(sp_session_read_parameter(session, "table", table, sizeof table), SP_OK);
  EXPECT_EQ(table[0], -0.5f);
  EXPECT_EQ(table[9], 40.5f);
  EXPECT_EQ(sp_session_steps_completed(session), 1);

  const float replacement[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  ASSERT_EQ(sp_session_write_parameter(session, "table", replacement, sizeof replacement), SP_OK);
  ASSERT_EQ(sp_session_read_parameter(session, "table", table, sizeof table), SP_OK);
  EXPECT_EQ(table[9], 10);

  // The seed (dropout's key with the step) is recorded by the checkpoint and
  // restored with it.
  EXPECT_EQ(sp_session_seed(session), 0u);
  sp_session_set_seed(session, 1234);
  EXPECT_EQ(sp_session_seed(session), 1234u);
  std::string checkpoint = (dir / "ckpt").string();
  ASSERT_EQ(sp_session_save_state(session, checkpoint.c_str()), SP_OK) << sp_last_error();
  ASSERT_EQ(sp_session_run_step(session), SP_OK);
  sp_session_set_seed(session, 5);
  ASSERT_EQ(sp_session_load_state(session, checkpoint.c_str()), SP_OK) << sp_last_error();
  ASSERT_EQ(sp_session_read_parameter(session, "table", table, sizeof table), SP_OK);
  EXPECT_EQ(table[9], 10);
  EXPECT_EQ(sp_session_steps_completed(session), 1);
  EXPECT_EQ(sp_session_seed(session), 1234u);
  sp_session_free(session);
}

/// A plan that clips and schedules as sp-compile builds one: a [2] parameter
/// with the constant gradient [3, 4] (norm 5), clipped to norm 1, and SGD at
/// a linear schedule of base rate 1 over 4 steps with 2 of warmup.
TEST_F(RuntimeCApiTest, ReportsTheLearningRateAndGradientNorm) {
  PlanBuilder builder;
  int param = builder.state<double>(sp::plan::F64, {2}, {0, 0}, "w");
  int grad = builder.constant<double>(sp::plan::F64, {2}, {3, 4}, "g");
  int clipped = builder.arena(sp::plan::F64, {2});
  int norm = builder.arena(sp::plan::F64, {});
  int coefficient = builder.arena(sp::plan::F64, {});
  int counter = builder.state<int64_t>(sp::plan::I64, {}, {0}, "sp.step");
  int one = builder.constant<int64_t>(sp::plan::I64, {}, {1}, "one");
  int next = builder.arena(sp::plan::I64, {});
  int rate = builder.arena(sp::plan::F64, {});
  int loss = builder.arena(sp::plan::F64, {});
  builder.instruction("fill", {}, {loss}).mutable_attributes()->operator[]("value").set_f(1);
  builder.instruction("global_norm", {grad}, {norm});
  (*builder.instruction("clip_coefficient", {norm}, {coefficient}).mutable_attributes())
      ["max_norm"].set_f(1);
  builder.instruction("mul", {grad, coefficient}, {clipped});
  builder.instruction("add", {counter, one}, {next});
  auto &schedule = *builder.instruction("lr_schedule", {counter}, {rate}).mutable_attributes();
  schedule["kind"].set_s("linear");
  schedule["warmup_steps"].set_i(2);
  schedule["total_steps"].set_i(4);
  schedule["learning_rate"].set_f(1);
  schedule["min_learning_rate"].set_f(0);
  builder.instruction("copy", {next}, {counter});
  auto &update = *builder.instruction("sgd_update", {param, clipped, rate}, {param})
                      .mutable_attributes();
  update["learning_rate"].set_f(1);
  update["weight_decay"].set_f(0);
  builder.parameter("w", param, clipped);
  builder.plan.set_loss(loss);
  builder.plan.set_learning_rate(rate);
  builder.plan.set_gradient_norm(norm);
  builder.plan.mutable_optimizer()->set_kind("sgd");
  builder.plan.mutable_optimizer()->set_learning_rate(1);
  std::string error;
  ASSERT_TRUE(builder.write(path, error)) << error;

  sp_session *session = nullptr;
  ASSERT_EQ(sp_session_load(path.c_str(), &session), SP_OK) << sp_last_error();
  double value;
  EXPECT_EQ(sp_session_learning_rate(session, &value), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "no step has run yet");
  double expectedRates[] = {0, 0.5, 1, 0.5, 0, 0};
  double position = 0;
  for (double expected : expectedRates) {
    ASSERT_EQ(sp_session_run_step(session), SP_OK) << sp_last_error();
    ASSERT_EQ(sp_session_learning_rate(session, &value), SP_OK) << sp_last_error();
    EXPECT_EQ(value, expected);
    ASSERT_EQ(sp_session_gradient_norm(session, &value), SP_OK) << sp_last_error();
    EXPECT_EQ(value, 5);
    position -= expected * 3 * (1 / (5 + 1e-6));
  }
  double w[2];
  ASSERT_EQ(sp_session_read_parameter(session, "w", w, sizeof w), SP_OK);
  EXPECT_DOUBLE_EQ(w[0], position);
  sp_session_free(session);

  writeEmbeddingPlan();
  ASSERT_EQ(sp_session_load(path.c_str(), &session), SP_OK) << sp_last_error();
  const int64_t shape[] = {1, 3};
  const int64_t ids[] = {4, 0, 2};
  ASSERT_EQ(sp_session_set_input(session, "ids", SP_DTYPE_INT64, 2, shape, ids, sizeof ids), SP_OK);
  ASSERT_EQ(sp_session_run_step(session), SP_OK) << sp_last_error();
  EXPECT_EQ(sp_session_gradient_norm(session, &value), SP_ERROR);
  EXPECT_STREQ(sp_last_error(),
               "the plan does not measure the gradient norm (compile with --clip-grad-norm)");
  sp_session_free(session);
}

TEST_F(RuntimeCApiTest, ReportsErrorsAsOneLine) {
  sp_session *session = reinterpret_cast<sp_session *>(&path); // must be reset on failure
  EXPECT_EQ(sp_session_load((dir / "missing.spplan").c_str(), &session), SP_ERROR);
  EXPECT_EQ(session, nullptr);
  EXPECT_EQ(std::string(sp_last_error()),
            (dir / "missing.spplan").string() + ": cannot open: No such file or directory");
  EXPECT_EQ(sp_session_load(nullptr, &session), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "plan_path or session is NULL");

  writeEmbeddingPlan();
  ASSERT_EQ(sp_session_load(path.c_str(), &session), SP_OK) << sp_last_error();
  const int64_t wrongShape[] = {3};
  const float values[3] = {0, 0, 0};
  EXPECT_EQ(
      sp_session_set_input(session, "ids", SP_DTYPE_FLOAT32, 1, wrongShape, values, sizeof values),
      SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "input 'ids': expected int64 1x3, got float32 3");
  EXPECT_EQ(
      sp_session_set_input(session, "ids", sp_dtype(99), 1, wrongShape, values, sizeof values),
      SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "input 'ids': unknown dtype 99");

  const int64_t shape[] = {1, 3};
  const int64_t ids[] = {4, 0, 2};
  ASSERT_EQ(sp_session_set_input(session, "ids", SP_DTYPE_INT64, 2, shape, ids, sizeof ids), SP_OK);
  ASSERT_EQ(sp_session_run_step(session), SP_OK);
  float small[2];
  EXPECT_EQ(sp_session_read_output(session, "rows", small, sizeof small), SP_ERROR);
  EXPECT_STREQ(sp_last_error(),
               "output 'rows' is float32 1x3x2 (24 bytes); the buffer holds 8 bytes");
  EXPECT_EQ(sp_session_read_gradient(session, "nope", small, sizeof small), SP_ERROR);
  EXPECT_STREQ(sp_last_error(), "the plan has no parameter 'nope'");
  sp_session_free(session);
  sp_session_free(nullptr);
}

} // namespace
