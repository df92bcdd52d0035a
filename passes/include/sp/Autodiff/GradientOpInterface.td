//===- GradientOpInterface.td - per-op gradient rules ------*- tablegen -*-===//
//
// Reverse-mode rules, one per differentiable op, in the manner of ONNX
// Runtime's gradient builders. The graph dialect does not know about them:
// the models are attached from passes/ by
// registerGradientOpInterfaceExternalModels.
//
//===----------------------------------------------------------------------===//

#ifndef SP_AUTODIFF_GRADIENTOPINTERFACE_TD
#define SP_AUTODIFF_GRADIENTOPINTERFACE_TD

include "mlir/IR/OpBase.td"

def GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::sp::autodiff";
  let description = [{
    An op that states the gradient of its operands from the gradients of
    its results (vector-Jacobian products). The rule builds its ops with the
    given GradientBuilder, which places them, gives them the forward op's
    location and tells which operands need a gradient at all.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the gradients of the operands. `resultGrads` has one entry
        per result, null where that result's gradient is zero (at least one
        is not null). `operandGrads` comes with one null entry per operand;
        the rule sets those that `builder.needsGradient` asks for, each of
        exactly its operand's type, and leaves null those whose gradient is
        zero or undefined (integer operands, indices, conditions). Returns
        failure after reporting a diagnostic.
      }],
      "::llvm::LogicalResult", "buildGradient",
      (ins "::sp::autodiff::GradientBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
  ];
}

#endif // SP_AUTODIFF_GRADIENTOPINTERFACE_TD
