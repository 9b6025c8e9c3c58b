"""The SLO search (``search=slo``, docs/search.md): which serving configuration gives the most
goodput per GPU while p99 TTFT/TPOT/E2E stay within an SLO, searched in parallel on the cluster.

Modules: ``space`` (the candidates, validated), ``trials`` (each round's ``sla_search`` trial),
``measure`` (what a stored trial says), ``policy`` (successive halving, dominance, budget, the
choice; pure), ``run`` (the rounds on the scheduler), ``report`` (table, Pareto plot, the chosen
line), ``publish`` (MLflow: the search as parent run, one child run per candidate).
"""
