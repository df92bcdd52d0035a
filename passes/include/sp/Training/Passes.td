//===- Passes.td - passes that turn a model into a training step -*- tablegen -*-===//

#ifndef SP_TRAINING_PASSES_TD
#define SP_TRAINING_PASSES_TD

include "mlir/Pass/PassBase.td"

def SelectParams : Pass<"sp-select-params", "mlir::ModuleOp"> {
  let summary = "Make the chosen float initializers trainable parameters";
  let description = [{
    Float initializers of rank >= 1 (immutable `ml_program.global`s) named by
    `params` (globs; all of them when empty), less those named by `frozen`,
    become mutable globals read with `ml_program.global_load`. The rest stay
    constants. A glob that matches no such initializer is an error, since it
    is almost always a misspelt name.
  }];
  let options = [
    ListOption<"params", "params", "std::string",
               "Globs naming the trainable initializers (default: all)">,
    ListOption<"frozen", "frozen", "std::string",
               "Globs naming initializers that stay constant">,
  ];
  let dependentDialects = ["mlir::ml_program::MLProgramDialect"];
}

def InsertLoss : Pass<"sp-insert-loss", "mlir::ModuleOp"> {
  let summary = "Append the training loss to @main's results";
  let description = [{
    `causal-lm`: the mean next-token cross-entropy of `logits[:, :-1]`
    against `input_ids[:, 1:]` over the B x (S - 1) predicted positions. The
    labels are the token input shifted left by one (`graph.shift`) with the
    last position ignored, so the logits are never copied. The token input is the rank-2
    integer argument (the one named `input_ids` when there are several) and
    the logits the rank-3 float result over the same batch and sequence (the
    one named `logits` when there are several).

    `output`: the model computes its own loss; its one scalar float output
    becomes the loss.

    The loss result carries the unit attribute `graph.loss`; the module gets
    `graph.token_input` and `graph.vocab_size` for the runtime's data feed.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"causal-lm\"",
           "causal-lm or output">,
  ];
}

def InsertOptimizer : Pass<"sp-insert-optimizer", "mlir::ModuleOp"> {
  let summary = "Append the optimizer update of every parameter to @main";
  let description = [{
    Consumes the gradients that `sp-autodiff` returns (results marked
    `graph.gradient_of`) and stores each parameter's update back into its
    global. AdamW keeps its moments in zero-initialized mutable globals
    `NAME.exp_avg` and `NAME.exp_avg_sq` (marked `graph.state_of`) and the step
    count in `sp.step` (marked `graph.step_counter`). Defaults follow PyTorch:
    AdamW weight decay 0.01, SGD none.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"adamw\"", "adamw or sgd">,
    Option<"learningRate", "lr", "double", /*default=*/"1e-3", "Learning rate">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"-1",
           "Decoupled (AdamW) or L2 (SGD) weight decay; negative: the optimizer's default">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW first-moment decay">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "AdamW second-moment decay">,
    Option<"epsilon", "eps", "double", /*default=*/"1e-8", "AdamW denominator epsilon">,
  ];
  let dependentDialects = ["mlir::ml_program::MLProgramDialect"];
}

#endif // SP_TRAINING_PASSES_TD
