//===- GraphDialect.td - the tensor-level graph dialect -----*- tablegen -*-===//
//
// The graph dialect holds a transformer as the ONNX importer reads it: value
// semantics on ranked tensors, NumPy broadcasting, dynamic dims as `?`.
//
//===----------------------------------------------------------------------===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHDIALECT_TD
#define SP_DIALECT_GRAPH_IR_GRAPHDIALECT_TD

include "mlir/IR/OpBase.td"

def Graph_Dialect : Dialect {
  let name = "graph";
  let cppNamespace = "::sp::graph";
  let summary = "Tensor-level operations of transformer graphs";
  let description = [{
    Operations on ranked tensors with value semantics, one per computation
    that ONNX exporters write for transformers. Shapes may hold dynamic dims;
    every op infers its result type from its operands so static shapes
    propagate once the inputs are bound. Sequence-parallel sharding,
    autodiff and lowering start from this dialect.
  }];
  let hasConstantMaterializer = 1;
  let useDefaultTypePrinterParser = 1;
  // The graph.* discardable attributes passes leave for each other, the plan
  // emitter and the runtime: each one's name and kind, once. Where each may
  // appear (and any constraint beyond its kind) GraphAttributes.cpp checks;
  // GraphAttributes.h gives them the constant names passes use. The plan
  // dialect owns the plan.* ones the lowering leaves on graph IR; loading it
  // with this one gets them verified.
  let discardableAttrs = (ins
    // Import. Argument or result of @main: the ONNX value's name.
    "::mlir::StringAttr":$onnx_name,
    // Argument of @main: per dim, its ONNX symbolic name, or "".
    "::mlir::ArrayAttr":$dim_names,
    // Training. Result of @main: the scalar loss.
    "::mlir::UnitAttr":$loss,
    // Result of @main: the gradient of that parameter.
    "::mlir::FlatSymbolRefAttr":$gradient_of,
    // ml_program.global: optimizer state of that parameter.
    "::mlir::FlatSymbolRefAttr":$state_of,
    // ml_program.global: the optimizer's step counter.
    "::mlir::UnitAttr":$step_counter,
    // Module: the @main input that holds the token ids.
    "::mlir::StringAttr":$token_input,
    // Module (i64): the vocabulary size of the logits.
    "::mlir::IntegerAttr":$vocab_size,
    // Module: the optimizer's settings.
    "::mlir::DictionaryAttr":$optimizer,
    // Result of @main: this step's learning rate.
    "::mlir::UnitAttr":$learning_rate,
    // Result of @main: the gradients' global norm before clipping.
    "::mlir::UnitAttr":$gradient_norm,
    // Module: the gradient clipping threshold.
    "::mlir::FloatAttr":$clip_grad_norm,
    // Module (i64, at least 2): forward and backward run on this many slices
    // of the batch.
    "::mlir::IntegerAttr":$micro_batches,
    // Module (positive i64): the sequence length users pass; the importer
    // padded the token input's sequence dim past it to a length the ranks'
    // chunks divide.
    "::mlir::IntegerAttr":$unpadded_sequence_length,
    // graph.add or graph.div: sums a gradient over micro-batches, or divides
    // the sum by their count.
    "::mlir::UnitAttr":$accumulates_gradient,
    // Module (positive i64): the bytes per rank the step was fitted into by
    // recomputing activations (sp-rematerialize).
    "::mlir::IntegerAttr":$memory_budget,
    // Any graph op: recomputes a forward value for the backward pass.
    "::mlir::UnitAttr":$recomputed,
    // Module ("bf16"): sp-precision ran its mixed-precision policy.
    "::mlir::StringAttr":$precision,
    // Sequence parallelism. Module (positive i64): the ranks of the SPMD
    // step; absent on one rank.
    "::mlir::IntegerAttr":$num_ranks,
    // Module: the sequence is laid out zigzag.
    "::mlir::UnitAttr":$zigzag,
    // Module: what --sp-strategy=auto predicted for each attention layout it
    // could run (layout name -> f64 seconds of attention per rank and step)
    // and the one it chose (`chosen`, a string).
    "::mlir::DictionaryAttr":$attention_layouts,
    // Argument or result of @main (i64): the dim split along the sequence.
    "::mlir::IntegerAttr":$shard_axis
  );
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let dependentDialects = ["::mlir::ml_program::MLProgramDialect",
                           "::sp::planning::PlanDialect"];
}

// Axes and offsets are signed: upstream I64Attr hands them out as uint64_t,
// which turns -1 into a huge value in comparisons.
def Graph_I64Attr : TypedSignlessIntegerAttrBase<
    I64, "int64_t", "64-bit signless integer attribute read as signed"> {
  let convertFromStorage = "$_self.getValue().getSExtValue()";
}

// A band mask on the attention ops: the key at sequence position kp is
// visible from the query at qp iff band_lower <= kp - qp <= band_upper (a
// bound left out does not bound); elsewhere the bias reads band_fill instead
// of its own element. sp-fuse makes it of a constant causal or sliding-window
// table that a padding mask's rows are and-ed with, so that no [S, S] mask
// tensor exists: the kernels compute it. No band without band_fill.
defvar Graph_BandMaskAttrs = (ins OptionalAttr<Graph_I64Attr>:$band_lower,
                                  OptionalAttr<Graph_I64Attr>:$band_upper,
                                  OptionalAttr<F64Attr>:$band_fill);

// Dropout on the attention probabilities (Hugging Face's attention_dropout),
// drawn inside the attention kernels as graph.dropout draws it on the
// [..., H, Sq, Sk] probabilities it replaces (sp/Semantics/Random.h): the
// probability of (batch b, head h, query position q, key position k) is
// kept with probability 1 - dropout_ratio and scaled by 1 / (1 - ratio),
// keyed by the run's seed and step, `dropout_site` and the index
//   dropout_micro_batch * B * H * L * L + ((b * H + h) * L + q) * L + k
// of the whole tensor, where L is `dropout_sequence_length` (the unpadded
// sequence; default: the op's key count, a ring's whole sequence) and H the heads of the whole
// tensor. With `dropout_head_ranks` U (Ulysses), the op holds a rank's share
// of the heads: groups of U consecutive ranks split them, rank r holding
// chunk r mod U, so H is U times the op's heads. The softmax denominator and
// logsumexp are the undropped ones. Self-attention only (Sq = Sk, or
// positions of one sequence): queries and keys index one sequence.
defvar Graph_AttentionDropoutAttrs = (ins OptionalAttr<F64Attr>:$dropout_ratio,
                                          OptionalAttr<Graph_I64Attr>:$dropout_site,
                                          OptionalAttr<Graph_I64Attr>:$dropout_micro_batch,
                                          OptionalAttr<Graph_I64Attr>:$dropout_sequence_length,
                                          OptionalAttr<Graph_I64Attr>:$dropout_head_ranks);

// Logit soft-capping (Gemma 2's attn_logit_softcapping): the scores
// `scale * q k^T` become `softcap * tanh(scale * q k^T / softcap)` before the
// bias or band is added, so that no score's magnitude exceeds `softcap` (> 0).
defvar Graph_AttentionSoftCapAttr = (ins OptionalAttr<F64Attr>:$softcap);

// What shapes the probabilities of every attention op beyond scale, causal
// and bias: the band mask, the dropout and the soft-cap.
defvar Graph_AttentionMaskAttrs = !con(Graph_BandMaskAttrs, Graph_AttentionDropoutAttrs,
                                       Graph_AttentionSoftCapAttr);

class Graph_Op<string mnemonic, list<Trait> traits = []>
    : Op<Graph_Dialect, mnemonic, traits> {
  // Result types may be more static than inference shows: folding upstream
  // can turn a dynamic dim into a known one. Element types must still match.
  code commonExtraClassDeclaration = [{
    static bool isCompatibleReturnTypes(::mlir::TypeRange inferred,
                                        ::mlir::TypeRange actual) {
      return ::sp::graph::areCompatibleResultTypes(inferred, actual);
    }
  }];
  let extraClassDeclaration = commonExtraClassDeclaration;
}

#endif // SP_DIALECT_GRAPH_IR_GRAPHDIALECT_TD
