"""Reporting: run records (``results/runs``) and the papers' numbers (``results/reported.yaml``) into the
tables, the page, the model index and the commands' summaries. It reads records and never imports
:mod:`vssl_bench.bench` (tests/test_architecture.py holds it to that): the report can be rebuilt, read
and tested without the runner."""
