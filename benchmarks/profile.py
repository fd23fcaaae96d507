"""Where one warm request's time goes: a pyinstrument profile of the handler on a 12-megapixel JPEG.

    python -m benchmarks.profile      # after `make bench` has made the pictures; writes docs/profile.md
"""

import os

os.environ["ALLOW_PRIVATE_URLS"] = "true"  # the picture comes from 127.0.0.1

from pyinstrument import Profiler  # noqa: E402

import lambda_function  # noqa: E402
from benchmarks.run import BENCH, ROOT, serve_directory  # noqa: E402

REPORT = ROOT / "docs" / "profile.md"


def main() -> None:
    pictures = BENCH / "pictures"
    event = {"url": f"{serve_directory(pictures)}/12mp.jpg"}
    for _ in range(5):
        lambda_function.lambda_handler(event, None)
    profiler = Profiler(interval=0.0005)
    with profiler:
        for _ in range(10):
            lambda_function.lambda_handler(event, None)
    # paths relative to the project, so that the report is the same file on every machine
    text = profiler.output_text(unicode=True, color=False, show_all=False).replace(f"{ROOT}/", "")
    size = (pictures / "12mp.jpg").stat().st_size / 1e6
    REPORT.write_text(
        "# Profile of warm requests\n\n"
        f"Ten warm requests for a 12-megapixel JPEG ({size:.1f} MB) served from 127.0.0.1, through "
        "`lambda_handler`, sampled by pyinstrument every 0.5 ms (`python -m benchmarks.profile`).\n\n"
        f"```\n{text}```\n"
    )
    print(text)
    print(f"written to {REPORT}")


if __name__ == "__main__":
    main()
