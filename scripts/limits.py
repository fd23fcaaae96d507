"""Lambda's limits for a memory size, enforced on this machine with a cgroup: its CPU share and its memory.

Lambda gives a function CPU in proportion to its memory, one vCPU's worth at
1,769 MB (up to six at 10,240 MB), and kills it past its memory size. A cgroup
does the same here: a CPU quota of memory / 1,769 of one CPU per period, at
most this machine's CPUs, and a hard memory limit with no swap. Both cgroup
versions are handled: v2 (``cpu.max``, ``memory.max``) and v1 (the ``cpu`` and
``memory`` hierarchies). Where neither can be written, ``enter`` says why.
"""

import contextlib
import os
from pathlib import Path

from clothing.settings import LAMBDA_MAX_VCPUS, LAMBDA_MB_PER_VCPU

CGROUPS = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class LimitsUnavailable(Exception):
    """Cgroups cannot be written here (not root, no cgroup file system, a read-only one)."""


def cpu_quota_us(memory_mb: int) -> int:
    """Microseconds of CPU per 100 ms period that Lambda gives at ``memory_mb``, at most this machine's CPUs."""
    cpus = min(memory_mb / LAMBDA_MB_PER_VCPU, LAMBDA_MAX_VCPUS, os.cpu_count() or 1)
    return round(cpus * PERIOD_US)


def check() -> None:
    """LimitsUnavailable unless a group can be made here."""
    try:
        probe = CGROUPS / ("clothing-probe" if (CGROUPS / "cgroup.controllers").exists() else "cpu/clothing-probe")
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as error:
        raise LimitsUnavailable(f"cannot write cgroups here ({error.strerror or error})") from None


def enter(memory_mb: int, name: str, pid: int | None = None) -> str:
    """Put ``pid`` (default: this process, and so what it starts) under Lambda's limits; a line saying which."""
    quota, limit = cpu_quota_us(memory_mb), memory_mb * 2**20
    pid = pid or os.getpid()
    try:
        if (CGROUPS / "cgroup.controllers").exists():
            _enter_v2(CGROUPS / name, quota, limit, pid)
        elif (CGROUPS / "cpu").is_dir() and (CGROUPS / "memory").is_dir():
            _enter_v1(name, quota, limit, pid)
        else:
            raise LimitsUnavailable(f"no cgroup file system at {CGROUPS}")
    except OSError as error:
        raise LimitsUnavailable(f"cannot write cgroups here ({error.strerror or error})") from None
    return (f"under Lambda's limits for {memory_mb} MB: {quota / PERIOD_US:.2f} of a CPU, "
            f"{memory_mb} MB of memory (cgroup {name})")


def _enter_v2(group: Path, quota: int, limit: int, pid: int) -> None:
    (CGROUPS / "cgroup.subtree_control").write_text("+cpu +memory")
    group.mkdir(exist_ok=True)
    (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
    (group / "memory.max").write_text(str(limit))
    if (group / "memory.swap.max").exists():
        (group / "memory.swap.max").write_text("0")
    (group / "cgroup.procs").write_text(str(pid))


def _enter_v1(name: str, quota: int, limit: int, pid: int) -> None:
    cpu, memory = CGROUPS / "cpu" / name, CGROUPS / "memory" / name
    cpu.mkdir(exist_ok=True)
    memory.mkdir(exist_ok=True)
    (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(quota))
    (memory / "memory.limit_in_bytes").write_text(str(limit))
    if (memory / "memory.memsw.limit_in_bytes").exists():  # no swap either, as on Lambda
        (memory / "memory.memsw.limit_in_bytes").write_text(str(limit))
    (cpu / "cgroup.procs").write_text(str(pid))
    (memory / "cgroup.procs").write_text(str(pid))


def remove(name: str) -> None:
    """Delete the group once nothing runs in it (the kernel refuses while something does)."""
    for group in (CGROUPS / name, CGROUPS / "cpu" / name, CGROUPS / "memory" / name):
        if group.is_dir():
            with contextlib.suppress(OSError):
                group.rmdir()
