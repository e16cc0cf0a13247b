"""The Pulumi program: one region of ShopSmart per stack (entry point: ``__main__.py``).

Each module declares one concern as a ``ComponentResource``. Config is read once, in the
entry point, and passed down as values; physical names come from ``dr.naming`` so that the
runtime finds every resource from the stack file alone.
"""
