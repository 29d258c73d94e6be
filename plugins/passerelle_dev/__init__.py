"""Passerelle's development tooling: the demo, the benchmarks, the local Airflow server and the
example seller, billing and invoice samples they share with the tests. Never installed in the image."""
