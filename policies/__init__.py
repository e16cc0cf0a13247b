"""The DR invariants as a CrossGuard policy pack.

``rules`` holds every policy and can be imported on its own (tests, ``invoke policy``);
``__main__`` only hands that list to ``PolicyPack``, which starts the analyzer server the
Pulumi CLI talks to. ``offline`` feeds a program run under mocks to the same policies.
"""
