"""`medseglab --help` explains itself: every subcommand has a description, every argument a help text."""

from __future__ import annotations

import argparse

import pytest

from medseglab.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser, path: str = "medseglab"):
    """(``medseglab review list``, its parser) for every subcommand, nested ones included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}", sub
                yield from _subparsers(sub, f"{path} {name}")


COMMANDS = dict(_subparsers(build_parser()))


def test_every_stage_is_walked():
    assert {"medseglab prepare", "medseglab split", "medseglab stats", "medseglab report", "medseglab ensemble",
            "medseglab predict", "medseglab explain", "medseglab review list", "medseglab review accept"} <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_subcommand_has_a_description(command):
    assert (COMMANDS[command].description or "").strip(), f"`{command} --help` has no description"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_argument_has_help(command):
    missing = [", ".join(a.option_strings) or a.dest for a in COMMANDS[command]._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
               and (a.help is None or a.help == argparse.SUPPRESS or not a.help.strip())]
    assert not missing, f"`{command} --help`: no help text for {missing}"


def test_help_renders(capsys):
    """A stray % in a help text only fails when argparse formats it."""
    for command, parser in COMMANDS.items():
        parser.format_help()
