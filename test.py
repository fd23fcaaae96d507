"""Send a picture to the clothing classifier and print its answer.

    python test.py                      # the course's example picture
    python test.py https://.../a.jpg    # a picture on the web
    python test.py photo.jpg            # a local file, sent as base64

Settings, from the environment:

    PORT                    the local emulator's port (default 8080), used when nothing below is set
    API_URL                 the deployed endpoint, as the stack's ApiUrl output gives it
    AWS_REGION, API_NUMBER  or the course's way: the API id and region of stage ``test``
    API_KEY                 sent as ``x-api-key`` when set (the stack's ApiKeyCommand prints it), and as
                            ``x-functions-key``, Azure's name for it

Exits 1 on an error answer or when nothing answers, 2 on a picture that is
neither a URL nor an existing file, or too large for Lambda's 6 MB request.
"""

import argparse
import base64
import json
import os
import sys
from pathlib import Path

import requests

EXAMPLE_PICTURE = "http://bit.ly/mlbookcamp-pants"
# Lambda takes requests of at most 6 MB; API Gateway's event adds headers and context around the body.
LAMBDA_REQUEST_BYTES = 6 * 1024 * 1024
EVENT_SLACK_BYTES = 16 * 1024
LOCAL_URL = "http://localhost:{port}/2015-03-31/functions/function/invocations"


def endpoint() -> str:
    if os.environ.get("API_URL"):
        return os.environ["API_URL"]
    if os.environ.get("API_NUMBER") and os.environ.get("AWS_REGION"):
        return f"https://{os.environ['API_NUMBER']}.execute-api.{os.environ['AWS_REGION']}.amazonaws.com/test/predict"
    return LOCAL_URL.format(port=os.environ.get("PORT", "8080"))


def request_for(picture: str) -> dict:
    if "://" in picture:
        return {"url": picture}
    path = Path(picture)
    if not path.is_file():
        raise FileNotFoundError(f"{picture}: no such file (give a file or an http(s) URL)")
    request = {"image": base64.b64encode(path.read_bytes()).decode()}
    if len(json.dumps(request)) > LAMBDA_REQUEST_BYTES - EVENT_SLACK_BYTES:
        raise ValueError(f"{picture} is {path.stat().st_size / 2**20:.1f} MB: sent as base64 that is over Lambda's "
                         "6 MB request limit; send it by URL (python test.py https://...), or shrink it first "
                         "(the page shrinks photos itself)")
    return request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("picture", nargs="?", default=EXAMPLE_PICTURE, help="an image URL or a local file")
    args = parser.parse_args()
    key = os.environ.get("API_KEY")
    headers = {"x-api-key": key, "x-functions-key": key} if key else {}  # API Gateway's header, Azure's
    try:
        request = request_for(args.picture)
    except (OSError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    url = endpoint()
    try:
        response = requests.post(url, json=request, headers=headers, timeout=60)
    except requests.ConnectionError:
        hint = "" if os.environ.get("API_URL") or os.environ.get("API_NUMBER") else "; is `make serve` running?"
        print(f"nothing answers at {url}{hint}", file=sys.stderr)
        return 1
    except requests.Timeout:
        print(f"{url} did not answer within 60 s", file=sys.stderr)
        return 1
    try:
        answer = response.json()
    except ValueError:
        print(f"{response.status_code}: {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    if response.status_code == 403 and answer == {"message": "Forbidden"}:  # API Gateway's own, before the function
        print("the API wants its key: export API_KEY=... (the stack's ApiKeyCommand output prints it)"
              if not key else "the API refused API_KEY: is it this stack's key?", file=sys.stderr)
    if not response.ok or "error" in answer or "errorMessage" in answer:
        return 1
    print(f"prediction: {max(answer, key=answer.get)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
