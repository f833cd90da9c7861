"""What a user's command runs: the glue between the catalog, the engine and the science.

Workflows open stores, call the science, run campaigns, draw figures and write reports:

* :mod:`vlab.workflows.conductance`: figures from conductance stores, surrogate training
  with whole traces held out, validation against reference stores;
* :mod:`vlab.workflows.experiment`: the virtual break-junction experiment (MD, surrogate and
  reference campaigns, histograms side by side);
* :mod:`vlab.workflows.polymers`: design libraries, transfer reports;
* :mod:`vlab.workflows.ingest`: public polymer data into catalog stores;
* :mod:`vlab.workflows.demo`: ``vlab demo``, the conductance lab end to end.

Layers: ``cli → workflows → campaign → {catalog, conductance, polymers}``; the science
packages never import this one.
"""

from vlab.workflows.conductance import (
    conductance_figures,
    conductance_traces,
    labelled_structures,
    train_surrogate,
    validate_surrogate,
)
from vlab.workflows.demo import demo_specs, run_demo
from vlab.workflows.experiment import (
    ExperimentSpec,
    experiment_figure,
    load_experiment,
    run_experiment,
)
from vlab.workflows.ingest import ingest_source
from vlab.workflows.polymers import design_library, transfer_report

__all__ = [
    "ExperimentSpec",
    "conductance_figures",
    "conductance_traces",
    "demo_specs",
    "design_library",
    "experiment_figure",
    "ingest_source",
    "labelled_structures",
    "load_experiment",
    "run_demo",
    "run_experiment",
    "train_surrogate",
    "transfer_report",
    "validate_surrogate",
]
