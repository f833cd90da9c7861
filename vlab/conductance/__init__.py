"""Break-junction conductance lab: structures, EMT break-junction MD, transport, histograms,
and the local-descriptor conductance surrogate.

Pure science: takes and returns ase.Atoms, numpy arrays and small frozen dataclasses
(no Dask, no zarr).
"""

from vlab.conductance.bottleneck import (
    BottleneckSettings,
    BottleneckSurrogate,
    bottleneck_features,
    neck_plane,
)
from vlab.conductance.breakjunction import (
    BreakJunctionProtocol,
    Trace,
    emt_calculator,
    in_contact,
    run_trace,
)
from vlab.conductance.descriptors import (
    DescriptorSettings,
    LocalDescriptors,
    compute_descriptors,
)
from vlab.conductance.displacement import (
    DisplacementHistogram,
    displacement_histogram,
    plot_displacement_histogram,
    rupture_elongation,
    stretches,
)
from vlab.conductance.embedding import embed_neck
from vlab.conductance.emt import VectorEMT
from vlab.conductance.histogram import (
    ConditionalResiduals,
    conductance_histogram,
    histogram_peak,
    plateau_length,
    plot_histogram,
    plot_plateau_lengths,
    plot_traces,
)
from vlab.conductance.pooling import pool_global, slab_matrix, soft_minimum
from vlab.conductance.shipped import (
    load_model_file,
    load_shipped_model,
    load_shipped_residuals,
    shipped_model_info,
    shipped_models,
)
from vlab.conductance.structures import (
    ELEMENTS,
    build_contact,
    build_point_contact,
    build_wire,
    electrode_atoms_per_layer,
    perturb,
    validate_structure,
)
from vlab.conductance.surrogate import (
    SURROGATE_PRESETS,
    ConductanceSurrogate,
    DescriptorTransformer,
)
from vlab.conductance.transport import (
    ExtendedHuckel,
    LeadLayers,
    SBandTightBinding,
    lead_layers,
)

__all__ = [
    "ELEMENTS",
    "SURROGATE_PRESETS",
    "BottleneckSettings",
    "BottleneckSurrogate",
    "BreakJunctionProtocol",
    "ConditionalResiduals",
    "ConductanceSurrogate",
    "DescriptorSettings",
    "DescriptorTransformer",
    "DisplacementHistogram",
    "ExtendedHuckel",
    "LeadLayers",
    "LocalDescriptors",
    "SBandTightBinding",
    "Trace",
    "VectorEMT",
    "bottleneck_features",
    "build_contact",
    "build_point_contact",
    "build_wire",
    "compute_descriptors",
    "conductance_histogram",
    "displacement_histogram",
    "electrode_atoms_per_layer",
    "embed_neck",
    "emt_calculator",
    "histogram_peak",
    "in_contact",
    "lead_layers",
    "load_model_file",
    "load_shipped_model",
    "load_shipped_residuals",
    "neck_plane",
    "perturb",
    "plateau_length",
    "plot_displacement_histogram",
    "plot_histogram",
    "plot_plateau_lengths",
    "plot_traces",
    "pool_global",
    "run_trace",
    "rupture_elongation",
    "shipped_model_info",
    "shipped_models",
    "slab_matrix",
    "soft_minimum",
    "stretches",
    "validate_structure",
]
