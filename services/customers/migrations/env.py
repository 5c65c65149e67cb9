from emporium.customers.models import ALL_METADATA
from emporium.kit.migrations import run_env

run_env(ALL_METADATA)
