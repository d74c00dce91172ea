"""`xdl train`: train a model's Keras and/or PyTorch twin, in one process or on several workers."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK, XdlError
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "train", "train a model's Keras and/or PyTorch twin")
    common.model_arguments(sp)
    common.runs_option(sp)
    common.data_dir_option(sp)
    common.framework_option(sp)
    sp.add_argument("--epochs", type=common.count(1), help="override the spec's number of epochs")
    sp.add_argument("--dataset", help="train on another of the model's data sets (e.g. mnist)")
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.add_argument("--workers", type=common.count(1), metavar="N",
                    help="train on N workers, each on its shard with batch B/N: torch = N processes by torchrun "
                    "(DDP), keras = N devices by MirroredStrategy; with --nodes, per machine (docs/distributed.md)")
    sp.add_argument("--nodes", type=common.count(2), metavar="M", help="torch on M machines: this is one of them")
    sp.add_argument("--node-rank", type=common.count(0), metavar="R", help="with --nodes: this machine's rank, 0 "
                    "serving the rendezvous")
    sp.add_argument("--rendezvous", metavar="HOST:PORT", help="with --nodes: node 0's address and a free port")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl import distributed, training

    nodes = None
    if args.nodes is not None or args.node_rank is not None or args.rendezvous is not None:
        if args.nodes is None or args.node_rank is None or args.rendezvous is None:
            raise XdlError("--nodes, --node-rank and --rendezvous go together (docs/distributed.md)")
        nodes = distributed.Nodes(args.nodes, args.node_rank, args.rendezvous)
    for model in common.models(args.model):
        for framework in common.frameworks(args.framework):
            training.check_runs(args.runs, model, framework)  # before a distributed run starts, too
            options = dict(epochs=args.epochs, dataset=args.dataset, data_dir=args.data_dir, quick=args.quick,
                           runs=args.runs)
            if args.workers or nodes or distributed.started_by_engine(framework):
                m = distributed.train(model, framework, workers=args.workers, nodes=nodes, **options)
                if m is None or distributed.reports_to_launcher():  # rank 0, or the launcher, reports the run
                    continue
            else:
                m = training.train(model, framework, **options)
            spec = registry.get(model)
            print(f"{model}/{framework}: test {spec.metric} {m[training.metric_key(spec)]:.4f} on {m['dataset']} "
                  f"after {m['epochs_run']} epochs ({m['train_seconds']:.1f} s) -> "
                  f"{training.run_dir(args.runs, model, framework)}")
    return EXIT_OK
