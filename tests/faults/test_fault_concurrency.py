"""Two processes on one run folder (issue 14, point 1): the second refuses at once, and the lock
dies with the process that held it."""

import json
import os
import signal
import subprocess
import sys
import time

from fake_servers import FakeServer, http_answer
from test_generate import SAMPLE

from cultureclip.cli import main


def generate_argv(url: str, run_dir) -> list[str]:
    model = {"model": "m", "backend": "openai", "base_url": url, "retries": 0, "timeout_s": 60}
    overrides = [f"curated_path={SAMPLE}", "selection.countries=[CN, JP]", "selection.categories=[Cuisine]"]
    overrides += ["concepts_per_cell=2", f"text_model={json.dumps(model)}"]
    argv = ["generate", "--config", "configs/cultwin_paper.yaml", "--output-dir", str(run_dir), "--no-progress"]
    return argv + [arg for value in overrides for arg in ("--set", value)] + ["--stages", "concepts"]


def test_second_generate_on_a_run_folder_refuses_at_once(tmp_path, capsys):
    busy = [True]

    def respond(connection):
        if busy[0]:  # the first run waits on its server
            time.sleep(60)
        connection.sendall(http_answer(503, b"warming up"))

    server = FakeServer(respond)
    first = subprocess.Popen([sys.executable, "-m", "cultureclip.cli", *generate_argv(server.url, tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while server.requests == 0:  # the first run has locked the folder and is asking its server
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.2)
        start = time.monotonic()
        assert main(generate_argv(server.url, tmp_path)) == 2
        assert time.monotonic() - start < 10
        error = capsys.readouterr().err.strip()
        assert error.startswith("cultureclip generate: error: ") and "\n" not in error
        assert f"is being written by another process (pid {first.pid})" in error
        assert not (tmp_path / "concepts.jsonl").exists()
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    busy[0] = False

    # the lock died with the killed process: the same command runs again (and stops on the server's 503s)
    assert main(generate_argv(server.url, tmp_path)) == 1
    assert "HTTP 503 x2" in capsys.readouterr().err
    server.stop()
