//===- SelectParams.cpp - choose the trainable initializers ----------------===//

#include "sp/Training/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/GlobPattern.h"

namespace sp::training {
#define GEN_PASS_DEF_SELECTPARAMS
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;

namespace {

/// Initializers that can be trained: float tensors of rank >= 1.
bool isCandidate(ml_program::GlobalOp global) {
  auto type = llvm::dyn_cast<RankedTensorType>(global.getType());
  return type && type.getRank() >= 1 && llvm::isa<FloatType>(type.getElementType()) &&
         !global.getIsMutable();
}

struct Globs {
  std::vector<std::string> texts;
  std::vector<llvm::GlobPattern> patterns;
  std::vector<bool> used;
};

LogicalResult compileGlobs(Operation *anchor, StringRef option,
                           ArrayRef<std::string> texts, Globs &globs) {
  for (const std::string &text : texts) {
    llvm::Expected<llvm::GlobPattern> pattern = llvm::GlobPattern::create(text);
    if (!pattern)
      return anchor->emitError() << "--" << option << " '" << text
                                 << "' is not a valid glob: "
                                 << llvm::toString(pattern.takeError());
    globs.texts.push_back(text);
    globs.patterns.push_back(std::move(*pattern));
    globs.used.push_back(false);
  }
  return success();
}

bool matchAny(Globs &globs, StringRef name) {
  bool matched = false;
  for (auto [index, pattern] : llvm::enumerate(globs.patterns))
    if (pattern.match(name)) {
      globs.used[index] = true;
      matched = true;
    }
  return matched;
}

struct SelectParamsPass
    : public sp::training::impl::SelectParamsBase<SelectParamsPass> {
  using SelectParamsBase::SelectParamsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    Globs include, exclude;
    if (failed(compileGlobs(module, "params", params, include)) ||
        failed(compileGlobs(module, "frozen", frozen, exclude)))
      return signalPassFailure();

    llvm::DenseSet<StringAttr> trainable;
    for (auto global : module.getOps<ml_program::GlobalOp>()) {
      if (!isCandidate(global))
        continue;
      StringRef name = global.getSymName();
      bool chosen = include.patterns.empty() || matchAny(include, name);
      if (matchAny(exclude, name))
        chosen = false;
      if (chosen)
        trainable.insert(global.getSymNameAttr());
    }
    for (auto [option, globs] : {std::pair<StringRef, Globs *>{"params", &include},
                                 std::pair<StringRef, Globs *>{"frozen", &exclude}})
      for (auto [text, used] : llvm::zip(globs->texts, globs->used))
        if (!used) {
          module.emitError() << "--" << option << " '" << text
                             << "' matches no float initializer of rank >= 1";
          return signalPassFailure();
        }
    if (trainable.empty()) {
      module.emitError() << "no trainable parameters: the model has no float "
                            "initializer of rank >= 1 left by --params/--frozen";
      return signalPassFailure();
    }

    for (auto global : module.getOps<ml_program::GlobalOp>())
      if (trainable.contains(global.getSymNameAttr()))
        global.setIsMutable(true);
    // Parameters are read at the start of each step with global_load, which
    // the optimizer's global_store orders against.
    SmallVector<ml_program::GlobalLoadConstOp> loads;
    module.walk([&](ml_program::GlobalLoadConstOp load) {
      if (trainable.contains(load.getGlobal().getRootReference()))
        loads.push_back(load);
    });
    for (ml_program::GlobalLoadConstOp load : loads) {
      OpBuilder builder(load);
      auto mutableLoad = ml_program::GlobalLoadOp::create(
          builder, load.getLoc(), load.getType(), load.getGlobalAttr());
      load.replaceAllUsesWith(mutableLoad.getResult());
      load.erase();
    }
  }
};

} // namespace
