"""The model's floor for `make bench`: NumPy, LiteRT and this project's model, loaded as the function loads it,
and run once on each request, with no picture: what no change to the rest of the function can go below."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter

interpreter = Interpreter(model_path="clothing_model.tflite", num_threads=2)
interpreter.allocate_tensors()
INPUT = interpreter.get_input_details()[0]


def lambda_handler(event, context):
    interpreter.set_tensor(INPUT["index"], np.zeros(INPUT["shape"], np.float32))
    interpreter.invoke()
    return {}
