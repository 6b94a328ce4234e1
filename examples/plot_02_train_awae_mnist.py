"""
Train the paper's AWAE-GAN and interpolate across charts
========================================================

The paper's model (Appendix A's convolutional encoders, decoders and partition of unity; a Wasserstein
auto-encoder whose latent distribution is matched by a discriminator) trained on MNIST with a small preset: 4 charts,
narrow layers, 1,500 images, 3 epochs -- a minute of one CPU core, far from the paper's quality but enough to see
the charts split the digits and geodesics change chart where straight lines cannot be drawn.

Data: the MNIST IDX files are read from ``../shared/data`` beside the repository when they are there (the project's
CI); otherwise the example trains on agm's embedded ``glyph-loop`` data set (a rotated glyph, 1x28x28, generated on
the spot), so it runs anywhere without a download.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import torch

import agm
from agm.data import load_dataset
from agm.training import make_config, train

torch.manual_seed(0)
torch.set_num_threads(1)  # one torch thread: on a small, shared CPU more threads cost more than they give

# The repository root: the first folder above this one (or the current one) that holds pyproject.toml.
here = Path.cwd().resolve()
repo = next((p for p in [here, *here.parents] if (p / "pyproject.toml").exists()), here)
mnist_dir = repo.parent / "shared" / "data"
if (mnist_dir / "mnist").is_dir():
    dataset, data_dir = "mnist", str(mnist_dir)
else:
    dataset, data_dir = "glyph-loop", None
print("training on", dataset)

# %%
# A preset is a :class:`agm.training.TrainConfig`; any field can be overridden.  ``tiny`` is the tests' preset
# (h = 4); here the width is 8 and the training set 1,500 images.
config = make_config(
    "tiny", model="awae", n_charts=4, dataset=dataset, data_dir=data_dir, hidden=8, n_train=1500, epochs=3, seed=0
)
result = train(config, progress=False)
model = result.model
print(result)

# %%
# The partition of unity psi(x) = q(y|x) assigns each test image to its charts.
test = load_dataset(dataset, "test", n=1500, data_dir=data_dir, seed=1, download=False)
with torch.no_grad():
    psi = model.partition(test.x)
print("test images per most likely chart:", torch.bincount(psi.argmax(1), minlength=4).tolist())

# %%
# A graph on the test images (lazy: the edges are decoded only when a query needs them), and geodesics between
# images that the model puts in different charts.
graph = agm.build_graph(model, test.x, k=10, eps=0.1, n_steps=6, skip_small_charts=True, progress=False)
chart = psi.argmax(1)
first = int(torch.nonzero(chart == chart[0])[0])
other = int(torch.nonzero(chart != chart[0])[0])
third = int(torch.nonzero((chart != chart[0]) & (chart != chart[other]))[0]) if chart.unique().numel() > 2 else 7
paths = graph.shortest_paths(test.x[[first, first]], test.x[[other, third]])
for p in paths:
    print(f"length {p.length:.2f}, charts along the path {p.charts.tolist()}, switches at {p.chart_changes.tolist()}")

# %%
# The strips: 10 decodings equidistant in decoded arc length, each labelled with the chart it was decoded in.
n = 10
fig, axes = plt.subplots(len(paths), n, figsize=(n * 0.9, len(paths) * 1.2))
for row, p in enumerate(paths):
    strip = p.interpolate(n)
    for col in range(n):
        ax = axes[row, col]
        ax.imshow(strip.x[col].reshape(28, 28).numpy(), cmap="gray")
        ax.set_title(f"chart {strip.labels[col]}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
fig.suptitle("geodesic interpolation across charts (chart of each decoding above it)", fontsize=9)
plt.show()
