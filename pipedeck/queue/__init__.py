"""The queue: huey instance, run executor, worker daemon and the service API."""
