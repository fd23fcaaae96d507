"""Full-integer TF-Lite models: int8 weights and int8 activations, calibrated on the user's own pictures.

ai-edge-quantizer's static recipe takes a float32 TF-Lite file and the model's inputs for a set of calibration
pictures, records each tensor's range, and writes the int8 model. Its input and output are kept float32 and its
softmax float (``int8_recipe``): a QUANTIZE op takes the prepared picture in, and the probabilities still add up
to one. XNNPACK runs it as fast as a model with int8 input and output (``python -m benchmarks.run`` measures the
shipped one). A file whose weights are float16 (what this project ships) is first given float32 weights again,
exactly, since every float16 value is a float32 one (``float32_weights``).

A quantized model answers a little otherwise than its float source, so it is held to its own rule
(``QUANTIZED``): the float model's top answer on nearly every picture where that answer is clear, and no score
far from the float model's.
"""

import contextlib
import io
import itertools
import random
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from conversion.source import ConversionError

CALIBRATION_PICTURES = 200  # spread over the classes; more changes the ranges little (docs/models.md)
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".avif")


class QuantizedRule(NamedTuple):
    min_clear_agreement: float  # of the pictures whose float answer is clear, the share with the same top answer
    clear_gap: float  # a float answer is clear when its two best scores are further apart than this
    max_difference: float  # the largest any score may move


QUANTIZED = QuantizedRule(min_clear_agreement=0.98, clear_gap=0.02, max_difference=0.25)


def agreement(reference: np.ndarray, quantized: np.ndarray, rule: QuantizedRule = QUANTIZED) -> tuple[float, float]:
    """The share of clear pictures with the same top answer, and the largest score difference."""
    ranked = np.sort(reference, axis=1)
    clear = ranked[:, -1] - ranked[:, -2] > rule.clear_gap
    same = reference.argmax(1) == quantized.argmax(1)
    share = float(same[clear].mean()) if clear.any() else 1.0
    return share, float(np.abs(reference - quantized).max())


def check_quantized(reference: np.ndarray, quantized: np.ndarray, rule: QuantizedRule = QUANTIZED) -> str:
    """The figures, in words; ConversionError when the quantized model disagrees beyond the rule."""
    share, largest = agreement(reference, quantized, rule)
    said = (f"int8: the float model's top answer on {100 * share:.1f}% of clear pictures (at least "
            f"{100 * rule.min_clear_agreement:.0f}%), largest score difference {largest:.4f} (at most "
            f"{rule.max_difference})")
    if share < rule.min_clear_agreement or largest > rule.max_difference:
        raise ConversionError(f"the int8 model does not answer as the float one: {said}; keep the float model, or "
                              "calibrate on pictures like those it will be sent")
    return said


def calibration_pictures(folder: Path, count: int = CALIBRATION_PICTURES) -> list[Path]:
    """Up to ``count`` pictures of a folder, or of a folder of class folders, taken in turn from each class (a
    fixed draw, so a run can be repeated)."""
    if not folder.is_dir():
        raise ConversionError(f"--calibration {folder}: no such folder; give a folder of training pictures, or "
                              "of class folders of them")

    def pictures_in(where: Path) -> list[Path]:
        found = sorted(p for p in where.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())
        random.Random(0).shuffle(found)
        return found

    classes = sorted(d for d in folder.iterdir() if d.is_dir())
    groups = [pictures_in(d) for d in classes] if classes else [pictures_in(folder)]
    picked = [p for row in itertools.zip_longest(*groups) for p in row if p is not None][:count]
    if len(picked) < 10:
        raise ConversionError(f"--calibration {folder}: {len(picked)} pictures; calibrating needs at least 10 of "
                              "those the model will be sent")
    return picked


def float32_weights(flatbuffer: bytes) -> bytes:
    """The model with each float16 weight and the DEQUANTIZE that widened it replaced by the float32 weight."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(code) for code in model.operatorCodes]
    for graph in model.subgraphs:
        kept = []
        for operator in graph.operators:
            source = graph.tensors[operator.inputs[0]] if len(operator.inputs) else None
            if codes[operator.opcodeIndex] != schema.BuiltinOperator.DEQUANTIZE or \
                    source.type != schema.TensorType.FLOAT16 or model.buffers[source.buffer].data is None:
                kept.append(operator)
                continue
            weights = np.frombuffer(bytes(model.buffers[source.buffer].data), np.float16).astype(np.float32)
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(weights.tobytes(), np.uint8)
            model.buffers.append(buffer)
            graph.tensors[operator.outputs[0]].buffer = len(model.buffers) - 1
            model.buffers[source.buffer].data = None  # the float16 copy, no longer read
        graph.operators = kept
        renumbered = _drop_unused_tensors(graph)
        for signature in model.signatureDefs or []:
            if signature.subgraphIndex == model.subgraphs.index(graph):
                for tensor in [*signature.inputs, *signature.outputs]:
                    tensor.tensorIndex = renumbered[tensor.tensorIndex]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _drop_unused_tensors(graph) -> dict[int, int]:
    """The float16 tensors no operator reads any more, removed, and every index renumbered: old to new."""
    used = sorted({int(i) for op in graph.operators for i in [*op.inputs, *op.outputs] if i >= 0}
                  | {int(i) for i in [*graph.inputs, *graph.outputs]})
    renumbered = {old: new for new, old in enumerate(used)}
    graph.tensors = [graph.tensors[i] for i in used]
    graph.inputs = [renumbered[int(i)] for i in graph.inputs]
    graph.outputs = [renumbered[int(i)] for i in graph.outputs]
    for op in graph.operators:
        op.inputs = [renumbered[int(i)] if i >= 0 else -1 for i in op.inputs]
        op.outputs = [renumbered[int(i)] if i >= 0 else -1 for i in op.outputs]
    return renumbered


def int8_recipe():
    """int8 weights and activations everywhere but the graph's input, its output and a final softmax."""
    from ai_edge_quantizer import recipe_manager  # noqa: PLC0415
    from ai_edge_quantizer.algorithm_manager import AlgorithmName  # noqa: PLC0415
    from ai_edge_quantizer.qtyping import TFLOperationName  # noqa: PLC0415

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                              weight_num_bits=8)
    for kept_float in (TFLOperationName.INPUT, TFLOperationName.OUTPUT, TFLOperationName.SOFTMAX,
                       TFLOperationName.LOGISTIC):
        manager.add_quantization_config(regex=".*", operation_name=kept_float,
                                        algorithm_key=AlgorithmName.NO_QUANTIZE)
    return manager.get_quantization_recipe()


def to_int8(float_flatbuffer: bytes, inputs: Iterable[np.ndarray], scratch: Path) -> bytes:
    """The full-integer model, calibrated on ``inputs`` (prepared pictures, (1, size, size, 3) each)."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
    from ai_edge_quantizer import quantizer  # noqa: PLC0415

    float_file = scratch / "float32.tflite"
    float_file.write_bytes(float32_weights(float_flatbuffer))
    signatures = Interpreter(model_path=str(float_file)).get_signature_list()
    if len(signatures) != 1:
        raise ConversionError("the TF-Lite model has no single signature to calibrate through")
    [(signature, names)] = signatures.items()
    [input_name] = names["inputs"]
    quantizing = quantizer.Quantizer(str(float_file))
    quantizing.load_quantization_recipe(int8_recipe())
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # its report
        ranges = quantizing.calibrate({signature: [{input_name: batch} for batch in inputs]})
        return quantizing.quantize(ranges, enable_progress_bar=False).quantized_model
