import subprocess
import sys

from dse import __version__
from dse.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "dse", *args], capture_output=True, text=True)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "design-space exploration" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"dse {__version__}"


def test_unknown_subcommand_is_one_line_exit_2():
    r = run("frobnicate")
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "frobnicate" in r.stderr
    assert "Traceback" not in r.stderr


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_quant_levels_and_terms():
    r = run("quant", "levels", "sp2", "4", "--json")
    assert r.returncode == 0
    assert r.stdout.strip() == "[-1.0, -0.75, -0.625, -0.5, -0.25, -0.125, 0.0, 0.125, 0.25, 0.5, 0.625, 0.75, 1.0]"
    r = run("quant", "terms", "--budget", "3", "--group", "4", "--json", "--", "7", "-5", "3", "12")
    assert r.returncode == 0 and '"kept": [4, -4, 0, 8]' in r.stdout


def test_quant_bad_input_is_one_line_exit_2():
    r = run("quant", "levels", "float", "4")
    assert r.returncode == 2 and r.stderr.strip() == "dse: error: kind: must be one of fixed, pow2, sp2, term, msq; got 'float'"
    r = run("quant", "terms", "--budget", "-1", "3")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
