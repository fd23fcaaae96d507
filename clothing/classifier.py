"""The model: a TF-Lite interpreter and the settings stored beside it, built once.

Runs on LiteRT (``ai-edge-litert``), the runtime the Lambda image carries,
or on ``tflite-runtime`` where only that one is installed.
"""

import json
import os
import threading

import numpy as np
from PIL import Image

from clothing.decoding.decode import decode_image
from clothing.model_input import InputPreparer

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # pragma: no cover - the older runtime has the same API
    from tflite_runtime.interpreter import Interpreter


def metadata_path(model_path: str | os.PathLike) -> str:
    """The model's settings file: ``clothing_model.tflite`` → ``clothing_model.json``."""
    return os.path.splitext(model_path)[0] + ".json"


def write_metadata(model_path: str | os.PathLike, settings: dict) -> None:
    """The settings file beside ``model_path``: input size, scaling, resize, labels in output order, the output's
    kind, and its source."""
    with open(metadata_path(model_path), "w") as file:
        file.write(json.dumps(settings, indent=2) + "\n")


# What the model's output is, by the name its settings file gives ("output"): a probability for each label,
# or, for a binary classifier with one output, the logit of the second label's probability or that probability.
OUTPUTS = ("probabilities", "logit", "sigmoid")


def two_labels(outputs: np.ndarray, output: str) -> np.ndarray:
    """A one-output model's answers, (..., 1), as both labels' probabilities, (..., 2): ``1 - p, p``."""
    second = 1 / (1 + np.exp(-outputs[..., 0])) if output == "logit" else outputs[..., 0]
    return np.stack([1 - second, second], axis=-1).astype(np.float32)


class Classifier:
    """Scores pictures with the model; reads its input size, scaling, resize, labels and output from its metadata.

    A binary model with one output answers both labels: ``{first: 1 - p, second: p}``, where ``p`` is the
    sigmoid of its logit, or its own output when its graph ends in a sigmoid. With ``"flip": true`` in the
    settings, each picture is answered as the mean of its own scores and its mirror image's: one more invoke.
    """

    def __init__(self, model_path: str | os.PathLike, threads: int = 2):
        with open(metadata_path(model_path)) as file:
            metadata = json.load(file)
        self.labels: tuple[str, ...] = tuple(metadata["labels"])
        self.input_size: int = metadata["input_size"]
        self.output: str = metadata.get("output", "probabilities")
        self.flip: bool = bool(metadata.get("flip", False))
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r} in the model's metadata; known: {', '.join(OUTPUTS)}")
        self.prepare = InputPreparer(self.input_size, metadata["scaling"], metadata.get("resize", "antialiased"))
        self._interpreter = Interpreter(model_path=os.fspath(model_path), num_threads=threads)
        self._interpreter.allocate_tensors()
        input_detail = self._interpreter.get_input_details()[0]
        output_detail = self._interpreter.get_output_details()[0]
        expected = [1, self.input_size, self.input_size, 3]
        outputs = 1 if self.output in ("logit", "sigmoid") else len(self.labels)
        if self.output != "probabilities" and len(self.labels) != 2:
            raise ValueError(f"a model with one {self.output} output answers two labels, not {len(self.labels)}")
        if list(input_detail["shape"]) != expected or output_detail["shape"][-1] != outputs:
            raise ValueError(
                f"the model takes {list(input_detail['shape'])} and gives {list(output_detail['shape'])}; "
                f"its metadata says {expected} and "
                f"{f'one {self.output} output' if outputs == 1 else f'{len(self.labels)} labels'}"
            )
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        # A full-integer model takes and gives int8: the prepared picture is quantized with its input's scale
        # and zero point, and the scores dequantized with its output's, as TF-Lite's own converter documents.
        self._input_type = input_detail["dtype"]
        self._input_quantization = input_detail["quantization"]
        self._output_quantization = output_detail["quantization"] if output_detail["dtype"] != np.float32 else None
        # One request at a time in the interpreter: Google's and Azure's hosts may call from several threads.
        self._lock = threading.Lock()

    def scores(self, batch: np.ndarray) -> np.ndarray:
        """Class scores for one prepared input of shape (1, size, size, 3), averaged with its mirror's where the
        settings say ``flip``."""
        scores = self._scores(batch)
        return (scores + self._scores(np.ascontiguousarray(batch[:, :, ::-1]))) / 2 if self.flip else scores

    def _scores(self, batch: np.ndarray) -> np.ndarray:
        if self._input_type != np.float32:
            scale, zero_point = self._input_quantization
            limits = np.iinfo(self._input_type)
            batch = np.clip(np.round(batch / scale) + zero_point, limits.min, limits.max).astype(self._input_type)
        with self._lock:
            self._interpreter.set_tensor(self._input_index, batch)
            self._interpreter.invoke()
            scores = self._interpreter.get_tensor(self._output_index)[0].astype(np.float32)
        if self._output_quantization is not None:
            scale, zero_point = self._output_quantization
            scores = (scores - zero_point) * np.float32(scale)
        return scores if self.output == "probabilities" else two_labels(scores, self.output)

    def classify(self, picture: Image.Image) -> dict[str, float]:
        """``{label: score}`` in the model's label order, as plain floats."""
        return dict(zip(self.labels, self.scores(self.prepare(picture)).tolist(), strict=True))

    def decode(self, data: bytes, **limits) -> Image.Image:
        """A picture file decoded as this model takes it: at reduced scale only where its resize allows
        (``decode_image``'s ``reduce``); ``limits`` are decode_image's."""
        return decode_image(data, self.input_size, reduce=self.prepare.reduces, **limits)

    def classify_bytes(self, data: bytes, **limits) -> dict[str, float]:
        """``{label: score}`` for a picture file: decoded, prepared and scored as the function serves it."""
        return self.classify(self.decode(data, **limits))
