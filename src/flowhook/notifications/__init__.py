"""Notifications: notifier types from plugins, blocks, rules, message templates and delivery.

This package imports the contract, the plugins layer (for the notifier types plugins register)
and the store (blocks and the outbox live there); never the engine. What the layers above use
is exported here. Importing it loads Jinja (the templates): ``import flowhook`` does not.
"""

from ._blocks import (
    BLOCK_NAME_PATTERN,
    Block,
    BlockError,
    BlockExistsError,
    MissingNotifierError,
    build_notifier,
    describe_fields,
    field_listing,
    notifier_class,
    parse_block_name,
    save_block,
)
from ._checks import config_problems
from ._delivery import DeliveryReport, DeliveryWorker, deliver_due, deliver_within
from ._delivery_settings import drain_seconds
from ._registry import notifier_types
from ._router import Router, load_router
from ._rules import Rule, compile_rules, matching
from ._templates import Message, MessageTemplate, snapshot

__all__ = [
    "BLOCK_NAME_PATTERN",
    "Block",
    "BlockError",
    "BlockExistsError",
    "DeliveryReport",
    "DeliveryWorker",
    "Message",
    "MessageTemplate",
    "MissingNotifierError",
    "Router",
    "Rule",
    "build_notifier",
    "compile_rules",
    "config_problems",
    "deliver_due",
    "deliver_within",
    "describe_fields",
    "drain_seconds",
    "field_listing",
    "load_router",
    "matching",
    "notifier_class",
    "notifier_types",
    "parse_block_name",
    "save_block",
    "snapshot",
]
