#include "sp/Dialect/Graph/IR/GraphFolding.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace sp::graph;

namespace {

class GraphFoldingTest : public ::testing::Test {
protected:
  GraphFoldingTest() { context.loadDialect<GraphDialect>(); }
  RankedTensorType type(ArrayRef<int64_t> shape, Type element) {
    return RankedTensorType::get(shape, element);
  }
  MLIRContext context;
  Builder builder{&context};
};

TEST_F(GraphFoldingTest, BroadcastVisitsEveryElementWithOperandOffsets) {
  // [2, 3] + [3] + [2, 1]
  std::vector<std::array<int64_t, 4>> seen;
  forEachBroadcastElement({2, 3}, {ArrayRef<int64_t>{2, 3}, ArrayRef<int64_t>{3},
                                   ArrayRef<int64_t>{2, 1}},
                          [&](int64_t out, ArrayRef<int64_t> in) {
                            seen.push_back({out, in[0], in[1], in[2]});
                          });
  ASSERT_EQ(seen.size(), 6u);
  for (int64_t out = 0; out < 6; ++out) {
    EXPECT_EQ(seen[out][0], out);
    EXPECT_EQ(seen[out][1], out);         // same shape
    EXPECT_EQ(seen[out][2], out % 3);     // broadcast over rows
    EXPECT_EQ(seen[out][3], out / 3);     // broadcast over columns
  }
}

TEST_F(GraphFoldingTest, HostTensorRoundTripsEachElementType) {
  auto i64 = type({3}, builder.getI64Type());
  auto original = DenseElementsAttr::get(i64, ArrayRef<int64_t>{-1, 0, 7});
  std::optional<HostTensor> host = HostTensor::fromAttr(original);
  ASSERT_TRUE(host);
  EXPECT_FALSE(host->isFloat);
  EXPECT_EQ(host->toAttr(), original);

  auto bf16 = type({2}, builder.getBF16Type());
  auto floats = DenseElementsAttr::get(
      bf16, ArrayRef<Attribute>{builder.getFloatAttr(builder.getBF16Type(), 1.5),
                                builder.getFloatAttr(builder.getBF16Type(), -2.0)});
  host = HostTensor::fromAttr(floats);
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->isFloat);
  EXPECT_EQ(host->floats[0], 1.5);
  EXPECT_EQ(host->toAttr(), floats);

  auto i1 = type({2}, builder.getI1Type());
  auto bools = DenseElementsAttr::get(i1, ArrayRef<bool>{true, false});
  host = HostTensor::fromAttr(bools);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->toAttr(), bools);
}

TEST_F(GraphFoldingTest, FoldsBroadcastArithmeticAndComparisons) {
  auto f32 = builder.getF32Type();
  auto lhs = DenseElementsAttr::get(type({2, 2}, f32), ArrayRef<float>{1, 2, 3, 4});
  auto rhs = DenseElementsAttr::get(type({2}, f32), ArrayRef<float>{10, 20});
  auto sum = llvm::dyn_cast_or_null<DenseElementsAttr>(
      foldBinary(BinaryKind::Add, lhs, rhs, type({2, 2}, f32)));
  ASSERT_TRUE(sum);
  EXPECT_EQ(llvm::to_vector(sum.getValues<float>()),
            (SmallVector<float>{11, 22, 13, 24}));
  auto less = llvm::dyn_cast_or_null<DenseElementsAttr>(foldBinary(
      BinaryKind::Less, lhs, DenseElementsAttr::get(type({}, f32), 2.5f),
      type({2, 2}, builder.getI1Type())));
  ASSERT_TRUE(less);
  EXPECT_EQ(llvm::to_vector(less.getValues<bool>()),
            (SmallVector<bool>{true, true, false, false}));
}

TEST_F(GraphFoldingTest, IntegerDivisionByZeroDoesNotFold) {
  auto i64 = type({1}, builder.getI64Type());
  auto one = DenseElementsAttr::get(i64, ArrayRef<int64_t>{1});
  auto zero = DenseElementsAttr::get(i64, ArrayRef<int64_t>{0});
  EXPECT_FALSE(foldBinary(BinaryKind::Div, one, zero, i64));
  auto seven = DenseElementsAttr::get(i64, ArrayRef<int64_t>{-7});
  auto two = DenseElementsAttr::get(i64, ArrayRef<int64_t>{2});
  auto quotient = llvm::cast<DenseElementsAttr>(foldBinary(BinaryKind::Div, seven, two, i64));
  EXPECT_EQ(*quotient.getValues<int64_t>().begin(), -3); // truncates like C
}

TEST_F(GraphFoldingTest, RefusesToFoldHugeResults) {
  auto f32 = builder.getF32Type();
  auto big = type({kMaxFoldedElements + 1}, f32);
  auto one = DenseElementsAttr::get(type({1}, f32), 1.0f);
  EXPECT_FALSE(foldBinary(BinaryKind::Add, one, one, big));
}

} // namespace
