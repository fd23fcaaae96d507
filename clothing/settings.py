"""Configuration: every environment variable the function reads, read once at cold start.

The names and defaults are documented in docs/configuration.md and set in template.yaml.
"""

import os
from typing import NamedTuple

# Paths are plain strings here: importing pathlib is a measurable part of a cold start (python -X importtime).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Read by this module (see Settings), by clothing.logs (LOG_LEVEL), and by the Lambda runtime (AWS_LAMBDA_*).
ENVIRONMENT_VARIABLES = (
    "MODEL_PATH", "INTERPRETER_THREADS", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_DECODE_BYTES",
    "MAX_DECODE_SECONDS", "FETCH_TIMEOUT", "CONNECT_TIMEOUT", "MAX_REDIRECTS", "ALLOWED_PORTS",
    "ALLOW_PRIVATE_URLS", "CATALOG_BUCKET", "CATALOG_INPUT_PREFIX", "LOG_LEVEL",
)
ENVIRONMENT_PREFIXES = ("AWS_LAMBDA_",)
# The image hosts' ports allowed by default (clothing.addresses; ALLOWED_PORTS sets others).
WEB_PORTS = (80, 443)


LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one vCPU's worth of CPU at 1,769 MB, in proportion below and above
LAMBDA_MAX_VCPUS = 6


def interpreter_threads(setting: str, memory_mb: str | None) -> tuple[int, str]:
    """How many threads the interpreter uses, and why: a number as set, or ``auto``.

    ``auto`` takes the vCPUs Lambda gives at the function's memory size, to the
    nearest whole one, at least one: measured under each size's CPU quota
    (``python -m benchmarks.memory``, docs/performance.md), a second thread made the slowest
    requests slower below about 1.5 vCPUs and faster above. Outside Lambda,
    with no memory size, the CPUs this process may use.
    """
    if setting.strip().lower() != "auto":
        return int(setting), "INTERPRETER_THREADS"
    if memory_mb:
        vcpus = int(memory_mb) / LAMBDA_MB_PER_VCPU
        return max(1, min(int(vcpus + 0.5), LAMBDA_MAX_VCPUS)), f"auto: {memory_mb} MB gives {vcpus:.2f} vCPUs"
    cpus = len(os.sched_getaffinity(0))
    return max(1, min(cpus, LAMBDA_MAX_VCPUS)), f"auto: {cpus} CPUs, no Lambda memory size"


def _flag(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


class Settings(NamedTuple):
    model_path: str = os.path.join(PROJECT_ROOT, "clothing_model.tflite")
    interpreter_threads: str = "auto"  # or a number; see interpreter_threads()
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 50_000_000  # a 48-megapixel phone photo still fits
    max_decode_bytes: int = 192 * 2**20  # memory one decode may take (a 12 MP WebP); see clothing.decoding.cost
    max_decode_seconds: float = 1.0  # CPU time one decode may take, from the header; see clothing.decoding.cost
    fetch_timeout: float = 10.0  # seconds for the whole download, redirects included
    connect_timeout: float = 3.0
    max_redirects: int = 5
    allowed_ports: tuple[int, ...] = WEB_PORTS  # of image hosts; any port while private URLs are allowed
    allow_private_urls: bool = False  # for local testing only
    catalog_bucket: str = ""  # where a catalog batch's keys are read (clothing.catalog); none by default
    catalog_input_prefix: str = "catalog/"  # the only keys a batch may name
    memory_mb: str | None = None  # the function's memory size as Lambda tells it (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)

    @classmethod
    def from_environment(cls) -> "Settings":
        env = os.environ
        default = cls()
        return cls(
            model_path=env.get("MODEL_PATH", default.model_path),
            interpreter_threads=env.get("INTERPRETER_THREADS", default.interpreter_threads),
            max_image_bytes=int(env.get("MAX_IMAGE_BYTES", default.max_image_bytes)),
            max_image_pixels=int(env.get("MAX_IMAGE_PIXELS", default.max_image_pixels)),
            max_decode_bytes=int(env.get("MAX_DECODE_BYTES", default.max_decode_bytes)),
            max_decode_seconds=float(env.get("MAX_DECODE_SECONDS", default.max_decode_seconds)),
            fetch_timeout=float(env.get("FETCH_TIMEOUT", default.fetch_timeout)),
            connect_timeout=float(env.get("CONNECT_TIMEOUT", default.connect_timeout)),
            max_redirects=int(env.get("MAX_REDIRECTS", default.max_redirects)),
            allowed_ports=tuple(int(port) for port in env["ALLOWED_PORTS"].split(",")) if env.get("ALLOWED_PORTS")
            else default.allowed_ports,
            allow_private_urls=_flag("ALLOW_PRIVATE_URLS", default.allow_private_urls),
            catalog_bucket=env.get("CATALOG_BUCKET", default.catalog_bucket),
            catalog_input_prefix=env.get("CATALOG_INPUT_PREFIX", default.catalog_input_prefix),
            memory_mb=env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or None,
        )


DEFAULTS = Settings()
