"""Benchmark: search over 1,000 generated models in one local registry:2, and the same models in MLflow.

One run starts its own ``docker-registry`` (tests/support/registry.py), pushes 1,000 small but real model
manifests (250 repositories × 4 versions, the newest of each tagged ``production``), then measures:

- cold index: a refresh into an empty index (catalog, tag lists, one GET per tag: every manifest fetched);
- warm refresh: the same again (catalog, tag lists, a HEAD per stage tag, nothing fetched);
- then ``--deprecate`` models (default 100) get a signed deprecation record, and two refreshes that
  verify them: the first reads each new referrers listing and record, the second only HEADs the
  referrers tags;
- query through the Python API against the index (``modelcrate.index.search.query``), median of 25;
- ``modelcrate search --offline`` as a child process, against ``modelcrate --version`` (start-up alone);
- side by side, the same 1,000 versions registered in an MLflow model registry on SQLite, queried with
  ``search_model_versions`` for the nearest equivalent filter.

Every refresh's requests are counted by method and kind (the client's trace hook) and printed with the
load average: the machine may be shared, and the counts do not depend on load.

    .venv/bin/pip install -e '.[test,bench]'
    .venv/bin/python benchmarks/search.py            # targets: cold <= 10 s, warm <= 2 s, query <= 50 ms
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import threading
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network from the benchmark
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

from modelcrate.config import Config  # noqa: E402
from modelcrate.content.remote import RegistryClient, RemoteSettings  # noqa: E402
from modelcrate.index import search as S  # noqa: E402
from modelcrate.index.db import IndexDB  # noqa: E402
from modelcrate.lifecycle.deprecation import deprecate  # noqa: E402
from modelcrate.signatures import KeySigner, KeyVerifier  # noqa: E402
from modelcrate.signing import keys  # noqa: E402
from tests.support.models import metadata, push_model  # noqa: E402
from tests.support.registry import RegistryProcess  # noqa: E402

REPOS, VERSIONS = 250, 4
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
WHERE = "metrics.accuracy >= 0.9 and (license = 'mit' or license = 'apache-2.0')"
SIMPLE = "license = 'mit'"


def populate(host: str) -> list[dict]:
    """Push every model; return their metadata (for MLflow) with repository and version."""
    client = RegistryClient(host, RemoteSettings())
    jobs = [(r, v) for r in range(REPOS) for v in range(VERSIONS)]

    def push(job: tuple[int, int]) -> dict:
        r, v = job
        i = r * VERSIONS + v
        meta = metadata(i, version=f"1.{v}.0")
        tags = [meta["version"]] + (["production"] if v == VERSIONS - 1 else [])
        push_model(client.repository(f"bench/team-{r % 10}/model-{r:03d}", push=True), meta, tags)
        return {"repository": f"bench/team-{r % 10}/model-{r:03d}", **meta, "stages": tags[1:]}

    try:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(push, jobs))
    finally:
        client.close()


class Requests:
    """Counts the requests a refresh sends, by method and kind of path (from the client's trace hook)."""

    _KIND = re.compile(r"/v2/(?:_catalog|.+?/(tags/list|manifests|blobs|referrers))")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()

    def __call__(self, line: str) -> None:
        method, url = line.split()[:2]
        m = self._KIND.search(url)
        kind = (m.group(1) or "_catalog") if m else "other"
        with self.lock:
            self.counts[f"{method} {kind}"] += 1

    def take(self) -> tuple[int, str]:
        with self.lock:
            counts, self.counts = self.counts, collections.Counter()
        return sum(counts.values()), ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def deprecate_some(host: str, models: list[dict], count: int, signer: KeySigner) -> None:
    """Sign a deprecation of the newest version in ``count`` repositories."""
    client = RegistryClient(host, RemoteSettings())
    newest = [m for m in models if m["stages"]][:count]

    def one(m: dict) -> None:
        target = client.repository(m["repository"], push=True)
        deprecate(target, target.resolve(m["version"]), m["repository"], signer, reason="benchmark", created=NOW)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, newest))
    finally:
        client.close()


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def children(commands: list[list[str]], env: dict[str, str], repeat: int = 8) -> list[float]:
    """Best wall time of each command, run in turn (interleaved, so load from others hits all alike)."""
    best = [float("inf")] * len(commands)
    for _ in range(repeat):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, check=True)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def mlflow_side(models: list[dict], workdir: Path) -> dict[str, float] | None:
    try:
        from mlflow import MlflowClient
    except ImportError:
        print("mlflow is not installed (pip install -e '.[bench]'): MLflow side skipped")
        return None
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    start = time.perf_counter()
    for repo in sorted({m["repository"] for m in models}):
        client.create_registered_model(repo.replace("/", "-"))
    for m in models:
        # MLflow model versions carry string tags only: the metric becomes a tag it cannot compare numerically
        client.create_model_version(m["repository"].replace("/", "-"), source=f"file:///models/{m['name']}",
                                    tags={"license": m["license"], "framework": m["framework"],
                                          "accuracy": str(m["metrics"][0]["value"]),
                                          **({"stage": "production"} if m["stages"] else {})})
    register = time.perf_counter() - start
    simple, hits = timed(lambda: client.search_model_versions("tags.license = 'mit'", max_results=10000), 25)
    n_simple = len(hits)  # type: ignore[arg-type]

    def nearest() -> list:  # no OR, no numeric comparison: two queries and a client-side filter
        found = []
        for lic in ("mit", "MIT", "Apache-2.0", "apache-2.0"):  # and no case-insensitive equality
            found += client.search_model_versions(f"tags.license = '{lic}'", max_results=10000)
        return [v for v in found if float(v.tags["accuracy"]) >= 0.9]

    compound, hits = timed(nearest, 25)
    return {"register": register, "simple": simple, "compound": compound, "n_simple": n_simple,
            "n_compound": len(hits)}  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=S.DEFAULT_CONCURRENCY, help="registry requests in parallel")
    parser.add_argument("--deprecate", type=int, default=100, help="models given a signed deprecation record")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        work = Path(tmp)
        requests = Requests()
        config = Config(work / "store", remote=RemoteSettings(trace=requests))
        reg = RegistryProcess().start()
        try:
            t0 = time.perf_counter()
            models = populate(reg.host)
            print(f"pushed {len(models)} models in {REPOS} repositories to {reg.host} in "
                  f"{time.perf_counter() - t0:.1f} s")
            index = work / "index.sqlite"
            scope = S.Scope(reg.host, "bench")
            with IndexDB(index) as db:
                requests.take()
                cold, stats = timed(lambda: S.update(db, scope, config=config, concurrency=args.concurrency))
                cold_n, cold_kinds = requests.take()
                print(f"cold  {stats}\n      {cold_n} requests: {cold_kinds}")
                warm, stats = timed(lambda: S.update(db, scope, config=config, concurrency=args.concurrency))
                warm_n, warm_kinds = requests.take()
                print(f"warm  {stats}\n      {warm_n} requests: {warm_kinds}")
                key = keys.generate()
                deprecate_some(reg.host, models, args.deprecate, KeySigner(key))
                verifier = KeyVerifier(key.public_key())
                requests.take()
                dep_first, stats = timed(lambda: S.update(db, scope, config=config, concurrency=args.concurrency,
                                                          verifier=verifier))
                dep_first_n, kinds = requests.take()
                print(f"deprecations, first read  {stats.deprecations_read} listings read\n"
                      f"      {dep_first_n} requests: {kinds}")
                dep_warm, stats = timed(lambda: S.update(db, scope, config=config, concurrency=args.concurrency,
                                                         verifier=verifier))
                dep_warm_n, kinds = requests.take()
                print(f"deprecations, warm  {stats.deprecations_read} listings read\n"
                      f"      {dep_warm_n} requests: {kinds}")
                n_deprecated = len(S.query(db, scope, filters=S.Filters(deprecated=True)))
                q_simple, hits = timed(lambda: S.query(db, scope, where=SIMPLE), 25)
                n_simple = len(hits)  # type: ignore[arg-type]
                q_compound, hits = timed(lambda: S.query(db, scope, where=WHERE), 25)
                n_compound = len(hits)  # type: ignore[arg-type]
            api, _ = timed(lambda: S.search(reg.host + "/bench", where=WHERE, offline=True, index=index,
                                            config=config), 25)
            exe = str(Path(sys.executable).with_name("modelcrate"))
            env = {"XDG_CACHE_HOME": str(work / "xdg")}
            (work / "xdg" / "modelcrate").mkdir(parents=True)
            os.link(index, work / "xdg" / "modelcrate" / "index.sqlite")
            startup, offline = children([[exe, "--version"],
                                         [exe, "search", reg.host + "/bench", "--offline", "--where", WHERE]], env)
            ml = mlflow_side(models, work)
        finally:
            reg.stop()
    load = os.getloadavg()
    print(f"\nconcurrency {args.concurrency}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"on {os.cpu_count()} cores")
    print("| measurement | modelcrate | target | MLflow 3 (SQLite) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| cold index, 1,000 models ({cold_n} requests) | {cold:.2f} s | ≤ 10 s | "
          + (f"{ml['register']:.1f} s to register | |" if ml else "| |"))
    print(f"| warm refresh ({warm_n} requests) | {warm:.2f} s | ≤ 2 s | | |")
    print(f"| refresh after {args.deprecate} signed deprecations, verified ({dep_first_n} requests; "
          f"{n_deprecated} deprecated found) | {dep_first:.2f} s | | | |")
    print(f"| warm refresh with those {args.deprecate} referrers tags ({dep_warm_n} requests) | {dep_warm:.2f} s | "
          "| | |")
    print(f"| query `{SIMPLE}` ({n_simple} hits) | {q_simple * 1000:.1f} ms | ≤ 50 ms | "
          + (f"{ml['simple'] * 1000:.1f} ms ({ml['n_simple']} hits) | {ml['simple'] / q_simple:.1f}× |" if ml
             else "| |"))
    print(f"| query `{WHERE}` ({n_compound} hits) | {q_compound * 1000:.1f} ms | ≤ 50 ms | "
          + (f"{ml['compound'] * 1000:.1f} ms ({ml['n_compound']} hits; 4 queries + client filter) | "
             f"{ml['compound'] / q_compound:.1f}× |" if ml else "| |"))
    print(f"| `search(..., offline=True)` incl. opening the index | {api * 1000:.1f} ms | ≤ 50 ms | | |")
    print(f"| CLI `search --offline` | {offline * 1000:.0f} ms | start-up + 50 ms | | |")
    print(f"| CLI start-up (`modelcrate --version`) | {startup * 1000:.0f} ms | | | |")
    print(f"\nCLI --offline minus start-up: {(offline - startup) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
