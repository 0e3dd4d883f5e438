"""Runs every benchmark in bench/, each in its own process (each sets up its own database);
each prints its own table. `python -m bench [name ...]` runs only the named ones."""

import pkgutil
import subprocess
import sys

import bench

names = sys.argv[1:] or sorted(
    info.name
    for info in pkgutil.iter_modules(bench.__path__)
    # qbwc_http_app is the WSGI application qbwc_conversation serves, suggestion_data the data
    # generator of bench.suggestions: neither is a benchmark.
    if info.name not in ("common", "__main__", "qbwc_http_app", "suggestion_data")
    and not info.name.startswith("_")
)
failed = []
for name in names:
    print(f"\n=== bench.{name} ===", flush=True)
    if subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode:
        failed.append(name)
if failed:
    sys.exit(f"benchmarks failed: {', '.join(failed)}")
