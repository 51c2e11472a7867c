"""One workload's protocol, in order: tune each loss per noise level, train the minimum seeds,
race more seeds where verdicts are open, then the side stages (timing, sweep, anatomy, optima,
peers). ``bench.api.run`` calls :func:`carry_out` once per command.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench import schema
from bench.options import built_in_rates, check_losses
from bench.study import grid, rounds, runner, stages, sweeps, tune
from bench.study.results import Results
from bench.training.config import TRAINER


def steps(n_train: int, batch_size: int, epochs: int) -> dict[str, int]:
    """The step budget of a workload: SGD steps per epoch (⌈N / B⌉) and in all (× epochs)."""
    per_epoch = math.ceil(n_train / batch_size)
    return {"steps_per_epoch": per_epoch, "steps": per_epoch * epochs}


def choose(study, specs, levels, data, model_spec, devices, stop, cluster, clock):
    """(noise, entry) -> the Trial (setting, rate) each run trains with: tuned per noise level,
    the built-in rates (``--no-tune``) or one rate (``--lr``) at each entry's untuned setting
    (``sweeps.default_setting``: what it writes, its class's defaults for the rest)."""
    if study.rate_mode == "fixed":
        return {
            (lv, s): tune.Trial(sweeps.default_setting(s), study.lr) for lv in levels for s in specs
        }
    if study.rate_mode == "defaults":
        rates = built_in_rates(specs)
        return {
            (lv, s): tune.Trial(sweeps.default_setting(s), rates[s]) for lv in levels for s in specs
        }
    # every setting once on a random batch first: a setting that fails is one line, not a
    # failed task in the middle of the search
    check_losses(
        list(
            dict.fromkeys(
                t.spec
                for s in specs
                for t in tune.candidates(s, study.tune_budget, study.rate_decades)
            )
        ),
        data.num_classes,
        data.prior,
    )
    with clock.phase("tuning"):
        return stages.tune(
            study.out,
            specs,
            levels,
            data,
            devices[0],
            stop,
            model=model_spec,
            epochs=study.tune_epochs or study.epochs,
            batch_size=study.batch_size,
            schedule=study.schedule,
            retune=study.retune,
            budget=study.tune_budget,
            decades=study.rate_decades,
            cluster=cluster,
            data_root=study.data,
            imports=study.imports,
            screen_epochs=study.tune_screen_epochs,
            keep=study.tune_keep,
            validation=study.validation,
            optimizer=study.optimizer,
            selection="early_stopped" if study.early_stop else "last",
        )


def carry_out(
    study,
    specs,
    data,
    model_spec,
    devices,
    levels,
    results: Results,
    stop,
    textbook_fits,
    cluster,
    clock,
) -> dict:
    """Tune, train in rounds and run the side stages of one workload; return the facts for
    run.json's command entry: the selection ``metric``, the last plan of ``seeds`` per
    "noise entry", the grid's size in ``tune_trial_epochs`` and ``run_epochs``, and the step
    budget (``steps_per_epoch``, ``steps``)."""
    workload = {"dataset": data.spec, "model": model_spec}
    chosen = choose(study, specs, levels, data, model_spec, devices, stop, cluster, clock)
    metric = tune.metric_for(data.prior)
    side = []
    shared = None
    rounds_done = []
    if cluster is not None:  # the L-BFGS optima and the peers fill the queue behind the runs
        clean = [chosen[(levels[0], s)].spec for s in specs]
        side = stages.reference_jobs(
            study.out,
            clean,
            data.spec,
            model=model_spec,
            max_iter=study.reference_iters,
            data_root=study.data,
            imports=study.imports,
        )
        shared = cluster.shared_hosts()  # asked once: the peers' flag and the runs' both read it
        if study.peers:  # their fits' seconds are marked as shared
            side += stages.peer_jobs(
                study.out,
                data.spec,
                model=model_spec,
                epochs=study.epochs,
                data_root=study.data,
                imports=study.imports,
                concurrent=any(shared.values()),
            )

    def train(plan: rounds.Plan) -> list[dict]:
        configs = []
        for level in levels:
            configs += grid.expand(
                specs,
                devices,
                {s: range(plan[(level, s)]) for s in specs},
                lrs={s: chosen[(level, s)].lr for s in specs},
                settings={s: chosen[(level, s)].spec for s in specs},
                noise=level,
                **study.protocol,
                **workload,
            )
        finished = results.resume(configs)
        todo = [c for c in configs if c not in finished]
        if len(todo) < len(configs):
            print(
                f"resuming: {len(configs) - len(todo)} of {len(configs)} runs already in "
                f"{results.csv_path}"
            )
        if cluster is None:
            runner.train_all(
                todo, {data.spec: data}, results, Path(study.data), stop, study.step_mode
            )
        else:
            runner.train_parallel(
                todo,
                cluster,
                results,
                Path(study.data),
                stop,
                step_mode=study.step_mode,
                imports=study.imports,
                side_jobs=list(side),
                stack=study.stack,
                shared=shared,
                first_round=not rounds_done,
            )
            side.clear()  # the side jobs go with the first round only
        rounds_done.append(plan)
        return [
            r
            for r in results.rows()
            if r["trainer"] == TRAINER and r["dataset"] == data.spec and r["model"] == model_spec
        ]

    plan = rounds.first(levels, specs, clean=study.seeds, noisy=study.noise_seeds)
    judging = _judging(data, metric, plan, study)
    with clock.phase("training"):
        plan = rounds.race(
            train,
            plan,
            metric=tune.SCORE_COLUMN[metric],
            step=study.seed_round,
            cap=study.seed_cap or 0,
            verdicts=rounds.default_verdicts(),
            n_test=len(data.test_y),
            test_per_seed=judging["test_per_seed"],
            chance=judging["chance"],
        )
    if cluster is not None:
        cluster.close()  # the rest is timed: nothing else may run beside it
    _textbook(study, specs, data, model_spec, devices, results, stop, textbook_fits, clock, cluster)
    clean = {chosen[(levels[0], s)].spec: chosen[(levels[0], s)].lr for s in specs}
    if cluster is not None:
        with clock.phase("serial timing"):
            stages.serial_timing(
                study.out,
                list(clean),
                data,
                devices,
                clean,
                stop,
                model=model_spec,
                batch_size=study.batch_size,
                schedule=study.schedule,
                step_mode=study.step_mode,
            )
    if study.batch_sizes:
        with clock.phase("batch-size sweep"):
            stages.batch_size_sweep(
                study.out,
                data,
                devices,
                study.batch_sizes,
                clean,
                stop,
                model=model_spec,
                step_mode=study.step_mode,
            )
    if "cpu" in devices:
        with clock.phase("step anatomy"):
            stages.step_anatomy(study.out, list(clean), data, study.batch_size, model=model_spec)
    if study.reference_iters:
        with clock.phase("L-BFGS optima"):
            stages.convex_references(
                study.out, list(clean), data, model=model_spec, max_iter=study.reference_iters
            )
    if study.peers:
        with clock.phase("scikit-learn peers"):
            stages.peer_rows(study.out, data, model=model_spec, epochs=study.epochs)
    tuned = [
        r
        for r in schema.read_rows(study.out / "tuning.csv", schema.TUNING)
        if r["dataset"] == data.spec and r["model"] == model_spec
    ]
    # the grid's cost in units: the report divides the phases' seconds by them
    return {
        "metric": metric,
        "seeds": {f"{lv} {entry}": n for (lv, entry), n in plan.items()},
        "tune_trial_epochs": sum(int(r["epochs"]) for r in tuned),
        "run_epochs": sum(plan.values()) * study.epochs,
        **steps(len(data.train_y), study.batch_size, study.epochs),
        "verdicts": judging,
    }


def _judging(data, metric: str, plan: rounds.Plan, study) -> dict:
    """What the verdicts of this workload are made with, for run.json (the report reads it):
    the race's ``looks`` per noise level, whether the test set is drawn per seed, the margin δ,
    the constant predictor's score (``chance``) and the reference rule."""
    try:
        from bench.analysis import verdicts
    except ImportError:
        return {"looks": {}, "test_per_seed": False, "chance": None, "margin": None}
    per_seed = verdicts.test_per_seed(data)
    return {
        "looks": rounds.level_looks(plan, study.seed_round, study.seed_cap or 0),
        "test_per_seed": per_seed,
        "margin": verdicts.margin_for(len(data.test_y), test_per_seed=per_seed),
        "chance": verdicts.chance_level(data.test_y.cpu().numpy(), metric),
        "reference_rule": verdicts.REFERENCE_RULE,
    }


def _textbook(
    study, specs, data, model_spec, devices, results, stop, textbook_fits, clock, cluster
) -> None:
    """The textbook loop's run beside ce: a timing peer, run here, alone, after the rest."""
    if not (study.textbook and textbook_fits and "cpu" in devices and "ce" in specs):
        return
    config = grid.textbook_run(study.textbook_epochs, study.batch_size, model=model_spec)
    if config in results.resume([config]):
        return
    with clock.phase("training" if cluster is None else "textbook loop"):
        runner.train_all(
            [config], {data.spec: data}, results, Path(study.data), stop, study.step_mode
        )
