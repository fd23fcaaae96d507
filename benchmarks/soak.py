"""Soak the function with good and hostile requests through the real emulator, and watch its memory.

    python -m benchmarks.soak [--requests 5000] [--seed 0]

One emulator serves every request, as one warm Lambda instance would. The
requests are drawn at random from the kinds below, by weight; pictures, bombs
and misbehaving image hosts are served from 127.0.0.1 (so ALLOW_PRIVATE_URLS
is on, and FETCH_TIMEOUT is 1 s to keep the slow hosts short). Prints the
answers by kind and type, latency percentiles per kind, and the runtime's
resident memory every 500 requests. Not part of `make test`: about six minutes.
"""

import argparse
import base64
import collections
import io
import json
import os
import random
import time

import numpy as np
import requests
from PIL import Image

from benchmarks.run import BENCH, INVOCATIONS, Emulator, serve_directory
from scripts import lambda_image
from scripts.dockerfile import read_image
from tests import pictures
from tests.conftest import IMAGES, load_event
from tests.hostile import hostile_host

PICTURES = sorted(IMAGES.glob("*.jpg"))


def jpeg(img: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", progressive=True, **options)
    return out.getvalue()


def bombs() -> dict[str, bytes]:
    """Each kind of hostile picture, by the file name it is served under (tests/test_image_limits.py has more)."""
    out = io.BytesIO()
    Image.new("RGBA", (10000, 5000), (200, 10, 10, 100)).save(out, "PNG")
    flat = Image.new("RGB", (7000, 7000), (120, 130, 140))
    return {
        "bomb.png": out.getvalue(),  # 200 KB, 50 megapixels with transparency: 200 MB and more to decode
        "scans.jpg": pictures.with_repeated_scan(jpeg(flat), 3000),  # 0.5 MB: a minute of CPU
        "coefficients.jpg": jpeg(Image.fromarray(pictures.photo_like(7000, 7000)), subsampling=0),  # 294 MB
        "chunks.png": pictures.png_with_chunks(800_000),  # 9 MB: two seconds of Pillow's Python loop
        "rle.bmp": pictures.rle8_bmp_padded_rows(50_000_000, 1),  # 1 KB: nine seconds of the same
    }


def proxy(body: str, content_type: str = "application/json", base64_encoded: bool = False) -> dict:
    event = load_event("apigateway-rest-predict.json")
    event.update(body=body, isBase64Encoded=base64_encoded, headers={"Content-Type": content_type})
    return event


def kinds(served: str, hostile: str) -> dict[str, tuple[int, object]]:
    """Each kind of request: its weight, and a function of a random generator that makes one."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    picture = lambda rng: rng.choice(PICTURES)  # noqa: E731
    return {
        "url": (30, lambda rng: {"url": f"{served}/{picture(rng).name}"}),
        "bytes": (20, lambda rng: {"image": b64(picture(rng).read_bytes())}),
        "proxy json": (10, lambda rng: proxy(json.dumps({"url": f"{served}/{picture(rng).name}"}))),
        "proxy binary": (10, lambda rng: proxy(b64(picture(rng).read_bytes()), "image/jpeg", True)),
        "bad base64": (4, lambda rng: {"image": "!" * rng.randint(1, 5000)}),
        "not an image": (4, lambda rng: {"image": b64(rng.randbytes(2000))}),
        "bad envelope": (4, lambda rng: proxy("[" * 10_000 + "]" * 10_000) | {"headers": ["x"]}),
        "bomb": (3, lambda rng: {"url": f"{served}/bomb.png"}),
        "jpeg scans": (2, lambda rng: {"url": f"{served}/scans.jpg"}),
        "jpeg coefficients": (2, lambda rng: {"url": f"{served}/coefficients.jpg"}),
        "png chunks": (2, lambda rng: {"url": f"{served}/chunks.png"}),
        "bmp run-length": (2, lambda rng: {"url": f"{served}/rle.bmp"}),
        "metadata": (3, lambda rng: {"url": "http://169.254.169.254/latest/meta-data/"}),
        "banner": (3, lambda rng: {"url": f"{hostile}/banner"}),
        "cut short": (3, lambda rng: {"url": f"{hostile}/cut-short"}),
        "204": (2, lambda rng: {"url": f"{hostile}/status/204"}),
        "trickled headers": (2, lambda rng: {"url": f"{hostile}/trickled-headers"}),
        "endless continue": (2, lambda rng: {"url": f"{hostile}/endless-continue"}),
    }


def answer_type(answer: dict) -> str:
    if "statusCode" in answer:
        answer = json.loads(answer["body"])
    if "error" in answer:
        return answer["error"]["type"]
    return answer.get("errorType", "scores")  # errorType: the runtime's own, a crash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.update(ALLOW_PRIVATE_URLS="true", FETCH_TIMEOUT="1", LOG_LEVEL="ERROR")
    lambda_image.build_runtime_venv()
    lambda_image.fetch_emulator()
    task_root = lambda_image.build_task_root(read_image(lambda_image.DOCKERFILE), BENCH / "task-soak")
    files = BENCH / "soak"
    files.mkdir(parents=True, exist_ok=True)
    for path in PICTURES:
        (files / path.name).write_bytes(path.read_bytes())
    for name, data in bombs().items():
        (files / name).write_bytes(data)
    rng = random.Random(args.seed)
    latencies, answers = collections.defaultdict(list), collections.Counter()
    with hostile_host() as hostile:
        made = kinds(serve_directory(files), hostile)
        names, weights = list(made), [weight for weight, _ in made.values()]
        emulator = Emulator(task_root)
        try:
            url = f"http://127.0.0.1:{emulator.port}{INVOCATIONS}"
            for number in range(1, args.requests + 1):
                kind = rng.choices(names, weights)[0]
                event = made[kind][1](rng)
                started = time.perf_counter()
                answer = requests.post(url, json=event, timeout=60).json()
                latencies[kind].append(1000 * (time.perf_counter() - started))
                answers[kind, answer_type(answer)] += 1
                if number % 500 == 0:
                    print(f"after {number:5d} requests: runtime RSS {emulator.runtime_memory_mb():.0f} MB, "
                          f"peak {emulator.peak_memory_mb():.0f} MB", flush=True)
        finally:
            emulator.stop()
    print("\n| kind | answers | p50 ms | p95 ms | max ms |\n|---|---|---:|---:|---:|")
    for kind in names:
        got = ", ".join(f"{t} {n}" for (k, t), n in sorted(answers.items()) if k == kind)
        times = latencies[kind] or [0.0]
        print(f"| {kind} | {got} | {np.percentile(times, 50):.0f} | {np.percentile(times, 95):.0f} | "
              f"{max(times):.0f} |")


if __name__ == "__main__":
    main()
