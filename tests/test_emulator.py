"""End to end through the real Lambda Runtime Interface Emulator, started as `make serve` starts it."""

import base64
import json
import os
import re
import subprocess
import sys

import boto3
import pytest
import requests
from botocore.config import Config

from scripts.ports import free_port
from tests.conftest import IMAGES, LABELS, ROOT

INVOCATIONS = "/2015-03-31/functions/function/invocations"


@pytest.fixture
def emulator(served):
    """Base URL of the function under the real emulator, started as `make serve` starts it."""
    return served.function_url


def picture(name: str) -> str:
    return base64.b64encode((IMAGES / name).read_bytes()).decode()


def test_boto3_invoke(emulator, image_server):
    client = boto3.client(
        "lambda", endpoint_url=emulator, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )
    payload = json.dumps({"url": f"{image_server}/images/shoes-2.jpg"})
    response = client.invoke(FunctionName="function", Payload=payload)
    answer = json.loads(response["Payload"].read())
    assert "FunctionError" not in response
    assert list(answer) == list(LABELS)


def test_plain_http_post(emulator):
    answer = requests.post(emulator + INVOCATIONS, json={"image": picture("hat-2.jpg")}, timeout=60).json()
    assert list(answer) == list(LABELS)


def test_a_bad_event_gets_an_error_and_the_next_good_one_works(emulator, image_server):
    bad = requests.post(emulator + INVOCATIONS, data=b'{"url": "gopher://x"}', timeout=60).json()
    assert bad["error"]["type"] == "UnsupportedScheme"
    broken = requests.post(emulator + INVOCATIONS, data=b"not json at all", timeout=60).json()
    assert broken["errorType"] == "Runtime.UnmarshalError"  # the runtime refuses it before the handler
    good = requests.post(emulator + INVOCATIONS, json={"url": f"{image_server}/images/skirt-2.jpg"}, timeout=60)
    assert list(good.json()) == list(LABELS)


def test_a_catalog_batch_in_the_runtime_as_the_image_has_it_is_answered_and_the_function_goes_on(emulator):
    """boto3 is there as in Lambda's base image; with no CatalogBucket the batch is refused as a whole."""
    batch = requests.post(emulator + INVOCATIONS, json={"Items": [{"Key": "catalog/a.jpg"}]}, timeout=60).json()
    assert batch["error"]["type"] == "BadRequest" and "CatalogBucket" in batch["error"]["message"]
    after = requests.post(emulator + INVOCATIONS, json={"image": picture("hat-2.jpg")}, timeout=60).json()
    assert list(after) == list(LABELS)


@pytest.mark.parametrize("argument", ["file", "url"])
def test_test_py_prints_the_answer(emulator, image_server, argument):
    target = str(IMAGES / "dress-2.jpg") if argument == "file" else f"{image_server}/images/dress-2.jpg"
    port = emulator.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "API_NUMBER")} | {"PORT": port}
    result = subprocess.run([sys.executable, str(ROOT / "test.py"), target], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)) == list(LABELS)


def test_test_py_exits_non_zero_on_an_error_answer(emulator):
    port = emulator.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "API_NUMBER")} | {"PORT": port}
    result = subprocess.run([sys.executable, str(ROOT / "test.py"), "ftp://example.com/a.jpg"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["type"] == "UnsupportedScheme"


def run_test_py(*arguments: str, port: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "API_NUMBER")} | {"PORT": str(port)}
    return subprocess.run([sys.executable, str(ROOT / "test.py"), *arguments], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.process
def test_test_py_says_in_one_line_that_nothing_is_serving():
    port = free_port()
    result = run_test_py(str(IMAGES / "hat-1.jpg"), port=port)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"nothing answers at http://localhost:{port}/2015-03-31/functions/function/invocations; "
        "is `make serve` running?"]


@pytest.mark.process
def test_test_py_says_a_mistyped_file_does_not_exist():
    result = run_test_py("nonexistent.jpg", port=free_port())
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["nonexistent.jpg: no such file (give a file or an http(s) URL)"]


def test_the_runtime_serves_without_the_files_the_image_deletes(emulator):
    from scripts.lambda_image import UNUSED_RUNTIME_FILES, site_packages

    assert not any((site_packages() / unused).exists() for unused in UNUSED_RUNTIME_FILES)
    answer = requests.post(emulator + INVOCATIONS, json={"image": picture("shoes-1.jpg")}, timeout=60).json()
    assert list(answer) == list(LABELS)


@pytest.mark.process
def test_test_py_refuses_a_photo_over_lambdas_request_limit_before_sending_it(tmp_path):
    photo = tmp_path / "phone.jpg"
    photo.write_bytes((IMAGES / "hat-1.jpg").read_bytes() * (5 * 2**20 // (IMAGES / "hat-1.jpg").stat().st_size))
    result = run_test_py(str(photo), port=free_port())  # nothing listens: a request would say so
    assert result.returncode == 2
    assert "over Lambda's 6 MB request limit; send it by URL" in result.stderr
    assert "nothing answers" not in result.stderr


def test_the_answer_the_readme_shows_is_the_one_test_py_prints(emulator):
    """README.md's sample of `test.py tests/images/pants-1.jpg`, the scores it shows, against the real run."""
    result = run_test_py(str(IMAGES / "pants-1.jpg"), port=int(emulator.rsplit(":", 1)[1]))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    readme = (ROOT / "README.md").read_text()
    sample = readme[readme.index("$ .venv/bin/python test.py tests/images/pants-1.jpg"):].split("```")[0]
    shown = dict(re.findall(r'"([\w-]+)": ([\d.]+)', sample))
    assert len(shown) >= 2 and {label: float(score) for label, score in shown.items()} == pytest.approx(
        {label: printed[label] for label in shown}, abs=1e-6)
    assert "prediction: pants" in sample and "prediction: pants" in result.stderr


def test_the_addresses_the_readme_shows_are_the_ones_make_serve_prints(served, capsys):
    from scripts.serve import announce

    api_port = int(served.api_url.rsplit(":", 1)[1])
    announce("lambda_function.lambda_handler", "http://127.0.0.1:8080", api_port)  # the API answers: at once
    printed = capsys.readouterr().out.replace(f":{api_port}/", ":3000/")
    readme = (ROOT / "README.md").read_text()
    assert printed.strip() in readme
