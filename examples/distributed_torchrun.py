"""
Scaling out: data-parallel training and sharded graph weights with torchrun
===========================================================================

Shown, not executed by the docs build (it needs ``torchrun`` and several processes).  Run it from the repository
root on one machine with two CPU processes::

    torchrun --standalone --nproc-per-node 2 examples/distributed_torchrun.py

Every process runs this whole script.  :func:`agm.training.train` trains data-parallel when a process group exists
(each process takes ``batch_size / W`` rows of every global batch; torch's ``DistributedDataParallel`` averages the
gradients; rank 0 writes the checkpoint).  :func:`agm.build_graph` with ``weights="eager"`` then splits the node
decodings and the edge decodes into one contiguous share per rank and gathers them, so every rank holds the same
graph, equal to a one-process build to float32 rounding; ``distances`` splits its rows.  On GPUs use
``--nproc-per-node <GPUs>`` and ``device="cuda"`` (NCCL; process ``LOCAL_RANK`` uses ``cuda:LOCAL_RANK``).

Expected output (2 CPU processes, gloo, torch 2.13.0, measured on the project's 2-core machine; torchrun's own
OMP_NUM_THREADS notice left out)::

    world size 2: rank 0 trains on 256 of 512 rows per epoch
    trained: AWAEGAN, 2 charts, 2 epochs; checkpoint /tmp/agm-torchrun/checkpoint.pt (world_size 2)
    graph: 800 nodes, 5007 edges, every weight decoded: True
    ranks agree: True
    distances (4, 4), symmetric: True

Training alone, from the command line: ``torchrun --standalone --nproc-per-node 2 $(which agm) train --model awae
--charts 2 --dataset glyph-loop --preset tiny --out runs/ddp``.
"""

import torch
import torch.distributed as dist

import agm
from agm import distributed
from agm.data import load_dataset
from agm.training import load_checkpoint, make_config, train

torch.set_num_threads(1)  # torchrun sets one OpenMP thread per process on CPUs; keep torch's to match
distributed.init_from_env("cpu")  # joins the group torchrun describes (gloo on the CPU)
rank, world = distributed.rank(), distributed.world_size()

config = make_config("tiny", model="awae", n_charts=2, dataset="glyph-loop", n_train=512, epochs=2, seed=0)
if rank == 0:
    print(f"world size {world}: rank 0 trains on {512 // world} of 512 rows per epoch")
result = train(config, "/tmp/agm-torchrun", progress=False)
meta = load_checkpoint("/tmp/agm-torchrun/checkpoint.pt")[2]
if rank == 0:
    print(
        f"trained: {type(result.model).__name__}, {config.n_charts} charts, {len(result.history)} epochs; "
        f"checkpoint {result.checkpoint} (world_size {meta['world_size']})"
    )

data = load_dataset("glyph-loop", "test", n=400).x
graph = agm.build_graph(result.model, data, k=10, eps=0.05, n_steps=6, weights="eager", progress=False)
weights = torch.as_tensor(graph.edge_weights.values)
gathered = [torch.empty_like(weights) for _ in range(world)]
dist.all_gather(gathered, weights)
D = graph.distances(data[:4])
if rank == 0:
    print(f"graph: {graph.n_nodes} nodes, {graph.n_edges} edges, every weight decoded: {graph.weights_evaluated == 1}")
    print("ranks agree:", all(torch.equal(gathered[0], w) for w in gathered))
    print(f"distances {D.shape}, symmetric: {bool((D == D.T).all())}")
distributed.cleanup()
