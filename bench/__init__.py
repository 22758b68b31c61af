"""Benchmarks of cardcash against side-by-side baselines (``make bench``; see docs/performance.md).

Every figure runs cardcash as production does (``cardcash serve``: uvicorn with uvloop and
httptools) in its own temporary directory, drives it from a separate load-generator process
(wrk, or the Python fallback in :mod:`bench.pyload`), and measures a baseline in the same run:
on a shared machine a ratio within one run means something, an absolute number alone does not.
"""
