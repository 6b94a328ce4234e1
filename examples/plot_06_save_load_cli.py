"""
Save, load and check a graph; the ``agm geodesic`` command
==========================================================

A graph holds everything its searches need (nodes, latents, decoded positions, the edge weights decoded so far, the
build parameters and the decode policy) and a fingerprint of its model.  :meth:`agm.GeodesicGraph.save` writes it
to one file atomically; :func:`agm.load_graph` reads it back, verifies the file, and, given the model, checks that it
is the model the graph was built for: a graph is never silently used with another model.

The same pipeline runs from the shell on a checkpoint written by ``agm train``: ``agm geodesic CHECKPOINT``.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import agm
from agm.data import load_dataset
from agm.training import load_checkpoint, make_config, train

torch.set_num_threads(1)
work = Path(tempfile.mkdtemp(prefix="agm-example-"))

# %%
# A checkpoint: the tests' ``tiny`` preset on agm's embedded glyph loop (1x28x28 images of a rotating glyph), written
# to ``work/run/checkpoint.pt`` as ``agm train --preset tiny --dataset glyph-loop --out work/run`` would.
config = make_config("tiny", model="awae", n_charts=2, dataset="glyph-loop", n_train=512, epochs=2, seed=0)
train(config, work / "run", progress=False)
model, config, meta = load_checkpoint(work / "run" / "checkpoint.pt")
print(type(model).__name__, config.n_charts, "charts; saved after epoch", meta.get("epoch"))

# %%
# Build, save, load.  The loaded graph gives the same geodesic; ``load_graph(path, model)`` also checks the model.
data = load_dataset("glyph-loop", "test", n=400).x
graph = agm.build_graph(model, data, k=10, eps=0.05, n_steps=6, progress=False)
path = graph.shortest_path(data[0], data[200])
graph.save(work / "glyphs.agmgraph")
loaded = agm.load_graph(work / "glyphs.agmgraph", model)
again = loaded.shortest_path(data[0], data[200])
print(f"saved {(work / 'glyphs.agmgraph').stat().st_size / 1e3:.0f} kB; length {path.length:.4f} -> {again.length:.4f}")

# %%
# Another model (here: the same checkpoint with one weight tensor nudged by 0.01) is refused.
other, _, _ = load_checkpoint(work / "run" / "checkpoint.pt")
with torch.no_grad():
    next(other.parameters()).add_(0.01)
try:
    agm.load_graph(work / "glyphs.agmgraph", other)
except ValueError as error:
    print("refused:", error)

# %%
# A damaged file is refused too (the file is verified when read).
damaged = bytearray((work / "glyphs.agmgraph").read_bytes())
damaged[len(damaged) // 2] ^= 0xFF
(work / "damaged.agmgraph").write_bytes(bytes(damaged))
try:
    agm.load_graph(work / "damaged.agmgraph", model)
except ValueError as error:
    print("refused:", str(error)[:160])

# %%
# The command line: ``agm geodesic CHECKPOINT --pairs 3 --out DIR`` builds the graph on the checkpoint's data set,
# finds the geodesics of 3 random pairs and writes strips.png, geodesics.json and the distance matrix.
command = [sys.executable, "-m", "agm", "geodesic", str(work / "run" / "checkpoint.pt"), "--n", "400", "--k", "10"]
command += ["--pairs", "3", "--n-steps", "6", "--threads", "1", "--quiet", "--out", str(work / "geo")]
print("$ agm", " ".join(command[3:]))
done = subprocess.run(command, capture_output=True, text=True, check=True)
print(done.stdout)
report = json.loads((work / "geo" / "geodesics.json").read_text())
print(sorted(report))

fig, ax = plt.subplots(figsize=(9, 3))
ax.imshow(plt.imread(work / "geo" / "strips.png"))
ax.set_axis_off()
ax.set_title("strips.png written by agm geodesic")
plt.show()
shutil.rmtree(work)
