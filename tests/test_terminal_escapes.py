"""Text others write (tag names, catalog entries, registry error messages, artifact metadata) reaches the
terminal escaped: no OSC/CSI sequence, carriage return or bidi override is printed raw."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from click.testing import CliRunner

from modelcrate.cli.main import cli
from modelcrate.cli.render import printable, table
from tests.support.artifacts import write_model
from tests.transport.scripted import Scripted

HOSTILE = "v1\x1b]0;pwned\x07\x1b[2J\rfake OK\u202e"
RAW = ("\x1b", "\x07", "\r", "\u202e")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def test_printable_escapes_controls_and_keeps_lines() -> None:
    assert printable(HOSTILE) == "v1\\x1b]0;pwned\\x07\\x1b[2J\\rfake OK\\u202e"
    assert printable("a\tb\nc") == "a\tb\nc"
    assert _clean(table(["NAME"], [[HOSTILE]]))


def test_tags_catalog_and_registry_errors_are_escaped(home: Path) -> None:
    server = Scripted()

    def tags(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, json.dumps({"name": "m", "tags": [HOSTILE, "ok"]}).encode()

    server.routes["/v2/m/tags/list"] = tags
    server.routes["/v2/_catalog"] = lambda req: (
        200, {"Content-Type": "application/json"}, json.dumps({"repositories": [HOSTILE]}).encode())
    server.routes["/v2/bad/tags/list"] = lambda req: (
        400, {"Content-Type": "application/json"},
        json.dumps({"errors": [{"code": "DENIED", "message": HOSTILE}]}).encode())
    runner = CliRunner()
    try:
        for args in (["tags", f"{server.host}/m"], ["catalog", server.host], ["tags", f"{server.host}/bad"]):
            r = runner.invoke(cli, args)
            assert "pwned" in r.output, r.output  # shown, but escaped
            assert _clean(r.output), repr(r.output)
        as_json = runner.invoke(cli, ["tags", f"{server.host}/m", "--json"])
        assert HOSTILE in json.loads(as_json.stdout) and _clean(as_json.stdout)
    finally:
        server.close()


def test_metadata_fields_and_paths_are_escaped_in_inspect(home: Path, tmp_path: Path) -> None:
    root = write_model(tmp_path / "m", {"w.bin": b"weights"})
    yaml_path = root / "modelcrate.yaml"
    text = yaml_path.read_text()
    yaml_path.write_text(text + 'description: "hello\\e]0;pwned\\a\\rfake"\n')
    runner = CliRunner()
    packed = runner.invoke(cli, ["pack", str(root), "-t", "m:1"])
    assert packed.exit_code == 0, packed.output
    shown = runner.invoke(cli, ["inspect", "m:1"])
    assert shown.exit_code == 0 and "pwned" in shown.output, shown.output
    assert _clean(shown.output), repr(shown.output)


def test_catalog_prints_as_pages_arrive_and_json_stays_a_list(home: Path) -> None:
    server = Scripted()

    def route(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        n = int(req.path.partition("p=")[2] or 0)
        headers = {"Content-Type": "application/json"}
        if n < 2:
            headers["Link"] = f'</v2/_catalog?n=1000&p={n + 1}>; rel="next"'
        return 200, headers, json.dumps({"repositories": [f"r{n}"]}).encode()

    server.routes["/v2/_catalog"] = route
    try:
        runner = CliRunner()
        assert runner.invoke(cli, ["catalog", server.host]).stdout.split() == ["r0", "r1", "r2"]
        assert json.loads(runner.invoke(cli, ["catalog", server.host, "--json"]).stdout) == ["r0", "r1", "r2"]
    finally:
        server.close()
