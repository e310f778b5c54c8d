"""Shared fixtures: a real PostgreSQL server, started per test session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# Tests pin torch to one thread (subprocesses inherit it through the environment); a test that
# measures threading sets its own count. Training also pins itself (dse.training.CPU_THREADS).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def hw_only_toml(name: str, workload: str, *, trials: object = 3, objectives: str = '["latency_s", "lut"]',
                 kinds: str = '["fixed"]', w_bits: str = "[4, 8]", device: str | None = "XC7Z045",
                 study: str = "", space: str = "", hardware: str = "") -> str:
    """The TOML text of a hardware-only study (``fidelity = "none"``: nothing trains), the kind
    many tests search. Values are TOML text, inserted as given (so a caller may leave
    ``str.format`` fields such as ``{trials}`` in them); ``study``/``space``/``hardware``: extra
    lines of those sections; ``device=None``: no ``[hardware]`` section (the defaults)."""
    text = (f'\n[study]\nname = "{name}"\nobjectives = {objectives}\nfidelity = "none"\ntrials = {trials}\n{study}'
            f'[workload]\nname = "{workload}"\n'
            f'[space]\nkinds = {kinds}\nw_bits = {w_bits}\na_bits = [8]\n{space}')
    if device is not None:
        text += f'[hardware]\nmodel = "systolic"\ndevice = "{device}"\n{hardware}'
    return text


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # hwmodels-only environments
        return
    torch.set_num_threads(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="session")
def postgres_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    initdb = os.path.join(bins[-1], "initdb") if bins else shutil.which("initdb")
    if not initdb or not os.path.exists(initdb):
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does this)")
    bindir = os.path.dirname(initdb)
    root = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    os.chmod(root, 0o777)
    os.chmod(sock, 0o777)
    if os.geteuid() == 0:
        shutil.chown(sock, "postgres")
        data.mkdir()
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                   check=True, capture_output=True)
    log = root / "log"
    if os.geteuid() == 0:
        log.touch()
        shutil.chown(log, "postgres")
    subprocess.run(_as_postgres([os.path.join(bindir, "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                                 f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run([os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                        "dse"], check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/dse"
    finally:
        subprocess.run(_as_postgres([os.path.join(bindir, "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fixture_env(tmp_path):
    """Environment for subprocesses: the test workloads importable, a private cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES), env.get("PYTHONPATH", "")])
    env["DSE_CACHE_DIR"] = str(tmp_path / "cache")
    return env
