"""SagaBridge benchmarks (issue 7): `make bench` / `python -m benchmarks run`. Not part of the product.

Kept import-free: peer apps run from this package inside a separate venv that has neither the
product nor its dependencies.
"""
