//===- CpuKernelShapeTest.cpp - shape, data movement and indexing kernels -===//

#include "CpuKernelTesting.h"

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

std::vector<int64_t> iota(int64_t count) {
  std::vector<int64_t> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = i;
  return values;
}

TEST(CpuKernelShapeOpTest, ShapeRangeAndConstantOfShape) {
  Tensor x(DType::Float32, {2, 3, 5});
  Tensor dims(DType::Int64, {2});
  ASSERT_EQ(call("shape", {&x}, {&dims}, attrs({{"start", int64_t(-2)}})).run(), "");
  EXPECT_EQ(dims.values<int64_t>(), (std::vector<int64_t>{3, 5}));
  Tensor all(DType::Int64, {3});
  ASSERT_EQ(call("shape", {&x}, {&all}).run(), "");
  EXPECT_EQ(all.values<int64_t>(), (std::vector<int64_t>{2, 3, 5}));

  Tensor start = int64s({}, {10}), limit = int64s({}, {1}), delta = int64s({}, {-3});
  Tensor range(DType::Int64, {3});
  ASSERT_EQ(call("range", {&start, &limit, &delta}, {&range}).run(), "");
  EXPECT_EQ(range.values<int64_t>(), (std::vector<int64_t>{10, 7, 4}));
  Tensor tooLong(DType::Int64, {4});
  EXPECT_EQ(call("range", {&start, &limit, &delta}, {&tooLong}).run(),
            "range from 10 to 1 by -3 has 3 elements, but the plan has 4");
  Tensor fs = floats({}, {0.5f}), fl = floats({}, {2}), fd = floats({}, {0.5f});
  Tensor frange(DType::Float32, {3});
  ASSERT_EQ(call("range", {&fs, &fl, &fd}, {&frange}).run(), "");
  EXPECT_EQ(frange.values<float>(), (std::vector<float>{0.5f, 1, 1.5f}));

  Tensor shape = int64s({2}, {2, 3});
  Tensor filled(DType::Int32, {2, 3});
  ASSERT_EQ(call("constant_of_shape", {&shape}, {&filled}, attrs({{"value", int64_t(7)}})).run(),
            "");
  EXPECT_EQ(filled.values<int32_t>(), (std::vector<int32_t>(6, 7)));
  Tensor other = int64s({2}, {3, 2});
  EXPECT_EQ(call("constant_of_shape", {&other}, {&filled}).run(),
            "constant_of_shape shape [3, 2] differs from the planned 2x3");
}

TEST(CpuKernelShapeOpTest, ReshapeResolvesZeroAndMinusOne) {
  Tensor x = floats({2, 3, 4}, std::vector<float>(24, 1));
  Tensor target = int64s({2}, {0, -1});
  Tensor out(DType::Float32, {2, 12});
  ASSERT_EQ(call("reshape", {&x, &target}, {&out}).run(), "");
  EXPECT_EQ(out.values<float>(), x.values<float>());
  Tensor wrong = int64s({2}, {3, -1});
  EXPECT_EQ(call("reshape", {&x, &wrong}, {&out}).run(),
            "reshape target [3, 8] differs from the planned 2x12");
  Tensor small(DType::Float32, {5, 5});
  Tensor pair = int64s({2}, {5, 5});
  EXPECT_EQ(call("reshape", {&x, &pair}, {&small}).check(),
            "cannot reshape float32 2x3x4 to 5x5");
}

TEST(CpuKernelShapeOpTest, ExpandSqueezeUnsqueeze) {
  Tensor x = int32s({3, 1}, {1, 2, 3});
  Tensor shape = int64s({3}, {2, 1, 2});
  Tensor out(DType::Int32, {2, 3, 2});
  ASSERT_EQ(call("expand", {&x, &shape}, {&out}).run(), "");
  EXPECT_EQ(out.values<int32_t>(), (std::vector<int32_t>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  Tensor bad(DType::Int32, {2, 4, 2});
  EXPECT_EQ(call("expand", {&x, &shape}, {&bad}).check(),
            "cannot expand int32 3x1 to 2x4x2");

  Tensor unsqueezed(DType::Int32, {1, 3, 1, 1});
  ASSERT_EQ(call("unsqueeze", {&x}, {&unsqueezed},
                 attrs({{"axes", std::vector<int64_t>{0, -1}}}))
                .run(),
            "");
  EXPECT_EQ(unsqueezed.values<int32_t>(), x.values<int32_t>());
  Tensor squeezed(DType::Int32, {3});
  ASSERT_EQ(call("squeeze", {&unsqueezed}, {&squeezed},
                 attrs({{"axes", std::vector<int64_t>{0, 2, 3}}}))
                .run(),
            "");
  EXPECT_EQ(call("squeeze", {&unsqueezed}, {&squeezed}, attrs({{"axes", std::vector<int64_t>{1}}}))
                .check(),
            "cannot squeeze dim 1 of int32 1x3x1x1");
  ASSERT_EQ(call("squeeze", {&unsqueezed}, {&squeezed}).check(), "");
}

TEST(CpuKernelTransposeTest, PermutationsSmallAndTiled) {
  // [2, 3, 4, 5] -> perm (0, 2, 1, 3) and (0, 1, 3, 2), checked elementwise.
  Shape shape = {2, 3, 4, 5};
  std::vector<int64_t> values = iota(120);
  Tensor x = int64s(shape, values);
  for (std::vector<int64_t> perm : {std::vector<int64_t>{0, 2, 1, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}}) {
    Shape outShape;
    for (int64_t axis : perm)
      outShape.push_back(shape[axis]);
    Tensor out(DType::Int64, outShape);
    ASSERT_EQ(call("transpose", {&x}, {&out}, attrs({{"perm", perm}})).run(), "");
    std::vector<int64_t> result = out.values<int64_t>();
    int64_t at = 0;
    int64_t index[4];
    for (index[0] = 0; index[0] < outShape[0]; ++index[0])
      for (index[1] = 0; index[1] < outShape[1]; ++index[1])
        for (index[2] = 0; index[2] < outShape[2]; ++index[2])
          for (index[3] = 0; index[3] < outShape[3]; ++index[3]) {
            int64_t source[4];
            for (int d = 0; d < 4; ++d)
              source[perm[d]] = index[d];
            int64_t expected = ((source[0] * 3 + source[1]) * 4 + source[2]) * 5 + source[3];
            ASSERT_EQ(result[at++], expected);
          }
  }
  // Large enough for the tiled path: [3, 70, 45] -> [3, 45, 70].
  Tensor big = floats({3, 70, 45}, std::vector<float>(sequence<float>(3 * 70 * 45, -1, 1)));
  Tensor flipped(DType::Float32, {3, 45, 70});
  ASSERT_EQ(call("transpose", {&big}, {&flipped}, attrs({{"perm", std::vector<int64_t>{0, 2, 1}}}))
                .run(),
            "");
  std::vector<float> in = big.values<float>(), out = flipped.values<float>();
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 70; ++i)
      for (int j = 0; j < 45; ++j)
        ASSERT_EQ(out[(b * 45 + j) * 70 + i], in[(b * 70 + i) * 45 + j]);
  Tensor wrong(DType::Float32, {3, 70, 45});
  EXPECT_EQ(call("transpose", {&big}, {&wrong}, attrs({{"perm", std::vector<int64_t>{0, 0, 1}}}))
                .check(),
            "perm [0, 0, 1] is not a permutation of the dims of float32 3x70x45");
}

TEST(CpuKernelSliceTest, OnnxRulesWithBothIndexTypes) {
  Tensor x = int64s({3, 5}, iota(15));
  // Rows 2..0 backwards, columns 1, 3 (step 2, end past the dim): int32 operands.
  Tensor starts = int32s({2}, {-1, 1}), ends = int32s({2}, {-100, 1000});
  Tensor axes = int32s({2}, {0, -1}), steps = int32s({2}, {-1, 2});
  Tensor out(DType::Int64, {3, 2});
  ASSERT_EQ(call("slice", {&x, &starts, &ends, &axes, &steps}, {&out}).run(), "");
  EXPECT_EQ(out.values<int64_t>(), (std::vector<int64_t>{11, 13, 6, 8, 1, 3}));

  // The gradient writes back where the slice read, zeros elsewhere.
  Tensor grad = doubles({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor inputGrad(DType::Float64, {3, 5});
  ASSERT_EQ(call("slice_grad", {&grad, &starts, &ends, &axes, &steps}, {&inputGrad}).run(), "");
  EXPECT_EQ(inputGrad.values<double>(),
            (std::vector<double>{0, 5, 0, 6, 0, 0, 3, 0, 4, 0, 0, 1, 0, 2, 0}));

  Tensor s64 = int64s({1}, {1}), e64 = int64s({1}, {3}), a64 = int64s({1}, {1});
  Tensor st64 = int64s({1}, {1});
  Tensor middle(DType::Int64, {3, 2});
  ASSERT_EQ(call("slice", {&x, &s64, &e64, &a64, &st64}, {&middle}).run(), "");
  EXPECT_EQ(middle.values<int64_t>(), (std::vector<int64_t>{1, 2, 6, 7, 11, 12}));
  Tensor planned(DType::Int64, {3, 3});
  EXPECT_EQ(call("slice", {&x, &s64, &e64, &a64, &st64}, {&planned}).run(),
            "slice of 3x5 has shape 3x2, but the plan has 3x3");
  Tensor zeroStep = int64s({1}, {0});
  EXPECT_EQ(call("slice", {&x, &s64, &e64, &a64, &zeroStep}, {&middle}).run(),
            "slice step is zero");
  Tensor badAxis = int64s({1}, {2});
  EXPECT_EQ(call("slice", {&x, &s64, &e64, &badAxis, &st64}, {&middle}).run(),
            "slice axes [2] are out of range or repeated for rank 2");
}

TEST(CpuKernelSplitConcatTest, RoundTrip) {
  Tensor x = int32s({2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor a(DType::Int32, {2, 2}), b(DType::Int32, {2, 3});
  Attributes split = attrs({{"axis", int64_t(-1)}, {"sizes", std::vector<int64_t>{2, 3}}});
  ASSERT_EQ(call("split", {&x}, {&a, &b}, split).run(), "");
  EXPECT_EQ(a.values<int32_t>(), (std::vector<int32_t>{0, 1, 5, 6}));
  EXPECT_EQ(b.values<int32_t>(), (std::vector<int32_t>{2, 3, 4, 7, 8, 9}));
  Tensor joined(DType::Int32, {2, 5});
  ASSERT_EQ(call("concat", {&b, &a}, {&joined}, attrs({{"axis", int64_t(1)}})).run(), "");
  EXPECT_EQ(joined.values<int32_t>(), (std::vector<int32_t>{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}));
  Tensor rows(DType::Int32, {4, 2});
  ASSERT_EQ(call("concat", {&a, &a}, {&rows}, attrs({{"axis", int64_t(0)}})).run(), "");
  EXPECT_EQ(rows.values<int32_t>(), (std::vector<int32_t>{0, 1, 5, 6, 0, 1, 5, 6}));
  EXPECT_EQ(call("concat", {&a, &b}, {&rows}, attrs({{"axis", int64_t(0)}})).check(),
            "inputs int32 2x2 and int32 2x3 do not concatenate along axis 0");
  Attributes badSizes = attrs({{"axis", int64_t(1)}, {"sizes", std::vector<int64_t>{2, 2}}});
  Tensor c(DType::Int32, {2, 2});
  EXPECT_EQ(call("split", {&x}, {&a, &c}, badSizes).check(),
            "split sizes [2, 2] do not add up to dim 1 of int32 2x5");
}

TEST(CpuKernelTriluTest, UpperAndLowerWithDiagonal) {
  Tensor x = int64s({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor out(DType::Int64, {1, 3, 3});
  ASSERT_EQ(call("trilu", {&x}, {&out}, attrs({{"upper", true}})).run(), "");
  EXPECT_EQ(out.values<int64_t>(), (std::vector<int64_t>{1, 2, 3, 0, 5, 6, 0, 0, 9}));
  ASSERT_EQ(call("trilu", {&x}, {&out}, attrs({{"upper", false}, {"diagonal", int64_t(-1)}})).run(),
            "");
  EXPECT_EQ(out.values<int64_t>(), (std::vector<int64_t>{0, 0, 0, 4, 0, 0, 7, 8, 0}));
  ASSERT_EQ(call("trilu", {&x}, {&out}, attrs({{"upper", true}, {"diagonal", int64_t(1)}})).run(),
            "");
  EXPECT_EQ(out.values<int64_t>(), (std::vector<int64_t>{0, 2, 3, 0, 0, 6, 0, 0, 0}));
}

TEST(CpuKernelShiftTest, NextTokenLabelsAndRejectsFloats) {
  Tensor ids = int64s({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor labels(DType::Int64, {2, 3});
  ASSERT_EQ(call("shift", {&ids}, {&labels},
                 attrs({{"axis", int64_t(1)}, {"offset", int64_t(1)}, {"fill", int64_t(-100)}}))
                .run(),
            "");
  EXPECT_EQ(labels.values<int64_t>(), (std::vector<int64_t>{2, 3, -100, 5, 6, -100}));
  Tensor narrow = int32s({3, 1}, {7, 8, 9});
  Tensor back(DType::Int32, {3, 1});
  ASSERT_EQ(call("shift", {&narrow}, {&back},
                 attrs({{"axis", int64_t(0)}, {"offset", int64_t(-2)}, {"fill", int64_t(0)}}))
                .run(),
            "");
  EXPECT_EQ(back.values<int32_t>(), (std::vector<int32_t>{0, 0, 7}));
  Tensor real = floats({2}, {1, 2});
  Tensor realOut(DType::Float32, {2});
  EXPECT_NE(call("shift", {&real}, {&realOut},
                 attrs({{"axis", int64_t(0)}, {"offset", int64_t(1)}, {"fill", int64_t(0)}}))
                .check(),
            "");
}

TEST(CpuKernelGatherTest, AxesNegativeIndicesAndErrors) {
  Tensor data = floats({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor indices = int64s({2, 2}, {0, -1, 1, 0});
  Tensor out(DType::Float32, {2, 2, 2});
  ASSERT_EQ(call("gather", {&data, &indices}, {&out}, attrs({{"axis", int64_t(0)}})).run(), "");
  EXPECT_EQ(out.values<float>(), (std::vector<float>{1, 2, 5, 6, 3, 4, 1, 2}));
  Tensor columns = int32s({1}, {-1});
  Tensor picked(DType::Float32, {3, 1});
  ASSERT_EQ(call("gather", {&data, &columns}, {&picked}, attrs({{"axis", int64_t(-1)}})).run(), "");
  EXPECT_EQ(picked.values<float>(), (std::vector<float>{2, 4, 6}));

  Tensor outOfRange = int64s({2}, {1, 3});
  Tensor two(DType::Float32, {2, 2});
  EXPECT_EQ(call("gather", {&data, &outOfRange}, {&two}, attrs({{"axis", int64_t(0)}})).run(),
            "gather index 3 at position 1 is out of range for a dim of size 3");
  EXPECT_EQ(call("gather", {&data, &outOfRange}, {&out}, attrs({{"axis", int64_t(0)}})).check(),
            "result must have shape 2x2, got float32 2x2x2");
}

TEST(CpuKernelGatherTest, GradAccumulatesRepeatedIndices) {
  Tensor resultGrad = doubles({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor indices = int64s({3}, {1, -3, 1}); // -3 is row 0 of 3
  Tensor dataGrad(DType::Float64, {2, 3, 2});
  ASSERT_EQ(call("gather_grad", {&resultGrad, &indices}, {&dataGrad},
                 attrs({{"axis", int64_t(1)}}))
                .run(),
            "");
  EXPECT_EQ(dataGrad.values<double>(),
            (std::vector<double>{3, 4, 6, 8, 0, 0, 9, 10, 18, 20, 0, 0}));
  Tensor bad = int64s({3}, {1, 3, 1});
  EXPECT_EQ(call("gather_grad", {&resultGrad, &bad}, {&dataGrad}, attrs({{"axis", int64_t(1)}}))
                .run(),
            "gather index 3 at position 1 is out of range for a dim of size 3");

  // An embedding-sized case that the column blocks split across threads.
  int64_t vocab = 50, width = 1000, tokens = 64;
  std::vector<int64_t> ids(tokens);
  for (int64_t t = 0; t < tokens; ++t)
    ids[t] = (t * 7) % vocab;
  Tensor tokenIds = int64s({tokens}, ids);
  Tensor grads = floats({tokens, width}, std::vector<float>(tokens * width, 1));
  Tensor embedding(DType::Float32, {vocab, width});
  ASSERT_EQ(call("gather_grad", {&grads, &tokenIds}, {&embedding}, attrs({{"axis", int64_t(0)}}))
                .run(),
            "");
  std::vector<float> table = embedding.values<float>();
  for (int64_t v = 0; v < vocab; ++v) {
    float count = 0;
    for (int64_t id : ids)
      count += id == v;
    ASSERT_EQ(table[v * width + width - 1], count);
    ASSERT_EQ(table[v * width], count);
  }
}

TEST(CpuKernelGatherNDTest, BatchDimsAndGrad) {
  // data [2, 2, 2], indices [2, 1, 2] with batch_dims 0: picks rows.
  Tensor data = int64s({2, 2, 2}, iota(8));
  Tensor indices = int64s({2, 1, 2}, {0, 1, 1, -2});
  Tensor out(DType::Int64, {2, 1, 2});
  ASSERT_EQ(call("gather_nd", {&data, &indices}, {&out}).run(), "");
  EXPECT_EQ(out.values<int64_t>(), (std::vector<int64_t>{2, 3, 4, 5}));

  // batch_dims 1: data [2, 3], indices [2, 1] -> [2] picks one per batch.
  Tensor table = int64s({2, 3}, iota(6));
  Tensor perBatch = int64s({2, 1}, {2, 0});
  Tensor picked(DType::Int64, {2});
  ASSERT_EQ(call("gather_nd", {&table, &perBatch}, {&picked}, attrs({{"batch_dims", int64_t(1)}}))
                .run(),
            "");
  EXPECT_EQ(picked.values<int64_t>(), (std::vector<int64_t>{2, 3}));

  Tensor twice = int64s({2, 2, 1}, {1, 1, 0, 0});
  Tensor dataGrad(DType::Float64, {2, 3});
  Tensor grads = doubles({2, 2}, {1, 2, 3, 4});
  ASSERT_EQ(call("gather_nd_grad", {&grads, &twice}, {&dataGrad},
                 attrs({{"batch_dims", int64_t(1)}}))
                .run(),
            "");
  EXPECT_EQ(dataGrad.values<double>(), (std::vector<double>{0, 3, 0, 7, 0, 0}));
  Tensor bad = int64s({2, 1}, {3, 0});
  EXPECT_EQ(call("gather_nd", {&table, &bad}, {&picked}, attrs({{"batch_dims", int64_t(1)}})).run(),
            "gather_nd index 3 at position 0 is out of range for a dim of size 3");
  Tensor deep = int64s({2, 3}, iota(6));
  EXPECT_EQ(call("gather_nd", {&table, &deep}, {&picked}).check(),
            "batch_dims 0 and index depth 3 do not fit data 2x3 and indices 2x3");
}

} // namespace
