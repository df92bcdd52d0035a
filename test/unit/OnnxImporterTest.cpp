#include "sp/Import/OnnxImporter.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/MLIRContext.h"

#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace mlir;

namespace {

TEST(ParseInputShape, AcceptsNameAndDims) {
  sp::OnnxImportOptions options;
  ASSERT_FALSE(bool(sp::parseInputShape("input_ids=2x128", options)));
  EXPECT_EQ(options.inputShapes.at("input_ids"), (std::vector<int64_t>{2, 128}));
}

TEST(ParseInputShape, RefusesMalformedText) {
  for (const char *text : {"input_ids", "=2x3", "x=", "x=2x", "x=2xq", "x=0x3", "x=-1"}) {
    sp::OnnxImportOptions options;
    llvm::Error error = sp::parseInputShape(text, options);
    ASSERT_TRUE(bool(error)) << text;
    EXPECT_NE(llvm::toString(std::move(error)).find("NAME=DxDx"), std::string::npos);
  }
}

/// A model file in a temporary directory, written from a ModelProto.
class ImporterTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("sp-import-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    model.set_ir_version(8);
    auto *opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(17);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  void addInput(const std::string &name, std::vector<std::string> dims) {
    auto *input = model.mutable_graph()->add_input();
    input->set_name(name);
    auto *tensor = input->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    for (const std::string &dim : dims) {
      auto *d = tensor->mutable_shape()->add_dim();
      if (std::isdigit(dim[0]))
        d->set_dim_value(std::stoll(dim));
      else
        d->set_dim_param(dim);
    }
  }
  void addWeight(const std::string &name, std::vector<int64_t> dims) {
    auto *tensor = model.mutable_graph()->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    int64_t count = 1;
    for (int64_t dim : dims) {
      tensor->add_dims(dim);
      count *= dim;
    }
    for (int64_t i = 0; i < count; ++i)
      tensor->add_float_data(float(i));
  }
  void addNode(const std::string &op, std::vector<std::string> inputs,
               std::string output) {
    auto *node = model.mutable_graph()->add_node();
    node->set_op_type(op);
    node->set_name(op + "_node");
    for (const std::string &input : inputs)
      node->add_input(input);
    node->add_output(output);
  }
  void addOutput(const std::string &name) {
    model.mutable_graph()->add_output()->set_name(name);
  }
  std::string write() {
    std::string path = (dir / "model.onnx").string();
    std::ofstream file(path, std::ios::binary);
    model.SerializeToOstream(&file);
    return path;
  }

  std::filesystem::path dir;
  onnx::ModelProto model;
  MLIRContext context;
};

TEST_F(ImporterTest, ImportsWeightsAsGlobalsAndKeepsSymbolicDims) {
  addInput("x", {"batch", "sequence", "4"});
  addWeight("proj.weight", {4, 3});
  addNode("MatMul", {"x", "proj.weight"}, "y");
  addOutput("y");
  auto module = sp::importOnnxModel(context, write(), {});
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  auto global = (*module)->lookupSymbol<ml_program::GlobalOp>("proj.weight");
  ASSERT_TRUE(global);
  EXPECT_EQ(global.getType(), RankedTensorType::get({4, 3}, Float32Type::get(&context)));
  auto main = (*module)->lookupSymbol<func::FuncOp>("main");
  ASSERT_TRUE(main);
  auto resultType = llvm::cast<RankedTensorType>(main.getResultTypes()[0]);
  EXPECT_TRUE(resultType.isDynamicDim(0));
  EXPECT_TRUE(resultType.isDynamicDim(1));
  EXPECT_EQ(resultType.getDimSize(2), 3);
  auto dimNames = main.getArgAttrOfType<ArrayAttr>(0, sp::kDimNamesAttr);
  ASSERT_TRUE(dimNames);
  EXPECT_EQ(llvm::cast<StringAttr>(dimNames[1]).getValue(), "sequence");
}

TEST_F(ImporterTest, InputShapeBindsSymbolicDimsOfAllInputs) {
  addInput("a", {"batch", "sequence"});
  addInput("b", {"batch", "sequence"});
  addNode("Add", {"a", "b"}, "c");
  addOutput("c");
  sp::OnnxImportOptions options;
  ASSERT_FALSE(bool(sp::parseInputShape("a=2x16", options)));
  auto module = sp::importOnnxModel(context, write(), options);
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  auto main = (*module)->lookupSymbol<func::FuncOp>("main");
  auto expected = RankedTensorType::get({2, 16}, Float32Type::get(&context));
  EXPECT_EQ(main.getArgumentTypes()[1], expected);
  EXPECT_EQ(main.getResultTypes()[0], expected);
}

TEST_F(ImporterTest, ErrorNamesFileNodeOpAndOpset) {
  addInput("x", {"2", "3"});
  addWeight("w", {4, 5});
  addNode("MatMul", {"x", "w"}, "y");
  addOutput("y");
  std::string path = write();
  auto module = sp::importOnnxModel(context, path, {});
  ASSERT_FALSE(bool(module));
  std::string message = llvm::toString(module.takeError());
  EXPECT_EQ(message.rfind(path + ": node 'MatMul_node' (MatMul, opset 17): ", 0), 0u)
      << message;
  EXPECT_NE(message.find("[2, 3] x [4, 5]"), std::string::npos) << message;
}

TEST_F(ImporterTest, UndefinedInputIsAnError) {
  addInput("x", {"2"});
  addNode("Add", {"x", "nowhere"}, "y");
  addOutput("y");
  auto module = sp::importOnnxModel(context, write(), {});
  ASSERT_FALSE(bool(module));
  EXPECT_NE(llvm::toString(module.takeError()).find("input 'nowhere' is not defined"),
            std::string::npos);
}

} // namespace
