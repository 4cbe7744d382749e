"""``linkguard demo --serve`` as a user runs it: the summary, the printed accounts, a working screen."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from linkguard.synthetic.demo import free_port
from fixtures.support import KafkaBackend
from fixtures.web_support import csrf_of

pytestmark = pytest.mark.integration


def test_demo_serve_prints_accounts_that_log_in_to_the_queue(local_broker: KafkaBackend, tmp_path):
    run = uuid.uuid4().hex[:8]
    port = free_port()
    env = {**os.environ, "LINKGUARD_KAFKA_BOOTSTRAP": local_broker.bootstrap, "LINKGUARD_LOCAL_MODE": "1",
           "LINKGUARD_TOPIC_PREFIX": f"d{run}.", "LINKGUARD_APP_ID": f"lg-d{run}", "LINKGUARD_WEB_PORT": str(port),
           "LINKGUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite'}", "COLUMNS": "200"}
    log = tmp_path / "demo.out"
    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "linkguard", "demo", "--serve", "--residents", "500",
                                 "--records", "40", "--workers", "1"], cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while "serving:" not in log.read_text(errors="replace"):
            assert demo.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the demo did not start serving:\n" + log.read_text(errors="replace")
            time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/" in text
        held = int(re.search(r"held for review\s*│\s*([\d,]+)", text).group(1).replace(",", ""))
        accounts = dict(re.findall(r"│ (reviewer|approver|operator|admin)\s*│ (\S+)\s*│", text))
        assert set(accounts) == {"reviewer", "approver", "operator", "admin"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
            token = csrf_of(client.get("/login").text)
            landed = client.post("/login", data={"username": "reviewer", "password": accounts["reviewer"],
                                                 "csrf_token": token})
            assert landed.status_code == 303 and landed.headers["location"] == "/queue"
            queue = client.get("/queue")
            assert queue.status_code == 200 and f'id="queue-total">{held:,} 件<' in queue.text
            assert held == 0 or 'class="row-link"' in queue.text
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops its workers, sink and web screen
        try:
            demo.wait(60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
