"""Each search worker trains with one torch thread (issue 13, scale-out): the fine-tune the
worker loop runs (dse/study.py -> dse.train.finetune) sets torch's intra-op threads to
``CPU_THREADS`` (1) inside ``seeded`` and restores the process's setting afterwards, so
``dse search --jobs 2`` / two ``dse worker`` processes on 2 cores do not oversubscribe."""

from __future__ import annotations

import torch

from dse.train import CPU_THREADS, FinetuneBudget, finetune, uniform_plan
from dse.workloads import get_workload
from hwmodels import QuantScheme


def test_finetune_trains_with_one_thread_and_restores_the_process_setting(tmp_path):
    digits = get_workload("digits")
    seen = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what an unpinned worker process gets on a 2-core machine
    try:
        finetune(digits, uniform_plan(digits, QuantScheme(kind="fixed", w_bits=8, a_bits=8)),
                 FinetuneBudget(epochs=1, batch_size=512), cache_dir=tmp_path, pretrain_epochs=1,
                 abort=lambda epoch, acc: seen.append(torch.get_num_threads()))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert CPU_THREADS == 1
    assert seen == [1]
    assert after == 2


def test_workers_of_a_demo_study_rebuild_the_demo_config(tmp_path):
    """`dse search --jobs 2` / `dse worker` on the built-in demo (no TOML, raw config {})
    used to rebuild parse_config's defaults (systolic model, another space): every --jobs 2
    trial came out infeasible and every `dse worker` trial failed with Optuna's "dynamic
    value space" error."""
    import optuna

    from dse.config import load_config
    from dse.storage import open_storage
    from dse.study import config_from_study, open_study, resolve

    cfg = load_config(None)
    handle = open_storage(str(tmp_path / "demo.journal"))
    open_study(handle, cfg, {}, resolve(cfg))  # what cmd_search passes without a config file
    study = optuna.load_study(study_name=cfg.name, storage=handle.storage)
    again = config_from_study(study)
    assert again.hardware.model == "bitserial"
    assert again.to_dict() == cfg.to_dict()
