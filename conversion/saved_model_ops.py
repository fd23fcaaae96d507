"""A SavedModel read as data before TensorFlow loads it: every operation its graphs can run, against what an
image classifier needs.

``tf.saved_model.load`` runs a SavedModel's resource initializers as it loads, and the converter then calls its
serving function: both are graphs, and TensorFlow has operations that read and write files (``ReadFile``,
``WriteFile``, ``MatchingFiles``...), run Python, or reach the network. Keras's ``safe_mode`` never applies to a
folder loaded by TensorFlow. So ``saved_model.pb`` is parsed as a protobuf, without loading it, and each
function that loading or serving can reach (the top-level graph, every function in its library) may hold only
``CLASSIFIER_OPS``. The SavedModel's own checkpoint functions, which only saving and the loader's variable
restore reach (``saver_def``), may also hold ``CHECKPOINT_OPS``. An allow-list rather than TensorFlow's
``saved_model_cli scan`` deny-list: an operation not foreseen is refused, not run.
"""

from pathlib import Path

from tensorflow.core.protobuf import saved_model_pb2

from conversion.source import ConversionError

# What a convolutional or dense image classifier's inference graph is made of, as Keras's model.export and
# tf.saved_model.save write it: variables, calls between its functions, control flow, and tensor arithmetic.
CLASSIFIER_OPS = frozenset(str.split("""
    Const Identity IdentityN NoOp Placeholder PlaceholderWithDefault StopGradient PreventGradient Snapshot
    EnsureShape StatefulPartitionedCall PartitionedCall If StatelessIf While StatelessWhile Case StatelessCase
    VarHandleOp ReadVariableOp AssignVariableOp VarIsInitializedOp DisableCopyOnRead
    Cast Bitcast Shape ShapeN Size Rank Reshape Squeeze ExpandDims Transpose ConcatV2 Concat Pack Unpack Split
    SplitV Slice StridedSlice Pad PadV2 MirrorPad Fill ZerosLike OnesLike Range Tile GatherV2 GatherNd
    BroadcastTo BroadcastArgs BroadcastGradientArgs ReverseV2 Where Select SelectV2 OneHot TopKV2 Cumsum
    Add AddV2 AddN Sub Mul MulNoNan RealDiv Div DivNoNan FloorDiv FloorMod Maximum Minimum Neg Square Sqrt Rsqrt
    Exp Expm1 Log Log1p Pow Abs Sign Reciprocal Round Floor Ceil ClipByValue SquaredDifference Erf Erfc Sin Cos
    Tanh Sigmoid Relu Relu6 Elu Selu LeakyRelu Softplus Softsign Softmax LogSoftmax
    MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum BiasAdd Conv2D Conv3D DepthwiseConv2dNative
    Conv2DBackpropInput FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 MaxPool MaxPoolV2 AvgPool MaxPool3D
    AvgPool3D LRN Mean Sum Max Min Prod All Any ArgMax ArgMin L2Loss
    Greater GreaterEqual Less LessEqual Equal NotEqual LogicalAnd LogicalOr LogicalNot IsNan IsInf IsFinite
    ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea ScaleAndTranslate CropAndResize
    AdjustContrastv2 RGBToHSV HSVToRGB
    RandomUniform RandomStandardNormal StatelessRandomUniformV2 StatelessRandomNormalV2
    StatelessRandomGetKeyCounter StatelessRandomGetAlg
"""))
# What a SavedModel's own save and restore functions do with its checkpoint, beside the above.
CHECKPOINT_OPS = frozenset(str.split("""
    SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch
"""))


def _node_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":")[0]


def _called(node, functions: dict) -> set[str]:
    """The library functions a node calls: as its operation, or through its attributes (``f``, branches)."""
    called = {node.op} & set(functions)
    for value in node.attr.values():
        if value.HasField("func"):
            called.add(value.func.name)
        called |= {function.name for function in value.list.func}
    return called


def _reach(names: set[str], functions: dict) -> set[str]:
    """The functions ``names`` call, and the functions those call, to the end."""
    reached, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in reached or name not in functions:
            continue
        reached.add(name)
        for node in functions[name].node_def:
            todo.extend(_called(node, functions))
    return reached


def check_saved_model(folder: Path) -> None:
    """ConversionError, naming the operation and where it is, for a SavedModel whose graphs hold an operation
    that an image classifier does not need."""
    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((folder / "saved_model.pb").read_bytes())
    except Exception:  # protobuf's DecodeError for what is not a SavedModel
        raise ConversionError(f"{folder}: saved_model.pb is not a SavedModel") from None
    for graph in saved.meta_graphs:
        nodes = {node.name: node for node in graph.graph_def.node}
        functions = {function.signature.name: function for function in graph.graph_def.library.function}
        saver = graph.saver_def
        checkpoint_nodes, todo = set(), [_node_name(saver.save_tensor_name), _node_name(saver.restore_op_name)]
        while todo:  # the top-level nodes saving and restoring go through
            name = todo.pop()
            if name and name not in checkpoint_nodes and name in nodes:
                checkpoint_nodes.add(name)
                todo.extend(_node_name(tensor) for tensor in nodes[name].input)
        everything_else = {name for node in graph.graph_def.node if node.name not in checkpoint_nodes
                           for name in _called(node, functions)}
        everything_else |= set(graph.object_graph_def.concrete_functions)
        checkpoint_only = _reach({name for node in checkpoint_nodes for name in _called(nodes[node], functions)},
                                 functions) - _reach(everything_else, functions)
        for node in graph.graph_def.node:
            _check(folder, node.op, "the top-level graph",
                   CLASSIFIER_OPS | (CHECKPOINT_OPS if node.name in checkpoint_nodes else frozenset()), functions)
        for name, function in functions.items():
            allowed = CLASSIFIER_OPS | (CHECKPOINT_OPS if name in checkpoint_only else frozenset())
            for node in function.node_def:
                _check(folder, node.op, f"function {name}", allowed, functions)


def _check(folder: Path, op: str, where: str, allowed: frozenset, functions: dict) -> None:
    if op not in allowed and op not in functions:
        raise ConversionError(f"{folder}: the SavedModel's {where} holds the operation {op}, which an image "
                              "classifier does not need; refused before TensorFlow loads it")
