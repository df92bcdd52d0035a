//===- GraphOps.td - graph dialect operations ---------------*- tablegen -*-===//

#ifndef SP_DIALECT_GRAPH_IR_GRAPHOPS_TD
#define SP_DIALECT_GRAPH_IR_GRAPHOPS_TD

include "sp/Dialect/Graph/IR/GraphDialect.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def Graph_ConstantOp : Graph_Op<"constant",
    [ConstantLike, Pure, InferTypeOpAdaptor]> {
  let summary = "A constant tensor";
  let description = [{
    A compile-time tensor: an ONNX `Constant` node, or a value the folder
    computed (shapes, ranges, masks derived from shapes). Named weights are
    `ml_program.global` symbols instead, so that training can update them.
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Element-wise operations (NumPy broadcasting)
//===----------------------------------------------------------------------===//

// `kind` names the sp::graph::BinaryKind that evaluates the op when folding.
class Graph_BroadcastBinaryOp<string mnemonic, string kind>
    : Graph_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = commonExtraClassDeclaration # [{
    static constexpr ::sp::graph::BinaryKind kKind = ::sp::graph::BinaryKind::}] # kind # [{;
  }];
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(
        ::mlir::MLIRContext *, std::optional<::mlir::Location> location,
        Adaptor adaptor, ::llvm::SmallVectorImpl<::mlir::Type> &types) {
      return inferBroadcastBinaryType(kKind, location, adaptor.getLhs().getType(),
                                      adaptor.getRhs().getType(), types);
    }
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyBroadcastBinary(kKind, getOperation());
    }
    ::mlir::OpFoldResult $cppClass::fold(FoldAdaptor adaptor) {
      return foldBinary(kKind, adaptor.getLhs(), adaptor.getRhs(), getType());
    }
  }];
}

class Graph_ArithmeticOp<string mnemonic, string kind, string what>
    : Graph_BroadcastBinaryOp<mnemonic, kind> {
  let summary = "Element-wise " # what # " with broadcasting";
}
def Graph_AddOp : Graph_ArithmeticOp<"add", "Add", "sum">;
def Graph_SubOp : Graph_ArithmeticOp<"sub", "Sub", "difference">;
def Graph_MulOp : Graph_ArithmeticOp<"mul", "Mul", "product">;
def Graph_DivOp : Graph_ArithmeticOp<"div", "Div", "quotient (integer division truncates)">;
def Graph_MaxOp : Graph_ArithmeticOp<"max", "Max", "maximum">;
def Graph_MinOp : Graph_ArithmeticOp<"min", "Min", "minimum">;
def Graph_PowOp : Graph_ArithmeticOp<"pow", "Pow", "power; the exponent may have another element type">;
def Graph_ModOp : Graph_ArithmeticOp<"mod", "Mod",
    "remainder with the sign of the divisor (Python `%`, ONNX `Mod` with fmod=0)">;
def Graph_FModOp : Graph_ArithmeticOp<"fmod", "FMod",
    "remainder with the sign of the dividend (C `fmod`, ONNX `Mod` with fmod=1)">;

class Graph_CompareOp<string mnemonic, string kind, string what>
    : Graph_BroadcastBinaryOp<mnemonic, kind> {
  let summary = "Element-wise comparison `" # what # "` with broadcasting, giving i1";
}
def Graph_EqualOp : Graph_CompareOp<"equal", "Equal", "==">;
def Graph_LessOp : Graph_CompareOp<"less", "Less", "<">;
def Graph_LessEqualOp : Graph_CompareOp<"less_equal", "LessEqual", "<=">;
def Graph_GreaterOp : Graph_CompareOp<"greater", "Greater", ">">;
def Graph_GreaterEqualOp : Graph_CompareOp<"greater_equal", "GreaterEqual", ">=">;

class Graph_LogicalOp<string mnemonic, string kind, string what>
    : Graph_BroadcastBinaryOp<mnemonic, kind> {
  let summary = "Element-wise logical " # what # " of i1 tensors with broadcasting";
}
def Graph_AndOp : Graph_LogicalOp<"and", "And", "and">;
def Graph_OrOp : Graph_LogicalOp<"or", "Or", "or">;
def Graph_XorOp : Graph_LogicalOp<"xor", "Xor", "exclusive or">;

// `kind` names the sp::graph::UnaryKind that evaluates the op when folding.
class Graph_UnaryOp<string mnemonic, string kind, string what>
    : Graph_Op<mnemonic, [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Element-wise " # what;
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = commonExtraClassDeclaration # [{
    static constexpr ::sp::graph::UnaryKind kKind = ::sp::graph::UnaryKind::}] # kind # [{;
  }];
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return verifyUnary(kKind, getOperation());
    }
    ::mlir::OpFoldResult $cppClass::fold(FoldAdaptor adaptor) {
      return foldUnary(kKind, adaptor.getInput(), getType());
    }
  }];
}
def Graph_NegOp : Graph_UnaryOp<"neg", "Neg", "negation">;
def Graph_AbsOp : Graph_UnaryOp<"abs", "Abs", "absolute value">;
def Graph_SqrtOp : Graph_UnaryOp<"sqrt", "Sqrt", "square root">;
def Graph_ReciprocalOp : Graph_UnaryOp<"reciprocal", "Reciprocal", "reciprocal 1/x">;
def Graph_ExpOp : Graph_UnaryOp<"exp", "Exp", "natural exponential">;
def Graph_LogOp : Graph_UnaryOp<"log", "Log", "natural logarithm">;
def Graph_TanhOp : Graph_UnaryOp<"tanh", "Tanh", "hyperbolic tangent">;
def Graph_SigmoidOp : Graph_UnaryOp<"sigmoid", "Sigmoid", "logistic sigmoid 1/(1+exp(-x))">;
def Graph_ErfOp : Graph_UnaryOp<"erf", "Erf", "Gauss error function">;
def Graph_CosOp : Graph_UnaryOp<"cos", "Cos", "cosine">;
def Graph_SinOp : Graph_UnaryOp<"sin", "Sin", "sine">;
def Graph_ReluOp : Graph_UnaryOp<"relu", "Relu", "max(x, 0)">;
def Graph_NotOp : Graph_UnaryOp<"not", "Not", "logical negation of an i1 tensor">;
def Graph_FloorOp : Graph_UnaryOp<"floor", "Floor", "rounding down">;
def Graph_CeilOp : Graph_UnaryOp<"ceil", "Ceil", "rounding up">;

class Graph_FloatClassOp<string mnemonic, string what>
    : Graph_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let summary = "Element-wise test whether a float is " # what # ", giving i1";
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasVerifier = 1;
}
def Graph_IsNaNOp : Graph_FloatClassOp<"is_nan", "NaN">;
def Graph_IsInfOp : Graph_FloatClassOp<"is_inf", "infinite"> {
  let arguments = (ins AnyRankedTensor:$input,
                       DefaultValuedAttr<BoolAttr, "true">:$detect_negative,
                       DefaultValuedAttr<BoolAttr, "true">:$detect_positive);
}

def Graph_GeluOp : Graph_Op<"gelu",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Gaussian error linear unit, exact (erf) or tanh approximation";
  let arguments = (ins AnyRankedTensor:$input, DefaultValuedAttr<BoolAttr, "false">:$tanh_approximation);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Graph_WhereOp : Graph_Op<"where", [Pure, InferTypeOpAdaptor]> {
  let summary = "Element-wise select `condition ? on_true : on_false` with broadcasting";
  let arguments = (ins AnyRankedTensor:$condition, AnyRankedTensor:$on_true,
                       AnyRankedTensor:$on_false);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $condition `,` $on_true `,` $on_false attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Graph_CastOp : Graph_Op<"cast", [Pure]> {
  let summary = "Element-wise conversion to the result's element type";
  let description = [{
    Floats convert to integers by truncation toward zero, anything converts
    to i1 as `!= 0`, i1 converts to 0 and 1.
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra and normalization
//===----------------------------------------------------------------------===//

def Graph_MatMulOp : Graph_Op<"matmul", [Pure, InferTypeOpAdaptor]> {
  let summary = "NumPy matrix product with broadcast batch dims";
  let description = [{
    The last two dims multiply as matrices and the leading dims broadcast.
    A 1-D lhs is a row vector and a 1-D rhs a column vector; their unit
    dim is dropped from the result, as in `numpy.matmul`.
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];  // x @ transpose(W) -> gemm with transpose_b, so a linear layer never
  // materializes its transposed weight.
  let hasCanonicalizer = 1;
}

def Graph_GemmOp : Graph_Op<"gemm", [Pure, InferTypeOpAdaptor]> {
  let summary = "alpha * op(a) * op(b) + beta * c on 2-D tensors";
  let arguments = (ins AnyRankedTensor:$a, AnyRankedTensor:$b,
                       Optional<AnyRankedTensor>:$c,
                       DefaultValuedAttr<F64Attr, "1.0">:$alpha,
                       DefaultValuedAttr<F64Attr, "1.0">:$beta,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_a,
                       DefaultValuedAttr<BoolAttr, "false">:$transpose_b);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_SoftmaxOp : Graph_Op<"softmax",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Softmax along one axis";
  let arguments = (ins AnyRankedTensor:$input, Graph_I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Graph_LayerNormOp : Graph_Op<"layer_norm", [Pure, InferTypeOpAdaptor]> {
  let summary = "Layer normalization over the dims from `axis` to the last";
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$scale,
                       Optional<AnyRankedTensor>:$bias,
                       Graph_I64Attr:$axis, F64Attr:$epsilon);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Reductions and scans
//===----------------------------------------------------------------------===//

class Graph_ReduceOp<string mnemonic, string what>
    : Graph_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let summary = "Reduction by " # what # " over `axes` (all dims when empty)";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes,
                       DefaultValuedAttr<BoolAttr, "true">:$keep_dims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}
def Graph_ReduceSumOp : Graph_ReduceOp<"reduce_sum", "sum">;
def Graph_ReduceMeanOp : Graph_ReduceOp<"reduce_mean", "mean">;
def Graph_ReduceMaxOp : Graph_ReduceOp<"reduce_max", "maximum">;

def Graph_CumSumOp : Graph_Op<"cumsum",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Cumulative sum along one axis";
  let arguments = (ins AnyRankedTensor:$input, Graph_I64Attr:$axis,
                       DefaultValuedAttr<BoolAttr, "false">:$exclusive,
                       DefaultValuedAttr<BoolAttr, "false">:$reverse);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Shapes and index computations
//===----------------------------------------------------------------------===//

def Graph_ShapeOp : Graph_Op<"shape", [Pure, InferTypeOpAdaptor]> {
  let summary = "The dims `[start, end)` of a tensor's shape as a 1-D i64 tensor";
  let arguments = (ins AnyRankedTensor:$input,
                       DefaultValuedAttr<Graph_I64Attr, "0">:$start,
                       OptionalAttr<Graph_I64Attr>:$end);
  let results = (outs 1DTensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Graph_RangeOp : Graph_Op<"range", [Pure, InferTypeOpAdaptor]> {
  let summary = "The 1-D sequence start, start+delta, ... below limit";
  let arguments = (ins 0DTensorOf<[AnyType]>:$start, 0DTensorOf<[AnyType]>:$limit,
                       0DTensorOf<[AnyType]>:$delta);
  let results = (outs 1DTensorOf<[AnyType]>:$result);
  let assemblyFormat = [{
    $start `,` $limit `,` $delta attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Graph_ConstantOfShapeOp : Graph_Op<"constant_of_shape",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "A tensor of the given shape filled with one value";
  let arguments = (ins 1DTensorOf<[I64]>:$shape, ElementsAttr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$shape attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Graph_ReshapeOp : Graph_Op<"reshape", [Pure, InferTypeOpAdaptor]> {
  let summary = "Reshape to a shape given as a 1-D i64 tensor";
  let description = [{
    In `shape`, -1 stands for the one dim inferred from the element count,
    and 0 copies the input dim at that index unless `allow_zero` is set.
  }];
  let arguments = (ins AnyRankedTensor:$input, 1DTensorOf<[I64]>:$shape,
                       DefaultValuedAttr<BoolAttr, "false">:$allow_zero);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $shape attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Graph_ExpandOp : Graph_Op<"expand", [Pure, InferTypeOpAdaptor]> {
  let summary = "Broadcast a tensor to the broadcast of its shape and `shape`";
  let arguments = (ins AnyRankedTensor:$input, 1DTensorOf<[I64]>:$shape);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $shape attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Graph_TransposeOp : Graph_Op<"transpose", [Pure, InferTypeOpAdaptor]> {
  let summary = "Permute dims: result dim i is input dim perm[i]";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Graph_UnsqueezeOp : Graph_Op<"unsqueeze", [Pure, InferTypeOpAdaptor]> {
  let summary = "Insert unit dims at `axes` (indices into the result)";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Graph_SqueezeOp : Graph_Op<"squeeze", [Pure, InferTypeOpAdaptor]> {
  let summary = "Remove the unit dims at `axes`";
  let arguments = (ins AnyRankedTensor:$input, DenseI64ArrayAttr:$axes);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Graph_SliceOp : Graph_Op<"slice", [Pure, InferTypeOpAdaptor]> {
  let summary = "Strided slice; starts, ends, axes and steps are 1-D tensors";
  let description = [{
    Follows ONNX `Slice`: negative starts and ends count from the end of the
    dim, out-of-range values are clamped, negative steps walk backwards.
  }];
  let arguments = (ins AnyRankedTensor:$input, 1DTensorOf<[I32, I64]>:$starts,
                       1DTensorOf<[I32, I64]>:$ends, 1DTensorOf<[I32, I64]>:$axes,
                       1DTensorOf<[I32, I64]>:$steps);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $starts `,` $ends `,` $axes `,` $steps attr-dict `:`
    functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Graph_SplitOp : Graph_Op<"split", [Pure, InferTypeOpAdaptor]> {
  let summary = "Split along `axis` into pieces of the given sizes";
  let arguments = (ins AnyRankedTensor:$input, Graph_I64Attr:$axis,
                       DenseI64ArrayAttr:$sizes);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Graph_ConcatOp : Graph_Op<"concat", [Pure, InferTypeOpAdaptor]> {
  let summary = "Concatenate tensors along `axis`";
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, Graph_I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Graph_GatherOp : Graph_Op<"gather", [Pure, InferTypeOpAdaptor]> {
  let summary = "Take slices of `data` along `axis` at `indices` (negative counts from the end)";
  let arguments = (ins AnyRankedTensor:$data, TensorOf<[I32, I64]>:$indices,
                       Graph_I64Attr:$axis);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $data `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Graph_GatherNDOp : Graph_Op<"gather_nd", [Pure, InferTypeOpAdaptor]> {
  let summary = "Gather slices of `data` addressed by the last dim of `indices`";
  let arguments = (ins AnyRankedTensor:$data, TensorOf<[I64]>:$indices,
                       DefaultValuedAttr<Graph_I64Attr, "0">:$batch_dims);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $data `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasFolder = 1;
}

def Graph_TriluOp : Graph_Op<"trilu",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Keep the upper or lower triangle of the last two dims, zero the rest";
  let description = [{
    Upper keeps elements with `col - row >= diagonal`; lower keeps
    `col - row <= diagonal`.
  }];
  let arguments = (ins AnyRankedTensor:$input, BoolAttr:$upper,
                       DefaultValuedAttr<Graph_I64Attr, "0">:$diagonal);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

def Graph_ShiftOp : Graph_Op<"shift",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Move elements `offset` places toward the start of `axis`, filling the end";
  let description = [{
    `result[..., i, ...] = input[..., i + offset, ...]` along `axis` where
    `i + offset` is in range, `fill` elsewhere. The causal-LM labels are the
    token ids shifted by one with the last position filled with the ignored
    label; under sequence parallelism the sharding pass fills a shard's end
    from the next shard instead.
  }];
  let arguments = (ins AnyRankedTensor:$input, Graph_I64Attr:$axis, Graph_I64Attr:$offset,
                       Graph_I64Attr:$fill);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradients: ops that the backward pass emits where composing forward ops
// would cost memory or accuracy
//===----------------------------------------------------------------------===//

def Graph_SoftmaxGradOp : Graph_Op<"softmax_grad",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Gradient of softmax from its result: y * (dy - sum(dy * y, axis))";
  let arguments = (ins AnyRankedTensor:$result, AnyRankedTensor:$result_grad,
                       Graph_I64Attr:$axis);
  let results = (outs AnyRankedTensor:$input_grad);
  let assemblyFormat = "$result `,` $result_grad attr-dict `:` type($input_grad)";
  let hasVerifier = 1;
}

def Graph_LayerNormGradOp : Graph_Op<"layer_norm_grad", [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradients of layer_norm with respect to its input, scale and bias";
  let description = [{
    Recomputes the mean and inverse standard deviation of `input` over the
    dims from `axis` on. `scale` has exactly the normalized shape; the scale
    and bias gradients have it too (sums over the leading dims).
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$scale,
                       AnyRankedTensor:$result_grad, Graph_I64Attr:$axis,
                       F64Attr:$epsilon);
  let results = (outs AnyRankedTensor:$input_grad, AnyRankedTensor:$scale_grad,
                      AnyRankedTensor:$bias_grad);
  let assemblyFormat = [{
    $input `,` $scale `,` $result_grad attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Graph_GeluGradOp : Graph_Op<"gelu_grad",
    [Pure, SameOperandsAndResultType, InferTypeOpInterface]> {
  let summary = "Gradient of gelu (exact or tanh approximation) with respect to its input";
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$result_grad,
                       DefaultValuedAttr<BoolAttr, "false">:$tanh_approximation);
  let results = (outs AnyRankedTensor:$input_grad);
  let assemblyFormat = "$input `,` $result_grad attr-dict `:` type($input_grad)";
}

def Graph_GatherGradOp : Graph_Op<"gather_grad", [Pure]> {
  let summary = "Scatter-add of gather's result gradient into zeros of the data's shape";
  let description = [{
    Repeated indices accumulate; negative indices count from the end of the
    dim. The result type, the gathered data's type, is given explicitly.
  }];
  let arguments = (ins AnyRankedTensor:$result_grad, TensorOf<[I32, I64]>:$indices,
                       Graph_I64Attr:$axis);
  let results = (outs AnyRankedTensor:$data_grad);
  let assemblyFormat = [{
    $result_grad `,` $indices attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Graph_GatherNDGradOp : Graph_Op<"gather_nd_grad", [Pure]> {
  let summary = "Scatter-add of gather_nd's result gradient into zeros of the data's shape";
  let arguments = (ins AnyRankedTensor:$result_grad, TensorOf<[I64]>:$indices,
                       DefaultValuedAttr<Graph_I64Attr, "0">:$batch_dims);
  let results = (outs AnyRankedTensor:$data_grad);
  let assemblyFormat = [{
    $result_grad `,` $indices attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_SliceGradOp : Graph_Op<"slice_grad", [Pure]> {
  let summary = "Zeros of the sliced input's shape with the slice's gradient written back";
  let arguments = (ins AnyRankedTensor:$result_grad, 1DTensorOf<[I32, I64]>:$starts,
                       1DTensorOf<[I32, I64]>:$ends, 1DTensorOf<[I32, I64]>:$axes,
                       1DTensorOf<[I32, I64]>:$steps);
  let results = (outs AnyRankedTensor:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $starts `,` $ends `,` $axes `,` $steps attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Loss and optimizer updates
//===----------------------------------------------------------------------===//

def Graph_CrossEntropySumOp : Graph_Op<"cross_entropy_sum", [Pure, InferTypeOpAdaptor]> {
  let summary = "Summed softmax cross-entropy of logits [..., V] against integer labels [...]";
  let description = [{
    Sums `logsumexp(logits[p]) - logits[p, labels[p]]` over the positions `p`
    whose label is not `ignore_index`. The result is a scalar of the logits'
    element type; the loss insertion divides it by the number of counted
    positions, which under sequence parallelism spans all ranks.
  }];
  let arguments = (ins AnyRankedTensor:$logits, TensorOf<[I32, I64]>:$labels,
                       DefaultValuedAttr<Graph_I64Attr, "-100">:$ignore_index);
  let results = (outs AnyRankedTensor:$loss);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Graph_CrossEntropySumGradOp : Graph_Op<"cross_entropy_sum_grad",
    [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradient of cross_entropy_sum: (softmax - one_hot) * loss_grad";
  let arguments = (ins AnyRankedTensor:$logits, TensorOf<[I32, I64]>:$labels,
                       0DTensorOf<[AnyFloat]>:$loss_grad,
                       DefaultValuedAttr<Graph_I64Attr, "-100">:$ignore_index);
  let results = (outs AnyRankedTensor:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $labels `,` $loss_grad attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_AdamWUpdateOp : Graph_Op<"adamw_update", [Pure, InferTypeOpAdaptor]> {
  let summary = "One AdamW step (PyTorch's torch.optim.AdamW) of a parameter";
  let description = [{
    `step` is the i64 scalar count of updates including this one (1 first),
    for the bias corrections. The plan runs it in place on the parameter and
    its moments. `scheduled_lr`, when present (the f64 scalar of a
    `graph.lr_schedule`), is this step's learning rate; `learning_rate` then
    records the base rate the schedule scales.
  }];
  let arguments = (ins AnyRankedTensor:$param, AnyRankedTensor:$grad,
                       AnyRankedTensor:$m, AnyRankedTensor:$v, 0DTensorOf<[I64]>:$step,
                       Optional<0DTensorOf<[F64]>>:$scheduled_lr,
                       F64Attr:$learning_rate, F64Attr:$beta1, F64Attr:$beta2,
                       F64Attr:$epsilon, F64Attr:$weight_decay);
  let results = (outs AnyRankedTensor:$new_param, AnyRankedTensor:$new_m,
                      AnyRankedTensor:$new_v);
  let assemblyFormat = [{
    $param `,` $grad `,` $m `,` $v `,` $step (`lr` $scheduled_lr^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Graph_SGDUpdateOp : Graph_Op<"sgd_update", [Pure, InferTypeOpAdaptor]> {
  let summary = "One SGD step (PyTorch's torch.optim.SGD without momentum)";
  let description = [{
    `scheduled_lr`, when present (the f64 scalar of a `graph.lr_schedule`),
    is this step's learning rate; `learning_rate` then records the base rate.
  }];
  let arguments = (ins AnyRankedTensor:$param, AnyRankedTensor:$grad,
                       Optional<0DTensorOf<[F64]>>:$scheduled_lr,
                       F64Attr:$learning_rate, F64Attr:$weight_decay);
  let results = (outs AnyRankedTensor:$new_param);
  let assemblyFormat = [{
    $param `,` $grad (`lr` $scheduled_lr^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradient clipping and learning-rate schedules
//===----------------------------------------------------------------------===//

def Graph_GlobalNormOp : Graph_Op<"global_norm", [Pure]> {
  let summary = "The L2 norm of all elements of all operands together";
  let description = [{
    sqrt of the sum of the squares of every element of every operand, as
    `torch.nn.utils.clip_grad_norm_` measures its `total_norm` (the norm of
    the per-tensor norms is the same number). Squares accumulate in f64
    whatever the operands' float types, so the result is the norm of the
    values as stored.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs);
  let results = (outs 0DTensorOf<[F32, F64]>:$norm);
  let assemblyFormat = "$inputs attr-dict `:` functional-type($inputs, $norm)";
  let hasVerifier = 1;
}

def Graph_ClipCoefficientOp : Graph_Op<"clip_coefficient",
    [Pure, AllTypesMatch<["norm", "coefficient"]>]> {
  let summary = "What clip_grad_norm_ scales gradients by: min(1, max_norm / (norm + 1e-6))";
  let description = [{
    PyTorch's `clip_coef_clamped`: `max_norm / (norm + 1e-6)` clamped to at
    most 1, so gradients whose norm is below `max_norm` keep their values.
    A NaN or infinite norm gives NaN or 0 as in PyTorch (which does not
    error by default).
  }];
  let arguments = (ins 0DTensorOf<[F32, F64]>:$norm, F64Attr:$max_norm);
  let results = (outs 0DTensorOf<[F32, F64]>:$coefficient);
  let assemblyFormat = "$norm attr-dict `:` type($norm)";
  let hasVerifier = 1;
}

def Graph_LRScheduleOp : Graph_Op<"lr_schedule", [Pure]> {
  let summary = "The learning rate of a step, by Hugging Face's schedules with warmup";
  let description = [{
    `completed_steps` is the count of updates before this one (0 for the
    first), PyTorch's `LambdaLR` step count: the result is
    `learning_rate * factor(s)`. With `W = warmup_steps`,
    `T = total_steps`, `r = min_learning_rate / learning_rate`:

    - every kind, `s < W`: `factor = s / max(1, W)`;
    - `constant`: `1` (`get_constant_schedule_with_warmup`);
    - `linear`: `max(0, (T - s) / max(1, T - W))`
      (`get_linear_schedule_with_warmup`), and with a minimum
      `r + (1 - r) * that`, so the rate falls linearly to the minimum at `T`
      and stays there;
    - `cosine`: `max(0, 0.5 * (1 + cos(pi * p)))` with
      `p = (s - W) / max(1, T - W)` (`get_cosine_schedule_with_warmup`), and
      with a minimum `max(0, that * (1 - r) + r)`
      (`get_cosine_with_min_lr_schedule_with_warmup`). As there, `p` is not
      clamped: past `T` the cosine rises again.
  }];
  let arguments = (ins 0DTensorOf<[I64]>:$completed_steps, StrAttr:$kind,
                       Graph_I64Attr:$warmup_steps, Graph_I64Attr:$total_steps,
                       F64Attr:$learning_rate, F64Attr:$min_learning_rate);
  let results = (outs 0DTensorOf<[F64]>:$lr);
  let assemblyFormat = "$completed_steps attr-dict `:` functional-type($completed_steps, $lr)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Randomness
//===----------------------------------------------------------------------===//

def Graph_DropoutOp : Graph_Op<"dropout", [Pure, InferTypeOpAdaptor]> {
  let summary = "Training-mode dropout: x * mask / (1 - ratio), the mask drawn by Philox";
  let description = [{
    Each element is kept with probability `1 - ratio` and then multiplied by
    `1 / (1 - ratio)` (rounded to the element type), a dropped one by zero
    (so NaN and infinity give NaN, as PyTorch's `input * noise`); ratio 1
    gives `x * 0`. The mask is a function of the run's seed and step (from the
    runtime), `site` (a stable id per dropout of the model, so sites draw
    independent masks) and each element's row-major index in the whole,
    unsharded tensor (sp/Semantics/Random.h). The same op applied to the
    result's gradient redraws the same mask, so the backward pass keeps
    nothing.

    Under sequence parallelism the input is a rank's shard along
    `sequence_axis`: `positions` holds the global sequence positions of the
    rank's `P` rows in their layout order (contiguous or zigzag), and local
    row `r` along that axis is global row `(r / P) * sequence_length +
    positions[r % P]` of a dim `(local / P) * sequence_length` long (the
    sequence may be merged with leading dims such as the batch).

    When sp-compile padded the sequence (graph.unpadded_sequence_length)
    and the last dim holds the keys of attention probabilities, the whole
    tensor's last dim counts as `unpadded_keys` long: real elements keep the
    indices, and so the mask, of the unpadded tensor (padded keys' indices run
    into the next row; their probabilities are zero).

    Under `--micro-batches K` the input is slice `micro_batch` of K equal
    slices of the whole batch along dim 0 (sp-micro-batches sets it): its
    indices count on from `micro_batch` times the whole slice's element
    count, so the K slices draw the whole batch's mask.
  }];
  let arguments = (ins AnyRankedTensor:$input, Optional<1DTensorOf<[I64]>>:$positions,
                       F64Attr:$ratio, Graph_I64Attr:$site,
                       OptionalAttr<Graph_I64Attr>:$sequence_axis,
                       OptionalAttr<Graph_I64Attr>:$sequence_length,
                       OptionalAttr<Graph_I64Attr>:$micro_batch,
                       OptionalAttr<Graph_I64Attr>:$unpadded_keys);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`,` $positions^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused ops: what sp-fuse makes of decomposed attention and RMS norm
//===----------------------------------------------------------------------===//

def Graph_AttentionOp : Graph_Op<"attention", [Pure, InferTypeOpAdaptor]> {
  let summary = "Scaled dot-product attention: softmax(scale * q k^T + bias) v";
  let description = [{
    `query` is `[..., Hq, Sq, D]`, `key` `[..., Hkv, Sk, D]` and `value`
    `[..., Hkv, Sk, Dv]` with the same leading dims; Hq is a multiple of Hkv
    and query head h reads key/value head `h / (Hq / Hkv)` (grouped-query
    attention). `bias`, when present, is added to the scores and broadcasts
    to `[..., Hq, Sq, Sk]` (padding masks, sliding windows, ALiBi). With
    `causal`, key position j is visible from query position i iff
    `j <= i + (Sk - Sq)`. A query that sees no key (all scores -inf) gets a
    zero output. `band_lower`, `band_upper` and `band_fill` (a band mask,
    Graph_BandMaskAttrs) replace the bias by `band_fill` outside the band,
    with query position `i + (Sk - Sq)` and key position `j`; a band without
    a bias reads 0 inside it. `softcap` caps the scores before the bias
    (Graph_AttentionSoftCapAttr). The `dropout_*` attributes
    (Graph_AttentionDropoutAttrs) drop probabilities before the product with
    `value`, as graph.dropout on them would.

    `output` is `[..., Hq, Sq, Dv]`; `logsumexp` is `[..., Hq, Sq]`, the log
    of each softmax denominator (scores included), -inf for a query that
    sees no key: attention_grad recomputes the probabilities from it, so
    nothing of size Sq x Sk lives between the forward and backward passes.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, Optional<AnyRankedTensor>:$bias,
                            F64Attr:$scale, DefaultValuedAttr<BoolAttr, "false">:$causal),
                       Graph_AttentionMaskAttrs);
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$logsumexp);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_AttentionGradOp : Graph_Op<"attention_grad", [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradients of attention with respect to query, key and value";
  let description = [{
    The FlashAttention-2 backward pass: probabilities are recomputed block by
    block from `logsumexp`, and the key and value gradients of a grouped
    head sum over the query heads that read it. The bias gets no gradient
    (it is a mask); `scale`, `causal`, the band mask and the dropout are the
    forward op's (the backward pass redraws the forward mask).
    The bias comes last, so that an absent one is a trailing -1 in a plan.
  }];
  let arguments = !con((ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                            AnyRankedTensor:$value, AnyRankedTensor:$output,
                            AnyRankedTensor:$logsumexp, AnyRankedTensor:$output_grad,
                            Optional<AnyRankedTensor>:$bias, F64Attr:$scale,
                            DefaultValuedAttr<BoolAttr, "false">:$causal),
                       Graph_AttentionMaskAttrs);
  let hasVerifier = 1;
  let results = (outs AnyRankedTensor:$query_grad, AnyRankedTensor:$key_grad,
                      AnyRankedTensor:$value_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $output `,` $logsumexp `,` $output_grad (`,` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Graph_RmsNormOp : Graph_Op<"rms_norm", [Pure, InferTypeOpAdaptor]> {
  let summary = "RMS normalization over the dims from `axis` to the last, times a scale";
  let description = [{
    `input / sqrt(mean(input^2 over dims [axis, rank)) + epsilon) * scale`,
    where `scale` has exactly the normalized dims' shape.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$scale,
                       Graph_I64Attr:$axis, F64Attr:$epsilon);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Graph_RmsNormGradOp : Graph_Op<"rms_norm_grad", [Pure, InferTypeOpAdaptor]> {
  let summary = "Gradients of rms_norm with respect to its input and scale";
  let description = [{
    Recomputes each row's inverse root mean square from `input`; the scale
    gradient sums over the leading dims.
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$scale,
                       AnyRankedTensor:$result_grad, Graph_I64Attr:$axis,
                       F64Attr:$epsilon);
  let results = (outs AnyRankedTensor:$input_grad, AnyRankedTensor:$scale_grad);
  let assemblyFormat = [{
    $input `,` $scale `,` $result_grad attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

include "sp/Dialect/Graph/IR/GraphCollectives.td"
include "sp/Dialect/Graph/IR/GraphBlockAttention.td"
include "sp/Dialect/Graph/IR/GraphRingAttention.td"

#endif // SP_DIALECT_GRAPH_IR_GRAPHOPS_TD
