"""float16 weights for a float32 TF-Lite file, with ai-edge-quantizer: half the file, float32 arithmetic kept.

Shared by the training pipeline's variants (``training/convert.py``) and the ONNX path that ``.onnx`` files,
``.pt2`` networks and this project's own take (``conversion/onnx_source.py``): all halve their weights one way.
"""

from pathlib import Path

from ai_edge_quantizer import quantizer, recipe_manager
from ai_edge_quantizer.algorithm_manager import AlgorithmName
from ai_edge_quantizer.qtyping import TFLOperationName


def float16_recipe():
    manager = recipe_manager.RecipeManager()
    manager.add_weight_only_config(
        regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
        algorithm_key=AlgorithmName.FLOAT_CASTING,
    )
    return manager.get_quantization_recipe()


def to_float16(float32_file: Path) -> bytes:
    return quantizer.Quantizer(str(float32_file), float16_recipe()).quantize(enable_progress_report=False) \
        .quantized_model
