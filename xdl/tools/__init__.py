"""Tools around the stages: bench.py (latency and throughput of every inference path) and
doctor.py (what this machine can run)."""
