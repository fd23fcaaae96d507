"""Send a picture to the clothing classifier and print its answer.

    python test.py                      # the course's example picture
    python test.py https://.../a.jpg    # a picture on the web
    python test.py photo.jpg            # a local file, sent as base64

Posts to the local emulator (``make serve``) unless API_URL is set, or
AWS_REGION and API_NUMBER are (the course's API Gateway stage ``test``).
Sends API_KEY as ``x-api-key`` when set. Exits 1 on an error answer.
"""

import argparse
import base64
import json
import os
import sys
from pathlib import Path

import requests

EXAMPLE_PICTURE = "http://bit.ly/mlbookcamp-pants"
LOCAL_URL = "http://localhost:{port}/2015-03-31/functions/function/invocations"


def endpoint() -> str:
    if os.environ.get("API_URL"):
        return os.environ["API_URL"]
    if os.environ.get("API_NUMBER") and os.environ.get("AWS_REGION"):
        return f"https://{os.environ['API_NUMBER']}.execute-api.{os.environ['AWS_REGION']}.amazonaws.com/test/predict"
    return LOCAL_URL.format(port=os.environ.get("PORT", "8080"))


def request_for(picture: str) -> dict:
    path = Path(picture)
    if "://" not in picture and path.is_file():
        return {"image": base64.b64encode(path.read_bytes()).decode()}
    return {"url": picture}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("picture", nargs="?", default=EXAMPLE_PICTURE, help="an image URL or a local file")
    args = parser.parse_args()
    headers = {"x-api-key": os.environ["API_KEY"]} if os.environ.get("API_KEY") else {}
    response = requests.post(endpoint(), json=request_for(args.picture), headers=headers, timeout=60)
    try:
        answer = response.json()
    except ValueError:
        print(f"{response.status_code}: {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2))
    if not response.ok or "error" in answer or "errorMessage" in answer:
        return 1
    print(f"prediction: {max(answer, key=answer.get)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
