"""The trigger catalog: which triggers exist, their Avro schemas, and validation of their payloads."""

from event_triggers.catalog.loader import (
    BUILT_IN_TRIGGERS_DIR,
    Catalog,
    CatalogError,
    TriggerDefinition,
    TriggerType,
    load_catalog,
    load_trigger_file,
)
from event_triggers.catalog.validation import PayloadValidator

__all__ = [
    "BUILT_IN_TRIGGERS_DIR",
    "Catalog",
    "CatalogError",
    "PayloadValidator",
    "TriggerDefinition",
    "TriggerType",
    "load_catalog",
    "load_trigger_file",
]
