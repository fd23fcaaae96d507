"""The settings users deploy, proven in a fresh process with a clean environment.

The rest of the suite runs with ALLOW_PRIVATE_URLS=true so that the function
may fetch from 127.0.0.1; these tests show what it does without that flag.
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HANDLE = """
import json, sys
import lambda_function
answers = [lambda_function.lambda_handler({"url": url}, None) for url in sys.argv[1:]]
print(json.dumps(answers))
"""


def handle_in_a_clean_process(*urls: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", HANDLE, *urls], cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def refused(image_server) -> dict[str, dict]:
    port = image_server.rsplit(":", 1)[1]
    urls = {
        "loopback": f"{image_server}/images/pants-1.jpg",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "runtime api": "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
        "named loopback": f"http://localhost:{port}/images/pants-1.jpg",
        "another port": "http://93.184.216.34:22/",
    }
    return dict(zip(urls, handle_in_a_clean_process(*urls.values()), strict=True))


@pytest.mark.parametrize("target", ["loopback", "metadata", "runtime api", "named loopback", "another port"])
def test_by_default_private_addresses_and_other_ports_are_refused(refused, target):
    assert refused[target]["error"]["type"] == "UrlRefused"
    assert refused[target]["error"]["status"] == 403


@pytest.mark.process
def test_the_page_is_not_read_at_cold_start():
    probe = "import sys, lambda_function; print('clothing.page' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
