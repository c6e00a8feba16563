"""Built-in topologies, by the name ``k8snet up --topology`` takes."""

from topologies.leaf_spine import TOPOS as _LEAF_SPINE
from topologies.single import TOPOS as _SINGLE

TOPOS = {**_SINGLE, **_LEAF_SPINE}
