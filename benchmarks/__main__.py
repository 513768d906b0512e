"""``python -m benchmarks``: every benchmark (today: matching), with the same options."""

from __future__ import annotations

from benchmarks import matching

if __name__ == "__main__":
    raise SystemExit(matching.main())
