"""The function on arm64 (Graviton) without an Arm machine: Debian's arm64 CPython 3.13 with the aarch64
wheels of requirements.txt, trimmed as the image trims them, run by Debian's qemu-user.

    python -m scripts.arm64 prepare              # build/arm64/, once (make test does it)
    python -m scripts.arm64 classify PICTURE...  # one JSON line a picture: lambda_handler's answer on arm64
    python -m scripts.arm64 compare              # tests/images on arm64 against this machine: the largest gap

The Debian packages come from Debian 13 (trixie) through apt, which checks them against Debian's signed
indexes: its CPython is 3.13, as the image's, and its qemu-user 10 runs LiteRT's aarch64 build, where Debian
12's qemu 7.2 crashes in the interpreter's constructor. This checks answers, not speed: emulation is far
slower than either machine.
"""

import argparse
import base64
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.lambda_image import BUILD, ROOT, UNUSED_RUNTIME_FILES, remove_unused  # noqa: E402

ARM64 = BUILD / "arm64"
SYSROOT, SITE, QEMU, READY = ARM64 / "root", ARM64 / "site", ARM64 / "qemu-aarch64", ARM64 / ".ready"
SOURCE = ("deb [arch=arm64,amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
          "http://deb.debian.org/debian trixie main")
# CPython 3.13 and the libraries it, NumPy, Pillow and LiteRT load (Debian's own dependencies, less what a
# program run by path does not need: a shell, a package manager, logins).
PYTHON_PACKAGES = (
    "python3.13", "python3.13-minimal", "libpython3.13-minimal", "libpython3.13-stdlib", "media-types",
    "netbase", "tzdata", "libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libssl3t64", "libffi8",
    "libbz2-1.0", "liblzma5", "libzstd1", "libuuid1", "libsqlite3-0", "libcrypt1", "libtinfo6", "libncursesw6",
    "libreadline8t64", "libdb5.3t64",
)
WHEEL_TAGS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
              "manylinux2014_aarch64")

CLASSIFY = """
import json, sys
import lambda_function
for line in sys.stdin:
    event = {"image": line.strip()}
    print("ANSWER", json.dumps(lambda_function.lambda_handler(event, None)), flush=True)
"""


def apt(*arguments: str) -> None:
    """apt-get with a state of its own under build/arm64/apt: this machine's apt is left as it is."""
    state = ARM64 / "apt"
    for folder in ("lists/partial", "cache/archives/partial"):
        (state / folder).mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(SOURCE + "\n")
    (state / "status").touch()
    options = {"Dir::State": state, "Dir::State::Lists": state / "lists", "Dir::State::status": state / "status",
               "Dir::Cache": state / "cache", "Dir::Etc::SourceList": state / "sources.list",
               "Dir::Etc::SourceParts": state / "no-parts", "APT::Architecture": "arm64",
               "APT::Architectures": "arm64,amd64", "Debug::NoLocking": "true",
               **({"APT::Sandbox::User": "root"} if os.geteuid() == 0 else {})}  # its files are root's here
    command = ["apt-get", "-qq", *(f"-o{name}={value}" for name, value in options.items()), *arguments]
    subprocess.run(command, check=True, cwd=ARM64, stdout=subprocess.DEVNULL)


def prepare() -> None:
    """build/arm64/: the sysroot, qemu-aarch64, and the wheels; nothing if it is there for this requirements.txt."""
    stamp = (ROOT / "requirements.txt").read_text() + str(PYTHON_PACKAGES) + str(UNUSED_RUNTIME_FILES)
    if READY.exists() and READY.read_text() == stamp:
        return
    if not shutil.which("apt-get"):
        raise SystemExit("scripts.arm64: needs Debian's (or Ubuntu's) apt-get and dpkg-deb")
    shutil.rmtree(ARM64, ignore_errors=True)
    ARM64.mkdir(parents=True)
    apt("update")
    host = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
    apt("download", *(f"{name}:arm64" for name in PYTHON_PACKAGES), *([f"qemu-user:{host}"] if host != "arm64" else []))
    for deb in sorted(ARM64.glob("*.deb")):
        if deb.name.startswith("qemu-user_"):
            subprocess.run(f"dpkg-deb --fsys-tarfile {deb} | tar -x -C {ARM64} ./usr/bin/qemu-aarch64",
                           shell=True, check=True)
            (ARM64 / "usr" / "bin" / "qemu-aarch64").rename(QEMU)
            shutil.rmtree(ARM64 / "usr")
        else:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(SYSROOT)], check=True)
        deb.unlink()
    shutil.rmtree(ARM64 / "apt")
    (SYSROOT / "lib").symlink_to("usr/lib")  # Debian's merged /usr, which its base-files would make
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
                    str(SITE), *(f"--platform={tag}" for tag in WHEEL_TAGS), "--python-version=3.13",
                    "--implementation=cp", "--abi=cp313", "--only-binary=:all:", "--no-deps",
                    "-r", str(ROOT / "requirements.txt")], check=True)
    remove_unused(SITE)
    READY.write_text(stamp)


def arm64_python() -> tuple[list[str], dict[str, str]]:
    """The command that runs the arm64 CPython, and its environment: the aarch64 wheels, then this checkout."""
    python = [str(SYSROOT / "usr" / "bin" / "python3.13")]
    if platform.machine() != "aarch64":
        python = [str(QEMU), "-L", str(SYSROOT), *python]
    return python, {"PYTHONPATH": f"{SITE}{os.pathsep}{ROOT}"}


def classify(pictures: list[Path], python: list[str] | None = None, variables: dict | None = None) -> list[dict]:
    """lambda_handler's answer for each picture, in one fresh process with only the function's defaults: from
    the arm64 CPython, unless ``python`` names another."""
    if python is None:
        python, variables = arm64_python()
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", **(variables or {})}
    lines = "".join(base64.b64encode(path.read_bytes()).decode() + "\n" for path in pictures)
    result = subprocess.run([*python, "-c", CLASSIFY], cwd=ROOT, env=env, input=lines, capture_output=True,
                            text=True, timeout=1800, check=True)
    return [json.loads(line.removeprefix("ANSWER ")) for line in result.stdout.splitlines()
            if line.startswith("ANSWER ")]


def largest_difference(pictures: list[Path]) -> float:
    """The largest gap between a score on arm64 and the same score from this machine's Python."""
    on_arm64, here = classify(pictures), classify(pictures, [sys.executable])
    if [list(answer) for answer in on_arm64] != [list(answer) for answer in here]:
        raise SystemExit("scripts.arm64: the two machines answer with other labels")
    return max(abs(a[label] - b[label]) for a, b in zip(on_arm64, here, strict=True) for label in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare")
    classify_parser = commands.add_parser("classify")
    classify_parser.add_argument("pictures", nargs="+", type=Path)
    commands.add_parser("compare")
    args = parser.parse_args()
    prepare()
    if args.command == "classify":
        for answer in classify(args.pictures):
            print(json.dumps(answer))
    elif args.command == "compare":
        pictures = sorted((ROOT / "tests" / "images").glob("*.jpg"))
        print(f"{len(pictures)} pictures, {platform.machine()} against arm64: the largest difference in a score "
              f"is {largest_difference(pictures):.2g}")


if __name__ == "__main__":
    main()
