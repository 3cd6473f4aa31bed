"""The harness as an HTTP reward service: request contract (protocol), Prometheus metrics,
the FastAPI app. The entry point is `python -m rewards.serve`; clients are in rewards.remote."""
