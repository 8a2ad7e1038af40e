"""The demo: the 8 a.m. release replayed against local providers, end to end, on SQLite.

`notifier demo` (notifier/cli) runs it, the `detection` benchmark measures it, and the tests
drive it: it sits above the pipeline and the web app, and below everything that runs it.
"""
