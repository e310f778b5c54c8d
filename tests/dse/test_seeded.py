"""``seeded`` sets torch's deterministic-algorithms flag (and restores it) without importing
torch._inductor, whose first import cost ~1 s of CPU in every fine-tuning process (issue 13)."""

import subprocess
import sys

import torch

from dse.training.data import seeded


def test_flag_set_inside_and_restored():
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    with seeded(0):
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) == before


def test_no_inductor_import():
    code = ("import sys, torch; from dse.training.data import seeded\n"
            "with seeded(1):\n    on = torch.are_deterministic_algorithms_enabled()\n"
            "print(on, 'torch._inductor' in sys.modules, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "False"]
