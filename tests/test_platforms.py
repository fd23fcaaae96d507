"""The same function on Google Cloud Functions and Azure Functions: same scores, same errors, same limits.

Google's side is the folder ``make package-gcf`` builds, served over HTTP by
``functions-framework`` in its own process (from ``GCF_VENV``, the venv
``make test`` installs from that folder's requirements.txt, else this one).
Azure's local host cannot be installed here (its Core Tools download a binary),
so its side is ``function_app.py`` called with the ``azure.functions``
request objects the Python worker passes. Lambda's side is the handler with
API Gateway's proxy events, as ``sam local generate-event`` writes them.
"""

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import azure.functions as func
import numpy as np
import pytest
import requests
from PIL import Image

import function_app
import lambda_function
from clothing import http_requests
from clothing.errors import ImageTooLarge
from scripts.dockerfile import read_image
from scripts.package import PLATFORMS, package
from scripts.ports import free_port, wait_for_port
from tests.conftest import IMAGES, LABELS, ROOT, load_event

pytestmark = pytest.mark.platform
PICTURE = (IMAGES / "shoes-1.jpg").read_bytes()


def large_picture() -> bytes:
    """A 7 MB JPEG (noise, 2,500 pixels a side): a body that arrives over many reads of the socket."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (2500, 2500, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


LARGE_PICTURE = large_picture()
TOO_LARGE = b"\xff\xd8" + b"\0" * (10 * 1024 * 1024)  # one byte over MAX_IMAGE_BYTES' default


def functions_framework() -> Path:
    venv = os.environ.get("GCF_VENV")
    return (Path(venv).resolve() / "bin" if venv else Path(sys.executable).parent) / "functions-framework"


def serve_gcf(folder: Path, log: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """functions-framework serving ``folder`` in a clean environment, and its base URL."""
    port = free_port()
    with log.open("wb") as output:  # the server writes to its own copy of the file descriptor
        process = subprocess.Popen(
            [functions_framework(), "--target", "predict", "--host", "127.0.0.1", "--port", str(port)],
            cwd=folder, env={"PATH": "/usr/bin:/bin", **env}, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)
    wait_for_port(port, process, timeout=120)
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def gcf(tmp_path_factory):
    """The packaged Google function over HTTP (local URLs allowed, as the rest of the suite), and its log file."""
    folder = tmp_path_factory.mktemp("package") / "gcf"
    package("gcf", folder)
    log = folder.parent / "gcf.log"
    process, url = serve_gcf(folder, log, ALLOW_PRIVATE_URLS="true", FETCH_TIMEOUT="2")
    yield url, log
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


# As the worker indexes them, once: a second get_functions() call fails its own uniqueness check.
AZURE_FUNCTIONS = {f.get_function_name(): f for f in function_app.app.get_functions()}


def call_azure(method: str, body: bytes = b"", content_type: str = "application/json") -> tuple[int, dict | str]:
    """What the Python worker gets back from the function the host routes ``method`` to: GET to the page,
    POST to predict. Another method never reaches a function on Azure (the host answers 404); here it goes to
    predict, to show that the function itself refuses it as the others do."""
    name = "page" if method == "GET" else "predict"
    request = func.HttpRequest(method, "http://localhost:7071/api/predict", headers={"Content-Type": content_type},
                               body=body)
    response = AZURE_FUNCTIONS[name].get_user_function()(request)
    text = response.get_body().decode()
    return response.status_code, text if method == "GET" else json.loads(text)


def call_gcf(url: str, method: str, body: bytes = b"", content_type: str = "application/json"):
    response = requests.request(method, f"{url}/predict", data=body, headers={"Content-Type": content_type},
                                timeout=60)
    return response.status_code, response.text if method == "GET" else response.json()


def call_lambda(method: str, body: bytes = b"", content_type: str = "application/json"):
    event = load_event("apigateway-rest-predict.json")
    event["httpMethod"] = method
    event["headers"]["Content-Type"] = content_type
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    response = lambda_function.lambda_handler(event, None)
    return response["statusCode"], response["body"] if method == "GET" else json.loads(response["body"])


def answers(gcf_url: str, method: str, body: bytes = b"", content_type: str = "application/json") -> dict:
    return {
        "lambda": call_lambda(method, body, content_type),
        "gcf": call_gcf(gcf_url, method, body, content_type),
        "azure": call_azure(method, body, content_type),
    }


@pytest.mark.parametrize(("body", "content_type"), [
    (json.dumps({"image": base64.b64encode(PICTURE).decode()}).encode(), "application/json"),
    (PICTURE, "image/jpeg"),
    (json.dumps({"image": base64.b64encode(LARGE_PICTURE).decode()}).encode(), "application/json"),
    (LARGE_PICTURE, "image/jpeg"),
], ids=["json", "jpeg", "large json", "large jpeg"])
def test_a_picture_gets_the_same_scores_on_every_platform(gcf, body, content_type):
    got = answers(gcf[0], "POST", body, content_type)
    statuses = {platform: status for platform, (status, _) in got.items()}
    assert statuses == {"lambda": 200, "gcf": 200, "azure": 200}
    scores = [answer for _, answer in got.values()]
    assert list(scores[0]) == list(LABELS)
    assert len(body) > 5_000_000 or max(scores[0], key=scores[0].get) == "shoes"
    for other in scores[1:]:
        assert list(other) == list(LABELS)
        assert all(abs(other[label] - scores[0][label]) < 1e-6 for label in LABELS)


def test_a_url_gets_the_same_scores_on_every_platform(gcf, image_server):
    body = json.dumps({"url": f"{image_server}/images/pants-1.jpg"}).encode()
    got = answers(gcf[0], "POST", body)
    assert {status for status, _ in got.values()} == {200}
    first = got["lambda"][1]
    assert max(first, key=first.get) == "pants"
    assert all(abs(answer[label] - first[label]) < 1e-6 for _, answer in got.values() for label in LABELS)


CONTRACT = [  # (what, method, body, content type, status, error type)
    ("not JSON", "POST", b"not json", "application/json", 400, "BadRequest"),
    ("no field", "POST", b"{}", "application/json", 400, "BadRequest"),
    ("both fields", "POST", b'{"url": "http://x/a.jpg", "image": "aGk="}', "application/json", 400, "BadRequest"),
    ("bad base64", "POST", b'{"image": "***"}', "application/json", 400, "BadRequest"),
    ("ftp", "POST", b'{"url": "ftp://example.com/a.jpg"}', "application/json", 400, "UnsupportedScheme"),
    ("AWS and Google metadata", "POST", b'{"url": "http://169.254.169.254/computeMetadata/v1/"}',
     "application/json", 403, "UrlRefused"),
    ("Azure WireServer", "POST", b'{"url": "http://168.63.129.16/machine?comp=goalstate"}', "application/json",
     403, "UrlRefused"),
    ("text as a picture", "POST", b"hello", "image/jpeg", 422, "NotAnImage"),
    ("an empty picture", "POST", b"", "image/png", 400, "BadRequest"),
    ("too large", "POST", TOO_LARGE, "image/jpeg", 413, "ImageTooLarge"),
    ("a body over every limit", "POST", b'{"image": "' + b"A" * (29 * 1024 * 1024) + b'"}', "application/json",
     413, "ImageTooLarge"),
    ("PUT", "PUT", b"{}", "application/json", 405, "MethodNotAllowed"),
]


@pytest.mark.parametrize(("what", "method", "body", "content_type", "status", "error_type"), CONTRACT,
                         ids=[case[0] for case in CONTRACT])
def test_bad_input_gets_the_same_typed_error_on_every_platform(gcf, what, method, body, content_type, status,
                                                               error_type):
    for platform, (got_status, answer) in answers(gcf[0], method, body, content_type).items():
        assert (platform, got_status, answer["error"]["type"]) == (platform, status, error_type)
        assert answer["error"]["status"] == status and answer["error"]["message"]


@pytest.mark.parametrize(("path", "status", "error_type"), [
    ("/page.html", 422, "NotAnImage"),
    ("/huge", 413, "ImageTooLarge"),
    ("/status/500", 502, "UpstreamError"),
])
def test_image_host_failures_get_the_same_typed_error_on_every_platform(gcf, image_server, path, status,
                                                                        error_type):
    body = json.dumps({"url": image_server + path}).encode()
    for platform, (got_status, answer) in answers(gcf[0], "POST", body).items():
        assert (platform, got_status, answer["error"]["type"]) == (platform, status, error_type)


def test_get_is_the_page_on_every_platform(gcf):
    for platform, (status, html) in answers(gcf[0], "GET").items():
        assert status == 200, platform
        assert html.startswith("<!doctype html>") and 'id="drop"' in html, platform


def test_googles_download_deadline_is_the_fetch_timeout(gcf, image_server):
    started = time.monotonic()
    status, answer = call_gcf(gcf[0], "POST", json.dumps({"url": f"{image_server}/slow"}).encode())
    assert (status, answer["error"]["type"]) == (504, "UpstreamTimeout")
    assert time.monotonic() - started < 2 + 1.5  # FETCH_TIMEOUT=2, as the fixture sets it


def test_azures_download_deadline_is_the_fetch_timeout(image_server, monkeypatch):
    monkeypatch.setattr(function_app.service, "settings", function_app.service.settings._replace(fetch_timeout=1.0))
    started = time.monotonic()
    status, answer = call_azure("POST", json.dumps({"url": f"{image_server}/slow"}).encode())
    assert (status, answer["error"]["type"]) == (504, "UpstreamTimeout")
    assert time.monotonic() - started < 1 + 1.5


LIMIT = http_requests.max_body_bytes(function_app.service.settings.max_image_bytes)


def test_a_body_declared_too_large_is_refused_without_reading_it():
    reads = []
    with pytest.raises(ImageTooLarge):
        http_requests.read_body(LIMIT, 100_000_000, lambda size: reads.append(size) or b"")
    assert reads == []


def test_a_body_of_unknown_length_is_read_no_further_than_the_limit():
    reads = []

    def endless(size: int) -> bytes:
        reads.append(size)
        return b"A" * size

    with pytest.raises(ImageTooLarge):
        http_requests.read_body(LIMIT, None, endless)
    assert reads == [LIMIT + 1]
    assert http_requests.read_body(LIMIT, None, lambda size: b"{}") == b"{}"


def test_googles_logs_are_json_lines_with_severity_and_the_stage_timings(gcf):
    call_gcf(gcf[0], "POST", PICTURE, "image/jpeg")
    call_gcf(gcf[0], "POST", b"{}")
    lines = [json.loads(line) for line in gcf[1].read_text().splitlines() if line.startswith("{")]
    classified = [line for line in lines if line["message"] == "classified"]
    refused = [line for line in lines if line.get("error_type") == "BadRequest"]
    assert classified and refused
    assert classified[-1]["severity"] == "INFO" and refused[-1]["severity"] == "WARNING"
    assert {"fetch_ms", "decode_ms", "inference_ms", "prediction"} <= set(classified[-1])
    assert all("level" not in line for line in lines)


def test_azures_logs_go_to_the_workers_logging_with_the_timings_in_the_message(caplog):
    with caplog.at_level("INFO"):
        call_azure("POST", PICTURE, "image/jpeg")
    [record] = [r for r in caplog.records if r.name == "clothing-classifier-azure"]
    assert record.levelname == "INFO"
    assert record.getMessage().startswith("classified (fetch_ms=") and "inference_ms=" in record.getMessage()


def test_azure_routes_post_with_a_function_key_and_get_without():
    bindings = {name: AZURE_FUNCTIONS[name].get_bindings_dict()["bindings"][0] for name in ("predict", "page")}
    assert (bindings["predict"]["route"], bindings["page"]["route"]) == ("predict", "predict")
    assert [str(m.value) for m in bindings["predict"]["methods"]] == ["POST"]
    assert [str(m.value) for m in bindings["page"]["methods"]] == ["GET"]
    assert bindings["predict"]["authLevel"] == func.AuthLevel.FUNCTION
    assert bindings["page"]["authLevel"] == func.AuthLevel.ANONYMOUS


def test_by_default_google_refuses_local_addresses(tmp_path, image_server):
    """The packaged function as deployed: no ALLOW_PRIVATE_URLS, so the test server itself is out of reach."""
    package("gcf", tmp_path / "gcf")
    process, url = serve_gcf(tmp_path / "gcf", tmp_path / "gcf.log")
    try:
        for target in (f"{image_server}/images/pants-1.jpg", "http://168.63.129.16/", "http://[::ffff:a9fe:a9fe]/"):
            status, answer = call_gcf(url, "POST", json.dumps({"url": target}).encode())
            assert (status, answer["error"]["type"]) == (403, "UrlRefused"), target
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


AZURE_IN_A_CLEAN_PROCESS = """
import json, sys
import azure.functions as func
import function_app
predict = next(f for f in function_app.app.get_functions() if f.get_function_name() == "predict")
for url in sys.argv[1:]:
    request = func.HttpRequest("POST", "http://localhost/api/predict", body=json.dumps({"url": url}).encode())
    response = predict.get_user_function()(request)
    print(response.status_code, json.loads(response.get_body())["error"]["type"])
"""


def test_by_default_azure_refuses_local_addresses(tmp_path, image_server):
    package("azure", tmp_path / "azure")
    targets = [f"{image_server}/images/pants-1.jpg", "http://168.63.129.16/", "http://169.254.169.254/"]
    result = subprocess.run([sys.executable, "-c", AZURE_IN_A_CLEAN_PROCESS, *targets], cwd=tmp_path / "azure",
                            env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split("\n")[:3] == ["403 UrlRefused"] * 3


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_each_package_holds_the_images_files_its_entry_and_its_pinned_requirements(tmp_path, platform):
    files = set(package(platform, tmp_path / platform))
    image = read_image(ROOT / "Dockerfile")
    shipped = set()
    for copy in image.copies:
        paths = copy.source.rglob("*") if copy.source.is_dir() else [copy.source]
        shipped |= {str(Path(copy.destination) / p.relative_to(copy.source)) if copy.source.is_dir()
                    else copy.destination for p in paths if p.is_file() and "__pycache__" not in p.parts}
    expected = (shipped - {"lambda_function.py"}) | {PLATFORMS[platform].entry, *PLATFORMS[platform].extras}
    assert files == expected
    for name in shipped - {"lambda_function.py", "requirements.txt"}:
        assert (tmp_path / platform / name).read_bytes() == (ROOT / name).read_bytes(), name
    requirements = (tmp_path / platform / "requirements.txt").read_text()
    assert requirements.startswith((ROOT / "requirements.txt").read_text())
    library = {"gcf": "functions-framework==", "azure": "azure-functions=="}[platform]
    assert library in requirements
    pins = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert all("==" in line for line in pins), pins


def test_the_lambda_image_carries_neither_other_platforms_entry_nor_library():
    copied = {copy.destination for copy in read_image(ROOT / "Dockerfile").copies}
    assert not copied & {"main.py", "function_app.py", "host.json"}
    runtime = (ROOT / "requirements.txt").read_text()
    assert "functions-framework" not in runtime and "azure-functions" not in runtime
