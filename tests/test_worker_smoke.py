from tests.helpers import wait_for


def test_worker_runs_a_queued_job(svc, brand, worker):
    run_id = svc.queue_one_time_job("Acme", "test_echo", {"lines": 2})
    wait_for(lambda: svc.runs.get(run_id)["status"] == "succeeded", 10, message="run to succeed")
    detail = svc.run_detail(run_id)
    assert [l["message"] for l in detail["logs"]][-3:-1] == ["echo line 1 of 2", "echo line 2 of 2"]
    assert detail["run"]["progress_current"] == 2
