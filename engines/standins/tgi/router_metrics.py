"""The router's ``/metrics`` (metrics-exporter-prometheus 0.15's text format, TGI 3.3.7's buckets)."""

from __future__ import annotations


def _duration_buckets() -> list[float]:
    out, value = [], 0.0001
    for _ in range(35):
        value *= 1.5
        out.append(value)
    return out


class Metrics:
    def __init__(self, max_input: int, max_total: int) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.hists: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
        self.buckets: dict[str, list[float]] = {
            "tgi_request_input_length": [max_input / 100.0 * (x + 1) for x in range(100)],
            "tgi_request_generated_tokens": [max_total / 100.0 * (x + 1) for x in range(100)],
            "tgi_request_max_new_tokens": [max_total / 100.0 * (x + 1) for x in range(100)],
            "tgi_batch_next_size": [float(x + 1) for x in range(1024)],
        }
        self.help = {
            "tgi_request_success": "Number of successful requests",
            "tgi_queue_size": "Current queue size",
        }

    def counter(self, name: str, value: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counters[key] = self.counters.get(key, 0) + value

    def gauge(self, name: str, value: float, **labels: str) -> None:
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def histogram(self, name: str, value: float, **labels: str) -> None:
        self.hists.setdefault((name, tuple(sorted(labels.items()))), []).append(value)

    def _bounds(self, name: str) -> list[float]:
        if name.endswith("duration"):
            return _duration_buckets()
        return self.buckets.get(name, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])

    def render(self) -> str:
        out: list[str] = []

        def labels(items: tuple[tuple[str, str], ...], extra: str = "") -> str:
            parts = [f'{k}="{v}"' for k, v in items] + ([extra] if extra else [])
            return "{" + ",".join(parts) + "}" if parts else ""

        for kind, table in (("counter", self.counters), ("gauge", self.gauges)):
            for name in sorted({k[0] for k in table}):
                if name in self.help:
                    out.append(f"# HELP {name} {self.help[name]}")
                out.append(f"# TYPE {name} {kind}")
                for (n, items), value in sorted(table.items()):
                    if n == name:
                        out.append(f"{name}{labels(items)} {_num(value)}")
                out.append("")
        for name in sorted({k[0] for k in self.hists}):
            out.append(f"# TYPE {name} histogram")
            for (n, items), values in sorted(self.hists.items()):
                if n != name:
                    continue
                for bound in self._bounds(name):
                    count = sum(1 for v in values if v <= bound)
                    le = labels(items, 'le="' + _num(bound) + '"')
                    out.append(f"{name}_bucket{le} {count}")
                le = labels(items, 'le="+Inf"')
                out.append(f"{name}_bucket{le} {len(values)}")
                out.append(f"{name}_sum{labels(items)} {_num(sum(values))}")
                out.append(f"{name}_count{labels(items)} {len(values)}")
            out.append("")
        return "\n".join(out) + "\n"


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))
