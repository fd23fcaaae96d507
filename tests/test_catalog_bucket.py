"""The catalog batch, as Step Functions' Distributed Map sends it, through ``lambda_handler`` against a real
S3 API on 127.0.0.1: moto's server in a process of its own, spoken to by boto3 over HTTP. The function runs
in a fresh process with only the variables Lambda would give it.
"""

import base64
import contextlib
import json
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts.ports import free_port
from tests.conftest import AWS_CREDENTIALS, IMAGES, LABELS, ROOT, aws_client, image_files, in_background

BUCKET = "shop-catalog"
PREFIX = "catalog/"
LIMIT = 10 * 1024 * 1024  # the function's default MAX_IMAGE_BYTES

# Each event from stdin through the handler, in one process, as one warm instance would serve them; with
# INVOCATION_SECONDS, each invocation has that long, as Lambda's context tells it.
HANDLE = """
import json, os, sys, time
import lambda_function

class Context:
    def __init__(self, seconds):
        self.ends = time.monotonic() + seconds
    def get_remaining_time_in_millis(self):
        return int((self.ends - time.monotonic()) * 1000)

print("ANSWER", json.dumps({"boto3_at_cold_start": "boto3" in sys.modules}))
for line in sys.stdin:
    seconds = os.environ.get("INVOCATION_SECONDS")
    started = time.monotonic()
    answer = lambda_function.lambda_handler(json.loads(line), seconds and Context(float(seconds)))
    print("ANSWER", json.dumps({**answer, "seconds": time.monotonic() - started}), flush=True)
"""


@pytest.fixture(scope="module")
def s3_endpoint(moto_endpoint):
    s3 = aws_client("s3", moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for picture in image_files():
        s3.put_object(Bucket=BUCKET, Key=PREFIX + picture.name, Body=picture.read_bytes())
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "notes.txt", Body=b"not a picture at all")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "huge.jpg", Body=b"\xff\xd8" + b"\0" * LIMIT)
    s3.put_object(Bucket=BUCKET, Key="private/pants-1.jpg", Body=(IMAGES / "pants-1.jpg").read_bytes())
    s3.create_bucket(Bucket="other-bucket")
    s3.put_object(Bucket="other-bucket", Key=PREFIX + "pants-1.jpg", Body=b"not this one")
    return moto_endpoint


def handle(events: list[dict], endpoint: str, **variables: str) -> tuple[bool, list[dict]]:
    """Whether boto3 was loaded at cold start, and each event's answer, from a fresh process."""
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL_S3": endpoint, **variables}
    result = subprocess.run([sys.executable, "-c", HANDLE], cwd=ROOT, env=env, capture_output=True, text=True,
                            input="".join(json.dumps(event) + "\n" for event in events), timeout=300)
    assert result.returncode == 0, result.stderr
    first, *answers = (json.loads(line.removeprefix("ANSWER ")) for line in result.stdout.splitlines()
                       if line.startswith("ANSWER "))  # the function's own log lines are JSON too
    took = [answer.pop("seconds") for answer in answers]
    return (first["boto3_at_cold_start"], answers, took) if variables.get("INVOCATION_SECONDS") else \
        (first["boto3_at_cold_start"], answers)


def batch(*keys) -> dict:
    """What the Distributed Map's ItemSelector and ItemBatcher hand the function."""
    return {"Items": [{"Key": key} for key in keys]}


def test_a_batch_gets_one_result_per_key_in_order_with_the_apis_scores_and_errors(s3_endpoint):
    pictures = [PREFIX + path.name for path in image_files()]
    keys = [*pictures, PREFIX + "missing.jpg", PREFIX + "notes.txt", PREFIX + "huge.jpg", "private/pants-1.jpg"]
    direct = [{"image": base64.b64encode(path.read_bytes()).decode()} for path in image_files()]
    boto3_at_start, (answer, *direct_answers) = handle([batch(*keys), *direct], s3_endpoint,
                                                       CATALOG_BUCKET=BUCKET)

    assert not boto3_at_start
    results = answer["results"]
    assert [result["input"] for result in results] == keys
    assert [result["scores"] for result in results[:len(pictures)]] == direct_answers  # the API's, exactly
    assert all(list(scores) == list(LABELS) for scores in direct_answers)
    errors = {result["input"]: result["error"] for result in results[len(pictures):]}
    assert {key: (error["type"], error["status"]) for key, error in errors.items()} == {
        PREFIX + "missing.jpg": ("NotFound", 404), PREFIX + "notes.txt": ("NotAnImage", 422),
        PREFIX + "huge.jpg": ("ImageTooLarge", 413), "private/pants-1.jpg": ("UrlRefused", 403)}
    assert "catalog/" in errors["private/pants-1.jpg"]["message"]
    assert all("specified key" not in error["message"] for error in errors.values())  # not S3's own words


def test_the_bucket_comes_from_the_functions_environment_never_from_the_event(s3_endpoint):
    event = {**batch(PREFIX + "pants-1.jpg"), "Bucket": "other-bucket", "BatchInput": {"Bucket": "other-bucket"}}
    _, (answer,) = handle([event], s3_endpoint, CATALOG_BUCKET=BUCKET)
    assert max(answer["results"][0]["scores"], key=answer["results"][0]["scores"].get) == "pants"


def test_the_input_prefix_is_the_functions_setting(s3_endpoint):
    _, (answer,) = handle([batch("private/pants-1.jpg", PREFIX + "pants-1.jpg")], s3_endpoint,
                          CATALOG_BUCKET=BUCKET, CATALOG_INPUT_PREFIX="private/")
    first, second = answer["results"]
    assert "scores" in first and second["error"]["type"] == "UrlRefused"


@pytest.mark.parametrize(("event", "words"), [
    ({"Items": "catalog/a.jpg"}, "list"),
    (batch(*[PREFIX + "pants-1.jpg"] * 101), "at most 100"),
])
def test_a_malformed_batch_is_refused_as_a_whole_with_a_clear_error(s3_endpoint, event, words):
    _, (answer,) = handle([event], s3_endpoint, CATALOG_BUCKET=BUCKET)
    assert answer["error"]["type"] == "BadRequest" and words in answer["error"]["message"]


def test_items_that_are_not_keys_get_an_error_each_and_the_rest_are_classified(s3_endpoint):
    _, (answer,) = handle([{"Items": ["catalog/pants-1.jpg", {"Key": 7}, {}, {"Key": PREFIX + "pants-1.jpg"}]}],
                          s3_endpoint, CATALOG_BUCKET=BUCKET)
    *bad, good = answer["results"]
    assert [result["error"]["type"] for result in bad] == ["BadRequest"] * 3
    assert "scores" in good


def test_keys_no_catalog_holds_are_refused_unread_and_echoed_no_longer_than_a_key(s3_endpoint):
    """S3 keys are at most 1,024 bytes of UTF-8 ("Naming Amazon S3 objects"); S3 and IAM treat . and ..
    literally, so catalog/../private/a.jpg stays inside the prefix, but no catalog lists such a key."""
    long_key = PREFIX + "a" * 1_000_000
    _, (answer,) = handle([batch(long_key, PREFIX + "../private/pants-1.jpg", PREFIX + "./pants-1.jpg",
                                 PREFIX + "pants-1.jpg")], s3_endpoint, CATALOG_BUCKET=BUCKET)
    too_long, dotted, dot, good = answer["results"]
    assert [r["error"]["type"] for r in (too_long, dotted, dot)] == ["NotFound"] * 3
    assert "over S3's 1024 bytes" in too_long["error"]["message"] and ". or .." in dotted["error"]["message"]
    assert len(json.dumps(too_long)) < 400 and too_long["input"].startswith(PREFIX)
    assert dotted["input"] == PREFIX + "../private/pants-1.jpg" and "scores" in good


def test_without_a_catalog_bucket_a_batch_is_refused_and_the_function_keeps_serving(s3_endpoint):
    direct = {"image": base64.b64encode((IMAGES / "pants-1.jpg").read_bytes()).decode()}
    _, (refused, served) = handle([batch(PREFIX + "pants-1.jpg"), direct], s3_endpoint)
    assert refused["error"]["type"] == "BadRequest" and "CatalogBucket" in refused["error"]["message"]
    assert list(served) == list(LABELS)


@pytest.mark.process
def test_a_catalog_bucket_that_cannot_be_reached_is_an_upstream_error_per_key():
    _, (answer,) = handle([batch(PREFIX + "pants-1.jpg")], f"http://127.0.0.1:{free_port()}",
                          CATALOG_BUCKET=BUCKET, CONNECT_TIMEOUT="1")
    assert answer["results"][0]["error"]["type"] == "UpstreamError"


class TricklingS3(BaseHTTPRequestHandler):
    """S3 as a slow network makes it near an invocation's end: GetObject's headers at once, then its body
    a kilobyte every 0.2 s, for at most 20 s, until the reader hangs up."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        body = (IMAGES / "pants-1.jpg").read_bytes() * 20
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"0"')
        self.end_headers()
        ends = time.monotonic() + 20
        with contextlib.suppress(OSError):
            for start in range(0, len(body), 1024):
                if time.monotonic() > ends:
                    break
                self.wfile.write(body[start:start + 1024])
                self.wfile.flush()
                time.sleep(0.2)


@pytest.mark.process
def test_a_read_near_the_end_of_an_invocation_ends_with_it_and_the_rest_get_typed_timeouts():
    """Lambda ends an invocation at its timeout whatever it is doing, and the batch's results would be lost:
    each read ends by the invocation's time left (less the second kept to answer), however slowly S3 sends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), TricklingS3)
    server.daemon_threads = True
    with in_background(server) as endpoint:
        _, (answer,), (seconds,) = handle([batch(PREFIX + "a.jpg", PREFIX + "b.jpg", PREFIX + "c.jpg")], endpoint,
                                          CATALOG_BUCKET=BUCKET, INVOCATION_SECONDS="4")
    assert seconds < 4
    assert [result["error"]["type"] for result in answer["results"]] == ["UpstreamTimeout"] * 3


def test_a_batch_counts_under_the_catalog_route_and_its_cold_start_once(s3_endpoint):
    """A cold batch of three is one cold start, not three, and none of its answers is counted as the API's: its
    S3 failures would otherwise hide the API's own in the API's alarms (template.yaml)."""
    env = {"PATH": "/usr/bin:/bin", **AWS_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_endpoint, "CATALOG_BUCKET": BUCKET}
    events = [batch(PREFIX + "pants-1.jpg", PREFIX + "missing.jpg", PREFIX + "hat-1.jpg"), batch(PREFIX + "hat-1.jpg")]
    result = subprocess.run([sys.executable, "-c", HANDLE], cwd=ROOT, env=env, capture_output=True, text=True,
                            input="".join(json.dumps(event) + "\n" for event in events), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    answers = [line for line in lines if "_aws" in line]
    assert [line["ColdStart"] for line in answers] == [1, 0, 0, 0]
    assert {line["route"] for line in answers} == {"catalog"}
    assert [line["ClientErrors"] for line in answers] == [0, 1, 0, 0]  # the missing key, under the catalog's route
