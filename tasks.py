"""ShopSmart DR command line: `invoke --list` shows every task."""

from invoke import Collection

from taskset import status
from taskset.demo import demo
from taskset.incident import failover
from taskset.lab import ns as lab
from taskset.policy import policy
from taskset.preview import preview

ns = Collection()
for _task in status.TASKS:
    ns.add_task(_task)
ns.add_task(demo)
ns.add_task(failover)
ns.add_task(policy)
ns.add_task(preview)
ns.add_collection(lab)
