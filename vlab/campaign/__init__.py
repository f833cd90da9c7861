"""Campaigns: YAML specs, registered kinds, and the Dask engine that runs them.

This is the only package of vlab that uses ``dask.distributed``.
"""

from vlab.campaign.cluster import connect
from vlab.campaign.kinds import Kind, get_kind, kind_names, register_kind
from vlab.campaign.runner import (
    CampaignReport,
    Plan,
    plan_campaign,
    run_campaign,
    run_campaigns,
)
from vlab.campaign.spec import CampaignSpec, InputsSpec, load_spec, parse_spec

__all__ = [
    "CampaignReport",
    "CampaignSpec",
    "InputsSpec",
    "Kind",
    "Plan",
    "connect",
    "get_kind",
    "kind_names",
    "load_spec",
    "parse_spec",
    "plan_campaign",
    "register_kind",
    "run_campaign",
    "run_campaigns",
]
