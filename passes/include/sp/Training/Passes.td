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

    When the importer padded the sequence (`graph.unpadded_sequence_length`
    R on the module), positions from R - 1 on predict padding: their labels
    are ignored and the sum is divided by B x (R - 1).

    `output`: the model computes its own loss; its one scalar float output
    becomes the loss. It is refused on a padded sequence, whose padding the
    model's loss would count.

    The loss result carries the unit attribute `graph.loss`; the module gets
    `graph.token_input` and `graph.vocab_size` for the runtime's data feed.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"causal-lm\"",
           "causal-lm or output">,
  ];
}

def Precision : Pass<"sp-precision", "mlir::ModuleOp"> {
  let summary = "Apply a mixed-precision policy to @main's forward pass";
  let description = [{
    `precision=fp32` leaves the module as it is. `precision=bf16` is mixed
    precision as PyTorch's autocast and Megatron-LM keep it: GEMMs
    (`graph.matmul`, `graph.gemm`) and the element-wise ops between them run
    in bf16, while parameters (fp32 master weights), norms, softmax,
    attention, reductions, the loss and everything after it stay fp32.

    Activations are the float values computed from @main's arguments: from
    a float activation, or from the inputs by an op other than a cast (an
    embedding's gather). Weights, constants, floats cast from integers
    (positions) and what is computed from them alone are weight-like.
    Walking @main in order, with f32 values narrowed to bf16 and bf16 ones
    widened to f32 by `graph.cast` (one cast per value, after its
    definition):
    - a GEMM with an activation operand narrows its f32 operands and
      computes in bf16 (a product of tables alone, such as rotary
      frequencies times positions, stays f32);
    - an element-wise op (add, sub, mul, div, neg, tanh, sigmoid, gelu, the
      base of pow) or a view or move (reshape, transpose, slice, split,
      concat, expand, squeeze, unsqueeze) with a bf16 operand computes in
      bf16 when its other f32 operands are weight-like, which it narrows;
      otherwise (a residual sum of an f32 stream and a bf16 branch) it
      computes in f32 and widens its bf16 operands, as autocast promotes;
    - every other op widens its bf16 operands, and so does the return.

    This runs before sp-autodiff, so the backward pass follows: a cast's
    gradient is the cast back, parameter gradients arrive in f32, and their
    reduction over ranks, clipping and the optimizer state stay f32. It runs
    after sp-sequence-parallel, whose collectives and attention strategies
    are ops of the last kind and so move f32.

    The module gets `graph.precision`; applying the policy twice is an error.
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"fp32\"",
           "fp32 (no change) or bf16 (mixed precision)">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
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

    With `lr-schedule` (constant, linear or cosine), the learning rate of
    each step is a `graph.lr_schedule` of the step count before the update
    (Hugging Face's `get_*_schedule_with_warmup`, stepped as PyTorch's
    `LambdaLR`: the first update uses the factor of step 0), which the
    updates read instead of the constant `lr`; it is also returned from
    @main, marked `graph.learning_rate`. SGD then gets the step counter
    too. Since the counter is optimizer state, a resumed checkpoint continues
    the schedule.
  }];
  let options = [
    Option<"kind", "kind", "std::string", /*default=*/"\"adamw\"", "adamw or sgd">,
    Option<"learningRate", "lr", "double", /*default=*/"1e-3", "Learning rate">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"-1",
           "Decoupled (AdamW) or L2 (SGD) weight decay; negative: the optimizer's default">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "AdamW first-moment decay">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "AdamW second-moment decay">,
    Option<"epsilon", "eps", "double", /*default=*/"1e-8", "AdamW denominator epsilon">,
    Option<"lrSchedule", "lr-schedule", "std::string", /*default=*/"\"\"",
           "Learning-rate schedule: constant, linear or cosine (default: none, lr throughout)">,
    Option<"warmupSteps", "warmup-steps", "int64_t", /*default=*/"0",
           "Schedule: steps of linear warmup from 0 to lr">,
    Option<"totalSteps", "total-steps", "int64_t", /*default=*/"0",
           "Schedule: the step at which linear and cosine reach their end">,
    Option<"minLearningRate", "min-lr", "double", /*default=*/"0",
           "Schedule: the rate linear and cosine decay to (default 0)">,
  ];
  let dependentDialects = ["mlir::ml_program::MLProgramDialect"];
}

def ClipGradients : Pass<"sp-clip-gradients", "mlir::ModuleOp"> {
  let summary = "Scale the gradients so that their global L2 norm is at most max-norm";
  let description = [{
    `torch.nn.utils.clip_grad_norm_` on the gradients @main returns (results
    marked `graph.gradient_of`): their `graph.global_norm` over all
    parameters together, the `graph.clip_coefficient`
    `min(1, max-norm / (norm + 1e-6))`, and every gradient multiplied by it
    (in its own element type) before sp-insert-optimizer reads it. The norm
    before clipping is returned from @main, marked `graph.gradient_norm`,
    and the module gets `graph.clip_grad_norm`.

    Run it after sp-reduce-gradients: on a sequence-parallel step the norm
    is then taken of the gradients summed over the ranks, the same number on
    every rank and the one a single rank computes.
  }];
  let options = [
    Option<"maxNorm", "max-norm", "double", /*default=*/"1.0",
           "The largest global gradient norm the optimizer sees (positive)">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

def MicroBatches : Pass<"sp-micro-batches", "mlir::ModuleOp"> {
  let summary = "Accumulate the gradients of `count` slices of the batch in one step";
  let description = [{
    Gradient accumulation (Megatron-LM's micro-batches, Hugging Face's
    `gradient_accumulation_steps`) inside one step. @main, after sp-autodiff,
    computes the loss and gradients of one micro-batch; every argument's dim
    0 is its batch. This pass makes each argument `count` times larger along
    dim 0 and runs @main's forward and backward pass once per slice of
    it, in sequence: slice k of every argument, then a copy of every op of
    the step. Each gradient is summed into a running sum right after the
    slice's copy computes it, and once the last slice is done divided by
    `count`: the gradient of the mean of the slices' losses, which the
    step returns as its loss. The optimizer, gradient clipping and the
    all-reduce over ranks (sp-reduce-gradients), which run after this pass,
    see one gradient per parameter and act once per step.

    The mean of the slices' losses is the whole batch's loss when each
    slice's loss is a mean over the same number of terms: the `causal-lm`
    loss (sp-insert-loss) divides by the fixed count B x (S - 1) of
    predicted positions, the same in every slice, so the result equals the
    whole batch's loss and gradients within float rounding. A model's own
    loss (`--loss=output`) is taken to be a mean over the batch, as Hugging
    Face's Trainer takes it; one that averages over a varying number of kept
    tokens per slice (an ignore index) gives the mean of the slices' means.
    As in any gradient accumulation, the rows of the batch must not meet in
    the forward pass (no statistics or losses across the batch). An
    argument that sp-sequence-parallel split along dim 0, its sequence, has
    no batch there, and is an error.

    Only one slice's activations are live at a time: the memory planner
    reuses their bytes for the next slice. The sums are the gradients' bytes,
    live from the first slice's backward pass to the end of the step; the
    ops that form them carry `graph.accumulates_gradient`. The step returns
    its loss and gradients only: the model's other outputs (the logits)
    would otherwise keep every slice's copy live to the end of the step.
    The module gets `graph.micro_batches`.

    Run it after sp-autodiff and the CSE after it (CSE would merge the
    slices' copies of computations that do not depend on the batch and keep
    them live across slices), before sp-reduce-gradients,
    sp-clip-gradients and sp-insert-optimizer.
  }];
  let options = [
    Option<"count", "count", "int64_t", /*default=*/"1",
           "Slices of the batch per step (1: the step as it is)">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

def Rematerialize : Pass<"sp-rematerialize", "mlir::ModuleOp"> {
  let summary = "Recompute cheap activations in the backward pass until the step fits a memory budget";
  let description = [{
    Selective recomputation (Megatron-LM's), chosen by the cost model (as
    XLA's rematerialization): a forward value that the backward pass reads
    is live from the forward pass to its backward reader, across the peak of
    the step. Where its producer is cheap, this pass clones the producer
    right before the value's first reader outside the forward pass and points
    every such reader at the clone, so the forward value dies at its last
    forward use.

    The forward pass is what the loss (the result marked `graph.loss`)
    depends on; every other op reads forward values "late". Recomputed are
    element-wise ops, activations, norms, casts, reshapes and transposes,
    softmax, dropout (its mask is keyed by seed, step, site and element
    position, so a clone draws the same one) and splat constants: ops whose
    cost-model FLOPs are at most 8 per result element. A matrix product is
    recomputed only where the cost profile predicts it to be bound by
    memory traffic (its FLOPs take no longer than its bytes: a small inner
    dim, such as the scores of an unfused attention, on a fast machine).
    Fused attention, collectives, the loss and optimizer ops never are. A clone
    reads the original operands where those are live at that point anyway;
    an operand that is not and is itself cheap is recomputed too (a chain
    of at most `max-chain` ops), and any other operand is kept live longer,
    which the choice counts against the bytes freed.

    The choice is greedy: measure the step with the memory planner (the
    plan's arena plus every global: parameters, constants, optimizer state,
    what `sp-compile --report` prints as `total`); while it exceeds
    `budget`, recompute the value that frees the most bytes at the step's
    peak per second of recompute the cost model predicts, and measure
    again. When no recomputation lowers the peak any more and the step
    still does not fit, it is one error naming the budget, the smallest
    step reached and the bytes it misses by. Clones carry `graph.recomputed`
    (so that CSE cannot merge them back) and, where the original has an
    instruction id, that id with `/recompute`; the module gets
    `graph.memory_budget`.

    Run it last, after the collective schedule: it measures the op order
    the plan will run, and nothing reorders or merges ops after it. With
    `budget` 0 it does nothing.
  }];
  let options = [
    Option<"budget", "budget", "int64_t", /*default=*/"0",
           "Bytes per rank the step must fit in (0: no budget, no change)">,
    Option<"costProfile", "cost-profile", "std::string", /*default=*/"\"cpu\"",
           "Built-in cost profile name or JSON file whose estimates rank recomputations">,
    Option<"maxChain", "max-chain", "int64_t", /*default=*/"4",
           "Most ops one recomputation clones, views aside">,
  ];
  let dependentDialects = ["::sp::graph::GraphDialect"];
}

#endif // SP_TRAINING_PASSES_TD
