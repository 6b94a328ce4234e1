"""Atlas generative models: the atlas interface, the AWAE-GAN / WAE-GAN, CAE, Atlas VAE, InfoGAN and the registry.

Every family subclasses :class:`AtlasFamily` / :class:`SemiAtlasFamily` (:mod:`agm.models.family`, the atlas and
trainer interfaces written once) and registers itself with :func:`register_family` when its module is imported here.

Floor: above :mod:`agm.data`; imports only it and agm's private base modules (``tests/test_layout.py``).
"""

from __future__ import annotations

from agm.models.atlas_vae import AtlasVAE
from agm.models.awae_gan import AWAEGAN, count_parameters
from agm.models.backbones import PAPER_HIDDEN, backbone_for
from agm.models.cae import ChartAutoEncoder
from agm.models.family import AtlasFamily, SemiAtlasFamily
from agm.models.infogan import InfoGAN
from agm.models.protocol import AtlasModel, SemiAtlasModel, model_device
from agm.models.registry import MODELS, build_model, model_options, register_family, register_model

__all__ = [
    "AWAEGAN",
    "AtlasFamily",
    "AtlasVAE",
    "ChartAutoEncoder",
    "InfoGAN",
    "MODELS",
    "PAPER_HIDDEN",
    "AtlasModel",
    "SemiAtlasFamily",
    "SemiAtlasModel",
    "backbone_for",
    "build_model",
    "count_parameters",
    "model_device",
    "model_options",
    "register_family",
    "register_model",
]
