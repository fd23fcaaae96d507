"""The cold-start floor for `make bench`: a handler that only imports what any TF-Lite function must."""

import numpy  # noqa: F401
from ai_edge_litert.interpreter import Interpreter  # noqa: F401


def lambda_handler(event, context):
    return {}
