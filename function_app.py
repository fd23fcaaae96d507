"""Azure Functions entry point (Python v2 programming model): the same classifier as ``lambda_function.py``.

``POST /api/predict`` classifies and needs a function key (``x-functions-key``
header or ``?code=``), as the AWS API needs its API key; ``GET /api/predict``
is the page, open to all, which asks for the key. Both hand the request to
``clothing.http_requests`` and return its answer as it is. The Python worker takes
log records from the standard ``logging`` tree. ``make package-azure`` puts
this file and ``host.json`` in ``build/azure/``.
"""

import azure.functions as func

from clothing.http_requests import answer_http
from clothing.logs import worker_logger
from clothing.service import Service
from clothing.settings import Settings

service = Service(Settings.from_environment(), worker_logger("clothing-classifier-azure"))
app = func.FunctionApp()


@app.function_name("predict")
@app.route(route="predict", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def predict(req: func.HttpRequest) -> func.HttpResponse:
    """The scores for a POSTed picture or URL, or an error object."""
    return _respond(req)


@app.function_name("page")
@app.route(route="predict", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def page(req: func.HttpRequest) -> func.HttpResponse:
    """The page for people, which POSTs to the same path."""
    return _respond(req)


def _respond(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()  # the host has read it already: bytes in memory, its length known
    answer = answer_http(service, req.method, req.headers.get("Content-Type", ""), len(body),
                         lambda size: body[:size])
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)
