"""A worker's shutdown and a run caught between its claim and its handler's start (real worker processes)."""

from __future__ import annotations

import signal

from tests.helpers import wait_for


def test_sigterm_between_a_claim_and_its_handler_hands_the_run_back(svc, brand, tmp_path, worker_factory):
    gate = tmp_path / "gate"
    w = worker_factory("--grace", "0.2", extra_env={"PIPEDECK_PLUGINS": "tests.jobtypes,tests.claim_gate",
                                                    "PIPEDECK_TEST_CLAIM_GATE": str(gate)})
    run_id = svc.queue_one_time_job("Acme", "test_sleep", {"seconds": 30})
    wait_for(lambda: (tmp_path / "gate.waiting").exists(), 10, message="the run claimed, its handler not started")
    assert svc.runs.get(run_id)["status"] == "running"
    w.signal(signal.SIGTERM)
    wait_for(lambda: "SIGTERM" in w.output(), 10, message="the signal taken")
    gate.touch()
    assert w.proc.wait(timeout=15) == 0
    assert svc.runs.get(run_id)["status"] == "queued", w.output()
    assert [a["status"] for a in svc.runs.attempts(run_id)] == ["handed_back"]
