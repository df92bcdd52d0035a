//===- Passes.td - reverse-mode differentiation -------------*- tablegen -*-===//

#ifndef SP_AUTODIFF_PASSES_TD
#define SP_AUTODIFF_PASSES_TD

include "mlir/Pass/PassBase.td"

def Autodiff : Pass<"sp-autodiff", "mlir::ModuleOp"> {
  let summary = "Append the gradient of the loss for every trainable parameter to @main";
  let description = [{
    Differentiates @main (one block) in reverse from its result marked
    `graph.loss`, seeded with 1 (1/N on each of the N ranks of a
    sequence-parallel step, module attribute `graph.num_ranks`). The
    trainable parameters are the mutable float `ml_program.global`s; their `ml_program.global_load`s are where
    gradients end, and loads of one global add up. Each parameter gets one
    new result of its type, marked `graph.gradient_of = @global`, in the
    order the globals are declared.

    Only values on a path from a parameter to the loss are differentiated.
    Each op on such a path states its rule through `GradientOpInterface`;
    an op without one is an error naming it and its ONNX node. A parameter
    that does not reach the loss gets a zero gradient and a warning. Shapes
    on the path must be static (bind symbolic dims with --input-shape).
  }];
  let dependentDialects = ["::sp::graph::GraphDialect",
                           "::mlir::ml_program::MLProgramDialect"];
}

#endif // SP_AUTODIFF_PASSES_TD
