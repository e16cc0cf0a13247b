"""ShopSmart DR command line: `invoke --list` shows every task."""

from invoke import Collection

ns = Collection()
