"""The command line, the top layer: argument handling, exit codes and console output.

``app`` is ``python -m orchestrator`` (compose → validate → expand → dry run | planner | sweep),
``report``, ``sync`` and ``ui`` are ``python -m orchestrator.report|sync|ui`` (the modules of
those names are two-line entry points that call them). Nothing below this package imports it.
"""
