"""Start/stop the servers under test and read their memory/CPU from /proc."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TWINSTORE_ACCESS_KEY = "AKIABENCHROOT0000000"
TWINSTORE_SECRET_KEY = "benchsecretbenchsecretbenchsecret0000000"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (bind to port 0 and release it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# -- /proc helpers -------------------------------------------------------------------
def status_kib(pid: int, field_name: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM, ...) of /proc/PID/status, 0 if gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(field_name.encode() + b":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _stat_fields(pid: int) -> list[bytes] | None:
    """Fields of /proc/PID/stat after the ``(comm)`` (index 0 == state)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants (via /proc/*/stat ppid)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat_fields(int(name))
        if st is not None:
            children.setdefault(int(st[1]), []).append(int(name))
    out, todo, seen = [], [root], {root}
    while todo:
        pid = todo.pop()
        out.append(pid)
        for child in children.get(pid, []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return out


def tree_rss_kib(pids: list[int]) -> int:
    """Sum of current VmRSS (KiB) over ``pids``."""
    return sum(status_kib(p, "VmRSS") for p in pids)


def tree_cpu_s(pids: list[int]) -> float:
    """Sum of utime+stime (seconds) over ``pids`` (exited children not included)."""
    total = 0
    for p in pids:
        st = _stat_fields(p)
        if st is not None:
            total += int(st[11]) + int(st[12])
    return total / _CLK_TCK


# -- server processes ----------------------------------------------------------------
@dataclass
class Server:
    """A benchmark target: an S3 endpoint, optionally a process we own."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    pid: int | None = None  # root process to measure (ours or --server-pid)
    proc: subprocess.Popen[bytes] | None = None
    argv: list[str] = field(default_factory=list)
    log_path: Path | None = None
    data_dir: Path | None = None
    hwm_kib: dict[int, int] = field(default_factory=dict)  # per-pid peak VmHWM seen
    _pids: list[int] = field(default_factory=list)
    _pids_at: float = 0.0

    def pids(self, max_age: float = 1.0) -> list[int]:
        """Process tree of the server (rescanned at most every ``max_age`` s)."""
        if self.pid is None:
            return []
        now = time.monotonic()
        if now - self._pids_at > max_age:
            self._pids, self._pids_at = process_tree(self.pid), now
        return self._pids

    def rss_kib(self) -> int:
        """Current summed VmRSS of the tree (KiB)."""
        return tree_rss_kib(self.pids())

    def cpu_s(self) -> float:
        """CPU seconds consumed so far by the live tree."""
        return tree_cpu_s(self.pids())

    def vmhwm_kib(self) -> int:
        """Peak RSS: sum over the tree of each process's VmHWM (max ever seen per pid)."""
        for p in self.pids(max_age=0):
            self.hwm_kib[p] = max(self.hwm_kib.get(p, 0), status_kib(p, "VmHWM"))
        return sum(self.hwm_kib.values())

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the server log."""
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def start(self, env: dict[str, str] | None = None) -> None:
        """Spawn ``argv`` in its own process group, output to ``log_path``."""
        assert self.argv and self.log_path
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )
        log.close()
        self.pid = self.proc.pid

    def wait_ready(self, path: str, want_200: bool, timeout: float = 60.0) -> None:
        """Poll ``GET endpoint+path`` until it answers (200 if ``want_200``)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} during startup\n"
                    f"argv: {shlex.join(self.argv)}\n--- log tail ---\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.endpoint + path, timeout=2) as r:
                    if r.status == 200 or not want_200:
                        return
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                if not want_200:
                    return
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} not ready after {timeout}s ({last})\n--- log tail ---\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout``; remove the data dir."""
        p = self.proc
        if p is not None and p.poll() is None:
            self.vmhwm_kib()  # last look at the tree before it goes away
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(p.pid, sig)  # our own session: pgid == pid
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
            # group members that ignored SIGTERM after the leader exited
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _twinstore_base_cmd() -> list[str]:
    """``twinstore`` console script next to this interpreter, else its entry point via ``-c``."""
    script = Path(sys.executable).parent / "twinstore"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c",
            "import sys; sys.argv[0] = 'twinstore'; from twinstore.cli.main import main; sys.exit(main())"]


def _child_env_with_src() -> dict[str, str]:
    """If ``twinstore`` is not importable, put the repo's ``src/`` on the child's PYTHONPATH."""
    import importlib.util

    if importlib.util.find_spec("twinstore") is not None or not (REPO_ROOT / "src/twinstore").is_dir():
        return {}
    pp = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": str(REPO_ROOT / "src") + (os.pathsep + pp if pp else "")}


def spawn_twinstore(
    region: str, log_dir: Path, cmd: str | None, extra_args: list[str], ready_timeout: float,
    name: str = "twinstore",
) -> Server:
    """Start ``twinstore server`` on a free port with a fresh data dir and the bench root keys."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="twinstore-bench-data-", dir="/tmp"))
    base = shlex.split(cmd) if cmd else _twinstore_base_cmd()
    argv = [*base, "server", "--region", region, "--listen", f"127.0.0.1:{port}",
            "--data-dir", str(data_dir), *extra_args]
    srv = Server(name, f"http://127.0.0.1:{port}", TWINSTORE_ACCESS_KEY, TWINSTORE_SECRET_KEY,
                 region, argv=argv, log_path=log_dir / f"{name}.log", data_dir=data_dir)
    env = {"TWINSTORE_ROOT_ACCESS_KEY_ID": TWINSTORE_ACCESS_KEY,
           "TWINSTORE_ROOT_SECRET_ACCESS_KEY": TWINSTORE_SECRET_KEY, **_child_env_with_src()}
    try:
        srv.start(env)
        srv.wait_ready("/_twinstore/health", want_200=True, timeout=ready_timeout)
    except BaseException:
        srv.stop()
        raise
    return srv


def spawn_moto(region: str, log_dir: Path, cmd: str | None, ready_timeout: float) -> Server:
    """Start ``moto_server -H 127.0.0.1 -p PORT`` (any credentials are accepted)."""
    port = free_port()
    if cmd:
        base = shlex.split(cmd)
    else:
        script = Path(sys.executable).parent / "moto_server"
        base = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    argv = [*base, "-H", "127.0.0.1", "-p", str(port)]
    srv = Server("moto", f"http://127.0.0.1:{port}", "AKIAMOTOBENCH0000000", "motosecret", region,
                 argv=argv, log_path=log_dir / "moto.log")
    try:
        srv.start()
        srv.wait_ready("/", want_200=False, timeout=ready_timeout)
    except BaseException:
        srv.stop()
        raise
    return srv


def spawn_null(region: str, log_dir: Path, ready_timeout: float) -> Server:
    """Start the built-in do-nothing S3 responder (measures the load generator's ceiling)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.nullserver", "--port", str(port)]
    srv = Server("null", f"http://127.0.0.1:{port}", "AKIANULL", "nullsecret", region,
                 argv=argv, log_path=log_dir / "null.log")
    try:
        srv.start({"PYTHONPATH": str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")})
        srv.wait_ready("/", want_200=False, timeout=ready_timeout)
    except BaseException:
        srv.stop()
        raise
    return srv
