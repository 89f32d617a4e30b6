"""``make lab``: the JupyterLab server starts headless on the loopback interface, and a notebook runs
through it (its parameters cell changed through the contents API, then executed by the project's
kernel over the server's websocket), as a reader rerunning a chapter would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import lab  # noqa: E402  (tools/lab.py)

pytest.importorskip("jupyterlab")
websocket = pytest.importorskip("websocket")  # websocket-client, a JupyterLab dependency

START_TIMEOUT_S = 90
TOKEN = uuid.uuid4().hex


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{base}{path}", method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
    return json.loads(text) if text.strip().startswith(("{", "[")) else {"text": text}


def _notebook(dims: list[int]) -> dict:
    code = ["dims = " + json.dumps(dims) + "  # widths: output, hidden, input",
            "from conservation_laws import closed_forms\nfrom conservation_laws.engine import lie\n"
            "laws = lie.count_laws('linear', 'gradient', dims=dims).laws\n"
            "print(laws, closed_forms.two_layer_linear('gradient', *dims))"]
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]} if i == 0 else {}, "source": src,
              "outputs": [], "execution_count": None} for i, src in enumerate(code)]
    return {"cells": cells, "metadata": {"kernelspec": {"name": lab.KERNEL_NAME, "display_name": lab.KERNEL_DISPLAY,
                                                        "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def _execute(ws, code: str, timeout: float = 120) -> str:
    """Send one execute_request on the kernel's channels; return its stdout (raise on an error)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({"header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                                   "msg_type": "execute_request", "version": "5.3"},
                        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                                    "allow_stdin": False, "stop_on_error": True}}))
    out, deadline, idle, replied = [], time.monotonic() + timeout, False, False
    while not (idle and replied):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply to {code!r}")
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        elif kind == "execute_reply":
            replied = True
    return "".join(out)


@pytest.fixture
def server(tmp_path):
    """JupyterLab from tools/lab.py (the command `make lab` runs), on a free loopback port; killed at the end."""
    port = _free_port()
    prefix = tmp_path / "kernel-prefix"
    root = tmp_path / "book"
    root.mkdir()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT / "lib"), os.environ.get("PYTHONPATH")) if p))
    lab.register_kernel(str(prefix))
    env["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    cmd = lab.lab_command(port, root, [f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False"])
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                _api(base, "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield base, root, port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
        log.close()


def test_lab_starts_headless_on_loopback_and_runs_a_notebook(server):
    base, root, port = server
    # the lab page itself is served
    with urllib.request.urlopen(urllib.request.Request(f"{base}/lab", headers={"Authorization": f"token {TOKEN}"}),
                                timeout=30) as resp:
        assert resp.status == 200 and b"JupyterLab" in resp.read()
    # loopback only: the port is not open on another address of this machine
    others = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), port, socket.AF_INET)} - {"127.0.0.1"}
    for addr in sorted(others)[:1]:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((addr, port)) != 0, f"the server answers on {addr}"
    # the project's kernel is registered and is the default
    specs = _api(base, "/api/kernelspecs")
    assert specs["default"] == lab.KERNEL_NAME and lab.KERNEL_NAME in specs["kernelspecs"]
    # a notebook saved through the contents API, then its parameters cell changed (a reader's rerun)
    _api(base, "/api/contents/rerun.ipynb", "PUT", {"type": "notebook", "format": "json", "content": _notebook([2, 2, 2])})
    nb = _api(base, "/api/contents/rerun.ipynb")["content"]
    nb["cells"][0]["source"] = "dims = [1, 5, 2]  # changed by the reader"
    _api(base, "/api/contents/rerun.ipynb", "PUT", {"type": "notebook", "format": "json", "content": nb})
    session = _api(base, "/api/sessions", "POST", {"path": "rerun.ipynb", "type": "notebook", "name": "rerun.ipynb",
                                                   "kernel": {"name": lab.KERNEL_NAME}})
    kernel_id = session["kernel"]["id"]
    ws = websocket.create_connection(f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={TOKEN}",
                                     timeout=120)
    try:
        stored = _api(base, "/api/contents/rerun.ipynb")["content"]
        outputs = [_execute(ws, cell["source"]) for cell in stored["cells"]]
    finally:
        ws.close()
    laws, expected = outputs[-1].split()
    # the rerun used the changed parameters: the engine's count of (1, 5, 2) equals the closed form
    from conservation_laws import closed_forms

    assert laws == expected == str(closed_forms.two_layer_linear("gradient", 1, 5, 2))
