"""The dashboard's safety rules as pure functions: hosts, the token, artifact paths."""

from __future__ import annotations

import os

import pytest

from medseglab.dashboard import safety
from medseglab.errors import UserError


@pytest.mark.parametrize("path", ["stats/plots/depletion.png", "explain/gradcam_tii.npz", "a.png", "x/y/z.csv"])
def test_plain_artifact_paths_pass(path):
    assert safety.safe_artifact_path(path) == path


@pytest.mark.parametrize("path", [
    "../secret.png", "explain/../../secret.png", "/etc/passwd", "explain/./pic.png", "explain//pic.png",
    "%2e%2e/secret.png", "explain/%2E%2E/%2e%2e/x.png", "..%2fsecret.png", "%2fetc%2fpasswd",
    "%252e%252e/secret.png", "explain\\..\\x.png", "explain%5c..%5cx.png", "C:/windows/x.png", "a\x00.png", "",
    "explain/..", ".."])
def test_paths_that_could_leave_the_run_are_refused(path):
    assert safety.safe_artifact_path(path) is None


def test_inside_resolves_symlinks(tmp_path):
    root = tmp_path / "art"
    (root / "explain").mkdir(parents=True)
    (root / "explain" / "pic.png").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"s")
    (root / "explain" / "leak.png").symlink_to(tmp_path / "secret.png")
    (root / "explain" / "inner.png").symlink_to(root / "explain" / "pic.png")
    assert safety.inside(root, "explain/pic.png") == (root / "explain" / "pic.png").resolve()
    assert safety.inside(root, "explain/inner.png") is not None  # a link that stays inside is fine
    assert safety.inside(root, "explain/leak.png") is None
    assert safety.inside(root, "explain") is None  # folders are not served
    assert safety.inside(root, "missing.png") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host):
    safety.check_host(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_other_hosts_need_the_token(host):
    with pytest.raises(UserError, match="MEDSEGLAB_DASHBOARD_TOKEN"):
        safety.check_host(host, None)
    safety.check_host(host, "s3cret-token")


def test_token_comparison():
    assert safety.token_ok(None, None) and safety.token_ok("anything", None)
    assert safety.token_ok("abc", "abc")
    assert not safety.token_ok("abd", "abc") and not safety.token_ok(None, "abc") and not safety.token_ok("", "abc")


def test_token_from_env(monkeypatch):
    monkeypatch.delenv(safety.TOKEN_ENV, raising=False)
    assert safety.token_from_env() is None
    monkeypatch.setenv(safety.TOKEN_ENV, "  ")
    assert safety.token_from_env() is None
    monkeypatch.setenv(safety.TOKEN_ENV, "tok")
    assert safety.token_from_env() == "tok"


def test_cli_refuses_a_public_host_without_token(monkeypatch, capsys):
    from medseglab.cli import main

    monkeypatch.delenv(safety.TOKEN_ENV, raising=False)
    assert main(["dashboard", "--host", "0.0.0.0", "--tracking-uri", "sqlite:////nonexistent/x.db"]) == 2
    assert "MEDSEGLAB_DASHBOARD_TOKEN" in capsys.readouterr().err


def test_cli_defaults_are_loopback_and_no_debug():
    from medseglab.cli import build_parser

    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port, args.debug) == ("127.0.0.1", 8050, False)
