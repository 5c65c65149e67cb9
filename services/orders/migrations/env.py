from emporium.kit.migrations import run_env
from emporium.orders.models import ALL_METADATA

run_env(ALL_METADATA)
