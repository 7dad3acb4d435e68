"""Issue 6, case 11: the app started as the README says (`streamlit run streamlit_app.py`, settings
from .streamlit/config.toml; only a free port and headless added) listens on 127.0.0.1 only and
has Streamlit's XSRF protection on."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from reliability_helpers import REPO

LISTEN = "0A"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def decode_address(hex_address: str) -> tuple[str, int]:
    """'0100007F:1F90' from /proc/net/tcp (or its 32-digit tcp6 form) -> ('127.0.0.1', 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process holds, read from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if match:
            inodes.add(match.group(1))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                found.append(decode_address(fields[1]))
    return found


def other_local_addresses() -> list[str]:
    """This machine's own IPv4 addresses that are not loopback (from /proc/net/fib_trie)."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    found = {lines[i - 1].split()[-1] for i, line in enumerate(lines) if "/32 host LOCAL" in line}
    return sorted(a for a in found if not a.startswith("127."))


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"streamlit exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return response.headers
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"streamlit did not answer within {timeout:.0f}s:\n{log.read_text()}")


def put_upload(url: str, headers: dict[str, str]) -> int:
    """PUT to the file-upload endpoint, the one that enforces XSRF; returns the HTTP status."""
    request = urllib.request.Request(f"{url}/_stcore/upload_file/no-such-session/no-such-file", data=b"x",
                                     method="PUT", headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def app(tmp_path, reaper):
    port = free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "MNIST_RUNS_DIR": str(tmp_path / "runs")}
    with open(log, "w") as out:
        process = reaper.popen([sys.executable, "-m", "streamlit", "run", "streamlit_app.py",
                                "--server.port", str(port), "--server.headless", "true"],
                               cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    health_headers = wait_until_healthy(url, process, log)
    yield url, port, process, health_headers


def test_the_app_listens_on_localhost_only(app):
    _url, port, process, _ = app
    assert listening_sockets(process.pid) == [("127.0.0.1", port)]
    for address in other_local_addresses():  # reachable from the network it would be here
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, port), timeout=5).close()


def test_the_app_has_xsrf_protection_on(app):
    url, _, _, health_headers = app
    cookies = health_headers.get_all("Set-Cookie") or []
    token = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf=")]
    assert token, f"no XSRF cookie set: {cookies}"
    # an upload without the token is refused for that reason (unprotected, it would get 400: no session)
    assert put_upload(url, {}) == 403
    assert put_upload(url, {"Cookie": f"_streamlit_xsrf={token[0]}"}) == 403
    assert put_upload(url, {"X-Xsrftoken": token[0]}) == 403
    # with the cookie and the matching header it passes the XSRF check and fails on the fake session
    assert put_upload(url, {"Cookie": f"_streamlit_xsrf={token[0]}", "X-Xsrftoken": token[0]}) == 400
